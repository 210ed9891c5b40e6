//! GitLab's merge requests over its REST API (what Kargo's GitLab client
//! calls): base `https://gitlab.com/api/v4/` for gitlab.com, else
//! `<scheme>://<host>/api/v4/`; `PRIVATE-TOKEN: <token>`; the project is
//! addressed by its URL-encoded path.
//!
//! - open: `POST projects/<p>/merge_requests` {title, description,
//!   labels (comma-separated), source_branch, target_branch};
//! - list: `GET projects/<p>/merge_requests?source_branch&target_branch&per_page=100[&page]`
//!   (every state: open ones are picked here, `opened` or `locked`);
//! - get: `GET projects/<p>/merge_requests/<iid>`;
//! - merge: `PUT …/<iid>/merge` [{squash: true}] once `detailed_merge_status`
//!   is `mergeable` and it is no draft; methods `merge` (default) and
//!   `squash`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Forge, ForgeError, NewPullRequest, PullRequest, RepoUrl, encode};

/// A GitLab project's merge requests.
pub struct GitLab<'a> {
    api: Api<'a>,
    /// `projects/<url-encoded path>`.
    project: String,
}

impl<'a> GitLab<'a> {
    /// The client for `repo`; `api` builds the REST client for a base URL.
    pub fn new(repo: &RepoUrl, api: impl FnOnce(String) -> Api<'a>) -> Self {
        let base = if repo.host == "gitlab.com" {
            "https://gitlab.com/api/v4/".to_string()
        } else {
            format!("{}://{}/api/v4/", repo.scheme, repo.host)
        };
        GitLab {
            project: format!("projects/{}", encode(&repo.path)),
            api: api(base),
        }
    }

    fn get(&self, iid: i64) -> Result<Value, ForgeError> {
        Ok(self
            .api
            .call(
                Method::GET,
                &format!("{}/merge_requests/{iid}", self.project),
                None,
            )?
            .body)
    }
}

/// A merge request from GitLab's JSON.
fn convert(v: &Value) -> PullRequest {
    let state = v.get("state").and_then(Value::as_str).unwrap_or("");
    PullRequest {
        number: v.get("iid").and_then(Value::as_i64).unwrap_or_default(),
        url: super::str_field(v, "web_url"),
        open: matches!(state, "opened" | "locked"),
        merged: state == "merged",
        merge_commit_sha: super::str_field(v, "merge_commit_sha"),
        head_sha: super::str_field(v, "sha"),
        created_at: super::time_field(v, "created_at"),
    }
}

impl Forge for GitLab<'_> {
    fn create_pull_request(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
        let body = json!({
            "title": pr.title,
            "description": pr.description,
            "labels": pr.labels.join(","),
            "source_branch": pr.head,
            "target_branch": pr.base,
        });
        let path = format!("{}/merge_requests", self.project);
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
        let path = format!(
            "{}/merge_requests?source_branch={}&target_branch={}&per_page=100",
            self.project,
            encode(head),
            encode(base)
        );
        let mut prs = Vec::new();
        super::every_page(&self.api, &path, |v| {
            let pr = convert(v);
            if pr.open && pr.has_head(head_sha) {
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
            .map_err(|e| e.context(format!("error getting merge request {number}")))?;
        let state = v.get("state").and_then(Value::as_str).unwrap_or("");
        if state == "merged" {
            return Ok(Some(convert(&v)));
        }
        if state != "opened" {
            return Err(ForgeError::other(format!(
                "pull request {number} is closed but not merged"
            )));
        }
        let draft = v.get("draft").and_then(Value::as_bool).unwrap_or(false);
        if draft || v.get("detailed_merge_status").and_then(Value::as_str) != Some("mergeable") {
            return Ok(None);
        }
        let body = match method {
            "" | "merge" => json!({}),
            "squash" => json!({"squash": true}),
            other => {
                return Err(ForgeError::other(format!(
                    "unsupported merge method {other:?}"
                )));
            }
        };
        let path = format!("{}/merge_requests/{number}/merge", self.project);
        let merged = self
            .api
            .call(Method::PUT, &path, Some(&body))
            .map_err(|e| e.context(format!("error merging merge request {number}")))?;
        Ok(Some(convert(&merged.body)))
    }
}
