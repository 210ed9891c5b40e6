//! `kargo apply -f`, `kargo create -f` and `kargo create project`.

use crate::manifest::{self, Manifest};
use crate::resources::{api, explain, qualified_name};
use anyhow::{Result, anyhow, bail};
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

/// Where objects that name no namespace go.
#[derive(Clone, Copy, Default)]
pub struct ProjectScope<'a> {
    /// `--project` as typed: objects naming another namespace are refused.
    pub flag: Option<&'a str>,
    /// The default from `kargo config set-project`: used only for objects
    /// that name no namespace.
    pub configured: Option<&'a str>,
}

impl<'a> ProjectScope<'a> {
    /// The flag, with the configured default behind it.
    pub fn new(flag: Option<&'a str>, configured: Option<&'a str>) -> Self {
        ProjectScope { flag, configured }
    }
}

fn namespace_of(m: &Manifest, scope: ProjectScope) -> Result<Option<String>> {
    if !m.info.namespaced() {
        return Ok(None);
    }
    let from_doc = m
        .obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (from_doc, scope.flag) {
        (Some(d), Some(p)) if d != p => {
            bail!("the object is in namespace {d:?} but --project is {p:?}")
        }
        (Some(d), _) => Ok(Some(d.to_string())),
        (None, Some(p)) => Ok(Some(p.to_string())),
        (None, None) => match scope.configured {
            Some(p) => Ok(Some(p.to_string())),
            None => bail!(
                "{} has no metadata.namespace; pass --project (-p) or set a default with `kargo config set-project`",
                m.info.kind
            ),
        },
    }
}

/// The object's name; Freight without one is named by its content, as the server would.
fn name_of(m: &Manifest) -> Result<String> {
    if let Some(n) = m
        .obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        return Ok(n.to_string());
    }
    if m.info.kind == "Freight" {
        let f: kargo_api::Freight =
            serde_json::from_value(m.obj.clone()).map_err(|e| anyhow!("not valid Freight: {e}"))?;
        return Ok(f.compute_id());
    }
    Err(anyhow!("metadata.name is required"))
}

/// Creates the namespace if it does not exist (non-project namespaces such as `argocd`).
async fn ensure_namespace(
    client: &kube::Client,
    ns: &str,
    created: &mut Vec<String>,
) -> Result<()> {
    if created.iter().any(|c| c == ns) {
        return Ok(());
    }
    let info = kargo_api::lookup_kind("v1", "Namespace").expect("registered");
    let nsapi = api(client, info, None)?;
    if nsapi.get_opt(ns).await.map_err(explain)?.is_none() {
        let obj: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
        match nsapi.create(&PostParams::default(), &obj).await {
            Ok(_) => outln!("namespace/{ns} created")?,
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(explain(e)),
        }
    }
    created.push(ns.to_string());
    Ok(())
}

/// `apply`: create what is missing, replace what exists (keeping status
/// and server-managed metadata), report unchanged objects.
pub async fn apply(
    client: &kube::Client,
    files: &[String],
    project: ProjectScope<'_>,
    create_only: bool,
) -> Result<()> {
    let mut ms = manifest::read_all(files)?;
    manifest::order(&mut ms);
    let mut failures = 0;
    let mut namespaces = Vec::new();
    for m in &ms {
        if let Err(e) = apply_one(client, m, project, create_only, &mut namespaces).await {
            eprintln!("error: {}: {e:#}", m.source);
            failures += 1;
        }
    }
    if failures > 0 {
        bail!("{failures} of {} objects failed", ms.len());
    }
    Ok(())
}

async fn apply_one(
    client: &kube::Client,
    m: &Manifest,
    project: ProjectScope<'_>,
    create_only: bool,
    namespaces: &mut Vec<String>,
) -> Result<()> {
    if m.obj.get("metadata").is_some_and(|v| !v.is_object()) {
        bail!("metadata must be a mapping");
    }
    let ns = namespace_of(m, project)?;
    let name = name_of(m)?;
    if let Some(ns) = &ns {
        ensure_namespace(client, ns, namespaces).await?;
    }
    let a = api(client, m.info, ns.as_deref())?;
    let qn = qualified_name(m.info, &name);
    let mut obj = m.obj.clone();
    if let Some(ns) = &ns {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj["metadata"]["name"] = json!(name);
    if m.info.kind == "Project" {
        namespaces.push(name.clone());
    }
    for _attempt in 0..5 {
        let existing = if create_only {
            None
        } else {
            a.get_opt(&name).await.map_err(explain)?
        };
        let Some(existing) = existing else {
            let d: DynamicObject = serde_json::from_value(obj.clone())?;
            a.create(&PostParams::default(), &d)
                .await
                .map_err(explain)?;
            outln!("{qn} created")?;
            return Ok(());
        };
        let current = serde_json::to_value(&existing)?;
        let desired = desired_state(&current, &obj);
        if desired == current {
            outln!("{qn} unchanged")?;
            return Ok(());
        }
        let d: DynamicObject = serde_json::from_value(desired)?;
        match a.replace(&name, &PostParams::default(), &d).await {
            Ok(_) => {
                outln!("{qn} configured")?;
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(explain(e)),
        }
    }
    bail!("{qn} kept changing under us; try again")
}

/// The file's object on top of the stored one: content fields come from
/// the file; status and server-set metadata stay; labels and annotations merge.
fn desired_state(current: &Value, file: &Value) -> Value {
    let mut out = current.clone();
    let Some(o) = out.as_object_mut() else {
        return file.clone();
    };
    o.retain(|k, _| k == "metadata" || k == "status");
    for (k, v) in file.as_object().into_iter().flatten() {
        if k != "metadata" && k != "status" {
            o.insert(k.clone(), v.clone());
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(fm) = file
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
        {
            let md = o.entry("metadata").or_insert_with(|| json!({}));
            let target = md
                .as_object_mut()
                .map(|m| m.entry(field).or_insert_with(|| json!({})));
            if let Some(Value::Object(t)) = target {
                for (k, v) in fm {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// `kargo create project NAME`.
pub async fn create_project(client: &kube::Client, name: &str) -> Result<()> {
    let info = kargo_api::lookup_kind("", "Project").expect("registered");
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": info.api_version(), "kind": "Project", "metadata": {"name": name}}),
    )?;
    api(client, info, None)?
        .create(&PostParams::default(), &obj)
        .await
        .map_err(explain)?;
    outln!("project.kargo.akuity.io/{name} created")?;
    Ok(())
}
