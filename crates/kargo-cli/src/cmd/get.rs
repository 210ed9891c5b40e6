//! `kargo get KIND [NAME ...]` in Kargo's forms: several names per get,
//! `get freight --name/--alias/--warehouse` (`--origin`),
//! `get promotions --stage`, `--no-headers`, and `-o` as kubectl takes
//! it. Tables use the server's printer columns (columns empty in every
//! row are dropped; `-o wide` keeps them and adds more), Stages show
//! their current Freight by alias and their promotion window and holds,
//! and ages read as kubectl's.

use crate::cmd::resource_views;
use crate::complete;
use crate::format::Format;
use crate::resources::{collection_path, explain, resolve};
use anyhow::{Context, Result, bail};
use clap_complete::ArgValueCompleter;
use comfy_table::Table;
use kargo_api::{Freight, ResourceInfo};
use kube::Resource;
use kube::api::ListParams;
use serde_json::Value;
use std::collections::BTreeMap;

/// Flags of `kargo get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Kind: projects, warehouses, stages, freight, promotions,
    /// promotiontasks, analysistemplates, analysisruns, ...
    #[arg(add = ArgValueCompleter::new(complete::kinds))]
    pub kind: String,
    /// Names (all when none); Freight also by alias.
    #[arg(add = ArgValueCompleter::new(complete::names))]
    pub names: Vec<String>,
    /// Project.
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    /// Output format: table, wide, json, yaml, name, jsonpath=TEMPLATE,
    /// go-template=TEMPLATE.
    #[arg(short = 'o', long, value_parser = Format::parse, default_value = "table")]
    pub output: Format,
    /// The template for `-o jsonpath` / `-o go-template`.
    #[arg(long)]
    pub template: Option<String>,
    /// Tables without their header line.
    #[arg(long)]
    pub no_headers: bool,
    /// Freight: a name (repeatable).
    #[arg(long = "name", value_name = "NAME", add = ArgValueCompleter::new(complete::freight))]
    pub by_name: Vec<String>,
    /// Freight: an alias (repeatable).
    #[arg(long = "alias", value_name = "ALIAS", add = ArgValueCompleter::new(complete::freight))]
    pub by_alias: Vec<String>,
    /// Freight: only from this Warehouse (repeatable; `--origin` is Kargo's older spelling).
    #[arg(
        long = "warehouse",
        visible_alias = "origin",
        value_name = "WAREHOUSE",
        add = ArgValueCompleter::new(complete::warehouses)
    )]
    pub warehouses: Vec<String>,
    /// Promotions: only those for this Stage.
    #[arg(long, add = ArgValueCompleter::new(complete::stages))]
    pub stage: Option<String>,
    // Credentials and ConfigMaps: `--shared` or `--system` instead of a project's.
    #[command(flatten)]
    pub scope: crate::scope::ScopeFlags,
}

/// Runs `get`; `project` is the flag or the configured default.
pub async fn get(client: &kube::Client, a: GetArgs, project: Option<&str>) -> Result<()> {
    let format = a.output.clone().with_template(a.template.as_deref())?;
    if let Some(view) = resource_views::view_for(&a.kind) {
        let scope = a.scope.resolve(project, view.system)?;
        return resource_views::get(client, view, &scope, &a.names, &format, a.no_headers).await;
    }
    if a.scope.given() {
        bail!(
            "--shared and --system select credentials and ConfigMaps: kargo get repo-credentials --shared"
        );
    }
    let info = resolve(&a.kind)?;
    let freight = info.kind == "Freight";
    if !freight && (!a.by_name.is_empty() || !a.by_alias.is_empty() || !a.warehouses.is_empty()) {
        bail!("--name, --alias and --warehouse select Freight: kargo get freight --alias ALIAS");
    }
    if info.kind != "Promotion" && a.stage.is_some() {
        bail!("--stage selects Promotions: kargo get promotions --stage STAGE");
    }
    let project = match (info.namespaced(), project) {
        (true, None) => bail!(
            "{} objects live in a project: pass --project (-p) or set a default with `kargo config set-project`",
            info.kind
        ),
        (true, p) => p,
        (false, _) => None,
    };
    let mut errors = Vec::new();
    let asked = a.names.len() + a.by_name.len() + a.by_alias.len();
    if freight {
        let items = freight_items(client, &a, project.unwrap_or_default(), &mut errors).await?;
        if format.is_table() {
            freight_table(&items, format == Format::Wide, a.no_headers)?;
        } else {
            let values = items
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()?;
            format.print(info, &values, asked == 1)?;
        }
        if items.is_empty() && asked == 0 && format.is_table() {
            eprintln!(
                "No freight found in project {}.",
                project.unwrap_or_default()
            );
        }
    } else {
        let (columns, mut rows) = rows(client, info, project, &a.names, &mut errors).await?;
        if let Some(stage) = &a.stage {
            rows.retain(|r| {
                r.pointer("/object/spec/stage").and_then(Value::as_str) == Some(stage.as_str())
            });
        }
        if format.is_table() {
            if rows.is_empty() && a.names.is_empty() {
                match project {
                    Some(p) => eprintln!("No {} found in project {p}.", info.plural),
                    None => eprintln!("No {} found.", info.plural),
                }
            } else {
                let aliases = if info.kind == "Stage" {
                    freight_aliases(client, project.unwrap_or_default()).await?
                } else {
                    BTreeMap::new()
                };
                let t = TableData::from_server(&columns, &rows, format == Format::Wide, &aliases);
                t.print(a.no_headers)?;
            }
        } else {
            let values: Vec<Value> = rows.iter().map(|r| r["object"].clone()).collect();
            format.print(info, &values, asked == 1)?;
        }
    }
    report(errors, asked, "objects")
}

/// Ends a `get` of several names: Ok when all were read, the one error,
/// or each error on stderr and a count of them.
pub(crate) fn report(mut errors: Vec<anyhow::Error>, asked: usize, what: &str) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        n => {
            for e in &errors {
                eprintln!("error: {e:#}");
            }
            bail!("{n} of {asked} {what} could not be read")
        }
    }
}

/// The server's Table (columns, and rows with their objects) for all
/// objects, or one request per name; names not found go to `errors`.
async fn rows(
    client: &kube::Client,
    info: &ResourceInfo,
    project: Option<&str>,
    names: &[String],
    errors: &mut Vec<anyhow::Error>,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let base = collection_path(info, project);
    let paths: Vec<String> = if names.is_empty() {
        vec![base]
    } else {
        dedup(names).iter().map(|n| format!("{base}/{n}")).collect()
    };
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for path in paths {
        let req = http::Request::get(format!("{path}?includeObject=Object"))
            .header(
                http::header::ACCEPT,
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .context("building the request")?;
        match client.request::<Value>(req).await {
            Ok(t) => {
                if columns.is_empty() {
                    columns = t["columnDefinitions"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                }
                rows.extend(t["rows"].as_array().cloned().unwrap_or_default());
            }
            Err(kube::Error::Api(e)) if e.code == 404 && !names.is_empty() => {
                errors.push(anyhow::anyhow!("{}", e.message));
            }
            Err(e) => return Err(explain(e)),
        }
    }
    Ok((columns, rows))
}

/// Names in the order given, each once (`kargo get stage a a`).
fn dedup(names: &[String]) -> Vec<&String> {
    let mut seen = std::collections::HashSet::new();
    names.iter().filter(|n| seen.insert(*n)).collect()
}

/// Freight by name and alias, or all of it (of some Warehouses), newest first.
async fn freight_items(
    client: &kube::Client,
    a: &GetArgs,
    project: &str,
    errors: &mut Vec<anyhow::Error>,
) -> Result<Vec<Freight>> {
    let api: kube::Api<Freight> = kube::Api::namespaced(client.clone(), project);
    let by_name: Vec<String> = a.names.iter().chain(&a.by_name).cloned().collect();
    if by_name.is_empty() && a.by_alias.is_empty() {
        let mut items = api
            .list(&ListParams::default())
            .await
            .map_err(explain)?
            .items;
        if !a.warehouses.is_empty() {
            items.retain(|f| f.origin.kind == "Warehouse" && a.warehouses.contains(&f.origin.name));
        }
        items.sort_by(|a, b| {
            b.metadata
                .creation_timestamp
                .cmp(&a.metadata.creation_timestamp)
                .then(b.metadata.name.cmp(&a.metadata.name))
        });
        return Ok(items);
    }
    let mut items = Vec::new();
    for n in dedup(&by_name) {
        match crate::cmd::promote::find(client, project, Some(n), None).await {
            Ok(f) => items.push(f),
            Err(e) => errors.push(e),
        }
    }
    for al in dedup(&a.by_alias) {
        match crate::cmd::promote::find(client, project, None, Some(al)).await {
            Ok(f) => items.push(f),
            Err(e) => errors.push(e),
        }
    }
    Ok(items)
}

/// Freight name -> alias in a project (for the Stage table).
async fn freight_aliases(client: &kube::Client, project: &str) -> Result<BTreeMap<String, String>> {
    let api: kube::Api<Freight> = kube::Api::namespaced(client.clone(), project);
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(explain)?
        .items
        .into_iter()
        .filter_map(|f| Some((f.metadata.name.clone()?, f.alias()?.to_string())))
        .collect())
}

/// A column `kargo get stages` adds from each Stage object.
type StageCell = fn(&Value) -> String;

/// A table before printing: headers and text cells.
struct TableData {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl TableData {
    /// From a server Table: in the plain table, columns of priority > 0 and
    /// columns empty in every row are left out; in the wide one every
    /// column stays and empty cells read `<none>`. A Stage's current
    /// Freight is shown by alias (its name goes to the wide table).
    fn from_server(
        columns: &[Value],
        rows: &[Value],
        wide: bool,
        aliases: &BTreeMap<String, String>,
    ) -> Self {
        let mut headers: Vec<String> = columns
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_uppercase())
            .collect();
        let mut priority: Vec<i64> = columns
            .iter()
            .map(|c| c["priority"].as_i64().unwrap_or(0))
            .collect();
        let mut cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let cs = r["cells"].as_array().cloned().unwrap_or_default();
                (0..headers.len())
                    .map(|i| kargo_api::printer::render(cs.get(i).unwrap_or(&Value::Null)))
                    .collect()
            })
            .collect();
        if let Some(at) = headers.iter().position(|h| h == "CURRENT FREIGHT") {
            headers.insert(at + 1, "FREIGHT NAME".into());
            priority.insert(at + 1, 1);
            for (row, r) in cells.iter_mut().zip(rows) {
                let names = current_freight(&r["object"]);
                let shown: Vec<&str> = names
                    .iter()
                    .map(|n| aliases.get(n).map_or(n.as_str(), String::as_str))
                    .collect();
                if !shown.is_empty() {
                    row[at] = shown.join(",");
                }
                row.insert(at + 1, names.join(","));
            }
            // Stages: promotion windows and holds, where any Stage has
            // them (`stage_columns.rs`).
            let extra: [(&str, StageCell); 2] = [
                ("WINDOW", super::stage_columns::window),
                ("HOLD", super::stage_columns::hold),
            ];
            for (header, cell) in extra {
                let column: Vec<String> = rows.iter().map(|r| cell(&r["object"])).collect();
                if column.iter().any(|c| !c.is_empty()) {
                    headers.push(header.into());
                    priority.push(0);
                    for (row, c) in cells.iter_mut().zip(column) {
                        row.push(c);
                    }
                }
            }
        }
        let keep: Vec<usize> = (0..headers.len())
            .filter(|&i| {
                i == 0 || wide || (priority[i] == 0 && cells.iter().any(|r| !r[i].is_empty()))
            })
            .collect();
        let pick = |v: &Vec<String>| -> Vec<String> {
            keep.iter()
                .map(|&i| {
                    let c = v[i].clone();
                    if wide && c.is_empty() {
                        "<none>".into()
                    } else {
                        c
                    }
                })
                .collect()
        };
        TableData {
            headers: keep.iter().map(|&i| headers[i].clone()).collect(),
            rows: cells.iter().map(pick).collect(),
        }
    }

    fn print(&self, no_headers: bool) -> Result<()> {
        print_table(&self.headers, &self.rows, no_headers)
    }
}

/// The names of a Stage's current Freight (from its object in a Table row).
fn current_freight(stage: &Value) -> Vec<String> {
    stage
        .pointer("/status/freightHistory/0/items")
        .and_then(Value::as_object)
        .map(|items| {
            items
                .values()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Prints aligned columns as kubectl does (no borders, two spaces apart).
pub(crate) fn print_table(
    headers: &[String],
    rows: &[Vec<String>],
    no_headers: bool,
) -> Result<()> {
    let mut out = Table::new();
    out.load_preset(comfy_table::presets::NOTHING);
    if !no_headers {
        out.set_header(headers);
    }
    for r in rows {
        out.add_row(r);
    }
    for line in out.to_string().lines() {
        outln!("{}", line.trim_end().trim_start_matches(' '))?;
    }
    Ok(())
}

/// Short text for what a piece of Freight carries.
pub fn artifacts(f: &kargo_api::Freight) -> String {
    let mut parts = Vec::new();
    for i in &f.images {
        let repo = i.repo_url.rsplit('/').next().unwrap_or(&i.repo_url);
        parts.push(if i.tag.is_empty() {
            format!("{repo}@{}", &i.digest[..i.digest.len().min(19)])
        } else {
            format!("{repo}:{}", i.tag)
        });
    }
    for c in &f.commits {
        let repo = c
            .repo_url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit('/')
            .next()
            .unwrap_or(&c.repo_url)
            .to_string();
        parts.push(if c.tag.is_empty() {
            format!("{repo}@{}", &c.id[..c.id.len().min(7)])
        } else {
            format!("{repo}#{}", c.tag)
        });
    }
    for c in &f.charts {
        let name = if c.name.is_empty() {
            c.repo_url.rsplit('/').next().unwrap_or(&c.repo_url)
        } else {
            &c.name
        };
        parts.push(format!("{name}:{}", c.version));
    }
    parts.join(", ")
}

/// Freight with what each carries and where it is; `-o wide` adds the
/// Stages it is approved for.
fn freight_table(items: &[Freight], wide: bool, no_headers: bool) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut headers: Vec<String> = ["NAME", "ALIAS", "ORIGIN", "ARTIFACTS", "IN", "VERIFIED IN"]
        .map(String::from)
        .to_vec();
    if wide {
        headers.push("APPROVED FOR".into());
    }
    headers.push("AGE".into());
    let now = jiff::Timestamp::now().as_second();
    let join = |keys: Vec<&String>| {
        let s = keys.into_iter().cloned().collect::<Vec<_>>().join(",");
        if wide && s.is_empty() {
            "<none>".to_string()
        } else {
            s
        }
    };
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|f| {
            let st = f.status.clone().unwrap_or_default();
            let age = f
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| kargo_apiserver::human_duration(now - t.0.as_second()))
                .unwrap_or_default();
            let mut row = vec![
                f.meta().name.clone().unwrap_or_default(),
                f.alias().unwrap_or("").to_string(),
                format!("{}/{}", f.origin.kind, f.origin.name),
                artifacts(f),
                join(st.currently_in.keys().collect()),
                join(st.verified_in.keys().collect()),
            ];
            if wide {
                row.push(join(st.approved_for.keys().collect()));
            }
            row.push(age);
            row
        })
        .collect();
    print_table(&headers, &rows, no_headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage_table() -> (Vec<Value>, Vec<Value>) {
        let cols = [
            "Name",
            "Shard",
            "Current Freight",
            "Health",
            "Ready",
            "Status",
            "Age",
        ]
        .map(|n| json!({"name": n, "priority": 0}))
        .to_vec();
        let row = json!({
            "cells": ["dev", "", "0123456789abcdef0123456789abcdef01234567", null, "True", "Ready", "5m12s"],
            "object": {"status": {"freightHistory": [{"items": {"Warehouse/w": {"name": "0123456789abcdef0123456789abcdef01234567"}}}]}}
        });
        (cols, vec![row])
    }

    #[test]
    fn stage_tables_show_the_alias_and_drop_empty_columns() {
        let (cols, rows) = stage_table();
        let aliases = BTreeMap::from([(
            "0123456789abcdef0123456789abcdef01234567".to_string(),
            "wonky-wombat".to_string(),
        )]);
        let t = TableData::from_server(&cols, &rows, false, &aliases);
        assert_eq!(
            t.headers,
            ["NAME", "CURRENT FREIGHT", "READY", "STATUS", "AGE"]
        );
        assert_eq!(t.rows[0], ["dev", "wonky-wombat", "True", "Ready", "5m12s"]);
        let w = TableData::from_server(&cols, &rows, true, &aliases);
        assert_eq!(
            w.headers,
            [
                "NAME",
                "SHARD",
                "CURRENT FREIGHT",
                "FREIGHT NAME",
                "HEALTH",
                "READY",
                "STATUS",
                "AGE"
            ]
        );
        assert_eq!(w.rows[0][1], "<none>");
        assert_eq!(w.rows[0][3], "0123456789abcdef0123456789abcdef01234567");
    }
}
