//! `kargo config get-project|view|unset` and `kargo logout`: reading and
//! clearing the CLI's own configuration, as Kargo's CLI does (`view`
//! masks the token unless `--raw`).

use crate::config;
use crate::format::Format;
use anyhow::{Result, bail};
use serde_json::Value;

/// `kargo config get-project`.
pub fn get_project() -> Result<()> {
    match config::load()?.map(|c| c.project).filter(|p| !p.is_empty()) {
        Some(p) => outln!("{p}"),
        None => bail!("default project is not set"),
    }
}

/// `kargo config view [--raw] [-o yaml|json|jsonpath=…]`.
pub fn view(raw: bool, output: &Format) -> Result<()> {
    let cfg = config::load()?.unwrap_or_default();
    let mut doc = serde_json::to_value(&cfg)?;
    if !raw {
        for secret in ["bearerToken", "caData"] {
            if let Some(v) = doc.get_mut(secret).filter(|v| v.is_string()) {
                *v = Value::String("*** (use --raw to show)".into());
            }
        }
    }
    if let Value::Object(m) = &mut doc {
        m.insert("kind".into(), Value::String("CLIConfig".into()));
    }
    match output {
        Format::Table | Format::Wide => Format::Yaml.print_doc(None, &doc),
        f => f.print_doc(None, &doc),
    }
}

/// A setting `kargo config unset` clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Setting {
    /// The default project (`kargo config set-project`).
    Project,
}

/// `kargo config unset project`.
pub fn unset(what: Setting) -> Result<()> {
    let Some(mut cfg) = config::load()? else {
        return outln!("nothing to unset: there is no configuration yet");
    };
    match what {
        Setting::Project => cfg.project.clear(),
    }
    config::save(&cfg)?;
    outln!("default project unset")
}

/// `kargo logout`: forgets the server, token and default project.
pub fn logout() -> Result<()> {
    let p = config::path();
    match std::fs::remove_file(&p) {
        Ok(()) => outln!("logged out (removed {})", p.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            outln!("not logged in (no {})", p.display())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("removing {}", p.display()))),
    }
}
