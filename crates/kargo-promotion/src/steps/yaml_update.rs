//! `yaml-update` (and the seed's `git-update`, which behaves the same):
//! sets the values of existing keys in YAML files, as Kargo's
//! `yaml.SetValuesInFile` does, without reformatting them.
//!
//! Config, Kargo's `yaml-update`: `path` (a file) + `updates: [{key,
//! value}]`. The seed's `git-update`: `path` (a directory) + `updates:
//! [{file, key, value}]`, where `file` is relative to `path`. Both forms
//! are accepted by both names.
//!
//! Keys follow Kargo's sjson syntax ([`super::sjson_key`]): `image.tag`,
//! `containers.0.image`, `example\.com/version`. As in Kargo, only the
//! first document of the file is read, a key must exist and name a scalar
//! (a missing key, a mapping or a sequence fails the step, nothing is
//! created), a part meets a sequence as a decimal index, and an alias is
//! not followed.
//!
//! Values are written with their own type, as Kargo writes them: a number
//! or a bool replaces a string as a number or a bool; numbers print as
//! Go prints a float64 (`1.234567e+06`); a string that Go would read as a
//! number, a bool or JSON is written Go-quoted (`"42"`). Where Kargo's
//! line rewriting would lose or corrupt something, this keeps it
//! (docs/promotions.md lists each case): the rest of the line (a trailing
//! comment, the rest of a flow collection), every line of a multi-line
//! scalar, anchors, the file's line endings, the old value's quote style
//! for a new string, and strings that would not read back as themselves
//! written plain (`yes`, `a: b`, the empty string) are quoted.
//!
//! The file is validated by libyaml (through `yaml_serde`), the parser
//! Kargo's `yaml.v3` is ported from, so the same files are refused (a tab
//! in the indentation, for one). The lossless `yaml-edit` tree finds the
//! byte range of each value, and only those bytes are replaced.
//!
//! Output: `commitMessage`, Kargo's `Updated <path>` followed by one
//! `- <key>: <value>` line per update.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use yaml_edit::{Mapping, Sequence, YamlFile, YamlNode};

use super::sjson_key::{KeyError, split_key};
use crate::step::{Step, StepContext, StepError, StepResult, parse_config};
use kargo_expr::go_value::{go_print, go_quote, is_printable, needs_go_quotes};

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
    /// Key in Kargo's sjson syntax.
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

/// The updates of one file: its path as the config names it, and the
/// updates with their index in `updates`.
type FileUpdates<'a> = (String, Vec<(usize, &'a YamlUpdate)>);

/// Every problem of a config, as Kargo's JSON schema reports them all at
/// once: `path` and `updates` are required, `path` and each `key` are
/// non-empty strings, `updates` has at least one entry, each with a `value`.
fn config_problems(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let empty = Map::new();
    let obj = config.as_object().unwrap_or(&empty);
    match obj.get("path") {
        None => problems.push("path: required".to_string()),
        Some(Value::String(p)) if p.is_empty() => {
            problems.push("path: must not be empty".to_string());
        }
        _ => {}
    }
    match obj.get("updates") {
        None | Some(Value::Null) => problems.push("updates: required".to_string()),
        Some(Value::Array(list)) if list.is_empty() => {
            problems.push("updates: at least one update is required".to_string());
        }
        Some(Value::Array(list)) => {
            for (i, u) in list.iter().enumerate() {
                let Some(u) = u.as_object() else { continue };
                match u.get("key") {
                    None => problems.push(format!("updates[{i}].key: required")),
                    Some(Value::String(k)) if k.is_empty() => {
                        problems.push(format!("updates[{i}].key: must not be empty"));
                    }
                    _ => {}
                }
                if !u.contains_key("value") {
                    problems.push(format!("updates[{i}].value: required"));
                }
            }
        }
        _ => {}
    }
    problems
}

/// Groups the updates by file, keeping their order.
fn plan(cfg: &YamlUpdateConfig) -> Vec<FileUpdates<'_>> {
    let mut files: Vec<FileUpdates<'_>> = Vec::new();
    for (i, u) in cfg.updates.iter().enumerate() {
        let rel = match &u.file {
            Some(f) if !f.is_empty() => format!("{}/{}", cfg.path.trim_end_matches('/'), f),
            _ => cfg.path.clone(),
        };
        match files.iter_mut().find(|(f, _)| *f == rel) {
            Some((_, list)) => list.push((i, u)),
            None => files.push((rel, vec![(i, u)])),
        }
    }
    files
}

/// Decodes and checks a config, naming every problem.
fn parse(name: &str, config: &Value) -> Result<YamlUpdateConfig, StepError> {
    let problems = config_problems(config);
    if !problems.is_empty() {
        return Err(StepError::config(name, problems.join("; ")));
    }
    parse_config(name, config)
}

/// Applies `updates` (with their index in the config) to the file `rel`,
/// resolved to `file`; writes it only when something changed.
fn update_file(
    name: &str,
    file: &Path,
    rel: &str,
    updates: &[(usize, &str, &Value)],
) -> Result<(), StepError> {
    let text = read_file(name, file, rel)?;
    let edits: Vec<(&str, &Value)> = updates.iter().map(|(_, k, v)| (*k, *v)).collect();
    let new_text = set_values(&text, &edits).map_err(|e| {
        let at = match e.update().and_then(|n| updates.get(n)) {
            Some((i, _, _)) => format!("updates[{i}]: "),
            None => String::new(),
        };
        StepError::terminal(name, format!("{at}{rel}: {e}"))
    })?;
    if new_text != text {
        std::fs::write(file, new_text)
            .map_err(|e| StepError::retryable(name, format!("writing {rel}: {e}")))?;
    }
    Ok(())
}

/// Kargo's commit message for the updates of one file (see
/// [`super::key_updates::commit_message`]), values as Go's `%v` shows them.
pub fn commit_message<'a>(
    path: &str,
    updates: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> String {
    super::key_updates::commit_message(path, updates.into_iter().map(|(k, v)| (k, go_print(v))))
}

impl Step for YamlUpdateStep {
    fn name(&self) -> &str {
        self.name
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(self.name, config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let name = self.name;
        let cfg = parse(name, config)?;
        let mut messages = Vec::new();
        for (rel, updates) in &plan(&cfg) {
            let field = if updates.iter().any(|(_, u)| u.file.is_some()) {
                "updates[].file"
            } else {
                "path"
            };
            let file = ctx.resolve(name, field, rel)?;
            let edits: Vec<(usize, &str, &Value)> = updates
                .iter()
                .map(|(i, u)| (*i, u.key.as_str(), &u.value))
                .collect();
            update_file(name, &file, rel, &edits)?;
            messages.push(commit_message(rel, edits.iter().map(|(_, k, v)| (*k, *v))));
        }
        let mut outputs = Map::new();
        outputs.insert("commitMessage".into(), json!(messages.join("\n\n")));
        Ok(StepResult::succeeded(outputs))
    }
}

/// Reads a step's file: a missing file is a terminal error naming it.
pub(crate) fn read_file(step: &str, file: &Path, rel: &str) -> Result<String, StepError> {
    std::fs::read_to_string(file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StepError::terminal(step, format!("file {rel:?} does not exist"))
        } else {
            StepError::retryable(step, format!("reading {rel}: {e}"))
        }
    })
}

/// Errors of [`set_values`]; the leading words are Kargo's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// The file is not YAML that libyaml (and so Kargo) accepts.
    #[error("error unmarshaling input: {0}")]
    Parse(String),
    /// Update `update`'s key is not valid sjson syntax.
    #[error("error splitting key {key}: {source}")]
    Key {
        /// Index of the update.
        update: usize,
        /// The key as given.
        key: String,
        /// Why.
        source: KeyError,
    },
    /// Update `update`'s key does not lead to a scalar value.
    #[error("error finding key {key}: {reason}")]
    Find {
        /// Index of the update.
        update: usize,
        /// The key as given.
        key: String,
        /// Why, starting with Kargo's words.
        reason: String,
    },
}

impl SetError {
    /// Index of the update at fault, if one is.
    pub fn update(&self) -> Option<usize> {
        match self {
            SetError::Parse(_) => None,
            SetError::Key { update, .. } | SetError::Find { update, .. } => Some(*update),
        }
    }
}

/// Sets each `(key, value)` in the YAML `text` and returns the new text.
/// Every key is looked up in the original document before anything
/// changes; a later update of the same value wins. No update at all
/// returns the text unchanged (after validating it).
pub fn set_values(text: &str, updates: &[(&str, &Value)]) -> Result<String, SetError> {
    let root = first_document(text)?;
    let mut edits: Vec<Edit> = Vec::new();
    for (n, (key, value)) in updates.iter().enumerate() {
        let parts = split_key(key).map_err(|source| SetError::Key {
            update: n,
            key: key.to_string(),
            source,
        })?;
        let target = find_scalar(text, root.clone(), &parts).map_err(|reason| SetError::Find {
            update: n,
            key: key.to_string(),
            reason,
        })?;
        let rendered = render(value, &target);
        edits.retain(|e| e.target.range != target.range);
        edits.push(Edit { target, rendered });
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.target.range.start));
    let mut out = text.to_string();
    for e in edits {
        let (start, end) = (e.target.range.start, e.target.range.end);
        let text = format!("{}{}{}", e.target.prefix, e.rendered, e.target.suffix);
        out.replace_range(start..end, &text);
    }
    Ok(out)
}

/// The root node of the first document (the only one Kargo reads), after
/// libyaml accepted it; `None` for a file with no document.
fn first_document(text: &str) -> Result<Option<YamlNode>, SetError> {
    validate(text)?;
    let parsed = YamlFile::parse(text);
    let Some(doc) = parsed.tree().documents().next() else {
        return Ok(None);
    };
    let end = doc.byte_range().end as usize;
    if let Some(e) = parsed
        .positioned_errors()
        .iter()
        .find(|e| (e.range.start as usize) < end)
    {
        return Err(SetError::Parse(format!(
            "the editor cannot read this YAML: {}",
            e.message
        )));
    }
    Ok(doc
        .as_mapping()
        .map(YamlNode::Mapping)
        .or_else(|| doc.as_sequence().map(YamlNode::Sequence))
        .or_else(|| doc.as_scalar().map(YamlNode::Scalar))
        .or_else(|| doc.as_tagged().map(YamlNode::TaggedNode)))
}

/// libyaml's verdict on the first document (Kargo reads only that one).
fn validate(text: &str) -> Result<(), SetError> {
    let Some(first) = yaml_serde::Deserializer::from_str(text).next() else {
        return Ok(());
    };
    serde::de::IgnoredAny::deserialize(first)
        .map(|_| ())
        .map_err(|e| SetError::Parse(e.to_string()))
}

/// One replacement.
struct Edit {
    target: Target,
    rendered: String,
}

/// Where a value goes and what it replaces.
#[derive(Clone, Debug)]
struct Target {
    /// Bytes to replace.
    range: std::ops::Range<usize>,
    /// The old value's text (without tag and anchor).
    old: String,
    /// Written before the value (a space after `:`, a kept anchor).
    prefix: String,
    /// Written after the value.
    suffix: String,
    /// Inside a flow collection, where `,[]{}` end a plain scalar.
    in_flow: bool,
}

/// Follows `parts` from `node` to a scalar (Kargo's `findScalarNode`).
fn find_scalar(text: &str, node: Option<YamlNode>, parts: &[String]) -> Result<Target, String> {
    let not_found = |at: &str, why: String| Err(format!("key path not found ({at}{why})"));
    let Some(mut node) = node else {
        return not_found("", "the document is empty".into());
    };
    let mut in_flow = false;
    // The `:` or `-` that introduced the current node, for empty values.
    let mut indicator_end: Option<usize> = None;
    let mut walked = String::new();
    for part in parts {
        let at = if walked.is_empty() {
            String::new()
        } else {
            format!("{walked}: ")
        };
        match unwrap_tag(&node) {
            Shape::Mapping(m) => {
                in_flow |= m.is_flow_style();
                let Some((key_end, value)) = lookup(&m, part) else {
                    return not_found(&at, format!("no key {part:?} in this mapping"));
                };
                indicator_end = colon_after(text, key_end);
                node = match value {
                    Some(v) => v,
                    None => return not_found(&at, format!("{part:?} has no value node")),
                };
            }
            Shape::Sequence(s) => {
                in_flow |= s.is_flow_style();
                let len = s.len();
                let index = go_atoi(part).ok_or_else(|| {
                    format!("{at}{part:?} is not an index into this sequence of {len} items")
                })?;
                let item = usize::try_from(index).ok().and_then(|i| s.get(i));
                let Some(item) = item else {
                    return Err(format!(
                        "{at}index {index} is out of range: the sequence has {len} items \
                         (yaml-update changes existing values; it does not add items)"
                    ));
                };
                indicator_end = None;
                node = item;
            }
            Shape::Scalar { .. } => {
                return not_found(&at, "a scalar value has no keys".into());
            }
            Shape::Other(what) => return not_found(&at, format!("{what} is not followed")),
        }
        walked = if walked.is_empty() {
            part.clone()
        } else {
            format!("{walked}.{part}")
        };
    }
    let (start, scalar) = match unwrap_tag(&node) {
        Shape::Scalar { start, scalar } => (start, scalar),
        Shape::Mapping(_) => return Err(not_scalar(&walked, "a mapping")),
        Shape::Sequence(_) => return Err(not_scalar(&walked, "a sequence")),
        Shape::Other(what) => return Err(not_scalar(&walked, what)),
    };
    let scalar_range = scalar.byte_range();
    let (s_start, s_end) = (scalar_range.start as usize, scalar_range.end as usize);
    let old = text.get(s_start..s_end).unwrap_or_default();
    // A scalar's range may include trailing blanks and line breaks; keep them.
    let end = s_start + old.trim_end().len();
    let old = old.trim_end().to_string();
    // An anchor between a tag and the value stays, so aliases keep working.
    let between = text.get(start..s_start).unwrap_or_default();
    let mut prefix: String = between
        .split_whitespace()
        .filter(|w| w.starts_with('&'))
        .map(|w| format!("{w} "))
        .collect();
    if old.is_empty() && start == s_start {
        // An empty (null) value: write after its `:` (or `-`), keeping any
        // comment on the line, as Kargo writes it after the indicator.
        let Some(at) = indicator_end.or_else(|| dash_before(text, start)) else {
            return Err(format!("{walked} is an empty value with no place to write"));
        };
        let rest = text.get(at..).unwrap_or_default();
        let blank = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        return Ok(Target {
            range: at..at + blank,
            old,
            prefix: " ".into(),
            suffix: if rest[blank..].starts_with('#') {
                " ".into()
            } else {
                String::new()
            },
            in_flow,
        });
    }
    let before = text.get(..start).unwrap_or_default();
    if !before.is_empty() && !before.ends_with([' ', '\t', '\n', '\r', '[', '{', ',']) {
        prefix.insert(0, ' ');
    }
    if text.get(start..end.max(start)).is_none() {
        return Err(format!(
            "{walked}: the value's position in the file is unclear"
        ));
    }
    Ok(Target {
        range: start..end.max(start),
        old,
        prefix,
        suffix: String::new(),
        in_flow,
    })
}

fn not_scalar(walked: &str, what: &str) -> String {
    format!("key path does not address a scalar node ({walked} is {what})")
}

/// A node with its tag looked through.
enum Shape {
    Mapping(Mapping),
    Sequence(Sequence),
    /// `start` is where the node's text starts (its tag, if any).
    Scalar {
        start: usize,
        scalar: yaml_edit::Scalar,
    },
    Other(&'static str),
}

fn unwrap_tag(node: &YamlNode) -> Shape {
    match node {
        YamlNode::Mapping(m) => Shape::Mapping(m.clone()),
        YamlNode::Sequence(s) => Shape::Sequence(s.clone()),
        YamlNode::Scalar(s) => Shape::Scalar {
            start: s.byte_range().start as usize,
            scalar: s.clone(),
        },
        YamlNode::Alias(_) => Shape::Other("an alias"),
        YamlNode::TaggedNode(t) => {
            if let Some(m) = t.as_mapping() {
                Shape::Mapping(m)
            } else if let Some(s) = t.as_sequence() {
                Shape::Sequence(s)
            } else if let Some(s) = t.value() {
                Shape::Scalar {
                    start: node.byte_range().start as usize,
                    scalar: s,
                }
            } else {
                Shape::Other("a tagged value")
            }
        }
    }
}

/// The first entry whose key reads as `part`: the key's end and the value.
fn lookup(m: &Mapping, part: &str) -> Option<(usize, Option<YamlNode>)> {
    m.entries().find_map(|e| {
        let key = e.key_node()?;
        let text = match &key {
            YamlNode::Scalar(s) => s.as_string(),
            YamlNode::TaggedNode(t) => t.value()?.as_string(),
            _ => return None,
        };
        (text == part).then(|| (key.byte_range().end as usize, e.value_node()))
    })
}

/// Position just after the `:` that follows a key ending at `key_end`.
fn colon_after(text: &str, key_end: usize) -> Option<usize> {
    let rest = text.get(key_end..)?;
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest[skipped..]
        .starts_with(':')
        .then_some(key_end + skipped + 1)
}

/// Position just after a `-` that precedes `at` with only blanks between.
fn dash_before(text: &str, at: usize) -> Option<usize> {
    let before = text.get(..at)?.trim_end_matches([' ', '\t']);
    before.ends_with('-').then_some(before.len())
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The text written for `value` in place of `target`'s old value.
fn render(value: &Value, target: &Target) -> String {
    match value {
        Value::String(s) => render_string(s, target),
        Value::Null => "null".to_string(),
        // Numbers and bools print as Kargo prints them; objects and arrays
        // as JSON, which YAML reads as a flow collection.
        other => go_print(other),
    }
}

/// A new string value: in the old value's quote style where that style
/// can carry it, else plain when Kargo writes it plain and it reads back
/// as the same string, else Go-quoted (Kargo's quoting).
fn render_string(s: &str, target: &Target) -> String {
    if target.old.starts_with('"') {
        return go_quote(s);
    }
    if target.old.starts_with('\'') {
        if s.chars().all(|c| c == ' ' || is_printable(c)) {
            return format!("'{}'", s.replace('\'', "''"));
        }
        return go_quote(s);
    }
    if !needs_go_quotes(s) && safe_plain(s, target.in_flow) {
        return s.to_string();
    }
    go_quote(s)
}

/// Whether `s` written as a plain scalar reads back as the string `s` in
/// YAML 1.2 (Go's yaml.v3) and YAML 1.1 (Helm's reader) alike.
fn safe_plain(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim_matches([' ', '\t']) != s
        || !s.chars().all(|c| c == ' ' || is_printable(c))
        || reads_as_other_type(s)
    {
        return false;
    }
    let second = s[first.len_utf8()..].chars().next();
    let opens_ok = match first {
        '-' | '?' | ':' => second.is_some_and(|c| c != ' ' && !(in_flow && ",[]{}".contains(c))),
        c => !",[]{}#&*!|>'\"%@`".contains(c),
    };
    let breaks = s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || (in_flow && s.contains([',', '[', ']', '{', '}']));
    opens_ok && !breaks
}

/// Whether a YAML 1.1 or 1.2 reader takes the plain scalar `s` for a null,
/// a bool, a number, or a merge key.
fn reads_as_other_type(s: &str) -> bool {
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
            | "<<"
            | "="
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits = unsigned.replace('_', "");
    if digits.is_empty() {
        return false;
    }
    let lower = digits.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return !rest.is_empty() && rest.chars().all(|c| c.is_digit(radix));
        }
    }
    if digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') && digits.parse::<f64>().is_ok()
    {
        return true;
    }
    // YAML 1.1 sexagesimal numbers: 1:30, 1:30.5
    unsigned.contains(':')
        && unsigned.split(':').enumerate().all(|(i, p)| {
            !p.is_empty()
                && (p.chars().all(|c| c.is_ascii_digit() || c == '_')
                    || (i > 0 && p.parse::<f64>().is_ok()))
        })
}

#[cfg(test)]
mod tests;
