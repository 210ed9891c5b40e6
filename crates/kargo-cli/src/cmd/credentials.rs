//! `kargo create|update repo-credentials` in Kargo's forms (the `get` and
//! `delete` of them go through [`super::resource_views`] with [`VIEW`]):
//! a Secret labelled `kargo.akuity.io/cred-type: git|helm|image` holding
//! `repoURL` (`repoURLIsRegex: "true"` for a pattern), `username` and
//! `password`, in a project or, with `--shared`, in the shared resources
//! every project's Warehouses and steps fall back to. `--description`
//! is the `kargo.akuity.io/description` annotation.

use super::resource_views::{self, OutputArgs, View, label, new_metadata};
use crate::complete;
use crate::scope::{Scope, ScopeFlags};
use anyhow::{Context, Result, bail};
use clap_complete::ArgValueCompleter;
use kargo_api::labels;
use serde_json::{Value, json};

/// Kargo's spellings of the kind.
pub const ALIASES: &[&str] = &[
    "repo-credentials",
    "repo-credential",
    "repo-creds",
    "repo-cred",
    "repocredentials",
    "repocredential",
    "repocreds",
    "repocred",
];

/// The credential types of repositories.
const TYPES: [&str; 3] = ["git", "helm", "image"];

/// Repository credentials as Kargo's API shows them: the URL, whether it
/// is a pattern and the username stay readable, the password does not.
pub static VIEW: View = View {
    kind: "Secret",
    noun: "repository credentials",
    system: false,
    selector: Some("kargo.akuity.io/cred-type in (git,helm,image)"),
    refuse,
    show,
    headers: &["NAME", "TYPE", "REGEX", "REPO"],
    cells,
};

fn refuse(v: &Value) -> Option<String> {
    match label(v, labels::CRED_TYPE) {
        "" => Some(format!("is not labeled with {}", labels::CRED_TYPE)),
        t if TYPES.contains(&t) => None,
        t => Some(format!("is labeled as unrecognized credential type {t:?}")),
    }
}

fn show(v: Value) -> Value {
    resource_views::redact_secret(
        v,
        &["repoURL", "repoURLIsRegex", "username"],
        &[labels::DESCRIPTION],
    )
}

fn cells(v: &Value) -> Vec<String> {
    let data = |k: &str| v["stringData"][k].as_str().unwrap_or("").to_string();
    vec![
        v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        label(v, labels::CRED_TYPE).to_string(),
        data("repoURLIsRegex"),
        data("repoURL"),
    ]
}

/// `--git | --helm | --image | --type T`.
#[derive(Debug, Default, clap::Args)]
pub struct TypeFlags {
    /// For a Git repository.
    #[arg(long, group = "cred_type")]
    pub git: bool,
    /// For a Helm chart repository.
    #[arg(long, group = "cred_type")]
    pub helm: bool,
    /// For a container image repository.
    #[arg(long, group = "cred_type")]
    pub image: bool,
    /// Type of repository the credentials are for: git, helm or image.
    #[arg(long = "type", value_name = "TYPE", group = "cred_type")]
    pub type_: Option<String>,
}

impl TypeFlags {
    /// The type given, if any.
    fn get(&self) -> Result<Option<String>> {
        let t = match (self.git, self.helm, self.image, &self.type_) {
            (true, ..) => "git",
            (_, true, ..) => "helm",
            (_, _, true, _) => "image",
            (.., Some(t)) => t.as_str(),
            _ => return Ok(None),
        };
        if !TYPES.contains(&t) {
            bail!("--type {t:?}: type should be one of git, helm, or image");
        }
        Ok(Some(t.to_string()))
    }
}

/// `--password P` or `--password-stdin`.
#[derive(Debug, Default, clap::Args)]
pub struct PasswordFlags {
    /// Password or token (`--password-stdin` keeps it out of the shell history).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

impl PasswordFlags {
    /// The password given, if any.
    fn get(self) -> Result<Option<String>> {
        if self.password.is_none() && !self.password_stdin {
            return Ok(None);
        }
        crate::password::read(self.password, self.password_stdin).map(Some)
    }
}

/// Flags of `kargo create repo-credentials`.
#[derive(Debug, clap::Args)]
pub struct RepoCredentialsArgs {
    /// Secret name.
    pub name: String,
    /// Project (default: the configured one).
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    /// Shared credentials, which every project may use.
    #[arg(long, conflicts_with = "project")]
    pub shared: bool,
    /// Description of the credentials.
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub cred_type: TypeFlags,
    /// Repository URL (or a regular expression with --regex).
    #[arg(long)]
    pub repo_url: String,
    /// Treat --repo-url as a regular expression.
    #[arg(long)]
    pub regex: bool,
    /// Username.
    #[arg(long)]
    pub username: String,
    #[command(flatten)]
    pub password: PasswordFlags,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `kargo update repo-credentials`.
#[derive(Debug, clap::Args)]
pub struct UpdateRepoCredentialsArgs {
    /// Secret name.
    pub name: String,
    /// Project (default: the configured one).
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    /// Shared credentials instead of a project's.
    #[arg(long, conflicts_with = "project")]
    pub shared: bool,
    /// Change the description.
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub cred_type: TypeFlags,
    /// Change the repository URL (with --regex: a regular expression).
    #[arg(long, default_value = "")]
    pub repo_url: String,
    /// The new --repo-url is a regular expression.
    #[arg(long)]
    pub regex: bool,
    /// Change the username.
    #[arg(long, default_value = "")]
    pub username: String,
    #[command(flatten)]
    pub password: PasswordFlags,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn scope(project: Option<&str>, shared: bool) -> Result<Scope> {
    ScopeFlags {
        shared,
        system: false,
    }
    .resolve(crate::client::project(project)?.as_deref(), false)
}

fn check_pattern(url: &str, regex: bool) -> Result<()> {
    if regex {
        regex::Regex::new(url)
            .with_context(|| format!("--repo-url {url:?} is not a valid regular expression"))?;
    }
    Ok(())
}

/// `kargo create repo-credentials`.
pub async fn create(client: &kube::Client, a: RepoCredentialsArgs) -> Result<()> {
    let scope = scope(a.project.as_deref(), a.shared)?;
    let Some(kind) = a.cred_type.get()? else {
        bail!("say which kind of repository: --git, --helm, --image or --type TYPE");
    };
    if a.repo_url.is_empty() {
        bail!("--repo-url is required");
    }
    if a.username.is_empty() {
        bail!("--username is required");
    }
    check_pattern(&a.repo_url, a.regex)?;
    let password = match a.password.get()? {
        Some(p) if !p.is_empty() => p,
        _ => bail!("give the password with --password-stdin (or --password)"),
    };
    let mut data = json!({"repoURL": a.repo_url, "username": a.username, "password": password});
    if a.regex {
        data["repoURLIsRegex"] = json!("true");
    }
    let obj = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": new_metadata(&a.name, &scope, json!({ labels::CRED_TYPE: kind }), &a.description),
        "stringData": data,
    });
    resource_views::create(client, &VIEW, &scope, obj, &a.output).await
}

/// `kargo update repo-credentials`: only what is given changes (Kargo's
/// patch): the type, the URL (and whether it is a pattern), the username,
/// the password, the description.
pub async fn update(client: &kube::Client, a: UpdateRepoCredentialsArgs) -> Result<()> {
    let scope = scope(a.project.as_deref(), a.shared)?;
    let kind = a.cred_type.get()?;
    if a.regex && a.repo_url.is_empty() {
        bail!("--regex is only allowed when --repo-url is set");
    }
    check_pattern(&a.repo_url, a.regex)?;
    let password = a.password.get()?.unwrap_or_default();
    if a.description.is_empty()
        && kind.is_none()
        && a.repo_url.is_empty()
        && a.username.is_empty()
        && password.is_empty()
    {
        bail!(
            "at least one of --description, --git, --helm, --image, --type, --repo-url, --username, or --password must be provided"
        );
    }
    let mut obj = resource_views::read(client, &VIEW, &scope, &a.name).await?;
    resource_views::set_description(&mut obj, &a.description);
    if let Some(k) = kind {
        obj["metadata"]["labels"][labels::CRED_TYPE] = json!(k);
    }
    let mut set = serde_json::Map::new();
    if !a.repo_url.is_empty() {
        set.insert("repoURL".into(), json!(a.repo_url));
        if a.regex {
            set.insert("repoURLIsRegex".into(), json!("true"));
        } else if let Some(d) = obj["data"].as_object_mut() {
            d.remove("repoURLIsRegex");
        }
    }
    if !a.username.is_empty() {
        set.insert("username".into(), json!(a.username));
    }
    if !password.is_empty() {
        set.insert("password".into(), json!(password));
    }
    obj["stringData"] = Value::Object(set);
    resource_views::replace(client, &VIEW, &scope, obj, &a.output).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_repository_credentials_belong() {
        let with = |t: &str| json!({"metadata": {"labels": {labels::CRED_TYPE: t}}});
        assert!(refuse(&with("git")).is_none());
        assert!(refuse(&with("generic")).is_some());
        assert!(refuse(&json!({"metadata": {}})).is_some());
    }

    #[test]
    fn the_table_shows_the_url_and_never_the_password() {
        let v = show(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "c", "labels": {labels::CRED_TYPE: "git"},
                         "annotations": {labels::DESCRIPTION: "bot"}},
            "data": {"repoURL": "aHR0cHM6Ly94", "password": "czNjcjN0", "repoURLIsRegex": "dHJ1ZQ=="}
        }));
        assert_eq!(cells(&v), ["c", "git", "true", "https://x"]);
        assert_eq!(resource_views::annotation(&v, labels::DESCRIPTION), "bot");
        assert_eq!(v["stringData"]["password"], resource_views::REDACTED);
    }
}
