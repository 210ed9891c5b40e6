//! The UI's actions — promote, promote downstream, approve, abort,
//! re-verify, abort verification, refresh, roll back (promote older
//! Freight, marked with Kargo's rollback annotation), edit an alias,
//! create Freight (from chosen artifacts, or cloned), delete Freight —
//! made through the API as the signed-in user: a kube client over the
//! same bearer-token-authenticated, authorized and admitted router the CLI
//! reaches over HTTPS, carrying the session's token. Nothing here writes the store directly, so RBAC,
//! admission and `create-actor` apply exactly as for `kargo`.

use kargo_api::labels;
use kargo_api::{Freight, Promotion, Stage, Warehouse};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

/// Longest one action may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A kube client that calls `api` (the token-checking API router) with
/// `token` as its bearer token.
pub(crate) fn client_as(api: axum::Router, token: &str) -> kube::Client {
    let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer -"));
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut req: http::Request<kube::client::Body>| {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, bearer.clone());
            req.map(axum::body::Body::new)
        })
        .service(api);
    kube::Client::new(service, "default")
}

/// The form's value of `key` ("" when absent).
fn field<'a>(form: &'a [(String, String)], key: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A kube error in words (the API's own message when it gave one).
fn words(e: kube::Error) -> String {
    match e {
        kube::Error::Api(ae) => ae.message,
        e => e.to_string(),
    }
}

/// What an action did: a message, and where to go next (None: back).
pub(crate) struct Done {
    pub msg: String,
    pub goto: Option<String>,
}

/// Runs the form's `action` in project `ns` as `actor` through `client`.
pub(crate) async fn run(
    client: kube::Client,
    ns: &str,
    actor: &str,
    form: &[(String, String)],
) -> Result<Done, String> {
    match tokio::time::timeout(TIMEOUT, dispatch(client, ns, actor, form)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the API did not answer within {}s",
            TIMEOUT.as_secs()
        )),
    }
}

fn done(msg: String) -> Result<Done, String> {
    Ok(Done { msg, goto: None })
}

async fn dispatch(
    client: kube::Client,
    ns: &str,
    actor: &str,
    form: &[(String, String)],
) -> Result<Done, String> {
    let stages: Api<Stage> = Api::namespaced(client.clone(), ns);
    let freight: Api<Freight> = Api::namespaced(client.clone(), ns);
    let promotions: Api<Promotion> = Api::namespaced(client.clone(), ns);
    let stage = field(form, "stage");
    let fname = field(form, "freight");
    let annotate = |key: &str, value: String| json!({"metadata": {"annotations": {key: value}}});
    let now = jiff::Timestamp::now().to_string();
    match field(form, "action") {
        a @ ("promote" | "rollback") => {
            let p = create_promotion(&promotions, ns, stage, fname, a == "rollback").await?;
            Ok(Done {
                msg: format!("Promotion {p} created"),
                goto: Some(format!("/ui/projects/{ns}/promotions/{p}")),
            })
        }
        "promote-downstream" => {
            let f = freight.get(fname).await.map_err(words)?;
            let all = stages
                .list(&ListParams::default())
                .await
                .map_err(words)?
                .items;
            let now_ms = jiff::Timestamp::now().as_millisecond();
            let mut made = Vec::new();
            for s in all.iter().filter(|s| {
                s.spec
                    .requested_freight
                    .iter()
                    .any(|r| r.origin == f.origin && r.sources.stages.iter().any(|u| u == stage))
            }) {
                kargo_api::availability::check(s, &f, now_ms).map_err(|e| e.to_string())?;
                let target = s.metadata.name.clone().unwrap_or_default();
                made.push(create_promotion(&promotions, ns, &target, fname, false).await?);
            }
            if made.is_empty() {
                return Err(format!("Stage {stage:?} has no downstream Stages"));
            }
            done(format!("Promotions created: {}", made.join(", ")))
        }
        "approve" => {
            let patch = json!({"status": {"approvedFor": {stage: {"approvedAt": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}}}});
            freight
                .patch_status(fname, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(words)?;
            done(format!("Freight approved for Stage {stage}"))
        }
        "abort" => {
            let p = field(form, "promotion");
            promotions
                .patch(
                    p,
                    &PatchParams::default(),
                    &Patch::Merge(annotate(labels::ABORT, now)),
                )
                .await
                .map_err(words)?;
            done(format!("Abort of Promotion {p} requested"))
        }
        a @ ("reverify" | "abort-verification") => {
            let s = stages.get(stage).await.map_err(words)?;
            let current = kargo_api::verification_request::current(&s)
                .ok_or_else(|| format!("Stage {stage:?} has no verification yet"))?;
            let abort = a == "abort-verification";
            if abort && kargo_api::verification_request::is_terminal(&current.phase) {
                return Err(format!(
                    "no verification is running (the latest ended {})",
                    current.phase
                ));
            }
            let request = kargo_api::verification_request::VerificationRequest::new(
                current.id.clone(),
                actor,
            );
            let key = if abort {
                labels::ABORT
            } else {
                labels::REVERIFY
            };
            stages
                .patch(
                    stage,
                    &PatchParams::default(),
                    &Patch::Merge(annotate(key, request.to_annotation())),
                )
                .await
                .map_err(words)?;
            done(if abort {
                "Verification abort requested".into()
            } else {
                "Verification requested".into()
            })
        }
        "refresh-stage" => {
            stages
                .patch(
                    stage,
                    &PatchParams::default(),
                    &Patch::Merge(annotate(labels::REFRESH, now)),
                )
                .await
                .map_err(words)?;
            done(format!("Refresh of Stage {stage} requested"))
        }
        "refresh-warehouse" => {
            let w = field(form, "warehouse");
            Api::<Warehouse>::namespaced(client.clone(), ns)
                .patch(
                    w,
                    &PatchParams::default(),
                    &Patch::Merge(annotate(labels::REFRESH, now)),
                )
                .await
                .map_err(words)?;
            done(format!("Refresh of Warehouse {w} requested"))
        }
        "alias" => {
            let alias = field(form, "alias").trim();
            let patch = json!({"metadata": {"labels": {labels::ALIAS: alias}}, "alias": alias});
            freight
                .patch(fname, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(words)?;
            done(format!("Alias set to {alias}"))
        }
        "create-freight" => {
            let w = field(form, "warehouse");
            let wh = Api::<Warehouse>::namespaced(client.clone(), ns)
                .get(w)
                .await
                .map_err(words)?;
            // The cloned Freight is read only when one of its artifacts
            // is kept as it is (it may be gone by now otherwise).
            let source = match field(form, "clone") {
                c if !c.is_empty() && form.iter().any(|(_, v)| v == "clone") => {
                    Some(freight.get(c).await.map_err(words)?)
                }
                _ => None,
            };
            let f = assemble(&wh, form, source.as_ref())?;
            let made = freight
                .create(&PostParams::default(), &f)
                .await
                .map_err(words)?;
            let n = made.metadata.name.clone().unwrap_or_default();
            Ok(Done {
                msg: format!("Freight {} created", made.alias().unwrap_or(&n)),
                goto: Some(format!("/ui/projects/{ns}/freight/{n}")),
            })
        }
        "delete-freight" => {
            let f = freight.get(fname).await.map_err(words)?;
            let users: Vec<&String> = f
                .status
                .as_ref()
                .map(|st| st.currently_in.keys().collect())
                .unwrap_or_default();
            if !users.is_empty() {
                return Err(format!(
                    "Freight {} is in use by Stage {}: it cannot be deleted",
                    f.alias().unwrap_or(fname),
                    users
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            freight
                .delete(fname, &Default::default())
                .await
                .map_err(words)?;
            Ok(Done {
                msg: format!("Freight {} deleted", f.alias().unwrap_or(fname)),
                goto: Some(format!("/ui/projects/{ns}")),
            })
        }
        other => Err(format!("unknown action {other:?}")),
    }
}

async fn create_promotion(
    api: &Api<Promotion>,
    ns: &str,
    stage: &str,
    freight: &str,
    rollback: bool,
) -> Result<String, String> {
    let annotations = if rollback {
        json!({super::model::ROLLBACK: "true"})
    } else {
        json!({})
    };
    let p: Promotion = serde_json::from_value(json!({
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"namespace": ns, "annotations": annotations},
        "spec": {"stage": stage, "freight": freight},
    }))
    .map_err(|e| e.to_string())?;
    let made = api
        .create(&PostParams::default(), &p)
        .await
        .map_err(words)?;
    Ok(made.metadata.name.unwrap_or_default())
}

/// Freight from the artifacts chosen on the Warehouse page: `image<i>`,
/// `chart<i>`, `git<i>` name the index of the chosen entry of the i-th
/// discovery result, or `clone`: that repository's artifact as Freight
/// `source` (the one cloned) has it.
fn assemble(
    w: &Warehouse,
    form: &[(String, String)],
    source: Option<&Freight>,
) -> Result<Freight, String> {
    let found = w
        .status
        .as_ref()
        .and_then(|s| s.discovered_artifacts.clone())
        .unwrap_or_default();
    let pick = |key: String| field(form, &key).parse::<usize>().ok();
    let kept = |key: String| field(form, &key) == "clone";
    let src = source.cloned().unwrap_or_default();
    let mut f = Freight {
        api_version: "kargo.akuity.io/v1alpha1".into(),
        kind: "Freight".into(),
        origin: kargo_api::common::FreightOrigin {
            kind: "Warehouse".into(),
            name: w.metadata.name.clone().unwrap_or_default(),
        },
        ..Default::default()
    };
    for (i, r) in found.images.iter().enumerate() {
        if let Some(x) = pick(format!("image{i}")).and_then(|j| r.references.get(j)) {
            f.images.push(kargo_api::common::Image {
                repo_url: r.repo_url.clone(),
                tag: x.tag.clone(),
                digest: x.digest.clone(),
                annotations: x.annotations.clone(),
                subscription_name: r.subscription_name.clone(),
            });
        } else if kept(format!("image{i}")) {
            f.images.extend(
                src.images
                    .iter()
                    .find(|x| x.repo_url == r.repo_url)
                    .cloned(),
            );
        }
    }
    for (i, r) in found.charts.iter().enumerate() {
        if let Some(v) = pick(format!("chart{i}")).and_then(|j| r.versions.get(j)) {
            f.charts.push(kargo_api::common::Chart {
                repo_url: r.repo_url.clone(),
                name: r.name.clone(),
                version: v.clone(),
                subscription_name: r.subscription_name.clone(),
            });
        } else if kept(format!("chart{i}")) {
            f.charts.extend(
                src.charts
                    .iter()
                    .find(|x| x.repo_url == r.repo_url && x.name == r.name)
                    .cloned(),
            );
        }
    }
    for (i, r) in found.git.iter().enumerate() {
        if let Some(c) = pick(format!("git{i}")).and_then(|j| r.commits.get(j)) {
            f.commits
                .push(c.to_freight_commit(&r.repo_url, &r.subscription_name));
        } else if kept(format!("git{i}")) {
            f.commits.extend(
                src.commits
                    .iter()
                    .find(|x| x.repo_url == r.repo_url)
                    .cloned(),
            );
        }
    }
    if f.images.is_empty() && f.charts.is_empty() && f.commits.is_empty() {
        return Err("choose at least one artifact".into());
    }
    let alias = field(form, "alias").trim();
    if !alias.is_empty() {
        f.metadata.labels = Some([(labels::ALIAS.to_string(), alias.to_string())].into());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freight_is_assembled_from_the_chosen_artifacts() {
        let w: Warehouse = serde_json::from_value(json!({
            "metadata": {"name": "w"},
            "status": {"discoveredArtifacts": {"images": [{"repoURL": "example.com/app",
                "references": [{"tag": "1.1.0", "digest": "sha256:a"}, {"tag": "1.0.0", "digest": "sha256:b"}]}]}}
        }))
        .unwrap();
        let form = vec![
            ("image0".to_string(), "1".to_string()),
            ("alias".into(), "pick".into()),
        ];
        let f = assemble(&w, &form, None).unwrap();
        assert_eq!(f.images[0].tag, "1.0.0");
        assert_eq!(f.origin.name, "w");
        assert_eq!(f.alias(), Some("pick"));
        assert!(assemble(&w, &[("image0".into(), String::new())], None).is_err());
        // A clone keeps an artifact the Warehouse lists no more.
        let old: Freight = serde_json::from_value(json!({"metadata": {"name": "old"},
            "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": "example.com/app", "tag": "0.9.0", "digest": "sha256:c"}]}))
        .unwrap();
        let kept = assemble(&w, &[("image0".into(), "clone".into())], Some(&old)).unwrap();
        assert_eq!(
            (kept.images[0].tag.as_str(), kept.images[0].digest.as_str()),
            ("0.9.0", "sha256:c")
        );
    }
}
