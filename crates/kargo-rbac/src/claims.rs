//! OpenID Connect claims mapped to ServiceAccounts, as Kargo maps them:
//! a ServiceAccount's `rbac.kargo.akuity.io/claims` annotation (a JSON
//! object of claim name → value or list of values) and the older
//! `rbac.kargo.akuity.io/claim.<name>` annotations (comma-separated
//! values) name the users it stands for. [`ClaimIndex`] answers which
//! ServiceAccounts a signed-in user's claims reach.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// The preferred annotation: `{"email": ["a@b.c"], "groups": ["devs"]}`.
pub const CLAIMS_ANNOTATION: &str = "rbac.kargo.akuity.io/claims";
/// Prefix of the older one-claim annotations.
pub const CLAIM_PREFIX: &str = "rbac.kargo.akuity.io/claim.";

/// The `(claim, value)` pairs a ServiceAccount's annotations map to it,
/// deduplicated and sorted. A claims annotation that is not a JSON object
/// maps nothing.
pub fn claims_of(annotations: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(Value::Object(m)) = annotations
        .get(CLAIMS_ANNOTATION)
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        for (claim, values) in m {
            match values {
                Value::String(v) => {
                    out.insert((claim, v));
                }
                Value::Array(vs) => {
                    for v in vs.into_iter().filter_map(|v| v.as_str().map(String::from)) {
                        out.insert((claim.clone(), v));
                    }
                }
                _ => {}
            }
        }
    }
    for (key, values) in annotations {
        let (Some(claim), Some(values)) = (key.strip_prefix(CLAIM_PREFIX), values.as_str()) else {
            continue;
        };
        for v in values.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            out.insert((claim.to_string(), v.to_string()));
        }
    }
    out.into_iter().collect()
}

/// The string values of a verified token's claims as `(claim, value)`
/// pairs: a string claim gives one, an array claim one per string item;
/// other claims give none (as Kargo's lookup skips them).
pub fn flatten(claims: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in claims {
        match v {
            Value::String(s) => out.push((k.clone(), s.clone())),
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| (k.clone(), s.to_string())),
            ),
            _ => {}
        }
    }
    out
}

/// ServiceAccounts by the `(claim, value)` pairs mapped to them.
#[derive(Default)]
pub struct ClaimIndex {
    accounts: HashMap<(String, String), BTreeSet<(String, String)>>,
    of_account: HashMap<(String, String), Vec<(String, String)>>,
}

impl ClaimIndex {
    /// Follows one ServiceAccount change (`obj` None: deleted).
    pub fn apply(&mut self, ns: &str, name: &str, obj: Option<&Value>) {
        let sa = (ns.to_string(), name.to_string());
        for pair in self.of_account.remove(&sa).unwrap_or_default() {
            if let Some(set) = self.accounts.get_mut(&pair) {
                set.remove(&sa);
                if set.is_empty() {
                    self.accounts.remove(&pair);
                }
            }
        }
        let Some(ann) = obj
            .and_then(|o| o.pointer("/metadata/annotations"))
            .and_then(Value::as_object)
        else {
            return;
        };
        let pairs = claims_of(ann);
        if pairs.is_empty() {
            return;
        }
        for p in &pairs {
            self.accounts
                .entry(p.clone())
                .or_default()
                .insert(sa.clone());
        }
        self.of_account.insert(sa, pairs);
    }

    /// `(namespace, name)` of every ServiceAccount one of `claims` maps
    /// to, sorted and without repeats.
    pub fn accounts(&self, claims: &[(String, String)]) -> Vec<(String, String)> {
        let mut out = BTreeSet::new();
        for c in claims {
            if let Some(set) = self.accounts.get(c) {
                out.extend(set.iter().cloned());
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_annotation_forms_map_claims_to_accounts() {
        let mut ix = ClaimIndex::default();
        ix.apply(
            "p",
            "kargo-promoter",
            Some(&json!({"metadata": {"annotations": {
                CLAIMS_ANNOTATION: r#"{"email": ["ana@example.com"], "groups": "devs"}"#}}})),
        );
        ix.apply(
            "p",
            "old-style",
            Some(&json!({"metadata": {"annotations": {
                "rbac.kargo.akuity.io/claim.groups": "ops, devs"}}})),
        );
        let ana = vec![("email".to_string(), "ana@example.com".to_string())];
        assert_eq!(
            ix.accounts(&ana),
            vec![("p".to_string(), "kargo-promoter".to_string())]
        );
        let dev = vec![("groups".to_string(), "devs".to_string())];
        assert_eq!(ix.accounts(&dev).len(), 2);
        // A changed annotation replaces the old mapping; a deleted SA maps nothing.
        ix.apply("p", "kargo-promoter", Some(&json!({"metadata": {}})));
        assert!(ix.accounts(&ana).is_empty());
        ix.apply("p", "old-style", None);
        assert!(ix.accounts(&dev).is_empty());
        assert!(ix.accounts.is_empty() && ix.of_account.is_empty());
    }

    #[test]
    fn token_claims_flatten_to_string_pairs() {
        let c = json!({"sub": "123", "groups": ["a", "b", 3], "email_verified": true});
        let mut got = flatten(c.as_object().unwrap());
        got.sort();
        let want: Vec<(String, String)> = [("groups", "a"), ("groups", "b"), ("sub", "123")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
