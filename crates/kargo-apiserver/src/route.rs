//! Parses Kubernetes REST paths (`/api/v1/...`, `/apis/{group}/{version}/...`)
//! into what they address: discovery, a collection or one object.

use crate::status::{ApiError, ApiResult};
use kargo_api::{ResourceInfo, lookup_plural};

/// What a request path addresses.
pub enum Target {
    /// `/api/v1` or `/apis/{group}/{version}`.
    Discovery {
        /// Group (`""` for core).
        group: String,
        /// Version.
        version: String,
    },
    /// A collection: all namespaces (`ns` None) or one namespace.
    Collection {
        /// Kind.
        info: &'static ResourceInfo,
        /// Namespace, when the path names one.
        ns: Option<String>,
    },
    /// One object, or its status subresource.
    Object {
        /// Kind.
        info: &'static ResourceInfo,
        /// Namespace (empty for cluster-scoped).
        ns: String,
        /// Name.
        name: String,
        /// `/status`.
        status: bool,
    },
}

fn find(group: &str, version: &str, plural: &str, path: &str) -> ApiResult<&'static ResourceInfo> {
    lookup_plural(group, plural)
        .filter(|i| i.version == version)
        .ok_or_else(|| ApiError::no_route(path))
}

/// Parses a path under `/api` or `/apis`.
pub fn parse(path: &str) -> ApiResult<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    let namespaced_path = rest.first() == Some(&"namespaces")
        && (rest.len() >= 4 || (rest.len() == 3 && !(group.is_empty() && rest[2] == "status")));
    let t = if rest.is_empty() {
        Target::Discovery {
            group: group.into(),
            version: version.into(),
        }
    } else if namespaced_path {
        let ns = rest[1].to_string();
        let info = find(group, version, rest[2], path)?;
        if !info.namespaced() {
            return Err(ApiError::no_route(path));
        }
        match &rest[3..] {
            [] => Target::Collection { info, ns: Some(ns) },
            [name] => Target::Object {
                info,
                ns,
                name: (*name).into(),
                status: false,
            },
            [name, "status"] if info.has_status => Target::Object {
                info,
                ns,
                name: (*name).into(),
                status: true,
            },
            _ => return Err(ApiError::no_route(path)),
        }
    } else {
        let info = find(group, version, rest[0], path)?;
        match &rest[1..] {
            [] => Target::Collection { info, ns: None },
            [name] if !info.namespaced() => Target::Object {
                info,
                ns: String::new(),
                name: (*name).into(),
                status: false,
            },
            [name, "status"] if !info.namespaced() && info.has_status => Target::Object {
                info,
                ns: String::new(),
                name: (*name).into(),
                status: true,
            },
            _ => return Err(ApiError::no_route(path)),
        }
    };
    Ok(t)
}
