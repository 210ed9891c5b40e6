//! Kargo's resource model: the typed objects of `kargo.akuity.io/v1alpha1`
//! and `argoproj.io/v1alpha1` with Kargo's exact field names, the registry
//! of every kind the server serves, defaulting, validation, Freight
//! identity (ID and alias) and printer columns.

#[macro_use]
mod object;
pub mod analysis;
pub mod application;
pub mod availability;
pub mod common;
pub mod crd;
pub mod defaults;
pub mod delivery_inputs;
pub mod delivery_stats;
pub mod delivery_text;
pub mod event;
pub mod freight;
pub mod freight_alias;
pub mod freight_id;
pub mod glob;
pub mod k8s_names;
pub mod notification;
pub mod pattern;
pub mod policy_selector;
pub mod printer;
pub mod project;
pub mod promotion;
pub mod promotion_window;
pub mod redact;
pub mod registry;
pub mod schema;
pub mod stage;
pub mod target;
pub mod urls;
pub mod validate;
pub mod verification_request;
pub mod warehouse;

pub use analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
pub use application::Application;
pub use freight::Freight;
pub use project::{ClusterConfig, Project, ProjectConfig};
pub use promotion::{ClusterPromotionTask, Promotion, PromotionTask};
pub use registry::{RBAC_GROUP, ResourceInfo, Scope, lookup_kind, lookup_plural, resources};
pub use stage::Stage;
pub use target::{PromotionRequest, Target};
pub use warehouse::Warehouse;

/// The API group of Kargo's own kinds.
pub const KARGO_GROUP: &str = "kargo.akuity.io";
/// The API group of Argo's kinds (AnalysisTemplate, AnalysisRun, Application).
pub const ARGO_GROUP: &str = "argoproj.io";
/// The group of Kargo Enterprise's kinds served here (notifications).
pub const EE_GROUP: &str = "ee.kargo.akuity.io";
/// The version served for both groups.
pub const VERSION: &str = "v1alpha1";

/// The namespaces a Kargo installation keeps besides projects (Kargo's
/// defaults for `SHARED_RESOURCES_NAMESPACE` and
/// `SYSTEM_RESOURCES_NAMESPACE`).
pub mod namespaces {
    /// Credentials and ConfigMaps every project may use
    /// (`kargo create repo-credentials --shared`).
    pub const SHARED_RESOURCES: &str = "kargo-shared-resources";
    /// Credentials and ConfigMaps for the installation itself
    /// (`kargo create generic-credentials --system`).
    pub const SYSTEM_RESOURCES: &str = "kargo-system-resources";
}

/// Well-known labels and annotations.
pub mod labels {
    /// Label holding a Freight's human-friendly alias.
    pub const ALIAS: &str = "kargo.akuity.io/alias";
    /// Label marking a namespace as a Kargo project.
    pub const PROJECT: &str = "kargo.akuity.io/project";
    /// Annotation requesting a refresh of a Warehouse or Stage.
    pub const REFRESH: &str = "kargo.akuity.io/refresh";
    /// Annotation requesting re-verification of a Stage.
    pub const REVERIFY: &str = "kargo.akuity.io/reverify";
    /// Annotation requesting an abort (Promotion or verification).
    pub const ABORT: &str = "kargo.akuity.io/abort";
    /// Label a Secret carries to be used as credentials: `git`, `helm`,
    /// `image` (repository credentials) or `generic`.
    pub const CRED_TYPE: &str = "kargo.akuity.io/cred-type";
    /// The `kargo.akuity.io/cred-type` value of generic credentials.
    pub const CRED_TYPE_GENERIC: &str = "generic";
    /// Annotation holding a human-readable description (credentials, ConfigMaps).
    pub const DESCRIPTION: &str = "kargo.akuity.io/description";
    /// Annotation asking for a shared resource to be copied into projects (`*`: all).
    pub const REPLICATE_TO: &str = "kargo.akuity.io/replicate-to";
    /// Annotation on an Argo CD Application naming the Stage allowed to update it.
    pub const AUTHORIZED_STAGE: &str = "kargo.akuity.io/authorized-stage";
    /// Annotation recording who created a Promotion or Project.
    pub const CREATE_ACTOR: &str = "kargo.akuity.io/create-actor";
    /// Annotation recording who caused an Event.
    pub const EVENT_ACTOR: &str = "event.kargo.akuity.io/actor";
    /// Label naming the shard whose controller reconciles a Stage,
    /// Promotion, Warehouse or AnalysisRun (from the Stage's or
    /// Warehouse's `spec.shard`).
    pub const SHARD: &str = "kargo.akuity.io/shard";
    /// Label on a controller's heartbeat Lease naming its shard.
    pub const CONTROLLER: &str = "kargo.akuity.io/controller";
    /// Annotation marking a Promotion made to roll a Stage back to the
    /// last Freight verified there (`"true"`).
    pub const ROLLBACK: &str = "kargo.akuity.io/rollback";
    /// Annotation on a Promotion holding auto-promotion of the origin it
    /// names once it ends (Kargo's hold intent).
    pub const AUTO_PROMOTION_HOLD: &str = "kargo.akuity.io/auto-promotion-hold";
    /// Annotation on a Promotion releasing the hold on the origin it
    /// names once it ends (Kargo's resume intent).
    pub const AUTO_PROMOTION_RESUME: &str = "kargo.akuity.io/auto-promotion-resume";
    /// Annotation asking a Promotion past closed promotion windows; the
    /// value is the reason (`kargo promote --override-window --reason`).
    pub const OVERRIDE_WINDOW: &str = "kargo.akuity.io/override-window";
    /// Annotation the API server sets to who overrode the windows.
    pub const OVERRIDE_WINDOW_ACTOR: &str = "kargo.akuity.io/override-window-actor";
}
