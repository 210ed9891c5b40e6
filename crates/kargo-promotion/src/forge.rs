//! Pull requests on a git forge, for `git-open-pr`, `git-wait-for-pr` and
//! `git-merge-pr`: the [`Forge`] trait (Kargo's `gitprovider.Interface`
//! without `GetCommitURL`, which lives in [`crate::git::provider`]) and
//! [`open`], which picks the provider (named, or inferred from the host as
//! Kargo's registration predicates do) and builds its REST client.
//!
//! One file per provider: [`github`] (github.com, and Enterprise under
//! `/api/v3/`), [`gitlab`] (`/api/v4`) and [`gitea`] (`/api/v1`). `azure`
//! and `bitbucket` are known to Kargo but not implemented here: asking for
//! them is an error that names them. Every request runs under the
//! Promotion's [`Limits`]: the server's `--http-timeout`, dropped on abort.

pub mod gitea;
pub mod github;
pub mod gitlab;

use std::fmt;

use serde_json::Value;

use crate::git::provider;
use crate::limits::Limits;

/// A pull (GitLab: merge) request, as the steps see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PullRequest {
    /// Number (GitLab's `iid`, Gitea's `number`).
    pub number: i64,
    /// Its web page.
    pub url: String,
    /// Open (GitLab: `opened` or `locked`).
    pub open: bool,
    /// Merged.
    pub merged: bool,
    /// The merge commit, once merged (may be empty).
    pub merge_commit_sha: String,
    /// The commit at the head of the source branch.
    pub head_sha: String,
    /// When it was opened (RFC 3339), for ordering candidates.
    pub created_at: Option<jiff::Timestamp>,
}

/// What `git-open-pr` asks to open.
#[derive(Clone, Copy, Debug)]
pub struct NewPullRequest<'a> {
    /// Source branch.
    pub head: &'a str,
    /// Target branch.
    pub base: &'a str,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub description: &'a str,
    /// Labels to put on it.
    pub labels: &'a [String],
}

/// Why a forge call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgeError {
    /// The HTTP status, when the forge answered.
    pub status: Option<u16>,
    /// What went wrong (never the token).
    pub message: String,
}

impl ForgeError {
    /// An error that is not an HTTP answer.
    pub fn other(message: impl Into<String>) -> ForgeError {
        ForgeError {
            status: None,
            message: message.into(),
        }
    }
}

impl ForgeError {
    /// The same error, its message prefixed with `what: `.
    pub fn context(self, what: impl fmt::Display) -> ForgeError {
        ForgeError {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl PullRequest {
    /// Whether its head commit is `sha` (any, when `sha` is empty): Kargo
    /// filters listed pull requests by it.
    pub fn has_head(&self, sha: &str) -> bool {
        sha.is_empty() || self.head_sha == sha
    }
}

/// Kargo's look before merging: already merged → that pull request;
/// closed unmerged → an error; open → None (go on).
fn settled(number: i64, pr: PullRequest) -> Result<Option<PullRequest>, ForgeError> {
    if pr.merged {
        return Ok(Some(pr));
    }
    if !pr.open {
        return Err(ForgeError::other(format!(
            "pull request {number} is closed but not merged"
        )));
    }
    Ok(None)
}

impl fmt::Display for ForgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a provider does with pull requests (Kargo's
/// `gitprovider.Interface`).
pub trait Forge {
    /// Opens a pull request from `pr.head` into `pr.base`, with its labels.
    fn create_pull_request(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError>;
    /// The pull request numbered `number`.
    fn get_pull_request(&self, number: i64) -> Result<PullRequest, ForgeError>;
    /// The open pull requests from `head` into `base` whose head commit is
    /// `head_sha` (filtered here, as Kargo does), every page of them.
    fn list_open_pull_requests(
        &self,
        head: &str,
        base: &str,
        head_sha: &str,
    ) -> Result<Vec<PullRequest>, ForgeError>;
    /// Merges `number` with `method` (provider-specific; empty: the
    /// provider's default). `Ok(None)`: not ready to merge yet (checks
    /// pending, draft, mergeability unknown); an error when it never will
    /// be (closed unmerged, conflicts, refused).
    fn merge_pull_request(
        &self,
        number: i64,
        method: &str,
    ) -> Result<Option<PullRequest>, ForgeError>;
}

/// How to reach the forge.
#[derive(Clone, Debug, Default)]
pub struct Options<'a> {
    /// `github`, `gitlab`, `gitea`, `azure` or `bitbucket`; inferred from
    /// the repository URL when None.
    pub provider: Option<&'a str>,
    /// The API token (the repository credential's password).
    pub token: Option<String>,
    /// Skip TLS verification.
    pub insecure_skip_tls_verify: bool,
}

/// The client for the forge that serves `repo_url`.
pub fn open<'a>(
    repo_url: &str,
    opts: &Options<'_>,
    limits: &'a Limits,
) -> Result<Box<dyn Forge + 'a>, ForgeError> {
    let name = match opts.provider.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => provider::infer(repo_url)
            .ok_or_else(|| ForgeError::other(format!("no registered providers for {repo_url}")))?,
    };
    let repo = RepoUrl::parse(repo_url)?;
    let api = |base: String, auth: Option<(&'static str, String)>| Api {
        base,
        auth,
        insecure: opts.insecure_skip_tls_verify,
        limits,
    };
    let token = opts.token.clone().filter(|t| !t.is_empty());
    Ok(match name {
        "github" => Box::new(github::GitHub::new(&repo, |base| {
            api(
                base,
                token.map(|t| ("authorization", format!("Bearer {t}"))),
            )
        })?),
        "gitlab" => Box::new(gitlab::GitLab::new(&repo, |base| {
            api(base, token.map(|t| ("private-token", t)))
        })),
        "gitea" => Box::new(gitea::Gitea::new(&repo, |base| {
            api(base, token.map(|t| ("authorization", format!("token {t}"))))
        })?),
        "azure" | "bitbucket" => {
            return Err(ForgeError::other(format!(
                "git provider {name:?} is not supported for pull requests (supported: github, gitlab, gitea)"
            )));
        }
        other => {
            return Err(ForgeError::other(format!(
                "no registered providers with name {other:?}"
            )));
        }
    })
}

/// A repository URL as the providers read it (after Kargo's
/// normalisation): scheme (`http`/`https`; anything else, e.g. `ssh`,
/// becomes `https`), host with port, and path without the leading `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host, with its port.
    pub host: String,
    /// `owner/repo` (GitLab: `group/sub/project`).
    pub path: String,
}

impl RepoUrl {
    /// Parses `repo_url`.
    pub fn parse(repo_url: &str) -> Result<RepoUrl, ForgeError> {
        let normalized = kargo_api::urls::normalize_git(repo_url);
        let (scheme, host, path) = provider::split(&normalized).ok_or_else(|| {
            ForgeError::other(format!("cannot parse repository URL {repo_url:?}"))
        })?;
        Ok(RepoUrl {
            scheme: if matches!(scheme, "http" | "https") {
                scheme.to_string()
            } else {
                "https".into()
            },
            host: host.to_string(),
            path: path.trim_start_matches('/').to_string(),
        })
    }

    /// `(owner, repo)`, when the path has exactly two parts (GitHub and
    /// Gitea require it).
    pub fn owner_repo(&self) -> Result<(&str, &str), ForgeError> {
        match self.path.split('/').collect::<Vec<_>>().as_slice() {
            [owner, repo] => Ok((owner, repo)),
            _ => Err(ForgeError::other(format!(
                "could not extract repository owner and name from URL \"{}://{}/{}\"",
                self.scheme, self.host, self.path
            ))),
        }
    }
}

/// An answer from the forge's REST API.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The next page (from `Link: <…page=N…>; rel="next"` or GitLab's
    /// `X-Next-Page`), if any.
    pub next_page: Option<u32>,
    /// The JSON body (Null when empty or not JSON).
    pub body: Value,
}

/// The most of a response body read.
const MAX_BODY: usize = 16 << 20;

/// A REST client rooted at `base` (ending in `/`), with the provider's
/// authentication header.
pub struct Api<'a> {
    base: String,
    auth: Option<(&'static str, String)>,
    insecure: bool,
    limits: &'a Limits,
}

impl Api<'_> {
    /// Sends `method path` (relative to the base, query included) with an
    /// optional JSON body; any status but 2xx is an error carrying the
    /// forge's `message`.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ForgeError> {
        let resp = self.send(method.clone(), path, body)?;
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        let detail = ["message", "error"]
            .iter()
            .find_map(|k| resp.body.get(k))
            .map(|m| match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        Err(ForgeError {
            status: Some(resp.status),
            message: format!(
                "{method} {}: {}{}{detail}",
                self.shown(path),
                resp.status,
                if detail.is_empty() { "" } else { ": " }
            ),
        })
    }

    /// `base` + `path`, as errors show it.
    fn shown(&self, path: &str) -> String {
        kargo_api::redact::redact_url(&format!("{}{path}", self.base))
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ForgeError> {
        let timeout = self.limits.http_timeout;
        let client =
            kargo_analysis::http::client(timeout, self.insecure).map_err(ForgeError::other)?;
        let url = format!("{}{path}", self.base);
        let mut req = client
            .request(method.clone(), &url)
            .header("accept", "application/json");
        if let Some((name, value)) = &self.auth {
            req = req.header(*name, value.as_str());
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let fut = async move {
            let resp = req.send().await.map_err(kargo_analysis::http::describe)?;
            let status = resp.status().as_u16();
            let next_page = next_page(resp.headers());
            let bytes = kargo_analysis::http::body(resp, MAX_BODY).await?;
            Ok::<_, String>(Response {
                status,
                next_page,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        };
        let shown = self.shown(path);
        self.limits
            .block_on(fut, timeout + std::time::Duration::from_secs(1))
            .map_err(|why| ForgeError::other(format!("{method} {shown}: {why}")))?
            .map_err(|e| ForgeError::other(format!("{method} {shown}: {e}")))
    }
}

/// The next page a response points at: `Link: <…&page=N>; rel="next"`
/// (GitHub, Gitea, GitLab) or GitLab's `X-Next-Page: N`.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    for link in headers.get_all("link") {
        let Ok(link) = link.to_str() else { continue };
        for part in link.split(',') {
            let Some((target, params)) = part.split_once(';') else {
                continue;
            };
            if !params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            }) {
                continue;
            }
            let target = target.trim().trim_start_matches('<').trim_end_matches('>');
            let query = target.split_once('?').map_or("", |(_, q)| q);
            if let Some(n) = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|n| n.parse().ok())
            {
                return Some(n);
            }
        }
    }
    headers
        .get("x-next-page")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Percent-encodes `s` for one query value or path segment.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A string field of a JSON object ("" when absent).
fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A timestamp field of a JSON object.
fn time_field(v: &Value, key: &str) -> Option<jiff::Timestamp> {
    v.get(key)?.as_str()?.parse().ok()
}

/// Pages through a list endpoint: `path` ends in a query to which
/// `&page=N` is appended for pages after the first.
fn every_page(api: &Api<'_>, path: &str, mut keep: impl FnMut(&Value)) -> Result<(), ForgeError> {
    let mut page: Option<u32> = None;
    loop {
        let p = match page {
            Some(n) => format!("{path}&page={n}"),
            None => path.to_string(),
        };
        let resp = api.call(reqwest::Method::GET, &p, None)?;
        for item in resp.body.as_array().into_iter().flatten() {
            keep(item);
        }
        match resp.next_page {
            Some(n) if Some(n) != page && n > page.unwrap_or(1) => page = Some(n),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_as_the_providers_read_them() {
        let rows = [
            (
                "https://github.com/akuity/kargo.git",
                "https",
                "github.com",
                "akuity/kargo",
            ),
            (
                "git@github.com:akuity/kargo.git",
                "https",
                "github.com",
                "akuity/kargo",
            ),
            ("http://127.0.0.1:8080/o/r", "http", "127.0.0.1:8080", "o/r"),
            (
                "https://gitlab.com/g/sub/p",
                "https",
                "gitlab.com",
                "g/sub/p",
            ),
        ];
        for (url, scheme, host, path) in rows {
            let r = RepoUrl::parse(url).unwrap();
            assert_eq!(
                (r.scheme.as_str(), r.host.as_str(), r.path.as_str()),
                (scheme, host, path),
                "{url}"
            );
        }
        assert!(
            RepoUrl::parse("https://gitlab.com/g/sub/p")
                .unwrap()
                .owner_repo()
                .is_err()
        );
    }

    #[test]
    fn unsupported_and_unknown_providers_say_so() {
        let limits = Limits::default();
        for p in ["azure", "bitbucket"] {
            let opts = Options {
                provider: Some(p),
                ..Default::default()
            };
            let e = open("https://example.com/o/r", &opts, &limits)
                .err()
                .unwrap();
            assert!(
                e.message.contains(&format!("{p:?} is not supported")),
                "{e}"
            );
        }
        let e = open(
            "https://dev.azure.com/o/p/_git/r",
            &Options::default(),
            &limits,
        )
        .err()
        .unwrap();
        assert!(e.message.contains("\"azure\" is not supported"), "{e}");
        let e = open("https://git.example.com/o/r", &Options::default(), &limits)
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "no registered providers for https://git.example.com/o/r"
        );
    }

    #[test]
    fn next_page_from_link_or_gitlab_header() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "link",
            "<https://x/api/v3/repos/o/r/pulls?state=open&page=3>; rel=\"next\", <https://x/?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_page(&h), Some(3));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("link", "<https://x/?page=1>; rel=\"prev\"".parse().unwrap());
        assert_eq!(next_page(&h), None);
        h.insert("x-next-page", "2".parse().unwrap());
        assert_eq!(next_page(&h), Some(2));
        h.insert("x-next-page", "".parse().unwrap());
        assert_eq!(next_page(&h), None);
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("group/sub project"), "group%2Fsub%20project");
        assert_eq!(encode("kargo/promotion/p-1"), "kargo%2Fpromotion%2Fp-1");
    }
}
