//! `helm-update-chart`: Kargo's `helm_chart_updater.go`. Sets the
//! versions `charts` names in the dependencies of the chart at `path`
//! (`Chart.yaml` edited in place, the rest of the file untouched), then
//! runs Helm's dependency update natively ([`super::helm_deps`]):
//! versions resolved from classic and OCI repositories, packages in
//! `charts/`, `Chart.lock` as Helm writes it.
//!
//! Config (Kargo's `HelmUpdateChartConfig`): `path`, `charts[]` of
//! `repository`, `name`, `version` (each update must match a dependency
//! by repository and name). Output, when a locked version changed:
//! `commitMessage`, `Updated chart dependencies for <path>` and a
//! `- <name>: <old> -> <new>` (or `<new>`, or `removed`) line per
//! dependency, sorted by name.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::files::ConfigCheck;
use super::helm_deps;
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "helm-update-chart";

/// Config of `helm-update-chart`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmUpdateChartConfig {
    /// The umbrella chart's directory.
    pub path: String,
    /// Dependency versions to set.
    #[serde(default)]
    pub charts: Vec<ChartUpdate>,
}

/// One entry of `charts`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChartUpdate {
    /// The dependency's repository, as `Chart.yaml` has it.
    pub repository: String,
    /// The dependency's name.
    pub name: String,
    /// The version to set.
    pub version: String,
}

/// Checks and decodes a `helm-update-chart` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<HelmUpdateChartConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("path")
        .items("charts", &["repository", "name", "version"], &[]);
    c.parse(NAME, config)
}

/// Kargo's `generateCommitMessage` (lines sorted by name).
pub fn commit_message(
    path: &str,
    changes: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let mut msg = format!("Updated chart dependencies for {path}\n");
    for (name, change) in changes {
        let change = if change.is_empty() { "removed" } else { change };
        msg.push_str(&format!("\n- {name}: {change}"));
    }
    Some(msg)
}

/// The `helm-update-chart` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct HelmUpdateChart;

impl Step for HelmUpdateChart {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let chart_dir = ctx.resolve(NAME, "path", &cfg.path)?;
        let chart_file = chart_dir.join("Chart.yaml");
        let rel = format!("{}/Chart.yaml", cfg.path.trim_end_matches('/'));
        let text = super::yaml_update::read_file(NAME, &chart_file, &rel)?;
        let terminal = |m: String| StepError::terminal(NAME, m);
        let deps = helm_deps::chart_dependencies(&text)
            .map_err(|e| terminal(format!("get chart dependencies: {e}")))?;

        // Kargo's processDependencyUpdates.
        let mut edits: Vec<(String, Value)> = Vec::new();
        for u in &cfg.charts {
            let Some(i) = deps
                .iter()
                .position(|d| d.name() == u.name && d.repository() == u.repository)
            else {
                return Err(terminal(format!(
                    "process dependency updates: no dependency in Chart.yaml matches update \
                     with repository {:?} and name {:?}",
                    u.repository, u.name
                )));
            };
            if deps[i].version() != u.version {
                edits.push((format!("dependencies.{i}.version"), json!(u.version)));
            }
        }
        let deps = if edits.is_empty() {
            deps
        } else {
            let refs: Vec<(&str, &Value)> = edits.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let new_text = super::yaml_update::set_values(&text, &refs)
                .map_err(|e| terminal(format!("update Chart.yaml: {e}")))?;
            std::fs::write(&chart_file, &new_text)
                .map_err(|e| StepError::retryable(NAME, format!("writing {rel}: {e}")))?;
            helm_deps::chart_dependencies(&new_text).map_err(terminal)?
        };

        let updated = helm_deps::update(NAME, ctx, &chart_dir, &deps)?;
        let mut outputs = Map::new();
        if let Some(msg) = commit_message(&cfg.path, &updated.changes) {
            outputs.insert("commitMessage".into(), json!(msg));
        }
        Ok(StepResult::succeeded(outputs))
    }
}

#[cfg(test)]
pub(crate) mod tests;
