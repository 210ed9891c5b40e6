//! One RBAC `PolicyRule` and whether it allows a request, with
//! kube-apiserver's matching (`plugin/pkg/auth/authorizer/rbac`): `*`
//! wildcards for verbs, groups and resources, `resource/subresource` and
//! `*/subresource`, resourceNames, and nonResourceURLs with a trailing `*`.

use crate::Attributes;
use serde::{Deserialize, Serialize};

/// `rbac.authorization.k8s.io/v1` PolicyRule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// API groups (`""` core).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources (`stages`, `stages/status`, `*/status`, `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/metrics`, `/healthz/*`).
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == "*" || v == want)
}

impl PolicyRule {
    /// A resource rule.
    pub fn new(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Self {
            verbs: own(verbs),
            api_groups: own(groups),
            resources: own(resources),
            ..Self::default()
        }
    }

    /// Whether this rule allows `a` (kube's `RuleAllows`).
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if !a.resource_request {
            return self.non_resource_urls.iter().any(|u| {
                u == "*"
                    || *u == a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            });
        }
        has(&self.api_groups, &a.api_group)
            && self.resource_matches(a)
            && (self.resource_names.is_empty()
                || (!a.name.is_empty() && self.resource_names.contains(&a.name)))
    }

    fn resource_matches(&self, a: &Attributes) -> bool {
        self.resources.iter().any(|r| {
            if r == "*" {
                return true;
            }
            if a.subresource.is_empty() {
                return *r == a.resource;
            }
            r.split_once('/')
                .is_some_and(|(res, sub)| sub == a.subresource && (res == a.resource || res == "*"))
        })
    }

    /// Whether every request this rule allows, `held` allows too (kube's
    /// escalation check, `Covers`): each verb, group, resource, name and
    /// URL of this rule is covered by one held rule.
    pub fn covered_by(&self, held: &[PolicyRule]) -> bool {
        let one = |v: &str, g: &str, r: &str, n: &str, u: &str| {
            held.iter().any(|h| {
                has(&h.verbs, v)
                    && if u.is_empty() {
                        has(&h.api_groups, g)
                            && covers_resource(&h.resources, r)
                            && (h.resource_names.is_empty()
                                || (!n.is_empty() && h.resource_names.iter().any(|x| x == n)))
                    } else {
                        h.non_resource_urls.iter().any(|x| {
                            x == "*"
                                || x == u
                                || x.strip_suffix('*').is_some_and(|p| u.starts_with(p))
                        })
                    }
            })
        };
        let names: Vec<&str> = if self.resource_names.is_empty() {
            vec![""]
        } else {
            self.resource_names.iter().map(String::as_str).collect()
        };
        self.verbs.iter().all(|v| {
            self.non_resource_urls.iter().all(|u| one(v, "", "", "", u))
                && self.api_groups.iter().all(|g| {
                    self.resources
                        .iter()
                        .all(|r| names.iter().all(|n| one(v, g, r, n, "")))
                })
        })
    }
}

/// Whether the held resources cover `r` (a literal `*` is covered only by `*`).
fn covers_resource(held: &[String], r: &str) -> bool {
    held.iter().any(|h| {
        h == "*"
            || h == r
            || (r.split_once('/').is_some_and(|(res, sub)| {
                res != "*" && h.strip_prefix("*/").is_some_and(|hs| hs == sub)
            }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: serde_json::Value) -> PolicyRule {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn matching_follows_kube_apiserver() {
        let stages = rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["get", "promote"]}),
        );
        let a = |verb: &str, res: &str, name: &str| {
            Attributes::resource(verb, "kargo.akuity.io", res, "p", name)
        };
        assert!(stages.allows(&a("promote", "stages", "dev")));
        assert!(!stages.allows(&a("update", "stages", "dev")));
        // A subresource is matched only by name.
        assert!(!stages.allows(&a("get", "stages/status", "dev")));
        let status = rule(
            serde_json::json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}),
        );
        assert!(status.allows(&a("patch", "freights/status", "f")));
        assert!(!status.allows(&a("patch", "freights", "f")));
        let named = rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": ["dev"], "verbs": ["promote"]}),
        );
        assert!(named.allows(&a("promote", "stages", "dev")));
        assert!(!named.allows(&a("promote", "stages", "prod")));
        // resourceNames never match a request without a name (list).
        assert!(!named.allows(&a("promote", "stages", "")));
        let wrong_group =
            rule(serde_json::json!({"apiGroups": [""], "resources": ["stages"], "verbs": ["*"]}));
        assert!(!wrong_group.allows(&a("get", "stages", "dev")));
        let urls = rule(
            serde_json::json!({"nonResourceURLs": ["/metrics", "/healthz/*"], "verbs": ["get"]}),
        );
        assert!(urls.allows(&Attributes::non_resource("get", "/metrics")));
        assert!(urls.allows(&Attributes::non_resource("get", "/healthz/ping")));
        assert!(!urls.allows(&Attributes::non_resource("get", "/metricsx")));
        assert!(!urls.allows(&a("get", "metrics", "")));
    }

    #[test]
    fn coverage_is_kube_escalation_check() {
        let held = vec![rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages", "freights"], "verbs": ["get", "list", "promote"]}),
        )];
        let ok = rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": ["dev"], "verbs": ["promote"]}),
        );
        assert!(ok.covered_by(&held));
        let more = rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["promote", "delete"]}),
        );
        assert!(!more.covered_by(&held));
        let star = rule(
            serde_json::json!({"apiGroups": ["kargo.akuity.io"], "resources": ["*"], "verbs": ["get"]}),
        );
        assert!(!star.covered_by(&held));
        let all = vec![rule(
            serde_json::json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
        )];
        assert!(star.covered_by(&all) && more.covered_by(&all));
    }
}
