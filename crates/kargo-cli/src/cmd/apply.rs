//! `kargo apply -f`, `kargo create -f` and `kargo create project`.
//! Writes carry `fieldValidation` (`--validate`, strict by default, as
//! kubectl does) and the server's `Warning` headers are printed.

use crate::manifest::{self, Manifest};
use crate::resources::{api, explain, qualified_name};
use anyhow::{Result, anyhow, bail};
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

/// How the server treats fields the kind does not know (`--validate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validate {
    /// Refuse the object (`fieldValidation=Strict`).
    #[default]
    Strict,
    /// Accept it, drop the fields and print the server's warnings.
    Warn,
    /// Accept it and drop the fields silently.
    Ignore,
}

impl Validate {
    /// kubectl's values: `strict` or `true`, `warn`, `ignore` or `false`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "strict" | "true" => Ok(Self::Strict),
            "warn" => Ok(Self::Warn),
            "ignore" | "false" => Ok(Self::Ignore),
            _ => Err(format!(
                "invalid --validate {s:?}: expected strict (or true), warn, or ignore (or false)"
            )),
        }
    }

    /// The `fieldValidation` query value.
    fn directive(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Warn => "Warn",
            Self::Ignore => "Ignore",
        }
    }
}

/// `--validate[=strict|warn|ignore]` for `apply` and `create -f`.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ValidateFlag {
    /// How unknown fields are treated: strict (or true) refuses the object,
    /// warn applies it and prints the server's warnings, ignore (or false)
    /// applies it silently. Unknown fields are never stored.
    #[arg(
        long = "validate",
        value_name = "MODE",
        value_parser = Validate::parse,
        default_value = "strict",
        num_args = 0..=1,
        default_missing_value = "strict",
        require_equals = true
    )]
    pub validate: Validate,
}

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
pub(crate) async fn ensure_namespace(
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
    validate: Validate,
) -> Result<()> {
    let mut ms = manifest::read_all(files)?;
    manifest::order(&mut ms);
    let mut failures = 0;
    let mut namespaces = Vec::new();
    for m in &ms {
        if let Err(e) = apply_one(client, m, project, create_only, validate, &mut namespaces).await
        {
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
    validate: Validate,
    namespaces: &mut Vec<String>,
) -> Result<()> {
    if m.obj.get("metadata").is_some_and(|v| !v.is_object()) {
        bail!("metadata must be a mapping");
    }
    let ns = namespace_of(m, project)?;
    let name = name_of(m)?;
    // Kargo's kinds live in projects, which the server checks (with a
    // hint); other kinds (Argo CD Applications, Secrets) get their
    // namespace created as needed.
    if let Some(ns) = &ns
        && m.info.group != kargo_api::KARGO_GROUP
    {
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
            write(client, &a, None, &obj, validate)
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
        match write(client, &a, Some(&name), &desired, validate).await {
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

/// Creates (`name` None) or replaces an object with `fieldValidation` set,
/// printing the server's `Warning` headers as kubectl does.
async fn write(
    client: &kube::Client,
    a: &kube::Api<DynamicObject>,
    name: Option<&str>,
    obj: &Value,
    validate: Validate,
) -> Result<Value, kube::Error> {
    let body = serde_json::to_vec(obj).map_err(kube::Error::SerdeError)?;
    let r = kube::core::Request::new(a.resource_url());
    let pp = PostParams::default();
    let req = match name {
        None => r.create(&pp, body),
        Some(n) => r.replace(n, &pp, body),
    }
    .map_err(kube::Error::BuildRequest)?;
    let (mut parts, body) = req.into_parts();
    let sep = match parts.uri.query() {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    let uri = format!("{}{sep}fieldValidation={}", parts.uri, validate.directive());
    parts.uri = uri
        .parse()
        .map_err(|e: http::uri::InvalidUri| kube::Error::HttpError(e.into()))?;
    let res = client
        .send(http::Request::from_parts(
            parts,
            kube::client::Body::from(body),
        ))
        .await?;
    for w in res.headers().get_all(http::header::WARNING) {
        if let Ok(text) = w.to_str() {
            eprintln!("Warning: {}", warning_text(text));
        }
    }
    let status = res.status();
    let bytes = res.into_body().collect_bytes().await?;
    if status.is_client_error() || status.is_server_error() {
        let text = String::from_utf8_lossy(&bytes);
        let st = serde_json::from_str::<kube::core::Status>(&text).unwrap_or_else(|_| {
            kube::core::Status::failure(text.trim(), "Unknown").with_code(status.as_u16())
        });
        return Err(kube::Error::Api(st.boxed()));
    }
    serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)
}

/// The text of a `Warning` header (`299 - "text"`), unquoted.
fn warning_text(header: &str) -> String {
    let Some(quoted) = header
        .splitn(3, ' ')
        .nth(2)
        .and_then(|q| q.strip_prefix('"'))
        .and_then(|q| q.strip_suffix('"'))
    else {
        return header.to_string();
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_kubectls_values() {
        for (s, v) in [
            ("strict", Validate::Strict),
            ("true", Validate::Strict),
            ("warn", Validate::Warn),
            ("ignore", Validate::Ignore),
            ("false", Validate::Ignore),
        ] {
            assert_eq!(Validate::parse(s), Ok(v), "{s}");
        }
        assert!(Validate::parse("lenient").is_err());
    }

    #[test]
    fn warning_headers_are_unquoted() {
        assert_eq!(
            warning_text(r#"299 - "unknown field \"spec.verifcation\"""#),
            r#"unknown field "spec.verifcation""#
        );
        assert_eq!(warning_text("no quotes"), "no quotes");
    }
}
