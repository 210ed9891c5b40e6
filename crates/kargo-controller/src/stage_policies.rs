//! The promotion policies beyond auto-promotion, applied in one step of
//! the Stage reconcile, in order: promotion windows
//! (`status.promotionWindowStatus`, `stage_windows.rs`), auto-promotion
//! holds (`holds.rs`), then automatic rollback (`rollback.rs`). What the
//! Stage controller learns: whether it may auto-promote now, when to look
//! again, and the rollback Promotion it made.

use crate::informers::Caches;
use crate::stage_windows::{self, ClusterWindows};
use kargo_api::Stage;
use kargo_api::project::PromotionPolicy;
use kargo_api::stage::StageStatus;
use kube::ResourceExt;

/// What the policies read.
pub struct Inputs<'a> {
    /// Writes (the rollback Promotion, Events) go through it.
    pub client: &'a kube::Client,
    /// The shared caches.
    pub caches: &'a Caches,
    /// The ClusterConfig's windows.
    pub windows: &'a ClusterWindows,
    /// The Stage.
    pub stage: &'a Stage,
    /// Its status before this reconcile.
    pub old: &'a StageStatus,
    /// The ProjectConfig's promotion policies.
    pub policies: &'a [PromotionPolicy],
    /// Auto-promotion is on for the Stage.
    pub auto: bool,
    /// The Stage takes Promotions and none is in flight.
    pub idle: bool,
    /// Now, in milliseconds since the epoch.
    pub now_ms: i64,
}

/// What the Stage controller does next.
pub struct Gate {
    /// Auto-promotion may run now: windows are open and no rollback is
    /// waiting for its turn.
    pub open: bool,
    /// When to look again (the windows' next change).
    pub due: Option<i64>,
    /// The rollback Promotion that now occupies the Stage.
    pub rollback: Option<String>,
}

/// Writes the window status and holds into `st`, and rolls back when the
/// policy calls for it.
pub async fn apply(i: &Inputs<'_>, st: &mut StageStatus) -> Result<Gate, kube::Error> {
    let window = stage_windows::status(i.client, i.windows, i.caches, i.stage, i.now_ms).await;
    let closed = stage_windows::closed(window.as_ref());
    let due = stage_windows::due(window.as_ref());
    st.promotion_window_status = window;

    let ns = i.stage.namespace().unwrap_or_default();
    let promotions = i.caches.index.promotions_of(&ns, &i.stage.name_any());
    crate::holds::update(i.stage, st, &promotions, i.auto);

    let mut rollback = None;
    let mut waiting = false;
    if i.idle {
        match crate::rollback::run(i.client, i.caches, i.stage, i.old, st, i.policies, closed)
            .await?
        {
            crate::rollback::Outcome::Created(name) => rollback = Some(name),
            crate::rollback::Outcome::Waiting => waiting = true,
            crate::rollback::Outcome::Nothing => {}
        }
    }
    Ok(Gate {
        open: !closed && !waiting,
        due,
        rollback,
    })
}
