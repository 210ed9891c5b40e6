//! Admission of new Promotions, as Kargo's webhook does it: the name
//! `<stage>.<ulid>.<first 7 of freight>`, the Stage's steps and vars
//! copied in, who asked for it, and a refusal — with the reason — when
//! the Freight is not available to the Stage or promotion windows close
//! the Stage (`window_admission.rs`).

use crate::admission_store::{AdmissionStore, get_as};
use crate::status::{ApiError, ApiResult};
use kargo_api::validate::FieldError;
use kargo_api::{Freight, Stage, availability, lookup_kind};
use kargo_store::StoreError;
use serde_json::{Value, json};

/// Annotation recording who created a Promotion.
pub use kargo_api::labels::CREATE_ACTOR;

/// A refusal naming the Promotion, or — before it has a name — the
/// Freight and Stage it is for.
fn invalid(name: &str, freight: &str, stage: &str, path: &str, message: String) -> ApiError {
    let subject = if name.is_empty() {
        format!("Promotion of Freight {freight:?} to Stage {stage:?}")
    } else {
        format!("Promotion.{} {name:?}", kargo_api::KARGO_GROUP)
    };
    ApiError::invalid_subject(
        "Promotion",
        kargo_api::KARGO_GROUP,
        name,
        &subject,
        &[FieldError {
            path: path.into(),
            message,
        }],
    )
}

/// Fills and checks a Promotion being created.
pub fn admit_new_promotion(store: &dyn AdmissionStore, ns: &str, obj: &mut Value) -> ApiResult<()> {
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
    let stage: Stage = match get_as(store, sinfo, ns, &stage_name) {
        Ok(s) => s,
        Err(StoreError::NotFound { .. }) => {
            return Err(invalid(
                &name,
                &freight_name,
                &stage_name,
                "spec.stage",
                format!("could not find Stage {stage_name:?} in namespace {ns:?}"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // Only what availability reads of the Freight's status is decoded.
    let freight: Freight = match store
        .get_shared(finfo, ns, &freight_name)
        .and_then(|v| Ok(availability::freight_for(&stage, &v)?))
    {
        Ok(f) => f,
        Err(StoreError::NotFound { .. }) => {
            return Err(invalid(
                &name,
                &freight_name,
                &stage_name,
                "spec.freight",
                format!(
                    "could not find Freight {freight_name:?} in namespace {ns:?} (spec.freight takes the Freight's name, not its alias)"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let shown = freight.alias().unwrap_or(&freight_name).to_string();
    let template = stage.spec.promotion_template.clone().unwrap_or_default();
    if template.effective_steps().is_empty() {
        return Err(invalid(
            &name,
            &shown,
            &stage_name,
            "spec.stage",
            format!(
                "Stage {stage_name:?} in namespace {ns:?} defines no promotion steps (a control-flow Stage takes no Promotions)"
            ),
        ));
    }
    if let Err(why) = availability::check(&stage, &freight, jiff::Timestamp::now().as_millisecond())
    {
        return Err(invalid(&name, &shown, &stage_name, "spec.freight", why.0));
    }
    crate::window_admission::admit(store, ns, &stage, obj, |why| {
        invalid(&name, &shown, &stage_name, "spec.stage", why)
    })?;
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
    // As Kargo's Promotion webhook: the Stage's shard is the Promotion's.
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    if let Some(l) = labels.as_object_mut() {
        if stage.spec.shard.is_empty() {
            l.remove(kargo_api::labels::SHARD);
        } else {
            l.insert(kargo_api::labels::SHARD.into(), json!(stage.spec.shard));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_store::Store;

    const NS: &str = "p";

    /// A store with Freight `f1` (alias jolly-penguin) from Warehouse `w`,
    /// Stage `dev` (direct), `prod` (needs `dev`'s verification) and the
    /// control-flow Stage `gate`.
    fn store(dir: &std::path::Path) -> Store {
        let s = Store::open(&dir.join("s.db")).unwrap();
        let ns = lookup_kind("v1", "Namespace").unwrap();
        s.create(
            ns,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        )
        .unwrap();
        let kind = |k: &str| lookup_kind("kargo.akuity.io/v1alpha1", k).unwrap();
        let steps = json!({"steps": [{"uses": "git-clone", "config": {}}]});
        let stage = |name: &str, sources: Value, template: Option<&Value>| {
            let mut spec = json!({"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": sources}]});
            if let Some(t) = template {
                spec["promotionTemplate"] = json!({"spec": t});
            }
            json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage", "metadata": {"name": name, "namespace": NS}, "spec": spec})
        };
        for st in [
            stage("dev", json!({"direct": true}), Some(&steps)),
            stage("prod", json!({"stages": ["dev"]}), Some(&steps)),
            stage("gate", json!({"direct": true}), None),
        ] {
            s.create(kind("Stage"), NS, st).unwrap();
        }
        s.create(kind("Freight"), NS, json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
            "metadata": {"name": "f1", "namespace": NS, "labels": {kargo_api::labels::ALIAS: "jolly-penguin"}},
            "origin": {"kind": "Warehouse", "name": "w"}})).unwrap();
        s
    }

    fn refusal(s: &Store, name: &str, stage: &str, freight: &str) -> String {
        let mut obj = json!({"metadata": {"name": name, "namespace": NS}, "spec": {"stage": stage, "freight": freight}});
        let e = admit_new_promotion(s, NS, &mut obj).unwrap_err();
        assert_eq!(e.code, http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!e.message.contains("\"\""), "{}", e.message);
        e.message
    }

    #[test]
    fn refusals_read_as_sentences_naming_freight_and_stage() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let rows: [(&str, &str, &str, &str); 5] = [
            (
                "",
                "prod",
                "f1",
                r#"Promotion of Freight "jolly-penguin" to Stage "prod" is invalid: spec.freight: Freight "jolly-penguin" is not available to Stage "prod": it must be verified in every upstream Stage, but it is not verified in Stage "dev""#,
            ),
            (
                "",
                "nope",
                "f1",
                r#"Promotion of Freight "f1" to Stage "nope" is invalid: spec.stage: could not find Stage "nope" in namespace "p""#,
            ),
            (
                "",
                "dev",
                "jolly-penguin",
                r#"Promotion of Freight "jolly-penguin" to Stage "dev" is invalid: spec.freight: could not find Freight "jolly-penguin" in namespace "p" (spec.freight takes the Freight's name, not its alias)"#,
            ),
            (
                "",
                "gate",
                "f1",
                r#"Promotion of Freight "jolly-penguin" to Stage "gate" is invalid: spec.stage: Stage "gate" in namespace "p" defines no promotion steps (a control-flow Stage takes no Promotions)"#,
            ),
            (
                "mine",
                "prod",
                "f1",
                r#"Promotion.kargo.akuity.io "mine" is invalid: spec.freight: Freight "jolly-penguin" is not available to Stage "prod": it must be verified in every upstream Stage, but it is not verified in Stage "dev""#,
            ),
        ];
        for (name, stage, freight, want) in rows {
            assert_eq!(refusal(&s, name, stage, freight), want);
        }
    }

    #[test]
    fn available_freight_gets_a_name_and_the_stage_steps() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let mut obj =
            json!({"metadata": {"namespace": NS}, "spec": {"stage": "dev", "freight": "f1"}});
        admit_new_promotion(&s, NS, &mut obj).unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("dev.") && name.ends_with(".f1"), "{name}");
        assert_eq!(obj["spec"]["steps"][0]["uses"], "git-clone");
    }
}
