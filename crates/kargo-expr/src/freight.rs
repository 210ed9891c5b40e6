//! Freight as expressions see it: the `freight` variable (artifacts of the
//! Stage's Freight keyed by repository URL), the artifact look-ups behind
//! `commitFrom()`, `imageFrom()` and `chartFrom()`, and a check that catches
//! misspelt `freight.images["..."].field` accesses before they turn into nil.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn list<'a>(freight: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    freight
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Fields each artifact kind has under `freight.<kind>["<key>"]`.
const IMAGE_FIELDS: &[&str] = &["repoURL", "tag", "digest", "annotations"];
const COMMIT_FIELDS: &[&str] = &[
    "repoURL",
    "id",
    "tag",
    "branch",
    "message",
    "author",
    "committer",
];
const CHART_FIELDS: &[&str] = &["repoURL", "name", "version"];
const TOP_FIELDS: &[&str] = &["name", "alias", "origin", "images", "commits", "charts"];

fn pick(entry: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let v = entry.get(*f).cloned().unwrap_or_else(|| {
            if *f == "annotations" {
                json!({})
            } else {
                json!("")
            }
        });
        out.insert((*f).to_string(), v);
    }
    Value::Object(out)
}

/// Builds the `freight` variable from the Stage's Freight collection.
/// `name`, `alias` and `origin` come from the target Freight (the one named
/// `target`, else the first); `images`, `commits` and `charts` merge every
/// Freight's artifacts keyed by `repoURL` (charts also by `repoURL:name`),
/// the target's winning where two Freight share a repository.
pub fn freight_variable(collection: &[Value], target: Option<&str>) -> Value {
    let target_idx = target
        .and_then(|t| collection.iter().position(|f| str_field(f, "name") == t))
        .unwrap_or(0);
    let ordered = collection.get(target_idx).into_iter().chain(
        collection
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != target_idx)
            .map(|(_, f)| f),
    );
    let (mut images, mut commits, mut charts) = (Map::new(), Map::new(), Map::new());
    for freight in ordered {
        for image in list(freight, "images") {
            let key = str_field(image, "repoURL").to_string();
            images
                .entry(key)
                .or_insert_with(|| pick(image, IMAGE_FIELDS));
        }
        for commit in list(freight, "commits") {
            let key = str_field(commit, "repoURL").to_string();
            commits
                .entry(key)
                .or_insert_with(|| pick(commit, COMMIT_FIELDS));
        }
        for chart in list(freight, "charts") {
            let repo = str_field(chart, "repoURL");
            let name = str_field(chart, "name");
            let entry = pick(chart, CHART_FIELDS);
            if !name.is_empty() {
                charts
                    .entry(format!("{repo}:{name}"))
                    .or_insert_with(|| entry.clone());
            }
            charts.entry(repo.to_string()).or_insert(entry);
        }
    }
    let t = collection.get(target_idx).cloned().unwrap_or(Value::Null);
    json!({
        "name": str_field(&t, "name"),
        "alias": str_field(&t, "alias"),
        "origin": {
            "kind": t.pointer("/origin/kind").and_then(Value::as_str).unwrap_or(""),
            "name": t.pointer("/origin/name").and_then(Value::as_str).unwrap_or(""),
        },
        "images": images,
        "commits": commits,
        "charts": charts,
    })
}

/// A Freight origin as `warehouse()` returns it: `{kind, name}`, what Kargo's
/// `kargoapi.FreightOrigin` marshals to.
pub fn origin_value(name: &str) -> Value {
    json!({"kind": "Warehouse", "name": name})
}

/// `(kind, name)` of an origin value from `warehouse()` (or a Freight's own
/// `origin` object).
pub fn origin_of(v: &Value) -> Option<(String, String)> {
    let kind = v.get("Kind").or_else(|| v.get("kind"))?.as_str()?;
    let name = v.get("Name").or_else(|| v.get("name"))?.as_str()?;
    Some((kind.to_string(), name.to_string()))
}

/// Which kind of artifact a look-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Commit,
    Image,
    Chart,
}

impl ArtifactKind {
    fn list_key(self) -> &'static str {
        match self {
            ArtifactKind::Commit => "commits",
            ArtifactKind::Image => "images",
            ArtifactKind::Chart => "charts",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            ArtifactKind::Commit => "a Git commit",
            ArtifactKind::Image => "a container image",
            ArtifactKind::Chart => "a Helm chart",
        }
    }
    /// How Kargo's `freight.Find*` compare repository URLs: git URLs
    /// through the one git normaliser (`kargo_api::urls`), image and chart
    /// URLs as written.
    fn normalize(self, url: &str) -> String {
        match self {
            ArtifactKind::Commit => kargo_api::urls::normalize_git(url),
            ArtifactKind::Image | ArtifactKind::Chart => url.to_string(),
        }
    }
    /// The artifact with Go field names, as Kargo's functions return it.
    fn exported(self, a: &Value) -> Value {
        let s = |k| json!(str_field(a, k));
        match self {
            ArtifactKind::Commit => json!({
                "RepoURL": s("repoURL"), "ID": s("id"), "Branch": s("branch"), "Tag": s("tag"),
                "Message": s("message"), "Author": s("author"), "Committer": s("committer"),
            }),
            ArtifactKind::Image => json!({
                "RepoURL": s("repoURL"), "Tag": s("tag"), "Digest": s("digest"),
                "Annotations": a.get("annotations").cloned().unwrap_or_else(|| json!({})),
            }),
            ArtifactKind::Chart => json!({
                "RepoURL": s("repoURL"), "Name": s("name"), "Version": s("version"),
            }),
        }
    }
}

/// Finds an artifact in the collection, like Kargo's `freight.FindImage`
/// and friends: restricted to Freight from `origin` when given; an error
/// when several origins could provide it and none was named; `Ok(None)`
/// when no Freight has it.
pub fn find_artifact(
    collection: &[Value],
    kind: ArtifactKind,
    repo_url: &str,
    chart_name: Option<&str>,
    origin: Option<&(String, String)>,
) -> Result<Option<Value>, String> {
    let wanted = kind.normalize(repo_url);
    let mut found: Vec<(Option<(String, String)>, &Value)> = Vec::new();
    for freight in collection {
        let freight_origin = freight.get("origin").and_then(origin_of);
        if origin.is_some_and(|o| freight_origin.as_ref() != Some(o)) {
            continue;
        }
        let hit = list(freight, kind.list_key()).find(|a| {
            kind.normalize(str_field(a, "repoURL")) == wanted
                && chart_name.is_none_or(|n| str_field(a, "name") == n)
        });
        if let Some(a) = hit
            && !found.iter().any(|(o, _)| *o == freight_origin)
        {
            found.push((freight_origin, a));
        }
    }
    if found.len() > 1 && origin.is_none() {
        let origins: Vec<String> = found
            .iter()
            .map(|(o, _)| {
                o.as_ref()
                    .map_or("<none>".to_string(), |(k, n)| format!("{k} {n}"))
            })
            .collect();
        return Err(format!(
            "multiple Freight origins ({}) provide {} from {repo_url:?}; pass warehouse(\"<name>\") to choose one",
            origins.join(", "),
            kind.noun()
        ));
    }
    Ok(found.first().map(|(_, a)| kind.exported(a)))
}

static ACCESS_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[^\w.$])freight\s*\.\s*([A-Za-z_]\w*)(?:\s*\[\s*("[^"]*"|'[^']*')\s*\](\s*\??\.\s*([A-Za-z_]\w*))?)?"#,
    )
    .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

/// Checks literal accesses of the `freight` variable in `expression`
/// against `freight` (the variable's value): a misspelt field, or a
/// repository the Freight does not have, is an error naming what exists,
/// instead of a silent nil. Optional chaining (`?.`) skips the entry check.
pub fn check_access(expression: &str, freight: &Value) -> Result<(), String> {
    let literals = string_literal_spans(expression);
    for caps in ACCESS_RE.captures_iter(expression) {
        let Some(top_match) = caps.get(1) else {
            continue;
        };
        if literals
            .iter()
            .any(|(s, e)| (*s..*e).contains(&top_match.start()))
        {
            continue;
        }
        let top = top_match.as_str();
        if !TOP_FIELDS.contains(&top) {
            return Err(format!(
                "freight has no field {top:?}; it has {}",
                TOP_FIELDS.join(", ")
            ));
        }
        let (Some(key), Some(field)) = (caps.get(2), caps.get(4)) else {
            continue;
        };
        let fields = match top {
            "images" => IMAGE_FIELDS,
            "commits" => COMMIT_FIELDS,
            "charts" => CHART_FIELDS,
            _ => continue,
        };
        let key = &key.as_str()[1..key.as_str().len() - 1];
        let optional = caps.get(3).is_some_and(|m| m.as_str().contains('?'));
        let entries = freight.get(top).and_then(Value::as_object);
        if !optional && entries.is_some_and(|e| !e.contains_key(key)) {
            let known: Vec<&str> = entries
                .into_iter()
                .flat_map(|e| e.keys())
                .map(String::as_str)
                .collect();
            return Err(format!(
                "freight.{top} has no entry {key:?}; it has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        if !fields.contains(&field.as_str()) {
            return Err(format!(
                "freight.{top}[{key:?}] has no field {:?}; it has {}",
                field.as_str(),
                fields.join(", ")
            ));
        }
    }
    Ok(())
}

/// Byte ranges of the quoted string literals in an expression, so text
/// inside a literal is not taken for a variable access.
fn string_literal_spans(expression: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Option<(usize, char)> = None;
    let mut escaped = false;
    for (i, c) in expression.char_indices() {
        match open {
            Some((start, quote)) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == quote {
                    spans.push((start, i + 1));
                    open = None;
                }
            }
            None if c == '"' || c == '\'' || c == '`' => open = Some((i, c)),
            None => {}
        }
    }
    if let Some((start, _)) = open {
        spans.push((start, expression.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection() -> Vec<Value> {
        vec![
            json!({
                "name": "abc123", "alias": "fuzzy-fox",
                "origin": {"kind": "Warehouse", "name": "my-web-app"},
                "images": [{"repoURL": "myacr.azurecr.io/my-web-app", "tag": "1.5.0", "digest": "sha256:aa"}],
                "commits": [{"repoURL": "https://github.com/org/repo.git", "id": "deadbeef", "branch": "main"}],
                "charts": [{"repoURL": "https://charts.example.com", "name": "web", "version": "2.0.1"}],
            }),
            json!({
                "name": "def456",
                "origin": {"kind": "Warehouse", "name": "other"},
                "images": [{"repoURL": "nginx", "tag": "1.27"}],
                "charts": [{"repoURL": "oci://reg.example.com/charts/api", "version": "0.3.0"}],
            }),
        ]
    }

    #[test]
    fn variable_merges_collection() {
        let f = freight_variable(&collection(), Some("abc123"));
        assert_eq!(f["name"], "abc123");
        assert_eq!(f["alias"], "fuzzy-fox");
        assert_eq!(f["origin"]["name"], "my-web-app");
        assert_eq!(f["images"]["myacr.azurecr.io/my-web-app"]["tag"], "1.5.0");
        assert_eq!(f["images"]["nginx"]["tag"], "1.27");
        assert_eq!(
            f["commits"]["https://github.com/org/repo.git"]["id"],
            "deadbeef"
        );
        assert_eq!(
            f["charts"]["https://charts.example.com:web"]["version"],
            "2.0.1"
        );
        assert_eq!(
            f["charts"]["https://charts.example.com"]["version"],
            "2.0.1"
        );
        assert_eq!(
            f["charts"]["oci://reg.example.com/charts/api"]["version"],
            "0.3.0"
        );
        let second = freight_variable(&collection(), Some("def456"));
        assert_eq!(second["name"], "def456");
        assert_eq!(freight_variable(&[], None)["name"], "");
    }

    #[test]
    fn find_normalizes_and_respects_origin() {
        let c = collection();
        let img = find_artifact(&c, ArtifactKind::Image, "nginx", None, None);
        assert_eq!(
            img.ok().flatten().map(|v| v["Tag"].clone()),
            Some(json!("1.27"))
        );
        // Images are compared as written, as Kargo's FindImage does.
        let other_spelling = find_artifact(
            &c,
            ArtifactKind::Image,
            "docker.io/library/nginx",
            None,
            None,
        );
        assert_eq!(other_spelling, Ok(None));
        let commit = find_artifact(
            &c,
            ArtifactKind::Commit,
            "https://GitHub.com/org/repo/",
            None,
            None,
        );
        assert_eq!(
            commit.ok().flatten().map(|v| v["ID"].clone()),
            Some(json!("deadbeef"))
        );
        let other = ("Warehouse".to_string(), "other".to_string());
        let none = find_artifact(
            &c,
            ArtifactKind::Commit,
            "https://github.com/org/repo",
            None,
            Some(&other),
        );
        assert_eq!(none, Ok(None));
        let chart = find_artifact(
            &c,
            ArtifactKind::Chart,
            "https://charts.example.com",
            Some("web"),
            None,
        );
        assert_eq!(
            chart.ok().flatten().map(|v| v["Version"].clone()),
            Some(json!("2.0.1"))
        );
    }

    #[test]
    fn ambiguous_origins_are_an_error() {
        let mut c = collection();
        c[1]["images"] = json!([{"repoURL": "myacr.azurecr.io/my-web-app", "tag": "9.9.9"}]);
        let err = find_artifact(
            &c,
            ArtifactKind::Image,
            "myacr.azurecr.io/my-web-app",
            None,
            None,
        );
        assert!(err.is_err_and(|e| e.contains("multiple Freight origins")));
        let pick = ("Warehouse".to_string(), "other".to_string());
        let ok = find_artifact(
            &c,
            ArtifactKind::Image,
            "myacr.azurecr.io/my-web-app",
            None,
            Some(&pick),
        );
        assert_eq!(
            ok.ok().flatten().map(|v| v["Tag"].clone()),
            Some(json!("9.9.9"))
        );
    }

    #[test]
    fn access_check_names_what_exists() {
        let f = freight_variable(&collection(), None);
        assert!(check_access(r#"freight.images["myacr.azurecr.io/my-web-app"].tag"#, &f).is_ok());
        let typo = check_access(r#"freight.images["myacr.azurecr.io/my-web-app"].tgs"#, &f);
        assert!(typo.is_err_and(|e| e.contains("no field \"tgs\"") && e.contains("digest")));
        let missing = check_access(r#"freight.images['nope'].tag"#, &f);
        assert!(missing.is_err_and(|e| e.contains("no entry \"nope\"") && e.contains("nginx")));
        assert!(check_access(r#"freight.images['nope']?.tag ?? "x""#, &f).is_ok());
        assert!(check_access("freight.nmae", &f).is_err());
        assert!(check_access("ctx.targetFreight.name + vars.freight.x", &f).is_ok());
        assert!(check_access(r#"'see freight.nmae' + "x freight.images['q'].z""#, &f).is_ok());
        assert!(check_access(r#"'a' + freight.nmae"#, &f).is_err());
    }
}
