//! Kubernetes RBAC through `kargo server` over HTTPS: ServiceAccount
//! tokens, Roles and bindings enforced with kube-apiserver's rules,
//! Kargo's `promote` verb on Stages (Promotions and approvals), access
//! reviews (`kubectl auth can-i`), impersonation (`--as`), token
//! revocation, the escalation check and the audit trail.

mod common;

use common::{ApiOnlyServer, api_only_config};
use kargo_server::{Server, ServerConfig, client::https_client};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const NS: &str = "my-web-app";

/// The log lines written while a test runs (the tests' runtime is one
/// thread, so a thread-local subscriber sees the server's request path).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// An API-only server and its admin client over HTTPS.
struct Harness {
    server: Server,
    admin: kube::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let api = ApiOnlyServer::start().await;
    let admin = api.https_client();
    Harness {
        server: api.server,
        admin,
        _dir: api.dir,
    }
}

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

async fn create(
    client: &kube::Client,
    group: &str,
    kind: &str,
    ns: Option<&str>,
    v: Value,
) -> Result<DynamicObject, kube::Error> {
    let version = if group.is_empty() || group.ends_with("k8s.io") {
        "v1"
    } else {
        "v1alpha1"
    };
    api(client, group, version, kind, ns)
        .create(&PostParams::default(), &obj(v))
        .await
}

fn refusal<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The project with a Warehouse, one Freight (its name is returned), Stages `dev` and `prod-us`
/// (both take Freight straight from the Warehouse) and the Roles
/// `viewer` and `promoter` (promote on `dev` only).
async fn project(h: &Harness) -> String {
    let c = &h.admin;
    create(
        c,
        "kargo.akuity.io",
        "Project",
        None,
        json!({"metadata": {"name": NS}}),
    )
    .await
    .unwrap();
    create(
        c,
        "kargo.akuity.io",
        "Warehouse",
        Some(NS),
        json!({"metadata": {"name": "w"},
        "spec": {"subscriptions": [{"image": {"repoURL": "127.0.0.1:9/app"}}]}}),
    )
    .await
    .unwrap();
    let freight = create(
        c,
        "kargo.akuity.io",
        "Freight",
        Some(NS),
        json!({"metadata": {},
        "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "127.0.0.1:9/app", "tag": "1.0.0", "digest": "sha256:1"}]}),
    )
    .await
    .unwrap();
    for stage in ["dev", "prod-us"] {
        create(c, "kargo.akuity.io", "Stage", Some(NS), json!({"metadata": {"name": stage}, "spec": {
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
            "promotionTemplate": {"spec": {"steps": [{"uses": "git-clone", "config": {"repoURL": "https://example.com/x.git", "checkout": [{"branch": "main", "path": "out"}]}}]}}}})).await.unwrap();
    }
    let read = json!({"apiGroups": ["kargo.akuity.io"], "resources": ["stages", "freights", "promotions", "warehouses"], "verbs": ["get", "list", "watch"]});
    create(
        c,
        "rbac.authorization.k8s.io",
        "Role",
        Some(NS),
        json!({"metadata": {"name": "viewer"}, "rules": [read]}),
    )
    .await
    .unwrap();
    create(c, "rbac.authorization.k8s.io", "Role", Some(NS), json!({"metadata": {"name": "promoter"}, "rules": [read,
        {"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": ["dev"], "verbs": ["promote"]},
        {"apiGroups": ["kargo.akuity.io"], "resources": ["promotions"], "verbs": ["create"]},
        {"apiGroups": ["kargo.akuity.io"], "resources": ["freights/status"], "verbs": ["patch"]}]})).await.unwrap();
    freight.metadata.name.unwrap()
}

/// A ServiceAccount bound to `role`, and a client with its token.
async fn account(h: &Harness, name: &str, role: &str) -> kube::Client {
    let c = &h.admin;
    create(
        c,
        "",
        "ServiceAccount",
        Some(NS),
        json!({"metadata": {"name": name}}),
    )
    .await
    .unwrap();
    create(
        c,
        "rbac.authorization.k8s.io",
        "RoleBinding",
        Some(NS),
        json!({"metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}]}),
    )
    .await
    .unwrap();
    let secret = create(c, "", "Secret", Some(NS), json!({"metadata": {"name": format!("{name}-token"),
        "annotations": {"kubernetes.io/service-account.name": name}}, "type": "kubernetes.io/service-account-token"}))
        .await
        .unwrap();
    let token = secret.data["data"]["token"]
        .as_str()
        .expect("the token was filled in");
    use base64::Engine;
    let token = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    https_client(
        &h.server.started.url,
        Some(&token),
        h.server.started.ca_pem.as_deref(),
        false,
    )
    .unwrap()
}

fn promotion(stage: &str, freight: &str) -> Value {
    json!({"metadata": {"generateName": format!("{stage}.")}, "spec": {"stage": stage, "freight": freight}})
}

#[tokio::test]
async fn promote_is_granted_per_stage_and_named_when_refused() {
    let logs = Captured::default();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    let h = start().await;
    let f1 = project(&h).await;
    let viewer = account(&h, "viewer", "viewer").await;
    let alice = account(&h, "alice", "promoter").await;

    // The viewer reads, but may not promote: the refusal names the verb,
    // the Stage and the role that would grant it.
    let stages = api(&viewer, "kargo.akuity.io", "v1alpha1", "Stage", Some(NS));
    assert_eq!(
        stages.list(&Default::default()).await.unwrap().items.len(),
        2
    );
    let (code, msg) = refusal(
        create(
            &viewer,
            "kargo.akuity.io",
            "Promotion",
            Some(NS),
            promotion("dev", &f1),
        )
        .await,
    );
    assert_eq!(code, 403, "{msg}");
    assert!(
        msg.contains(
            r#"User "system:serviceaccount:my-web-app:viewer" cannot promote resource "stages""#
        ),
        "{msg}"
    );
    assert!(
        msg.contains(r#"Stage "dev""#) && msg.contains(r#"Role "promoter""#),
        "{msg}"
    );
    // Nor write anything else.
    let (code, msg) = refusal(
        stages
            .patch(
                "dev",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await,
    );
    assert_eq!(code, 403);
    assert_eq!(
        msg,
        r#"stages.kargo.akuity.io "dev" is forbidden: User "system:serviceaccount:my-web-app:viewer" cannot patch resource "stages" in API group "kargo.akuity.io" in the namespace "my-web-app""#
    );
    let (code, _) = refusal(
        api(&viewer, "", "v1", "Secret", Some(NS))
            .list(&Default::default())
            .await,
    );
    assert_eq!(code, 403);

    // The promoter promotes dev, recorded as the real user, ...
    let p = create(
        &alice,
        "kargo.akuity.io",
        "Promotion",
        Some(NS),
        promotion("dev", &f1),
    )
    .await
    .unwrap();
    assert_eq!(
        p.metadata.annotations.as_ref().unwrap()["kargo.akuity.io/create-actor"],
        "kubernetes:system:serviceaccount:my-web-app:alice"
    );
    // The audit trail names the real user, for what was done and what was refused.
    let audit: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("kargo::audit"))
        .map(String::from)
        .collect();
    let alice_actor = "actor=kubernetes:system:serviceaccount:my-web-app:alice";
    assert!(
        audit.iter().any(|l| l.contains(alice_actor)
            && l.contains("verb=create")
            && l.contains("resource=promotions")
            && l.contains("code=201")),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|l| l
            .contains("actor=kubernetes:system:serviceaccount:my-web-app:viewer")
            && l.contains("verb=patch")
            && l.contains("name=dev")
            && l.contains("code=403")),
        "{audit:#?}"
    );
    // ... a create-actor sent by the client is not believed ...
    let mut forged = promotion("dev", &f1);
    forged["metadata"]["annotations"] = json!({"kargo.akuity.io/create-actor": "admin"});
    let p = create(&alice, "kargo.akuity.io", "Promotion", Some(NS), forged)
        .await
        .unwrap();
    assert_eq!(
        p.metadata.annotations.as_ref().unwrap()["kargo.akuity.io/create-actor"],
        "kubernetes:system:serviceaccount:my-web-app:alice"
    );
    // ... is refused on prod-us, and may not approve Freight for it either.
    let (code, msg) = refusal(
        create(
            &alice,
            "kargo.akuity.io",
            "Promotion",
            Some(NS),
            promotion("prod-us", &f1),
        )
        .await,
    );
    assert_eq!(code, 403);
    assert!(
        msg.contains(r#"cannot promote resource "stages""#) && msg.contains(r#""prod-us""#),
        "{msg}"
    );
    let freights = api(&alice, "kargo.akuity.io", "v1alpha1", "Freight", Some(NS));
    let approve = |stage: &str| Patch::Merge(json!({"status": {"approvedFor": {stage: {}}}}));
    let (code, _) = refusal(
        freights
            .patch_status(&f1, &PatchParams::default(), &approve("prod-us"))
            .await,
    );
    assert_eq!(code, 403);
    freights
        .patch_status(&f1, &PatchParams::default(), &approve("dev"))
        .await
        .unwrap();
    // The approval is recorded with who approved, as Kargo's API records it.
    let events = api(&h.admin, "", "v1", "Event", Some(NS))
        .list(&Default::default())
        .await
        .unwrap();
    let approved = events
        .items
        .iter()
        .find(|e| e.data["reason"] == "FreightApproved")
        .expect("an approval Event");
    assert_eq!(
        approved.metadata.annotations.as_ref().unwrap()["event.kargo.akuity.io/actor"],
        "kubernetes:system:serviceaccount:my-web-app:alice"
    );
    assert_eq!(
        approved.data["message"],
        r#"Freight approved for Stage "dev" by "kubernetes:system:serviceaccount:my-web-app:alice""#
    );

    // Granting promote on prod-us takes effect on the next request.
    let roles = api(
        &h.admin,
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        Some(NS),
    );
    let mut role = roles.get("promoter").await.unwrap();
    role.data["rules"][1]["resourceNames"] = json!(["dev", "prod-us"]);
    roles
        .replace("promoter", &PostParams::default(), &role)
        .await
        .unwrap();
    create(
        &alice,
        "kargo.akuity.io",
        "Promotion",
        Some(NS),
        promotion("prod-us", &f1),
    )
    .await
    .unwrap();
    freights
        .patch_status(&f1, &PatchParams::default(), &approve("prod-us"))
        .await
        .unwrap();

    // A deleted token fails on its next request.
    api(&h.admin, "", "v1", "Secret", Some(NS))
        .delete("alice-token", &Default::default())
        .await
        .unwrap();
    let (code, _) = refusal(freights.get(&f1).await);
    assert_eq!(code, 401);
}

async fn post(client: &kube::Client, path: &str, body: Value) -> Value {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    client.request::<Value>(req).await.unwrap()
}

#[tokio::test]
async fn access_reviews_impersonation_and_escalation() {
    let h = start().await;
    let f1 = project(&h).await;
    let viewer = account(&h, "viewer", "viewer").await;
    let alice = account(&h, "alice", "promoter").await;
    let can = |user: &str, stage: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {"user": user,
            "resourceAttributes": {"namespace": NS, "verb": "promote", "group": "kargo.akuity.io", "resource": "stages", "name": stage}}})
    };
    let sar = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let alice_name = "system:serviceaccount:my-web-app:alice";
    assert_eq!(
        post(&h.admin, sar, can(alice_name, "dev")).await["status"]["allowed"],
        true
    );
    assert_eq!(
        post(&h.admin, sar, can(alice_name, "prod-us")).await["status"]["allowed"],
        false
    );
    // The self review answers for the caller.
    let mut ssar = can("", "dev");
    ssar["kind"] = json!("SelfSubjectAccessReview");
    let ssar_path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    assert_eq!(
        post(&alice, ssar_path, ssar.clone()).await["status"]["allowed"],
        true
    );
    assert_eq!(
        post(&viewer, ssar_path, ssar.clone()).await["status"]["allowed"],
        false
    );
    // SubjectAccessReview itself needs a permission the viewer lacks.
    let req = http::Request::post(sar)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&can(alice_name, "dev")).unwrap())
        .unwrap();
    assert!(
        matches!(viewer.request::<Value>(req).await, Err(kube::Error::Api(s)) if s.code == 403)
    );
    let who = post(
        &alice,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await;
    assert_eq!(who["status"]["userInfo"]["username"], alice_name);

    // Impersonation: the admin acts as the viewer (kubectl --as) ...
    let mut cfg = kube::Config::new(h.server.started.url.parse().unwrap());
    cfg.root_cert = Some(
        kargo_server::client::pem_to_der(h.server.started.ca_pem.as_deref().unwrap()).unwrap(),
    );
    cfg.auth_info.token = Some(h.server.started.token.clone().into());
    cfg.auth_info.impersonate = Some("system:serviceaccount:my-web-app:viewer".into());
    let as_viewer = kube::Client::try_from(cfg.clone()).unwrap();
    let (code, msg) = refusal(
        create(
            &as_viewer,
            "kargo.akuity.io",
            "Promotion",
            Some(NS),
            promotion("dev", &f1),
        )
        .await,
    );
    assert_eq!(code, 403, "{msg}");
    assert!(msg.contains("my-web-app:viewer"), "{msg}");
    // ... but the viewer may not impersonate anyone.
    let mut cfg = kube::Config::new(h.server.started.url.parse().unwrap());
    cfg.root_cert = Some(
        kargo_server::client::pem_to_der(h.server.started.ca_pem.as_deref().unwrap()).unwrap(),
    );
    let viewer_token = api(&h.admin, "", "v1", "Secret", Some(NS))
        .get("viewer-token")
        .await
        .unwrap();
    use base64::Engine;
    let t = base64::engine::general_purpose::STANDARD
        .decode(viewer_token.data["data"]["token"].as_str().unwrap())
        .unwrap();
    cfg.auth_info.token = Some(String::from_utf8(t).unwrap().into());
    cfg.auth_info.impersonate = Some("admin".into());
    let sneaky = kube::Client::try_from(cfg).unwrap();
    let (code, msg) = refusal(
        api(&sneaky, "kargo.akuity.io", "v1alpha1", "Stage", Some(NS))
            .list(&Default::default())
            .await,
    );
    assert_eq!(code, 403);
    assert_eq!(
        msg,
        r#"users "admin" is forbidden: User "system:serviceaccount:my-web-app:viewer" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );

    // Escalation: a role manager may hand out only what it holds (its
    // verbs are listed: `*` would include `escalate` and `bind`).
    create(&h.admin, "rbac.authorization.k8s.io", "Role", Some(NS), json!({"metadata": {"name": "role-manager"}, "rules": [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "get", "list", "update", "patch", "delete"]},
        {"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["get", "promote"]}]})).await.unwrap();
    let manager = account(&h, "manager", "role-manager").await;
    create(&manager, "rbac.authorization.k8s.io", "Role", Some(NS), json!({"metadata": {"name": "ok"},
        "rules": [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": ["prod-us"], "verbs": ["promote"]}]})).await.unwrap();
    let (code, msg) = refusal(create(&manager, "rbac.authorization.k8s.io", "Role", Some(NS), json!({"metadata": {"name": "too-much"},
        "rules": [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["delete"]}]})).await);
    assert_eq!(code, 403);
    assert!(
        msg.contains("is attempting to grant RBAC permissions not currently held"),
        "{msg}"
    );
    // Binding oneself to a role with more than one holds is escalation too.
    create(
        &h.admin,
        "rbac.authorization.k8s.io",
        "Role",
        Some(NS),
        json!({"metadata": {"name": "admin-ish"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    )
    .await
    .unwrap();
    let (code, _) = refusal(
        create(
            &manager,
            "rbac.authorization.k8s.io",
            "RoleBinding",
            Some(NS),
            json!({"metadata": {"name": "me-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "admin-ish"},
        "subjects": [{"kind": "ServiceAccount", "name": "manager"}]}),
        )
        .await,
    );
    assert_eq!(code, 403);
    create(
        &manager,
        "rbac.authorization.k8s.io",
        "RoleBinding",
        Some(NS),
        json!({"metadata": {"name": "viewer-ok"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ok"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer"}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        post(
            &h.admin,
            sar,
            can("system:serviceaccount:my-web-app:viewer", "prod-us")
        )
        .await["status"]["allowed"],
        true
    );

    // /metrics: a token bound to kargo-metrics-reader may scrape; others may not.
    let metrics = |c: kube::Client| async move {
        c.request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
    };
    let (code, msg) = refusal(metrics(viewer.clone()).await);
    assert_eq!(
        (code, msg.as_str()),
        (
            403,
            r#"forbidden: User "system:serviceaccount:my-web-app:viewer" cannot get path "/metrics""#
        )
    );
    create(&h.admin, "rbac.authorization.k8s.io", "ClusterRoleBinding", None, json!({"metadata": {"name": "scrape"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kargo-metrics-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": NS}]})).await.unwrap();
    assert!(!metrics(viewer.clone()).await.unwrap().is_empty());
}

#[tokio::test]
async fn admin_password_sign_in_issues_tokens_and_is_rate_limited() {
    let hash = kargo_server::admin_login::hash_password("correct horse").unwrap();
    let ApiOnlyServer { server, dir: _dir } = ApiOnlyServer::start_with(|config| ServerConfig {
        admin_password_hash: Some(hash),
        ..config
    })
    .await;
    let (url, ca) = (&server.started.url, server.started.ca_pem.as_deref());
    let anon = https_client(url, None, ca, false).unwrap();
    let login = |pw: &str| {
        let req = http::Request::post("/v1beta1/login")
            .header("authorization", format!("Bearer {pw}"))
            .body(Vec::new())
            .unwrap();
        let anon = anon.clone();
        async move { anon.request_text(req).await }
    };
    let answer: Value = serde_json::from_str(&login("correct horse").await.unwrap()).unwrap();
    let token = answer["idToken"].as_str().unwrap();
    assert_eq!(token.matches('.').count(), 2, "a JWT: {token}");
    let admin = https_client(url, Some(token), ca, false).unwrap();
    create(
        &admin,
        "kargo.akuity.io",
        "Project",
        None,
        json!({"metadata": {"name": "p"}}),
    )
    .await
    .unwrap();
    let p = api(&admin, "kargo.akuity.io", "v1alpha1", "Project", None)
        .get("p")
        .await
        .unwrap();
    assert_eq!(
        p.metadata.annotations.unwrap()["kargo.akuity.io/create-actor"],
        "admin"
    );
    // A tampered token is refused.
    let forged = https_client(url, Some(&format!("{token}x")), ca, false).unwrap();
    assert_eq!(
        refusal(
            api(&forged, "kargo.akuity.io", "v1alpha1", "Project", None)
                .list(&Default::default())
                .await
        )
        .0,
        401
    );
    // Guessing: five wrong passwords, then even the right one waits.
    for _ in 0..5 {
        assert_eq!(refusal(login("guess").await).0, 401);
    }
    // (curl: kube's client would wait out a 429 and try again.)
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            "-H",
            "Authorization: Bearer correct horse",
            "--cacert",
        ])
        .arg(server.started.ca_file.as_ref().unwrap())
        .arg(format!("{url}/v1beta1/login"))
        .output()
        .await
        .expect("curl");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.contains(" 429") && answer.to_lowercase().contains("retry-after:"),
        "{answer}"
    );
    assert!(
        answer.contains("too many failed sign-in attempts"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_loopback_metrics_listener_needs_no_token_and_takes_only_loopback() {
    let ApiOnlyServer { server, dir: _dir } = ApiOnlyServer::start_with(|config| ServerConfig {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    })
    .await;
    let url = server.started.metrics_url.clone().unwrap();
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-i", &url])
        .output()
        .await
        .expect("curl");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let other = tempfile::tempdir().unwrap();
    let refused = Server::start(ServerConfig {
        metrics_listen: Some("0.0.0.0:0".parse().unwrap()),
        ..api_only_config(other.path())
    })
    .await;
    let err = refused
        .err()
        .expect("a non-loopback metrics listener is refused")
        .to_string();
    assert!(err.contains("loopback address only"), "{err}");
}
