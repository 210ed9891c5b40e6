//! Shell completion: `kargo completion bash|zsh|fish|elvish|powershell`
//! prints a script that asks `kargo` itself for candidates
//! (clap_complete's dynamic completion, `COMPLETE=SHELL kargo -- WORDS`),
//! so Project, Stage, Warehouse, Freight (names and aliases) and other
//! object names come from the configured server. The candidates read the
//! words typed so far for the kind (`kargo get stages <TAB>`) and the
//! project (`-p`/`--project`, else the configured default). A server that
//! does not answer within two seconds gives no candidates, never an error.

use crate::client::{ConnectFlags, Timeout};
use anyhow::{Result, bail};
use clap_complete::CompletionCandidate;
use kube::api::{Api, DynamicObject, ListParams};
use std::ffi::OsStr;
use std::time::Duration;

/// Kinds `kargo get` and `kargo delete` complete.
const KINDS: &[&str] = &[
    "projects",
    "warehouses",
    "stages",
    "freight",
    "promotions",
    "promotiontasks",
    "clusterpromotiontasks",
    "analysistemplates",
    "analysisruns",
    "projectconfigs",
    "repo-credentials",
    "generic-credentials",
    "configmaps",
];

/// Prints the registration script for `shell`.
pub fn script(shell: &str) -> Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let Some(sh) = shells.completer(shell) else {
        let names: Vec<&str> = shells.names().collect();
        bail!(
            "unknown shell {shell:?}: expected one of {}",
            names.join(", ")
        );
    };
    let mut buf = Vec::new();
    sh.write_registration("COMPLETE", "kargo", "kargo", "kargo", &mut buf)?;
    out!("{}", String::from_utf8_lossy(&buf))
}

/// The words typed after `kargo` (the completion protocol passes them
/// after `--`).
fn words() -> Vec<String> {
    let all: Vec<String> = std::env::args().collect();
    match all.iter().position(|a| a == "--") {
        Some(i) => all[i + 2.min(all.len() - i)..].to_vec(),
        None => Vec::new(),
    }
}

/// `-p P`, `--project P` or `--project=P` among the words, else the default.
fn project(words: &[String]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "-p" || w == "--project" {
            return it.next().cloned();
        }
        if let Some(p) = w
            .strip_prefix("--project=")
            .or_else(|| w.strip_prefix("-p="))
        {
            return Some(p.to_string());
        }
    }
    crate::config::load()
        .ok()
        .flatten()
        .map(|c| c.project)
        .filter(|p| !p.is_empty())
}

/// Names (and for Freight, aliases) of `kind` from the server.
fn names_of(kind: &str, project: Option<&str>) -> Vec<String> {
    // Credentials and ConfigMaps: the Secrets or ConfigMaps of the family.
    let view = crate::cmd::resource_views::view_for(kind);
    let kind = view.map_or(kind.to_string(), |v| v.kind.to_lowercase());
    let Ok(info) = crate::resources::resolve(&kind) else {
        return Vec::new();
    };
    let mut lp = ListParams::default();
    if let Some(sel) = view.and_then(|v| v.selector) {
        lp = lp.labels(sel);
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let work = async {
        let flags = ConnectFlags {
            request_timeout: Timeout(Some(Duration::from_secs(2))),
            ..Default::default()
        };
        let client = crate::client::client(&flags).await.ok()?;
        let api: Api<DynamicObject> = crate::resources::api(&client, info, project).ok()?;
        let list = api.list(&lp).await.ok()?;
        let mut out = Vec::new();
        for o in list.items {
            if let Some(a) = o
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(kargo_api::labels::ALIAS))
            {
                out.push(a.clone());
            }
            out.extend(o.metadata.name);
        }
        Some(out)
    };
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), work).await })
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn candidates(current: &OsStr, names: Vec<String>) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    names
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

fn of_kind(current: &OsStr, kind: &str) -> Vec<CompletionCandidate> {
    let w = words();
    candidates(current, names_of(kind, project(&w).as_deref()))
}

/// Project names.
pub fn projects(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, names_of("projects", None))
}

/// Stage names in the project being typed.
pub fn stages(current: &OsStr) -> Vec<CompletionCandidate> {
    of_kind(current, "stages")
}

/// Warehouse names in the project being typed.
pub fn warehouses(current: &OsStr) -> Vec<CompletionCandidate> {
    of_kind(current, "warehouses")
}

/// Freight names and aliases in the project being typed.
pub fn freight(current: &OsStr) -> Vec<CompletionCandidate> {
    of_kind(current, "freight")
}

/// AnalysisRun names in the project being typed.
pub fn analysis_runs(current: &OsStr) -> Vec<CompletionCandidate> {
    of_kind(current, "analysisruns")
}

/// The kinds `get` and `delete` take.
pub fn kinds(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, KINDS.iter().map(|k| k.to_string()).collect())
}

/// Names of the kind typed before (`kargo get stages <TAB>`).
pub fn names(current: &OsStr) -> Vec<CompletionCandidate> {
    let w = words();
    // The kind is the first word after the verb that is not a flag or a flag's value.
    let mut kind = None;
    let mut skip = false;
    for word in w.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if word == "-p" || word == "--project" || word == "-o" || word == "--output" {
            skip = true;
            continue;
        }
        if !word.starts_with('-') {
            kind = Some(word.clone());
            break;
        }
    }
    match kind {
        Some(k) => candidates(current, names_of(&k, project(&w).as_deref())),
        None => Vec::new(),
    }
}
