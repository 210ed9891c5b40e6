//! Repository credentials from Secrets, as Kargo finds them: Secrets
//! labelled `kargo.akuity.io/cred-type: git|image|helm`, with `repoURL`
//! (or a regular expression when `repoURLIsRegex: "true"`), `username`
//! and `password`, first in the project, then in the shared-resources
//! namespace (`kargo-shared-resources`, where `kargo create
//! repo-credentials --shared` puts them). Within a namespace, exact URL
//! matches win over patterns. Values are never logged or put into errors.

use k8s_openapi::api::core::v1::Secret;
use kargo_api::freight_id::{normalize_chart_repo_url, normalize_git_url};
use kargo_api::labels;
use kargo_api::namespaces::SHARED_RESOURCES;
use kube::api::{Api, ListParams};

/// Which kind of repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredType {
    /// Git repositories.
    Git,
    /// Container image registries.
    Image,
    /// Helm chart repositories.
    Helm,
}

impl CredType {
    fn label(self) -> &'static str {
        match self {
            CredType::Git => "git",
            CredType::Image => "image",
            CredType::Helm => "helm",
        }
    }

    fn normalize(self, url: &str) -> String {
        match self {
            CredType::Git => normalize_git_url(url),
            CredType::Helm => normalize_chart_repo_url(url),
            CredType::Image => url.trim().trim_end_matches('/').to_lowercase(),
        }
    }
}

/// A username and password.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Username.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn field(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

/// One credential Secret, decoded: the URL, whether it is a pattern, and
/// what it holds.
type Entry = (String, bool, Credentials);

/// The credential Secrets of one kind for a project, decoded: the
/// project's own, then the shared ones.
#[derive(Clone, Default)]
pub struct CredentialSet {
    kind: Option<CredType>,
    /// One list per namespace, in the order they are searched.
    tiers: Vec<Vec<Entry>>,
}

impl std::fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSet")
            .field("entries", &self.tiers.iter().map(Vec::len).sum::<usize>())
            .finish()
    }
}

impl CredentialSet {
    /// Loads the Secrets labelled for `kind` in `ns`, then in the
    /// shared-resources namespace.
    pub async fn load(
        client: &kube::Client,
        ns: &str,
        kind: CredType,
    ) -> Result<CredentialSet, kube::Error> {
        let mut tiers = Vec::with_capacity(2);
        for namespace in [ns, SHARED_RESOURCES] {
            tiers.push(load_entries(client, namespace, kind).await?);
        }
        Ok(CredentialSet {
            kind: Some(kind),
            tiers,
        })
    }

    /// Credentials for `url`: the project's before the shared ones; within
    /// a namespace an exact (normalised) match, else the first matching
    /// pattern.
    pub fn pick(&self, url: &str) -> Option<Credentials> {
        let kind = self.kind?;
        let want = kind.normalize(url);
        self.tiers.iter().find_map(|entries| {
            entries
                .iter()
                .find(|(repo, regex, _)| !regex && kind.normalize(repo) == want)
                .or_else(|| {
                    entries.iter().find(|(repo, regex, _)| {
                        *regex && regex::Regex::new(repo).is_ok_and(|r| r.is_match(url))
                    })
                })
                .map(|(_, _, c)| c.clone())
        })
    }
}

/// The Secrets labelled for `kind` in `ns`, decoded (sorted by name, as
/// Kargo searches them).
async fn load_entries(
    client: &kube::Client,
    ns: &str,
    kind: CredType,
) -> Result<Vec<Entry>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut secrets = api
        .list(&ListParams::default().labels(&format!("{}={}", labels::CRED_TYPE, kind.label())))
        .await?
        .items;
    secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(secrets
        .iter()
        .filter_map(|s| {
            let repo = field(s, "repoURL")?;
            let regex = field(s, "repoURLIsRegex").as_deref() == Some("true");
            Some((
                repo,
                regex,
                Credentials {
                    username: field(s, "username").unwrap_or_default(),
                    password: field(s, "password").unwrap_or_default(),
                },
            ))
        })
        .collect())
}

/// Finds credentials for `url` in `ns`.
pub async fn find(
    client: &kube::Client,
    ns: &str,
    kind: CredType,
    url: &str,
) -> Result<Option<Credentials>, kube::Error> {
    Ok(CredentialSet::load(client, ns, kind).await?.pick(url))
}
