//! What `kargo install` prints: everything a cluster installation needs
//! as plain Kubernetes objects a platform team can review — the
//! Namespace, the CRDs, one ServiceAccount per process with least-privilege
//! ClusterRoles/Roles and their bindings (each rule is explained in
//! docs/cluster.md), Deployments for the controller (one per shard), the
//! webhook server and the server, their Services, and the webhook
//! configurations (their CA bundle is written by the webhook server on
//! start).

use kargo_server::webhook_configs::{self, Target};
use serde_json::{Value, json};

/// `kargo install`'s flags.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// The image every Deployment runs.
    pub image: String,
    /// The Kargo namespace.
    pub namespace: String,
    /// Replicas of each Deployment (the controllers elect a leader when
    /// more than one).
    pub replicas: u32,
    /// Controller shards; empty: one unsharded controller.
    pub shards: Vec<String>,
}

const CONTROLLER: &str = "kargo-controller";
const WEBHOOKS: &str = "kargo-webhooks-server";
const SERVER: &str = "kargo-server";
const KUBECONFIG_MAP: &str = "kargo-in-cluster-kubeconfig";
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": "kargo", "app.kubernetes.io/component": component})
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn named(rule: Value, names: &[&str]) -> Value {
    let mut r = rule;
    r["resourceNames"] = json!(names);
    r
}

const READ: &[&str] = &["get", "list", "watch"];
const K: &[&str] = &["kargo.akuity.io"];
const AR: &[&str] = &["argoproj.io"];

/// The controller's cluster-wide rules (see docs/cluster.md, "RBAC").
fn controller_rules() -> Vec<Value> {
    vec![
        // Projects: their namespaces, roles and shared resources.
        rule(
            &[""],
            &["namespaces"],
            &[
                "get", "list", "watch", "create", "patch", "update", "delete",
            ],
        ),
        rule(&[""], &["configmaps"], READ),
        rule(&[""], &["secrets"], READ),
        rule(
            &[""],
            &["serviceaccounts"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
        ),
        rule(
            &["rbac.authorization.k8s.io"],
            &[
                "roles",
                "rolebindings",
                "clusterroles",
                "clusterrolebindings",
            ],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete", "escalate", "bind",
            ],
        ),
        rule(
            &[""],
            &["events"],
            &["create", "patch", "list", "watch", "delete"],
        ),
        // EventRouters route Kargo Events to their channels.
        rule(
            &[kargo_api::EE_GROUP],
            &["eventrouters", "messagechannels", "clustermessagechannels"],
            READ,
        ),
        rule(
            K,
            &["projects"],
            &["get", "list", "watch", "update", "patch"],
        ),
        rule(
            K,
            &[
                "projects/status",
                "projectconfigs/status",
                "clusterconfigs/status",
            ],
            &["patch", "update"],
        ),
        rule(K, &["projectconfigs"], &["get", "list", "watch", "create"]),
        rule(
            K,
            &[
                "clusterconfigs",
                "targets",
                "promotiontasks",
                "clusterpromotiontasks",
            ],
            READ,
        ),
        rule(K, &["warehouses"], &["get", "list", "watch", "patch"]),
        rule(
            K,
            &[
                "warehouses/status",
                "stages/status",
                "promotions/status",
                "freights/status",
                "promotionrequests/status",
            ],
            &["patch", "update"],
        ),
        rule(
            K,
            &["stages"],
            &["get", "list", "watch", "patch", "promote"],
        ),
        rule(
            K,
            &["freights"],
            &[
                "get", "list", "watch", "create", "patch", "update", "delete",
            ],
        ),
        rule(
            K,
            &["promotions"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(
            K,
            &["promotionrequests"],
            &["get", "list", "watch", "create"],
        ),
        // Verification: the AnalysisRun controller is built in.
        rule(AR, &["analysistemplates", "clusteranalysistemplates"], READ),
        rule(
            AR,
            &["analysisruns"],
            &[
                "get", "list", "watch", "create", "patch", "update", "delete",
            ],
        ),
        rule(AR, &["analysisruns/status"], &["patch", "update"]),
        rule(
            &["batch"],
            &["jobs"],
            &["get", "list", "watch", "create", "delete"],
        ),
        // argocd-update and argocd-wait.
        rule(AR, &["applications"], &["get", "list", "watch", "patch"]),
    ]
}

/// The controller's rules in the Kargo namespace: its leader and
/// heartbeat Leases.
fn controller_ns_rules() -> Vec<Value> {
    vec![rule(
        &["coordination.k8s.io"],
        &["leases"],
        &["get", "list", "watch", "create", "update", "delete"],
    )]
}

fn webhooks_rules() -> Vec<Value> {
    vec![
        rule(&[""], &["namespaces"], &["get"]),
        rule(K, &["stages", "freights", "warehouses"], &["get", "list"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["admissionregistration.k8s.io"],
            &[
                "mutatingwebhookconfigurations",
                "validatingwebhookconfigurations",
            ],
            &["create"],
        ),
        named(
            rule(
                &["admissionregistration.k8s.io"],
                &[
                    "mutatingwebhookconfigurations",
                    "validatingwebhookconfigurations",
                ],
                &["get", "update"],
            ),
            &[webhook_configs::NAME],
        ),
    ]
}

fn webhooks_ns_rules() -> Vec<Value> {
    vec![
        rule(&[""], &["secrets"], &["create"]),
        named(
            rule(&[""], &["secrets"], &["get", "update"]),
            &[kargo_server::webhook_certs::SECRET],
        ),
    ]
}

fn server_rules() -> Vec<Value> {
    vec![
        rule(&[""], &["namespaces", "serviceaccounts"], READ),
        rule(
            &[""],
            &["events"],
            &["get", "list", "watch", "create", "patch"],
        ),
        rule(
            &[""],
            &["configmaps", "secrets"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
        ),
        rule(&[""], &["pods"], &["get", "list"]),
        rule(&[""], &["pods/log"], &["get"]),
        rule(
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
            &["create"],
        ),
        rule(&["authentication.k8s.io"], &["tokenreviews"], &["create"]),
        rule(K, &["*"], &["*"]),
        rule(
            &["rbac.authorization.k8s.io"],
            &["roles", "rolebindings", "clusterroles"],
            READ,
        ),
        rule(
            AR,
            &["analysistemplates", "clusteranalysistemplates"],
            &["*"],
        ),
        rule(AR, &["analysisruns"], &["get", "list", "watch", "patch"]),
        rule(&["batch"], &["jobs"], READ),
        rule(&["coordination.k8s.io"], &["leases"], READ),
    ]
}

fn service_account(name: &str, ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": ns, "labels": labels(name)}})
}

/// A ClusterRole (ns None) or Role and its binding to the
/// ServiceAccount of the same name.
fn role_and_binding(
    name: &str,
    sa: &str,
    sa_ns: &str,
    ns: Option<&str>,
    rules: Vec<Value>,
) -> [Value; 2] {
    let (kind, bkind) = match ns {
        None => ("ClusterRole", "ClusterRoleBinding"),
        Some(_) => ("Role", "RoleBinding"),
    };
    let mut md = json!({"name": name, "labels": labels(name)});
    if let Some(ns) = ns {
        md["namespace"] = json!(ns);
    }
    [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": md.clone(), "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": bkind,
            "metadata": md,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}]}),
    ]
}

struct Workload<'a> {
    name: String,
    component: &'a str,
    service_account: &'a str,
    args: Vec<String>,
    env: Vec<Value>,
    port: (&'a str, u16),
    probe: Value,
    volumes: Vec<(Value, Value)>,
}

fn deployment(o: &InstallOptions, w: Workload) -> Value {
    let mut selector = labels(w.component);
    selector["app.kubernetes.io/instance"] = json!(w.name);
    let (mounts, volumes): (Vec<Value>, Vec<Value>) = w.volumes.into_iter().unzip();
    // The root filesystem is read-only: anything written goes under HOME.
    let mut env = vec![json!({"name": "HOME", "value": "/var/lib/kargo"})];
    env.extend(w.env);
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": w.name, "namespace": o.namespace, "labels": selector},
        "spec": {
            "replicas": o.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "serviceAccountName": w.service_account,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": w.component,
                        "image": o.image,
                        "args": w.args,
                        "env": env,
                        "ports": [{"name": w.port.0, "containerPort": w.port.1, "protocol": "TCP"}],
                        "readinessProbe": w.probe.clone(),
                        "livenessProbe": w.probe,
                        "volumeMounts": mounts,
                        "securityContext": {"allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
                    }],
                    "volumes": volumes,
                }
            }
        }
    })
}

fn scratch() -> (Value, Value) {
    (
        json!({"name": "work", "mountPath": "/var/lib/kargo"}),
        json!({"name": "work", "emptyDir": {}}),
    )
}

fn service(o: &InstallOptions, name: &str, component: &str, port: u16, target: &str) -> Value {
    let mut selector = labels(component);
    selector["app.kubernetes.io/instance"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": o.namespace, "labels": labels(component)},
        "spec": {"type": "ClusterIP", "selector": selector,
            "ports": [{"port": port, "targetPort": target, "protocol": "TCP"}]}})
}

/// A kubeconfig that reaches the API server with the pod's service
/// account, for `kargo server --kubeconfig` in a pod.
fn in_cluster_kubeconfig(o: &InstallOptions) -> Value {
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: in-cluster\n  cluster:\n    server: https://kubernetes.default.svc\n    certificate-authority: {SA_DIR}/ca.crt\nusers:\n- name: service-account\n  user:\n    tokenFile: {SA_DIR}/token\ncontexts:\n- name: in-cluster\n  context: {{cluster: in-cluster, user: service-account, namespace: {}}}\ncurrent-context: in-cluster\n",
        o.namespace
    );
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": KUBECONFIG_MAP, "namespace": o.namespace, "labels": labels(SERVER)},
        "data": {"config": config}})
}

fn http_probe(port: &str, scheme: &str) -> Value {
    json!({"httpGet": {"path": "/healthz", "port": port, "scheme": scheme},
        "periodSeconds": 10, "timeoutSeconds": 5})
}

fn controllers(o: &InstallOptions) -> Vec<Value> {
    let shards: Vec<Option<&str>> = if o.shards.is_empty() {
        vec![None]
    } else {
        o.shards.iter().map(|s| Some(s.as_str())).collect()
    };
    shards
        .iter()
        .enumerate()
        .map(|(i, shard)| {
            let mut args = vec![
                "controller".to_string(),
                "--work-dir".into(),
                "/var/lib/kargo".into(),
            ];
            if o.replicas > 1 {
                args.push("--leader-elect".into());
            }
            if let Some(s) = shard {
                args.extend(["--shard".into(), s.to_string()]);
                // The first shard also takes what is labelled for none.
                if i == 0 {
                    args.push("--default-controller".into());
                }
            }
            deployment(
                o,
                Workload {
                    name: shard.map_or(CONTROLLER.to_string(), |s| format!("{CONTROLLER}-{s}")),
                    component: "controller",
                    service_account: CONTROLLER,
                    args,
                    env: vec![json!({"name": "KARGO_NAMESPACE", "value": o.namespace})],
                    port: ("health", 8081),
                    probe: http_probe("health", "HTTP"),
                    volumes: vec![scratch()],
                },
            )
        })
        .collect()
}

/// Every object, in the order they can be applied.
pub fn objects(o: &InstallOptions) -> Vec<Value> {
    let ns = o.namespace.as_str();
    let mut out = vec![json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"app.kubernetes.io/name": "kargo"}}})];
    out.extend(
        kargo_api::crd::crds()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap_or(Value::Null)),
    );
    for sa in [CONTROLLER, WEBHOOKS, SERVER] {
        out.push(service_account(sa, ns));
    }
    out.extend(role_and_binding(
        CONTROLLER,
        CONTROLLER,
        ns,
        None,
        controller_rules(),
    ));
    out.extend(role_and_binding(
        CONTROLLER,
        CONTROLLER,
        ns,
        Some(ns),
        controller_ns_rules(),
    ));
    out.extend(role_and_binding(
        WEBHOOKS,
        WEBHOOKS,
        ns,
        None,
        webhooks_rules(),
    ));
    out.extend(role_and_binding(
        WEBHOOKS,
        WEBHOOKS,
        ns,
        Some(ns),
        webhooks_ns_rules(),
    ));
    out.extend(role_and_binding(SERVER, SERVER, ns, None, server_rules()));
    out.push(in_cluster_kubeconfig(o));
    out.extend(controllers(o));
    out.push(deployment(
        o,
        Workload {
            name: WEBHOOKS.into(),
            component: "webhooks-server",
            service_account: WEBHOOKS,
            args: vec![
                "webhook-server".into(),
                "--bind-address".into(),
                "0.0.0.0:9443".into(),
                "--namespace".into(),
                o.namespace.clone(),
                "--service".into(),
                WEBHOOKS.into(),
            ],
            env: vec![],
            port: ("webhooks", 9443),
            probe: http_probe("webhooks", "HTTPS"),
            volumes: vec![scratch()],
        },
    ));
    out.push(service(o, WEBHOOKS, "webhooks-server", 443, "webhooks"));
    out.push(deployment(
        o,
        Workload {
            name: SERVER.into(),
            component: "server",
            service_account: SERVER,
            args: vec!["--kubeconfig".into(), "/etc/kargo/kubeconfig/config".into(), "server".into(),
                "--listen".into(), "0.0.0.0:8443".into(), "--data-dir".into(), "/var/lib/kargo".into()],
            env: vec![],
            port: ("https", 8443),
            probe: json!({"tcpSocket": {"port": "https"}, "periodSeconds": 10}),
            volumes: vec![
                scratch(),
                (
                    json!({"name": "kubeconfig", "mountPath": "/etc/kargo/kubeconfig", "readOnly": true}),
                    json!({"name": "kubeconfig", "configMap": {"name": KUBECONFIG_MAP}}),
                ),
            ],
        },
    ));
    out.push(service(o, SERVER, "server", 443, "https"));
    let target = Target::Service {
        namespace: ns.to_string(),
        name: WEBHOOKS.to_string(),
    };
    out.push(webhook_configs::mutating(&target, None));
    out.push(webhook_configs::validating(&target, None));
    out
}

/// The objects as one multi-document YAML stream.
pub fn yaml(o: &InstallOptions) -> Result<String, yaml_serde::Error> {
    let mut out = String::new();
    for obj in objects(o) {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(&obj)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_replicas_shape_the_controllers() {
        let o = InstallOptions {
            image: "example/kargo:1".into(),
            namespace: "kargo".into(),
            replicas: 2,
            shards: vec!["east".into(), "west".into()],
        };
        let all = objects(&o);
        let deploys: Vec<&Value> = all.iter().filter(|d| d["kind"] == "Deployment").collect();
        let names: Vec<&str> = deploys
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "kargo-controller-east",
                "kargo-controller-west",
                "kargo-webhooks-server",
                "kargo-server"
            ]
        );
        let args =
            |i: usize| deploys[i]["spec"]["template"]["spec"]["containers"][0]["args"].clone();
        assert_eq!(
            args(0),
            json!([
                "controller",
                "--work-dir",
                "/var/lib/kargo",
                "--leader-elect",
                "--shard",
                "east",
                "--default-controller"
            ])
        );
        assert_eq!(
            args(1),
            json!([
                "controller",
                "--work-dir",
                "/var/lib/kargo",
                "--leader-elect",
                "--shard",
                "west"
            ])
        );
        assert!(deploys.iter().all(|d| d["spec"]["replicas"] == 2
            && d["spec"]["template"]["spec"]["containers"][0]["image"] == "example/kargo:1"));
    }
}
