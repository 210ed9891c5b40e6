//! Kubernetes RBAC as kube-apiserver evaluates it: who is asking
//! ([`UserInfo`]), what they ask ([`Attributes`]), the rules of Roles and
//! ClusterRoles ([`PolicyRule`]) and an [`Index`] of bindings by subject so
//! one decision looks only at the bindings that name the user or one of
//! its groups, or (for an OpenID Connect user) the ServiceAccounts its
//! claims map to ([`ClaimIndex`]). No aggregation. Pure: the server feeds objects in.

mod claims;
mod index;
mod rule;
mod user;

pub use claims::{
    CLAIM_PREFIX, CLAIMS_ANNOTATION, ClaimIndex, claims_of, flatten as flatten_claims,
};
pub use index::{Decision, Index, RBAC_RESOURCES, SA_NAME_ANNOTATION, SA_TOKEN_TYPE};
pub use rule::PolicyRule;
pub use user::{Attributes, OidcIdentity, UserInfo};
