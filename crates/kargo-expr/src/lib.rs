//! kargo-expr: Kargo's `${{ }}` expression templating over the `expr-lang`
//! crate, Kargo's expression functions, and Masterminds-compatible semver.
//!
//! Map of the crate:
//! - [`template`]: finding `${{ }}` / `${% %}` in strings, evaluating, typing
//!   the result as Kargo does, whole config blocks, step `if` conditions;
//! - [`env`]: the variables (`ctx`, `vars`, `outputs`, `task`, `freight`);
//! - [`functions`]: `quote`, `warehouse`, `imageFrom`, `semverDiff`, ...,
//!   in one function table shared by every evaluation;
//! - [`lookup`]: the trait through which functions read Freight, ConfigMaps,
//!   Secrets, metadata and step statuses (no store or network here);
//!   `current_lookup` lends an evaluation's lookup to the shared functions
//!   (the crate's only `unsafe`, a lifetime erased for the length of a call);
//! - [`freight`]: the `freight` variable and artifact look-ups;
//! - [`semver`]: Masterminds-compatible versions and constraints;
//! - [`convert`]: JSON <-> expr-lang values, Go-style JSON text;
//!   [`yaml`]: Go-style YAML text for `asYAML()`; [`error`]: [`ExprError`].
//!
//! expr-lang's date/time built-ins are on: `now()`, `date("2024-01-02")`,
//! `duration("1h")`, `timezone("Europe/Berlin")`, time methods (`.Year()`,
//! `.After(t)`, `.Sub(t)`, `.Format(layout)`, ...) and time arithmetic.
//!
//! ```
//! use kargo_expr::{Env, Evaluator, NoLookup};
//! use serde_json::json;
//!
//! let env = Env::new().with_ctx(json!({"stage": "dev"}));
//! let eval = Evaluator::new(&env, &NoLookup);
//! assert_eq!(eval.evaluate_template("apps/${{ ctx.stage }}/values.yaml").ok(),
//!            Some(json!("apps/dev/values.yaml")));
//! assert_eq!(eval.evaluate_condition(r#"ctx.stage == "prod""#).ok(), Some(false));
//! ```

#![deny(unsafe_code)]

pub mod convert;
mod current_lookup;
pub mod env;
pub mod error;
pub mod freight;
pub mod functions;
pub mod go_value;
pub mod lookup;
pub mod semver;
pub mod template;
pub mod yaml;

pub use crate::env::{Env, PromotionContext};
pub use crate::error::{ExprError, Location};
pub use crate::lookup::{Lookup, NoLookup, StaticLookup, StepStatus};
pub use crate::semver::{Constraint, SemverError, parse_version};
pub use crate::template::{
    Evaluator, evaluate_config, evaluate_template, evaluate_to_string, has_expression,
};
