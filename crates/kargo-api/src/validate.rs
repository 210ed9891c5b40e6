//! Validation of objects on create and update: a typed decode (which
//! names the failing field path and collects unknown fields) followed by
//! the rules a schema cannot say (exactly-one, cross-field, immutability).

use crate::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, Metric};
use crate::promotion::PromotionStep;
use crate::{
    Application, ClusterConfig, ClusterPromotionTask, Freight, Project, ProjectConfig, Promotion,
    PromotionTask, Stage, Warehouse,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.subscriptions[0]`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Result of validating one object.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Invalid fields.
    pub errors: Vec<FieldError>,
    /// Paths of fields the kind does not know.
    pub unknown_fields: Vec<String>,
}

impl Outcome {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Decodes `v` as `T`, recording decode errors and unknown fields with
/// Kubernetes-style paths (`spec.subscriptions[0].git.branch`).
pub fn decode<T: DeserializeOwned>(v: &Value, out: &mut Outcome) -> Option<T> {
    let mut unknown = Vec::new();
    // Most objects decode: do that without tracking the path of every
    // field (which copies every map key, and a Freight verified in every
    // Stage of a long pipeline has thousands), and decode again with the
    // path only to say where an error is.
    let fast: Result<T, _> = {
        let mut record = record_into(&mut unknown);
        serde::Deserialize::deserialize(serde_ignored::Deserializer::new(v, &mut record))
    };
    if let Ok(t) = fast {
        out.unknown_fields.extend(unknown);
        return Some(t);
    }
    unknown.clear();
    let res: Result<T, _> = {
        let mut record = record_into(&mut unknown);
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(v, &mut record))
    };
    out.unknown_fields.extend(unknown);
    match res {
        Ok(t) => Some(t),
        Err(e) => {
            use serde_path_to_error::Segment;
            let segments = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(PathSegment::Index(*index)),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        Some(PathSegment::Key(key.clone()))
                    }
                    Segment::Unknown => None,
                })
                .collect();
            out.err(field_path(segments), e.into_inner().to_string());
            None
        }
    }
}

/// Records the path of each unknown field into `unknown`.
fn record_into(unknown: &mut Vec<String>) -> impl FnMut(serde_ignored::Path<'_>) + '_ {
    |p| {
        let mut segments = Vec::new();
        ignored_segments(&p, &mut segments);
        unknown.push(field_path(segments));
    }
}

/// One step of a field path.
enum PathSegment {
    Key(String),
    Index(usize),
}

fn ignored_segments(p: &serde_ignored::Path<'_>, out: &mut Vec<PathSegment>) {
    use serde_ignored::Path;
    match p {
        Path::Root => {}
        Path::Seq { parent, index } => {
            ignored_segments(parent, out);
            out.push(PathSegment::Index(*index));
        }
        Path::Map { parent, key } => {
            ignored_segments(parent, out);
            out.push(PathSegment::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_segments(parent, out),
    }
}

/// `a.b[0].c`; map keys that hold dots or slashes (label keys) are
/// bracketed: `metadata.labels[kargo.akuity.io/alias]`.
fn field_path(segments: Vec<PathSegment>) -> String {
    let mut s = String::new();
    for seg in segments {
        match seg {
            PathSegment::Index(i) => s.push_str(&format!("[{i}]")),
            PathSegment::Key(k) if k.contains(['.', '/']) => s.push_str(&format!("[{k}]")),
            PathSegment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(&k);
            }
        }
    }
    s
}

/// True for a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63).
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// True for a DNS-1123 subdomain (dot-separated labels, ≤ 253).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Writes a duration the way the duration flags take it: `5m`, `1m30s`,
/// `2h`, `1500ms` (what [`parse_go_duration`] reads back).
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Parses a Go duration (`5m0s`, `1h30m`, `10s`, `250ms`) into seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total)
}

fn check_duration(out: &mut Outcome, path: &str, v: Option<&str>) {
    if let Some(d) = v
        && parse_go_duration(d).is_none()
    {
        out.err(path, format!("invalid duration {d:?}: expected a Go duration such as \"30s\", \"5m\" or \"1h30m\""));
    }
}

fn check_steps(out: &mut Outcome, path: &str, steps: &[PromotionStep], tasks_allowed: bool) {
    let mut aliases = std::collections::HashSet::new();
    for (i, s) in steps.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match (s.uses.is_empty(), s.task.is_some()) {
            (true, false) => out.err(
                &p,
                "a step must set exactly one of \"uses\" or \"task\"; neither is set",
            ),
            (false, true) => out.err(
                &p,
                "a step must set exactly one of \"uses\" or \"task\"; both are set",
            ),
            (true, true) if !tasks_allowed => out.err(
                format!("{p}.task"),
                "steps here must use \"uses\" and cannot reference a task",
            ),
            (true, true) => {
                if s.continue_on_error {
                    out.err(
                        format!("{p}.continueOnError"),
                        "a step referencing a task cannot set continueOnError",
                    );
                }
                if s.retry.is_some() {
                    out.err(
                        format!("{p}.retry"),
                        "a step referencing a task cannot set retry",
                    );
                }
            }
            (false, false) => {}
        }
        if let Some(r) = &s.retry {
            check_duration(out, &format!("{p}.retry.timeout"), r.timeout.as_deref());
        }
        if !s.as_.is_empty() && !aliases.insert(s.as_.clone()) {
            out.err(
                format!("{p}.as"),
                format!("step alias {:?} is used by more than one step", s.as_),
            );
        }
        if let Some(c) = &s.config
            && !c.is_object()
        {
            out.err(format!("{p}.config"), "config must be an object");
        }
        check_vars(out, &format!("{p}.vars"), &s.vars);
    }
}

fn check_vars(out: &mut Outcome, path: &str, vars: &[crate::common::ExpressionVariable]) {
    for (i, v) in vars.iter().enumerate() {
        let ok = v
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && v.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            out.err(format!("{path}[{i}].name"), format!("invalid variable name {:?}: expected letters, digits and _ not starting with a digit", v.name));
        }
    }
}

fn check_origin(out: &mut Outcome, path: &str, o: &crate::common::FreightOrigin) {
    if o.kind != "Warehouse" {
        out.err(
            format!("{path}.kind"),
            format!(
                "unsupported origin kind {:?}: expected \"Warehouse\"",
                o.kind
            ),
        );
    }
    if o.name.is_empty() {
        out.err(
            format!("{path}.name"),
            "required: the name of the Warehouse",
        );
    }
}

/// Project.
pub fn project(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(p) = decode::<Project>(v, &mut out)
        && let Some(n) = &p.metadata.name
        && !is_dns1123_label(n)
    {
        out.err("metadata.name", format!("invalid project name {n:?}: it names a namespace, so it must be a DNS-1123 label (lowercase letters, digits and '-', at most 63)"));
    }
    out
}

fn with_errors(mut out: Outcome, errors: Vec<(String, String)>) -> Outcome {
    for (path, message) in errors {
        out.err(path, message);
    }
    out
}

/// MessageChannel and ClusterMessageChannel (Kargo Enterprise's shape):
/// the two kinds are the same object (metadata, spec, status), only their
/// scope differs, so one decode checks either.
pub fn message_channel(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let errors = decode::<crate::notification::MessageChannel>(v, &mut out)
        .map(|c| crate::notification::check_channel(&c.spec))
        .unwrap_or_default();
    with_errors(out, errors)
}

/// EventRouter.
pub fn event_router(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let errors = decode::<crate::notification::EventRouter>(v, &mut out)
        .map(|r| crate::notification::check_router(&r.spec))
        .unwrap_or_default();
    with_errors(out, errors)
}

/// ProjectConfig.
pub fn project_config(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(pc) = decode::<ProjectConfig>(v, &mut out) {
        if pc.metadata.name.is_some() && pc.metadata.name != pc.metadata.namespace {
            out.err(
                "metadata.name",
                "a ProjectConfig must be named after its project (the namespace it lives in)",
            );
        }
        for (i, p) in pc.spec.promotion_policies.iter().enumerate() {
            if p.stage.is_empty() == p.stage_selector.is_none() {
                out.err(
                    format!("spec.promotionPolicies[{i}]"),
                    "a promotion policy must set exactly one of \"stage\" or \"stageSelector\"",
                );
            }
            if let Some(Err(e)) = p
                .stage_selector
                .as_ref()
                .map(|sel| crate::pattern::check_stage_selector(&sel.name))
            {
                out.err(
                    format!("spec.promotionPolicies[{i}].stageSelector.name"),
                    e.to_string(),
                );
            }
        }
        check_windows(
            &mut out,
            &pc.spec.promotion_windows,
            crate::promotion_window::Scope::Project,
        );
        if let Some(t) = &pc.spec.freight_waiting_threshold
            && !parse_go_duration(t).is_some_and(|s| s > 0.0)
        {
            out.err(
                "spec.freightWaitingThreshold",
                format!("{t:?} is not a positive duration such as 24h"),
            );
        }
    }
    out
}

/// ClusterConfig.
pub fn cluster_config(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(cc) = decode::<ClusterConfig>(v, &mut out) {
        if cc.metadata.name.as_deref().is_some_and(|n| n != "cluster") {
            out.err(
                "metadata.name",
                "the ClusterConfig is a singleton and must be named \"cluster\"",
            );
        }
        check_windows(
            &mut out,
            &cc.spec.promotion_windows,
            crate::promotion_window::Scope::Cluster,
        );
    }
    out
}

/// `spec.promotionWindows`: readable dates and rules, unique names.
fn check_windows(
    out: &mut Outcome,
    windows: &[crate::project::PromotionWindow],
    scope: crate::promotion_window::Scope,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, w) in windows.iter().enumerate() {
        if !seen.insert(w.name.as_str()) {
            out.err(
                format!("spec.promotionWindows[{i}].name"),
                format!("duplicate window name {:?}", w.name),
            );
        }
        if let Err(e) = crate::promotion_window::check(w, scope) {
            out.err(format!("spec.promotionWindows[{i}]"), e);
        }
    }
}

/// Warehouse, with `file://` git repositories refused (the server's
/// default; see [`warehouse_with`]).
pub fn warehouse(v: &Value) -> Outcome {
    warehouse_with(v, false)
}

/// Warehouse. `allow_file_repos`: the server runs with
/// `--allow-file-repos`, so `file://` git repository URLs are accepted.
pub fn warehouse_with(v: &Value, allow_file_repos: bool) -> Outcome {
    let mut out = Outcome::default();
    let Some(w) = decode::<Warehouse>(v, &mut out) else {
        return out;
    };
    check_duration(&mut out, "spec.interval", w.spec.interval.as_deref());
    if w.spec.subscriptions.is_empty() {
        out.err(
            "spec.subscriptions",
            "at least one subscription (git, image or chart) is required",
        );
    }
    let mut names: Vec<(&str, String)> = Vec::new();
    for (i, s) in w.spec.subscriptions.iter().enumerate() {
        let p = format!("spec.subscriptions[{i}]");
        if !s.name.is_empty() {
            let path = format!("{p}.name");
            if !is_dns1123_label(&s.name) {
                out.err(&path, format!("invalid subscription name {:?}: expected a DNS-1123 label (lowercase letters, digits and '-', at most 63)", s.name));
            }
            match names.iter().find(|(n, _)| *n == s.name) {
                Some((_, first)) => out.err(
                    &path,
                    format!("subscription name {:?} already used at {first}", s.name),
                ),
                None => names.push((&s.name, path)),
            }
        }
        let n = [s.git.is_some(), s.image.is_some(), s.chart.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if n != 1 {
            out.err(&p, format!("a subscription must set exactly one of \"git\", \"image\" or \"chart\"; {n} are set"));
        }
        let limit = |out: &mut Outcome, path: String, l: Option<i64>| {
            if let Some(l) = l
                && !(1..=100).contains(&l)
            {
                out.err(
                    path,
                    format!("discoveryLimit {l} is out of range: expected 1 to 100"),
                );
            }
        };
        if let Some(g) = &s.git {
            if let Err(e) = crate::urls::check_git_repo_url(&g.repo_url, allow_file_repos) {
                out.err(format!("{p}.git.repoURL"), e);
            }
            limit(
                &mut out,
                format!("{p}.git.discoveryLimit"),
                g.discovery_limit,
            );
            check_regexes(
                &mut out,
                &format!("{p}.git"),
                &g.allow_tags_regexes,
                &g.ignore_tags_regexes,
            );
            check_deprecated_tags(&mut out, &format!("{p}.git"), &g.allow_tags, &g.ignore_tags);
            check_path_patterns(&mut out, &format!("{p}.git.includePaths"), &g.include_paths);
            check_path_patterns(&mut out, &format!("{p}.git.excludePaths"), &g.exclude_paths);
        }
        if let Some(im) = &s.image {
            if im.repo_url.is_empty() {
                out.err(
                    format!("{p}.image.repoURL"),
                    "required: the image repository (without a tag)",
                );
            } else if im.repo_url.contains('@')
                || im
                    .repo_url
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| last.contains(':'))
            {
                out.err(
                    format!("{p}.image.repoURL"),
                    format!(
                        "{:?} must name a repository without a tag or digest",
                        im.repo_url
                    ),
                );
            }
            if !im.constraint.is_empty() && !im.semver_constraint.is_empty() {
                out.err(
                    format!("{p}.image"),
                    "\"constraint\" and \"semverConstraint\" are mutually exclusive",
                );
            }
            if im.image_selection_strategy == Some(crate::warehouse::ImageSelectionStrategy::Digest)
                && im.constraint.is_empty()
                && im.semver_constraint.is_empty()
            {
                out.err(
                    format!("{p}.image.constraint"),
                    "required with imageSelectionStrategy Digest: the mutable tag to track",
                );
            }
            if !im.platform.is_empty() {
                let parts: Vec<&str> = im.platform.split('/').collect();
                if !(2..=3).contains(&parts.len()) || parts.iter().any(|x| x.is_empty()) {
                    out.err(
                        format!("{p}.image.platform"),
                        format!(
                            "invalid platform {:?}: expected os/arch[/variant], e.g. linux/amd64",
                            im.platform
                        ),
                    );
                }
            }
            limit(
                &mut out,
                format!("{p}.image.discoveryLimit"),
                im.discovery_limit,
            );
            check_regexes(
                &mut out,
                &format!("{p}.image"),
                &im.allow_tags_regexes,
                &im.ignore_tags_regexes,
            );
            check_deprecated_tags(
                &mut out,
                &format!("{p}.image"),
                &im.allow_tags,
                &im.ignore_tags,
            );
        }
        if let Some(c) = &s.chart {
            let url = c.repo_url.as_str();
            if let Err(e) = crate::urls::check_chart_repo_url(url) {
                out.err(format!("{p}.chart.repoURL"), e);
            } else if url.starts_with("oci://") {
                if !c.name.is_empty() {
                    out.err(
                        format!("{p}.chart.name"),
                        "must be empty for an oci:// repository (the URL names the chart)",
                    );
                }
            } else if c.name.is_empty() {
                out.err(
                    format!("{p}.chart.name"),
                    "required for an HTTP(S) chart repository",
                );
            }
            limit(
                &mut out,
                format!("{p}.chart.discoveryLimit"),
                c.discovery_limit,
            );
        }
    }
    out
}

/// `allowTags`/`ignoreTags` stopped working in Kargo v1.11.0 (discovery
/// fails on them); refused here, naming the replacement.
fn check_deprecated_tags(out: &mut Outcome, path: &str, allow: &str, ignore: &[String]) {
    if !allow.is_empty() {
        out.err(
            format!("{path}.allowTags"),
            "allowTags is deprecated and unsupported as of Kargo v1.11.0; use allowTagsRegexes instead",
        );
    }
    if !ignore.is_empty() {
        out.err(
            format!("{path}.ignoreTags"),
            "ignoreTags is deprecated and unsupported as of Kargo v1.11.0; use ignoreTagsRegexes instead",
        );
    }
}

/// Git path filters: `glob:`, `regex:`/`regexp:` or a base directory.
fn check_path_patterns(out: &mut Outcome, path: &str, patterns: &[String]) {
    for (i, p) in patterns.iter().enumerate() {
        if let Err(e) = crate::pattern::parse_path_pattern(p) {
            out.err(format!("{path}[{i}]"), e.to_string());
        }
    }
}

fn check_regexes(out: &mut Outcome, path: &str, allow: &[String], ignore: &[String]) {
    for (field, list) in [("allowTagsRegexes", allow), ("ignoreTagsRegexes", ignore)] {
        for (i, r) in list.iter().enumerate() {
            if let Err(e) = regex::Regex::new(r) {
                out.err(
                    format!("{path}.{field}[{i}]"),
                    format!("invalid regular expression: {e}"),
                );
            }
        }
    }
}

/// Freight.
pub fn freight(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(f) = decode::<Freight>(v, &mut out) else {
        return out;
    };
    check_origin(&mut out, "origin", &f.origin);
    if f.commits.is_empty() && f.images.is_empty() && f.charts.is_empty() {
        out.err("", "Freight must carry at least one commit, image or chart");
    }
    for (i, c) in f.commits.iter().enumerate() {
        if c.repo_url.is_empty() || c.id.is_empty() {
            out.err(format!("commits[{i}]"), "a commit needs repoURL and id");
        }
    }
    for (i, im) in f.images.iter().enumerate() {
        if im.repo_url.is_empty() || (im.tag.is_empty() && im.digest.is_empty()) {
            out.err(
                format!("images[{i}]"),
                "an image needs repoURL and a tag or digest",
            );
        }
    }
    for (i, c) in f.charts.iter().enumerate() {
        if c.repo_url.is_empty() || c.version.is_empty() {
            out.err(format!("charts[{i}]"), "a chart needs repoURL and version");
        }
    }
    if let Some(name) = &f.metadata.name {
        let id = f.compute_id();
        if *name != id {
            out.err("metadata.name", format!("Freight is named by its content: expected {id:?} for these artifacts, got {name:?} (omit metadata.name to have it set)"));
        }
    }
    if let Some(a) = f.alias()
        && !is_dns1123_label(a)
    {
        out.err(
            "metadata.labels[kargo.akuity.io/alias]",
            format!("invalid alias {a:?}: expected a DNS-1123 label"),
        );
    }
    out
}

/// A Freight replacing `old`: what [`freight`] checks, but of the status
/// only the entries that differ from `old`'s. The rest passed when it was
/// written, as Kubernetes ratchets CRD validation over unchanged values;
/// a Freight verified in every Stage of a long pipeline carries an entry
/// per Stage, and each promotion changes one or two.
pub fn freight_update(v: &Value, old: &Value) -> Outcome {
    let (Some(new_map), Some(new_status)) = (v.as_object(), v.get("status")) else {
        return freight(v);
    };
    let changed = match (
        new_status.as_object(),
        old.get("status").and_then(Value::as_object),
    ) {
        (Some(new_status), Some(old_status)) => Value::Object(
            new_status
                .iter()
                .map(|(field, entries)| {
                    let entries = match (entries.as_object(), old_status.get(field)) {
                        (Some(entries), Some(Value::Object(before))) => Value::Object(
                            entries
                                .iter()
                                .filter(|(k, e)| before.get(*k) != Some(*e))
                                .map(|(k, e)| (k.clone(), e.clone()))
                                .collect(),
                        ),
                        _ => entries.clone(),
                    };
                    (field.clone(), entries)
                })
                .collect(),
        ),
        _ => new_status.clone(),
    };
    let mut changed = Some(changed);
    let checked: serde_json::Map<String, Value> = new_map
        .iter()
        .map(|(k, val)| match k.as_str() {
            "status" => (k.clone(), changed.take().unwrap_or_default()),
            _ => (k.clone(), val.clone()),
        })
        .collect();
    freight(&Value::Object(checked))
}

/// Stage.
pub fn stage(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(s) = decode::<Stage>(v, &mut out) else {
        return out;
    };
    if s.spec.requested_freight.is_empty() {
        out.err(
            "spec.requestedFreight",
            "at least one entry is required: the Warehouse the Stage takes Freight from",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in s.spec.requested_freight.iter().enumerate() {
        let p = format!("spec.requestedFreight[{i}]");
        check_origin(&mut out, &format!("{p}.origin"), &r.origin);
        if !seen.insert(r.origin.clone()) {
            out.err(
                format!("{p}.origin"),
                format!(
                    "origin Warehouse/{} is requested more than once",
                    r.origin.name
                ),
            );
        }
        if !r.sources.direct && r.sources.stages.is_empty() {
            out.err(
                format!("{p}.sources"),
                "set \"direct: true\" or list upstream \"stages\"",
            );
        }
        if let Some(name) = &s.metadata.name
            && r.sources.stages.contains(name)
        {
            out.err(
                format!("{p}.sources.stages"),
                "a Stage cannot take Freight from itself",
            );
        }
        check_duration(
            &mut out,
            &format!("{p}.sources.requiredSoakTime"),
            r.sources.required_soak_time.as_deref(),
        );
    }
    check_vars(&mut out, "spec.vars", &s.spec.vars);
    if let Some(t) = &s.spec.promotion_template {
        let spec_steps = t.spec.as_ref().map_or(0, |s| s.steps.len());
        if spec_steps > 0 && !t.steps.is_empty() {
            out.err("spec.promotionTemplate", "write steps either under promotionTemplate.spec.steps or under promotionTemplate.steps, not both");
        }
        if spec_steps > 0 {
            check_steps(
                &mut out,
                "spec.promotionTemplate.spec.steps",
                t.effective_steps(),
                true,
            );
        } else {
            check_steps(&mut out, "spec.promotionTemplate.steps", &t.steps, true);
        }
    }
    if let Some(ver) = &s.spec.verification {
        for (i, t) in ver.analysis_templates.iter().enumerate() {
            if !matches!(
                t.kind.as_str(),
                "" | "AnalysisTemplate" | "ClusterAnalysisTemplate"
            ) {
                out.err(format!("spec.verification.analysisTemplates[{i}].kind"), format!("unsupported kind {:?}: expected AnalysisTemplate or ClusterAnalysisTemplate", t.kind));
            }
        }
    }
    out
}

/// Promotion.
pub fn promotion(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(p) = decode::<Promotion>(v, &mut out) else {
        return out;
    };
    if p.spec.stage.is_empty() {
        out.err("spec.stage", "required: the Stage to promote into");
    } else if !is_dns1123_subdomain(&p.spec.stage) {
        out.err(
            "spec.stage",
            format!("invalid Stage name {:?}", p.spec.stage),
        );
    }
    match (p.spec.freight.is_empty(), &p.spec.origin) {
        (true, None) => out.err("spec.freight", "required: the Freight to promote (or spec.origin for the newest Freight of a Warehouse)"),
        (false, Some(_)) => out.err("spec", "set either \"freight\" or \"origin\", not both"),
        (true, Some(o)) => check_origin(&mut out, "spec.origin", o),
        (false, None) => {}
    }
    check_vars(&mut out, "spec.vars", &p.spec.vars);
    check_steps(&mut out, "spec.steps", &p.spec.steps, false);
    out
}

fn task_steps(out: &mut Outcome, steps: &[PromotionStep]) {
    if steps.is_empty() {
        out.err("spec.steps", "at least one step is required");
    }
    check_steps(out, "spec.steps", steps, false);
}

/// PromotionTask.
pub fn promotion_task(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(t) = decode::<PromotionTask>(v, &mut out) {
        check_vars(&mut out, "spec.vars", &t.spec.vars);
        task_steps(&mut out, &t.spec.steps);
    }
    out
}

/// ClusterPromotionTask.
pub fn cluster_promotion_task(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(t) = decode::<ClusterPromotionTask>(v, &mut out) {
        check_vars(&mut out, "spec.vars", &t.spec.vars);
        task_steps(&mut out, &t.spec.steps);
    }
    out
}

/// `m` with the fields that still hold `{{args.X}}` left unset: Rollouts
/// validates metrics after resolving arguments, so a template's templated
/// fields are checked when its AnalysisRun starts.
fn untemplated(m: &Metric) -> Metric {
    let templated =
        |v: &Option<IntOrString>| matches!(v, Some(IntOrString::String(s)) if s.contains("{{"));
    let mut m = m.clone();
    for v in [
        &mut m.count,
        &mut m.failure_limit,
        &mut m.inconclusive_limit,
        &mut m.consecutive_error_limit,
        &mut m.consecutive_success_limit,
    ] {
        if templated(v) {
            *v = None;
        }
    }
    for v in [&mut m.interval, &mut m.initial_delay] {
        if v.as_deref().is_some_and(|s| s.contains("{{")) {
            *v = None;
        }
    }
    m
}

/// Checks metrics with Argo Rollouts' rules (`ValidateMetrics`, worded as
/// Rollouts words them), plus the provider fields a measurement needs.
pub fn check_metrics(out: &mut Outcome, path: &str, metrics: &[Metric]) {
    if metrics.is_empty() {
        out.err(path, "no metrics specified");
    }
    let mut names = std::collections::HashSet::new();
    for (i, m) in metrics.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if m.name.is_empty() {
            out.err(format!("{p}.name"), "required");
        } else if !names.insert(m.name.clone()) {
            out.err(format!("{p}.name"), format!("duplicate name '{}'", m.name));
        }
        if let Err(problem) = crate::analysis::validate_metric(&untemplated(m)) {
            out.err(format!("{p}.{}", problem.field), problem.message);
        }
        if let Some(w) = &m.provider.web {
            if w.url.is_empty() {
                out.err(format!("{p}.provider.web.url"), "required");
            }
            if !matches!(w.method.as_str(), "" | "GET" | "POST" | "PUT") {
                out.err(
                    format!("{p}.provider.web.method"),
                    format!(
                        "unsupported method {:?}: expected GET, POST or PUT",
                        w.method
                    ),
                );
            }
            if !w.body.is_empty() && w.json_body.is_some() {
                out.err(
                    format!("{p}.provider.web"),
                    "set either body or jsonBody, not both",
                );
            }
        }
        if let Some(pm) = &m.provider.prometheus {
            if pm.address.is_empty() {
                out.err(
                    format!("{p}.provider.prometheus.address"),
                    "required: the Prometheus URL",
                );
            }
            if pm.query.trim().is_empty() {
                out.err(
                    format!("{p}.provider.prometheus.query"),
                    "required: a PromQL query",
                );
            }
        }
        if let Some(j) = &m.provider.job
            && j.spec
                .template
                .spec
                .as_ref()
                .is_none_or(|s| s.containers.is_empty())
        {
            out.err(
                format!("{p}.provider.job.spec.template.spec.containers"),
                "at least one container is required",
            );
        }
    }
}

/// AnalysisTemplate.
pub fn analysis_template(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(t) = decode::<AnalysisTemplate>(v, &mut out) {
        check_metrics(&mut out, "spec.metrics", &t.spec.metrics);
    }
    out
}

/// ClusterAnalysisTemplate.
pub fn cluster_analysis_template(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(t) = decode::<ClusterAnalysisTemplate>(v, &mut out) {
        check_metrics(&mut out, "spec.metrics", &t.spec.metrics);
    }
    out
}

/// AnalysisRun.
pub fn analysis_run(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(r) = decode::<AnalysisRun>(v, &mut out) {
        check_metrics(&mut out, "spec.metrics", &r.spec.metrics);
    }
    out
}

/// Application (light schema: spec must be an object).
pub fn application(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if decode::<Application>(v, &mut out).is_some() && !v.get("spec").is_some_and(Value::is_object)
    {
        out.err("spec", "required: an object");
    }
    out
}

/// Namespace.
pub fn namespace(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ns) = decode::<k8s_openapi::api::core::v1::Namespace>(v, &mut out)
        && let Some(n) = &ns.metadata.name
        && !is_dns1123_label(n)
    {
        out.err(
            "metadata.name",
            format!("invalid namespace name {n:?}: expected a DNS-1123 label"),
        );
    }
    out
}

/// Secret.
pub fn secret(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::core::v1::Secret>(v, &mut out);
    out
}

/// ConfigMap.
pub fn config_map(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::core::v1::ConfigMap>(v, &mut out);
    out
}

/// Lease (coordination.k8s.io/v1): stored as given.
pub fn lease(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::coordination::v1::Lease>(v, &mut out);
    out
}

/// Job (batch/v1): stored as given; nothing runs it.
pub fn job(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::batch::v1::Job>(v, &mut out);
    out
}

/// Deployment (apps/v1): stored as given, so `kargo install` output can
/// be applied to this server; nothing runs it (the server's own
/// `kargo-controller` Deployment in `kargo` is republished on start).
pub fn deployment(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::apps::v1::Deployment>(v, &mut out);
    out
}

/// Service (v1): stored as given; nothing routes to it.
pub fn service(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::core::v1::Service>(v, &mut out);
    out
}

/// Mutating and ValidatingWebhookConfiguration
/// (admissionregistration.k8s.io/v1): stored as given; this server admits
/// with its own code and calls no webhook.
pub fn webhook_configuration(v: &Value) -> Outcome {
    use k8s_openapi::api::admissionregistration::v1 as ar;
    let mut out = Outcome::default();
    if v.get("kind").and_then(Value::as_str) == Some("MutatingWebhookConfiguration") {
        decode::<ar::MutatingWebhookConfiguration>(v, &mut out);
    } else {
        decode::<ar::ValidatingWebhookConfiguration>(v, &mut out);
    }
    out
}

/// Pod: the server publishes the one that stands for its own process
/// (`kubectl logs -n kargo deploy/kargo-controller`); nothing here runs
/// workloads, so writes through the API are refused.
pub fn server_process(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
    out.err(
        "metadata",
        format!(
            "{kind}s are read-only here: the kargo server publishes the ones that stand for its own process (see `kubectl logs -n kargo deploy/kargo-controller`) and runs no workloads"
        ),
    );
    out
}

/// Event.
pub fn event(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::core::v1::Event>(v, &mut out);
    out
}

/// CustomResourceDefinition (stored only, as `kargo install crds` prints
/// them): typed decode.
pub fn custom_resource_definition(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>(v, &mut out);
    out
}

/// ServiceAccount.
pub fn service_account(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    decode::<k8s_openapi::api::core::v1::ServiceAccount>(v, &mut out);
    out
}

/// Role and ClusterRole: typed decode.
pub fn role(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    if v.get("kind").and_then(Value::as_str) == Some("ClusterRole") {
        decode::<k8s_openapi::api::rbac::v1::ClusterRole>(v, &mut out);
    } else {
        decode::<k8s_openapi::api::rbac::v1::Role>(v, &mut out);
    }
    out
}

/// RoleBinding and ClusterRoleBinding: typed decode, and a roleRef a
/// binding of its scope may name (kube-apiserver's validation).
pub fn role_binding(v: &Value) -> Outcome {
    let mut out = Outcome::default();
    let cluster = v.get("kind").and_then(Value::as_str) == Some("ClusterRoleBinding");
    let role_ref = if cluster {
        decode::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>(v, &mut out).map(|b| b.role_ref)
    } else {
        decode::<k8s_openapi::api::rbac::v1::RoleBinding>(v, &mut out).map(|b| b.role_ref)
    };
    if let Some(r) = role_ref {
        let kinds: &[&str] = if cluster {
            &["ClusterRole"]
        } else {
            &["Role", "ClusterRole"]
        };
        if !kinds.contains(&r.kind.as_str()) {
            out.err(
                "roleRef.kind",
                format!(
                    "Unsupported value: {:?}: supported values: {}",
                    r.kind,
                    kinds
                        .iter()
                        .map(|k| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if r.name.is_empty() {
            out.err("roleRef.name", "Required value");
        }
    }
    out
}

/// Rules checked when an existing object is replaced: immutable fields.
pub fn check_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let immutable: &[&str] = match kind {
        "Promotion" => &["spec"],
        "Freight" => &["origin", "commits", "images", "charts"],
        "RoleBinding" | "ClusterRoleBinding" => &["roleRef"],
        _ => &[],
    };
    for f in immutable {
        if old.get(f) != new.get(f) {
            errs.push(FieldError {
                path: (*f).into(),
                message: format!("field is immutable once the {kind} is created"),
            });
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("5m0s"), Some(300.0));
        for (d, text) in [
            (std::time::Duration::from_secs(300), "5m"),
            (std::time::Duration::from_secs(90), "1m30s"),
            (std::time::Duration::from_secs(7200), "2h"),
            (std::time::Duration::from_secs(30), "30s"),
            (std::time::Duration::from_millis(1500), "1500ms"),
            (std::time::Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_go_duration(text), Some(d.as_secs_f64()));
        }
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("250ms"), Some(0.25));
        assert_eq!(parse_go_duration("5 minutes"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn warehouse_rules_name_fields() {
        let w = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse", "metadata": {"name": "w", "namespace": "p"},
            "spec": {"subscriptions": [{"image": {"repoURL": "a/b", "imageSelectionStrategy": "Biggest"}}, {}], "bogus": 1}});
        let out = warehouse(&w);
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        assert!(
            out.errors[0].path.contains("imageSelectionStrategy"),
            "{:?}",
            out.errors
        );
        assert!(out.errors[0].message.contains("SemVer"), "{:?}", out.errors);
        let w = json!({"metadata": {"name": "w"}, "spec": {"subscriptions": [{}, {"git": {"repoURL": "https://h/x"}, "chart": {"repoURL": "oci://r/c"}}], "bogus": 1}});
        let out = warehouse(&w);
        let paths: Vec<_> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.subscriptions[0]", "spec.subscriptions[1]"]);
        assert_eq!(out.unknown_fields, ["spec.bogus"]);
    }

    #[test]
    fn repo_urls_are_checked_and_file_needs_the_server_setting() {
        let w = json!({"metadata": {"name": "w"}, "spec": {"subscriptions": [
            {"git": {"repoURL": "--upload-pack=touch /tmp/x"}},
            {"git": {"repoURL": "ext::sh -c touch% /tmp/x"}},
            {"git": {"repoURL": "gopher://h/r"}},
            {"git": {"repoURL": "file:///srv/r.git"}},
            {"git": {"repoURL": "git@github.com:example/r.git"}},
            {"chart": {"repoURL": "file:///charts", "name": "c"}},
            {"chart": {"repoURL": "https://charts.example.com", "name": "c"}}]}});
        let out = warehouse(&w);
        let got: Vec<(&str, &str)> = out
            .errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        let paths: Vec<&str> = got.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "spec.subscriptions[0].git.repoURL",
                "spec.subscriptions[1].git.repoURL",
                "spec.subscriptions[2].git.repoURL",
                "spec.subscriptions[3].git.repoURL",
                "spec.subscriptions[5].chart.repoURL",
            ],
            "{got:#?}"
        );
        assert!(got[0].1.contains("must not start with '-'"), "{got:#?}");
        assert!(got[1].1.contains("\"ext::\""), "{got:#?}");
        assert!(got[2].1.contains("not a supported git"), "{got:#?}");
        assert!(got[3].1.contains("--allow-file-repos"), "{got:#?}");
        let out = warehouse_with(&w, true);
        let paths: Vec<&str> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.subscriptions[0].git.repoURL",
                "spec.subscriptions[1].git.repoURL",
                "spec.subscriptions[2].git.repoURL",
                "spec.subscriptions[5].chart.repoURL",
            ]
        );
    }

    #[test]
    fn patterns_names_and_deprecated_tag_fields_are_refused_with_their_paths() {
        let w = json!({"metadata": {"name": "w"}, "spec": {"subscriptions": [
            {"name": "app", "git": {"repoURL": "https://h/r", "includePaths": ["apps", "glob:charts/**/*.{yaml,yml}", "glob:[", "regex:("],
                "excludePaths": ["regexp:[a-z"], "allowTags": "^v", "ignoreTags": ["v1"]}},
            {"name": "app", "image": {"repoURL": "nginx", "allowTags": "^1"}},
            {"name": "Not_A_Label", "chart": {"repoURL": "oci://r/c"}}]}});
        let out = warehouse(&w);
        let got: Vec<(&str, &str)> = out
            .errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        let paths: Vec<&str> = got.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            paths,
            [
                "spec.subscriptions[0].git.allowTags",
                "spec.subscriptions[0].git.ignoreTags",
                "spec.subscriptions[0].git.includePaths[2]",
                "spec.subscriptions[0].git.includePaths[3]",
                "spec.subscriptions[0].git.excludePaths[0]",
                "spec.subscriptions[1].name",
                "spec.subscriptions[1].image.allowTags",
                "spec.subscriptions[2].name",
            ],
            "{got:#?}"
        );
        assert!(
            got[0].1.contains("use allowTagsRegexes instead"),
            "{got:#?}"
        );
        assert!(
            got[1].1.contains("use ignoreTagsRegexes instead"),
            "{got:#?}"
        );
        assert!(got[2].1.contains("\"[\""), "{got:#?}");
        assert!(
            got[5]
                .1
                .contains("already used at spec.subscriptions[0].name"),
            "{got:#?}"
        );

        let pc = json!({"metadata": {"name": "p", "namespace": "p"}, "spec": {"promotionPolicies": [
            {"stageSelector": {"name": "glob:prod-*"}, "autoPromotionEnabled": true},
            {"stageSelector": {"name": "glob:[prod"}},
            {"stageSelector": {"name": "wild:prod"}}]}});
        let out = project_config(&pc);
        let paths: Vec<&str> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.promotionPolicies[1].stageSelector.name",
                "spec.promotionPolicies[2].stageSelector.name"
            ],
            "{:?}",
            out.errors
        );
        assert!(
            out.errors[1]
                .message
                .contains("must be \"regex\", \"regexp\" or \"glob\"")
        );

        let waiting = |t: &str| {
            project_config(&json!({"metadata": {"name": "p", "namespace": "p"},
                "spec": {"freightWaitingThreshold": t}}))
            .errors
        };
        assert!(waiting("24h").is_empty());
        let errors = waiting("a day");
        assert_eq!(errors[0].path, "spec.freightWaitingThreshold", "{errors:?}");
        assert_eq!(waiting("0s").len(), 1);
    }

    #[test]
    fn steps_need_uses_xor_task() {
        let s = json!({"metadata": {"name": "dev"}, "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
            "promotionTemplate": {"spec": {"steps": [{"uses": "git-clone", "task": {"name": "t"}}, {"config": {}}]}}}});
        let out = stage(&s);
        let paths: Vec<_> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.promotionTemplate.spec.steps[0]",
                "spec.promotionTemplate.spec.steps[1]"
            ]
        );
    }

    #[test]
    fn metric_rules() {
        let t = json!({"metadata": {"name": "t"}, "spec": {"metrics": [
            {"name": "a", "count": 3, "provider": {"web": {"url": "http://x"}}},
            {"name": "a", "count": 1, "failureLimit": 2, "provider": {}}]}});
        let out = analysis_template(&t);
        let paths: Vec<_> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.metrics[0].interval",
                "spec.metrics[1].name",
                "spec.metrics[1].count"
            ]
        );
        assert_eq!(
            out.errors[2].message,
            "count (1) must be >= failureLimit + consecutiveSuccessLimit (2 + 0) if both >= 0"
        );
        // Limits without a count are fine (Rollouts checks them against
        // count only when count > 0), and templated fields wait for the run.
        let t = json!({"metadata": {"name": "t"}, "spec": {"metrics": [
            {"name": "a", "failureLimit": 3, "provider": {"web": {"url": "http://x"}}},
            {"name": "b", "count": 0, "inconclusiveLimit": 2, "provider": {"web": {"url": "http://x"}}},
            {"name": "c", "count": "{{args.n}}", "interval": "{{args.i}}", "failureLimit": 1, "provider": {"web": {"url": "http://x"}}}]}});
        assert!(
            analysis_template(&t).errors.is_empty(),
            "{:?}",
            analysis_template(&t).errors
        );
    }

    #[test]
    fn freight_update_checks_only_the_status_entries_it_changes() {
        let f = |status: Value| {
            json!({"metadata": {}, "origin": {"kind": "Warehouse", "name": "w"},
                "images": [{"repoURL": "a/b", "tag": "1.0.0", "digest": "sha256:x"}], "status": status})
        };
        // An entry stored before a rule existed is not re-checked...
        let old = f(json!({"verifiedIn": {"s1": {"verifiedAt": 7}}}));
        let new = f(
            json!({"verifiedIn": {"s1": {"verifiedAt": 7}, "s2": {"verifiedAt": "2026-01-01T00:00:00Z"}}}),
        );
        let out = freight_update(&new, &old);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert!(!freight(&new).errors.is_empty(), "a create checks it");
        // ...while a changed or added one is, with its whole path.
        let new = f(
            json!({"verifiedIn": {"s1": {"verifiedAt": 8}}, "currentlyIn": {"s2": {"bogus": 1}}}),
        );
        let out = freight_update(&new, &old);
        assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
        assert_eq!(out.errors[0].path, "status.verifiedIn.s1.verifiedAt");
        let new = f(
            json!({"verifiedIn": {"s1": {"verifiedAt": 7}}, "currentlyIn": {"s2": {"bogus": 1}}, "other": 1}),
        );
        let out = freight_update(&new, &old);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(
            out.unknown_fields,
            ["status.currentlyIn.s2.bogus", "status.other"]
        );
        // The rest of the object is checked as on create.
        let mut new = f(json!({"verifiedIn": {"s1": {"verifiedAt": 7}}}));
        new["metadata"]["name"] = json!("wrong");
        let out = freight_update(&new, &old);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].path, "metadata.name");
    }

    #[test]
    fn freight_name_must_be_its_id() {
        let f = json!({"metadata": {"name": "wrong"}, "origin": {"kind": "Warehouse", "name": "w"}, "images": [{"repoURL": "a/b", "tag": "1.0.0", "digest": "sha256:x"}]});
        let out = freight(&f);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].path, "metadata.name");
    }
}
