//! Reads manifests for `apply`, `create` and `delete -f`: files,
//! directories (`.yaml`, `.yml`, `.json`, sorted) or stdin (`-`), with
//! several documents per file. Kargo kinds written without `apiVersion`
//! get it inferred.

use anyhow::{Context, Result, bail};
use kargo_api::{ResourceInfo, lookup_kind};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One object read from a manifest.
pub struct Manifest {
    /// Where it came from (`file.yaml#2`).
    pub source: String,
    /// Its kind.
    pub info: &'static ResourceInfo,
    /// The object.
    pub obj: Value,
}

fn files(arg: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(arg);
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("reading directory {arg}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            })
            .collect();
        v.sort();
        Ok(v)
    } else {
        Ok(vec![p.to_path_buf()])
    }
}

/// Parses every document of `text`.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let source = format!("{origin}#{}", i + 1);
        let mut v: Value = serde::Deserialize::deserialize(doc)
            .with_context(|| format!("{source}: not valid YAML"))?;
        if v.is_null() {
            continue;
        }
        if !v.is_object() {
            bail!(
                "{source}: a document must be a mapping (an object), not {}",
                type_name(&v)
            );
        }
        let kind = v
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if kind.is_empty() {
            bail!("{source}: missing \"kind\"");
        }
        let av = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let info = lookup_kind(&av, &kind).with_context(|| {
            if av.is_empty() {
                format!("{source}: unknown kind {kind:?}")
            } else {
                format!("{source}: unknown kind {kind:?} in {av}")
            }
        })?;
        if av.is_empty() {
            v["apiVersion"] = Value::String(info.api_version());
        }
        out.push(Manifest {
            source,
            info,
            obj: v,
        });
    }
    Ok(out)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

/// Reads every `-f` argument.
pub fn read_all(args: &[String]) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            out.extend(parse(&s, "stdin")?);
            continue;
        }
        let fs = files(a)?;
        if fs.is_empty() {
            bail!("{a}: no .yaml, .yml or .json files found");
        }
        for f in fs {
            let text =
                std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
            out.extend(parse(&text, &f.display().to_string())?);
        }
    }
    Ok(out)
}

/// Applies Projects and Namespaces before what lives in them.
pub fn order(ms: &mut [Manifest]) {
    ms.sort_by_key(|m| match m.info.kind {
        "Namespace" => 0,
        "Project" => 1,
        "ProjectConfig" | "ClusterConfig" => 2,
        "Secret" | "ConfigMap" => 3,
        _ => 4,
    });
}
