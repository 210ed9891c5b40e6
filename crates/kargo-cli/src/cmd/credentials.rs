//! `kargo create repo-credentials`: a Secret labelled
//! `kargo.akuity.io/cred-type` that controllers use for a repository.

use crate::resources::explain;
use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::json;

/// Flags of `kargo create repo-credentials`.
#[derive(Debug, clap::Args)]
pub struct RepoCredentialsArgs {
    /// Secret name.
    pub name: String,
    /// Project.
    #[arg(short = 'p', long)]
    pub project: Option<String>,
    /// For git repositories.
    #[arg(long, group = "type")]
    pub git: bool,
    /// For container image registries.
    #[arg(long, group = "type")]
    pub image: bool,
    /// For Helm chart repositories.
    #[arg(long, group = "type")]
    pub helm: bool,
    /// Repository URL (or a regular expression with --regex).
    #[arg(long)]
    pub repo_url: String,
    /// Treat --repo-url as a regular expression.
    #[arg(long)]
    pub regex: bool,
    /// Username.
    #[arg(long)]
    pub username: String,
    /// Password or token (prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Creates the Secret.
pub async fn create(client: &kube::Client, project: &str, a: RepoCredentialsArgs) -> Result<()> {
    let kind = match (a.git, a.image, a.helm) {
        (true, _, _) => "git",
        (_, true, _) => "image",
        (_, _, true) => "helm",
        _ => bail!("say which kind of repository: --git, --image or --helm"),
    };
    if a.regex {
        regex::Regex::new(&a.repo_url).with_context(|| {
            format!(
                "--repo-url {:?} is not a valid regular expression",
                a.repo_url
            )
        })?;
    }
    let password = crate::password::read(a.password, a.password_stdin)?;
    let mut data = json!({"repoURL": a.repo_url, "username": a.username, "password": password});
    if a.regex {
        data["repoURLIsRegex"] = json!("true");
    }
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": a.name, "namespace": project, "labels": {kargo_api::labels::CRED_TYPE: kind}},
        "stringData": data,
    }))?;
    Api::<Secret>::namespaced(client.clone(), project)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(explain)?;
    outln!(
        "secret/{} created ({kind} credentials for {})",
        a.name,
        a.repo_url
    )?;
    Ok(())
}
