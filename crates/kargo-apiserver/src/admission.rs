//! Admission: what happens to an object between the request and the
//! store — apiVersion/kind checks, the project check for Kargo's kinds,
//! defaulting, Freight naming (ID) and aliasing, unknown-field policy
//! (`fieldValidation`), typed validation, immutability, and the server's
//! settings that validation depends on ([`AdmissionSettings`]).

use crate::admission_store::AdmissionStore;
use crate::status::{ApiError, ApiResult};
use http::StatusCode;
use kargo_api::validate::{FieldError, check_update};
use kargo_api::{Freight, ResourceInfo, defaults, freight_alias, labels};
use serde_json::{Value, json};

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop silently.
    Ignore,
    /// Accept with a `Warning` header (the default).
    Warn,
    /// Reject with 400.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter.
    pub fn parse(s: Option<&str>) -> ApiResult<Self> {
        match s {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(o) => Err(ApiError::bad_request(format!(
                "invalid fieldValidation {o:?}: expected Ignore, Warn or Strict"
            ))),
        }
    }
}

/// The server's settings that admission applies (`kargo server` flags).
#[derive(Clone, Copy, Debug, Default)]
pub struct AdmissionSettings {
    /// `--allow-file-repos`: Warehouses may subscribe to `file://` git
    /// repositories. Off by default: anyone who can write a Warehouse
    /// could otherwise make the server read any repository on its disk.
    pub allow_file_repos: bool,
    /// Checks one promotion step (`uses`, `config`) of a Stage,
    /// PromotionTask or ClusterPromotionTask: the server passes the step
    /// registry's check, so an unknown step or a bad config is refused
    /// with its field path before it can run. None: steps are not checked.
    pub step_check: Option<StepCheck>,
}

/// See [`AdmissionSettings::step_check`].
pub type StepCheck = fn(uses: &str, config: &Value) -> Result<(), String>;

/// Where a kind keeps its promotion steps.
fn steps_path(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "Stage" => Some((
            "/spec/promotionTemplate/spec/steps",
            "spec.promotionTemplate.spec.steps",
        )),
        "PromotionTask" | "ClusterPromotionTask" => Some(("/spec/steps", "spec.steps")),
        _ => None,
    }
}

/// Runs `check` on every step of `obj` that names one with `uses`. As
/// kube-apiserver ratchets validation, steps an update leaves as they were
/// (a status write, a label change) are not checked again, so an object
/// stored before a check existed keeps working.
fn check_steps(check: StepCheck, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let Some((pointer, path)) = steps_path(kind) else {
        return Vec::new();
    };
    let Some(steps) = obj.pointer(pointer).and_then(Value::as_array) else {
        return Vec::new();
    };
    if old.is_some_and(|o| o.pointer(pointer) == obj.pointer(pointer)) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(uses) = step
            .get("uses")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        else {
            continue;
        };
        let config = step.get("config").cloned().unwrap_or(Value::Null);
        if let Err(message) = check(uses, &config) {
            let field = if message.starts_with("no promotion step named") {
                "uses"
            } else {
                "config"
            };
            errors.push(FieldError {
                path: format!("{path}[{i}].{field}"),
                message,
            });
        }
    }
    errors
}

/// An object ready to store, with warnings for the client.
pub struct Admitted {
    /// The object.
    pub obj: Value,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
}

/// Runs admission for a create (`old` None) or an update.
pub fn admit(
    store: &dyn AdmissionStore,
    settings: &AdmissionSettings,
    info: &'static ResourceInfo,
    ns: &str,
    mut obj: Value,
    old: Option<&Value>,
    fv: FieldValidation,
) -> ApiResult<Admitted> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body must be a {} object",
            info.kind
        )));
    };
    let want_av = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "apiVersion {av:?} does not match the request path, which serves {want_av}"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(info.kind));
        }
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "kind {k:?} does not match the request path, which serves {}",
                info.kind
            )));
        }
        _ => {}
    }
    if let Some(body_ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str)
        && !body_ns.is_empty()
        && info.namespaced()
        && body_ns != ns
    {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({body_ns}) does not match the namespace on the request ({ns})"
        )));
    }
    defaults::apply(info.kind, &mut obj);
    if info.kind == "Secret" {
        fold_string_data(&mut obj)?;
        if old.is_none() {
            fill_service_account_token(ns, &mut obj);
        }
    }
    if old.is_none() && info.group == kargo_api::KARGO_GROUP && info.namespaced() {
        require_project(store, ns)?;
    }
    if info.kind == "Freight" {
        admit_freight(store, info, ns, &mut obj)?;
    }
    if info.kind == "Promotion" && old.is_none() {
        crate::promotion_admission::admit_new_promotion(store, ns, &mut obj)?;
    }
    let outcome = match (info.kind, old) {
        ("Warehouse", _) => kargo_api::validate::warehouse_with(&obj, settings.allow_file_repos),
        ("Freight", Some(old)) => kargo_api::validate::freight_update(&obj, old),
        _ => (info.validate)(&obj),
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut warnings = Vec::new();
    if !outcome.unknown_fields.is_empty() {
        let list = outcome
            .unknown_fields
            .iter()
            .map(|f| format!("unknown field {f:?}"));
        match fv {
            // As kube-apiserver: strict decoding fails before validation.
            FieldValidation::Strict => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!(
                        "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                        list.collect::<Vec<_>>().join(", "),
                        kind = info.kind,
                        version = info.version,
                    ),
                ));
            }
            FieldValidation::Warn => warnings.extend(list),
            FieldValidation::Ignore => {}
        }
        // As kube-apiserver prunes them: unknown fields are never stored.
        for path in &outcome.unknown_fields {
            prune(&mut obj, path);
        }
    }
    let mut errors = outcome.errors;
    if let Some(check) = settings.step_check {
        errors.extend(check_steps(check, info.kind, &obj, old));
    }
    if let Some(old) = old {
        errors.extend(check_update(info.kind, old, &obj));
    } else if info.kind == "Freight" && errors.is_empty() {
        errors.extend(check_freight_origin(store, ns, &obj)?);
    }
    if !name.is_empty() && !kargo_api::validate::is_dns1123_subdomain(&name) {
        errors.insert(0, FieldError {
            path: "metadata.name".into(),
            message: format!("invalid name {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        });
    }
    errors.extend(crate::object_meta::validate(&obj));
    if !errors.is_empty() {
        return Err(ApiError::invalid(info.kind, info.group, &name, &errors));
    }
    Ok(Admitted { obj, warnings })
}

/// Removes the field at a path as `kargo_api::validate` writes them
/// (`spec.a[0].b`, `metadata.labels[example.com/x]`).
fn prune(obj: &mut Value, path: &str) {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '.' && c != '[' {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        if c == '[' {
            tokens.push(chars.by_ref().take_while(|c| *c != ']').collect());
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut node = obj;
    for t in parents {
        let next = match node {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Value::Object(m) = node {
        m.remove(last);
    }
}

/// Kargo's objects live in projects: creating one in a namespace that is
/// missing, or not labelled `kargo.akuity.io/project: "true"`, is refused
/// as Kargo's webhooks refuse it, with a hint on how to make the project.
fn require_project(store: &dyn AdmissionStore, ns: &str) -> ApiResult<()> {
    let hint = format!(
        "Kargo objects live in projects; create it with `kargo create project {ns}` (or apply a Project named {ns:?} first)"
    );
    let ns_info = kargo_api::lookup_kind("v1", "Namespace").expect("registered");
    let namespace = match store.get(ns_info, "", ns) {
        Ok(v) => v,
        Err(kargo_store::StoreError::NotFound { .. }) => {
            let mut e = ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("Namespace {ns:?} not found: {hint}"),
            );
            e.details = Some(json!({"name": ns, "kind": "Namespace"}));
            return Err(e);
        }
        Err(e) => return Err(e.into()),
    };
    let is_project = namespace
        .pointer("/metadata/labels")
        .and_then(|l| l.get(labels::PROJECT))
        .and_then(Value::as_str)
        == Some("true");
    if is_project {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "metadata.namespace: Invalid value: {ns:?}: namespace {ns:?} is not a project: {hint}"
        ),
    ))
}

/// Freight is named by its content and gets a unique alias.
fn admit_freight(
    store: &dyn AdmissionStore,
    info: &'static ResourceInfo,
    ns: &str,
    obj: &mut Value,
) -> ApiResult<()> {
    // Decoded without its status, which this does not read and which can
    // be most of a Freight (an entry per Stage it was verified in).
    // (Put back where it was, so the stored text keeps its key order.)
    let status = obj.as_object_mut().and_then(|m| {
        let at = m.keys().position(|k| k == "status")?;
        Some((at, m.shift_remove("status")?))
    });
    let decoded = <Freight as serde::Deserialize>::deserialize(&*obj);
    if let (Some((at, status)), Some(m)) = (status, obj.as_object_mut()) {
        m.shift_insert(at, "status".into(), status);
    }
    let Ok(f) = decoded else {
        return Ok(());
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        obj["metadata"]["name"] = json!(f.compute_id());
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("generateName");
        }
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let alias = f.alias().map(String::from);
    match alias {
        Some(a) => {
            let holders = store.names_with_label(info, ns, labels::ALIAS, &a)?;
            if holders.iter().any(|h| *h != name) {
                return Err(ApiError::invalid(
                    "Freight",
                    info.group,
                    &name,
                    &[FieldError {
                        path: "metadata.labels[kargo.akuity.io/alias]".into(),
                        message: format!("alias {a:?} is already used by Freight {:?}", holders[0]),
                    }],
                ));
            }
        }
        None => {
            let mut err = None;
            let a = freight_alias::unique_alias(|cand| {
                match store.names_with_label(info, ns, labels::ALIAS, cand) {
                    Ok(v) => !v.is_empty(),
                    Err(e) => {
                        err = Some(e);
                        false
                    }
                }
            });
            if let Some(e) = err {
                return Err(e.into());
            }
            let md = obj["metadata"].as_object_mut().expect("metadata set above");
            let l = md.entry("labels").or_insert_with(|| json!({}));
            l[labels::ALIAS] = json!(a);
        }
    }
    defaults::apply("Freight", obj);
    Ok(())
}

/// A new Secret of type `kubernetes.io/service-account-token` naming its
/// ServiceAccount gets its token (and namespace) as kube's token
/// controller fills them: the bearer token stays valid while the Secret
/// and the ServiceAccount exist, so deleting the Secret revokes it.
fn fill_service_account_token(ns: &str, obj: &mut Value) {
    use base64::Engine;
    let is_token = obj.get("type").and_then(Value::as_str) == Some(kargo_rbac::SA_TOKEN_TYPE)
        && obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(kargo_rbac::SA_NAME_ANNOTATION))
            .is_some();
    if !is_token || obj.pointer("/data/token").is_some() {
        return;
    }
    let bytes: [u8; 32] = rand::random();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let token = format!("kargo-sa.{}", hex::encode(bytes));
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    obj["data"]["token"] = json!(b64(&token));
    obj["data"]["namespace"] = json!(b64(ns));
}

/// As kube-apiserver does: `stringData` is merged into `data` (base64) and
/// dropped, so Secrets are stored one way.
fn fold_string_data(obj: &mut Value) -> ApiResult<()> {
    use base64::Engine;
    let Some(map) = obj.as_object_mut() else {
        return Ok(());
    };
    let Some(sd) = map.remove("stringData") else {
        return Ok(());
    };
    let Value::Object(sd) = sd else {
        return Err(ApiError::invalid(
            "Secret",
            "",
            "",
            &[FieldError {
                path: "stringData".into(),
                message: "must be a map of strings".into(),
            }],
        ));
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    let Some(data) = data.as_object_mut() else {
        return Err(ApiError::invalid(
            "Secret",
            "",
            "",
            &[FieldError {
                path: "data".into(),
                message: "must be a map of base64 strings".into(),
            }],
        ));
    };
    for (k, v) in sd {
        let Value::String(text) = v else {
            return Err(ApiError::invalid(
                "Secret",
                "",
                "",
                &[FieldError {
                    path: format!("stringData.{k}"),
                    message: "must be a string".into(),
                }],
            ));
        };
        data.insert(
            k,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    Ok(())
}

/// New Freight must come from an existing Warehouse and carry only
/// artifacts its subscriptions describe, at most one per subscription.
fn check_freight_origin(
    store: &dyn AdmissionStore,
    ns: &str,
    obj: &Value,
) -> ApiResult<Vec<FieldError>> {
    use kargo_api::freight_id::{normalize_chart_repo_url, normalize_git_url};
    let Ok(f) = serde_json::from_value::<Freight>(obj.clone()) else {
        return Ok(Vec::new());
    };
    let winfo =
        kargo_api::lookup_kind("kargo.akuity.io/v1alpha1", "Warehouse").expect("registered");
    let w: kargo_api::Warehouse = match store.get_text(winfo, ns, &f.origin.name) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(w) => w,
            Err(_) => return Ok(Vec::new()),
        },
        Err(kargo_store::StoreError::NotFound { .. }) => {
            return Ok(vec![FieldError {
                path: "origin.name".into(),
                message: format!(
                    "Warehouse {:?} does not exist in project {ns:?}",
                    f.origin.name
                ),
            }]);
        }
        Err(e) => return Err(e.into()),
    };
    let mut errors = Vec::new();
    let mut used = std::collections::HashSet::new();
    let mut claim = |i: Option<usize>, path: String, what: String, errors: &mut Vec<FieldError>| {
        match i {
        None => errors.push(FieldError { path, message: format!("{what} is not a subscription of Warehouse {:?}", f.origin.name) }),
        Some(i) if !used.insert(i) => errors.push(FieldError { path, message: format!("{what}: subscription {i} of Warehouse {:?} already has an artifact in this Freight", f.origin.name) }),
        Some(_) => {}
    }
    };
    for (n, c) in f.commits.iter().enumerate() {
        let i = w.spec.subscriptions.iter().position(|s| {
            s.git
                .as_ref()
                .is_some_and(|g| normalize_git_url(&g.repo_url) == normalize_git_url(&c.repo_url))
        });
        claim(
            i,
            format!("commits[{n}].repoURL"),
            format!("git repository {:?}", c.repo_url),
            &mut errors,
        );
    }
    for (n, im) in f.images.iter().enumerate() {
        let i = w.spec.subscriptions.iter().position(|s| {
            s.image.as_ref().is_some_and(|x| {
                x.repo_url.trim_end_matches('/') == im.repo_url.trim_end_matches('/')
            })
        });
        claim(
            i,
            format!("images[{n}].repoURL"),
            format!("image repository {:?}", im.repo_url),
            &mut errors,
        );
    }
    for (n, ch) in f.charts.iter().enumerate() {
        let i = w.spec.subscriptions.iter().position(|s| {
            s.chart.as_ref().is_some_and(|x| {
                normalize_chart_repo_url(&x.repo_url) == normalize_chart_repo_url(&ch.repo_url)
                    && x.name == ch.name
            })
        });
        claim(
            i,
            format!("charts[{n}].repoURL"),
            format!("chart {:?} from {:?}", ch.name, ch.repo_url),
            &mut errors,
        );
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_store::Store;

    fn warehouse(url: &str) -> Value {
        json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
            "metadata": {"name": "w", "namespace": "p"},
            "spec": {"subscriptions": [{"git": {"repoURL": url}}]}})
    }

    fn admit_warehouse(url: &str, settings: AdmissionSettings) -> ApiResult<Admitted> {
        let store =
            Store::open(std::path::Path::new(":memory:")).unwrap_or_else(|e| panic!("store: {e}"));
        // Kargo's kinds live in projects: `p` is one.
        let ns_info = kargo_api::lookup_kind("v1", "Namespace")
            .unwrap_or_else(|| panic!("Namespace is served"));
        store
            .create(
                ns_info,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "p", "labels": {"kargo.akuity.io/project": "true"}}}),
            )
            .unwrap_or_else(|e| panic!("namespace: {e}"));
        let info = kargo_api::lookup_kind("kargo.akuity.io/v1alpha1", "Warehouse")
            .unwrap_or_else(|| panic!("Warehouse is served"));
        admit(
            &store,
            &settings,
            info,
            "p",
            warehouse(url),
            None,
            FieldValidation::Warn,
        )
    }

    #[test]
    fn steps_are_checked_with_their_field_paths() {
        fn check(uses: &str, config: &Value) -> Result<(), String> {
            match uses {
                "known" if config.get("path").is_some() => Ok(()),
                "known" => Err("invalid config: path: required".into()),
                other => Err(format!("no promotion step named {other:?}")),
            }
        }
        let stage = json!({"spec": {"promotionTemplate": {"spec": {"steps": [
            {"uses": "known", "config": {"path": "a"}},
            {"uses": "known", "config": {}},
            {"uses": "typo"},
            {"task": {"name": "t"}}
        ]}}}});
        let errors = check_steps(check, "Stage", &stage, None);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "spec.promotionTemplate.spec.steps[1].config: invalid config: path: required",
                "spec.promotionTemplate.spec.steps[2].uses: no promotion step named \"typo\"",
            ]
        );
        let task = json!({"spec": {"steps": [{"uses": "typo"}]}});
        assert_eq!(
            check_steps(check, "ClusterPromotionTask", &task, None)[0].path,
            "spec.steps[0].uses"
        );
        assert!(check_steps(check, "Warehouse", &task, None).is_empty());
        // Unchanged steps are not checked again (a status write); changed ones are.
        let mut relabelled = stage.clone();
        relabelled["metadata"] = json!({"labels": {"a": "b"}});
        assert!(check_steps(check, "Stage", &relabelled, Some(&stage)).is_empty());
        let fixed = json!({"spec": {"promotionTemplate": {"spec": {"steps": [{"uses": "typo"}]}}}});
        assert_eq!(check_steps(check, "Stage", &fixed, Some(&stage)).len(), 1);
    }

    #[test]
    fn repo_urls_are_refused_with_422_naming_the_field() {
        let off = AdmissionSettings::default();
        let on = AdmissionSettings {
            allow_file_repos: true,
            ..Default::default()
        };
        let rows = [
            ("--upload-pack=touch /tmp/x", "must not start with '-'"),
            ("ext::sh -c touch% /tmp/x", "remote-helper"),
            (
                "gopher://example.com/r.git",
                "not a supported git repository URL",
            ),
            ("file:///srv/r.git", "--allow-file-repos"),
        ];
        for (url, why) in rows {
            let Err(e) = admit_warehouse(url, off) else {
                panic!("{url:?} was admitted");
            };
            assert_eq!(e.code, StatusCode::UNPROCESSABLE_ENTITY, "{url:?}");
            assert!(
                e.message.contains("spec.subscriptions[0].git.repoURL") && e.message.contains(why),
                "{url:?}: {}",
                e.message
            );
            let causes = e
                .details
                .as_ref()
                .and_then(|d| d.get("causes"))
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                causes[0]["field"], "spec.subscriptions[0].git.repoURL",
                "{causes}"
            );
        }
        // The server's setting lets file:// in, and nothing else.
        assert!(admit_warehouse("file:///srv/r.git", on).is_ok());
        assert!(admit_warehouse("--upload-pack=x", on).is_err());
        assert!(admit_warehouse("ext::sh -c x", on).is_err());
        assert!(admit_warehouse("https://github.com/example/r.git", off).is_ok());
        assert!(admit_warehouse("git@github.com:example/r.git", off).is_ok());
    }

    #[test]
    fn prune_removes_exactly_the_unknown_field() {
        let mut v = json!({"spec": {"a": [{"b": 1, "typo": 2}], "verifcation": {}},
            "metadata": {"labels": {"example.com/x": "1", "y": "2"}}});
        prune(&mut v, "spec.a[0].typo");
        prune(&mut v, "spec.verifcation");
        prune(&mut v, "metadata.labels[example.com/x]");
        prune(&mut v, "spec.missing.deeper");
        assert_eq!(
            v,
            json!({"spec": {"a": [{"b": 1}]}, "metadata": {"labels": {"y": "2"}}})
        );
    }
}
