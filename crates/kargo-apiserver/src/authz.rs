//! RBAC enforcement over the store: an [`Authorizer`] whose index follows
//! every stored change of Roles, bindings, ServiceAccounts and token
//! Secrets (a change is in effect for the very next request), the
//! middleware that authorizes each request with kube-apiserver's rules and
//! handles impersonation (`Impersonate-User` / `Impersonate-Group`, gated
//! by the `impersonate` verb), and the checks kube-apiserver and Kargo add
//! inside writes: `promote` on the Stage to create a Promotion or approve
//! Freight, and no granting of permissions one does not hold.

use crate::status::{ApiError, ApiResult};
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use kargo_api::{ResourceInfo, resources};
use kargo_rbac::{Attributes, Decision, Index, PolicyRule, RBAC_RESOURCES, UserInfo};
use kargo_store::{EventType, Store, StoreError, WatchEvent, res_key};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// The store-backed authorizer (cheap to clone).
#[derive(Clone)]
pub struct Authorizer {
    store: Store,
    state: Arc<Mutex<State>>,
}

struct State {
    index: Index,
    events: broadcast::Receiver<Arc<WatchEvent>>,
    /// Kept across rebuilds of the index.
    global_namespaces: Vec<String>,
}

fn build(store: &Store) -> Result<Index, StoreError> {
    let mut index = Index::new();
    for info in resources()
        .iter()
        .filter(|r| RBAC_RESOURCES.contains(&res_key(r).as_str()))
    {
        let key = res_key(info);
        for row in store.list(info, None, None, 0)?.0 {
            let v: Value = serde_json::from_str(&row.body)?;
            index.apply(&key, &row.ns, &row.name, Some(&v));
        }
    }
    Ok(index)
}

impl Authorizer {
    /// Builds the index from the store and follows its changes.
    pub fn new(store: Store) -> Result<Self, StoreError> {
        // Subscribe first: a change made while listing is applied twice,
        // never missed.
        let events = store.watch(None)?.live;
        let index = build(&store)?;
        Ok(Self {
            store,
            state: Arc::new(Mutex::new(State {
                index,
                events,
                global_namespaces: Vec::new(),
            })),
        })
    }

    /// Sets the namespaces whose claim-mapped ServiceAccounts apply to an
    /// OpenID Connect user's requests in every namespace (Kargo's
    /// `GLOBAL_SERVICE_ACCOUNT_NAMESPACES`).
    pub fn set_global_namespaces(&self, namespaces: Vec<String>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.index.set_global_namespaces(namespaces.clone());
        st.global_namespaces = namespaces;
    }

    /// Runs `f` on the index after applying every change committed so far
    /// (the store publishes a change before the write returns, so what a
    /// client was told is written is what the next decision sees).
    fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match st.events.try_recv() {
                Ok(ev) => {
                    if RBAC_RESOURCES.contains(&ev.res.as_str()) {
                        let obj = (ev.type_ != EventType::Deleted)
                            .then(|| serde_json::from_str::<Value>(&ev.body).ok())
                            .flatten();
                        st.index.apply(&ev.res, &ev.ns, &ev.name, obj.as_ref());
                    }
                }
                Err(TryRecvError::Lagged(_)) => {
                    // Too many changes to replay: read everything again.
                    match build(&self.store) {
                        Ok(mut ix) => {
                            ix.set_global_namespaces(st.global_namespaces.clone());
                            st.index = ix
                        }
                        Err(e) => tracing::error!(error = %e, "rebuilding the RBAC index"),
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        f(&st.index)
    }

    /// Applies the store's changes every second even when no request
    /// comes, so the change feed never holds more than a second of
    /// events for this subscriber. Run it as a task for the server's life.
    pub async fn follow(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.with_index(|_| ());
        }
    }

    /// Decides `a` for `user`.
    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Decision {
        self.with_index(|ix| ix.authorize(user, a))
    }

    /// The ServiceAccount a bearer token belongs to, if any.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.with_index(|ix| ix.token_user(token))
    }

    /// What `user` holds in `ns`.
    pub fn rules_for(&self, user: &UserInfo, ns: &str) -> Vec<PolicyRule> {
        self.with_index(|ix| ix.rules_for(user, ns))
    }

    /// 403 unless `user` may do `a`.
    pub fn require(&self, user: &UserInfo, a: &Attributes) -> ApiResult<()> {
        if self.authorize(user, a).allowed {
            return Ok(());
        }
        Err(forbidden(a, a.forbidden_message(&user.name)))
    }

    /// 403 unless `user` holds `promote` on Stage `stage`, naming the verb,
    /// the Stage and the roles that would grant it.
    pub fn require_promote(&self, user: &UserInfo, ns: &str, stage: &str) -> ApiResult<()> {
        let a = promote_attributes(ns, stage);
        let (decision, granting) =
            self.with_index(|ix| (ix.authorize(user, &a), ix.roles_granting(&a)));
        if decision.allowed {
            return Ok(());
        }
        let hint = if granting.is_empty() {
            format!(
                "no Role in namespace {ns:?} grants it; grant it with `kargo grant --project {ns} --role <role> --verb promote --resource-type stages --resource-name {stage}`"
            )
        } else {
            format!(
                "it is granted by {}; bind the user to one (for example `kargo grant --project {ns} --role kargo-promoter ...`)",
                granting.join(", ")
            )
        };
        Err(promote_forbidden(user, ns, stage, &hint))
    }

    /// Applies Kargo's and kube-apiserver's in-write checks for `user`
    /// on `obj` (about to be stored; `old` for an update):
    /// - a new Promotion needs `promote` on its Stage and records the user
    ///   as `kargo.akuity.io/create-actor`;
    /// - a Freight approval for a Stage needs `promote` on that Stage;
    /// - a Role, ClusterRole or binding may not grant what `user` does not
    ///   hold (unless the user has `escalate` / `bind`).
    pub fn admit(
        &self,
        user: &UserInfo,
        info: &ResourceInfo,
        ns: &str,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        match info.kind {
            "Role" | "ClusterRole" => self.no_escalation(user, info, ns, obj, rules_in(obj)),
            "RoleBinding" | "ClusterRoleBinding" => {
                let role = obj
                    .pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let cluster =
                    obj.pointer("/roleRef/kind").and_then(Value::as_str) == Some("ClusterRole");
                let granted = self.role_rules(cluster, ns, role)?;
                self.no_escalation(user, info, ns, obj, granted)
            }
            kind => kargo_write_checks(user, kind, obj, old, &|stage| {
                self.require_promote(user, ns, stage)
            }),
        }
    }

    fn role_rules(&self, cluster: bool, ns: &str, role: &str) -> ApiResult<Vec<PolicyRule>> {
        let kind = if cluster { "ClusterRole" } else { "Role" };
        let info =
            kargo_api::lookup_kind("rbac.authorization.k8s.io/v1", kind).expect("registered");
        match self.store.get(info, if cluster { "" } else { ns }, role) {
            Ok(v) => Ok(rules_in(&v)),
            // Binding a role that does not exist yet grants nothing now.
            Err(StoreError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// kube-apiserver's escalation check: every granted rule must be
    /// covered by what `user` holds where the grant applies.
    fn no_escalation(
        &self,
        user: &UserInfo,
        info: &ResourceInfo,
        ns: &str,
        obj: &Value,
        granted: Vec<PolicyRule>,
    ) -> ApiResult<()> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (verb, target) = if info.kind.ends_with("Binding") {
            (
                "bind",
                obj.pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
        } else {
            ("escalate", name)
        };
        // `bind` is on the role the binding names; `escalate` on the role itself.
        let role_kind = if verb == "bind" {
            obj.pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or("")
        } else {
            info.kind
        };
        let role_res = if role_kind == "ClusterRole" {
            "clusterroles"
        } else {
            "roles"
        };
        let bypass = Attributes::resource(verb, kargo_api::RBAC_GROUP, role_res, ns, target);
        if self.authorize(user, &bypass).allowed {
            return Ok(());
        }
        let held = self.rules_for(user, ns);
        let missing: Vec<String> = granted
            .iter()
            .filter(|r| !r.covered_by(&held))
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let a = Attributes::resource(verb, kargo_api::RBAC_GROUP, info.plural, ns, name);
        Err(forbidden(
            &a,
            format!(
                "{}.{} {name:?} is forbidden: user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
                info.plural,
                info.group,
                user.name,
                user.groups,
                missing.join("\n")
            ),
        ))
    }

    /// The user after `Impersonate-User` / `Impersonate-Group`: `user`
    /// needs `impersonate` on `users` (or `serviceaccounts` for a
    /// ServiceAccount's name) and on `groups` for each group.
    pub fn impersonate(&self, user: UserInfo, headers: &HeaderMap) -> ApiResult<UserInfo> {
        let as_user = headers
            .get("impersonate-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let groups: Vec<String> = headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let Some(name) = as_user else {
            if groups.is_empty() {
                return Ok(user);
            }
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "requested [impersonate-group] without impersonating a user",
            ));
        };
        let target = match UserInfo::service_account_of(&name) {
            Some((ns, sa)) => Attributes::resource("impersonate", "", "serviceaccounts", ns, sa),
            None => Attributes::resource("impersonate", "", "users", "", &name),
        };
        self.require(&user, &target)?;
        for g in &groups {
            self.require(
                &user,
                &Attributes::resource("impersonate", "", "groups", "", g),
            )?;
        }
        Ok(UserInfo::new(name, groups))
    }
}

/// A Freight's `status.approvedFor`, kept across a write to find what it
/// approved (see [`record_approvals`]).
pub fn approved_for(freight: &Value) -> Option<Value> {
    freight.pointer("/status/approvedFor").cloned()
}

/// Stages newly in `new`'s `status.approvedFor` that `before` (the
/// previous `approvedFor`) lacked.
/// Kargo's in-write checks on who writes, shared by `kargo server` (its
/// RBAC decides `promote`) and `kargo webhook-server` (a
/// SubjectAccessReview decides): a new Promotion needs `promote` on its
/// Stage and records the user as `kargo.akuity.io/create-actor`, as a new
/// Project does (and a new Event its actor); a Freight approval for a
/// Stage needs `promote` on that Stage.
pub fn kargo_write_checks(
    user: &UserInfo,
    kind: &str,
    obj: &mut Value,
    old: Option<&Value>,
    require_promote: &dyn Fn(&str) -> ApiResult<()>,
) -> ApiResult<()> {
    match kind {
        "Promotion" if old.is_none() => {
            if let Some(stage) = obj.pointer("/spec/stage").and_then(Value::as_str) {
                require_promote(stage)?;
            }
            set_annotation(obj, crate::CREATE_ACTOR, user.actor());
            Ok(())
        }
        "Project" if old.is_none() => {
            set_annotation(obj, crate::CREATE_ACTOR, user.actor());
            Ok(())
        }
        "Event" if old.is_none() => {
            set_annotation(obj, kargo_api::labels::EVENT_ACTOR, user.actor());
            Ok(())
        }
        "Freight" => {
            let before = old.and_then(|o| o.pointer("/status/approvedFor"));
            for stage in new_approvals(before, obj) {
                require_promote(stage)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What promoting to `stage` in `ns` asks: `promote` on the Stage.
pub fn promote_attributes(ns: &str, stage: &str) -> Attributes {
    Attributes::resource("promote", kargo_api::KARGO_GROUP, "stages", ns, stage)
}

/// The 403 for a user who may not promote to `stage`, with `hint`.
pub fn promote_forbidden(user: &UserInfo, ns: &str, stage: &str, hint: &str) -> ApiError {
    let a = promote_attributes(ns, stage);
    forbidden(
        &a,
        format!(
            "{}: promoting to Stage {stage:?} needs the \"promote\" verb on it; {hint}",
            a.forbidden_message(&user.name)
        ),
    )
}

fn new_approvals<'a>(before: Option<&Value>, new: &'a Value) -> Vec<&'a str> {
    new.pointer("/status/approvedFor")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys())
        .filter(|stage| before.and_then(|b| b.get(stage.as_str())).is_none())
        .map(String::as_str)
        .collect()
}

/// After a Freight write by `user`, records each new approval as Kargo's
/// API does: a `FreightApproved` Event naming the Stage and the actor
/// (`event.kargo.akuity.io/actor`). Best effort: the approval is stored
/// already.
pub fn record_approvals(
    store: &Store,
    user: &UserInfo,
    ns: &str,
    approved_before: Option<&Value>,
    new: &Value,
) {
    use kargo_api::event as kev;
    let actor = user.actor();
    for stage in new_approvals(approved_before, new) {
        let message = format!("Freight approved for Stage {stage:?} by {actor:?}");
        let mut a = kev::common(ns, Some(&actor));
        kev::add_freight(&mut a, new, stage);
        let ev = kev::event(
            new,
            "Freight",
            "FreightApproved",
            &message,
            a,
            crate::kargo_events::COMPONENT,
        );
        crate::kargo_events::record(store, ns, ev);
    }
}

/// Records `value` under annotation `key`, replacing what the client sent.
fn set_annotation(obj: &mut Value, key: &str, value: String) {
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if ann.is_object() {
            ann[key] = json!(value);
        }
    }
}

fn rules_in(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

/// A 403 `Status` for `a` with `message`.
fn forbidden(a: &Attributes, message: String) -> ApiError {
    let mut e = ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message);
    e.details = Some(if a.resource_request {
        json!({"name": a.name, "group": a.api_group, "kind": a.resource})
    } else {
        json!({})
    });
    e
}

/// One line per mutating request: who, what, on which object, the answer.
fn audit(user: &UserInfo, a: &Attributes, code: StatusCode) {
    if !matches!(
        a.verb.as_str(),
        "create" | "update" | "patch" | "delete" | "deletecollection" | "post" | "put"
    ) {
        return;
    }
    tracing::info!(
        target: "kargo::audit",
        actor = %user.actor(),
        user = %user.name,
        verb = %a.verb,
        group = %a.api_group,
        resource = %a.combined_resource(),
        namespace = %a.namespace,
        name = %a.name,
        code = code.as_u16(),
        "audit"
    );
}

/// Wraps `router` so every request is authorized for the [`UserInfo`]
/// an outer layer authenticated (a request without one is 401), after
/// impersonation; the access and token reviews are answered here.
pub fn enforce(router: Router, authz: Authorizer) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let authz = authz.clone();
            async move {
                match authorize_request(&authz, req).await {
                    Ok(Ok(req)) => {
                        let (user, a) = (
                            req.extensions().get::<UserInfo>().cloned(),
                            Attributes::from_request(
                                req.method().as_str(),
                                req.uri().path(),
                                req.uri().query(),
                            ),
                        );
                        let res = next.run(req).await;
                        if let Some(u) = user {
                            audit(&u, &a, res.status());
                        }
                        res
                    }
                    Ok(Err(answer)) => answer,
                    Err(e) => e.into_response(),
                }
            }
        },
    ))
}

/// Ok(Ok(request)) to pass on, Ok(Err(answer)) when answered here.
async fn authorize_request(
    authz: &Authorizer,
    mut req: Request,
) -> ApiResult<Result<Request, Response>> {
    let Some(user) = req.extensions().get::<UserInfo>().cloned() else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
        ));
    };
    let user = authz.impersonate(user, req.headers())?;
    req.extensions_mut().insert(user.clone());
    let a = Attributes::from_request(req.method().as_str(), req.uri().path(), req.uri().query());
    let decision = authz.authorize(&user, &a);
    // As through Kargo's API, `promote` on the Stage is enough to create
    // its Promotion: the write goes on and admission requires `promote`
    // on `spec.stage` (`Authorizer::admit`), refusing in its words.
    let promotes = a.verb == "create"
        && a.api_group == kargo_api::KARGO_GROUP
        && a.resource == "promotions"
        && a.subresource.is_empty();
    if !decision.allowed && !promotes {
        audit(&user, &a, StatusCode::FORBIDDEN);
        return Err(forbidden(&a, a.forbidden_message(&user.name)));
    }
    if req.method() == http::Method::POST
        && a.resource_request
        && matches!(
            a.api_group.as_str(),
            "authorization.k8s.io" | "authentication.k8s.io"
        )
    {
        let body = std::mem::take(req.body_mut());
        let bytes = crate::handlers::read_body(req.headers(), body).await?;
        let review = crate::handlers::body_value(req.headers(), &bytes)?;
        let answer = crate::reviews::answer(authz, &user, &a.resource, review)?;
        return Ok(Err((
            StatusCode::CREATED,
            [(http::header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response()));
    }
    Ok(Ok(req))
}
