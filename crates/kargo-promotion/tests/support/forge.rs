//! An in-test git forge on loopback: smart-HTTP git (`git http-backend`
//! as CGI, Basic auth) for the repositories under a root, plus the
//! pull-request REST subsets Kargo's providers call: GitHub under
//! `/api/v3/` (Bearer token), GitLab under `/api/v4/` (`PRIVATE-TOKEN`)
//! and Gitea under `/api/v1/` (`token`). Lists page (`Link: rel="next"`;
//! GitLab also `X-Next-Page`) with a page size the test can shrink.
//!
//! A "reviewer" ([`Forge::merge`]) merges a pull request the way a forge
//! does: a real merge commit of the head branch into the base branch in
//! the bare repository (`git merge-tree` + `commit-tree` + `update-ref`),
//! whose SHA the API then reports as the merge commit. Used by
//! kargo-promotion's and kargo-cli's integration tests (the latter through
//! `#[path]`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One pull request as the forge keeps it.
#[derive(Clone, Debug)]
pub struct Pr {
    /// `owner/repo` (GitLab: the project path).
    pub repo: String,
    pub number: i64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub head_sha: String,
    pub merge_sha: Option<String>,
    /// Seconds into the test day, for `created_at`.
    pub created: i64,
}

#[derive(Default)]
struct State {
    prs: Vec<Pr>,
    /// Gitea's labels: (id, name).
    labels: Vec<(i64, String)>,
    /// `METHOD /path?query auth-kind` of every API call.
    requests: Vec<String>,
    /// Largest page served (0: the provider's own default/limit).
    page_cap: usize,
    /// Whether open pull requests may be merged through the API.
    not_mergeable: bool,
}

/// A running forge; it stops when the test process ends.
#[derive(Clone)]
pub struct Forge {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    root: PathBuf,
    state: Arc<Mutex<State>>,
}

impl Forge {
    /// Serves the bare repositories under `root` (`<root>/<owner>/<repo>.git`
    /// is `<base>/<owner>/<repo>.git`); git and the API want `user:pass`
    /// (the API: `pass` as its token).
    pub fn serve(root: &Path, user: &str, pass: &str) -> Forge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let forge = Forge {
            base: format!("http://{}", listener.local_addr().unwrap()),
            root: root.to_path_buf(),
            state: Arc::new(Mutex::new(State::default())),
        };
        let basic = format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()));
        let token = pass.to_string();
        let f = forge.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, basic, token) = (f.clone(), basic.clone(), token.clone());
                std::thread::spawn(move || {
                    let _ = f.handle(stream, &basic, &token);
                });
            }
        });
        forge
    }

    /// A bare repository `<root>/<owner>/<name>.git` whose `main` holds
    /// `files`; its URL.
    pub fn repo(&self, owner: &str, name: &str, files: &[(&str, &str)]) -> String {
        let bare = self.bare(&format!("{owner}/{name}"));
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        git(
            &self.root,
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        let seed = self.root.join(format!(".seed-{owner}-{name}"));
        git(
            &self.root,
            &["init", "-q", "-b", "main", seed.to_str().unwrap()],
        );
        for (path, text) in files {
            let p = seed.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "initial"]);
        git(&seed, &["push", "-q", bare.to_str().unwrap(), "main"]);
        std::fs::remove_dir_all(&seed).unwrap();
        format!("{}/{owner}/{name}.git", self.base)
    }

    /// The bare repository of `owner/name`.
    pub fn bare(&self, repo: &str) -> PathBuf {
        self.root.join(format!("{repo}.git"))
    }

    /// Every pull request.
    pub fn prs(&self) -> Vec<Pr> {
        self.state.lock().unwrap().prs.clone()
    }

    /// The API calls so far: `METHOD /path?query auth` (auth: `bearer`,
    /// `token`, `private-token`).
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Serves at most `n` items a page.
    pub fn set_page_size(&self, n: usize) {
        self.state.lock().unwrap().page_cap = n;
    }

    /// Makes open pull requests (un)mergeable through the API.
    pub fn set_mergeable(&self, yes: bool) {
        self.state.lock().unwrap().not_mergeable = !yes;
    }

    /// A Gitea label.
    pub fn add_label(&self, name: &str) {
        let mut st = self.state.lock().unwrap();
        let id = 100 + st.labels.len() as i64;
        st.labels.push((id, name.to_string()));
    }

    /// Adds `n` open pull requests for `repo` from `head` into `base` whose
    /// head commit is not the branch's (someone else's, older ones).
    pub fn add_other_prs(&self, repo: &str, head: &str, base: &str, n: usize) {
        let mut st = self.state.lock().unwrap();
        for _ in 0..n {
            let number = st.prs.len() as i64 + 1;
            st.prs.push(Pr {
                repo: repo.into(),
                number,
                head: head.into(),
                base: base.into(),
                title: format!("other {number}"),
                body: String::new(),
                labels: Vec::new(),
                state: "open".into(),
                head_sha: format!("{number:040x}"),
                merge_sha: None,
                created: number,
            });
        }
    }

    /// Waits (up to `secs`) for a pull request to be opened; returns it.
    pub fn wait_for_pr(&self, secs: u64, f: impl Fn(&Pr) -> bool) -> Pr {
        let start = std::time::Instant::now();
        loop {
            if let Some(p) = self.prs().into_iter().find(|p| f(p)) {
                return p;
            }
            assert!(
                start.elapsed().as_secs() < secs,
                "no pull request after {secs}s; requests: {:#?}",
                self.requests()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The reviewer merges pull request `number`: a merge commit of its
    /// head branch into its base branch (`squash`: one parent), written
    /// into the bare repository. Returns the merge commit.
    pub fn merge(&self, number: i64) -> String {
        self.merge_with(number, "merge").expect("merge")
    }

    /// The reviewer closes pull request `number` without merging.
    pub fn close(&self, number: i64) {
        let mut st = self.state.lock().unwrap();
        let pr = st.prs.iter_mut().find(|p| p.number == number).unwrap();
        pr.state = "closed".into();
    }

    fn merge_with(&self, number: i64, method: &str) -> Result<String, String> {
        let mut st = self.state.lock().unwrap();
        let pr = st
            .prs
            .iter_mut()
            .find(|p| p.number == number)
            .ok_or("no such pull request")?;
        if pr.state != "open" {
            return Err("Pull Request is not mergeable".into());
        }
        let bare = self.bare(&pr.repo);
        let rev = |r: &str| {
            git(&bare, &["rev-parse", &format!("refs/heads/{r}")])
                .trim()
                .to_string()
        };
        let (base_sha, head_sha) = (rev(&pr.base), rev(&pr.head));
        let tree = git(&bare, &["merge-tree", "--write-tree", &base_sha, &head_sha]);
        let tree = tree.lines().next().unwrap_or_default().to_string();
        let msg = format!("Merge pull request #{number} from {}", pr.head);
        let mut args = vec!["commit-tree", tree.as_str(), "-p", base_sha.as_str()];
        if method != "squash" {
            args.extend(["-p", head_sha.as_str()]);
        }
        args.extend(["-m", msg.as_str()]);
        let sha = git(&bare, &args).trim().to_string();
        git(
            &bare,
            &[
                "update-ref",
                &format!("refs/heads/{}", pr.base),
                &sha,
                &base_sha,
            ],
        );
        pr.state = "merged".into();
        pr.merge_sha = Some(sha.clone());
        Ok(sha)
    }

    fn handle(&self, mut stream: TcpStream, basic: &str, token: &str) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h)?;
                let h = h.trim_end().to_string();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let mut body = Vec::new();
            if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
                body.resize(len, 0);
                reader.read_exact(&mut body)?;
            } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
                loop {
                    let mut size = String::new();
                    reader.read_line(&mut size)?;
                    let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                    let mut chunk = vec![0; n + 2];
                    reader.read_exact(&mut chunk)?;
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
            }
            if target.starts_with("/api/") {
                let auth = match (get("authorization"), get("private-token")) {
                    (Some(a), _) if a == format!("Bearer {token}") => Some("bearer"),
                    (Some(a), _) if a == format!("token {token}") => Some("token"),
                    (_, Some(t)) if t == token => Some("private-token"),
                    _ => None,
                };
                let (status, extra, json) = match auth {
                    Some(kind) => {
                        self.state
                            .lock()
                            .unwrap()
                            .requests
                            .push(format!("{method} {target} {kind}"));
                        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        self.api(&method, &target, &body)
                    }
                    None => (401, String::new(), json!({"message": "Bad credentials"})),
                };
                let payload = if json.is_null() {
                    String::new()
                } else {
                    json.to_string()
                };
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{payload}",
                    payload.len()
                )?;
                continue;
            }
            if get("authorization").as_deref() != Some(basic) {
                stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\n\r\n")?;
                continue;
            }
            cgi(
                &mut stream,
                &self.root,
                &method,
                &target,
                &get("content-type"),
                &get("git-protocol"),
                &body,
            )?;
        }
    }

    /// Answers one API call: (status, extra header lines, JSON body).
    fn api(&self, method: &str, target: &str, body: &Value) -> (u16, String, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let q: HashMap<String, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        let seg: Vec<String> = path.split('/').skip(1).map(decode).collect();
        let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
        let not_found = (404, String::new(), json!({"message": "Not Found"}));
        match seg.as_slice() {
            ["api", "v3", "repos", o, r, rest @ ..] => {
                self.github(method, &format!("{o}/{r}"), rest, &q, body, path)
            }
            ["api", "v1", "version"] => (200, String::new(), json!({"version": "1.22.0"})),
            ["api", "v1", "repos", o, r, rest @ ..] => {
                self.gitea(method, &format!("{o}/{r}"), rest, &q, body, path)
            }
            ["api", "v4", "projects", p, rest @ ..] => self.gitlab(method, p, rest, &q, body, path),
            _ => not_found,
        }
    }

    /// Creates a pull request after the checks every forge makes.
    fn create(
        &self,
        repo: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        labels: Vec<String>,
    ) -> Result<Pr, (u16, Value)> {
        let bare = self.bare(repo);
        let rev = |r: &str| {
            Command::new("git")
                .arg("-C")
                .arg(&bare)
                .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{r}")])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let (Some(head_sha), Some(_)) = (rev(head), rev(base)) else {
            return Err((422, json!({"message": "Validation Failed"})));
        };
        let diff = Command::new("git")
            .arg("-C")
            .arg(&bare)
            .args([
                "diff",
                "--quiet",
                &format!("refs/heads/{base}"),
                &format!("refs/heads/{head}"),
            ])
            .status()
            .unwrap();
        if diff.success() {
            return Err((
                422,
                json!({"message": format!("No commits between {base} and {head}")}),
            ));
        }
        let mut st = self.state.lock().unwrap();
        let number = st.prs.len() as i64 + 1;
        let pr = Pr {
            repo: repo.into(),
            number,
            head: head.into(),
            base: base.into(),
            title: title.into(),
            body: body.into(),
            labels,
            state: "open".into(),
            head_sha,
            merge_sha: None,
            created: 1000 + number,
        };
        st.prs.push(pr.clone());
        Ok(pr)
    }

    fn find(&self, repo: &str, number: &str) -> Option<Pr> {
        let n: i64 = number.parse().ok()?;
        self.prs()
            .into_iter()
            .find(|p| p.repo == repo && p.number == n)
    }

    /// One page of `items` (1-based `page`), with the headers that point at
    /// the next one.
    fn page(
        &self,
        items: Vec<Value>,
        q: &HashMap<String, String>,
        size_key: &str,
        default: usize,
        path: &str,
        gitlab: bool,
    ) -> (u16, String, Value) {
        let cap = self.state.lock().unwrap().page_cap;
        let mut size = q
            .get(size_key)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
            .min(100);
        if cap > 0 {
            size = size.min(cap);
        }
        let page: usize = q
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let start = (page - 1) * size;
        let slice: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
        let mut extra = String::new();
        if start + size < items.len() {
            let mut query: Vec<String> = q
                .iter()
                .filter(|(k, _)| k.as_str() != "page")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            query.sort();
            query.push(format!("page={}", page + 1));
            extra = format!(
                "Link: <{}{path}?{}>; rel=\"next\"\r\n",
                self.base,
                query.join("&")
            );
            if gitlab {
                extra.push_str(&format!("X-Next-Page: {}\r\n", page + 1));
            }
        } else if gitlab {
            extra.push_str("X-Next-Page: \r\n");
        }
        (200, extra, Value::Array(slice))
    }

    fn time(created: i64) -> String {
        format!(
            "2026-01-01T{:02}:{:02}:{:02}Z",
            created / 3600 % 24,
            created / 60 % 60,
            created % 60
        )
    }

    fn mergeable(&self) -> bool {
        !self.state.lock().unwrap().not_mergeable
    }

    fn github_view(&self, p: &Pr) -> Value {
        let open = p.state == "open";
        let mergeable = open && self.mergeable();
        json!({
            "number": p.number,
            "html_url": format!("{}/{}/pull/{}", self.base, p.repo, p.number),
            "state": if open { "open" } else { "closed" },
            "title": p.title,
            "body": p.body,
            "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
            "head": {"ref": p.head, "sha": p.head_sha},
            "base": {"ref": p.base},
            "created_at": Self::time(p.created),
            "merged_at": p.merge_sha.as_ref().map(|_| Self::time(p.created + 60)),
            "merge_commit_sha": p.merge_sha,
            "draft": false,
            "mergeable": mergeable,
            "mergeable_state": if mergeable { "clean" } else if open { "blocked" } else { "unknown" },
        })
    }

    fn github(
        &self,
        method: &str,
        repo: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &Value,
        path: &str,
    ) -> (u16, String, Value) {
        let s = |k: &str| field(body, k);
        match (method, rest) {
            ("POST", ["pulls"]) => match self.create(
                repo,
                &s("head"),
                &s("base"),
                &s("title"),
                &s("body"),
                Vec::new(),
            ) {
                Ok(p) => (201, String::new(), self.github_view(&p)),
                Err((st, v)) => (st, String::new(), v),
            },
            ("GET", ["pulls"]) => {
                let want_head = q.get("head").cloned().unwrap_or_default();
                let want_base = q.get("base").cloned().unwrap_or_default();
                let items = self
                    .prs()
                    .into_iter()
                    .filter(|p| p.repo == repo && p.state == "open")
                    .filter(|p| {
                        want_head.is_empty()
                            || want_head == p.head
                            || want_head.ends_with(&format!(":{}", p.head))
                    })
                    .filter(|p| want_base.is_empty() || want_base == p.base)
                    .map(|p| self.github_view(&p))
                    .collect();
                self.page(items, q, "per_page", 30, path, false)
            }
            ("GET", ["pulls", n]) => match self.find(repo, n) {
                Some(p) => (200, String::new(), self.github_view(&p)),
                None => (404, String::new(), json!({"message": "Not Found"})),
            },
            ("PUT", ["pulls", n, "merge"]) => {
                if !self.mergeable() {
                    return (
                        405,
                        String::new(),
                        json!({"message": "Pull Request is not mergeable"}),
                    );
                }
                let method = body
                    .get("merge_method")
                    .and_then(Value::as_str)
                    .unwrap_or("merge");
                match n
                    .parse()
                    .map_err(|_| "bad number".to_string())
                    .and_then(|n| self.merge_with(n, method))
                {
                    Ok(sha) => (
                        200,
                        String::new(),
                        json!({"merged": true, "sha": sha, "message": "Pull Request successfully merged"}),
                    ),
                    Err(m) => (405, String::new(), json!({"message": m})),
                }
            }
            ("POST", ["issues", n, "labels"]) => {
                let labels: Vec<String> = body
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str().map(String::from))
                    .collect();
                let n: i64 = n.parse().unwrap_or_default();
                let mut st = self.state.lock().unwrap();
                match st.prs.iter_mut().find(|p| p.repo == repo && p.number == n) {
                    Some(p) => {
                        p.labels.extend(labels);
                        (
                            200,
                            String::new(),
                            json!(
                                p.labels
                                    .iter()
                                    .map(|l| json!({"name": l}))
                                    .collect::<Vec<_>>()
                            ),
                        )
                    }
                    None => (404, String::new(), json!({"message": "Not Found"})),
                }
            }
            _ => (404, String::new(), json!({"message": "Not Found"})),
        }
    }

    fn gitlab_view(&self, p: &Pr) -> Value {
        let open = p.state == "open";
        json!({
            "iid": p.number,
            "web_url": format!("{}/{}/-/merge_requests/{}", self.base, p.repo, p.number),
            "state": if open { "opened" } else { p.state.as_str() },
            "title": p.title,
            "description": p.body,
            "labels": p.labels,
            "source_branch": p.head,
            "target_branch": p.base,
            "sha": p.head_sha,
            "merge_commit_sha": p.merge_sha,
            "created_at": Self::time(p.created),
            "draft": false,
            "detailed_merge_status": if open && self.mergeable() { "mergeable" } else if open { "not_approved" } else { "not_open" },
        })
    }

    fn gitlab(
        &self,
        method: &str,
        project: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &Value,
        path: &str,
    ) -> (u16, String, Value) {
        let s = |k: &str| field(body, k);
        match (method, rest) {
            ("POST", ["merge_requests"]) => {
                let labels = s("labels")
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                match self.create(
                    project,
                    &s("source_branch"),
                    &s("target_branch"),
                    &s("title"),
                    &s("description"),
                    labels,
                ) {
                    Ok(p) => (201, String::new(), self.gitlab_view(&p)),
                    Err((st, v)) => (if st == 422 { 409 } else { st }, String::new(), v),
                }
            }
            ("GET", ["merge_requests"]) => {
                let want = |k: &str| q.get(k).cloned().unwrap_or_default();
                let (head, base, state) =
                    (want("source_branch"), want("target_branch"), want("state"));
                let items = self
                    .prs()
                    .into_iter()
                    .filter(|p| p.repo == project)
                    .filter(|p| head.is_empty() || head == p.head)
                    .filter(|p| base.is_empty() || base == p.base)
                    .filter(|p| {
                        state.is_empty()
                            || state == "all"
                            || (state == "opened") == (p.state == "open")
                    })
                    .map(|p| self.gitlab_view(&p))
                    .collect();
                self.page(items, q, "per_page", 20, path, true)
            }
            ("GET", ["merge_requests", n]) => match self.find(project, n) {
                Some(p) => (200, String::new(), self.gitlab_view(&p)),
                None => (404, String::new(), json!({"message": "404 Not found"})),
            },
            ("PUT", ["merge_requests", n, "merge"]) => {
                if !self.mergeable() {
                    return (
                        405,
                        String::new(),
                        json!({"message": "405 Method Not Allowed"}),
                    );
                }
                let squash = body.get("squash").and_then(Value::as_bool) == Some(true);
                let n: i64 = n.parse().unwrap_or_default();
                match self.merge_with(n, if squash { "squash" } else { "merge" }) {
                    Ok(_) => (
                        200,
                        String::new(),
                        self.gitlab_view(&self.find(project, &n.to_string()).unwrap()),
                    ),
                    Err(m) => (405, String::new(), json!({"message": m})),
                }
            }
            _ => (404, String::new(), json!({"message": "404 Not found"})),
        }
    }

    fn gitea_view(&self, p: &Pr) -> Value {
        let open = p.state == "open";
        let labels = self.state.lock().unwrap().labels.clone();
        json!({
            "number": p.number,
            "html_url": format!("{}/{}/pulls/{}", self.base, p.repo, p.number),
            "state": if open { "open" } else { "closed" },
            "title": p.title,
            "body": p.body,
            "labels": p.labels.iter().map(|l| json!({"name": l, "id": labels.iter().find(|(_, n)| n == l).map(|(id, _)| *id)})).collect::<Vec<_>>(),
            "head": {"ref": p.head, "sha": p.head_sha},
            "base": {"ref": p.base},
            "created_at": Self::time(p.created),
            "merged": p.merge_sha.is_some(),
            "merge_commit_sha": p.merge_sha,
            "draft": false,
            "mergeable": open && self.mergeable(),
        })
    }

    fn gitea(
        &self,
        method: &str,
        repo: &str,
        rest: &[&str],
        q: &HashMap<String, String>,
        body: &Value,
        path: &str,
    ) -> (u16, String, Value) {
        let s = |k: &str| field(body, k);
        match (method, rest) {
            ("GET", ["labels"]) => {
                let items = self
                    .state
                    .lock()
                    .unwrap()
                    .labels
                    .iter()
                    .map(|(id, n)| json!({"id": id, "name": n}))
                    .collect();
                self.page(items, q, "limit", 30, path, false)
            }
            ("POST", ["pulls"]) => {
                let known = self.state.lock().unwrap().labels.clone();
                let labels = body
                    .get("labels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| {
                        known
                            .iter()
                            .find(|(k, _)| Some(*k) == id.as_i64())
                            .map(|(_, n)| n.clone())
                    })
                    .collect();
                match self.create(
                    repo,
                    &s("head"),
                    &s("base"),
                    &s("title"),
                    &s("body"),
                    labels,
                ) {
                    Ok(p) => (201, String::new(), self.gitea_view(&p)),
                    Err((st, v)) => (st, String::new(), v),
                }
            }
            ("GET", ["pulls"]) => {
                let state = q.get("state").cloned().unwrap_or_else(|| "open".into());
                let items = self
                    .prs()
                    .into_iter()
                    .filter(|p| {
                        p.repo == repo
                            && (state == "all" || (state == "open") == (p.state == "open"))
                    })
                    .map(|p| self.gitea_view(&p))
                    .collect();
                self.page(items, q, "limit", 30, path, false)
            }
            ("GET", ["pulls", n]) => match self.find(repo, n) {
                Some(p) => (200, String::new(), self.gitea_view(&p)),
                None => (404, String::new(), json!({"message": "not found"})),
            },
            ("POST", ["pulls", n, "merge"]) => {
                if !self.mergeable() {
                    return (
                        405,
                        String::new(),
                        json!({"message": "Please try again later"}),
                    );
                }
                let style = body.get("Do").and_then(Value::as_str).unwrap_or("merge");
                match n
                    .parse()
                    .map_err(|_| "bad number".to_string())
                    .and_then(|n| self.merge_with(n, style))
                {
                    Ok(_) => (200, String::new(), Value::Null),
                    Err(m) => (405, String::new(), json!({"message": m})),
                }
            }
            _ => (404, String::new(), json!({"message": "not found"})),
        }
    }
}

/// Answers a git smart-HTTP request through `git http-backend`.
fn cgi(
    stream: &mut TcpStream,
    root: &Path,
    method: &str,
    target: &str,
    content_type: &Option<String>,
    protocol: &Option<String>,
    body: &[u8],
) -> std::io::Result<()> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", content_type.clone().unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", protocol.clone().unwrap_or_default())
        .env("REMOTE_USER", "tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    child.stdin.take().unwrap().write_all(body)?;
    let out = child.wait_with_output()?;
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, 2))
        });
    let Some((at, sep)) = split else {
        return Ok(());
    };
    let head = String::from_utf8_lossy(&out.stdout[..at]).to_string();
    let payload = &out.stdout[at + sep..];
    let mut status = "200 OK".to_string();
    let mut resp = String::new();
    for h in head.lines() {
        if let Some(s) = h.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else {
            resp.push_str(h.trim_end());
            resp.push_str("\r\n");
        }
    }
    write!(
        stream,
        "HTTP/1.1 {status}\r\n{resp}Content-Length: {}\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(payload)
}

/// A string field of a JSON body ("" when absent).
fn field(body: &Value, k: &str) -> String {
    body.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs git in `dir` with an identity; panics on failure; stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Reviewer")
        .env("GIT_AUTHOR_EMAIL", "reviewer@example.com")
        .env("GIT_COMMITTER_NAME", "Reviewer")
        .env("GIT_COMMITTER_EMAIL", "reviewer@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Percent-decodes `s` (`+` stays).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Base64 (standard, padded).
pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
