//! Glue between the registry and kube-rs: dynamic `Api`s for any kind,
//! names the way kubectl prints them, and API errors as one line.

use anyhow::{Result, anyhow};
use kargo_api::ResourceInfo;
use kube::Resource;
use kube::api::{Api, DynamicObject};

/// The kube-rs description of a kind.
pub use kargo_server::client::api_resource;

/// The URL path of the kind's collection in `ns` (every namespace when
/// `None`; ignored for cluster-scoped kinds).
pub fn collection_path(info: &ResourceInfo, ns: Option<&str>) -> String {
    DynamicObject::url_path(
        &api_resource(info),
        if info.namespaced() { ns } else { None },
    )
}

/// A dynamic API for the kind in `ns` (ignored for cluster-scoped kinds).
pub fn api(
    client: &kube::Client,
    info: &ResourceInfo,
    ns: Option<&str>,
) -> Result<Api<DynamicObject>> {
    let ar = api_resource(info);
    if info.namespaced() {
        let ns = ns.ok_or_else(|| anyhow!("{} objects live in a project: pass --project (-p) or set a default with `kargo config set-project`", info.kind))?;
        Ok(Api::namespaced_with(client.clone(), ns, &ar))
    } else {
        Ok(Api::all_with(client.clone(), &ar))
    }
}

/// `stage.kargo.akuity.io/dev`.
pub fn qualified_name(info: &ResourceInfo, name: &str) -> String {
    if info.group.is_empty() {
        format!("{}/{name}", info.singular)
    } else {
        format!("{}.{}/{name}", info.singular, info.group)
    }
}

/// Turns a kube error into one readable line.
pub fn explain(e: kube::Error) -> anyhow::Error {
    if let Some(words) = crate::unreachable::describe(&e) {
        return anyhow!(words);
    }
    match e {
        kube::Error::Api(s) => anyhow!("{}", s.message),
        other => anyhow!("{other}"),
    }
}

/// Resolves what the user typed as a kind.
pub fn resolve(kind: &str) -> Result<&'static ResourceInfo> {
    kargo_api::registry::resolve_name(kind).ok_or_else(|| {
        anyhow!("unknown resource type {kind:?}: expected one of projects, warehouses, stages, freight, promotions, promotiontasks, analysistemplates, analysisruns, ...")
    })
}
