//! The authorization index: Roles and ClusterRoles by name, bindings by
//! the subject they name (user or group; a ServiceAccount subject is its
//! `system:serviceaccount:<ns>:<name>` user), ServiceAccounts and their
//! token Secrets. A decision reads only the bindings of the user and its
//! groups, so its cost does not grow with bindings of other subjects.
//! Kept current by [`Index::apply`] with each stored change.

use crate::{Attributes, ClaimIndex, PolicyRule, UserInfo};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Store keys of the kinds the index follows.
pub const RBAC_RESOURCES: &[&str] = &[
    ROLES,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    SERVICE_ACCOUNTS,
    SECRETS,
];
const ROLES: &str = "roles.rbac.authorization.k8s.io";
const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
const ROLE_BINDINGS: &str = "rolebindings.rbac.authorization.k8s.io";
const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";
const SERVICE_ACCOUNTS: &str = "serviceaccounts";
const SECRETS: &str = "secrets";
/// Secret type of a ServiceAccount token.
pub const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// Annotation naming a token Secret's ServiceAccount.
pub const SA_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// An authorization decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allowed.
    pub allowed: bool,
    /// Why it was allowed (kube's wording), or empty.
    pub reason: String,
}

#[derive(Clone, Debug)]
struct Binding {
    /// Namespace of a RoleBinding; empty for a ClusterRoleBinding.
    ns: String,
    /// Binding name.
    name: String,
    /// Whether roleRef names a ClusterRole.
    cluster_role: bool,
    /// Role name.
    role: String,
}

/// Everything a decision needs, built from the stored RBAC objects.
#[derive(Default)]
pub struct Index {
    roles: HashMap<String, HashMap<String, Vec<PolicyRule>>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    users: HashMap<String, Vec<Binding>>,
    groups: HashMap<String, Vec<Binding>>,
    /// `(res, ns, name)` of a binding → the subjects it was indexed under.
    indexed: HashMap<(String, String, String), Vec<(bool, String)>>,
    service_accounts: HashSet<(String, String)>,
    /// token → (ns, ServiceAccount, Secret).
    tokens: HashMap<String, (String, String, String)>,
    /// (ns, Secret) → token, to drop a token when its Secret changes.
    token_of: HashMap<(String, String), String>,
    /// Rules every authenticated user holds (kube's `system:discovery`,
    /// `system:basic-user`, `system:public-info-viewer`).
    public: Vec<PolicyRule>,
    /// ServiceAccounts by the OpenID Connect claims mapped to them.
    claims: ClaimIndex,
    /// Namespaces whose claim-mapped ServiceAccounts count everywhere
    /// (Kargo's `GLOBAL_SERVICE_ACCOUNT_NAMESPACES`).
    global_namespaces: Vec<String>,
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Index {
    /// An empty index with kube's bootstrap rules for authenticated users.
    pub fn new() -> Self {
        let public = vec![
            PolicyRule {
                verbs: vec!["get".into()],
                non_resource_urls: [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/readyz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                ..PolicyRule::default()
            },
            PolicyRule::new(
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                &["create"],
            ),
            PolicyRule::new(
                &["authentication.k8s.io"],
                &["selfsubjectreviews"],
                &["create"],
            ),
        ];
        Self {
            public,
            ..Self::default()
        }
    }

    /// Applies one stored change of a kind in [`RBAC_RESOURCES`]: `obj` is
    /// the object now, or None when it was deleted.
    pub fn apply(&mut self, res: &str, ns: &str, name: &str, obj: Option<&Value>) {
        match res {
            ROLES => {
                let m = self.roles.entry(ns.to_string()).or_default();
                match obj {
                    Some(o) => {
                        m.insert(name.to_string(), rules_of(o));
                    }
                    None => {
                        m.remove(name);
                    }
                }
            }
            CLUSTER_ROLES => match obj {
                Some(o) => {
                    self.cluster_roles.insert(name.to_string(), rules_of(o));
                }
                None => {
                    self.cluster_roles.remove(name);
                }
            },
            ROLE_BINDINGS | CLUSTER_ROLE_BINDINGS => self.apply_binding(res, ns, name, obj),
            SERVICE_ACCOUNTS => {
                self.claims.apply(ns, name, obj);
                let key = (ns.to_string(), name.to_string());
                if obj.is_some() {
                    self.service_accounts.insert(key);
                } else {
                    self.service_accounts.remove(&key);
                }
            }
            SECRETS => self.apply_secret(ns, name, obj),
            _ => {}
        }
    }

    fn apply_binding(&mut self, res: &str, ns: &str, name: &str, obj: Option<&Value>) {
        let key = (res.to_string(), ns.to_string(), name.to_string());
        for (group, subject) in self.indexed.remove(&key).unwrap_or_default() {
            let map = if group {
                &mut self.groups
            } else {
                &mut self.users
            };
            if let Some(list) = map.get_mut(&subject) {
                list.retain(|b| !(b.ns == ns && b.name == name));
                if list.is_empty() {
                    map.remove(&subject);
                }
            }
        }
        let Some(obj) = obj else { return };
        let role_kind = text(obj, "/roleRef/kind");
        let binding = Binding {
            ns: ns.to_string(),
            name: name.to_string(),
            cluster_role: role_kind == "ClusterRole",
            role: text(obj, "/roleRef/name").to_string(),
        };
        if binding.role.is_empty() || (ns.is_empty() && !binding.cluster_role) {
            return;
        }
        let mut subjects = Vec::new();
        for s in obj
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sname = text(s, "/name");
            let subject = match text(s, "/kind") {
                "User" => (false, sname.to_string()),
                "Group" => (true, sname.to_string()),
                "ServiceAccount" => {
                    let sns = Some(text(s, "/namespace"))
                        .filter(|n| !n.is_empty())
                        .unwrap_or(ns);
                    (false, format!("{}{sns}:{sname}", crate::user::SA_PREFIX))
                }
                _ => continue,
            };
            let map = if subject.0 {
                &mut self.groups
            } else {
                &mut self.users
            };
            map.entry(subject.1.clone())
                .or_default()
                .push(binding.clone());
            subjects.push(subject);
        }
        self.indexed.insert(key, subjects);
    }

    fn apply_secret(&mut self, ns: &str, name: &str, obj: Option<&Value>) {
        let key = (ns.to_string(), name.to_string());
        if let Some(old) = self.token_of.remove(&key) {
            self.tokens.remove(&old);
        }
        let Some(obj) = obj else { return };
        if text(obj, "/type") != SA_TOKEN_TYPE {
            return;
        }
        let sa = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SA_NAME_ANNOTATION))
            .and_then(Value::as_str)
            .unwrap_or("");
        let token = decode_b64(text(obj, "/data/token"));
        if sa.is_empty() || token.is_empty() {
            return;
        }
        self.tokens.insert(
            token.clone(),
            (ns.to_string(), sa.to_string(), name.to_string()),
        );
        self.token_of.insert(key, token);
    }

    /// The ServiceAccount a token authenticates, while both its Secret and
    /// its ServiceAccount exist.
    pub fn token_user(&self, token: &str) -> Option<UserInfo> {
        let (ns, sa, _) = self.tokens.get(token)?;
        self.service_accounts
            .contains(&(ns.clone(), sa.clone()))
            .then(|| UserInfo::service_account(ns, sa))
    }

    fn role_rules(&self, b: &Binding) -> &[PolicyRule] {
        let rules = if b.cluster_role {
            self.cluster_roles.get(&b.role)
        } else {
            self.roles.get(&b.ns).and_then(|m| m.get(&b.role))
        };
        rules.map_or(&[], Vec::as_slice)
    }

    /// Sets the namespaces whose claim-mapped ServiceAccounts apply to
    /// requests in any namespace.
    pub fn set_global_namespaces(&mut self, namespaces: Vec<String>) {
        self.global_namespaces = namespaces;
    }

    /// The usernames of the ServiceAccounts an OpenID Connect user acts
    /// as for a request in `namespaces`, as Kargo picks them: those its
    /// claims map to in one of `namespaces` or in a global namespace.
    fn mapped_accounts(&self, user: &UserInfo, namespaces: &[&str]) -> Vec<String> {
        let Some(o) = &user.oidc else {
            return Vec::new();
        };
        self.claims
            .accounts(&o.claims)
            .into_iter()
            .filter(|(ns, _)| {
                namespaces.contains(&ns.as_str()) || self.global_namespaces.contains(ns)
            })
            .map(|(ns, sa)| format!("{}{ns}:{sa}", crate::user::SA_PREFIX))
            .collect()
    }

    /// The bindings of `user` that apply in `ns` (every ClusterRoleBinding,
    /// and RoleBindings of `ns`), with those of the ServiceAccounts an
    /// OpenID Connect user's claims map to in `scope`.
    fn bindings<'a>(&'a self, user: &'a UserInfo, ns: &str, scope: &[&str]) -> Vec<&'a Binding> {
        let mapped = self.mapped_accounts(user, scope);
        let mine = std::iter::once(&user.name)
            .chain(mapped.iter())
            .filter_map(|n| self.users.get(n))
            .flatten();
        let groups = user
            .groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .flatten();
        mine.chain(groups)
            .filter(|b| b.ns.is_empty() || b.ns == ns)
            .collect()
    }

    /// Decides `a` for `user`: `system:masters` may do anything; otherwise
    /// some rule of a role bound to the user or one of its groups must
    /// allow it.
    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Decision {
        if user.is_master() {
            return Decision {
                allowed: true,
                reason: "system:masters".into(),
            };
        }
        if user.groups.iter().any(|g| g == crate::user::AUTHENTICATED)
            && self.public.iter().any(|r| r.allows(a))
        {
            return Decision {
                allowed: true,
                reason: "RBAC: allowed by the bootstrap discovery rules".into(),
            };
        }
        // A RoleBinding applies only to requests in its namespace.
        let ns = if a.resource_request {
            a.namespace.as_str()
        } else {
            ""
        };
        // Kargo authorizes a Project's own requests with the
        // ServiceAccounts of the Project's namespace too.
        let project = if a.resource == "projects" && a.api_group == "kargo.akuity.io" {
            a.name.as_str()
        } else {
            ""
        };
        for b in self.bindings(user, ns, &[ns, project]) {
            if self.role_rules(b).iter().any(|r| r.allows(a)) {
                let (bk, rk) = if b.ns.is_empty() {
                    ("ClusterRoleBinding", "ClusterRole")
                } else if b.cluster_role {
                    ("RoleBinding", "ClusterRole")
                } else {
                    ("RoleBinding", "Role")
                };
                let at = if b.ns.is_empty() {
                    String::new()
                } else {
                    format!("/{}", b.ns)
                };
                return Decision {
                    allowed: true,
                    reason: format!(
                        "RBAC: allowed by {bk} \"{}{at}\" of {rk} \"{}\" to User \"{}\"",
                        b.name, b.role, user.name
                    ),
                };
            }
        }
        Decision {
            allowed: false,
            reason: String::new(),
        }
    }

    /// Every rule `user` holds in `ns` (all ClusterRoleBindings plus the
    /// RoleBindings of `ns`): what a grant is checked against.
    pub fn rules_for(&self, user: &UserInfo, ns: &str) -> Vec<PolicyRule> {
        if user.is_master() {
            return vec![PolicyRule {
                verbs: vec!["*".into()],
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                non_resource_urls: vec!["*".into()],
                ..PolicyRule::default()
            }];
        }
        let mut out = self.public.clone();
        for b in self.bindings(user, ns, &[ns]) {
            out.extend(self.role_rules(b).iter().cloned());
        }
        out
    }

    /// Names of the Roles of `a`'s namespace and the ClusterRoles that
    /// would allow `a`: what to bind to be let through.
    pub fn roles_granting(&self, a: &Attributes) -> Vec<String> {
        let mut out: Vec<String> = self
            .roles
            .get(&a.namespace)
            .into_iter()
            .flatten()
            .filter(|(_, rules)| rules.iter().any(|r| r.allows(a)))
            .map(|(n, _)| format!("Role {n:?}"))
            .collect();
        out.sort();
        let mut cluster: Vec<String> = self
            .cluster_roles
            .iter()
            .filter(|(_, rules)| rules.iter().any(|r| r.allows(a)))
            .map(|(n, _)| format!("ClusterRole {n:?}"))
            .collect();
        cluster.sort();
        out.extend(cluster);
        out
    }
}

fn decode_b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index() -> Index {
        let mut ix = Index::new();
        ix.apply(ROLES, "p", "kargo-promoter", Some(&json!({"rules": [
            {"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["get", "list", "watch", "promote"]},
            {"apiGroups": ["kargo.akuity.io"], "resources": ["promotions"], "verbs": ["create", "get", "list", "watch"]}]})));
        ix.apply(ROLES, "p", "dev-promoter", Some(&json!({"rules": [
            {"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": ["dev"], "verbs": ["promote"]}]})));
        ix.apply(
            CLUSTER_ROLES,
            "",
            "viewer",
            Some(&json!({"rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]})),
        );
        ix.apply(ROLE_BINDINGS, "p", "alice-dev", Some(&json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "dev-promoter"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "ci"}]})));
        ix.apply(CLUSTER_ROLE_BINDINGS, "", "devs-view", Some(&json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "viewer"},
            "subjects": [{"kind": "Group", "name": "devs"}]})));
        ix
    }

    fn promote(stage: &str) -> Attributes {
        Attributes::resource("promote", "kargo.akuity.io", "stages", "p", stage)
    }

    #[test]
    fn bindings_grant_by_user_group_and_service_account() {
        let mut ix = index();
        let alice = UserInfo::new("alice", vec!["devs".into()]);
        assert!(ix.authorize(&alice, &promote("dev")).allowed);
        assert!(!ix.authorize(&alice, &promote("prod")).allowed);
        // A RoleBinding does not reach other namespaces.
        let other = Attributes::resource("promote", "kargo.akuity.io", "stages", "q", "dev");
        assert!(!ix.authorize(&alice, &other).allowed);
        // The group's ClusterRoleBinding does.
        let get = Attributes::resource("get", "kargo.akuity.io", "stages", "q", "dev");
        assert!(ix.authorize(&alice, &get).allowed);
        assert!(
            ix.authorize(&UserInfo::service_account("p", "ci"), &promote("dev"))
                .allowed
        );
        assert!(
            !ix.authorize(&UserInfo::service_account("q", "ci"), &promote("dev"))
                .allowed
        );
        // Changing the binding's role takes effect; deleting it revokes.
        ix.apply(ROLE_BINDINGS, "p", "alice-dev", Some(&json!({
            "roleRef": {"kind": "Role", "name": "kargo-promoter"}, "subjects": [{"kind": "User", "name": "alice"}]})));
        assert!(ix.authorize(&alice, &promote("prod")).allowed);
        assert!(
            !ix.authorize(&UserInfo::service_account("p", "ci"), &promote("dev"))
                .allowed
        );
        ix.apply(ROLE_BINDINGS, "p", "alice-dev", None);
        assert!(!ix.authorize(&alice, &promote("prod")).allowed);
        assert!(ix.users.is_empty());
        assert_eq!(
            ix.roles_granting(&promote("prod")),
            vec![r#"Role "kargo-promoter""#.to_string()]
        );
    }

    #[test]
    fn masters_and_discovery() {
        let ix = Index::new();
        assert!(ix.authorize(&UserInfo::admin(), &promote("prod")).allowed);
        let nobody = UserInfo::new("nobody", vec![]);
        assert!(
            ix.authorize(
                &nobody,
                &Attributes::non_resource("get", "/apis/kargo.akuity.io/v1alpha1")
            )
            .allowed
        );
        assert!(
            !ix.authorize(&nobody, &Attributes::non_resource("get", "/metrics"))
                .allowed
        );
        assert!(!ix.authorize(&nobody, &promote("dev")).allowed);
    }

    #[test]
    fn oidc_users_act_as_the_service_accounts_their_claims_map_to() {
        let mut ix = index();
        ix.apply(
            ROLE_BINDINGS,
            "p",
            "promoter",
            Some(&json!({
            "roleRef": {"kind": "Role", "name": "dev-promoter"},
            "subjects": [{"kind": "ServiceAccount", "name": "kargo-promoter"}]})),
        );
        let mapped = json!({"metadata": {"annotations": {
            crate::CLAIMS_ANNOTATION: r#"{"email": ["ana@example.com"]}"#}}});
        ix.apply(SERVICE_ACCOUNTS, "p", "kargo-promoter", Some(&mapped));
        let ana = |email: &str| {
            UserInfo::signed_in_with_oidc(
                email,
                vec![],
                crate::OidcIdentity {
                    username_claim: "email".into(),
                    claims: vec![("email".into(), email.into())],
                },
            )
        };
        assert!(
            ix.authorize(&ana("ana@example.com"), &promote("dev"))
                .allowed
        );
        assert!(
            !ix.authorize(&ana("ana@example.com"), &promote("prod"))
                .allowed
        );
        assert!(
            !ix.authorize(&ana("bob@example.com"), &promote("dev"))
                .allowed
        );
        assert_eq!(ana("ana@example.com").actor(), "email:ana@example.com");
        // Only where the ServiceAccount lives, unless its namespace is global.
        let other = Attributes::resource("promote", "kargo.akuity.io", "stages", "q", "dev");
        ix.apply(
            ROLE_BINDINGS,
            "q",
            "promoter",
            Some(&json!({
            "roleRef": {"kind": "ClusterRole", "name": "viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "kargo-promoter", "namespace": "p"}]})),
        );
        let get_q = Attributes::resource("get", "kargo.akuity.io", "stages", "q", "dev");
        assert!(!ix.authorize(&ana("ana@example.com"), &get_q).allowed);
        ix.set_global_namespaces(vec!["p".into()]);
        assert!(ix.authorize(&ana("ana@example.com"), &get_q).allowed);
        assert!(!ix.authorize(&ana("ana@example.com"), &other).allowed);
        // Removing the annotation unmaps at once.
        ix.apply(SERVICE_ACCOUNTS, "p", "kargo-promoter", Some(&json!({})));
        assert!(
            !ix.authorize(&ana("ana@example.com"), &promote("dev"))
                .allowed
        );
    }

    #[test]
    fn tokens_authenticate_while_secret_and_account_exist() {
        let mut ix = Index::new();
        let secret = json!({"type": SA_TOKEN_TYPE, "metadata": {"annotations": {SA_NAME_ANNOTATION: "ci"}},
            "data": {"token": "czNjcmV0"}});
        ix.apply(SECRETS, "p", "ci-token", Some(&secret));
        assert_eq!(ix.token_user("s3cret"), None, "no ServiceAccount yet");
        ix.apply(SERVICE_ACCOUNTS, "p", "ci", Some(&json!({})));
        assert_eq!(
            ix.token_user("s3cret").unwrap().name,
            "system:serviceaccount:p:ci"
        );
        ix.apply(SECRETS, "p", "ci-token", None);
        assert_eq!(ix.token_user("s3cret"), None);
    }
}
