//! `yaml-update` (and the seed's `git-update`, which behaves the same):
//! sets values at dotted keys in YAML files without reformatting them.
//!
//! Config, Kargo's `yaml-update`: `path` (a file) + `updates: [{key,
//! value}]`. The seed's `git-update`: `path` (a directory) + `updates:
//! [{file, key, value}]`, where `file` is relative to `path`. Both forms
//! are accepted by both names.
//!
//! Keys use Kargo's dot notation: `image.tag`, `containers[0].image` (or
//! `containers.0.image`), `\.` for a dot inside a key. The file is parsed
//! with the lossless `yaml-edit` parser only to find the byte range of the
//! scalar to change; that range is then replaced in the original text, so
//! every other byte (comments, key order, indentation, quoting of other
//! values) stays the same. A missing key is added through `yaml-edit`.
//!
//! Typing: if the old value was a string (quoted, or a plain scalar that
//! reads as a string), the new value is written as a string, in the old
//! quote style, quoted when a plain scalar would read as another type
//! (`"1.5"`, `"true"`). Otherwise the value's own JSON type is written.
//!
//! Output: `commitMessage` describing the changes (for `git-commit`'s
//! `messageFromSteps`).

use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use yaml_edit::path::YamlPath;
use yaml_edit::{Document, YamlNode};

use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

/// Kargo's name.
pub const YAML_UPDATE: &str = "yaml-update";
/// The seed's name for the same step.
pub const GIT_UPDATE: &str = "git-update";

/// Config of `yaml-update` / `git-update`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct YamlUpdateConfig {
    /// A YAML file, or a directory when every update names a `file`.
    pub path: String,
    /// Changes to make.
    pub updates: Vec<YamlUpdate>,
}

/// One change.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct YamlUpdate {
    /// File relative to `path` (seed form); absent: `path` is the file.
    #[serde(default)]
    pub file: Option<String>,
    /// Dotted key.
    pub key: String,
    /// New value (any JSON/YAML type).
    pub value: Value,
}

/// The `yaml-update` / `git-update` step; one instance per name.
#[derive(Clone, Copy, Debug)]
pub struct YamlUpdateStep {
    name: &'static str,
}

impl YamlUpdateStep {
    /// The step answering to `name` (`yaml-update` or `git-update`).
    pub fn new(name: &'static str) -> YamlUpdateStep {
        YamlUpdateStep { name }
    }
}

impl Step for YamlUpdateStep {
    fn name(&self) -> &str {
        self.name
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let name = self.name;
        let cfg: YamlUpdateConfig = parse_config(name, config)?;
        if cfg.updates.is_empty() {
            return Err(StepError::config(
                name,
                "updates: at least one update is required",
            ));
        }
        // Group the updates by file, keeping their order.
        let mut files: Vec<(String, Vec<(usize, &YamlUpdate)>)> = Vec::new();
        for (i, u) in cfg.updates.iter().enumerate() {
            if u.key.is_empty() {
                return Err(StepError::config(
                    name,
                    format!("updates[{i}].key: must not be empty"),
                ));
            }
            let rel = match &u.file {
                Some(f) if !f.is_empty() => format!("{}/{}", cfg.path.trim_end_matches('/'), f),
                _ => cfg.path.clone(),
            };
            match files.iter_mut().find(|(f, _)| *f == rel) {
                Some((_, list)) => list.push((i, u)),
                None => files.push((rel, vec![(i, u)])),
            }
        }
        let mut lines = Vec::new();
        for (rel, updates) in &files {
            let field = if updates.iter().any(|(_, u)| u.file.is_some()) {
                "updates[].file"
            } else {
                "path"
            };
            let file = ctx.resolve(name, field, rel)?;
            let text = read_file(name, &file, rel)?;
            let mut new_text = text.clone();
            for (i, u) in updates {
                new_text = set_value(&new_text, &u.key, &u.value).map_err(|e| {
                    StepError::terminal(name, format!("updates[{i}]: {rel}: key {:?}: {e}", u.key))
                })?;
                lines.push(format!("- {rel}: {}: {}", u.key, render_plain(&u.value)));
            }
            if new_text != text {
                std::fs::write(&file, new_text)
                    .map_err(|e| StepError::retryable(name, format!("writing {rel}: {e}")))?;
            }
        }
        let mut message = String::from("Updated YAML files\n");
        for l in &lines {
            message.push('\n');
            message.push_str(l);
        }
        let mut outputs = Map::new();
        outputs.insert("commitMessage".into(), json!(message));
        Ok(StepResult::succeeded(outputs))
    }
}

fn read_file(step: &str, file: &Path, rel: &str) -> Result<String, StepError> {
    std::fs::read_to_string(file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StepError::terminal(step, format!("file {rel:?} does not exist"))
        } else {
            StepError::retryable(step, format!("reading {rel}: {e}"))
        }
    })
}

/// Errors of [`set_value`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Not parseable YAML.
    #[error("the file is not valid YAML: {0}")]
    Parse(String),
    /// The key path cannot be followed or created.
    #[error("{0}")]
    Path(String),
    /// The key holds a mapping or a sequence, not a value.
    #[error("the key holds a {0}, not a single value")]
    NotScalar(&'static str),
}

/// Sets `key` to `value` in the YAML `text`, changing only the bytes of
/// that value (see the module docs for the typing rules).
pub fn set_value(text: &str, key: &str, value: &Value) -> Result<String, EditError> {
    let doc = Document::from_str(text).map_err(|e| EditError::Parse(e.to_string()))?;
    match doc.try_get_path(key) {
        Ok(node) => {
            let (old_kind, quote) = match &node {
                YamlNode::Scalar(s) => {
                    let raw = s.to_string();
                    classify(&raw)
                }
                YamlNode::Mapping(_) => return Err(EditError::NotScalar("mapping")),
                YamlNode::Sequence(_) => return Err(EditError::NotScalar("sequence")),
                YamlNode::Alias(_) => return Err(EditError::NotScalar("alias")),
                YamlNode::TaggedNode(_) => return Err(EditError::NotScalar("tagged value")),
            };
            let range = node.byte_range();
            let (start, end) = (range.start as usize, range.end as usize);
            let raw = text
                .get(start..end)
                .ok_or_else(|| EditError::Path(format!("cannot locate the value of {key:?}")))?;
            // A scalar's range may include trailing blanks; keep them.
            let trimmed = raw.trim_end();
            let end = start + trimmed.len();
            let rendered = render(value, old_kind, quote);
            Ok(format!("{}{}{}", &text[..start], rendered, &text[end..]))
        }
        Err(yaml_edit::path::PathError::NotFound { .. }) => {
            // Add the key through yaml-edit with a placeholder, then put
            // our own rendering of the value in its place.
            // Only mapping keys are created; a missing list index is an error.
            let segments =
                yaml_edit::path::try_parse_path(key).map_err(|e| EditError::Path(e.to_string()))?;
            let mut prefix = String::new();
            for (i, seg) in segments.iter().enumerate() {
                match seg {
                    yaml_edit::path::PathSegment::Key(k) => {
                        if i > 0 {
                            prefix.push('.');
                        }
                        prefix.push_str(&k.replace('\\', "\\\\").replace('.', "\\."));
                    }
                    yaml_edit::path::PathSegment::Index(n) => {
                        if doc.try_get_path(&prefix).is_err() {
                            break;
                        }
                        prefix.push_str(&format!("[{n}]"));
                        if doc.try_get_path(&prefix).is_err() {
                            return Err(EditError::Path(format!("list index {n} does not exist")));
                        }
                    }
                }
            }
            let placeholder = "kargo-promotion-placeholder-6b1f";
            doc.try_set_path(key, placeholder)
                .map_err(|e| EditError::Path(e.to_string()))?;
            let out = doc.to_string();
            Ok(out.replacen(placeholder, &render(value, OldKind::None, Quote::Plain), 1))
        }
        Err(e) => Err(EditError::Path(e.to_string())),
    }
}

/// What the old scalar was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OldKind {
    /// A string.
    String,
    /// A number, bool or null, or no old value.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quote {
    Plain,
    Single,
    Double,
}

fn classify(raw: &str) -> (OldKind, Quote) {
    let raw = raw.trim();
    if raw.starts_with('"') {
        (OldKind::String, Quote::Double)
    } else if raw.starts_with('\'') {
        (OldKind::String, Quote::Single)
    } else if raw.starts_with('|') || raw.starts_with('>') {
        (OldKind::String, Quote::Double)
    } else if plain_reads_as_other_type(raw) {
        (OldKind::None, Quote::Plain)
    } else {
        (OldKind::String, Quote::Plain)
    }
}

/// Whether a plain scalar would be read as something other than a string
/// by YAML 1.1 or 1.2 readers (Go's yaml.v3, Helm, PyYAML).
fn plain_reads_as_other_type(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    let digits = s.trim_start_matches(['-', '+']).replace('_', "");
    if digits.is_empty() {
        return false;
    }
    if digits.parse::<f64>().is_ok()
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
    {
        return true;
    }
    let hex_oct = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0o"));
    if let Some(h) = hex_oct {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    // Sexagesimal (YAML 1.1): 1:30
    digits.contains(':')
        && digits
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `s` can be written as a plain scalar and read back as the same
/// string.
fn safe_plain(s: &str) -> bool {
    if s.is_empty() || s.trim() != s || plain_reads_as_other_type(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    !(s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.contains('\n')
        || s.chars().any(|c| c.is_control()))
}

/// The text of a scalar value without YAML quoting.
fn render_plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn double_quoted(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    Value::String(s.to_string()).to_string()
}

fn single_quoted(s: &str) -> Option<String> {
    (!s.contains('\n')).then(|| format!("'{}'", s.replace('\'', "''")))
}

fn render(value: &Value, old: OldKind, quote: Quote) -> String {
    let as_string = match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) if old == OldKind::String => Some(render_plain(value)),
        _ => None,
    };
    match as_string {
        Some(s) => match quote {
            Quote::Double => double_quoted(&s),
            Quote::Single => single_quoted(&s).unwrap_or_else(|| double_quoted(&s)),
            Quote::Plain if safe_plain(&s) => s,
            Quote::Plain => double_quoted(&s),
        },
        // Numbers, bools, null; objects and arrays as flow JSON.
        None => render_plain(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = r#"# Values for my-web-app (dev)
# Managed by Kargo: image.tag is updated on promotion.

replicaCount: 2   # keep two for dev

image:
  repository: myacr.azurecr.io/my-web-app   # the app
  # tag is set by Kargo
  tag: 1.5.0    # current
  pullPolicy: IfNotPresent

version: "1.5"
quoted: 'single'
flags:
  enabled: true
containers:
  - name: web
    image: nginx:1.25 # pinned
  - name: sidecar
    image: busybox

# trailing comment
"#;

    fn set(text: &str, key: &str, value: Value) -> String {
        match set_value(text, key, &value) {
            Ok(s) => s,
            Err(e) => panic!("set_value({key}): {e}"),
        }
    }

    #[test]
    fn only_the_scalar_changes() {
        let out = set(VALUES, "image.tag", json!("1.6.0"));
        assert_eq!(
            out,
            VALUES.replace("tag: 1.5.0    # current", "tag: 1.6.0    # current")
        );
    }

    #[test]
    fn number_looking_strings_stay_strings() {
        // The old value was a quoted string; expressions may produce 1.6 as a number.
        let out = set(VALUES, "version", json!(1.6));
        assert_eq!(out, VALUES.replace("version: \"1.5\"", "version: \"1.6\""));
        // A plain string that would now read as a number gets quoted.
        let out = set(VALUES, "image.tag", json!("1.6"));
        assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: \"1.6\" "));
        // Same when the expression typed it as a number: the old value was a string.
        let out = set(VALUES, "image.tag", json!(2));
        assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: \"2\" "));
        let out = set(VALUES, "quoted", json!("it's"));
        assert_eq!(out, VALUES.replace("quoted: 'single'", "quoted: 'it''s'"));
    }

    #[test]
    fn non_strings_keep_their_type() {
        let out = set(VALUES, "replicaCount", json!(3));
        assert_eq!(out, VALUES.replace("replicaCount: 2 ", "replicaCount: 3 "));
        let out = set(VALUES, "flags.enabled", json!(false));
        assert_eq!(out, VALUES.replace("enabled: true", "enabled: false"));
    }

    #[test]
    fn list_indices() {
        let out = set(VALUES, "containers[1].image", json!("busybox:1.36"));
        assert_eq!(out, VALUES.replace("image: busybox", "image: busybox:1.36"));
        let out = set(VALUES, "containers.0.image", json!("nginx:1.27"));
        assert_eq!(out, VALUES.replace("nginx:1.25", "nginx:1.27"));
    }

    #[test]
    fn missing_key_is_added() {
        let out = set(VALUES, "image.digest", json!("sha256:abc"));
        assert!(out.contains("# tag is set by Kargo\n  tag: 1.5.0    # current"));
        let parsed: Value = match yaml_serde::from_str(&out) {
            Ok(v) => v,
            Err(e) => panic!("{e}\n{out}"),
        };
        assert_eq!(parsed["image"]["digest"], "sha256:abc");
        assert_eq!(parsed["image"]["tag"], "1.5.0");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = set_value(VALUES, "image", &json!("x"));
        assert_eq!(e, Err(EditError::NotScalar("mapping")));
        assert!(set_value(VALUES, "containers[9].image", &json!("x")).is_err());
    }
}
