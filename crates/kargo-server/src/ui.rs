//! The web UI: a read-only view of each project's pipeline (the seed's
//! "use the UI to visualise the pipeline"), server-rendered HTML with no
//! scripts. `/ui` signs in once with the admin password (when password
//! sign-in is on), with SSO (when OpenID Connect is on; `ui_sso.rs`) or
//! with a token (the admin token, an admin sign-in token or an API token)
//! and keeps a session cookie: a random id
//! the server maps to that sign-in (never the token itself; `HttpOnly`,
//! `Secure`, `SameSite=Strict`). Every page re-checks the sign-in (a
//! revoked token ends its sessions) and shows only what the user may
//! `list` under RBAC; Sign out forgets the session on the server, so the
//! old cookie is refused. Pages refresh themselves every 5 s. Everything
//! shown comes from the store and is HTML-escaped.

use crate::auth::Authenticator;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kargo_apiserver::{Attributes, UserInfo};
use kargo_store::Store;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

const COOKIE: &str = "kargo_session";

#[derive(Clone)]
pub(crate) struct UiState {
    store: Store,
    pub(crate) auth: Authenticator,
    /// Session id → the token it signed in with.
    sessions: Arc<Mutex<HashMap<String, String>>>,
    /// SSO sign-ins under way.
    pub(crate) pending: crate::ui_sso::Pending,
}

/// The UI routes (they do their own authentication).
pub fn router(store: Store, auth: Authenticator) -> Router {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/projects/{project}", get(project))
        .route("/ui/sso", get(crate::ui_sso::start))
        .route("/ui/sso/callback", get(crate::ui_sso::callback))
        .with_state(UiState {
            store,
            auth,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            pending: crate::ui_sso::Pending::default(),
        })
}

pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of cookie `name`, if the request sent it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The user of the request's session, while its token still signs in.
async fn signed_in(st: &UiState, headers: &HeaderMap) -> Option<UserInfo> {
    let id = session_id(headers)?;
    let token = st
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()?;
    st.auth.authenticate(&token).await.ok()
}

/// Whether `user` may list `resource` of Kargo's group in `ns`.
fn may_list(st: &UiState, user: &UserInfo, resource: &str, ns: &str) -> bool {
    let a = Attributes::resource("list", "kargo.akuity.io", resource, ns, "");
    st.auth.authorizer().authorize(user, &a).allowed
}

pub(crate) fn page(title: &str, body: &str, refresh: bool) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} · kargo</title>{r}\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         th{{background:#f4f4f4}}.ok{{color:#1a7f37}}.bad{{color:#cf222e}}.run{{color:#9a6700}}\
         .muted{{color:#888}}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title),
        r = if refresh {
            "<meta http-equiv=\"refresh\" content=\"5\">"
        } else {
            ""
        },
    )
}

/// The sign-in page: the admin password (when on), "Sign in with SSO"
/// (when on) and a token.
pub(crate) fn login_page(st: &UiState, status: StatusCode, error: &str) -> Response {
    let err = if error.is_empty() {
        String::new()
    } else {
        format!("<p class=\"bad\">{}</p>", esc(error))
    };
    let password = if st.auth.account().enabled() {
        "<form method=\"post\" action=\"/ui/login\"><label>Admin password \
         <input type=\"password\" name=\"password\" autofocus></label> \
         <button>Sign in as admin</button></form>"
    } else {
        ""
    };
    let sso = if st.auth.oidc().is_some() {
        "<p><a href=\"/ui/sso\"><button type=\"button\">Sign in with SSO</button></a></p>"
    } else {
        ""
    };
    let body = format!(
        "{err}{password}{sso}<form method=\"post\" action=\"/ui/login\"><label>Token \
         <input type=\"password\" name=\"token\"></label> \
         <button>Sign in</button></form><p class=\"muted\">The admin token is in \
         <code>&lt;data-dir&gt;/admin-token</code>; <code>kargo create token</code> \
         makes one for a role.</p>"
    );
    (status, Html(page("Sign in", &body, false))).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn login(State(st): State<UiState>, Form(f): Form<LoginForm>) -> Response {
    let token = if f.password.is_empty() {
        f.token.trim().to_string()
    } else {
        match st.auth.account().sign_in(f.password).await {
            Ok(t) => t,
            Err(crate::admin_login::SignInError::Throttled(s)) => {
                let msg = format!("Too many failed attempts: try again in {s}s.");
                return login_page(&st, StatusCode::TOO_MANY_REQUESTS, &msg);
            }
            Err(_) => return login_page(&st, StatusCode::UNAUTHORIZED, "Wrong password."),
        }
    };
    if st.auth.authenticate(&token).await.is_err() {
        return login_page(&st, StatusCode::UNAUTHORIZED, "That token is not valid.");
    }
    let cookie = start_session(&st, token);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

/// Opens a session for `token`; the `Set-Cookie` value naming it.
pub(crate) fn start_session(st: &UiState, token: String) -> String {
    let id = hex::encode(rand::random::<[u8; 32]>());
    st.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), token);
    format!("{COOKIE}={id}; Path=/ui; HttpOnly; Secure; SameSite=Strict")
}

async fn logout(State(st): State<UiState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        st.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

fn list(store: &Store, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
    crate::stored(store, api_version, kind, ns)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

async fn home(State(st): State<UiState>, headers: HeaderMap) -> Response {
    let Some(user) = signed_in(&st, &headers).await else {
        return login_page(&st, StatusCode::OK, "");
    };
    let mut body =
        String::from("<table><tr><th>Project</th><th>Stages</th><th>Warehouses</th></tr>");
    for p in list(&st.store, "kargo.akuity.io/v1alpha1", "Project", None) {
        let name = text(&p, "/metadata/name");
        if !may_list(&st, &user, "stages", name) {
            continue;
        }
        let stages = list(&st.store, "kargo.akuity.io/v1alpha1", "Stage", Some(name)).len();
        let warehouses = list(
            &st.store,
            "kargo.akuity.io/v1alpha1",
            "Warehouse",
            Some(name),
        )
        .len();
        let _ = write!(
            body,
            "<tr><td><a href=\"/ui/projects/{n}\">{n}</a></td><td>{stages}</td><td>{warehouses}</td></tr>",
            n = esc(name)
        );
    }
    body.push_str(
        "</table><form method=\"post\" action=\"/ui/logout\"><button>Sign out</button></form>",
    );
    Html(page("Projects", &body, true)).into_response()
}

/// Stages ordered so that each comes after the Stages it takes Freight from.
fn ordered(stages: &[Value]) -> Vec<&Value> {
    let upstream = |s: &Value| -> Vec<String> {
        s.pointer("/spec/requestedFreight")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|r| {
                r.pointer("/sources/stages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
            })
            .collect()
    };
    let by_name: HashMap<&str, &Value> = stages
        .iter()
        .map(|s| (text(s, "/metadata/name"), s))
        .collect();
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    fn depth_of(
        name: &str,
        by_name: &HashMap<&str, &Value>,
        upstream: &dyn Fn(&Value) -> Vec<String>,
        memo: &mut BTreeMap<String, usize>,
        seen: usize,
    ) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        let d = match by_name.get(name) {
            Some(s) if seen < 64 => upstream(s)
                .iter()
                .map(|u| 1 + depth_of(u, by_name, upstream, memo, seen + 1))
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        memo.insert(name.to_string(), d);
        d
    }
    for s in stages {
        depth_of(
            text(s, "/metadata/name"),
            &by_name,
            &upstream,
            &mut depth,
            0,
        );
    }
    let mut out: Vec<&Value> = stages.iter().collect();
    out.sort_by_key(|s| {
        let n = text(s, "/metadata/name");
        (depth.get(n).copied().unwrap_or(0), n.to_string())
    });
    out
}

fn phase_class(phase: &str) -> &'static str {
    match phase {
        "Successful" | "Succeeded" | "Healthy" => "ok",
        "Failed" | "Error" | "Errored" | "Aborted" | "Unhealthy" => "bad",
        "" => "muted",
        _ => "run",
    }
}

fn freight_label(f: &Value) -> String {
    let mut arts: Vec<String> = Vec::new();
    for (list, key) in [("images", "tag"), ("charts", "version"), ("commits", "tag")] {
        for a in f.get(list).and_then(Value::as_array).into_iter().flatten() {
            let v = text(a, &format!("/{key}"));
            let v = if v.is_empty() && list == "commits" {
                text(a, "/id").get(..7).unwrap_or("")
            } else {
                v
            };
            if !v.is_empty() {
                arts.push(v.to_string());
            }
        }
    }
    let alias = text(f, "/metadata/labels/kargo.akuity.io~1alias");
    format!(
        "{} <span class=\"muted\">{}</span>",
        esc(&arts.join(", ")),
        esc(alias)
    )
}

async fn project(
    State(st): State<UiState>,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Response {
    let Some(user) = signed_in(&st, &headers).await else {
        return Redirect::to("/ui").into_response();
    };
    let ns = project.as_str();
    if !may_list(&st, &user, "stages", ns) || !may_list(&st, &user, "freights", ns) {
        let body = format!(
            "<p class=\"bad\">{} may not list the Stages and Freight of project {}. <a href=\"/ui\">All projects</a></p>",
            esc(&user.name),
            esc(ns)
        );
        return (StatusCode::FORBIDDEN, Html(page(ns, &body, false))).into_response();
    }
    let stages = list(&st.store, "kargo.akuity.io/v1alpha1", "Stage", Some(ns));
    let mut freight = list(&st.store, "kargo.akuity.io/v1alpha1", "Freight", Some(ns));
    if stages.is_empty() && freight.is_empty() {
        let body = format!(
            "<p>Project {} has no Stages or Freight. <a href=\"/ui\">All projects</a></p>",
            esc(ns)
        );
        return (StatusCode::NOT_FOUND, Html(page(ns, &body, false))).into_response();
    }
    freight.sort_by(|a, b| {
        text(b, "/metadata/creationTimestamp").cmp(text(a, "/metadata/creationTimestamp"))
    });
    let by_name: HashMap<&str, &Value> = freight
        .iter()
        .map(|f| (text(f, "/metadata/name"), f))
        .collect();
    let order = ordered(&stages);

    let mut body = String::from(
        "<p><a href=\"/ui\">All projects</a></p><h2>Stages</h2><table><tr><th>Stage</th>\
         <th>Takes Freight from</th><th>Current Freight</th><th>Verification</th>\
         <th>Last Promotion</th></tr>",
    );
    for s in &order {
        let name = text(s, "/metadata/name");
        let from: Vec<String> = s
            .pointer("/spec/requestedFreight")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| {
                let stages: Vec<&str> = r
                    .pointer("/sources/stages")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if r.pointer("/sources/direct").and_then(Value::as_bool) == Some(true) {
                    format!("Warehouse {}", text(r, "/origin/name"))
                } else {
                    stages.join(" + ")
                }
            })
            .collect();
        let current = s
            .pointer("/status/freightHistory/0/items")
            .and_then(Value::as_object)
            .map(|items| {
                items
                    .values()
                    .map(|r| {
                        by_name
                            .get(text(r, "/name"))
                            .map(|f| freight_label(f))
                            .unwrap_or_else(|| esc(text(r, "/name")))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
            .unwrap_or_default();
        let verification = text(s, "/status/freightHistory/0/verificationHistory/0/phase");
        let vmsg = text(s, "/status/freightHistory/0/verificationHistory/0/message");
        let promo_phase = text(s, "/status/lastPromotion/status/phase");
        let promo = text(s, "/status/lastPromotion/name");
        let _ = write!(
            body,
            "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td class=\"{}\" title=\"{}\">{}</td>\
             <td class=\"{}\" title=\"{}\">{}</td></tr>",
            esc(name),
            esc(&from.join("; ")),
            current,
            phase_class(verification),
            esc(vmsg),
            esc(if verification.is_empty() {
                "-"
            } else {
                verification
            }),
            phase_class(promo_phase),
            esc(promo),
            esc(if promo_phase.is_empty() {
                "-"
            } else {
                promo_phase
            }),
        );
    }
    body.push_str("</table><h2>Freight</h2><table><tr><th>Freight</th><th>From</th>");
    for s in &order {
        let _ = write!(body, "<th>{}</th>", esc(text(s, "/metadata/name")));
    }
    body.push_str("</tr>");
    for f in freight.iter().take(25) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td>",
            freight_label(f),
            esc(text(f, "/origin/name"))
        );
        for s in &order {
            let stage = text(s, "/metadata/name");
            let status = f.get("status");
            let verified = status
                .and_then(|x| x.get("verifiedIn"))
                .and_then(|v| v.get(stage))
                .is_some();
            let current = status
                .and_then(|x| x.get("currentlyIn"))
                .and_then(|v| v.get(stage))
                .is_some();
            let cell = match (verified, current) {
                (true, true) => "<td class=\"ok\">verified (current)</td>",
                (true, false) => "<td class=\"ok\">verified</td>",
                (false, true) => "<td class=\"run\">current, not verified</td>",
                (false, false) => "<td class=\"muted\">-</td>",
            };
            body.push_str(cell);
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    Html(page(&format!("Project {ns}"), &body, true)).into_response()
}
