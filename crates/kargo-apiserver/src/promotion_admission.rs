//! Admission of new Promotions, as Kargo's webhook does it: the name
//! `<stage>.<ulid>.<first 7 of freight>`, the Stage's steps and vars
//! copied in, who asked for it, and a refusal — with the reason — when
//! the Freight is not available to the Stage.

use crate::status::{ApiError, ApiResult};
use kargo_api::validate::FieldError;
use kargo_api::{Freight, Stage, availability, lookup_kind};
use kargo_store::{Store, StoreError};
use serde_json::{Value, json};

/// Annotation recording who created a Promotion.
pub const CREATE_ACTOR: &str = "kargo.akuity.io/create-actor";

fn invalid(name: &str, path: &str, message: String) -> ApiError {
    ApiError::invalid(
        "Promotion",
        kargo_api::KARGO_GROUP,
        name,
        &[FieldError {
            path: path.into(),
            message,
        }],
    )
}

/// Fills and checks a Promotion being created.
pub fn admit_new_promotion(store: &Store, ns: &str, obj: &mut Value) -> ApiResult<()> {
    if obj.get("metadata").is_some_and(|m| !m.is_object())
        || obj.get("spec").is_some_and(|m| !m.is_object())
    {
        return Ok(()); // validation reports the malformed object
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let stage_name = obj
        .pointer("/spec/stage")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let freight_name = obj
        .pointer("/spec/freight")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if stage_name.is_empty() || freight_name.is_empty() {
        return Ok(()); // validation reports the missing fields
    }
    let sinfo = lookup_kind("kargo.akuity.io/v1alpha1", "Stage").expect("registered");
    let finfo = lookup_kind("kargo.akuity.io/v1alpha1", "Freight").expect("registered");
    let stage: Stage = match store.get(sinfo, ns, &stage_name) {
        Ok(v) => serde_json::from_value(v).map_err(|e| ApiError::from(StoreError::from(e)))?,
        Err(StoreError::NotFound { .. }) => {
            return Err(invalid(
                &name,
                "spec.stage",
                format!("Stage {stage_name:?} does not exist in project {ns:?}"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let freight: Freight = match store.get(finfo, ns, &freight_name) {
        Ok(v) => serde_json::from_value(v).map_err(|e| ApiError::from(StoreError::from(e)))?,
        Err(StoreError::NotFound { .. }) => {
            return Err(invalid(
                &name,
                "spec.freight",
                format!(
                    "Freight {freight_name:?} does not exist in project {ns:?} (give its name, not its alias)"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let template = stage.spec.promotion_template.clone().unwrap_or_default();
    if template.effective_steps().is_empty() {
        return Err(invalid(
            &name,
            "spec.stage",
            format!(
                "Stage {stage_name} has no promotion steps (a control-flow Stage): Freight is not promoted into it"
            ),
        ));
    }
    if let Err(why) = availability::check(&stage, &freight, jiff::Timestamp::now().as_millisecond())
    {
        return Err(invalid(&name, "spec.freight", why.0));
    }
    if name.is_empty() {
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        let short: String = freight_name.chars().take(7).collect();
        obj["metadata"]["name"] = json!(format!("{stage_name}.{ulid}.{short}"));
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("generateName");
        }
    }
    if obj
        .pointer("/spec/steps")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty())
    {
        obj["spec"]["steps"] = serde_json::to_value(template.effective_steps())
            .map_err(|e| ApiError::from(StoreError::from(e)))?;
    }
    let mut vars = serde_json::to_value(&stage.spec.vars).unwrap_or(json!([]));
    if let (Some(v), Ok(Value::Array(t))) = (
        vars.as_array_mut(),
        serde_json::to_value(template.effective_vars()),
    ) {
        v.extend(t);
    }
    if let (Some(v), Some(own)) = (
        vars.as_array_mut(),
        obj.pointer("/spec/vars").and_then(Value::as_array).cloned(),
    ) {
        v.extend(own);
    }
    if vars.as_array().is_some_and(|v| !v.is_empty()) {
        obj["spec"]["vars"] = vars;
    }
    let md = obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object");
    let ann = md.entry("annotations").or_insert_with(|| json!({}));
    if ann.get(CREATE_ACTOR).is_none() {
        ann[CREATE_ACTOR] = json!("admin");
    }
    Ok(())
}
