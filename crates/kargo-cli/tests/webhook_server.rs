//! `kargo webhook-server` end to end: it runs against a `kargo server
//! --disable-controllers` standing for the cluster's API server (over TLS
//! with the kubeconfig that server wrote), registers its Mutating and
//! ValidatingWebhookConfiguration there with a CA of its own, and answers
//! real AdmissionReview v1 JSON posted over HTTPS (curl trusting that CA):
//! allowed, denied with Kargo's messages, mutated with a JSONPatch — the
//! same admission the standalone server stores objects through.

mod common;

use common::{KARGO, ServerProc, ok};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const NS: &str = "my-web-app";
const REPO: &str = "https://github.com/example/app.git";

/// A running `kargo webhook-server`.
struct WebhookServer {
    child: Child,
    url: String,
    /// The CA from the registered configurations' `caBundle`.
    ca: PathBuf,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kubectl get ARGS -o json`.
fn json_of(s: &ServerProc, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    let o = s.kubectl(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

impl WebhookServer {
    fn start(s: &ServerProc, dir: &Path) -> WebhookServer {
        let mut child = Command::new(KARGO)
            .args(["webhook-server", "--kubeconfig"])
            .arg(s.kubeconfig())
            .args([
                "--bind-address",
                "127.0.0.1:0",
                "--tls-san",
                "127.0.0.1",
                "--url",
                "https://127.0.0.1:{port}",
            ])
            .env_remove("KUBECONFIG")
            .env("HOME", &s.home)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("webhook-server.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("kargo webhook-server listening at ")
            .unwrap_or_else(|| {
                panic!(
                    "{line:?}: {}",
                    std::fs::read_to_string(dir.join("webhook-server.log")).unwrap_or_default()
                )
            })
            .to_string();
        // The CA it registered is the one it serves with.
        let v = json_of(s, &["validatingwebhookconfiguration", "kargo"]);
        let b64 = v["webhooks"][0]["clientConfig"]["caBundle"]
            .as_str()
            .unwrap();
        use base64::Engine;
        let ca = dir.join("ca.pem");
        std::fs::write(
            &ca,
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        WebhookServer { child, url, ca }
    }

    /// POSTs an AdmissionReview to `path`: (HTTP status, body).
    fn post(&self, path: &str, review: &Value) -> (u16, Value) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&self.ca)
            .args([
                "-H",
                "Content-Type: application/json",
                "-w",
                "\n%{http_code}",
                "--data-binary",
                "@-",
            ])
            .arg(format!("{}{path}", self.url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(review.to_string().as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (
            code.parse().unwrap(),
            serde_json::from_str(body).unwrap_or(Value::String(body.into())),
        )
    }

    /// The `response` of a review of `obj` (and `old`) by `user`.
    fn review(
        &self,
        mutating: bool,
        op: &str,
        user: (&str, &[&str]),
        obj: &Value,
        old: Option<&Value>,
    ) -> Value {
        let kind = obj["kind"].as_str().unwrap();
        let verb = if mutating { "mutate" } else { "validate" };
        let path = format!(
            "/{verb}-kargo-akuity-io-v1alpha1-{}",
            kind.to_ascii_lowercase()
        );
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "kargo.akuity.io", "version": "v1alpha1", "kind": kind},
                "resource": {"group": "kargo.akuity.io", "version": "v1alpha1",
                    "resource": format!("{}s", kind.to_ascii_lowercase())},
                "namespace": obj["metadata"]["namespace"],
                "name": obj["metadata"]["name"],
                "operation": op,
                "userInfo": {"username": user.0, "groups": user.1},
                "object": if op == "DELETE" { Value::Null } else { obj.clone() },
                "oldObject": old.cloned().unwrap_or(Value::Null),
                "dryRun": false,
            }
        });
        let (code, body) = self.post(&path, &review);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        let r = body["response"].clone();
        assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        r
    }
}

/// The JSONPatch of a response, decoded.
fn patch_of(r: &Value) -> Vec<Value> {
    use base64::Engine;
    assert_eq!(r["patchType"], "JSONPatch", "{r:#}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `obj` with `ops` applied (add/replace on object members only, enough
/// for the patches asserted here).
fn patched(obj: &Value, ops: &[Value]) -> Value {
    let mut out = obj.clone();
    for op in ops {
        let path = op["path"].as_str().unwrap();
        let tokens: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = tokens.split_last().unwrap();
        let mut node = &mut out;
        for t in parents {
            node = match node {
                Value::Array(a) => &mut a[t.parse::<usize>().unwrap()],
                n => n
                    .as_object_mut()
                    .unwrap()
                    .entry(t.clone())
                    .or_insert(json!({})),
            };
        }
        match (op["op"].as_str().unwrap(), node) {
            ("add" | "replace", Value::Object(m)) => {
                m.insert(last.clone(), op["value"].clone());
            }
            ("add" | "replace", Value::Array(a)) => {
                let v = op["value"].clone();
                match last.as_str() {
                    "-" => a.push(v),
                    i => {
                        let i: usize = i.parse().unwrap();
                        if op["op"] == "add" {
                            a.insert(i, v)
                        } else {
                            a[i] = v
                        }
                    }
                }
            }
            ("remove", Value::Object(m)) => {
                m.remove(last);
            }
            (o, _) => panic!("unexpected op {o} in {op}"),
        }
    }
    out
}

fn denial(r: &Value) -> (i64, String) {
    assert_eq!(r["allowed"], false, "{r:#}");
    (
        r["status"]["code"].as_i64().unwrap(),
        r["status"]["message"].as_str().unwrap().to_string(),
    )
}

const ADMIN: (&str, &[&str]) = ("admin", &["system:masters", "system:authenticated"]);
const ALICE: (&str, &[&str]) = ("alice", &["system:authenticated"]);
const BOB: (&str, &[&str]) = ("bob", &["system:authenticated"]);

fn stage(name: &str, sources: Value, shard: &str) -> Value {
    json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"shard": shard,
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "app"}, "sources": sources}],
            "promotionTemplate": {"spec": {"steps": [{"uses": "git-clone", "config": {
                "repoURL": REPO, "checkout": [{"branch": "main", "path": "./out"}]}}]}}}})
}

fn freight(commit: &str) -> Value {
    json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
        "metadata": {"namespace": NS},
        "origin": {"kind": "Warehouse", "name": "app"},
        "commits": [{"repoURL": REPO, "id": commit}]})
}

fn promotion(stage: &str, freight: &str) -> Value {
    json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
        "metadata": {"namespace": NS},
        "spec": {"stage": stage, "freight": freight}})
}

#[test]
fn admission_reviews_are_answered_with_kargos_admission() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    ok(&s.kargo(&["create", "project", NS]));
    let hook = WebhookServer::start(&s, home.path());

    // The configurations as Kargo's chart registers them, pointing here.
    let m = json_of(&s, &["mutatingwebhookconfiguration", "kargo"]);
    let names: Vec<&str> = m["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "freight.kargo.akuity.io",
            "promotion.kargo.akuity.io",
            "stage.kargo.akuity.io",
            "warehouse.kargo.akuity.io"
        ]
    );
    assert_eq!(
        m["webhooks"][2]["clientConfig"]["url"],
        format!("{}/mutate-kargo-akuity-io-v1alpha1-stage", hook.url)
    );
    assert_eq!(m["webhooks"][2]["failurePolicy"], "Fail");
    // Its certificates are kept in a Secret, shared by every replica.
    let secret = json_of(&s, &["secret", "kargo-webhooks-server-cert", "-n", "kargo"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");

    // The cluster's objects: a Warehouse, Stages dev and prod (prod
    // takes Freight verified in dev), Freight, written through the API
    // server's own admission.
    let objects = [
        json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
            "metadata": {"name": "app", "namespace": NS},
            "spec": {"subscriptions": [{"git": {"repoURL": REPO}}]}}),
        stage("dev", json!({"direct": true}), ""),
        stage("prod", json!({"stages": ["dev"]}), ""),
        freight("0123456789abcdef0123456789abcdef01234567"),
    ];
    for o in &objects {
        let file = home.path().join("obj.json");
        std::fs::write(&file, o.to_string()).unwrap();
        let plural = format!("{}s", o["kind"].as_str().unwrap().to_ascii_lowercase());
        // POSTed as is: the Freight has no name, the server names it.
        ok(&s.kubectl(&[
            "create",
            "--raw",
            &format!("/apis/kargo.akuity.io/v1alpha1/namespaces/{NS}/{plural}"),
            "-f",
            file.to_str().unwrap(),
        ]));
    }
    let stored: Vec<Value> = json_of(&s, &["freight", "-n", NS])["items"]
        .as_array()
        .unwrap()
        .clone();
    let stored = &stored[0];
    let f_name = stored["metadata"]["name"].as_str().unwrap();
    let f_alias = stored["metadata"]["labels"]["kargo.akuity.io/alias"]
        .as_str()
        .unwrap();

    // Mutated: the shard label follows spec.shard.
    let st = stage("canary", json!({"direct": true}), "east");
    let r = hook.review(true, "CREATE", ADMIN, &st, None);
    assert_eq!(r["allowed"], true, "{r:#}");
    let after = patched(&st, &patch_of(&r));
    assert_eq!(after["metadata"]["labels"]["kargo.akuity.io/shard"], "east");
    // ... and validation of the patched object passes.
    let r = hook.review(false, "CREATE", ADMIN, &after, None);
    assert_eq!(r["allowed"], true, "{r:#}");
    assert!(r.get("patch").is_none(), "{r:#}");

    // Mutated: new Freight is named by its content — the very name the
    // API server's admission gave the same Freight — and gets an alias of
    // its own (the stored one holds the first).
    let f = freight("0123456789abcdef0123456789abcdef01234567");
    let r = hook.review(true, "CREATE", ADMIN, &f, None);
    let named = patched(&f, &patch_of(&r));
    assert_eq!(named["metadata"]["name"], f_name);
    let alias = named["metadata"]["labels"]["kargo.akuity.io/alias"]
        .as_str()
        .unwrap();
    assert!(!alias.is_empty() && alias != f_alias, "{alias}");

    // Denied: Freight contents are immutable.
    let mut changed = stored.clone();
    changed["commits"][0]["id"] = json!("fedcba9876543210fedcba9876543210fedcba98");
    let r = hook.review(false, "UPDATE", ADMIN, &changed, Some(stored));
    let (code, msg) = denial(&r);
    assert_eq!(code, 422);
    assert!(
        msg.contains(&format!("Freight.kargo.akuity.io {f_name:?} is invalid"))
            && msg.contains("commits: field is immutable once the Freight is created"),
        "{msg}"
    );
    // Denied: an unsafe repository URL, with the field named.
    let w = json!({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "evil", "namespace": NS},
        "spec": {"subscriptions": [{"git": {"repoURL": "ext::sh -c touch% /tmp/x"}}]}});
    let (code, msg) = denial(&hook.review(false, "CREATE", ADMIN, &w, None));
    assert_eq!(code, 422);
    assert!(
        msg.contains("spec.subscriptions[0].git.repoURL") && msg.contains("remote-helper"),
        "{msg}"
    );
    // Denied: Kargo objects live in projects.
    let mut elsewhere = w.clone();
    elsewhere["metadata"]["namespace"] = json!("default");
    elsewhere["spec"]["subscriptions"][0]["git"]["repoURL"] = json!(REPO);
    let (code, msg) = denial(&hook.review(false, "CREATE", ADMIN, &elsewhere, None));
    assert!(
        code == 404 || code == 403,
        "{code} {msg}" // no such namespace, or not a project
    );
    assert!(msg.contains("kargo create project default"), "{msg}");

    // Promotions: availability first — prod takes only Freight verified
    // in dev.
    let (code, msg) = denial(&hook.review(true, "CREATE", ADMIN, &promotion("prod", f_name), None));
    assert_eq!(code, 422);
    assert_eq!(
        msg,
        format!(
            "Promotion of Freight {f_alias:?} to Stage \"prod\" is invalid: spec.freight: Freight {f_alias:?} is not available to Stage \"prod\": it must be verified in every upstream Stage, but it is not verified in Stage \"dev\""
        )
    );
    // The promote verb, decided by the cluster's RBAC through a
    // SubjectAccessReview: alice holds nothing.
    let p = promotion("dev", f_name);
    let (code, msg) = denial(&hook.review(false, "CREATE", ALICE, &p, None));
    assert_eq!(code, 403);
    assert!(
        msg.starts_with(&format!(
            "stages.kargo.akuity.io \"dev\" is forbidden: User \"alice\" cannot promote resource \"stages\" in API group \"kargo.akuity.io\" in the namespace \"{NS}\": promoting to Stage \"dev\" needs the \"promote\" verb on it"
        )),
        "{msg}"
    );
    // bob is granted promote on dev by a Role in the project.
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: dev-promoter, namespace: {NS}}}\nrules:\n- apiGroups: [kargo.akuity.io]\n  resources: [stages]\n  resourceNames: [dev]\n  verbs: [promote]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: bob-promotes, namespace: {NS}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: dev-promoter}}\nsubjects:\n- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}}\n"
    );
    let file = home.path().join("rbac.yaml");
    std::fs::write(&file, rbac).unwrap();
    ok(&s.kubectl(&["apply", "-f", file.to_str().unwrap()]));
    let r = hook.review(true, "CREATE", BOB, &p, None);
    assert_eq!(r["allowed"], true, "{r:#}");
    let admitted = patched(&p, &patch_of(&r));
    let name = admitted["metadata"]["name"].as_str().unwrap();
    assert!(
        name.starts_with("dev.") && name.ends_with(&f_name[..7]),
        "{name}"
    );
    assert_eq!(admitted["spec"]["steps"][0]["uses"], "git-clone");
    assert_eq!(
        admitted["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
        "kubernetes:bob"
    );
    assert_eq!(
        hook.review(false, "CREATE", BOB, &admitted, None)["allowed"],
        true
    );
    // Deleting a Promotion needs promote too, as Kargo's webhook says.
    let (code, _) = denial(&hook.review(false, "DELETE", ALICE, &p, Some(&admitted)));
    assert_eq!(code, 403);
    assert_eq!(
        hook.review(false, "DELETE", BOB, &p, Some(&admitted))["allowed"],
        true
    );

    // A path that is not a webhook.
    let (code, _) = hook.post("/mutate-kargo-akuity-io-v1alpha1-nothing", &json!({}));
    assert_eq!(code, 404);
}

#[test]
fn replicas_share_one_ca() {
    let home = tempfile::tempdir().unwrap();
    let s = ServerProc::start_with(home.path(), &["--disable-controllers"]);
    let (a_dir, b_dir) = (home.path().join("a"), home.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a = WebhookServer::start(&s, &a_dir);
    let b = WebhookServer::start(&s, &b_dir);
    assert_eq!(std::fs::read(&a.ca).unwrap(), std::fs::read(&b.ca).unwrap());
    // Both serve with a certificate that CA signed (curl checks it).
    let (code, _) = a.post("/mutate-kargo-akuity-io-v1alpha1-nothing", &json!({}));
    assert_eq!(code, 404);
    let (code, _) = b.post("/mutate-kargo-akuity-io-v1alpha1-nothing", &json!({}));
    assert_eq!(code, 404);
}
