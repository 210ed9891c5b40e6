//! The Warehouse controller: discovers what each subscription can see,
//! records it in `status.discoveredArtifacts`, and (with the Automatic
//! policy) creates one Freight from the newest artifact of every
//! subscription. Creating the same combination twice is a no-op: Freight
//! is named by its content. Refresh with the `kargo.akuity.io/refresh`
//! annotation; failures set conditions and retry with backoff without
//! holding up other Warehouses.

use crate::conditions;
use crate::credentials::CredType;
use crate::now;
use futures::StreamExt;
use kargo_api::common::{Chart, FreightOrigin, Image};
use kargo_api::validate::parse_go_duration;
use kargo_api::warehouse::{
    ChartDiscoveryResult, DiscoveredArtifacts, FreightCreationPolicy, GitDiscoveryResult,
    ImageDiscoveryResult, WarehouseStatus,
};
use kargo_api::{Freight, Warehouse, labels};
use kargo_sources::GitDiscoverer;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the reconciler needs.
pub struct Context {
    client: kube::Client,
    git: GitDiscoverer,
    images: kargo_sources::ImageDiscoverer,
    charts: kargo_sources::ChartDiscoverer,
    min_interval: Duration,
    failures: Mutex<HashMap<String, u32>>,
    shard: crate::shard::Shard,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: kube::Client, cfg: &crate::ControllerConfig) -> Self {
        Context {
            client,
            git: GitDiscoverer::new(&cfg.cache_dir).with_timeout(cfg.git_timeout),
            images: kargo_sources::ImageDiscoverer::new().with_http_timeout(cfg.http_timeout),
            charts: kargo_sources::ChartDiscoverer::new().with_http_timeout(cfg.http_timeout),
            min_interval: cfg.min_warehouse_interval,
            failures: Mutex::new(HashMap::new()),
            shard: cfg.shard.clone(),
        }
    }

    /// Git counters (for tests and metrics).
    pub fn git_stats(&self) -> kargo_sources::git::GitStats {
        self.git.stats()
    }
}

/// Reconcile failures (API errors; discovery errors become conditions).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused a write.
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Runs the controller until the stream ends.
pub async fn run(client: kube::Client, ctx: Arc<Context>) {
    let api: Api<Warehouse> = Api::all(client);
    Controller::new(api, ctx.shard.watcher_config())
        .run(
            |w, ctx| crate::metrics::timed("warehouse", reconcile(w, ctx)),
            error_policy,
            ctx,
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "warehouse reconcile");
            }
        })
        .await;
}

fn error_policy(_w: Arc<Warehouse>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %e, "warehouse reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn seconds_since(ts: Option<&str>) -> Option<f64> {
    let t: jiff::Timestamp = ts?.parse().ok()?;
    Some((jiff::Timestamp::now().as_millisecond() - t.as_millisecond()) as f64 / 1000.0)
}

/// One reconciliation.
pub async fn reconcile(w: Arc<Warehouse>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = w.namespace().unwrap_or_default();
    let name = w.name_any();
    if w.meta().deletion_timestamp.is_some() || !ctx.shard.responsible(w.labels()) {
        return Ok(Action::await_change());
    }
    let status = w.status.clone().unwrap_or_default();
    let interval = w
        .spec
        .interval
        .as_deref()
        .and_then(parse_go_duration)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(300))
        .max(ctx.min_interval);
    let refresh = w
        .annotations()
        .get(labels::REFRESH)
        .cloned()
        .filter(|t| *t != status.last_handled_refresh);
    let spec_changed = status.observed_generation != w.meta().generation;
    let last = status
        .discovered_artifacts
        .as_ref()
        .and_then(|d| d.discovered_at.as_deref());
    let elapsed = seconds_since(last);
    if refresh.is_none()
        && !spec_changed
        && let Some(e) = elapsed
        && e < interval.as_secs_f64()
    {
        return Ok(Action::requeue(
            Duration::from_secs_f64(interval.as_secs_f64() - e).max(Duration::from_millis(100)),
        ));
    }

    let key = format!("{ns}/{name}");
    let mut new_status = WarehouseStatus {
        observed_generation: w.meta().generation,
        ..status.clone()
    };
    if let Some(t) = &refresh {
        new_status.last_handled_refresh = t.clone();
    }
    conditions::set(
        &mut new_status.conditions,
        "Reconciling",
        true,
        "Discovering",
        "discovering artifacts",
        w.meta().generation,
    );
    let started = std::time::Instant::now();
    let discovered = discover(&w, &ctx).await;
    crate::metrics::observe_discovery(&ns, &name, started.elapsed());
    match discovered {
        Ok(found) => {
            ctx.failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            let summary =
                found
                    .git
                    .iter()
                    .map(|g| format!("{} commit(s) from {}", g.commits.len(), g.repo_url))
                    .chain(
                        found.images.iter().map(|r| {
                            format!("{} image(s) from {}", r.references.len(), r.repo_url)
                        }),
                    )
                    .chain(found.charts.iter().map(|r| {
                        format!("{} chart version(s) from {}", r.versions.len(), r.repo_url)
                    }))
                    .collect::<Vec<_>>()
                    .join(", ");
            let mut message = format!("discovered {summary}");
            if w.spec.freight_creation_policy.unwrap_or_default()
                == FreightCreationPolicy::Automatic
            {
                match create_freight(&w, &ctx, &found).await? {
                    Created::Freight(id) => {
                        message.push_str(&format!("; latest Freight {id}"));
                        new_status.last_freight_id = id;
                    }
                    Created::Nothing => message.push_str("; no Freight: a subscription found nothing"),
                    Created::Held => message.push_str("; no new Freight: freightCreationCriteria is false for the newest artifacts"),
                    Created::Invalid(e) => {
                        conditions::remove(&mut new_status.conditions, "Reconciling");
                        conditions::set(&mut new_status.conditions, "Healthy", false, "InvalidCriteria", &e, w.meta().generation);
                        conditions::set(&mut new_status.conditions, "Ready", false, "InvalidCriteria", &e, w.meta().generation);
                        new_status.discovered_artifacts = Some(found);
                        patch_status(&ctx, &ns, &name, &new_status).await?;
                        return Ok(Action::requeue(interval));
                    }
                }
            }
            new_status.discovered_artifacts = Some(found);
            conditions::remove(&mut new_status.conditions, "Reconciling");
            conditions::set(
                &mut new_status.conditions,
                "Healthy",
                true,
                "DiscoverySucceeded",
                &message,
                w.meta().generation,
            );
            conditions::set(
                &mut new_status.conditions,
                "Ready",
                true,
                "DiscoverySucceeded",
                &message,
                w.meta().generation,
            );
            patch_status(&ctx, &ns, &name, &new_status).await?;
            Ok(Action::requeue(interval))
        }
        Err(message) => {
            let n = {
                let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
                let n = f.entry(key).or_insert(0);
                *n += 1;
                *n
            };
            conditions::remove(&mut new_status.conditions, "Reconciling");
            conditions::set(
                &mut new_status.conditions,
                "Healthy",
                false,
                "DiscoveryFailed",
                &message,
                w.meta().generation,
            );
            conditions::set(
                &mut new_status.conditions,
                "Ready",
                false,
                "DiscoveryFailed",
                &message,
                w.meta().generation,
            );
            // Keep when discovery was last attempted so the interval applies to retries too.
            let mut found = new_status.discovered_artifacts.clone().unwrap_or_default();
            found.discovered_at = Some(now());
            new_status.discovered_artifacts = Some(found);
            patch_status(&ctx, &ns, &name, &new_status).await?;
            let backoff = Duration::from_secs(5u64.saturating_mul(1u64 << n.min(6))).min(interval);
            Ok(Action::requeue(backoff))
        }
    }
}

async fn patch_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &WarehouseStatus,
) -> Result<(), Error> {
    let api: Api<Warehouse> = Api::namespaced(ctx.client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(())
}

/// Discovers every subscription; an error message names the subscription and the cause.
async fn discover(w: &Warehouse, ctx: &Context) -> Result<DiscoveredArtifacts, String> {
    let mut out = DiscoveredArtifacts {
        discovered_at: Some(now()),
        ..Default::default()
    };
    for (i, s) in w.spec.subscriptions.iter().enumerate() {
        if let Some(g) = &s.git {
            let ns = w.namespace().unwrap_or_default();
            let creds = crate::credentials::find(&ctx.client, &ns, CredType::Git, &g.repo_url)
                .await
                .map_err(|e| {
                    format!(
                        "subscription {i} (git {}): reading credentials: {e}",
                        g.repo_url
                    )
                })?
                .map(|c| kargo_sources::git::GitCredentials {
                    username: c.username,
                    password: c.password,
                });
            let commits = ctx
                .git
                .discover(g, creds.as_ref())
                .await
                .map_err(|e| format!("subscription {i} (git {}): {e}", g.repo_url))?;
            out.git.push(GitDiscoveryResult {
                repo_url: g.repo_url.clone(),
                commits,
                subscription_name: s.name.clone(),
                ..Default::default()
            });
        } else if let Some(im) = &s.image {
            let ns = w.namespace().unwrap_or_default();
            let creds = crate::credentials::find(&ctx.client, &ns, CredType::Image, &im.repo_url)
                .await
                .map_err(|e| {
                    format!(
                        "subscription {i} (image {}): reading credentials: {e}",
                        im.repo_url
                    )
                })?
                .map(|c| kargo_sources::ImageCredentials {
                    username: c.username,
                    password: c.password,
                });
            let references = ctx
                .images
                .discover(im, creds.as_ref())
                .await
                .map_err(|e| format!("subscription {i} (image {}): {e}", im.repo_url))?;
            out.images.push(ImageDiscoveryResult {
                repo_url: im.repo_url.clone(),
                platform: im.platform.clone(),
                references,
                subscription_name: s.name.clone(),
            });
        } else if let Some(c) = &s.chart {
            let ns = w.namespace().unwrap_or_default();
            let creds = crate::credentials::find(&ctx.client, &ns, CredType::Helm, &c.repo_url)
                .await
                .map_err(|e| {
                    format!(
                        "subscription {i} (chart {}): reading credentials: {e}",
                        c.repo_url
                    )
                })?
                .map(|c| kargo_sources::ChartCredentials {
                    username: c.username,
                    password: c.password,
                });
            let versions = ctx
                .charts
                .discover(c, creds.as_ref())
                .await
                .map_err(|e| format!("subscription {i} (chart {}): {e}", c.repo_url))?;
            out.charts.push(ChartDiscoveryResult {
                repo_url: c.repo_url.clone(),
                name: c.name.clone(),
                semver_constraint: c.semver_constraint.clone(),
                versions,
                subscription_name: s.name.clone(),
            });
        }
    }
    Ok(out)
}

/// What automatic Freight creation did.
enum Created {
    /// Freight with this ID exists now.
    Freight(String),
    /// Some subscription found nothing.
    Nothing,
    /// `freightCreationCriteria` said no.
    Held,
    /// `freightCreationCriteria` could not be evaluated.
    Invalid(String),
}

/// Evaluates `freightCreationCriteria.expression` against the candidate
/// Freight (`imageFrom`, `commitFrom`, `chartFrom` see its artifacts).
fn criteria_met(w: &Warehouse, f: &Freight) -> Result<bool, String> {
    let Some(expr) = w
        .spec
        .freight_creation_criteria
        .as_ref()
        .map(|c| c.expression.trim())
        .filter(|e| !e.is_empty())
    else {
        return Ok(true);
    };
    let candidate = serde_json::to_value(f).map_err(|e| e.to_string())?;
    let lookup = kargo_expr::StaticLookup {
        freight: vec![candidate],
        ..Default::default()
    };
    let env = kargo_expr::Env::new();
    kargo_expr::Evaluator::new(&env, &lookup)
        .evaluate_condition(expr)
        .map_err(|e| format!("freightCreationCriteria.expression: {e}"))
}

/// The Freight made of the newest artifact of each subscription, each
/// carrying its subscription's name (Kargo's `getFreightFromArtifacts`);
/// None when some subscription found nothing.
fn newest_freight(warehouse: &str, found: &DiscoveredArtifacts) -> Option<Freight> {
    let mut commits = Vec::new();
    for g in &found.git {
        let c = g.commits.first()?;
        commits.push(c.to_freight_commit(&g.repo_url, &g.subscription_name));
    }
    let mut images = Vec::new();
    for r in &found.images {
        let im = r.references.first()?;
        images.push(Image {
            repo_url: r.repo_url.clone(),
            tag: im.tag.clone(),
            digest: im.digest.clone(),
            annotations: im.annotations.clone(),
            subscription_name: r.subscription_name.clone(),
        });
    }
    let mut charts = Vec::new();
    for r in &found.charts {
        let v = r.versions.first()?;
        charts.push(Chart {
            repo_url: r.repo_url.clone(),
            name: r.name.clone(),
            version: v.clone(),
            subscription_name: r.subscription_name.clone(),
        });
    }
    if commits.is_empty() && images.is_empty() && charts.is_empty() {
        return None;
    }
    Some(Freight {
        api_version: "kargo.akuity.io/v1alpha1".into(),
        kind: "Freight".into(),
        origin: FreightOrigin {
            kind: "Warehouse".into(),
            name: warehouse.to_string(),
        },
        commits,
        images,
        charts,
        ..Default::default()
    })
}

/// Creates Freight from the newest artifact of each subscription.
/// Returns its ID, or None when some subscription found nothing.
async fn create_freight(
    w: &Warehouse,
    ctx: &Context,
    found: &DiscoveredArtifacts,
) -> Result<Created, Error> {
    let Some(mut f) = newest_freight(&w.name_any(), found) else {
        return Ok(Created::Nothing);
    };
    let id = f.compute_id();
    match criteria_met(w, &f) {
        Ok(true) => {}
        Ok(false) => return Ok(Created::Held),
        Err(e) => return Ok(Created::Invalid(e)),
    }
    f.metadata.name = Some(id.clone());
    f.metadata.namespace = w.namespace();
    // No owner reference: deleting a Warehouse must not delete the Freight history.
    let api: Api<Freight> = Api::namespaced(ctx.client.clone(), &w.namespace().unwrap_or_default());
    match api.create(&PostParams::default(), &f).await {
        Ok(created) => {
            if let Ok(fv) = serde_json::to_value(&created) {
                let controller = crate::events::WAREHOUSE_CONTROLLER;
                let actor = kargo_api::event::controller_actor(controller);
                let event = crate::events::freight(
                    &fv,
                    "",
                    "FreightCreated",
                    "Freight created",
                    &actor,
                    controller,
                );
                crate::events::record(&ctx.client, event).await;
            }
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Created::Freight(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_api::warehouse::{DiscoveredCommit, DiscoveredImageReference};

    /// Named subscriptions stamp their name on what they discover, and the
    /// Freight made from it carries the name into its ID.
    #[test]
    fn subscription_names_reach_freight() {
        let found = DiscoveredArtifacts {
            git: vec![GitDiscoveryResult {
                repo_url: "git@github.com:example/repo.git".into(),
                commits: vec![DiscoveredCommit {
                    id: "0123456789abcdef0123456789abcdef01234567".into(),
                    tag: "v1.0.0".into(),
                    ..Default::default()
                }],
                subscription_name: "config".into(),
                ..Default::default()
            }],
            images: vec![ImageDiscoveryResult {
                repo_url: "docker.io/library/nginx".into(),
                references: vec![DiscoveredImageReference {
                    tag: "1.25.0".into(),
                    digest: "sha256:abc".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let f = newest_freight("guestbook", &found).expect("every subscription found something");
        assert_eq!(f.commits[0].subscription_name, "config");
        assert_eq!(f.images[0].subscription_name, "", "unnamed subscription");
        // printf '%s' 'Warehouse/guestbook:docker.io/library/nginx:1.25.0@sha256:abc|ssh://git@github.com/example/repo:v1.0.0:0123456789abcdef0123456789abcdef01234567:config' | sha1sum
        assert_eq!(f.compute_id(), "eb59e4e770c49d2dbc0e557225519ae32d8c6ebc");

        let mut empty = found.clone();
        empty.images[0].references.clear();
        assert!(newest_freight("guestbook", &empty).is_none());
    }
}
