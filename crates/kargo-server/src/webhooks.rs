//! Webhook receivers: forges and registries call
//! `POST /webhooks/<provider>/<token>` and every Warehouse in the project
//! that subscribes to the pushed repository is refreshed at once. The
//! receivers are declared in a ProjectConfig's `webhookReceivers`, each
//! naming a Secret; the path token is SHA-256 of project, receiver name
//! and secret (as Kargo derives it), so it cannot be guessed, and GitHub
//! (HMAC-SHA256 `X-Hub-Signature-256`) and GitLab (`X-Gitlab-Token`)
//! requests are also authenticated with the secret.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kargo_api::freight_id::{normalize_chart_repo_url, normalize_git_url};
use kargo_api::{ProjectConfig, Warehouse, labels};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use kargo_controller::project_config::{receiver_token as token, secret_key};

fn reply(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, axum::Json(json!({"msg": msg.into()}))).into_response()
}

/// Repository URLs named in a push payload (GitHub, GitLab, Docker Hub, Quay, generic).
fn repos_in(payload: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            out.push(s.to_string());
        }
    };
    for p in [
        "/repository/clone_url",
        "/repository/html_url",
        "/repository/ssh_url",
        "/repository/git_http_url",
        "/repository/git_ssh_url",
        "/project/git_http_url",
        "/project/git_ssh_url",
        "/repository/repo_name",
        "/docker_url",
        "/repository/url",
        "/repoURL",
    ] {
        push(payload.pointer(p));
    }
    // GitHub package (container) events.
    if let Some(pkg) = payload
        .pointer("/package/package_version/package_url")
        .and_then(Value::as_str)
    {
        out.push(pkg.split(':').next().unwrap_or(pkg).to_string());
    }
    out
}

fn subscribes(w: &Warehouse, repos: &[String]) -> bool {
    w.spec.subscriptions.iter().any(|s| {
        let urls: Vec<String> = [
            s.git.as_ref().map(|g| normalize_git_url(&g.repo_url)),
            s.image
                .as_ref()
                .map(|i| i.repo_url.trim_end_matches('/').to_lowercase()),
            s.chart
                .as_ref()
                .map(|c| normalize_chart_repo_url(&c.repo_url)),
        ]
        .into_iter()
        .flatten()
        .collect();
        repos.iter().any(|r| {
            let (g, i, c) = (
                normalize_git_url(r),
                r.trim_end_matches('/').to_lowercase(),
                normalize_chart_repo_url(r),
            );
            urls.iter().any(|u| {
                *u == g
                    || *u == i
                    || *u == c
                    || i.ends_with(&format!("/{u}"))
                    || u.ends_with(&format!("/{i}"))
            })
        })
    })
}

/// `POST /webhooks/{provider}/{token}`.
pub async fn receive(
    State(client): State<kube::Client>,
    Path((provider, tok)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&client, &provider, &tok, &headers, &body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "webhook");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the webhook could not be handled; see the server log",
            )
        }
    }
}

async fn handle(
    client: &kube::Client,
    provider: &str,
    tok: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, kube::Error> {
    // Find the receiver this token belongs to.
    let configs = Api::<ProjectConfig>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let mut found = None;
    'outer: for pc in &configs.items {
        let project = pc.namespace().unwrap_or_default();
        for r in &pc.spec.webhook_receivers {
            let Some(cfg) = r.provider(provider) else {
                continue;
            };
            let Some(secret_name) = cfg.pointer("/secretRef/name").and_then(Value::as_str) else {
                continue;
            };
            let Some(secret) = Api::<Secret>::namespaced(client.clone(), &project)
                .get_opt(secret_name)
                .await?
            else {
                continue;
            };
            let Some(value) = secret
                .data
                .as_ref()
                .and_then(|d| d.get(secret_key(provider)))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            else {
                continue;
            };
            if token(&project, &r.name, &value) == tok {
                found = Some((project, value));
                break 'outer;
            }
        }
    }
    let Some((project, secret)) = found else {
        return Ok(reply(StatusCode::NOT_FOUND, "no such receiver"));
    };
    let authentic = match provider {
        "github" => headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("sha256="))
            .and_then(|h| hex::decode(h).ok())
            .is_some_and(|sig| {
                ring::hmac::verify(
                    &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
                    body,
                    &sig,
                )
                .is_ok()
            }),
        "gitlab" => headers
            .get("x-gitlab-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| crate::auth::constant_time_eq(t.as_bytes(), secret.as_bytes())),
        // Providers that sign nothing rely on the unguessable path.
        _ => true,
    };
    if !authentic {
        return Ok(reply(
            StatusCode::UNAUTHORIZED,
            "the request is not signed with this receiver's secret",
        ));
    }
    if provider == "github"
        && headers.get("x-github-event").and_then(|v| v.to_str().ok()) == Some("ping")
    {
        return Ok(reply(StatusCode::OK, "ping received"));
    }
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                format!("the payload is not JSON: {e}"),
            ));
        }
    };
    let repos = repos_in(&payload);
    if repos.is_empty() {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "the payload names no repository",
        ));
    }
    let api = Api::<Warehouse>::namespaced(client.clone(), &project);
    let now = jiff::Timestamp::now().to_string();
    let mut refreshed = Vec::new();
    for w in api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|w| subscribes(w, &repos))
    {
        let patch = json!({"metadata": {"annotations": {labels::REFRESH: now}}});
        api.patch(&w.name_any(), &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        refreshed.push(w.name_any());
    }
    Ok(reply(
        StatusCode::OK,
        format!(
            "refreshed {} warehouse(s){}",
            refreshed.len(),
            if refreshed.is_empty() {
                String::new()
            } else {
                format!(": {}", refreshed.join(", "))
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_payloads() {
        assert_eq!(token("p", "r", "s").len(), 64);
        assert_ne!(token("p", "r", "s"), token("p", "r", "t"));
        let gh = json!({"repository": {"clone_url": "https://github.com/Org/App.git", "html_url": "https://github.com/Org/App"}});
        let w: Warehouse = serde_json::from_value(json!({"spec": {"subscriptions": [{"git": {"repoURL": "https://github.com/org/app"}}]}})).unwrap();
        assert!(subscribes(&w, &repos_in(&gh)));
        let hub = json!({"repository": {"repo_name": "myorg/app"}});
        let w: Warehouse = serde_json::from_value(
            json!({"spec": {"subscriptions": [{"image": {"repoURL": "docker.io/myorg/app"}}]}}),
        )
        .unwrap();
        assert!(subscribes(&w, &repos_in(&hub)));
        let other = json!({"repository": {"clone_url": "https://github.com/org/other.git"}});
        assert!(!subscribes(&w, &repos_in(&other)));
    }
}
