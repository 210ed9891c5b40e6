//! Cost of one authorization decision with 1,000 RoleBindings and 1,000
//! Roles across 100 namespaces (10 users per namespace, 10 groups): the
//! allowed and the denied case, in nanoseconds per decision. The target
//! is under 50 µs. Run with `scripts/bench.sh`.

use kargo_rbac::{Attributes, Index, UserInfo};
use serde_json::json;
use std::time::Instant;

const RES: &str = "rbac.authorization.k8s.io";

fn index() -> Index {
    let mut ix = Index::new();
    for n in 0..100 {
        let ns = format!("project-{n}");
        for r in 0..10 {
            let role = format!("role-{r}");
            ix.apply(&format!("roles.{RES}"), &ns, &role, Some(&json!({"rules": [
                {"apiGroups": ["kargo.akuity.io"], "resources": ["freights", "warehouses", "promotions"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "resourceNames": [format!("stage-{r}")], "verbs": ["promote"]},
                {"apiGroups": [""], "resources": ["configmaps", "events", "serviceaccounts"], "verbs": ["get", "list"]}]})));
            ix.apply(&format!("rolebindings.{RES}"), &ns, &role, Some(&json!({
                "roleRef": {"kind": "Role", "name": role},
                "subjects": [{"kind": "User", "name": format!("user-{r}")}, {"kind": "Group", "name": format!("team-{}", r % 10)},
                             {"kind": "ServiceAccount", "name": format!("sa-{r}")}]})));
        }
    }
    ix
}

fn main() {
    let ix = index();
    let user = UserInfo::new("user-7", vec!["team-7".into()]);
    let allowed = Attributes::resource(
        "promote",
        "kargo.akuity.io",
        "stages",
        "project-42",
        "stage-7",
    );
    let denied = Attributes::resource(
        "promote",
        "kargo.akuity.io",
        "stages",
        "project-42",
        "stage-8",
    );
    assert!(ix.authorize(&user, &allowed).allowed);
    assert!(!ix.authorize(&user, &denied).allowed);
    println!("authorization at 1,000 RoleBindings (user bound in 100 namespaces, 2 subjects each)");
    for (label, a) in [("allowed", &allowed), ("denied", &denied)] {
        let mut runs = Vec::new();
        for _ in 0..11 {
            let n = 20_000;
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(
                    ix.authorize(std::hint::black_box(&user), std::hint::black_box(a)),
                );
            }
            runs.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "  {label:8} median {:8.0} ns/decision (min {:.0}, max {:.0}); target < 50,000 ns",
            runs[runs.len() / 2],
            runs[0],
            runs[runs.len() - 1]
        );
    }
}
