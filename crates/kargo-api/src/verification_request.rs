//! Kargo's verification requests: the values of the Stage annotations
//! `kargo.akuity.io/reverify` and `kargo.akuity.io/abort`. A request names
//! the verification it is about by its `verificationHistory` id, so it acts
//! once and a stale request is harmless (Kargo's `api/v1alpha1/request.go`
//! and `pkg/api/annotations.go`): the value is either JSON
//! `{"id", "actor", "controlPlane"}` or a bare id.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request to re-run or abort one verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationRequest {
    /// The id of the `verificationHistory` entry the request is about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Who asked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Whether a control plane (not a person) asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control_plane: bool,
}

impl VerificationRequest {
    /// A request about verification `id` made by `actor`.
    pub fn new(id: impl Into<String>, actor: impl Into<String>) -> Self {
        VerificationRequest {
            id: id.into(),
            actor: actor.into(),
            control_plane: false,
        }
    }

    /// Reads the request under annotation `key`, as Kargo does: JSON when
    /// the value is valid JSON, else the value is the id. A request without
    /// an id is no request.
    pub fn from_annotations(annotations: &BTreeMap<String, String>, key: &str) -> Option<Self> {
        let value = annotations.get(key)?;
        let request = if serde_json::from_str::<serde_json::Value>(value).is_ok() {
            serde_json::from_str::<VerificationRequest>(value).ok()?
        } else {
            VerificationRequest::new(value.clone(), "")
        };
        (!request.id.is_empty()).then_some(request)
    }

    /// Whether the request is about verification `id`.
    pub fn for_id(&self, id: &str) -> bool {
        !self.id.is_empty() && self.id == id
    }

    /// The annotation value (compact JSON, as Kargo writes it).
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a verification phase is final (Kargo's `VerificationPhase.IsTerminal`).
pub fn is_terminal(phase: &str) -> bool {
    matches!(
        phase,
        "Successful" | "Failed" | "Error" | "Inconclusive" | "Aborted"
    )
}

/// The newest verification of the Stage's current Freight collection: the
/// one a request made now is about.
pub fn current(stage: &crate::Stage) -> Option<&crate::stage::VerificationInfo> {
    stage
        .status
        .as_ref()?
        .freight_history
        .first()?
        .verification_history
        .first()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("k".to_string(), v.to_string())])
    }

    #[test]
    fn reads_both_spellings_as_kargo_does() {
        // Rows of Kargo's pkg/api/annotations_test.go (reverify and abort share the parser).
        let r = VerificationRequest::from_annotations(&ann("fake-id"), "k").unwrap();
        assert_eq!(r, VerificationRequest::new("fake-id", ""));
        let r = VerificationRequest::from_annotations(
            &ann(r#"{"id":"fake-id","actor":"fake-actor","controlPlane":true}"#),
            "k",
        )
        .unwrap();
        assert_eq!(r.id, "fake-id");
        assert_eq!(r.actor, "fake-actor");
        assert!(r.control_plane);
        // Valid JSON without an id is no request; so is an empty value or a missing key.
        assert!(VerificationRequest::from_annotations(&ann(r#"{"actor":"a"}"#), "k").is_none());
        assert!(VerificationRequest::from_annotations(&ann(""), "k").is_none());
        assert!(VerificationRequest::from_annotations(&ann("x"), "other").is_none());
        // Valid JSON of another shape is no request either (Kargo: unmarshal error).
        assert!(VerificationRequest::from_annotations(&ann("[1]"), "k").is_none());
    }

    #[test]
    fn for_id_needs_a_matching_non_empty_id() {
        let r = VerificationRequest::new("a", "");
        assert!(r.for_id("a"));
        assert!(!r.for_id("b"));
        assert!(!VerificationRequest::default().for_id(""));
    }

    #[test]
    fn annotation_is_compact_json() {
        let r = VerificationRequest::new("a", "admin");
        assert_eq!(r.to_annotation(), r#"{"id":"a","actor":"admin"}"#);
    }
}
