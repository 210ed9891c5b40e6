//! The web UI at `/ui`: server-rendered HTML (maud) kept live over
//! Server-Sent Events, with every action made through the API as the
//! signed-in user. This file holds sign-in and sessions and the routes; the
//! screens are in `project.rs` (projects, project page, timeline, list),
//! `graph.rs` + `layout.rs` (the pipeline graph), `stats.rs` (delivery
//! statistics), `detail.rs` (Stage,
//! Promotion, Freight, Warehouse, promote flow), `verification.rs`
//! (AnalysisRuns, their measurements and logs), `settings.rs`
//! (AnalysisTemplates, PromotionTasks, credentials, webhooks), `live.rs`
//! (the SSE stream), `actions.rs` (writes as the user), `view.rs` (look) and
//! `assets.rs` (htmx, CSS, JS); `sso.rs` signs in with OpenID Connect.
//!
//! Sign-in is the admin password (when on), SSO (when on) or a token (the
//! admin token, an admin sign-in token or an API token); the session
//! cookie is a random id the server maps to that token (`HttpOnly`,
//! `Secure`, `SameSite=Strict`). Every request re-checks the token (a
//! revoked token ends its sessions); pages show what the user may `list`
//! under RBAC; a signed-out deep link goes to sign-in and comes back.

mod actions;
mod assets;
mod detail;
mod graph;
mod layout;
mod live;
mod model;
mod project;
mod settings;
pub(crate) mod sso;
pub(crate) mod stats;
mod verification;
mod view;

use crate::auth::Authenticator;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kargo_apiserver::{Attributes, UserInfo};
use kargo_store::Store;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(crate) use view::page;

const COOKIE: &str = "kargo_session";

#[derive(Clone)]
pub(crate) struct UiState {
    store: Store,
    pub(crate) auth: Authenticator,
    /// The API as the CLI reaches it (token authentication, RBAC,
    /// admission): the UI's actions go through it as the user.
    api: Router,
    /// Session id → the token it signed in with.
    sessions: Arc<Mutex<HashMap<String, String>>>,
    /// SSO sign-ins under way.
    pub(crate) pending: sso::Pending,
}

/// The UI routes (they do their own authentication); `api` is the
/// token-checking API router the actions are sent through.
pub fn router(store: Store, auth: Authenticator, api: Router) -> Router {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/{file}", get(assets::serve))
        .route("/ui/events", get(live::events))
        .route("/ui/projects/{project}", get(project_page))
        .route("/ui/projects/{project}/promote", get(promote_page))
        .route("/ui/projects/{project}/settings", get(settings_page))
        .route("/ui/projects/{project}/act", post(act))
        .route("/ui/projects/{project}/{kind}/{name}", get(detail_page))
        .route("/ui/sso", get(sso::start))
        .route("/ui/sso/callback", get(sso::callback))
        .with_state(UiState {
            store,
            auth,
            api,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            pending: sso::Pending::default(),
        })
}

pub(crate) fn esc(s: &str) -> String {
    maud::html! { (s) }.into_string()
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

/// The user of the request's session and its token, while the token
/// still signs in.
async fn signed_in(st: &UiState, headers: &HeaderMap) -> Option<(UserInfo, String)> {
    let id = session_id(headers)?;
    let token = st
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()?;
    st.auth.authenticate(&token).await.ok().map(|u| (u, token))
}

/// The signed-in user, or a redirect to sign-in that comes back to `uri`.
async fn require(
    st: &UiState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(UserInfo, String), Response> {
    match signed_in(st, headers).await {
        Some(s) => Ok(s),
        None => {
            let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ui");
            Err(Redirect::to(&format!("/ui/login?next={}", view::urlencode(back))).into_response())
        }
    }
}

/// Whether `user` may `verb` `resource` of Kargo's group in `ns`.
fn may(st: &UiState, user: &UserInfo, verb: &str, resource: &str, ns: &str) -> bool {
    may_in(st, user, verb, "kargo.akuity.io", resource, ns)
}

/// Whether `user` may `verb` `resource` of API `group` in `ns`.
fn may_in(
    st: &UiState,
    user: &UserInfo,
    verb: &str,
    group: &str,
    resource: &str,
    ns: &str,
) -> bool {
    let a = Attributes::resource(verb, group, resource, ns, "");
    st.auth.authorizer().authorize(user, &a).allowed
}

/// Whether `user` may list `resource` of Kargo's group in `ns`.
fn may_list(st: &UiState, user: &UserInfo, resource: &str, ns: &str) -> bool {
    may(st, user, "list", resource, ns)
}

/// Where to go after sign-in: a UI path, never another site.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/ui") && !next.starts_with("//") && !next.contains("\\") {
        next
    } else {
        "/ui"
    }
}

/// The sign-in page: the admin password (when on), "Sign in with SSO"
/// (when on) and a token.
pub(crate) fn login_page(st: &UiState, status: StatusCode, error: &str) -> Response {
    login_page_to(st, status, error, "/ui")
}

fn login_page_to(st: &UiState, status: StatusCode, error: &str, next: &str) -> Response {
    let next = format!(
        "<input type=\"hidden\" name=\"next\" value=\"{}\">",
        esc(safe_next(next))
    );
    let err = if error.is_empty() {
        String::new()
    } else {
        format!("<p class=\"bad\">{}</p>", esc(error))
    };
    let password = if st.auth.account().enabled() {
        format!(
            "<form method=\"post\" action=\"/ui/login\"><label>Admin password \
         <input type=\"password\" name=\"password\" autofocus></label> \
         {next}<button>Sign in as admin</button></form>"
        )
    } else {
        String::new()
    };
    let sso = if st.auth.oidc().is_some() {
        "<p><a href=\"/ui/sso\"><button type=\"button\">Sign in with SSO</button></a></p>"
    } else {
        ""
    };
    let body = format!(
        "{err}{password}{sso}<form method=\"post\" action=\"/ui/login\"><label>Token \
         <input type=\"password\" name=\"token\"></label> \
         {next}<button>Sign in</button></form><p class=\"muted\">The admin token is in \
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
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// `GET /ui/login?next=...`: the sign-in page, coming back to `next`.
async fn login_form(State(st): State<UiState>, Query(q): Query<NextQuery>) -> Response {
    login_page_to(&st, StatusCode::OK, "", &q.next)
}

async fn login(State(st): State<UiState>, Form(f): Form<LoginForm>) -> Response {
    let token = if f.password.is_empty() {
        f.token.trim().to_string()
    } else {
        match st.auth.account().sign_in(f.password).await {
            Ok(t) => t,
            Err(crate::admin_login::SignInError::Throttled(s)) => {
                let msg = format!("Too many failed attempts: try again in {s}s.");
                return login_page_to(&st, StatusCode::TOO_MANY_REQUESTS, &msg, &f.next);
            }
            Err(_) => {
                return login_page_to(&st, StatusCode::UNAUTHORIZED, "Wrong password.", &f.next);
            }
        }
    };
    if st.auth.authenticate(&token).await.is_err() {
        return login_page_to(
            &st,
            StatusCode::UNAUTHORIZED,
            "That token is not valid.",
            &f.next,
        );
    }
    let cookie = start_session(&st, token);
    let next = safe_next(&f.next);
    ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
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

/// A full page for the signed-in user.
fn render(
    title: &str,
    crumbs: &[(String, String)],
    live: Option<&str>,
    body: maud::Markup,
) -> Response {
    Html(view::shell(title, crumbs, live, body).into_string()).into_response()
}

fn refused(user: &UserInfo, what: &str, ns: &str) -> Response {
    let body = maud::html! {
        p { (view::badge_as(view::Tone::Failed, "Forbidden")) " " (user.name) " may not " (what) " in project " (ns) ". " a href="/ui" { "All projects" } }
    };
    let mut r = render("Forbidden", &[], None, body);
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

async fn home(State(st): State<UiState>, headers: HeaderMap, uri: Uri) -> Response {
    let (user, _) = match require(&st, &headers, &uri).await {
        Ok(s) => s,
        Err(_) => return login_page(&st, StatusCode::OK, ""),
    };
    let mut rows = Vec::new();
    for (_, p) in crate::stored(&st.store, "kargo.akuity.io/v1alpha1", "Project", None) {
        let name = p
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !may_list(&st, &user, "stages", name) {
            continue;
        }
        let snap = model::Snapshot::load(&st.store, name);
        let states: Vec<&str> = snap
            .stages
            .iter()
            .map(|s| model::stage_view(&snap, s).state)
            .collect();
        rows.push(project::ProjectRow {
            name: name.to_string(),
            stages: states.len(),
            healthy: states.iter().filter(|s| **s == "Ready").count(),
            failed: states.iter().filter(|s| **s == "Failed").count(),
            warehouses: snap.warehouses.len(),
        });
    }
    render("Projects", &[], None, project::projects_page(&rows))
}

/// The flash after an action (`ok`, `err` in the query).
#[derive(Deserialize, Default)]
struct FlashQuery {
    #[serde(default)]
    ok: String,
    #[serde(default)]
    err: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    freight: String,
    /// The Freight a Warehouse page's form clones.
    #[serde(default)]
    clone: String,
}

/// A page in a project, after the user's sign-in and read permission.
async fn project_scoped(
    st: &UiState,
    headers: &HeaderMap,
    uri: &Uri,
    ns: &str,
) -> Result<(UserInfo, String), Response> {
    let (user, token) = require(st, headers, uri).await?;
    if !may_list(st, &user, "stages", ns) || !may_list(st, &user, "freights", ns) {
        return Err(refused(&user, "list the Stages and Freight", ns));
    }
    Ok((user, token))
}

async fn project_page(
    State(st): State<UiState>,
    headers: HeaderMap,
    uri: Uri,
    Path(ns): Path<String>,
) -> Response {
    let user = match project_scoped(&st, &headers, &uri, &ns).await {
        Ok((user, _)) => user,
        Err(r) => return r,
    };
    let page = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    let Some(target) = live::Target::parse(&page) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The statistics read Promotions and AnalysisRuns too.
    if let live::Target::Project(_, f) = &target
        && f.stats()
        && !(may_list(&st, &user, "promotions", &ns)
            && may_in(&st, &user, "list", "argoproj.io", "analysisruns", &ns))
    {
        return refused(&user, "list the Promotions and AnalysisRuns", &ns);
    }
    let mut t = target.clone();
    if let live::Target::Project(_, f) = &mut t {
        let q: FlashQuery = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
        f.ok = q.ok;
        f.err = q.err;
    }
    let rv = st.store.current_rv();
    let body = live::page_of(&st.store, &t, &page, ("", ""), "");
    let events = view::events_url(&page, rv);
    render(
        &format!("Project {ns}"),
        &live::crumbs(&target),
        Some(&events),
        body,
    )
}

async fn detail_page(
    State(st): State<UiState>,
    headers: HeaderMap,
    uri: Uri,
    Path((ns, _kind, _name)): Path<(String, String, String)>,
) -> Response {
    let (_, token) = match project_scoped(&st, &headers, &uri, &ns).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(target) = live::Target::parse(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let q: FlashQuery = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let rv = st.store.current_rv();
    let mut body = live::page_of(&st.store, &target, uri.path(), (&q.ok, &q.err), &q.clone);
    if let live::Target::AnalysisRun(_, run) = &target {
        // A job metric's pod logs, read as the user (not live).
        let client = actions::client_as(st.api.clone(), &token);
        let logs = verification::job_logs(client, &ns, &live::runs(&st.store, &ns), run).await;
        body = maud::html! { (body) (logs) };
    }
    let title = live::crumbs(&target)
        .last()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let events = view::events_url(uri.path(), rv);
    render(&title, &live::crumbs(&target), Some(&events), body)
}

async fn settings_page(
    State(st): State<UiState>,
    headers: HeaderMap,
    uri: Uri,
    Path(ns): Path<String>,
) -> Response {
    let (user, _) = match project_scoped(&st, &headers, &uri, &ns).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let [t, p, s, c] = settings::GROUPS.map(|(g, r)| may_in(&st, &user, "list", g, r, &ns));
    let allowed = settings::Allowed {
        templates: t,
        tasks: p,
        secrets: s,
        config: c,
    };
    let crumbs = [
        ("Projects".to_string(), "/ui".to_string()),
        (ns.clone(), format!("/ui/projects/{ns}")),
        ("settings".to_string(), uri.path().to_string()),
    ];
    render(
        &format!("Settings of {ns}"),
        &crumbs,
        None,
        settings::page(&st.store, &ns, &allowed),
    )
}

async fn promote_page(
    State(st): State<UiState>,
    headers: HeaderMap,
    uri: Uri,
    Path(ns): Path<String>,
) -> Response {
    if let Err(r) = project_scoped(&st, &headers, &uri, &ns).await {
        return r;
    }
    let q: FlashQuery = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let snap = model::Snapshot::load(&st.store, &ns);
    let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ui");
    let body = detail::with_flash(
        &q.ok,
        &q.err,
        detail::promote(&snap, &q.stage, &q.freight, back),
    );
    let crumbs = [
        ("Projects".to_string(), "/ui".to_string()),
        (ns.clone(), format!("/ui/projects/{ns}")),
        (format!("promote to {}", q.stage), back.to_string()),
    ];
    render("Promote", &crumbs, None, body)
}

/// `POST /ui/projects/{p}/act`: one action through the API as the user,
/// then back to the page (or on to what it made) with a flash.
async fn act(
    State(st): State<UiState>,
    headers: HeaderMap,
    uri: Uri,
    Path(ns): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let back = form
        .iter()
        .find(|(k, _)| k == "back")
        .map(|(_, v)| safe_next(v).to_string())
        .unwrap_or_else(|| format!("/ui/projects/{ns}"));
    let (user, token) = match require(&st, &headers, &uri).await {
        Ok(s) => s,
        Err(_) => {
            return Redirect::to(&format!("/ui/login?next={}", view::urlencode(&back)))
                .into_response();
        }
    };
    let client = actions::client_as(st.api.clone(), &token);
    let (to, key, msg) = match actions::run(client, &ns, &user.actor(), &form).await {
        Ok(d) => (d.goto.unwrap_or(back), "ok", d.msg),
        Err(e) => (back, "err", e),
    };
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}{key}={}", view::urlencode(&msg))).into_response()
}

/// What `kargo server` and `kargo quickstart` print about the UI: its
/// address and how to make a browser trust the generated CA.
pub fn address_hint(started: &crate::Started) -> String {
    let mut s = format!(
        "web UI:         {}/ui  (sign in with the admin password, SSO or a token; `kargo dashboard` opens it)",
        started.url
    );
    if let Some(ca) = &started.ca_file {
        s.push_str(&format!(
            "\ntrust its CA:   import {ca} into the browser (Settings → Privacy and security → Manage certificates → Authorities), \
             or system-wide on Debian/Ubuntu: sudo cp {ca} /usr/local/share/ca-certificates/kargo.crt && sudo update-ca-certificates",
            ca = ca.display()
        ));
    }
    s
}
