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
    /// The newest change the index has seen (of any resource): a lag
    /// replays the RBAC kinds' changes after it from the watch log.
    seen_rv: u64,
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

/// Applies one stored change to the index when it is of an RBAC kind.
fn apply_event(index: &mut Index, ev: &WatchEvent) {
    if RBAC_RESOURCES.contains(&ev.res.as_str()) {
        let obj = (ev.type_ != EventType::Deleted)
            .then(|| serde_json::from_str::<Value>(&ev.body).ok())
            .flatten();
        index.apply(&ev.res, &ev.ns, &ev.name, obj.as_ref());
    }
}

impl Authorizer {
    /// Builds the index from the store and follows its changes.
    pub fn new(store: Store) -> Result<Self, StoreError> {
        // Subscribe first: a change made while listing is applied twice,
        // never missed.
        let seen_rv = store.current_rv();
        let events = store.watch(None)?.live;
        let index = build(&store)?;
        Ok(Self {
            store,
            state: Arc::new(Mutex::new(State {
                index,
                events,
                seen_rv,
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
                    st.seen_rv = st.seen_rv.max(ev.rv);
                    apply_event(&mut st.index, &ev);
                }
                Err(TryRecvError::Lagged(_)) => self.catch_up(&mut st),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        f(&st.index)
    }

    /// After the live buffer moved on without us: replays the RBAC kinds'
    /// changes since the last one seen from the watch log (their bodies
    /// only), and rebuilds the whole index only when that history is gone.
    fn catch_up(&self, st: &mut State) {
        match self.store.watch_resources(Some(st.seen_rv), RBAC_RESOURCES) {
            Ok(sub) => {
                for ev in &sub.backlog {
                    st.seen_rv = st.seen_rv.max(ev.rv);
                    apply_event(&mut st.index, ev);
                }
                st.events = sub.live;
            }
            Err(e) => {
                tracing::warn!(error = %e, "replaying RBAC changes; rebuilding the index");
                let rebuilt = self.store.watch(None).and_then(|sub| {
                    let rv = self.store.current_rv();
                    Ok((sub.live, rv, build(&self.store)?))
                });
                match rebuilt {
                    Ok((live, rv, mut ix)) => {
                        ix.set_global_namespaces(st.global_namespaces.clone());
                        st.index = ix;
                        st.events = live;
                        st.seen_rv = rv;
                    }
                    Err(e) => tracing::error!(error = %e, "rebuilding the RBAC index"),
                }
            }
        }
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
    ///   as `kargo.akuity.io/create-actor`; one overriding promotion
    ///   windows needs `update` on the ProjectConfig and records the user
    ///   as `kargo.akuity.io/override-window-actor`;
    /// - a Stage's auto-promotion hold needs `promote` on it and records
    ///   the user;
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
            kind => kargo_write_checks(self, user, kind, ns, obj, old),
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

/// Who decides a writer's permissions for [`kargo_write_checks`]:
/// `kargo server`'s own RBAC (the [`Authorizer`]) or, in `kargo
/// webhook-server`, the cluster's (a SubjectAccessReview per question).
pub trait WriteCheckContext {
    /// Ok when `user` holds `promote` on the Stage `stage` in `ns`, else
    /// the 403 to answer (see [`promote_forbidden`]).
    fn require_promote(&self, user: &UserInfo, ns: &str, stage: &str) -> ApiResult<()>;

    /// Whether `user` may do `a`.
    fn may(&self, user: &UserInfo, a: &Attributes) -> ApiResult<bool>;
}

/// `kargo server`: its RBAC index decides.
impl WriteCheckContext for Authorizer {
    fn require_promote(&self, user: &UserInfo, ns: &str, stage: &str) -> ApiResult<()> {
        Authorizer::require_promote(self, user, ns, stage)
    }

    fn may(&self, user: &UserInfo, a: &Attributes) -> ApiResult<bool> {
        Ok(self.authorize(user, a).allowed)
    }
}

/// Kargo's in-write checks on who writes, shared by `kargo server` and
/// `kargo webhook-server` (`checks` decides for each): a new Promotion
/// needs `promote` on its Stage and records the user as
/// `kargo.akuity.io/create-actor`, as a new Project does (and a new Event
/// its actor); a Promotion overriding the promotion windows needs
/// `update` on the project's ProjectConfig and records who overrode; a
/// Stage hold or release needs `promote` on the Stage; a Freight approval
/// for a Stage needs `promote` on that Stage.
pub fn kargo_write_checks(
    checks: &dyn WriteCheckContext,
    user: &UserInfo,
    kind: &str,
    ns: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    match kind {
        "Promotion" if old.is_none() => {
            if let Some(stage) = obj.pointer("/spec/stage").and_then(Value::as_str) {
                checks.require_promote(user, ns, stage)?;
            }
            set_annotation(obj, crate::CREATE_ACTOR, user.actor());
            if obj
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(kargo_api::labels::OVERRIDE_WINDOW))
                .is_some()
            {
                require_window_override(checks, user, ns)?;
                set_annotation(obj, kargo_api::labels::OVERRIDE_WINDOW_ACTOR, user.actor());
            }
            Ok(())
        }
        "Stage" => admit_stage_hold(checks, user, ns, obj, old),
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
                checks.require_promote(user, ns, stage)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// 403 unless `user` may override the project's promotion windows:
/// whoever may change its ProjectConfig (where the windows are) may also
/// step past them, with a reason.
fn require_window_override(
    checks: &dyn WriteCheckContext,
    user: &UserInfo,
    ns: &str,
) -> ApiResult<()> {
    let a = Attributes::resource("update", kargo_api::KARGO_GROUP, "projectconfigs", ns, ns);
    if checks.may(user, &a)? {
        return Ok(());
    }
    Err(forbidden(
        &a,
        format!(
            "{}: overriding promotion windows needs \"update\" on the project's ProjectConfig (a project admin)",
            a.forbidden_message(&user.name)
        ),
    ))
}

/// A new or changed `kargo.akuity.io/auto-promotion-hold` or `-resume` on
/// a Stage (`kargo hold|release stage`) needs `promote` on it; a hold
/// records the user and the time.
fn admit_stage_hold(
    checks: &dyn WriteCheckContext,
    user: &UserInfo,
    ns: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    let key = kargo_api::labels::AUTO_PROMOTION_HOLD;
    let get = |v: &Value, k: &str| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let changed = |k: &str| old.and_then(|o| get(o, k)) != get(obj, k);
    if !changed(key) && !changed(kargo_api::labels::AUTO_PROMOTION_RESUME) {
        return Ok(());
    }
    let stage = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    checks.require_promote(user, ns, &stage)?;
    let Some(text) = get(obj, key).filter(|_| changed(key)) else {
        return Ok(());
    };
    let mut v: Value = serde_json::from_str(&text)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"reason": text}));
    v["actor"] = json!(user.actor());
    v["at"] = json!(jiff::Timestamp::now().to_string());
    set_annotation(obj, key, v.to_string());
    Ok(())
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

/// Stages newly in `new`'s `status.approvedFor` that `before` (the
/// previous `approvedFor`) lacked.
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

#[cfg(test)]
mod tests {
    use super::*;
    use kargo_store::{Options, Preconditions};

    fn info(api_version: &str, kind: &str) -> &'static ResourceInfo {
        kargo_api::lookup_kind(api_version, kind).expect("registered kind")
    }

    fn alice() -> UserInfo {
        UserInfo {
            name: "alice".into(),
            groups: vec!["system:authenticated".into()],
            oidc: None,
        }
    }

    fn get_stages() -> Attributes {
        Attributes {
            verb: "get".into(),
            namespace: "p".into(),
            api_group: "kargo.akuity.io".into(),
            resource: "stages".into(),
            resource_request: true,
            ..Attributes::default()
        }
    }

    fn open(dir: &std::path::Path, opts: Options) -> Store {
        let store = Store::open_with(&dir.join("db"), opts).expect("store");
        let ns = json!({"metadata": {"name": "p"}});
        store
            .create(info("v1", "Namespace"), "", ns)
            .expect("Namespace");
        store
    }

    /// Writes more than the live buffer holds, so the next decision finds
    /// the authorizer lagged.
    fn burst(store: &Store, from: usize) {
        for i in from..from + 40 {
            let cm = json!({"metadata": {"name": format!("cm-{i}")}, "data": {"k": "v"}});
            store
                .create(info("v1", "ConfigMap"), "p", cm)
                .expect("ConfigMap");
        }
    }

    fn grant(store: &Store) {
        let role = json!({"metadata": {"name": "viewer"},
            "rules": [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["get"]}]});
        store
            .create(info("rbac.authorization.k8s.io/v1", "Role"), "p", role)
            .expect("Role");
        let binding = json!({"metadata": {"name": "alice-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
            "subjects": [{"kind": "User", "name": "alice"}]});
        store
            .create(
                info("rbac.authorization.k8s.io/v1", "RoleBinding"),
                "p",
                binding,
            )
            .expect("RoleBinding");
    }

    #[test]
    fn a_lagged_authorizer_replays_rbac_changes_from_the_watch_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            live_events: 16,
            ..Options::default()
        };
        let store = open(dir.path(), opts);
        let authz = Authorizer::new(store.clone()).expect("authorizer");
        assert!(!authz.authorize(&alice(), &get_stages()).allowed);
        // The grant lands in the middle of a burst the live buffer cannot hold.
        burst(&store, 0);
        grant(&store);
        burst(&store, 100);
        assert!(authz.authorize(&alice(), &get_stages()).allowed);
        // So does a revocation.
        store
            .delete(
                info("rbac.authorization.k8s.io/v1", "RoleBinding"),
                "p",
                "alice-viewer",
                &Preconditions::default(),
            )
            .expect("delete RoleBinding");
        burst(&store, 200);
        assert!(!authz.authorize(&alice(), &get_stages()).allowed);
    }

    #[test]
    fn an_authorizer_whose_history_was_compacted_rebuilds_its_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            live_events: 16,
            ..Options::default()
        };
        let store = open(dir.path(), opts);
        let authz = Authorizer::new(store.clone()).expect("authorizer");
        assert!(!authz.authorize(&alice(), &get_stages()).allowed);
        grant(&store);
        burst(&store, 0);
        // The grant's events are no longer in the watch log.
        store.compact(5).expect("compact");
        assert!(authz.authorize(&alice(), &get_stages()).allowed);
    }
}
