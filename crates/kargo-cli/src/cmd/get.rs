//! `kargo get KIND [NAME]`: tables with the server's printer columns,
//! or the objects as YAML, JSON or names.

use crate::resources::{api, explain, qualified_name, resolve};
use anyhow::{Context, Result, bail};
use comfy_table::{Cell, Table};
use kargo_api::ResourceInfo;
use kube::Resource;
use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Columns (default).
    Table,
    /// Columns including the wide ones.
    Wide,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// `kind.group/name` per line.
    Name,
}

/// Runs `get`.
pub async fn get(
    client: &kube::Client,
    kind: &str,
    name: Option<&str>,
    project: Option<&str>,
    output: Output,
) -> Result<()> {
    let info = resolve(kind)?;
    match output {
        Output::Table | Output::Wide => {
            table(client, info, name, project, output == Output::Wide).await
        }
        _ => objects(client, info, name, project, output).await,
    }
}

fn collection_path(info: &ResourceInfo, ns: Option<&str>) -> String {
    let ar = crate::resources::api_resource(info);
    DynamicObject::url_path(&ar, if info.namespaced() { ns } else { None })
}

async fn table(
    client: &kube::Client,
    info: &'static ResourceInfo,
    name: Option<&str>,
    project: Option<&str>,
    wide: bool,
) -> Result<()> {
    if info.namespaced() && project.is_none() {
        bail!(
            "{} objects live in a project: pass --project (-p) or set a default with `kargo config set-project`",
            info.kind
        );
    }
    if info.kind == "Freight" {
        return freight_table(client, name, project.unwrap_or_default()).await;
    }
    let mut path = collection_path(info, project);
    if let Some(n) = name {
        path = format!("{path}/{n}");
    }
    let req = http::Request::get(path)
        .header(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .context("building the request")?;
    let t: Value = client.request(req).await.map_err(explain)?;
    let cols = t["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let keep: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows = t["rows"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        match project {
            Some(p) if info.namespaced() => eprintln!("No {} found in project {p}.", info.plural),
            _ => eprintln!("No {} found.", info.plural),
        }
        return Ok(());
    }
    if info.kind == "Freight" {
        // Newest first.
        rows.sort_by(|a, b| {
            let ts = |r: &Value| {
                r.pointer("/object/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            ts(b).cmp(&ts(a))
        });
    }
    let mut out = Table::new();
    out.load_preset(comfy_table::presets::NOTHING);
    out.set_header(
        keep.iter()
            .map(|&i| Cell::new(cols[i]["name"].as_str().unwrap_or("").to_uppercase())),
    );
    for r in &rows {
        let cells = r["cells"].as_array().cloned().unwrap_or_default();
        out.add_row(keep.iter().map(|&i| {
            Cell::new(kargo_api::printer::render(
                cells.get(i).unwrap_or(&Value::Null),
            ))
        }));
    }
    for line in out.to_string().lines() {
        outln!("{}", line.trim_end().trim_start_matches(' '))?;
    }
    Ok(())
}

async fn objects(
    client: &kube::Client,
    info: &'static ResourceInfo,
    name: Option<&str>,
    project: Option<&str>,
    output: Output,
) -> Result<()> {
    let a = api(client, info, project)?;
    let items: Vec<DynamicObject> = match name {
        Some(n) => vec![a.get(n).await.map_err(explain)?],
        None => a.list(&ListParams::default()).await.map_err(explain)?.items,
    };
    let values: Vec<Value> = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    match output {
        Output::Name => {
            for v in &values {
                outln!(
                    "{}",
                    qualified_name(
                        info,
                        v.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    )
                )?;
            }
        }
        Output::Json | Output::Yaml => {
            let doc = if name.is_some() {
                values[0].clone()
            } else {
                json!({"apiVersion": "v1", "kind": "List", "items": values})
            };
            if output == Output::Json {
                outln!("{}", serde_json::to_string_pretty(&doc)?)?;
            } else {
                out!("{}", yaml_serde::to_string(&doc)?)?;
            }
        }
        Output::Table | Output::Wide => unreachable!("handled by table()"),
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

/// Freight, newest first, with what each carries and where it is.
async fn freight_table(client: &kube::Client, name: Option<&str>, project: &str) -> Result<()> {
    let api: kube::Api<kargo_api::Freight> = kube::Api::namespaced(client.clone(), project);
    let mut items = match name {
        Some(n) => vec![api.get(n).await.map_err(explain)?],
        None => {
            api.list(&ListParams::default())
                .await
                .map_err(explain)?
                .items
        }
    };
    if items.is_empty() {
        eprintln!("No freight found in project {project}.");
        return Ok(());
    }
    items.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
            .then(b.metadata.name.cmp(&a.metadata.name))
    });
    let mut out = Table::new();
    out.load_preset(comfy_table::presets::NOTHING);
    out.set_header([
        "NAME",
        "ALIAS",
        "ORIGIN",
        "ARTIFACTS",
        "IN",
        "VERIFIED IN",
        "AGE",
    ]);
    let now = jiff::Timestamp::now().as_second();
    for f in &items {
        let st = f.status.clone().unwrap_or_default();
        let age = f
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| kargo_apiserver_age(now - t.0.as_second()))
            .unwrap_or_default();
        out.add_row([
            f.metadata.name.clone().unwrap_or_default(),
            f.alias().unwrap_or("").to_string(),
            format!("{}/{}", f.origin.kind, f.origin.name),
            artifacts(f),
            st.currently_in
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
            st.verified_in.keys().cloned().collect::<Vec<_>>().join(","),
            age,
        ]);
    }
    for line in out.to_string().lines() {
        outln!("{}", line.trim_end().trim_start_matches(' '))?;
    }
    Ok(())
}

fn kargo_apiserver_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=10799 => format!("{}m", s / 60),
        10800..=172799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
