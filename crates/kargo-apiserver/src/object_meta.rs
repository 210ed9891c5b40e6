//! `metadata` rules kube-apiserver applies to every object
//! (`ValidateObjectMeta`): label keys are qualified names and label values
//! at most 63 characters of label syntax; annotation keys are qualified
//! names and all annotations together stay under 256 KiB.

use kargo_api::k8s_names::{MAX_ANNOTATIONS_BYTES, label_value_error, qualified_name_error};
use kargo_api::validate::FieldError;
use serde_json::Value;

/// Every problem with the object's labels and annotations.
pub fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let map = |name: &str| {
        obj.pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_object)
    };
    if let Some(labels) = map("labels") {
        for (k, v) in labels {
            if let Some(why) = qualified_name_error(k) {
                errors.push(FieldError {
                    path: "metadata.labels".into(),
                    message: format!("Invalid value: {k:?}: {why}"),
                });
            }
            match v.as_str() {
                Some(v) => {
                    if let Some(why) = label_value_error(v) {
                        errors.push(FieldError {
                            path: format!("metadata.labels[{k}]"),
                            message: format!("Invalid value: {v:?}: {why}"),
                        });
                    }
                }
                None => errors.push(FieldError {
                    path: format!("metadata.labels[{k}]"),
                    message: format!("Invalid value: {v}: must be a string"),
                }),
            }
        }
    }
    if let Some(annotations) = map("annotations") {
        let mut total = 0usize;
        for (k, v) in annotations {
            if let Some(why) = qualified_name_error(&k.to_ascii_lowercase()) {
                errors.push(FieldError {
                    path: "metadata.annotations".into(),
                    message: format!("Invalid value: {k:?}: {why}"),
                });
            }
            total += k.len() + v.as_str().map_or_else(|| v.to_string().len(), str::len);
        }
        if total > MAX_ANNOTATIONS_BYTES {
            errors.push(FieldError {
                path: "metadata.annotations".into(),
                message: format!(
                    "Too long: may not be more than {MAX_ANNOTATIONS_BYTES} bytes (these are {total})"
                ),
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(obj: Value) -> Vec<String> {
        validate(&obj).into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn labels_and_annotations_as_kubernetes() {
        assert!(paths(json!({"metadata": {
            "labels": {"app": "web", "example.com/tier": "", "kargo.akuity.io/alias": "fuzzy-fox"},
            "annotations": {"kargo.akuity.io/reverify": "{\"id\":\"x\"}", "Note": "any text at all"},
        }}))
        .is_empty());
        assert_eq!(
            paths(json!({"metadata": {"labels": {"app": "v".repeat(64)}}})),
            ["metadata.labels[app]"]
        );
        assert_eq!(
            paths(json!({"metadata": {"labels": {"bad key": "x", "a": "-x-"}}})),
            ["metadata.labels", "metadata.labels[a]"]
        );
        assert_eq!(
            paths(json!({"metadata": {"labels": {"a": 1}}})),
            ["metadata.labels[a]"]
        );
        assert_eq!(
            paths(json!({"metadata": {"annotations": {"-no": "x"}}})),
            ["metadata.annotations"]
        );
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let errors = validate(&json!({"metadata": {"annotations": {"a": big}}}));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.starts_with("Too long"),
            "{}",
            errors[0].message
        );
    }
}
