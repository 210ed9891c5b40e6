//! Merging the AnalysisTemplates a Stage verifies with into one
//! AnalysisRun spec, as Kargo does (and Rollouts' `NewAnalysisRunFromTemplates`):
//! metrics, dry-run and retention rules concatenated, duplicate metric names
//! an error; arguments merged by name, a conflicting value an error, a
//! value filling a value-less declaration; run arguments (the Stage's) are
//! applied last and override template values.

use kargo_api::analysis::{AnalysisRunSpec, AnalysisTemplateSpec, Argument};

use crate::error::MergeError;

/// Merges `templates` (name, spec) and the caller's `args` into a run spec.
pub fn merge_templates(
    templates: &[(&str, &AnalysisTemplateSpec)],
    args: &[Argument],
) -> Result<AnalysisRunSpec, MergeError> {
    let mut out = AnalysisRunSpec::default();
    let mut owners: Vec<(String, String)> = Vec::new();
    for (name, spec) in templates {
        for m in &spec.metrics {
            if let Some((_, first)) = owners.iter().find(|(metric, _)| *metric == m.name) {
                return Err(MergeError::DuplicateMetric {
                    metric: m.name.clone(),
                    first: first.clone(),
                    second: name.to_string(),
                });
            }
            owners.push((m.name.clone(), name.to_string()));
            out.metrics.push(m.clone());
        }
        for a in &spec.args {
            merge_arg(&mut out.args, a)?;
        }
        out.dry_run.extend(spec.dry_run.iter().cloned());
        out.measurement_retention
            .extend(spec.measurement_retention.iter().cloned());
    }
    for a in args {
        match out.args.iter_mut().find(|x| x.name == a.name) {
            Some(existing) => *existing = a.clone(),
            None => out.args.push(a.clone()),
        }
    }
    Ok(out)
}

fn merge_arg(args: &mut Vec<Argument>, new: &Argument) -> Result<(), MergeError> {
    let Some(prev) = args.iter_mut().find(|a| a.name == new.name) else {
        args.push(new.clone());
        return Ok(());
    };
    if let (Some(a), Some(b)) = (&prev.value, &new.value)
        && a != b
    {
        return Err(MergeError::ConflictingArg {
            name: new.name.clone(),
            first: a.clone(),
            second: b.clone(),
        });
    }
    if prev.value.is_none() && prev.value_from.is_none() {
        *prev = new.clone();
    }
    Ok(())
}
