//! The REST verbs: get, list, create, update (PUT), patch, delete, for
//! objects and their status subresource, with Kubernetes' query
//! parameters and content negotiation (JSON, YAML bodies; Table output).

use crate::admission::{Admitted, FieldValidation, admit};
use crate::patch::{json_patch, merge_patch};
use crate::route::{Target, parse};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::{ApiServer, discovery, list_stream, table, watch};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use kargo_api::ResourceInfo;
use kargo_rbac::UserInfo;
use kargo_store::{Part, Preconditions, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest accepted request body (as Kubernetes: 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Parsed query string.
pub type Query = HashMap<String, String>;

fn query(uri: &Uri) -> Query {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(code: StatusCode, v: &Value, warnings: &[String]) -> Response {
    json_text_response(code, v.to_string(), warnings)
}

/// A JSON text as a response with warnings: the text a write stored is
/// sent as it is (a Freight verified in every Stage of a long pipeline
/// is large, and encoding it again costs as much as storing it).
fn json_text_response(code: StatusCode, text: impl Into<Body>, warnings: &[String]) -> Response {
    let mut r = (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        text.into(),
    )
        .into_response();
    for w in warnings {
        if let Ok(h) = format!("299 - {:?}", w).parse() {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    r
}

/// The response body for a written object: the text the store wrote when
/// there is one (shared, not copied), else the object encoded.
fn stored_text(obj: &Value, text: Option<std::sync::Arc<str>>) -> bytes::Bytes {
    /// Lends an `Arc<str>`'s bytes to `Bytes` without copying them.
    struct Text(std::sync::Arc<str>);
    impl AsRef<[u8]> for Text {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    match text {
        Some(t) => bytes::Bytes::from_owner(Text(t)),
        None => obj.to_string().into(),
    }
}

/// A Table's JSON text as a 200 response.
fn table_response(table: serde_json::Result<String>) -> ApiResult<Response> {
    let text = table.map_err(|e| ApiError::from(StoreError::from(e)))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

/// Whether the client asked for a `meta.k8s.io` Table.
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
}

/// Decodes a JSON, YAML or (for the core kinds kubectl's create verbs
/// send) Kubernetes protobuf body. A request without `Content-Type` is
/// read as JSON; any other media type is 415, as kube-apiserver answers it.
pub fn body_value(headers: &HeaderMap, bytes: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let yaml = match media.as_str() {
        "application/json" | "" | "*/*" => false,
        "application/yaml" | "application/x-yaml" | "text/yaml" => true,
        crate::protobuf::MEDIA_TYPE => return crate::protobuf::decode(bytes),
        _ => return Err(ApiError::unsupported_media(ct)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if yaml {
        yaml_serde::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

/// How much of an oversized body is read and dropped so the client, which
/// is still sending, receives the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
/// How long draining an oversized body may take.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a request body of at most [`MAX_BODY`] bytes. A larger body is a
/// 413 `Status`: one announced by `Content-Length` is refused before it is
/// read (a client that sent `Expect: 100-continue` then never sends it);
/// otherwise the rest is read and dropped (up to [`DRAIN_LIMIT`], within
/// [`DRAIN_TIMEOUT`]) so the client is still listening when the answer
/// comes.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<bytes::Bytes> {
    use http_body_util::BodyExt;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let expects_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if announced.is_some_and(|n| n > MAX_BODY) && expects_continue {
        return Err(ApiError::too_large(MAX_BODY));
    }
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut read = 0usize;
    let drain = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                read += data.len();
                if read <= MAX_BODY {
                    buf.extend_from_slice(&data);
                } else if read > DRAIN_LIMIT {
                    break;
                }
            }
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() || read > MAX_BODY {
        return Err(ApiError::too_large(MAX_BODY));
    }
    Ok(buf.freeze())
}

/// Entry point for everything under `/api` and `/apis`.
pub async fn handle(
    server: ApiServer,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    user: Option<UserInfo>,
    body: Body,
) -> Response {
    match dispatch(server, method, uri, headers, user, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    server: ApiServer,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    user: Option<UserInfo>,
    body: Body,
) -> ApiResult<Response> {
    let path = uri.path().to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // Group-level discovery.
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["api"]) => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::core_versions(),
                &[],
            ));
        }
        (Method::GET, ["apis"]) => {
            return Ok(json_response(StatusCode::OK, &discovery::group_list(), &[]));
        }
        (Method::GET, ["apis", g]) => {
            return discovery::group(g)
                .map(|d| json_response(StatusCode::OK, &d, &[]))
                .ok_or_else(|| ApiError::no_route(&path));
        }
        _ => {}
    }
    let q = query(&uri);
    match (method, parse(&path)?) {
        (Method::GET, Target::Discovery { group, version }) => {
            discovery::resource_list(&group, &version)
                .map(|d| json_response(StatusCode::OK, &d, &[]))
                .ok_or_else(|| ApiError::no_route(&path))
        }
        (Method::GET, Target::Collection { info, ns }) => {
            if matches!(q.get("watch").map(String::as_str), Some("1" | "true")) {
                watch::serve(server, info, ns, &q, wants_table(&headers)).await
            } else {
                list(&server, info, ns.as_deref(), &q, wants_table(&headers)).await
            }
        }
        (Method::POST, Target::Collection { info, ns }) => {
            let ns = ns.unwrap_or_default();
            let v = body_value(&headers, &read_body(&headers, body).await?)?;
            create(&server, info, &ns, v, &q, user).await
        }
        (Method::GET, Target::Object { info, ns, name, .. }) => {
            let obj = blocking(&server, move |s| s.store.get(info, &ns, &name)).await?;
            if wants_table(&headers) {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let inc = q
                    .get("includeObject")
                    .map(String::as_str)
                    .unwrap_or("Metadata");
                let body = obj.to_string();
                return table_response(table::table(info, &[&body], &rv, None, inc));
            }
            Ok(json_response(StatusCode::OK, &obj, &[]))
        }
        (
            Method::PUT,
            Target::Object {
                info,
                ns,
                name,
                status,
            },
        ) => {
            let v = body_value(&headers, &read_body(&headers, body).await?)?;
            update(&server, info, &ns, &name, v, status, &q, user).await
        }
        (
            Method::PATCH,
            Target::Object {
                info,
                ns,
                name,
                status,
            },
        ) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let bytes = read_body(&headers, body).await?;
            patch(&server, info, &ns, &name, status, &ct, &bytes, &q, user).await
        }
        (Method::DELETE, Target::Object { info, ns, name, .. }) => {
            let bytes = read_body(&headers, body).await?;
            let opts: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
                json!({})
            } else {
                body_value(&headers, &bytes)?
            };
            delete(&server, info, &ns, &name, &opts, &q).await
        }
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "method {m} is not supported on {path}"
        ))),
    }
}

/// Admission, then (for a request with a user) the RBAC checks inside
/// writes: `promote` for Promotions and approvals, no escalation.
fn admit_as(
    s: &ApiServer,
    user: Option<&UserInfo>,
    info: &'static ResourceInfo,
    ns: &str,
    v: Value,
    old: Option<&Value>,
    fv: FieldValidation,
) -> ApiResult<Admitted> {
    let mut admitted = admit(&s.store, &s.admission, info, ns, v, old, fv)?;
    if let (Some(user), Some(authz)) = (user, &s.authz) {
        authz.admit(user, info, ns, &mut admitted.obj, old)?;
    }
    Ok(admitted)
}

/// Runs store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    server: &ApiServer,
    f: impl FnOnce(&ApiServer) -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    let s = server.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        })?
        .map_err(ApiError::from)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    ns: String,
    name: String,
}

fn selectors(info: &ResourceInfo, q: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let ls = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fs = FieldSelector::parse_for(
        info.kind,
        q.get("fieldSelector").map(String::as_str).unwrap_or(""),
    )
    .map_err(ApiError::bad_request)?;
    Ok((ls, fs))
}

async fn list(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> ApiResult<Response> {
    let (ls, fs) = selectors(info, q)?;
    let limit: usize = match q.get("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let after: Option<Continue> = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?,
        ),
        None => None,
    };
    // A field selector on metadata.namespace narrows the scan like a path namespace.
    let ns = ns
        .map(String::from)
        .or_else(|| fs.pinned("metadata.namespace").map(String::from));
    let filtering = !ls.is_empty() || q.get("fieldSelector").is_some_and(|f| !f.is_empty());
    let filter: list_stream::Filter = filtering.then(|| Arc::new((ls, fs)));
    let after = after.map(|c| (c.ns, c.name));
    if limit == 0 && !as_table {
        let first = list_stream::read_page(server, info, ns.clone(), filter.clone(), after).await?;
        let head = list_head(info, &first.rv.to_string(), None);
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            list_stream::body(server, info, ns, filter, head, first),
        )
            .into_response());
    }
    let (rows, rv, next) = blocking(server, {
        let ns = ns.clone();
        move |s| {
            let mut out = Vec::new();
            let mut cursor = after;
            let mut rv = 0;
            loop {
                let batch = if limit == 0 { 0 } else { (limit + 1).max(64) };
                let (page, list_rv) = s.store.list(
                    info,
                    ns.as_deref(),
                    cursor.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    batch,
                )?;
                if rv == 0 {
                    rv = list_rv;
                }
                let exhausted = batch == 0 || page.len() < batch;
                for row in page {
                    cursor = Some((row.ns.clone(), row.name.clone()));
                    if !list_stream::keeps(&filter, &row)? {
                        continue;
                    }
                    if limit > 0 && out.len() == limit {
                        // There is at least one more: continue after the last returned.
                        return Ok((out, rv, true));
                    }
                    out.push(row);
                }
                if exhausted {
                    return Ok((out, rv, false));
                }
            }
        }
    })
    .await?;
    let cont = if next {
        rows.last().map(|r| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({"ns": r.ns, "name": r.name}).to_string())
        })
    } else {
        None
    };
    let rv_s = rv.to_string();
    if as_table {
        let inc = q
            .get("includeObject")
            .map(String::as_str)
            .unwrap_or("Metadata");
        let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
        return table_response(table::table(info, &bodies, &rv_s, cont.as_deref(), inc));
    }
    // Splice stored JSON text straight into the list: no re-encoding.
    let head = list_head(info, &rv_s, cont.as_deref());
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        list_body(head, rows),
    )
        .into_response())
}

/// A JSON list's opening, up to its first item.
fn list_head(info: &ResourceInfo, rv: &str, cont: Option<&str>) -> String {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        info.kind,
        info.api_version(),
        meta
    )
}

/// A list's body: `head`, the rows' stored texts comma-separated, `]}`.
/// Sent as a stream of the texts themselves (each moved, not copied, and
/// freed once written): a list of 10,000 objects never exists twice in
/// memory, as it did when built into one string from the rows (a LIST
/// of 9,000 Events, 14.6 MB, raised the server's peak RSS by 30 MB).
fn list_body(head: String, rows: Vec<kargo_store::RawObject>) -> Body {
    let items = rows.into_iter().enumerate().flat_map(|(i, r)| {
        let comma = (i > 0).then(|| bytes::Bytes::from_static(b","));
        comma.into_iter().chain([bytes::Bytes::from(r.body)])
    });
    let chunks = std::iter::once(bytes::Bytes::from(head))
        .chain(items)
        .chain([bytes::Bytes::from_static(b"]}")])
        .map(Ok::<_, std::convert::Infallible>);
    Body::from_stream(futures::stream::iter(chunks))
}

fn dry_run(q: &Query) -> bool {
    q.get("dryRun").is_some_and(|d| d == "All")
}

async fn create(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: &str,
    v: Value,
    q: &Query,
    user: Option<UserInfo>,
) -> ApiResult<Response> {
    let fv = FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?;
    let dry = dry_run(q);
    let ns = ns.to_string();
    let (obj, warnings) = blocking(server, move |s| {
        let admitted = match admit_as(s, user.as_ref(), info, &ns, v, None, fv) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if dry {
            return Ok(Ok((admitted.obj, admitted.warnings)));
        }
        let created = s.store.create(info, &ns, admitted.obj);
        if let (Ok(o), Some(u)) = (&created, &user) {
            crate::kargo_events::record_created(&s.store, u, info.kind, &ns, o);
        }
        Ok(created
            .map(|o| (o, admitted.warnings))
            .map_err(ApiError::from))
    })
    .await??;
    Ok(json_response(StatusCode::CREATED, &obj, &warnings))
}

#[allow(clippy::too_many_arguments)]
async fn update(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    v: Value,
    status: bool,
    q: &Query,
    user: Option<UserInfo>,
) -> ApiResult<Response> {
    let fv = FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?;
    let part = if status { Part::Status } else { Part::Main };
    let (ns, name) = (ns.to_string(), name.to_string());
    let dry = dry_run(q);
    let (obj, warnings) = blocking(server, move |s| {
        let old = match s.store.get_shared(info, &ns, &name) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e.into())),
        };
        let admitted = match admit_as(s, user.as_ref(), info, &ns, v, Some(&old), fv) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if dry {
            return Ok(Ok((stored_text(&admitted.obj, None), admitted.warnings)));
        }
        let approved_before = crate::authz::approved_for(&old);
        let stored = s
            .store
            .update_from(info, &ns, &name, admitted.obj, part, old);
        if let (Ok((o, _)), Some(u)) = (&stored, &user)
            && info.kind == "Freight"
        {
            crate::authz::record_approvals(&s.store, u, &ns, approved_before.as_ref(), o);
        }
        Ok(stored
            .map(|(o, text)| (stored_text(&o, text), admitted.warnings))
            .map_err(ApiError::from))
    })
    .await??;
    Ok(json_text_response(StatusCode::OK, obj, &warnings))
}

#[allow(clippy::too_many_arguments)]
async fn patch(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    status: bool,
    ct: &str,
    bytes: &[u8],
    q: &Query,
    user: Option<UserInfo>,
) -> ApiResult<Response> {
    let fv = FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?;
    let kind = if ct.starts_with("application/json-patch+json") {
        PatchKind::Json
    } else if ct.starts_with("application/merge-patch+json")
        || ct.starts_with("application/strategic-merge-patch+json")
    {
        PatchKind::Merge
    } else if ct.starts_with("application/apply-patch") {
        PatchKind::Apply
    } else {
        return Err(ApiError::unsupported_media_of(
            ct,
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
                "application/strategic-merge-patch+json",
            ],
        ));
    };
    let patch_doc: Value = if kind == PatchKind::Apply {
        yaml_serde::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("the apply patch is not valid YAML or JSON: {e}"))
        })?
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))?
    };
    if kind == PatchKind::Apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
        return Err(ApiError::bad_request(
            "fieldManager is required for apply patches",
        ));
    }
    let part = if status { Part::Status } else { Part::Main };
    let (ns, name) = (ns.to_string(), name.to_string());
    let dry = dry_run(q);
    let (obj, warnings, created) = blocking(server, move |s| {
        let apply = |old: &Value| -> Result<Value, ApiError> {
            let mut doc = old.clone();
            match kind {
                PatchKind::Json => {
                    json_patch(&mut doc, &patch_doc).map_err(ApiError::bad_request)?
                }
                PatchKind::Merge | PatchKind::Apply => merge_patch(&mut doc, &patch_doc),
            }
            Ok(doc)
        };
        // Server-side apply creates the object when it does not exist.
        if kind == PatchKind::Apply
            && !status
            && matches!(
                s.store.get(info, &ns, &name),
                Err(StoreError::NotFound { .. })
            )
        {
            let mut v = patch_doc.clone();
            if v.get("metadata").is_none_or(|m| !m.is_object()) {
                v["metadata"] = json!({});
            }
            v["metadata"]["name"] = json!(name);
            let admitted = match admit_as(s, user.as_ref(), info, &ns, v, None, fv) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            if dry {
                return Ok(Ok((
                    stored_text(&admitted.obj, None),
                    admitted.warnings,
                    true,
                )));
            }
            return Ok(s
                .store
                .create(info, &ns, admitted.obj)
                .map(|o| (stored_text(&o, None), admitted.warnings, true))
                .map_err(ApiError::from));
        }
        // Read, patch, admit, then write with the version read; retry when
        // someone else wrote in between (as kube-apiserver's GuaranteedUpdate).
        let pinned = patch_doc.pointer("/metadata/resourceVersion").is_some();
        for _ in 0..16 {
            let old = match s.store.get_shared(info, &ns, &name) {
                Ok(o) => o,
                Err(e) => return Ok(Err(e.into())),
            };
            let new = match apply(&old) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            let mut admitted = match admit_as(s, user.as_ref(), info, &ns, new, Some(&old), fv) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            if dry {
                return Ok(Ok((
                    stored_text(&admitted.obj, None),
                    admitted.warnings,
                    false,
                )));
            }
            if !pinned && let Some(rv) = old.pointer("/metadata/resourceVersion").cloned() {
                admitted.obj["metadata"]["resourceVersion"] = rv;
            }
            let approved_before = crate::authz::approved_for(&old);
            match s
                .store
                .update_from(info, &ns, &name, admitted.obj, part, old)
            {
                Ok((o, text)) => {
                    if let Some(u) = &user
                        && info.kind == "Freight"
                    {
                        crate::authz::record_approvals(
                            &s.store,
                            u,
                            &ns,
                            approved_before.as_ref(),
                            &o,
                        );
                    }
                    return Ok(Ok((stored_text(&o, text), admitted.warnings, false)));
                }
                Err(StoreError::Conflict(_)) if !pinned => continue,
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("{name:?} kept changing while the patch was applied; try again"),
        )))
    })
    .await??;
    Ok(json_text_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        obj,
        &warnings,
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PatchKind {
    Json,
    Merge,
    Apply,
}

async fn delete(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    opts: &Value,
    q: &Query,
) -> ApiResult<Response> {
    let pre = Preconditions {
        uid: opts
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        resource_version: opts
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
    };
    let (ns, name) = (ns.to_string(), name.to_string());
    if dry_run(q)
        || opts
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"))
    {
        let obj = blocking(server, move |s| s.store.get(info, &ns, &name)).await?;
        return Ok(json_response(StatusCode::OK, &obj, &[]));
    }
    let (obj, gone) = blocking(server, move |s| s.store.delete(info, &ns, &name, &pre)).await?;
    Ok(json_response(
        if gone {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        },
        &obj,
        &[],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> kargo_store::RawObject {
        kargo_store::RawObject {
            ns: "p".into(),
            name: name.into(),
            body: format!(r#"{{"metadata":{{"name":"{name}"}}}}"#),
        }
    }

    async fn text(body: Body) -> String {
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// GETs `path` from `app`; returns the status and the parsed body.
    async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
        use tower::ServiceExt;
        let req = http::Request::get(path).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let code = resp.status();
        let body = text(resp.into_body()).await;
        (
            code,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        )
    }

    fn names(list: &Value) -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items: {list}"))
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_list_longer_than_a_page_streams_every_row_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = kargo_store::Store::open(&dir.path().join("s.db")).unwrap();
        let namespaces = kargo_api::registry::lookup_plural("", "namespaces").unwrap();
        let configmaps = kargo_api::registry::lookup_plural("", "configmaps").unwrap();
        for ns in ["a", "b"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            store.create(namespaces, "", obj).unwrap();
        }
        // Pages of the store are 100 rows: 2 full pages and part of a third
        // in "a", one short page in "b".
        let counts = [("a", list_stream::PAGE_ROWS * 2 + 37), ("b", 5)];
        for (ns, n) in counts {
            for i in 0..n {
                let odd = (i % 2 == 1).to_string();
                let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i:04}"), "labels": {"odd": odd}}});
                store.create(configmaps, ns, obj).unwrap();
            }
        }
        let expected = |n: usize, keep: &dyn Fn(usize) -> bool| -> Vec<String> {
            (0..n)
                .filter(|i| keep(*i))
                .map(|i| format!("cm-{i:04}"))
                .collect()
        };
        let app = crate::router(store.clone());

        let (code, list) = get(&app, "/api/v1/namespaces/a/configmaps").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(list["kind"], "ConfigMapList");
        assert_eq!(
            list["metadata"]["resourceVersion"],
            store.current_rv().to_string()
        );
        assert_eq!(names(&list), expected(counts[0].1, &|_| true));

        // Across namespaces, ordered by namespace then name.
        let (_, all) = get(&app, "/api/v1/configmaps").await;
        let mut want = expected(counts[0].1, &|_| true);
        want.extend(expected(counts[1].1, &|_| true));
        assert_eq!(names(&all), want);
        let namespaces: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["namespace"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces.iter().filter(|n| **n == "b").count(), 5);
        assert!(namespaces.is_sorted());

        // A selector filters every page, not only the first.
        let (_, odd) = get(
            &app,
            "/api/v1/namespaces/a/configmaps?labelSelector=odd%3Dtrue",
        )
        .await;
        assert_eq!(names(&odd), expected(counts[0].1, &|i| i % 2 == 1));
        let (_, none) = get(
            &app,
            "/api/v1/namespaces/a/configmaps?labelSelector=odd%3Dmaybe",
        )
        .await;
        assert_eq!(names(&none), Vec::<String>::new());

        // With a limit the list is still cut into pages with a continue token.
        let (_, first) = get(&app, "/api/v1/namespaces/a/configmaps?limit=150").await;
        assert_eq!(names(&first), expected(150, &|_| true));
        let token = first["metadata"]["continue"].as_str().unwrap().to_string();
        let (_, rest) = get(
            &app,
            &format!("/api/v1/namespaces/a/configmaps?continue={token}"),
        )
        .await;
        assert_eq!(
            names(&rest),
            expected(counts[0].1, &|i| i >= 150),
            "a continue without a limit streams the rest"
        );
    }

    #[tokio::test]
    async fn a_list_body_is_the_rows_between_head_and_tail() {
        let head = || r#"{"kind":"StageList","items":["#.to_string();
        assert_eq!(
            text(list_body(head(), Vec::new())).await,
            r#"{"kind":"StageList","items":[]}"#
        );
        assert_eq!(
            text(list_body(head(), vec![row("a")])).await,
            r#"{"kind":"StageList","items":[{"metadata":{"name":"a"}}]}"#
        );
        let three = text(list_body(head(), vec![row("a"), row("b"), row("c")])).await;
        let v: Value = serde_json::from_str(&three).unwrap();
        let names: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
