//! The quick start's Kargo objects: project `my-web-app`, a Warehouse on
//! the app repository's semver tags, Stages dev → staging-us + staging-eu
//! → prod-us (prod-us needs both), git promotion steps, and a health-check
//! verification on every Stage. Written to `<dir>/manifests/` so users can
//! read and re-apply them.

use super::workspace::Workspace;

/// The YAML documents, as files.
pub fn files(ws: &Workspace, env_url: &str) -> Vec<(&'static str, String)> {
    let app = &ws.app_url;
    let cfg = &ws.config_url;
    let steps = format!(
        r#"  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: {cfg}
          checkout:
          - branch: main
            path: ./src
      - uses: yaml-update
        as: update
        config:
          path: ./src/apps/my-web-app/${{{{ ctx.stage }}}}/values.yaml
          updates:
          - key: image.tag
            value: ${{{{ freight.commits["{app}"].tag }}}}
      - uses: git-commit
        as: commit
        config:
          path: ./src
          message: promote my-web-app ${{{{ freight.commits["{app}"].tag }}}} to ${{{{ ctx.stage }}}}
      - uses: git-push
        config:
          path: ./src
  verification:
    analysisTemplates:
    - name: health
    args:
    - name: url
      value: {env_url}/${{{{ ctx.stage }}}}/healthz
"#
    );
    let stage = |name: &str, sources: &str| {
        format!(
            "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: {name}\n  namespace: my-web-app\nspec:\n  requestedFreight:\n  - origin: {{kind: Warehouse, name: my-web-app}}\n    sources: {sources}\n{steps}"
        )
    };
    vec![
        ("00-project.yaml", "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: my-web-app\n---\napiVersion: kargo.akuity.io/v1alpha1\nkind: ProjectConfig\nmetadata:\n  name: my-web-app\n  namespace: my-web-app\nspec:\n  promotionPolicies:\n  - stage: dev\n    autoPromotionEnabled: true\n  - stageSelector: {name: \"glob:staging-*\"}\n    autoPromotionEnabled: true\n".to_string()),
        (
            "01-analysis-template.yaml",
            "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: health\n  namespace: my-web-app\nspec:\n  args:\n  - name: url\n  metrics:\n  - name: healthz\n    # The demo environment answers {\"status\": \"ok\"} with 200, or 500 when the release is broken.\n    successCondition: response.status == 200 && result == \"ok\"\n    provider:\n      web:\n        url: \"{{args.url}}\"\n        jsonPath: \"{$.status}\"\n".to_string(),
        ),
        (
            "02-warehouse.yaml",
            format!("apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: my-web-app\n  namespace: my-web-app\nspec:\n  interval: 1h\n  subscriptions:\n  - git:\n      repoURL: {app}\n      commitSelectionStrategy: SemVer\n      semverConstraint: ^1.0.0\n"),
        ),
        ("03-stage-dev.yaml", stage("dev", "{direct: true}")),
        ("04-stage-staging-us.yaml", stage("staging-us", "{stages: [dev]}")),
        ("05-stage-staging-eu.yaml", stage("staging-eu", "{stages: [dev]}")),
        ("06-stage-prod-us.yaml", stage("prod-us", "{stages: [staging-us, staging-eu], availabilityStrategy: All}")),
    ]
}
