//! Kubernetes RBAC as kube-apiserver evaluates it: who is asking
//! ([`UserInfo`]), what they ask ([`Attributes`]), the rules of Roles and
//! ClusterRoles ([`PolicyRule`]) and an [`Index`] of bindings by subject so
//! one decision looks only at the bindings that name the user or one of
//! its groups. No aggregation. Pure: the server feeds objects in.

mod index;
mod rule;
mod user;

pub use index::{Decision, Index, RBAC_RESOURCES, SA_NAME_ANNOTATION, SA_TOKEN_TYPE};
pub use rule::PolicyRule;
pub use user::{Attributes, UserInfo};
