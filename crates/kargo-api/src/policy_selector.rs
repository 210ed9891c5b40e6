//! Kargo's `PromotionPolicySelector` matching: a name (exact, `glob:`,
//! `regex:`) ANDed with a label selector (`matchLabels`,
//! `matchExpressions`). Promotion policies, promotion windows and
//! automatic rollback all select Stages (and windows Projects) this way.

use crate::project::{PromotionPolicy, StageSelector};
use std::collections::BTreeMap;

impl StageSelector {
    /// Whether the object called `name` with `labels` is selected. A name
    /// pattern that does not parse selects nothing.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        let by_name = self.name.is_empty()
            || crate::pattern::parse_name_pattern(&self.name).is_ok_and(|m| m.matches(name));
        by_name
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let values = e.values.as_deref().unwrap_or_default();
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

impl PromotionPolicy {
    /// Whether this policy concerns the Stage: its deprecated `stage`
    /// name, else its `stageSelector`.
    pub fn selects(&self, stage: &str, labels: &BTreeMap<String, String>) -> bool {
        if !self.stage.is_empty() {
            return self.stage == stage;
        }
        self.stage_selector
            .as_ref()
            .is_some_and(|s| s.matches(stage, labels))
    }
}

/// The first policy that concerns the Stage (Kargo: policies are read in
/// order and the first match wins).
pub fn policy_for<'a>(
    policies: &'a [PromotionPolicy],
    stage: &str,
    labels: &BTreeMap<String, String>,
) -> Option<&'a PromotionPolicy> {
    policies.iter().find(|p| p.selects(stage, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn name_and_labels_are_anded() {
        let labels: BTreeMap<String, String> = [("tier".to_string(), "prod".to_string())].into();
        let sel = StageSelector {
            name: "glob:prod-*".into(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["prod".into()]),
            }],
            ..Default::default()
        };
        assert!(sel.matches("prod-us", &labels));
        assert!(!sel.matches("dev", &labels));
        assert!(!sel.matches("prod-eu", &BTreeMap::new()));
        let none = StageSelector::default();
        assert!(none.matches("anything", &BTreeMap::new()));
    }
}
