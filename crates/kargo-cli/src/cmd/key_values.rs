//! `kargo create|update generic-credentials` and `kargo create|update
//! configmap`: objects of `--set KEY=VALUE` pairs with a `--description`,
//! in a project, the shared resources (`--shared`) or the system
//! resources (`--system`), in Kargo's forms. Each family
//! ([`super::generic_credentials`], [`super::configmaps`]) says where its
//! values go and how it is labelled.

use super::resource_views::{self, OutputArgs, View, new_metadata, set_description};
use crate::complete;
use crate::scope::{ScopeFlags, parse_set, parse_unset};
use anyhow::{Result, bail};
use clap_complete::ArgValueCompleter;
use serde_json::{Map, Value, json};

/// A family of key/value objects.
pub struct Family {
    /// How its objects are shown, listed and told apart.
    pub view: &'static View,
    /// The labels a new object gets.
    pub labels: fn() -> Value,
    /// `true`: values are secret (a Secret's `data`, written as `stringData`).
    pub secret: bool,
    /// Kargo's refusal of an update that leaves no keys.
    pub empty_refusal: &'static str,
}

/// Flags of `kargo create generic-credentials|configmap`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name.
    pub name: String,
    /// Project (default: the configured one).
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    #[command(flatten)]
    pub scope: ScopeFlags,
    /// Description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// A key and its value, `KEY=VALUE` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", required = true)]
    pub set: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `kargo update generic-credentials|configmap`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Name.
    pub name: String,
    /// Project (default: the configured one).
    #[arg(short = 'p', long, add = ArgValueCompleter::new(complete::projects))]
    pub project: Option<String>,
    #[command(flatten)]
    pub scope: ScopeFlags,
    /// Change the description.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Add or change a key, `KEY=VALUE` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove a key (repeatable).
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Creates one object of `family`.
pub async fn create(client: &kube::Client, family: &Family, a: CreateArgs) -> Result<()> {
    let scope = a.scope.resolve(
        crate::client::project(a.project.as_deref())?.as_deref(),
        true,
    )?;
    let data = parse_set(&a.set)?;
    if data.is_empty() {
        bail!("at least one --set key=value is required");
    }
    let field = if family.secret { "stringData" } else { "data" };
    let obj = json!({
        "apiVersion": "v1", "kind": family.view.kind,
        "metadata": new_metadata(&a.name, &scope, (family.labels)(), &a.description),
        field: data,
    });
    resource_views::create(client, family.view, &scope, obj, &a.output).await
}

/// Changes one object of `family`: keys removed, then keys set, then the
/// description (as Kargo's patch); an object left with no keys is refused.
pub async fn update(client: &kube::Client, family: &Family, a: UpdateArgs) -> Result<()> {
    let scope = a.scope.resolve(
        crate::client::project(a.project.as_deref())?.as_deref(),
        true,
    )?;
    let set = parse_set(&a.set)?;
    let unset = parse_unset(&a.unset)?;
    if set.is_empty() && unset.is_empty() && a.description.is_empty() {
        bail!("at least one of --set, --unset, or --description must be provided");
    }
    let mut obj = resource_views::read(client, family.view, &scope, &a.name).await?;
    set_description(&mut obj, &a.description);
    let mut data = match obj.get("data") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for k in &unset {
        data.remove(k);
    }
    if data.is_empty() && set.is_empty() {
        bail!("{}", family.empty_refusal);
    }
    let set: Map<String, Value> = set.into_iter().map(|(k, v)| (k, json!(v))).collect();
    if family.secret {
        obj["data"] = Value::Object(data);
        obj["stringData"] = Value::Object(set);
    } else {
        data.extend(set);
        obj["data"] = Value::Object(data);
    }
    resource_views::replace(client, family.view, &scope, obj, &a.output).await
}
