//! Helm's `dependency update` without Helm, for `helm-update-chart`: the
//! dependencies of a chart's `Chart.yaml` resolved to versions (a classic
//! repository's `index.yaml`, an OCI repository's tags), their packages
//! fetched into `charts/`, and `Chart.lock` written as Helm writes it. All
//! fetching goes through the Warehouses' chart client
//! ([`kargo_sources::ChartDiscoverer`]) with the Project's chart
//! credentials.
//!
//! As Helm: the newest version satisfying a dependency's constraint wins
//! (an OCI dependency with an exact version is taken as it is); packages
//! are fetched into `tmpcharts-<pid>/` and moved into `charts/`, where
//! chart archives no dependency names any more are deleted (local
//! `charts/<name>` dependencies are kept); `Chart.lock` is
//! `dependencies` (name, repository, version), `digest` (Helm's
//! `HashReq`: `sha256:` and the SHA-256 of Go's JSON of
//! `[Chart.yaml's dependencies, the locked ones]`) and `generated` (now,
//! RFC 3339 in UTC), keys sorted as `sigs.k8s.io/yaml` writes them, and
//! it is left alone when its digest is unchanged. Not done:
//! `file://` dependencies (Helm packages the directory; refused here
//! with a clear error) and `@name` / `alias:name` repository references
//! (which need `helm repo add`, as in Kargo).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use kargo_sources::{ChartCredentials, ChartDiscoverer, ChartError, ChartIndex};
use serde::Deserialize;
use serde_json::Value;

use crate::step::{StepContext, StepError};

/// A dependency of `Chart.yaml` (Helm's `chart.Dependency`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Dependency {
    /// Chart name.
    #[serde(default)]
    pub name: Option<String>,
    /// Version or constraint.
    #[serde(default)]
    pub version: Option<String>,
    /// Repository URL (`https://`, `oci://`, `file://`, or empty).
    #[serde(default)]
    pub repository: Option<String>,
    /// `condition`.
    #[serde(default)]
    pub condition: Option<String>,
    /// `tags`.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `enabled`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `import-values`.
    #[serde(default, rename = "import-values")]
    pub import_values: Option<Vec<Value>>,
    /// `alias`.
    #[serde(default)]
    pub alias: Option<String>,
}

impl Dependency {
    /// The name, as Helm sanitises it on load.
    pub fn name(&self) -> String {
        sanitize(self.name.as_deref().unwrap_or_default())
    }
    /// The version or constraint, sanitised.
    pub fn version(&self) -> String {
        sanitize(self.version.as_deref().unwrap_or_default())
    }
    /// The repository, sanitised.
    pub fn repository(&self) -> String {
        sanitize(self.repository.as_deref().unwrap_or_default())
    }

    /// Go's `json.Marshal` of Helm's `chart.Dependency` (fields in the
    /// struct's order, empty ones omitted but `name` and `repository`).
    fn go_json(&self) -> String {
        use kargo_expr::convert::go_json;
        let s = |v: &str| go_json(&Value::String(v.to_string()), false);
        let mut out = format!("{{\"name\":{}", s(&self.name()));
        let version = self.version();
        if !version.is_empty() {
            out.push_str(&format!(",\"version\":{}", s(&version)));
        }
        out.push_str(&format!(",\"repository\":{}", s(&self.repository())));
        let condition = sanitize(self.condition.as_deref().unwrap_or_default());
        if !condition.is_empty() {
            out.push_str(&format!(",\"condition\":{}", s(&condition)));
        }
        if let Some(tags) = self.tags.as_ref().filter(|t| !t.is_empty()) {
            let tags: Vec<Value> = tags.iter().map(|t| Value::String(sanitize(t))).collect();
            out.push_str(&format!(
                ",\"tags\":{}",
                go_json(&Value::Array(tags), false)
            ));
        }
        if self.enabled == Some(true) {
            out.push_str(",\"enabled\":true");
        }
        if let Some(iv) = self.import_values.as_ref().filter(|v| !v.is_empty()) {
            out.push_str(&format!(
                ",\"import-values\":{}",
                go_json(&Value::Array(iv.clone()), false)
            ));
        }
        let alias = sanitize(self.alias.as_deref().unwrap_or_default());
        if !alias.is_empty() {
            out.push_str(&format!(",\"alias\":{}", s(&alias)));
        }
        out.push('}');
        out
    }
}

/// Helm's `sanitizeString`: white space becomes a space, other
/// unprintable characters go.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// A locked dependency: name, repository, exact version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locked {
    /// Chart name.
    pub name: String,
    /// Repository URL as `Chart.yaml` has it.
    pub repository: String,
    /// Exact version.
    pub version: String,
}

impl Locked {
    fn as_dependency(&self) -> Dependency {
        Dependency {
            name: Some(self.name.clone()),
            version: Some(self.version.clone()),
            repository: Some(self.repository.clone()),
            ..Dependency::default()
        }
    }
}

#[derive(Deserialize)]
struct ChartFile {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
}

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
}

/// The dependencies of the `Chart.yaml` text `text`.
pub fn chart_dependencies(text: &str) -> Result<Vec<Dependency>, String> {
    let c: ChartFile = yaml_serde::from_str(text).map_err(|e| format!("Chart.yaml: {e}"))?;
    if c.api_version.as_deref() == Some("v1") {
        return Err(
            "Chart.yaml: apiVersion v1 charts keep their dependencies in requirements.yaml; \
             only apiVersion v2 charts are supported"
                .into(),
        );
    }
    Ok(c.dependencies.unwrap_or_default())
}

/// Helm's `resolver.HashReq`: `sha256:` and the hex SHA-256 of Go's JSON
/// of `[req, lock]`.
pub fn hash_req(req: &[Dependency], lock: &[Locked]) -> String {
    let list = |deps: &mut dyn Iterator<Item = String>| -> String {
        let items: Vec<String> = deps.collect();
        if items.is_empty() {
            // A nil slice marshals as null; Helm's req is never empty here.
            "null".into()
        } else {
            format!("[{}]", items.join(","))
        }
    };
    let json = format!(
        "[{},{}]",
        list(&mut req.iter().map(Dependency::go_json)),
        list(&mut lock.iter().map(|l| l.as_dependency().go_json()))
    );
    let sum = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    format!("sha256:{}", hex::encode(sum.as_ref()))
}

/// `Chart.lock` as Helm writes it (`sigs.k8s.io/yaml` of `chart.Lock`).
pub fn lock_text(locked: &[Locked], digest: &str, generated: &str) -> String {
    let scalar = |s: &str| kargo_expr::yaml::go_yaml(&Value::String(s.to_string()));
    let mut out = String::from("dependencies:\n");
    for l in locked {
        out.push_str(&format!("- name: {}", scalar(&l.name)));
        out.push_str(&format!("  repository: {}", scalar(&l.repository)));
        if !l.version.is_empty() {
            out.push_str(&format!("  version: {}", scalar(&l.version)));
        }
    }
    out.push_str(&format!("digest: {}", scalar(digest)));
    // A timestamp reads back as one, so yaml quotes it.
    out.push_str(&format!("generated: \"{generated}\"\n"));
    out
}

/// Now as Go's `json.Marshal` writes a UTC `time.Time`.
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    let mut out = now.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = now.subsec_nanosecond();
    if nanos != 0 {
        out.push('.');
        out.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// What `update` did.
#[derive(Debug, Default)]
pub struct Updated {
    /// Changed versions by name: `old -> new`, `new` (added) or `""`
    /// (removed), as Kargo's `compareChartVersions`.
    pub changes: BTreeMap<String, String>,
}

/// Kargo's `compareChartVersions` of the locked versions before and after.
pub fn compare_versions(before: &[(String, String)], after: &[Locked]) -> BTreeMap<String, String> {
    let mut old: HashMap<&str, &str> = before
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut changes = BTreeMap::new();
    for l in after {
        match old.remove(l.name.as_str()) {
            Some(v) if v != l.version => {
                changes.insert(l.name.clone(), format!("{v} -> {}", l.version));
            }
            Some(_) => {}
            None => {
                changes.insert(l.name.clone(), l.version.clone());
            }
        }
    }
    for (name, _) in old {
        changes.insert(name.to_string(), String::new());
    }
    changes
}

/// Where a dependency comes from.
enum Source {
    /// `charts/<name>` inside the chart.
    Local,
    /// A classic repository.
    Classic,
    /// An OCI repository.
    Oci,
}

fn source(repo: &str) -> Result<Source, String> {
    if repo.is_empty() {
        Ok(Source::Local)
    } else if repo.starts_with("http://") || repo.starts_with("https://") {
        Ok(Source::Classic)
    } else if repo.starts_with("oci://") {
        Ok(Source::Oci)
    } else if repo.starts_with("file://") {
        Err(format!(
            "dependency repository {repo:?}: file:// dependencies are not supported yet \
             (Helm packages the directory into charts/)"
        ))
    } else {
        Err(format!(
            "no repository definition for {repo}; name the repository by its \
             http(s):// or oci:// URL"
        ))
    }
}

/// The chart credentials for a dependency, looked up as Kargo does:
/// `https://` repositories by their URL, OCI ones as
/// `oci://<normalised repository>/<name>`; none for `http://`.
pub fn credentials_key(repo: &str, name: &str) -> Option<String> {
    if repo.starts_with("https://") {
        Some(repo.to_string())
    } else if repo.starts_with("oci://") {
        let joined = format!("{}/{name}", kargo_api::urls::normalize_chart(repo));
        Some(format!("oci://{}", super::files::clean(&joined)))
    } else {
        None
    }
}

/// Reads `Chart.lock` in `chart_dir`: its digest and (name, version) of
/// its dependencies; none when there is no lock.
fn read_lock(step: &str, chart_dir: &Path) -> Result<Option<LockFile>, StepError> {
    match std::fs::read_to_string(chart_dir.join("Chart.lock")) {
        Ok(text) => {
            let l: LockFile = yaml_serde::from_str(&text).map_err(|e| {
                StepError::terminal(step, format!("read dependencies from Chart.lock: {e}"))
            })?;
            Ok(Some(l))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StepError::retryable(
            step,
            format!("reading Chart.lock: {e}"),
        )),
    }
}

/// Resolves, fetches and locks the dependencies of the chart in
/// `chart_dir`, whose `Chart.yaml` declares `deps` (Helm's `dependency
/// update`). `step` names the step in errors.
pub fn update(
    step: &str,
    ctx: &StepContext<'_>,
    chart_dir: &Path,
    deps: &[Dependency],
) -> Result<Updated, StepError> {
    let (old_digest, before) = match read_lock(step, chart_dir)? {
        Some(l) => (
            l.digest,
            l.dependencies
                .unwrap_or_default()
                .iter()
                .map(|d| (d.name(), d.version()))
                .collect::<Vec<_>>(),
        ),
        None => (None, Vec::new()),
    };
    if deps.is_empty() {
        return Ok(Updated::default());
    }
    let f = Fetcher::new(step, ctx);
    let (locked, urls) = f.resolve(chart_dir, deps)?;
    f.fetch(chart_dir, &locked, &urls)?;

    // Chart.lock, unless its digest is the same (Helm) or no version
    // changed (Kargo keeps the old file and its timestamp then).
    let digest = hash_req(deps, &locked);
    let changes = compare_versions(&before, &locked);
    if old_digest.as_deref() != Some(digest.as_str()) && !changes.is_empty() {
        write(
            &chart_dir.join("Chart.lock"),
            lock_text(&locked, &digest, &now_rfc3339()).as_bytes(),
        )
        .map_err(|e| StepError::retryable(step, format!("writing Chart.lock: {e}")))?;
    }
    Ok(Updated { changes })
}

/// Helm's `dependency build`: the versions `Chart.lock` names fetched
/// into `charts/` (the lock must match `Chart.yaml`'s `deps`); without a
/// lock, [`update`].
pub fn build(
    step: &str,
    ctx: &StepContext<'_>,
    chart_dir: &Path,
    deps: &[Dependency],
) -> Result<(), StepError> {
    if deps.is_empty() {
        return Ok(());
    }
    let Some(lock) = read_lock(step, chart_dir)? else {
        return update(step, ctx, chart_dir, deps).map(|_| ());
    };
    let (digest, lock_deps) = (lock.digest, lock.dependencies.unwrap_or_default());
    let pinned: Vec<Locked> = lock_deps
        .iter()
        .map(|d| Locked {
            name: d.name(),
            repository: d.repository(),
            version: d.version(),
        })
        .collect();
    if digest.as_deref() != Some(hash_req(deps, &pinned).as_str()) {
        return Err(StepError::terminal(
            step,
            "the lock file (Chart.lock) is out of sync with the dependencies file \
             (Chart.yaml); update the dependencies (helm-update-chart)",
        ));
    }
    let f = Fetcher::new(step, ctx);
    let (locked, urls) = f.resolve(chart_dir, &lock_deps)?;
    f.fetch(chart_dir, &locked, &urls)
}

/// Resolution and fetching for one step run: the chart client, under the
/// Promotion's limits, with its chart credentials.
struct Fetcher<'a, 'c> {
    step: &'a str,
    ctx: &'a StepContext<'c>,
    client: ChartDiscoverer,
}

impl<'a, 'c> Fetcher<'a, 'c> {
    fn new(step: &'a str, ctx: &'a StepContext<'c>) -> Self {
        Fetcher {
            step,
            ctx,
            client: ChartDiscoverer::new().with_http_timeout(ctx.limits.http_timeout),
        }
    }

    fn terminal(&self, m: String) -> StepError {
        StepError::terminal(self.step, m)
    }

    fn retryable(&self, m: String) -> StepError {
        StepError::retryable(self.step, m)
    }

    fn creds(&self, repo: &str, name: &str) -> Option<ChartCredentials> {
        let c = self
            .ctx
            .credentials
            .chart_credentials(&credentials_key(repo, name)?)?;
        Some(ChartCredentials {
            username: c.username,
            password: c.password,
        })
    }

    /// Helm's resolver: each dependency locked to a version (and, from a
    /// classic repository, the package URL).
    fn resolve(
        &self,
        chart_dir: &Path,
        deps: &[Dependency],
    ) -> Result<(Vec<Locked>, Vec<Option<String>>), StepError> {
        let (step, ctx, client) = (self.step, self.ctx, &self.client);
        let mut indexes: HashMap<String, ChartIndex> = HashMap::new();
        let mut locked = Vec::with_capacity(deps.len());
        let mut urls: Vec<Option<String>> = Vec::with_capacity(deps.len());
        let mut missing = Vec::new();
        for d in deps {
            let (name, constraint, repo) = (d.name(), d.version(), d.repository());
            kargo_expr::Constraint::parse(&constraint).map_err(|e| {
                self.terminal(format!(
                    "dependency {name:?} has an invalid version/constraint format: {e}"
                ))
            })?;
            let mut lock = Locked {
                name: name.clone(),
                repository: repo.clone(),
                version: constraint.clone(),
            };
            let mut url = None;
            match source(&repo).map_err(|e| self.terminal(e))? {
                Source::Local => {
                    let dir = chart_dir.join("charts").join(&name);
                    if !dir.exists() {
                        return Err(self.terminal(format!(
                            "directory {} not found",
                            super::files::shown(ctx.work_dir, &dir)
                        )));
                    }
                }
                Source::Classic => {
                    if !indexes.contains_key(&repo) {
                        let c = self.creds(&repo, &name);
                        let index = block(step, ctx, client.index(&repo, c.as_ref()))?
                            .map_err(|e| self.retryable(e.to_string()))?;
                        indexes.insert(repo.clone(), index);
                    }
                    match indexes[&repo]
                        .best(&name, &constraint)
                        .map_err(|e| self.terminal(e))?
                    {
                        Some((v, u)) => {
                            lock.version = v;
                            url = Some(u);
                        }
                        None => missing.push(format!(
                            "{name:?} (repository {repo:?}, version {constraint:?})"
                        )),
                    }
                }
                Source::Oci => {
                    if kargo_expr::parse_version(&constraint, false).is_none() {
                        let sub = kargo_api::warehouse::ChartSubscription {
                            repo_url: format!("{}/{name}", repo.trim_end_matches('/')),
                            semver_constraint: constraint.clone(),
                            discovery_limit: Some(1),
                            ..Default::default()
                        };
                        let c = self.creds(&repo, &name);
                        let found = block(step, ctx, client.discover(&sub, c.as_ref()))?
                            .map_err(|e: ChartError| self.retryable(e.to_string()))?;
                        match found.into_iter().next() {
                            Some(v) => lock.version = v,
                            None => missing.push(format!(
                                "{name:?} (repository {repo:?}, version {constraint:?})"
                            )),
                        }
                    }
                }
            }
            locked.push(lock);
            urls.push(url);
        }
        if !missing.is_empty() {
            return Err(self.terminal(format!(
                "can't get a valid version for {} subchart(s): {}. Make sure a matching chart \
                 version exists in the repo, or change the version constraint in Chart.yaml",
                missing.len(),
                missing.join(", ")
            )));
        }
        Ok((locked, urls))
    }

    /// Helm's `downloadAll`: packages fetched into `tmpcharts-<pid>/`,
    /// then moved into `charts/`.
    fn fetch(
        &self,
        chart_dir: &Path,
        locked: &[Locked],
        urls: &[Option<String>],
    ) -> Result<(), StepError> {
        let (step, ctx, client) = (self.step, self.ctx, &self.client);
        let charts = chart_dir.join("charts");
        match std::fs::symlink_metadata(&charts) {
            Ok(m) if !m.is_dir() => {
                return Err(self.terminal(format!(
                    "{:?} is not a directory",
                    super::files::shown(ctx.work_dir, &charts)
                )));
            }
            Ok(_) => {}
            Err(_) => {
                mkdir(&charts).map_err(|e| self.retryable(format!("creating charts/: {e}")))?
            }
        }
        let tmp = chart_dir.join(format!("tmpcharts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        mkdir(&tmp).map_err(|e| self.retryable(format!("creating {}: {e}", tmp.display())))?;
        let fetched = (|| -> Result<BTreeSet<String>, StepError> {
            let mut files = BTreeSet::new();
            let mut seen = BTreeSet::new();
            for (l, url) in locked.iter().zip(urls) {
                let oci = match source(&l.repository).map_err(|e| self.terminal(e))? {
                    Source::Local => continue,
                    Source::Classic => false,
                    Source::Oci => true,
                };
                let (key, file) = if oci {
                    let base = l.name.rsplit('/').next().unwrap_or_default();
                    (
                        format!("{}/{}:{}", l.repository, l.name, l.version),
                        format!("{base}-{}.tgz", l.version),
                    )
                } else {
                    let u = url.clone().unwrap_or_default();
                    let base = reqwest::Url::parse(&u)
                        .ok()
                        .and_then(|p| p.path_segments()?.next_back().map(str::to_string))
                        .unwrap_or_default();
                    (u, base)
                };
                if !seen.insert(key.clone()) {
                    continue;
                }
                if file.is_empty() || file == "." || file == ".." || file.contains('/') {
                    return Err(self.terminal(format!("chart URL {key:?} names no file")));
                }
                let c = self.creds(&l.repository, &l.name);
                let bytes = if oci {
                    block(
                        step,
                        ctx,
                        client.pull_oci_chart(&l.repository, &l.name, &l.version, c.as_ref()),
                    )?
                } else {
                    block(
                        step,
                        ctx,
                        client.fetch_chart(&key, &l.repository, c.as_ref()),
                    )?
                }
                .map_err(|e| self.retryable(format!("could not download {}: {e}", l.name)))?;
                write(&tmp.join(&file), &bytes)
                    .map_err(|e| self.retryable(format!("saving {file}: {e}")))?;
                files.insert(file);
            }
            Ok(files)
        })();
        let moved = fetched.and_then(|files| move_deps(step, &tmp, &charts, &files, locked));
        let _ = std::fs::remove_dir_all(&tmp);
        moved
    }
}

/// Helm's `safeMoveDeps`: the fetched archives replace their namesakes
/// in `charts/`; other chart archives there are deleted unless a local
/// dependency has their name.
fn move_deps(
    step: &str,
    tmp: &Path,
    charts: &Path,
    fetched: &BTreeSet<String>,
    locked: &[Locked],
) -> Result<(), StepError> {
    let err = |m: String| StepError::retryable(step, m);
    let existing: Vec<_> = std::fs::read_dir(charts)
        .map_err(|e| err(format!("reading charts/: {e}")))?
        .filter_map(Result::ok)
        .collect();
    for f in fetched {
        if archive_chart_name(&tmp.join(f)).is_none() {
            return Err(StepError::terminal(
                step,
                format!("{f} is not a Helm chart archive"),
            ));
        }
        std::fs::rename(tmp.join(f), charts.join(f))
            .map_err(|e| err(format!("moving {f} into charts/: {e}")))?;
    }
    let local: BTreeSet<&str> = locked
        .iter()
        .filter(|l| l.repository.is_empty())
        .map(|l| l.name.as_str())
        .collect();
    for e in existing {
        let name = e.file_name().to_string_lossy().into_owned();
        if fetched.contains(&name) || e.file_type().map_or(true, |t| !t.is_file()) {
            continue;
        }
        match archive_chart_name(&e.path()) {
            Some(chart) if !local.contains(chart.as_str()) => {
                std::fs::remove_file(e.path())
                    .map_err(|e| err(format!("deleting outdated charts/{name}: {e}")))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `name` in the `Chart.yaml` at the top of the chart archive `p`, or
/// None when `p` is not one.
pub fn archive_chart_name(p: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Meta {
        name: String,
    }
    let f = std::fs::File::open(p).ok()?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in ar.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() == 2 && path.file_name().is_some_and(|n| n == "Chart.yaml") {
            let mut text = String::new();
            entry
                .by_ref()
                .take(1 << 20)
                .read_to_string(&mut text)
                .ok()?;
            return yaml_serde::from_str::<Meta>(&text).ok().map(|m| m.name);
        }
    }
    None
}

/// Runs a fetch under the Promotion's limits (the server's
/// `--http-timeout`, the abort flag).
fn block<T>(
    step: &str,
    ctx: &StepContext<'_>,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, StepError> {
    ctx.limits
        .block_on(fut, ctx.limits.http_timeout)
        .map_err(|why| StepError::retryable(step, format!("fetching charts {why}")))
}

fn mkdir(p: &Path) -> std::io::Result<()> {
    super::files::mkdir_mode(p, 0o755)
}

/// Writes `bytes` to `p` with Helm's mode (0644).
fn write(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::files::write_mode(p, bytes, 0o644)
}
