//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`),
//! which kubectl's own create verbs send for built-in kinds (`kubectl create
//! namespace|secret|configmap`). A body is the 4-byte magic `k8s\0` and a
//! `runtime.Unknown` whose `raw` bytes hold the object; the object is
//! decoded with `k8s-pb`'s generated types and turned into the JSON the
//! store keeps, field by field. Every field of a decoded message is
//! destructured (no `..`), so a field this file does not carry is a
//! compile error, never a silent loss. Answers stay JSON, which every
//! client that sends protobuf also accepts.

use crate::status::{ApiError, ApiResult};
use base64::Engine;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The envelope's magic prefix.
const MAGIC: &[u8; 4] = b"k8s\0";

/// The core (`v1`) kinds whose protobuf bodies are read (besides
/// `DeleteOptions`): every core kind the server stores but Pod, whose
/// spec is not carried here.
pub const KINDS: &[&str] = &["Namespace", "Secret", "ConfigMap", "Event"];

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(bytes: &[u8]) -> ApiResult<Value> {
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return Err(ApiError::bad_request(
            "the protobuf body does not start with the Kubernetes envelope prefix \"k8s\\x00\"",
        ));
    };
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(rest).map_err(bad)?;
    let k8s_pb::apimachinery::pkg::runtime::Unknown {
        type_meta,
        raw,
        content_encoding,
        content_type,
    } = unknown;
    if content_encoding.as_deref().is_some_and(|e| !e.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "protobuf content encoding {:?} is not supported",
            content_encoding.unwrap_or_default()
        )));
    }
    if content_type
        .as_deref()
        .is_some_and(|t| !t.is_empty() && t != MEDIA_TYPE)
    {
        return Err(ApiError::bad_request(format!(
            "the protobuf envelope holds {:?}, expected {MEDIA_TYPE}",
            content_type.unwrap_or_default()
        )));
    }
    let tm = type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = raw.unwrap_or_default();
    if let Some(review) = crate::protobuf_reviews::decode(&api_version, &kind, &raw) {
        let mut obj = review?;
        obj.insert("apiVersion".into(), json!(api_version));
        obj.insert("kind".into(), json!(kind));
        return Ok(Value::Object(obj));
    }
    let mut obj = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace(core::Namespace::decode(&*raw).map_err(bad)?),
        ("v1", "Secret") => secret(core::Secret::decode(&*raw).map_err(bad)?),
        ("v1", "ConfigMap") => config_map(core::ConfigMap::decode(&*raw).map_err(bad)?),
        ("v1", "Event") => event(core::Event::decode(&*raw).map_err(bad)?),
        ("meta.k8s.io/v1" | "v1", "DeleteOptions") => {
            delete_options(meta::DeleteOptions::decode(&*raw).map_err(bad)?)
        }
        _ => {
            return Err(ApiError::unsupported_media_of(
                &format!("{MEDIA_TYPE} for {kind} ({api_version})"),
                &[
                    "application/json",
                    "application/yaml",
                    &format!("{MEDIA_TYPE} for v1 {} and DeleteOptions", KINDS.join(", ")),
                ],
            ));
        }
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn bad(e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("the request body is not valid protobuf: {e}"))
}

/// A JSON object that leaves out unset fields, as Go's `omitempty` does.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    /// A field that is a pointer in Go (`*bool`, `*int64`, `*string`):
    /// present whenever it was sent, zero values included.
    fn set(mut self, key: &str, v: Option<impl Into<Value>>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), v.into());
        }
        self
    }
    /// A plain Go string: Go's protobuf encoder writes it even when empty,
    /// its JSON leaves it out (`omitempty`), so an empty one is unset.
    fn text(self, key: &str, v: Option<String>) -> Self {
        self.set(key, v.filter(|s| !s.is_empty()))
    }
    /// A plain Go number (`int32`, `int64`): zero is unset, as above.
    fn num<N: Into<Value> + Default + PartialEq>(self, key: &str, v: Option<N>) -> Self {
        self.set(key, v.filter(|n| *n != N::default()))
    }
    fn obj(mut self, key: &str, v: Option<Map<String, Value>>) -> Self {
        if let Some(v) = v.filter(|m| !m.is_empty()) {
            self.0.insert(key.into(), Value::Object(v));
        }
        self
    }
    fn list(mut self, key: &str, v: Vec<Value>) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), Value::Array(v));
        }
        self
    }
    fn strings(self, key: &str, v: Vec<String>) -> Self {
        self.list(key, v.into_iter().map(Value::String).collect())
    }
    fn map(self, key: &str, v: BTreeMap<String, String>) -> Self {
        let m: Map<String, Value> = v.into_iter().map(|(k, v)| (k, json!(v))).collect();
        self.obj(key, Some(m))
    }
    fn bytes(self, key: &str, v: BTreeMap<String, Vec<u8>>) -> Self {
        let m: Map<String, Value> = v
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect();
        self.obj(key, Some(m))
    }
    fn done(self) -> Map<String, Value> {
        self.0
    }
}

/// `metav1.Time`: RFC 3339 to the second. Go writes its zero time (an
/// unset timestamp) as an empty message, which reads back as unset.
fn time(t: Option<meta::Time>) -> Option<String> {
    let meta::Time { seconds, nanos } = t?;
    if seconds.is_none() && nanos.is_none() {
        return None;
    }
    let ts = jiff::Timestamp::from_second(seconds.unwrap_or(0)).ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `metav1.MicroTime`: RFC 3339 to the microsecond (an empty message is
/// Go's zero time: unset).
fn micro_time(t: Option<meta::MicroTime>) -> Option<String> {
    let meta::MicroTime { seconds, nanos } = t?;
    if seconds.is_none() && nanos.is_none() {
        return None;
    }
    let ts = jiff::Timestamp::new(seconds.unwrap_or(0), nanos.unwrap_or(0) / 1000 * 1000).ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string())
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Option<Map<String, Value>> {
    let meta::ObjectMeta {
        name,
        generate_name,
        namespace,
        self_link: _, // deprecated; kube-apiserver ignores it too
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        managed_fields,
    } = m?;
    Some(
        Obj::default()
            .text("name", name)
            .text("generateName", generate_name)
            .text("namespace", namespace)
            .text("uid", uid)
            .text("resourceVersion", resource_version)
            .num("generation", generation)
            .set("creationTimestamp", time(creation_timestamp))
            .set("deletionTimestamp", time(deletion_timestamp))
            .set("deletionGracePeriodSeconds", deletion_grace_period_seconds)
            .map("labels", labels)
            .map("annotations", annotations)
            .list(
                "ownerReferences",
                owner_references.into_iter().map(owner_reference).collect(),
            )
            .strings("finalizers", finalizers)
            .list(
                "managedFields",
                managed_fields
                    .into_iter()
                    .map(managed_fields_entry)
                    .collect(),
            )
            .done(),
    )
}

fn owner_reference(r: meta::OwnerReference) -> Value {
    let meta::OwnerReference {
        api_version,
        kind,
        name,
        uid,
        controller,
        block_owner_deletion,
    } = r;
    Value::Object(
        Obj::default()
            .text("apiVersion", api_version)
            .text("kind", kind)
            .text("name", name)
            .text("uid", uid)
            .set("controller", controller)
            .set("blockOwnerDeletion", block_owner_deletion)
            .done(),
    )
}

fn managed_fields_entry(e: meta::ManagedFieldsEntry) -> Value {
    let meta::ManagedFieldsEntry {
        manager,
        operation,
        api_version,
        time: at,
        fields_type,
        fields_v1,
        subresource,
    } = e;
    let fields = fields_v1
        .and_then(|f| f.raw)
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
    Value::Object(
        Obj::default()
            .text("manager", manager)
            .text("operation", operation)
            .text("apiVersion", api_version)
            .set("time", time(at))
            .text("fieldsType", fields_type)
            .set("fieldsV1", fields)
            .text("subresource", subresource)
            .done(),
    )
}

fn namespace(n: core::Namespace) -> Map<String, Value> {
    let core::Namespace {
        metadata,
        spec,
        status,
    } = n;
    let spec = spec.map(|s| {
        let core::NamespaceSpec { finalizers } = s;
        Obj::default().strings("finalizers", finalizers).done()
    });
    let status = status.map(|s| {
        let core::NamespaceStatus { phase, conditions } = s;
        let conditions = conditions
            .into_iter()
            .map(|c| {
                let core::NamespaceCondition {
                    r#type,
                    status,
                    last_transition_time,
                    reason,
                    message,
                } = c;
                Value::Object(
                    Obj::default()
                        .text("type", r#type)
                        .text("status", status)
                        .set("lastTransitionTime", time(last_transition_time))
                        .text("reason", reason)
                        .text("message", message)
                        .done(),
                )
            })
            .collect();
        Obj::default()
            .text("phase", phase)
            .list("conditions", conditions)
            .done()
    });
    Obj::default()
        .obj("metadata", object_meta(metadata))
        .obj("spec", spec)
        .obj("status", status)
        .done()
}

fn secret(s: core::Secret) -> Map<String, Value> {
    let core::Secret {
        metadata,
        immutable,
        data,
        string_data,
        r#type,
    } = s;
    Obj::default()
        .obj("metadata", object_meta(metadata))
        .set("immutable", immutable)
        .bytes("data", data)
        .map("stringData", string_data)
        .text("type", r#type)
        .done()
}

fn config_map(c: core::ConfigMap) -> Map<String, Value> {
    let core::ConfigMap {
        metadata,
        immutable,
        data,
        binary_data,
    } = c;
    Obj::default()
        .obj("metadata", object_meta(metadata))
        .set("immutable", immutable)
        .map("data", data)
        .bytes("binaryData", binary_data)
        .done()
}

fn object_reference(r: Option<core::ObjectReference>) -> Option<Map<String, Value>> {
    let core::ObjectReference {
        kind,
        namespace,
        name,
        uid,
        api_version,
        resource_version,
        field_path,
    } = r?;
    Some(
        Obj::default()
            .text("kind", kind)
            .text("namespace", namespace)
            .text("name", name)
            .text("uid", uid)
            .text("apiVersion", api_version)
            .text("resourceVersion", resource_version)
            .text("fieldPath", field_path)
            .done(),
    )
}

fn event(e: core::Event) -> Map<String, Value> {
    let core::Event {
        metadata,
        involved_object,
        reason,
        message,
        source,
        first_timestamp,
        last_timestamp,
        count,
        r#type,
        event_time,
        series,
        action,
        related,
        reporting_component,
        reporting_instance,
    } = e;
    let source = source.map(|s| {
        let core::EventSource { component, host } = s;
        Obj::default()
            .text("component", component)
            .text("host", host)
            .done()
    });
    let series = series.map(|s| {
        let core::EventSeries {
            count,
            last_observed_time,
        } = s;
        Obj::default()
            .num("count", count)
            .set("lastObservedTime", micro_time(last_observed_time))
            .done()
    });
    Obj::default()
        .obj("metadata", object_meta(metadata))
        .obj("involvedObject", object_reference(involved_object))
        .text("reason", reason)
        .text("message", message)
        .obj("source", source)
        .set("firstTimestamp", time(first_timestamp))
        .set("lastTimestamp", time(last_timestamp))
        .num("count", count)
        .text("type", r#type)
        .set("eventTime", micro_time(event_time))
        .obj("series", series)
        .text("action", action)
        .obj("related", object_reference(related))
        .text("reportingComponent", reporting_component)
        .text("reportingInstance", reporting_instance)
        .done()
}

fn delete_options(d: meta::DeleteOptions) -> Map<String, Value> {
    let meta::DeleteOptions {
        grace_period_seconds,
        preconditions,
        orphan_dependents,
        propagation_policy,
        dry_run,
        ignore_store_read_error_with_cluster_breaking_potential,
    } = d;
    let preconditions = preconditions.map(|p| {
        let meta::Preconditions {
            uid,
            resource_version,
        } = p;
        Obj::default()
            .set("uid", uid)
            .set("resourceVersion", resource_version)
            .done()
    });
    Obj::default()
        .set("gracePeriodSeconds", grace_period_seconds)
        .obj("preconditions", preconditions)
        .set("orphanDependents", orphan_dependents)
        .set("propagationPolicy", propagation_policy)
        .strings("dryRun", dry_run)
        .set(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            ignore_store_read_error_with_cluster_breaking_potential,
        )
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope as client-go writes it: magic, then `runtime.Unknown`.
    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    fn meta_named(name: &str, ns: Option<&str>) -> Option<meta::ObjectMeta> {
        Some(meta::ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            labels: [("kargo.akuity.io/cred-type".to_string(), "git".to_string())].into(),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        })
    }

    #[test]
    fn a_secret_keeps_its_bytes_and_fields() {
        let data: Vec<u8> = (0..=255u8).collect();
        let s = core::Secret {
            metadata: meta_named("creds", Some("p")),
            data: [("blob".to_string(), data.clone())].into(),
            string_data: [("password".to_string(), "s3cret".to_string())].into(),
            r#type: Some("Opaque".into()),
            immutable: Some(true),
        };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "creds");
        assert_eq!(v["metadata"]["namespace"], "p");
        assert_eq!(
            v["metadata"]["labels"]["kargo.akuity.io/cred-type"], "git",
            "{v}"
        );
        // Go writes its zero time as an empty message: unset.
        assert!(v["metadata"].get("creationTimestamp").is_none(), "{v}");
        let back = base64::engine::general_purpose::STANDARD
            .decode(v["data"]["blob"].as_str().unwrap())
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(v["stringData"]["password"], "s3cret");
        assert_eq!(v["type"], "Opaque");
        assert_eq!(v["immutable"], true);
    }

    #[test]
    fn namespace_configmap_and_event_decode() {
        // Go writes plain strings and numbers even when empty or zero;
        // pointers (deletionGracePeriodSeconds) only when set.
        let ns = core::Namespace {
            metadata: Some(meta::ObjectMeta {
                name: Some("argocd".into()),
                namespace: Some(String::new()),
                generation: Some(0),
                deletion_grace_period_seconds: Some(0),
                ..Default::default()
            }),
            spec: Some(core::NamespaceSpec::default()),
            status: Some(core::NamespaceStatus {
                phase: Some(String::new()),
                conditions: vec![],
            }),
        };
        let v = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "argocd", "deletionGracePeriodSeconds": 0},
                "apiVersion": "v1",
                "kind": "Namespace",
            })
        );

        let cm = core::ConfigMap {
            metadata: meta_named("cfg", Some("p")),
            data: [("a".to_string(), "1".to_string())].into(),
            binary_data: [("b".to_string(), vec![0, 255])].into(),
            immutable: None,
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(v["data"]["a"], "1");
        assert_eq!(v["binaryData"]["b"], "AP8=");
        assert!(v.get("immutable").is_none());

        let ev = core::Event {
            metadata: meta_named("e1", Some("p")),
            involved_object: Some(core::ObjectReference {
                kind: Some("Stage".into()),
                name: Some("dev".into()),
                ..Default::default()
            }),
            reason: Some("Promoted".into()),
            count: Some(2),
            event_time: Some(meta::MicroTime {
                seconds: Some(1_700_000_000),
                nanos: Some(123_456_789),
            }),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Event", ev.encode_to_vec())).unwrap();
        assert_eq!(v["involvedObject"]["kind"], "Stage");
        assert_eq!(v["count"], 2);
        assert_eq!(v["eventTime"], "2023-11-14T22:13:20.123456Z");
        let at = |seconds| meta::Time {
            seconds: Some(seconds),
            nanos: None,
        };
        assert_eq!(time(Some(at(0))).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            time(Some(at(1_700_000_000))).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
    }

    #[test]
    fn delete_options_decode() {
        let d = meta::DeleteOptions {
            propagation_policy: Some("Foreground".into()),
            preconditions: Some(meta::Preconditions {
                uid: Some("u".into()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let v = decode(&envelope(
            "meta.k8s.io/v1",
            "DeleteOptions",
            d.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(v["propagationPolicy"], "Foreground");
        assert_eq!(v["preconditions"]["uid"], "u");
    }

    #[test]
    fn other_kinds_and_bad_bodies_are_refused_by_name() {
        let e = decode(&envelope("apps/v1", "Deployment", vec![])).unwrap_err();
        assert_eq!(e.code, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(e.message.contains("Deployment (apps/v1)"), "{}", e.message);
        assert!(e.message.contains("v1 Namespace, Secret"), "{}", e.message);
        let e = decode(b"{\"kind\":\"Secret\"}").unwrap_err();
        assert_eq!(e.code, http::StatusCode::BAD_REQUEST);
        let mut truncated = envelope("v1", "Secret", vec![0x0a, 0x05, b'x']);
        truncated.truncate(truncated.len() - 1);
        let e = decode(&truncated).unwrap_err();
        assert_eq!(e.code, http::StatusCode::BAD_REQUEST, "{}", e.message);
    }
}
