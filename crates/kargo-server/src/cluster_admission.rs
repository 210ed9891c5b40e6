//! Admission's reads against a cluster, for `kargo webhook-server`: the
//! [`AdmissionStore`] lookups as GET and label-selected LIST requests, and
//! the `promote` check as a `SubjectAccessReview` for the user the
//! AdmissionReview names — so the RBAC of the cluster decides, as for
//! Kargo's webhooks. Admission is synchronous; these calls are made from
//! a blocking thread through the runtime's handle, each with a timeout.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kargo_api::ResourceInfo;
use kargo_apiserver::authz::WriteCheckContext;
use kargo_apiserver::{AdmissionStore, ApiError, Attributes, UserInfo};
use kargo_store::StoreError;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use serde_json::Value;
use std::time::Duration;

/// How long one lookup or review may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// Admission's view of a cluster.
pub struct ClusterStore {
    client: kube::Client,
    handle: tokio::runtime::Handle,
}

impl ClusterStore {
    /// Lookups through `client`, run on `handle` (call them from a
    /// blocking thread).
    pub fn new(client: kube::Client, handle: tokio::runtime::Handle) -> ClusterStore {
        ClusterStore { client, handle }
    }

    fn api(&self, info: &ResourceInfo, ns: &str) -> Api<DynamicObject> {
        let ar = ApiResource {
            group: info.group.into(),
            version: info.version.into(),
            api_version: info.api_version(),
            kind: info.kind.into(),
            plural: info.plural.into(),
        };
        if info.namespaced() {
            Api::namespaced_with(self.client.clone(), ns, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        }
    }

    fn call<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        self.handle
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, f).await })
            .unwrap_or_else(|_| {
                Err(kube::Error::Service(
                    format!("{what}: no answer within {CALL_TIMEOUT:?}").into(),
                ))
            })
    }

    /// Whether the cluster's RBAC lets `user` do `a` (a
    /// SubjectAccessReview), with the cluster's reason when it does not.
    fn review(&self, user: &UserInfo, a: &Attributes) -> Result<(bool, String), ApiError> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                groups: Some(user.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(a.verb.clone()),
                    group: Some(a.api_group.clone()),
                    resource: Some(a.resource.clone()),
                    namespace: Some(a.namespace.clone()),
                    name: Some(a.name.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = self
            .call(
                "SubjectAccessReview",
                api.create(&PostParams::default(), &review),
            )
            .map_err(|e| {
                ApiError::new(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    format!(
                        "checking the {:?} verb with a SubjectAccessReview: {e}",
                        a.verb
                    ),
                )
            })?;
        let status = answer.status.unwrap_or_default();
        Ok((status.allowed, status.reason.unwrap_or_default()))
    }

    /// Whether `user` may do `a` on the cluster.
    pub fn may(&self, user: &UserInfo, a: &Attributes) -> Result<bool, ApiError> {
        Ok(self.review(user, a)?.0)
    }

    /// The `promote` check: a SubjectAccessReview for `user` on the Stage.
    pub fn require_promote(&self, user: &UserInfo, ns: &str, stage: &str) -> Result<(), ApiError> {
        let a = kargo_apiserver::authz::promote_attributes(ns, stage);
        let (allowed, reason) = self.review(user, &a)?;
        if allowed {
            return Ok(());
        }
        let why = Some(reason)
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        Err(kargo_apiserver::authz::promote_forbidden(
            user,
            ns,
            stage,
            &format!("the cluster's RBAC does not grant it{why}"),
        ))
    }
}

/// `kargo webhook-server`: the cluster's RBAC decides, through
/// SubjectAccessReviews.
impl WriteCheckContext for ClusterStore {
    fn require_promote(&self, user: &UserInfo, ns: &str, stage: &str) -> Result<(), ApiError> {
        ClusterStore::require_promote(self, user, ns, stage)
    }

    fn may(&self, user: &UserInfo, a: &Attributes) -> Result<bool, ApiError> {
        ClusterStore::may(self, user, a)
    }
}

fn store_error(info: &ResourceInfo, name: &str, e: kube::Error) -> StoreError {
    match e {
        kube::Error::Api(s) if s.code == 404 => StoreError::NotFound {
            kind: info.plural.to_string(),
            name: name.to_string(),
        },
        e => StoreError::Internal(format!("{} {name:?}: {e}", info.plural)),
    }
}

impl AdmissionStore for ClusterStore {
    fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Value, StoreError> {
        let api = self.api(info, ns);
        let obj = self
            .call(info.plural, api.get(name))
            .map_err(|e| store_error(info, name, e))?;
        serde_json::to_value(obj).map_err(|e| StoreError::Internal(e.to_string()))
    }

    fn get_text(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<String, StoreError> {
        let api = self.api(info, ns);
        let obj = self
            .call(info.plural, api.get(name))
            .map_err(|e| store_error(info, name, e))?;
        serde_json::to_string(&obj).map_err(|e| StoreError::Internal(e.to_string()))
    }

    fn names_with_label(
        &self,
        info: &ResourceInfo,
        ns: &str,
        key: &str,
        value: &str,
    ) -> Result<Vec<String>, StoreError> {
        let api = self.api(info, ns);
        let lp = ListParams::default().labels(&format!("{key}={value}"));
        let list = self
            .call(info.plural, api.list(&lp))
            .map_err(|e| store_error(info, "", e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect())
    }
}
