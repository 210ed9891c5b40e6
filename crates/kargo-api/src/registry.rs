//! The registry of every kind the server serves: group, version, kind,
//! plural, short names, scope, printer columns and the typed validator.
//! Discovery, routing, validation and `kubectl get` columns all read it.

use crate::printer::Column;
use crate::validate::{self, Outcome};
use serde_json::Value;

/// Whether a kind lives in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Namespaced.
    Namespaced,
    /// Cluster-scoped.
    Cluster,
}

/// Everything the server needs to know about one kind.
pub struct ResourceInfo {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name (URL segment).
    pub plural: &'static str,
    /// Lowercase singular.
    pub singular: &'static str,
    /// kubectl short names.
    pub short_names: &'static [&'static str],
    /// Scope.
    pub scope: Scope,
    /// Whether the kind has a `status` subresource.
    pub has_status: bool,
    /// Categories (`kubectl get kargo`).
    pub categories: &'static [&'static str],
    /// Printer columns after `Name` (Age is added last).
    pub columns: &'static [Column],
    /// Validates an object of this kind (typed decode plus rules).
    pub validate: fn(&Value) -> Outcome,
}

impl ResourceInfo {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// True when namespaced.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// Whether `spec` changes bump `metadata.generation` (kinds with a spec).
    pub fn has_generation(&self) -> bool {
        (!self.group.is_empty() && self.group != RBAC_GROUP) || self.kind == "Namespace"
    }
}

use crate::printer::col;
use Scope::{Cluster, Namespaced};

const READY: Column = col(
    "Ready",
    "string",
    r#".status.conditions[?(@.type=="Ready")].status"#,
    0,
);
const STATUS: Column = col(
    "Status",
    "string",
    r#".status.conditions[?(@.type=="Ready")].message"#,
    0,
);
const KARGO: &[&str] = &["kargo"];
/// The group of Kubernetes RBAC.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const ROLE_REF: Column = col("Role", "string", ".roleRef.name", 0);

static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Project",
        plural: "projects",
        singular: "project",
        short_names: &[],
        scope: Cluster,
        has_status: true,
        categories: KARGO,
        columns: &[READY, STATUS],
        validate: validate::project,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "ProjectConfig",
        plural: "projectconfigs",
        singular: "projectconfig",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[READY, STATUS],
        validate: validate::project_config,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "ClusterConfig",
        plural: "clusterconfigs",
        singular: "clusterconfig",
        short_names: &["clusterconfig", "clusterconfigs"],
        scope: Cluster,
        has_status: true,
        categories: KARGO,
        columns: &[READY, STATUS],
        validate: validate::cluster_config,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Warehouse",
        plural: "warehouses",
        singular: "warehouse",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[col("Shard", "string", ".spec.shard", 0), READY, STATUS],
        validate: validate::warehouse,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Freight",
        plural: "freights",
        singular: "freight",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[
            col(
                "Alias",
                "string",
                r#".metadata.labels.kargo\.akuity\.io/alias"#,
                0,
            ),
            col("Origin (Kind)", "string", ".origin.kind", 0),
            col("Origin (Name)", "string", ".origin.name", 0),
        ],
        validate: validate::freight,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Stage",
        plural: "stages",
        singular: "stage",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[
            col("Shard", "string", ".spec.shard", 0),
            col("Current Freight", "string", ".status.freightSummary", 0),
            col("Health", "string", ".status.health.status", 0),
            READY,
            STATUS,
        ],
        validate: validate::stage,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Promotion",
        plural: "promotions",
        singular: "promotion",
        short_names: &["promo", "promos"],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[
            col(
                "Shard",
                "string",
                r#".metadata.labels.kargo\.akuity\.io/shard"#,
                1,
            ),
            col("Stage", "string", ".spec.stage", 0),
            col("Freight", "string", ".spec.freight", 0),
            col("Phase", "string", ".status.phase", 0),
        ],
        validate: validate::promotion,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "PromotionTask",
        plural: "promotiontasks",
        singular: "promotiontask",
        short_names: &["promotask", "promotasks"],
        scope: Namespaced,
        has_status: false,
        categories: KARGO,
        columns: &[],
        validate: validate::promotion_task,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "ClusterPromotionTask",
        plural: "clusterpromotiontasks",
        singular: "clusterpromotiontask",
        short_names: &["clusterpromotask", "clusterpromotasks"],
        scope: Cluster,
        has_status: false,
        categories: KARGO,
        columns: &[],
        validate: validate::cluster_promotion_task,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "Target",
        plural: "targets",
        singular: "target",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[],
        validate: crate::target::validate_target,
    },
    ResourceInfo {
        group: crate::KARGO_GROUP,
        version: "v1alpha1",
        kind: "PromotionRequest",
        plural: "promotionrequests",
        singular: "promotionrequest",
        short_names: &["promotionrequest", "promotionrequests"],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[
            col("Stage", "string", ".spec.stage", 0),
            col("Freight", "string", ".spec.freight", 0),
            col("Phase", "string", ".status.phase", 0),
        ],
        validate: crate::target::validate_promotion_request,
    },
    ResourceInfo {
        group: crate::ARGO_GROUP,
        version: "v1alpha1",
        kind: "AnalysisTemplate",
        plural: "analysistemplates",
        singular: "analysistemplate",
        short_names: &["at"],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::analysis_template,
    },
    ResourceInfo {
        group: crate::ARGO_GROUP,
        version: "v1alpha1",
        kind: "ClusterAnalysisTemplate",
        plural: "clusteranalysistemplates",
        singular: "clusteranalysistemplate",
        short_names: &["cat"],
        scope: Cluster,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::cluster_analysis_template,
    },
    ResourceInfo {
        group: crate::ARGO_GROUP,
        version: "v1alpha1",
        kind: "AnalysisRun",
        plural: "analysisruns",
        singular: "analysisrun",
        short_names: &["ar"],
        scope: Namespaced,
        has_status: true,
        categories: &[],
        columns: &[col("Status", "string", ".status.phase", 0)],
        validate: validate::analysis_run,
    },
    ResourceInfo {
        group: crate::EE_GROUP,
        version: "v1alpha1",
        kind: "MessageChannel",
        plural: "messagechannels",
        singular: "messagechannel",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[],
        validate: validate::message_channel,
    },
    ResourceInfo {
        group: crate::EE_GROUP,
        version: "v1alpha1",
        kind: "ClusterMessageChannel",
        plural: "clustermessagechannels",
        singular: "clustermessagechannel",
        short_names: &[],
        scope: Cluster,
        has_status: true,
        categories: KARGO,
        columns: &[],
        validate: validate::message_channel,
    },
    ResourceInfo {
        group: crate::EE_GROUP,
        version: "v1alpha1",
        kind: "EventRouter",
        plural: "eventrouters",
        singular: "eventrouter",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: KARGO,
        columns: &[col("Types", "string", ".spec.types", 0)],
        validate: validate::event_router,
    },
    ResourceInfo {
        group: crate::ARGO_GROUP,
        version: "v1alpha1",
        kind: "Application",
        plural: "applications",
        singular: "application",
        short_names: &["app", "apps"],
        scope: Namespaced,
        // As Argo CD's CRD: no status subresource; Argo CD (and Kargo)
        // write `status` with the rest of the object.
        has_status: false,
        categories: &[],
        columns: &[
            col("Sync Status", "string", ".status.sync.status", 0),
            col("Health Status", "string", ".status.health.status", 0),
        ],
        validate: validate::application,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        short_names: &["ns"],
        scope: Cluster,
        has_status: true,
        categories: &[],
        columns: &[col("Status", "string", ".status.phase", 0)],
        validate: validate::namespace,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        short_names: &[],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[col("Type", "string", ".type", 0)],
        validate: validate::secret,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        short_names: &["cm"],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::config_map,
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        short_names: &["deploy"],
        scope: Namespaced,
        has_status: true,
        categories: &[],
        columns: &[
            col("Ready", "integer", ".status.readyReplicas", 0),
            col("Available", "integer", ".status.availableReplicas", 0),
        ],
        validate: validate::deployment,
    },
    // Storage only, so `kargo install` output applies to this server:
    // nothing routes to Services or calls the webhooks registered here.
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        short_names: &["svc"],
        scope: Namespaced,
        has_status: true,
        categories: &["all"],
        columns: &[
            col("Type", "string", ".spec.type", 0),
            col("Cluster-IP", "string", ".spec.clusterIP", 0),
        ],
        validate: validate::service,
    },
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "MutatingWebhookConfiguration",
        plural: "mutatingwebhookconfigurations",
        singular: "mutatingwebhookconfiguration",
        short_names: &[],
        scope: Cluster,
        has_status: false,
        categories: &["api-extensions"],
        columns: &[],
        validate: validate::webhook_configuration,
    },
    ResourceInfo {
        group: "admissionregistration.k8s.io",
        version: "v1",
        kind: "ValidatingWebhookConfiguration",
        plural: "validatingwebhookconfigurations",
        singular: "validatingwebhookconfiguration",
        short_names: &[],
        scope: Cluster,
        has_status: false,
        categories: &["api-extensions"],
        columns: &[],
        validate: validate::webhook_configuration,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        short_names: &["po"],
        scope: Namespaced,
        has_status: true,
        categories: &[],
        columns: &[
            col("Status", "string", ".status.phase", 0),
            col("Started", "string", ".status.startTime", 0),
        ],
        validate: validate::server_process,
    },
    // Storage only, for cluster mode against this server: leader election
    // and heartbeat Leases, and the job metric provider's Jobs (nothing
    // here runs them; see docs/cluster.md).
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        short_names: &[],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[col("Holder", "string", ".spec.holderIdentity", 0)],
        validate: validate::lease,
    },
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        singular: "job",
        short_names: &[],
        scope: Namespaced,
        has_status: true,
        categories: &["all"],
        columns: &[
            col(
                "Status",
                "string",
                r#".status.conditions[?(@.status=="True")].type"#,
                0,
            ),
            col("Succeeded", "integer", ".status.succeeded", 0),
        ],
        validate: validate::job,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        short_names: &["ev"],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Object", "string", ".involvedObject.name", 0),
            col("Message", "string", ".message", 0),
        ],
        validate: validate::event,
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        short_names: &["sa"],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::service_account,
    },
    ResourceInfo {
        group: RBAC_GROUP,
        version: "v1",
        kind: "Role",
        plural: "roles",
        singular: "role",
        short_names: &[],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::role,
    },
    ResourceInfo {
        group: RBAC_GROUP,
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        singular: "clusterrole",
        short_names: &[],
        scope: Cluster,
        has_status: false,
        categories: &[],
        columns: &[],
        validate: validate::role,
    },
    ResourceInfo {
        group: RBAC_GROUP,
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        singular: "rolebinding",
        short_names: &[],
        scope: Namespaced,
        has_status: false,
        categories: &[],
        columns: &[ROLE_REF],
        validate: validate::role_binding,
    },
    ResourceInfo {
        group: RBAC_GROUP,
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        short_names: &[],
        scope: Cluster,
        has_status: false,
        categories: &[],
        columns: &[ROLE_REF],
        validate: validate::role_binding,
    },
    // Stored only, so `kargo install crds | kubectl apply -f -` can be
    // tried against this server; nothing serves the kinds they define.
    ResourceInfo {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        short_names: &["crd", "crds"],
        scope: Cluster,
        has_status: true,
        categories: &["api-extensions"],
        columns: &[],
        validate: validate::custom_resource_definition,
    },
];

/// Every served kind.
pub fn resources() -> &'static [ResourceInfo] {
    RESOURCES
}

/// Finds a kind by group and plural resource name.
pub fn lookup_plural(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Finds a kind by `apiVersion` and kind. An empty `apiVersion` matches
/// any group (so Kargo kinds written without `apiVersion` are inferred).
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && (api_version.is_empty() || r.api_version() == api_version))
}

/// Resolves what a user typed (`stage`, `stages`, `promo`, `Stage`,
/// `stages.kargo.akuity.io`) to a kind.
pub fn resolve_name(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    let (base, group) = match lower.split_once('.') {
        Some((b, g)) => (b.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    RESOURCES.iter().find(|r| {
        group.as_deref().is_none_or(|g| r.group == g)
            && (r.plural == base
                || r.singular == base
                || r.short_names.contains(&base.as_str())
                || r.kind.eq_ignore_ascii_case(&base))
    })
}
