//! Arguments: their values (literal or from a Secret through
//! [`SecretLookup`]) and `{{args.NAME}}` substitution anywhere in a metric,
//! done as Rollouts does it: on the metric's JSON text, with values escaped
//! for JSON strings, then parsed back.

use std::collections::BTreeMap;

use kargo_api::analysis::{Argument, Metric};
use regex::Regex;
use std::sync::LazyLock;

use crate::error::ArgError;

/// Reads Secret data for `valueFrom.secretKeyRef` (the caller scopes it to
/// the run's namespace).
pub trait SecretLookup: Send + Sync {
    /// The value of `key` in Secret `name`, `None` when either is missing.
    fn secret_value(&self, name: &str, key: &str) -> Option<String>;
}

/// No Secrets at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSecrets;

impl SecretLookup for NoSecrets {
    fn secret_value(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// Secrets from a map of `(name, key) -> value` (tests, fixed setups).
#[derive(Debug, Default, Clone)]
pub struct StaticSecrets(pub BTreeMap<(String, String), String>);

impl StaticSecrets {
    /// Adds one Secret key.
    pub fn with(mut self, name: &str, key: &str, value: &str) -> StaticSecrets {
        self.0
            .insert((name.to_string(), key.to_string()), value.to_string());
        self
    }
}

impl SecretLookup for StaticSecrets {
    fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        self.0.get(&(name.to_string(), key.to_string())).cloned()
    }
}

/// Resolved arguments and the values that came from Secrets (to redact).
#[derive(Debug, Default, Clone)]
pub struct ResolvedArgs {
    /// Values by name.
    pub values: BTreeMap<String, String>,
    /// Secret-backed values, redacted from messages.
    pub secrets: Vec<String>,
    /// Declared arguments without a value (an error only when used).
    pub missing: Vec<String>,
}

impl ResolvedArgs {
    /// Replaces every secret value in `text` by `*****`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "*****");
        }
        out
    }
}

/// Resolves the values of `args`, reading Secrets through `secrets`. As in
/// Rollouts, `valueFrom.secretKeyRef` wins over `value`, and any other
/// `valueFrom` (a `fieldRef`, which only the Rollout controller fills) leaves
/// the argument without a value.
pub fn resolve_values(
    args: &[Argument],
    secrets: &dyn SecretLookup,
) -> Result<ResolvedArgs, ArgError> {
    let mut out = ResolvedArgs::default();
    for arg in args {
        let secret_ref = arg
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref());
        match (secret_ref, &arg.value) {
            (Some(r), _) => {
                let v = secrets.secret_value(&r.name, &r.key).ok_or_else(|| {
                    ArgError::SecretNotFound {
                        secret: r.name.clone(),
                        key: r.key.clone(),
                    }
                })?;
                out.secrets.push(v.clone());
                out.values.insert(arg.name.clone(), v);
            }
            (None, Some(v)) => {
                out.values.insert(arg.name.clone(), v.clone());
            }
            (None, None) => out.missing.push(arg.name.clone()),
        }
    }
    Ok(out)
}

/// A fasttemplate tag, as Rollouts' templating finds them: `{{`, anything,
/// the next `}}`.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{\{(.*?)\}\}").unwrap_or_else(|_| unreachable!()));

/// The argument names `text` refers to as `{{args.NAME}}`.
pub fn references(text: &str) -> Vec<String> {
    TAG.captures_iter(text)
        .filter_map(|c| c[1].trim().strip_prefix("args.").map(str::to_string))
        .collect()
}

/// `metric` with every `{{args.NAME}}` replaced by its value, as Rollouts'
/// `ResolveMetricArgs` does it: on the metric's JSON, values escaped for
/// JSON strings. An argument without a value is an error even when no
/// metric uses it; a tag naming no argument is an error (the last one is
/// reported, as in Rollouts).
pub fn resolve_metric(metric: &Metric, args: &ResolvedArgs) -> Result<Metric, ArgError> {
    if let Some(name) = args.missing.first() {
        return Err(ArgError::NotSupplied(name.clone()));
    }
    let text = serde_json::to_string(metric)
        .map_err(|e| ArgError::Invalid(metric.name.clone(), e.to_string()))?;
    if !TAG.is_match(&text) {
        return Ok(metric.clone());
    }
    let mut err = None;
    let replaced = TAG.replace_all(&text, |c: &regex::Captures<'_>| {
        let tag = &c[1];
        match tag
            .trim()
            .strip_prefix("args.")
            .and_then(|name| args.values.get(name))
        {
            Some(v) => {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
            }
            None => {
                err = Some(ArgError::Unresolved(tag.to_string()));
                String::new()
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    serde_json::from_str(&replaced)
        .map_err(|e| ArgError::Invalid(metric.name.clone(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_api::analysis::{SecretKeyRef, ValueFrom, WebMetric};

    fn web_metric(url: &str) -> Metric {
        let mut m = Metric {
            name: "m".into(),
            ..Default::default()
        };
        m.provider.web = Some(WebMetric {
            url: url.into(),
            ..Default::default()
        });
        m
    }

    #[test]
    fn substitutes_escaped_values_and_secrets() {
        let args = vec![
            Argument {
                name: "host".into(),
                value: Some("a\"b".into()),
                value_from: None,
            },
            Argument {
                name: "token".into(),
                value: None,
                value_from: Some(ValueFrom {
                    secret_key_ref: Some(SecretKeyRef {
                        name: "s".into(),
                        key: "k".into(),
                    }),
                    field_ref: None,
                }),
            },
        ];
        let secrets = StaticSecrets::default().with("s", "k", "hunter2");
        let r = resolve_values(&args, &secrets).unwrap();
        let m =
            resolve_metric(&web_metric("http://{{args.host}}/x?t={{ args.token }}"), &r).unwrap();
        assert_eq!(m.provider.web.unwrap().url, "http://a\"b/x?t=hunter2");
        assert_eq!(r.redact("token hunter2"), "token *****");
    }

    #[test]
    fn missing_and_undeclared() {
        let args = vec![Argument {
            name: "host".into(),
            ..Default::default()
        }];
        let r = resolve_values(&args, &NoSecrets).unwrap();
        // Rollouts: an argument without a value fails even when unused.
        for url in ["http://{{args.host}}", "http://x"] {
            let e = resolve_metric(&web_metric(url), &r).unwrap_err();
            assert_eq!(e.to_string(), "argument \"host\" was not supplied");
        }
        let r = resolve_values(&[], &NoSecrets).unwrap();
        let e = resolve_metric(&web_metric("http://{{args.a}}/{{ args.other }}"), &r).unwrap_err();
        assert_eq!(e.to_string(), "failed to resolve {{ args.other }}");
    }
}
