//! Who is asking and what they ask: kube-apiserver's `user.Info` and
//! authorizer `Attributes`, with the request-path parsing of its
//! `RequestInfoFactory`.

/// The authenticated (or impersonated) user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    /// Username (`admin`, `system:serviceaccount:ns:name`, an OIDC name).
    pub name: String,
    /// Groups (`system:authenticated`, `system:serviceaccounts:ns`, ...).
    pub groups: Vec<String>,
    /// For a user signed in with OpenID Connect: the claims its verified
    /// ID token carried (mapped to ServiceAccounts by their
    /// `rbac.kargo.akuity.io/claims` annotation).
    pub oidc: Option<std::sync::Arc<OidcIdentity>>,
}

/// What a verified ID token says of its holder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The claim the username was taken from (`email` by default).
    pub username_claim: String,
    /// Every string claim value, as `(claim, value)` pairs.
    pub claims: Vec<(String, String)>,
}

/// Group whose members may do anything (kube's `system:masters`).
pub const MASTERS: &str = "system:masters";
/// Group of every authenticated user.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Prefix of ServiceAccount usernames.
pub const SA_PREFIX: &str = "system:serviceaccount:";

impl UserInfo {
    /// The bootstrap admin (the server's admin token, `kargo login --admin`).
    pub fn admin() -> Self {
        Self {
            name: "admin".into(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            oidc: None,
        }
    }

    /// A user with `system:authenticated` added to `groups`, and for a
    /// ServiceAccount name also `system:serviceaccounts` and
    /// `system:serviceaccounts:<ns>`, as kube-apiserver adds them.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> Self {
        let name = name.into();
        let mut groups = groups;
        if let Some((ns, _)) = Self::service_account_of(&name) {
            for g in [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
            ] {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        Self {
            name,
            groups,
            oidc: None,
        }
    }

    /// A user signed in with OpenID Connect: `name` from the username
    /// claim, `groups` from the groups claim, and the token's claims.
    pub fn signed_in_with_oidc(name: &str, groups: Vec<String>, identity: OidcIdentity) -> Self {
        Self {
            oidc: Some(std::sync::Arc::new(identity)),
            ..Self::new(name, groups)
        }
    }

    /// The user a ServiceAccount's token authenticates as.
    pub fn service_account(ns: &str, name: &str) -> Self {
        Self::new(format!("{SA_PREFIX}{ns}:{name}"), Vec::new())
    }

    /// `(namespace, name)` when `user` is a ServiceAccount's username.
    pub fn service_account_of(user: &str) -> Option<(&str, &str)> {
        user.strip_prefix(SA_PREFIX)?.split_once(':')
    }

    /// Whether the user is in `system:masters`.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    /// The actor recorded on what the user does, as Kargo formats it
    /// (`admin`, `<claim>:<username>` for an OpenID Connect user, e.g.
    /// `email:ana@example.com`, or `kubernetes:<username>` for a user the
    /// API server authenticated).
    pub fn actor(&self) -> String {
        if self.is_master() && self.name == "admin" {
            "admin".into()
        } else if let Some(o) = &self.oidc {
            format!("{}:{}", o.username_claim, self.name)
        } else {
            format!("kubernetes:{}", self.name)
        }
    }
}

/// What a request asks to do (kube's `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `impersonate`, `promote`, ...
    pub verb: String,
    /// Namespace (empty for cluster-scoped or all namespaces).
    pub namespace: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`, `log`), or empty.
    pub subresource: String,
    /// Object name, or empty.
    pub name: String,
    /// Request path, for non-resource requests.
    pub path: String,
    /// False for non-resource URLs (`/metrics`, `/version`, discovery).
    pub resource_request: bool,
}

impl Attributes {
    /// A resource request.
    pub fn resource(verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Self {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Self {
            verb: verb.into(),
            namespace: ns.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            path: String::new(),
            resource_request: true,
        }
    }

    /// A non-resource request.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self {
            verb: verb.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    /// Reads an HTTP request as kube-apiserver's `RequestInfoFactory` does:
    /// `/api/v1/...` and `/apis/{group}/{version}/...` with at least a
    /// resource are resource requests (verb from the method, `list` /
    /// `watch` / `deletecollection` on collections); anything else is a
    /// non-resource request whose verb is the lowercase method.
    pub fn from_request(method: &str, path: &str, query: Option<&str>) -> Self {
        let lower = method.to_ascii_lowercase();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match segs.as_slice() {
            ["api", "v1", rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", g, _v, rest @ ..] if !rest.is_empty() => (*g, rest),
            _ => return Self::non_resource(&lower, path),
        };
        let mut parts: &[&str] = rest;
        let mut ns = "";
        if parts[0] == "namespaces" && parts.len() > 1 {
            ns = parts[1];
            if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
                parts = &parts[2..];
            }
        }
        let resource = parts[0];
        let name = parts.get(1).copied().unwrap_or("");
        let sub = parts.get(2).copied().unwrap_or("");
        let watching = query.is_some_and(|q| {
            q.split('&')
                .any(|p| matches!(p, "watch=true" | "watch=1" | "watch"))
        });
        let verb = match (lower.as_str(), name.is_empty()) {
            ("get" | "head", true) if watching => "watch",
            ("get" | "head", true) => "list",
            ("get" | "head", false) => "get",
            ("post", _) => "create",
            ("put", _) => "update",
            ("patch", _) => "patch",
            ("delete", true) => "deletecollection",
            ("delete", false) => "delete",
            (other, _) => other,
        };
        Self {
            verb: verb.into(),
            namespace: ns.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            path: path.into(),
            resource_request: true,
        }
    }

    /// `resource` or `resource/subresource`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// kube-apiserver's 403 message for `user` (`stages.kargo.akuity.io
    /// "prod" is forbidden: User "bob" cannot promote resource "stages"
    /// in API group "kargo.akuity.io" in the namespace "p"`).
    pub fn forbidden_message(&self, user: &str) -> String {
        if !self.resource_request {
            return format!(
                "forbidden: User {user:?} cannot {} path {:?}",
                self.verb, self.path
            );
        }
        let gr = if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        };
        let subject = if self.name.is_empty() {
            gr
        } else {
            format!("{gr} {:?}", self.name)
        };
        let scope = if self.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", self.namespace)
        };
        format!(
            "{subject} is forbidden: User {user:?} cannot {} resource {:?} in API group {:?} {scope}",
            self.verb,
            self.combined_resource(),
            self.api_group
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_read_as_kube_apiserver_reads_them() {
        let rows = [
            (
                "GET",
                "/api/v1/namespaces/p/secrets",
                None,
                ("list", "p", "", "secrets", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/p/secrets",
                Some("watch=true"),
                ("watch", "p", "", "secrets", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/p",
                None,
                ("get", "p", "", "namespaces", "", "p"),
            ),
            (
                "DELETE",
                "/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages",
                None,
                ("deletecollection", "p", "kargo.akuity.io", "stages", "", ""),
            ),
            (
                "PATCH",
                "/apis/kargo.akuity.io/v1alpha1/namespaces/p/stages/dev/status",
                None,
                ("patch", "p", "kargo.akuity.io", "stages", "status", "dev"),
            ),
            (
                "GET",
                "/api/v1/namespaces/kargo/pods/x/log",
                None,
                ("get", "kargo", "", "pods", "log", "x"),
            ),
            (
                "PUT",
                "/apis/kargo.akuity.io/v1alpha1/projects/p",
                None,
                ("update", "", "kargo.akuity.io", "projects", "", "p"),
            ),
            (
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                None,
                (
                    "create",
                    "",
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews",
                    "",
                    "",
                ),
            ),
        ];
        for (m, p, q, (verb, ns, g, r, sub, name)) in rows {
            let a = Attributes::from_request(m, p, q);
            assert!(a.resource_request, "{p}");
            assert_eq!(
                (
                    a.verb.as_str(),
                    a.namespace.as_str(),
                    a.api_group.as_str(),
                    a.resource.as_str(),
                    a.subresource.as_str(),
                    a.name.as_str()
                ),
                (verb, ns, g, r, sub, name),
                "{m} {p}"
            );
        }
        for p in [
            "/api",
            "/apis",
            "/apis/kargo.akuity.io/v1alpha1",
            "/api/v1",
            "/metrics",
            "/version",
        ] {
            let a = Attributes::from_request("GET", p, None);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
        }
    }

    #[test]
    fn forbidden_messages_are_worded_as_kube_apiserver_words_them() {
        let a = Attributes::resource("promote", "kargo.akuity.io", "stages", "p", "prod");
        assert_eq!(
            a.forbidden_message("bob"),
            r#"stages.kargo.akuity.io "prod" is forbidden: User "bob" cannot promote resource "stages" in API group "kargo.akuity.io" in the namespace "p""#
        );
        let a = Attributes::resource("list", "", "secrets", "", "");
        assert_eq!(
            a.forbidden_message("bob"),
            r#"secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" at the cluster scope"#
        );
        let a = Attributes::non_resource("get", "/metrics");
        assert_eq!(
            a.forbidden_message("bob"),
            r#"forbidden: User "bob" cannot get path "/metrics""#
        );
    }

    #[test]
    fn service_accounts_get_their_groups() {
        let u = UserInfo::service_account("p", "ci");
        assert_eq!(u.name, "system:serviceaccount:p:ci");
        assert!(u.groups.contains(&"system:serviceaccounts:p".to_string()));
        assert!(u.groups.contains(&AUTHENTICATED.to_string()));
        assert_eq!(u.actor(), "kubernetes:system:serviceaccount:p:ci");
        assert_eq!(UserInfo::admin().actor(), "admin");
    }
}
