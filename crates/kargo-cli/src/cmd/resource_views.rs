//! Secrets and ConfigMaps the way Kargo's API shows them to its CLI:
//! repository credentials, generic credentials and ConfigMaps of a
//! project, of the shared resources or of the system resources. One
//! [`View`] per family says which objects belong (Kargo's
//! `kargo.akuity.io/cred-type` label), how they are redacted (secret
//! values never leave the CLI: Kargo's `*** REDACTED ***`) and their
//! table columns; `get`, `delete` and the printing of what `create` and
//! `update` wrote are shared here.

use crate::format::Format;
use crate::resources::{api, explain, qualified_name, resolve};
use crate::scope::Scope;
use anyhow::{Result, bail};
use kargo_api::labels;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams, Preconditions};
use serde_json::{Map, Value, json};

/// What Kargo shows instead of a secret value.
pub const REDACTED: &str = "*** REDACTED ***";

/// One family of objects.
pub struct View {
    /// `Secret` or `ConfigMap`.
    pub kind: &'static str,
    /// `repository credentials`, for messages.
    pub noun: &'static str,
    /// Whether the family has system objects (`--system`).
    pub system: bool,
    /// The label selector listing them (`None`: every object of the kind).
    pub selector: Option<&'static str>,
    /// Why an object of the kind is not one of these (`None`: it is).
    pub refuse: fn(&Value) -> Option<String>,
    /// The object as shown (redacted).
    pub show: fn(Value) -> Value,
    /// Table headers (AGE is added).
    pub headers: &'static [&'static str],
    /// A shown object's cells under `headers`.
    pub cells: fn(&Value) -> Vec<String>,
}

/// `-o` for `create` and `update` (Kargo's print flags).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct OutputArgs {
    /// Output format: json, yaml, name, jsonpath=TEMPLATE, go-template=TEMPLATE.
    #[arg(short = 'o', long, value_parser = Format::parse)]
    pub output: Option<Format>,
    /// The template for `-o jsonpath` / `-o go-template`.
    #[arg(long)]
    pub template: Option<String>,
}

impl OutputArgs {
    /// The format asked for, if any (tables are for `get`).
    pub fn format(&self) -> Result<Option<Format>> {
        match self.output.clone() {
            None if self.template.is_some() => {
                bail!("--template goes with -o jsonpath or -o go-template")
            }
            None => Ok(None),
            Some(f) if f.is_table() => {
                bail!(
                    "-o table and -o wide are for `kargo get`; use json, yaml, name, jsonpath or go-template"
                )
            }
            Some(f) => Ok(Some(f.with_template(self.template.as_deref())?)),
        }
    }
}

fn info(view: &View) -> &'static kargo_api::ResourceInfo {
    resolve(&view.kind.to_lowercase()).expect("Secret and ConfigMap are served")
}

fn api_in(client: &kube::Client, view: &View, scope: &Scope) -> Result<kube::Api<DynamicObject>> {
    api(client, info(view), Some(scope.namespace()))
}

fn to_value(o: &DynamicObject) -> Result<Value> {
    Ok(serde_json::to_value(o)?)
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The value of annotation `key`, or "".
pub fn annotation<'a>(v: &'a Value, key: &str) -> &'a str {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The value of label `key`, or "".
pub fn label<'a>(v: &'a Value, key: &str) -> &'a str {
    v.pointer("/metadata/labels")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Reads one object, refusing one of the kind that is not of this family
/// (as Kargo's API does: `secret p/x exists, but is not labeled with ...`).
pub async fn read(client: &kube::Client, view: &View, scope: &Scope, name: &str) -> Result<Value> {
    let o = api_in(client, view, scope)?
        .get(name)
        .await
        .map_err(explain)?;
    let v = to_value(&o)?;
    if let Some(why) = (view.refuse)(&v) {
        bail!(
            "{} {}/{name} exists, but {why}",
            view.kind,
            scope.namespace()
        );
    }
    Ok(v)
}

/// Creates `obj` and prints it as `create` does.
pub async fn create(
    client: &kube::Client,
    view: &View,
    scope: &Scope,
    obj: Value,
    output: &OutputArgs,
) -> Result<()> {
    let format = output.format()?;
    let o: DynamicObject = serde_json::from_value(obj)?;
    let made = api_in(client, view, scope)?
        .create(&PostParams::default(), &o)
        .await
        .map_err(explain)?;
    print(view, to_value(&made)?, format.as_ref(), Some("created"))
}

/// Replaces `obj` (read with [`read`], so its resourceVersion guards
/// against a concurrent change) and prints it as `update` does.
pub async fn replace(
    client: &kube::Client,
    view: &View,
    scope: &Scope,
    obj: Value,
    output: &OutputArgs,
) -> Result<()> {
    let format = output.format()?;
    let name = name_of(&obj).to_string();
    let o: DynamicObject = serde_json::from_value(obj)?;
    let stored = api_in(client, view, scope)?
        .replace(&name, &PostParams::default(), &o)
        .await
        .map_err(explain)?;
    print(view, to_value(&stored)?, format.as_ref(), None)
}

/// Prints what `create`/`update` wrote: `secret/NAME created` (Kargo's
/// `update` prints `secret/NAME`), or the shown object in `format`.
fn print(view: &View, obj: Value, format: Option<&Format>, verb: Option<&str>) -> Result<()> {
    let shown = (view.show)(obj);
    match format {
        Some(f) => f.print_doc(Some(info(view)), &shown),
        None => {
            let name = qualified_name(info(view), name_of(&shown));
            match verb {
                Some(v) => outln!("{name} {v}"),
                None => outln!("{name}"),
            }
        }
    }
}

/// `kargo get repo-credentials|generic-credentials|configmaps [NAME...]`:
/// a table (NAME ... AGE) or `format`; names not found are errors after
/// the ones found are printed.
pub async fn get(
    client: &kube::Client,
    view: &View,
    scope: &Scope,
    names: &[String],
    format: &Format,
    no_headers: bool,
) -> Result<()> {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    if names.is_empty() {
        let mut lp = ListParams::default();
        if let Some(sel) = view.selector {
            lp = lp.labels(sel);
        }
        let mut list = api_in(client, view, scope)?
            .list(&lp)
            .await
            .map_err(explain)?
            .items;
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for o in &list {
            items.push((view.show)(to_value(o)?));
        }
    } else {
        let mut seen = std::collections::HashSet::new();
        for n in names.iter().filter(|n| seen.insert(*n)) {
            match read(client, view, scope, n).await {
                Ok(v) => items.push((view.show)(v)),
                Err(e) => errors.push(e),
            }
        }
    }
    if format.is_table() {
        if items.is_empty() && names.is_empty() {
            eprintln!("No {} found in {}.", view.noun, scope.describe());
        } else if !items.is_empty() {
            let now = jiff::Timestamp::now().as_second();
            let mut headers: Vec<String> = view.headers.iter().map(|h| h.to_string()).collect();
            headers.push("AGE".into());
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|v| {
                    let mut row = (view.cells)(v);
                    row.push(age(v, now));
                    row
                })
                .collect();
            crate::cmd::get::print_table(&headers, &rows, no_headers)?;
        }
    } else {
        format.print(info(view), &items, names.len() == 1)?;
    }
    crate::cmd::get::report(errors, names.len(), view.noun)
}

/// An object's age as kubectl prints it.
fn age(v: &Value, now: i64) -> String {
    v.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| kargo_apiserver::human_duration(now - t.as_second()))
        .unwrap_or_default()
}

/// `kargo delete repo-credentials|generic-credentials|configmap NAME...`:
/// each one checked to be of the family, then deleted (only if unchanged
/// since it was read).
pub async fn delete(
    client: &kube::Client,
    view: &View,
    scope: &Scope,
    names: &[String],
) -> Result<()> {
    let a = api_in(client, view, scope)?;
    let mut failed = 0;
    for n in names {
        let done = async {
            let v = read(client, view, scope, n).await?;
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: v
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .map(String::from),
                    resource_version: v
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(String::from),
                }),
                ..DeleteParams::default()
            };
            a.delete(n, &dp).await.map_err(explain)?;
            anyhow::Ok(())
        };
        match done.await {
            Ok(()) => outln!("{} deleted", qualified_name(info(view), n))?,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} deletions failed", names.len());
    }
    Ok(())
}

/// A Secret as Kargo's API shows it: `data` gone, every value in
/// `stringData` redacted except the keys in `visible`, every annotation
/// redacted except those in `kept` (a `last-applied-configuration` may
/// hold the values).
pub fn redact_secret(mut v: Value, visible: &[&str], kept: &[&str]) -> Value {
    let decoded: Map<String, Value> =
        serde_json::from_value::<k8s_openapi::api::core::v1::Secret>(v.clone())
            .ok()
            .and_then(|s| s.data)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, b)| {
                let shown = if visible.contains(&k.as_str()) {
                    String::from_utf8_lossy(&b.0).into_owned()
                } else {
                    REDACTED.to_string()
                };
                (k, Value::String(shown))
            })
            .collect();
    if let Some(m) = v.as_object_mut() {
        m.remove("data");
        m.insert("stringData".into(), Value::Object(decoded));
    }
    if let Some(Value::Object(a)) = v.pointer_mut("/metadata/annotations") {
        for (k, val) in a.iter_mut() {
            if !kept.contains(&k.as_str()) {
                *val = json!(REDACTED);
            }
        }
    }
    v
}

/// Metadata for a new object: name, namespace, labels and the
/// description annotation (when given).
pub fn new_metadata(name: &str, scope: &Scope, labels_: Value, description: &str) -> Value {
    let mut meta = json!({"name": name, "namespace": scope.namespace()});
    if labels_.as_object().is_some_and(|m| !m.is_empty()) {
        meta["labels"] = labels_;
    }
    if !description.is_empty() {
        meta["annotations"] = json!({ labels::DESCRIPTION: description });
    }
    meta
}

/// Sets the description annotation when `description` is not empty (as
/// Kargo's `update`, which cannot clear it).
pub fn set_description(obj: &mut Value, description: &str) {
    if description.is_empty() {
        return;
    }
    let meta = &mut obj["metadata"];
    if !meta["annotations"].is_object() {
        meta["annotations"] = json!({});
    }
    meta["annotations"][labels::DESCRIPTION] = json!(description);
}

/// The family a kind word names (`repo-creds`, `generic-credentials`,
/// `cm`, ...), if it is one of these.
pub fn view_for(kind: &str) -> Option<&'static View> {
    let k = kind.to_lowercase();
    if crate::cmd::credentials::ALIASES.contains(&k.as_str()) {
        Some(&crate::cmd::credentials::VIEW)
    } else if crate::cmd::generic_credentials::ALIASES.contains(&k.as_str()) {
        Some(&crate::cmd::generic_credentials::VIEW)
    } else if crate::cmd::configmaps::ALIASES.contains(&k.as_str()) {
        Some(&crate::cmd::configmaps::VIEW)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_only_what_is_named() {
        let v = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "c", "annotations": {
                "kargo.akuity.io/description": "d",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"password\":\"p\"}"
            }},
            "data": {"repoURL": "aHR0cHM6Ly94", "password": "czNjcjN0"}
        });
        let r = redact_secret(v, &["repoURL"], &["kargo.akuity.io/description"]);
        assert!(r.get("data").is_none());
        assert_eq!(r["stringData"]["repoURL"], "https://x");
        assert_eq!(r["stringData"]["password"], REDACTED);
        let a = &r["metadata"]["annotations"];
        assert_eq!(a["kargo.akuity.io/description"], "d");
        assert_eq!(
            a["kubectl.kubernetes.io/last-applied-configuration"],
            REDACTED
        );
        assert!(!r.to_string().contains("s3cr3t"));
    }
}
