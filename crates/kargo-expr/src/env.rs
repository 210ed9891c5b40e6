//! The variables an expression can read: `ctx`, `vars`, `outputs`, `task`
//! and `freight`, built from plain JSON so callers need no expr-lang types,
//! plus time variables (a git `expressionFilter`'s `commitDate`) that
//! expressions see as expr-lang times with `.Year()`, `.After()`, ...
//!
//! Each variable is converted to its expr-lang value once, on its first
//! read, and kept until it is set again: every template of a step reads
//! the same converted `ctx`, `freight` and `outputs`, and re-setting `vars`
//! converts only `vars`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

use crate::freight::freight_variable;

/// `ctx` of a promotion step, as Kargo documents it: project, stage,
/// promotion, targetFreight {name, alias, origin {kind, name}} and
/// meta.promotion.actor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromotionContext {
    pub project: String,
    pub stage: String,
    pub promotion: String,
    pub target_freight_name: String,
    pub target_freight_alias: String,
    /// Kind of the target Freight's origin; empty means `Warehouse`.
    pub target_origin_kind: String,
    pub target_origin_name: String,
    pub actor: String,
}

impl PromotionContext {
    /// The `ctx` object expressions see.
    pub fn to_json(&self) -> Value {
        let kind = if self.target_origin_kind.is_empty() {
            "Warehouse"
        } else {
            &self.target_origin_kind
        };
        json!({
            "project": self.project,
            "stage": self.stage,
            "promotion": self.promotion,
            "targetFreight": {
                "name": self.target_freight_name,
                "alias": self.target_freight_alias,
                "origin": {"kind": kind, "name": self.target_origin_name},
            },
            "meta": {"promotion": {"actor": self.actor}},
        })
    }
}

/// The variables of one evaluation. Each setter replaces that variable;
/// [`Env::set`] adds any other top-level name.
#[derive(Clone, Default)]
pub struct Env {
    vars: Map<String, Value>,
    times: BTreeMap<String, DateTime<FixedOffset>>,
    /// The expr-lang value of every variable (JSON and time), made on its
    /// first read; a setter replaces the entry of the name it sets.
    converted: BTreeMap<String, OnceLock<expr::Value>>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("vars", &self.vars)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

/// Two environments are equal when their variables are (converted values
/// follow from them).
impl PartialEq for Env {
    fn eq(&self, other: &Env) -> bool {
        self.vars == other.vars && self.times == other.times
    }
}

impl Env {
    /// An environment with no variables at all.
    pub fn new() -> Env {
        Env::default()
    }

    /// The usual promotion-step environment: `ctx`, empty `vars` and
    /// `outputs`, and `freight` built from `collection` (target Freight
    /// named by `ctx.target_freight_name`, else the first).
    pub fn for_promotion(ctx: &PromotionContext, collection: &[Value]) -> Env {
        let target = Some(ctx.target_freight_name.as_str()).filter(|t| !t.is_empty());
        Env::new()
            .with_ctx(ctx.to_json())
            .with_vars(json!({}))
            .with_outputs(json!({}))
            .with_freight(freight_variable(collection, target))
    }

    /// Sets `ctx`.
    pub fn with_ctx(self, ctx: Value) -> Env {
        self.set("ctx", ctx)
    }
    /// Sets `vars` (Stage vars overlaid with promotion-template vars).
    pub fn with_vars(self, vars: Value) -> Env {
        self.set("vars", vars)
    }
    /// Sets `outputs` (earlier steps' outputs by alias).
    pub fn with_outputs(self, outputs: Value) -> Env {
        self.set("outputs", outputs)
    }
    /// Sets `task.outputs` (outputs of earlier steps of the same PromotionTask).
    pub fn with_task_outputs(self, outputs: Value) -> Env {
        self.set("task", json!({ "outputs": outputs }))
    }
    /// Sets `freight` (see [`crate::freight::freight_variable`]).
    pub fn with_freight(self, freight: Value) -> Env {
        self.set("freight", freight)
    }
    /// Sets any top-level variable.
    pub fn set(mut self, name: &str, value: Value) -> Env {
        self.times.remove(name);
        self.vars.insert(name.to_string(), value);
        self.converted.insert(name.to_string(), OnceLock::new());
        self
    }

    /// Sets a time variable from RFC 3339 text (`2024-01-02T03:04:05Z`);
    /// expressions see a time value (`commitDate.Year()`,
    /// `commitDate.After(date("2024-01-01"))`, `now() - commitDate`).
    pub fn set_time(mut self, name: &str, rfc3339: &str) -> Result<Env, String> {
        let t = DateTime::parse_from_rfc3339(rfc3339.trim())
            .map_err(|e| format!("{name}: {rfc3339:?} is not an RFC 3339 time: {e}"))?;
        self.vars.remove(name);
        self.times.insert(name.to_string(), t);
        self.converted.insert(name.to_string(), OnceLock::new());
        Ok(self)
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    /// All variables as one JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.vars
    }

    /// The expr-lang value of the variable `name`, converted on its first
    /// read.
    pub(crate) fn expr_value(&self, name: &str) -> Option<&expr::Value> {
        let converted = self.converted.get(name)?;
        Some(converted.get_or_init(|| match self.vars.get(name) {
            Some(json) => crate::convert::to_expr(json),
            None => self.times.get(name).map_or(expr::Value::Nil, |t| {
                expr::Value::DateTime(expr::DateTimeValue::fixed(*t))
            }),
        }))
    }

    /// An expr-lang context holding all these variables (JSON ones, then
    /// times), for expressions that read `$env`.
    pub(crate) fn to_context(&self) -> expr::Context {
        self.vars
            .keys()
            .chain(self.times.keys())
            .filter_map(|k| Some((k, self.expr_value(k)?.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converted_once_and_again_after_a_set() {
        let env = Env::new().with_vars(json!({"a": 1}));
        let first = env.expr_value("vars").map(|v| v as *const expr::Value);
        assert_eq!(first, env.expr_value("vars").map(|v| v as *const _));
        let env = env.with_vars(json!({"a": 2}));
        let a = env
            .expr_value("vars")
            .and_then(|v| v.as_map()?.get("a").cloned());
        assert_eq!(a, Some(expr::Value::Integer(2)));
        assert_eq!(env.expr_value("outputs"), None);
        assert_eq!(env, Env::new().with_vars(json!({"a": 2})));
    }

    #[test]
    fn promotion_env_has_documented_shape() {
        let ctx = PromotionContext {
            project: "kargo-demo".into(),
            stage: "dev".into(),
            promotion: "dev.01abc".into(),
            target_freight_name: "f1".into(),
            target_origin_name: "my-web-app".into(),
            actor: "admin".into(),
            ..Default::default()
        };
        let env = Env::for_promotion(&ctx, &[json!({"name": "f1", "alias": "a"})])
            .with_task_outputs(json!({"x": {"y": 1}}));
        let c = env.get("ctx").cloned().unwrap_or_default();
        assert_eq!(
            c["targetFreight"]["origin"],
            json!({"kind": "Warehouse", "name": "my-web-app"})
        );
        assert_eq!(c["meta"]["promotion"]["actor"], "admin");
        assert_eq!(
            env.get("freight").map(|f| f["alias"].clone()),
            Some(json!("a"))
        );
        assert_eq!(env.get("task"), Some(&json!({"outputs": {"x": {"y": 1}}})));
        assert_eq!(env.get("vars"), Some(&json!({})));
        assert!(env.to_context().get("outputs").is_some());
    }

    #[test]
    fn time_variables_are_times() {
        let env = Env::new().set_time("commitDate", "2024-03-01T12:00:00+01:00");
        let ctx = env.map(|e| e.to_context()).unwrap_or_default();
        assert!(matches!(
            ctx.get("commitDate"),
            Some(expr::Value::DateTime(_))
        ));
        let replaced = Env::new()
            .set_time("commitDate", "2024-03-01T12:00:00Z")
            .map(|e| e.set("commitDate", json!("x")));
        assert_eq!(
            replaced
                .ok()
                .and_then(|e| e.expr_value("commitDate").cloned()),
            Some(expr::Value::String("x".into()))
        );
        let bad = Env::new().set_time("commitDate", "yesterday");
        assert!(bad.is_err_and(|e| e.contains("commitDate") && e.contains("yesterday")));
    }
}
