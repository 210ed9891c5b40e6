//! GitHub's pull requests over its REST API (what Kargo's go-github client
//! calls): base `https://api.github.com/` for github.com, else
//! `<scheme>://<host>/api/v3/` (GitHub Enterprise; a host starting with
//! `api.` is used as is); `Authorization: Bearer <token>`.
//!
//! Merging follows `mergeable_state`: `clean`, `unstable`, `has_hooks`
//! merge; `dirty` is an error; `blocked`/`behind` try, and a 405 is "not
//! ready" unless GitHub says the method is not allowed; `draft`/`unknown`
//! (or a draft / not mergeable PR otherwise) are not ready.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, Forge, ForgeError, NewPullRequest, PullRequest, RepoUrl, encode};

/// A GitHub repository's pull requests.
pub struct GitHub<'a> {
    api: Api<'a>,
    /// `repos/<owner>/<repo>`.
    repo: String,
}

/// The API base for a repository on `host` reached over `scheme`.
pub fn api_base(scheme: &str, host: &str) -> String {
    if host == "github.com" {
        "https://api.github.com/".into()
    } else if host.starts_with("api.") || host.contains(".api.") {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}/api/v3/")
    }
}

impl<'a> GitHub<'a> {
    /// The client for `repo`; `api` builds the REST client for a base URL.
    pub fn new(repo: &RepoUrl, api: impl FnOnce(String) -> Api<'a>) -> Result<Self, ForgeError> {
        let (owner, name) = repo.owner_repo()?;
        Ok(GitHub {
            repo: format!("repos/{}/{}", encode(owner), encode(name)),
            api: api(api_base(&repo.scheme, &repo.host)),
        })
    }

    fn get(&self, number: i64) -> Result<Value, ForgeError> {
        Ok(self
            .api
            .call(Method::GET, &format!("{}/pulls/{number}", self.repo), None)?
            .body)
    }
}

/// A pull request from GitHub's JSON.
fn convert(v: &Value) -> PullRequest {
    PullRequest {
        number: v.get("number").and_then(Value::as_i64).unwrap_or_default(),
        url: super::str_field(v, "html_url"),
        open: v.get("state").and_then(Value::as_str) == Some("open"),
        merged: v.get("merged_at").is_some_and(|m| !m.is_null()),
        merge_commit_sha: super::str_field(v, "merge_commit_sha"),
        head_sha: v
            .get("head")
            .map(|h| super::str_field(h, "sha"))
            .unwrap_or_default(),
        created_at: super::time_field(v, "created_at"),
    }
}

/// Whether a 405 from the merge endpoint means "try again later".
fn transient_405(message: &str, policy_blocked: bool) -> bool {
    if message.contains("not allowed") {
        false
    } else if message.contains("Base branch was modified")
        || message.contains("Pull Request is not mergeable")
    {
        true
    } else {
        policy_blocked
    }
}

impl Forge for GitHub<'_> {
    fn create_pull_request(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
        let body = json!({
            "title": pr.title,
            "head": pr.head,
            "base": pr.base,
            "body": pr.description,
            "maintainer_can_modify": false,
        });
        let created = convert(
            &self
                .api
                .call(Method::POST, &format!("{}/pulls", self.repo), Some(&body))?
                .body,
        );
        if !pr.labels.is_empty() {
            self.api.call(
                Method::POST,
                &format!("{}/issues/{}/labels", self.repo, created.number),
                Some(&json!(pr.labels)),
            )?;
        }
        Ok(created)
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
            "{}/pulls?state=open&head={}&base={}&per_page=100",
            self.repo,
            encode(head),
            encode(base)
        );
        let mut prs = Vec::new();
        super::every_page(&self.api, &path, |v| {
            let pr = convert(v);
            if pr.has_head(head_sha) {
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
        let mut policy_blocked = false;
        match v
            .get("mergeable_state")
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "clean" | "unstable" | "has_hooks" => {}
            "dirty" => {
                return Err(ForgeError::other(format!(
                    "pull request {number} has conflicts and cannot be merged"
                )));
            }
            "blocked" | "behind" => policy_blocked = true,
            "draft" | "unknown" => return Ok(None),
            _ => {
                let draft = v.get("draft").and_then(Value::as_bool).unwrap_or(false);
                let mergeable = v.get("mergeable").and_then(Value::as_bool).unwrap_or(false);
                if draft || !mergeable {
                    return Ok(None);
                }
            }
        }
        let mut body = json!({});
        if !method.is_empty() {
            body["merge_method"] = json!(method);
        }
        let path = format!("{}/pulls/{number}/merge", self.repo);
        let result = match self.api.call(Method::PUT, &path, Some(&body)) {
            Ok(r) => r.body,
            Err(e) if e.status == Some(405) && transient_405(&e.message, policy_blocked) => {
                return Ok(None);
            }
            Err(e) => return Err(e.context(format!("error merging pull request {number}"))),
        };
        if result.get("merged").and_then(Value::as_bool) != Some(true) {
            return Err(ForgeError::other(format!(
                "merge rejected for pull request {number}"
            )));
        }
        let updated = self
            .get(number)
            .map_err(|e| e.context(format!("error getting pull request {number} after merge")))?;
        Ok(Some(convert(&updated)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_base_urls() {
        assert_eq!(api_base("https", "github.com"), "https://api.github.com/");
        assert_eq!(
            api_base("https", "ghe.acme.com"),
            "https://ghe.acme.com/api/v3/"
        );
        assert_eq!(
            api_base("http", "127.0.0.1:9"),
            "http://127.0.0.1:9/api/v3/"
        );
        assert_eq!(
            api_base("https", "api.acme.ghe.com"),
            "https://api.acme.ghe.com/"
        );
    }

    #[test]
    fn merge_405_rules() {
        assert!(transient_405(
            "Base branch was modified. Review and try the merge again.",
            false
        ));
        assert!(transient_405("Pull Request is not mergeable", false));
        assert!(!transient_405(
            "Merge commits are not allowed on this repository.",
            true
        ));
        assert!(transient_405("Required status check is expected", true));
        assert!(!transient_405("Required status check is expected", false));
    }
}
