//! Promotion windows at admission, the arbiter (Kargo: windows gate all
//! promotions uniformly — auto, manual and rollback): a new Promotion to a
//! Stage whose schedule is closed is refused with the reason and the next
//! opening, unless it carries `kargo.akuity.io/override-window` with a
//! reason (who may override is checked with the user, in `authz.rs`).

use crate::AdmissionStore;
use crate::status::{ApiError, ApiResult};
use kargo_api::labels::{CREATE_ACTOR, OVERRIDE_WINDOW, OVERRIDE_WINDOW_ACTOR};
use kargo_api::promotion_window::{self, Subject};
use kargo_api::stage::PromotionWindowStatus;
use kargo_api::{ClusterConfig, Project, ProjectConfig, Stage, lookup_kind};
use kargo_store::StoreError;
use serde_json::{Value, json};

/// One object from the store, or None when it does not exist.
fn read<T: serde::de::DeserializeOwned>(
    store: &dyn AdmissionStore,
    kind: &str,
    ns: &str,
    name: &str,
) -> ApiResult<Option<T>> {
    let info = lookup_kind("kargo.akuity.io/v1alpha1", kind).expect("registered");
    match store.get_text(info, ns, name) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The schedule gating `stage` (in project `ns`) at `now`, from the
/// stored ProjectConfig, ClusterConfig and Project; None when no window
/// applies.
pub fn schedule(
    store: &dyn AdmissionStore,
    ns: &str,
    stage: &Stage,
    now_ms: i64,
) -> ApiResult<Option<PromotionWindowStatus>> {
    let pc: Option<ProjectConfig> = read(store, "ProjectConfig", ns, ns)?;
    let cc: Option<ClusterConfig> = read(store, "ClusterConfig", "", "cluster")?;
    if pc
        .as_ref()
        .is_none_or(|p| p.spec.promotion_windows.is_empty())
        && cc
            .as_ref()
            .is_none_or(|c| c.spec.promotion_windows.is_empty())
    {
        return Ok(None);
    }
    let project: Option<Project> = read(store, "Project", "", ns)?;
    let project_labels = project.and_then(|p| p.metadata.labels).unwrap_or_default();
    let name = stage.metadata.name.clone().unwrap_or_default();
    let stage_labels = stage.metadata.labels.clone().unwrap_or_default();
    let who = Subject {
        stage: &name,
        stage_labels: &stage_labels,
        project: ns,
        project_labels: &project_labels,
    };
    let windows = promotion_window::applicable(
        pc.as_ref().map(|p| &p.spec),
        cc.as_ref().map(|c| &c.spec),
        &who,
    );
    Ok(promotion_window::evaluate(
        &windows,
        promotion_window::instant(now_ms),
    ))
}

/// Refuses the Promotion `obj` while the Stage's windows are closed,
/// unless it overrides them with a reason; an override is recorded with
/// its actor (the creator until the API server names the user).
pub fn admit(
    store: &dyn AdmissionStore,
    ns: &str,
    stage: &Stage,
    obj: &mut Value,
    refuse: impl FnOnce(String) -> ApiError,
) -> ApiResult<()> {
    let ann = |k: &str| {
        obj.pointer(&format!("/metadata/annotations/{}", k.replace('/', "~1")))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let overriding = ann(OVERRIDE_WINDOW);
    let creator = ann(CREATE_ACTOR);
    // Only the server says who overrode.
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(OVERRIDE_WINDOW_ACTOR);
    }
    if let Some(reason) = &overriding {
        if reason.trim().is_empty() {
            return Err(refuse(format!(
                "overriding promotion windows needs a reason ({OVERRIDE_WINDOW})"
            )));
        }
        let actor = creator.unwrap_or_else(|| "admin".into());
        obj["metadata"]["annotations"][OVERRIDE_WINDOW_ACTOR] = json!(actor);
        return Ok(());
    }
    if let Some(status) = schedule(store, ns, stage, jiff::Timestamp::now().as_millisecond())?
        && status.closed
    {
        return Err(refuse(promotion_window::closed_message(
            stage.metadata.name.as_deref().unwrap_or_default(),
            &status,
        )));
    }
    Ok(())
}
