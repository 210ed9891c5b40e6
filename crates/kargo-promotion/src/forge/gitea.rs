//! Gitea's pull requests over its REST API (what Kargo's Gitea SDK calls):
//! base `<scheme>://<host>/api/v1/`, `Authorization: token <token>`.
//!
//! - open: label names are first resolved to IDs through
//!   `GET repos/<o>/<r>/labels` (every page; a missing label is an error),
//!   then `POST repos/<o>/<r>/pulls` {title, head, base, body, labels};
//! - list: `GET repos/<o>/<r>/pulls?state=open[&page]` (no branch filter
//!   on Gitea's side: head and base are matched here);
//! - get: `GET repos/<o>/<r>/pulls/<n>`;
//! - merge: `POST …/pulls/<n>/merge` {Do: merge (default), rebase,
//!   rebase-merge, squash, fast-forward-only, manually-merged} once it is
//!   `mergeable` and no draft; only a 200 means merged.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Forge, ForgeError, NewPullRequest, PullRequest, RepoUrl, encode};

/// The merge styles Gitea accepts.
const MERGE_METHODS: [&str; 6] = [
    "fast-forward-only",
    "manually-merged",
    "merge",
    "rebase",
    "rebase-merge",
    "squash",
];

/// A Gitea repository's pull requests.
pub struct Gitea<'a> {
    api: Api<'a>,
    /// `repos/<owner>/<repo>`.
    repo: String,
    /// For messages.
    owner_repo: String,
}

impl<'a> Gitea<'a> {
    /// The client for `repo`; `api` builds the REST client for a base URL.
    pub fn new(repo: &RepoUrl, api: impl FnOnce(String) -> Api<'a>) -> Result<Self, ForgeError> {
        let (owner, name) = repo.owner_repo()?;
        Ok(Gitea {
            repo: format!("repos/{}/{}", encode(owner), encode(name)),
            owner_repo: format!("{owner}/{name}"),
            api: api(format!("{}://{}/api/v1/", repo.scheme, repo.host)),
        })
    }

    fn get(&self, number: i64) -> Result<Value, ForgeError> {
        Ok(self
            .api
            .call(Method::GET, &format!("{}/pulls/{number}", self.repo), None)?
            .body)
    }

    /// The IDs of the labels called `names` (each once, in order).
    fn label_ids(&self, names: &[String]) -> Result<Vec<i64>, ForgeError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_name = std::collections::HashMap::new();
        super::every_page(&self.api, &format!("{}/labels?limit=50", self.repo), |l| {
            if let (Some(n), Some(id)) = (
                l.get("name").and_then(Value::as_str),
                l.get("id").and_then(Value::as_i64),
            ) {
                by_name.insert(n.to_string(), id);
            }
        })
        .map_err(|e| e.context("error listing repository labels"))?;
        let (mut ids, mut missing, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        for name in names {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            match by_name.get(name) {
                Some(id) => ids.push(*id),
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(ForgeError::other(format!(
                "labels not found in repository {}: {}",
                self.owner_repo,
                missing.join(", ")
            )));
        }
        Ok(ids)
    }
}

/// A pull request from Gitea's JSON.
fn convert(v: &Value) -> PullRequest {
    PullRequest {
        number: v.get("number").and_then(Value::as_i64).unwrap_or_default(),
        url: super::str_field(v, "html_url"),
        open: v.get("state").and_then(Value::as_str) == Some("open"),
        merged: v.get("merged").and_then(Value::as_bool).unwrap_or(false),
        merge_commit_sha: super::str_field(v, "merge_commit_sha"),
        head_sha: v
            .get("head")
            .map(|h| super::str_field(h, "sha"))
            .unwrap_or_default(),
        created_at: super::time_field(v, "created_at"),
    }
}

/// The branch a side (`head` / `base`) of a Gitea pull request names.
fn branch(v: &Value, side: &str) -> String {
    v.get(side)
        .map(|h| super::str_field(h, "ref"))
        .unwrap_or_default()
}

impl Forge for Gitea<'_> {
    fn create_pull_request(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
        let labels = self.label_ids(pr.labels)?;
        let mut body = json!({
            "title": pr.title,
            "head": pr.head,
            "base": pr.base,
            "body": pr.description,
        });
        if !labels.is_empty() {
            body["labels"] = json!(labels);
        }
        let path = format!("{}/pulls", self.repo);
        Ok(convert(
            &self.api.call(Method::POST, &path, Some(&body))?.body,
        ))
    }

    fn get_pull_request(&self, number: i64) -> Result<PullRequest, ForgeError> {
        Ok(convert(&self.get(number)?))
    }

    fn list_open_pull_requests(
        &self,
        head: &str,
        base: &str,
        head_sha: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let mut prs = Vec::new();
        super::every_page(&self.api, &format!("{}/pulls?state=open", self.repo), |v| {
            let pr = convert(v);
            // Kargo filters on the head commit only; a branch field
            // Gitea leaves out does not exclude the pull request.
            let named = |side: &str, want: &str| {
                let b = branch(v, side);
                b.is_empty() || b == want
            };
            if pr.has_head(head_sha) && named("head", head) && named("base", base) {
                prs.push(pr);
            }
        })?;
        Ok(prs)
    }

    fn merge_pull_request(
        &self,
        number: i64,
        method: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        let v = self
            .get(number)
            .map_err(|e| e.context(format!("error getting pull request {number}")))?;
        if let Some(done) = super::settled(number, convert(&v))? {
            return Ok(Some(done));
        }
        let draft = v.get("draft").and_then(Value::as_bool).unwrap_or(false);
        if draft || v.get("mergeable").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        let method = if method.is_empty() { "merge" } else { method };
        if !MERGE_METHODS.contains(&method) {
            return Err(ForgeError::other(format!(
                "unsupported merge method {method:?}"
            )));
        }
        let path = format!("{}/pulls/{number}/merge", self.repo);
        let resp = self
            .api
            .call(Method::POST, &path, Some(&json!({"Do": method})))
            .map_err(|e| e.context(format!("error merging pull request {number}")))?;
        if resp.status != 200 {
            return Err(ForgeError::other(format!(
                "merge rejected for pull request {number}"
            )));
        }
        let updated = self
            .get(number)
            .map_err(|e| e.context(format!("error fetching PR {number} after merge")))?;
        Ok(Some(convert(&updated)))
    }
}
