//! Freight by hand: `kargo create freight` builds Freight from artifacts a
//! Warehouse has discovered (validated against its subscriptions), and
//! `kargo update freight` renames an alias.

use crate::resources::explain;
use anyhow::{Context, Result, anyhow, bail};
use kargo_api::common::{Chart, FreightOrigin, Image};
use kargo_api::freight_id::{normalize_chart_repo_url, normalize_git_url};
use kargo_api::{Freight, Warehouse, labels};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// Flags of `kargo create freight`.
#[derive(Debug, clap::Args)]
pub struct CreateFreightArgs {
    /// The Warehouse the Freight comes from.
    #[arg(long)]
    pub warehouse: String,
    /// Project.
    #[arg(short = 'p', long)]
    pub project: Option<String>,
    /// Alias (default: a generated one).
    #[arg(long)]
    pub alias: Option<String>,
    /// A commit: REPO@ID (a prefix of 7+ characters is enough) or REPO#TAG.
    #[arg(long = "commit")]
    pub commits: Vec<String>,
    /// An image: REPO:TAG or REPO@DIGEST.
    #[arg(long = "image")]
    pub images: Vec<String>,
    /// A chart: NAME@VERSION (classic repositories) or oci://REPO@VERSION.
    #[arg(long = "chart")]
    pub charts: Vec<String>,
}

fn split_image(s: &str) -> Result<(String, Option<String>, Option<String>)> {
    if let Some((repo, digest)) = s.split_once('@') {
        return Ok((repo.into(), None, Some(digest.into())));
    }
    let slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[slash..].rfind(':') {
        Some(i) => Ok((s[..slash + i].into(), Some(s[slash + i + 1..].into()), None)),
        None => bail!("--image {s:?}: expected REPO:TAG or REPO@DIGEST"),
    }
}

/// Creates Freight from discovered artifacts.
pub async fn create(client: &kube::Client, project: &str, a: CreateFreightArgs) -> Result<()> {
    if a.commits.is_empty() && a.images.is_empty() && a.charts.is_empty() {
        bail!("name at least one artifact with --commit, --image or --chart");
    }
    let w = Api::<Warehouse>::namespaced(client.clone(), project)
        .get(&a.warehouse)
        .await
        .map_err(explain)?;
    let found = w
        .status
        .as_ref()
        .and_then(|s| s.discovered_artifacts.clone())
        .unwrap_or_default();
    let mut f = Freight {
        api_version: "kargo.akuity.io/v1alpha1".into(),
        kind: "Freight".into(),
        origin: FreightOrigin {
            kind: "Warehouse".into(),
            name: a.warehouse.clone(),
        },
        ..Default::default()
    };
    for c in &a.commits {
        let (repo, id, tag) = match (c.split_once('#'), c.rsplit_once('@')) {
            (Some((r, t)), _) => (r, None, Some(t)),
            (None, Some((r, i))) => (r, Some(i), None),
            _ => bail!("--commit {c:?}: expected REPO@ID or REPO#TAG"),
        };
        let sub = w
            .spec
            .subscriptions
            .iter()
            .filter_map(|s| s.git.as_ref())
            .find(|g| normalize_git_url(&g.repo_url) == normalize_git_url(repo));
        let sub = sub.ok_or_else(|| {
            anyhow!(
                "--commit {c:?}: Warehouse {} has no git subscription for {repo}",
                a.warehouse
            )
        })?;
        let result = found
            .git
            .iter()
            .find(|g| normalize_git_url(&g.repo_url) == normalize_git_url(repo));
        let commits = result.map(|g| g.commits.as_slice()).unwrap_or_default();
        let hit = commits
            .iter()
            .find(|d| match (id, tag) {
                (Some(i), _) => i.len() >= 7 && d.id.starts_with(i),
                (_, Some(t)) => d.tag == t,
                _ => false,
            })
            .ok_or_else(|| anyhow!("--commit {c:?}: not among the commits Warehouse {} has discovered (refresh it, or check the ID)", a.warehouse))?;
        let subscription_name = result.map(|g| g.subscription_name.as_str());
        f.commits
            .push(hit.to_freight_commit(&sub.repo_url, subscription_name.unwrap_or_default()));
    }
    for i in &a.images {
        let (repo, tag, digest) = split_image(i)?;
        let sub = w
            .spec
            .subscriptions
            .iter()
            .filter_map(|s| s.image.as_ref())
            .find(|s| s.repo_url == repo);
        let sub = sub.ok_or_else(|| {
            anyhow!(
                "--image {i:?}: Warehouse {} has no image subscription for {repo}",
                a.warehouse
            )
        })?;
        let result = found.images.iter().find(|r| r.repo_url == repo);
        let refs = result.map(|r| r.references.as_slice()).unwrap_or_default();
        let hit = refs
            .iter()
            .find(|r| tag.as_ref().is_some_and(|t| r.tag == *t) || digest.as_ref().is_some_and(|d| r.digest == *d))
            .ok_or_else(|| anyhow!("--image {i:?}: not among the images Warehouse {} has discovered (refresh it, or check the tag)", a.warehouse))?;
        f.images.push(Image {
            repo_url: sub.repo_url.clone(),
            tag: hit.tag.clone(),
            digest: hit.digest.clone(),
            annotations: hit.annotations.clone(),
            subscription_name: result
                .map(|r| r.subscription_name.clone())
                .unwrap_or_default(),
        });
    }
    for c in &a.charts {
        let (what, version) = c
            .rsplit_once('@')
            .ok_or_else(|| anyhow!("--chart {c:?}: expected NAME@VERSION or oci://REPO@VERSION"))?;
        let sub = w
            .spec
            .subscriptions
            .iter()
            .filter_map(|s| s.chart.as_ref())
            .find(|s| {
                if what.starts_with("oci://") {
                    normalize_chart_repo_url(&s.repo_url) == normalize_chart_repo_url(what)
                } else {
                    s.name == what
                }
            });
        let sub = sub.ok_or_else(|| {
            anyhow!(
                "--chart {c:?}: Warehouse {} has no chart subscription for {what}",
                a.warehouse
            )
        })?;
        let result = found.charts.iter().find(|r| {
            normalize_chart_repo_url(&r.repo_url) == normalize_chart_repo_url(&sub.repo_url)
                && r.name == sub.name
        });
        let known = result.is_some_and(|r| r.versions.iter().any(|v| v == version));
        if !known {
            bail!(
                "--chart {c:?}: version {version} is not among the versions Warehouse {} has discovered",
                a.warehouse
            );
        }
        f.charts.push(Chart {
            repo_url: sub.repo_url.clone(),
            name: sub.name.clone(),
            version: version.into(),
            subscription_name: result
                .map(|r| r.subscription_name.clone())
                .unwrap_or_default(),
        });
    }
    if let Some(alias) = &a.alias {
        f.metadata.labels = Some([(labels::ALIAS.to_string(), alias.clone())].into());
    }
    let created = Api::<Freight>::namespaced(client.clone(), project)
        .create(&PostParams::default(), &f)
        .await
        .map_err(explain)?;
    outln!(
        "freight.kargo.akuity.io/{} created (alias {})",
        created.metadata.name.as_deref().unwrap_or(""),
        created.alias().unwrap_or("")
    )?;
    Ok(())
}

/// Renames the alias of Freight given by name or by its current alias.
pub async fn update_alias(
    client: &kube::Client,
    project: &str,
    name: Option<&str>,
    old_alias: Option<&str>,
    new_alias: &str,
) -> Result<()> {
    let api = Api::<Freight>::namespaced(client.clone(), project);
    let name = match (name, old_alias) {
        (Some(n), _) => n.to_string(),
        (None, Some(old)) => {
            let found = api
                .list(&ListParams::default().labels(&format!("{}={old}", labels::ALIAS)))
                .await
                .map_err(explain)?;
            found
                .items
                .first()
                .and_then(|f| f.metadata.name.clone())
                .with_context(|| format!("no Freight with alias {old:?} in project {project}"))?
        }
        (None, None) => bail!("name the Freight, or give --old-alias"),
    };
    let patch = json!({"metadata": {"labels": {labels::ALIAS: new_alias}}, "alias": new_alias});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(explain)?;
    outln!("freight.kargo.akuity.io/{name} alias is now {new_alias}")?;
    Ok(())
}
