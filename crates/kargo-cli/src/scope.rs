//! Where Kargo's credentials and ConfigMaps live, as its CLI names it:
//! a project (`--project`, or the default one), the shared resources
//! every project may use (`--shared`: `kargo-shared-resources`) or the
//! installation's own (`--system`: `kargo-system-resources`); and the
//! `--set KEY=VALUE` / `--unset KEY` lists that fill them.

use anyhow::{Result, bail};
use kargo_api::namespaces::{SHARED_RESOURCES, SYSTEM_RESOURCES};
use std::collections::BTreeMap;

/// `--shared` and `--system` (each command that takes them also has `-p`).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct ScopeFlags {
    /// Credentials and ConfigMaps: the shared ones, which every project may use.
    #[arg(long, conflicts_with_all = ["project", "system"])]
    pub shared: bool,
    /// Generic credentials and ConfigMaps: the system ones (not a project's).
    #[arg(long, conflicts_with = "project")]
    pub system: bool,
}

/// Where the objects of one command live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A project's namespace.
    Project(String),
    /// `kargo-shared-resources`.
    Shared,
    /// `kargo-system-resources`.
    System,
}

impl Scope {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        match self {
            Scope::Project(p) => p,
            Scope::Shared => SHARED_RESOURCES,
            Scope::System => SYSTEM_RESOURCES,
        }
    }

    /// `project p`, `the shared resources`, `the system resources`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Project(p) => format!("project {p}"),
            Scope::Shared => format!("the shared resources ({SHARED_RESOURCES})"),
            Scope::System => format!("the system resources ({SYSTEM_RESOURCES})"),
        }
    }
}

impl ScopeFlags {
    /// The scope: `--shared`, `--system`, else `project` (the flag or the
    /// default one). `system` says whether the kind has system objects
    /// (repository credentials do not).
    pub fn resolve(self, project: Option<&str>, system: bool) -> Result<Scope> {
        match (self.shared, self.system, project) {
            (true, _, _) => Ok(Scope::Shared),
            (_, true, _) if !system => {
                bail!("--system: repository credentials are per project or shared (--shared)")
            }
            (_, true, _) => Ok(Scope::System),
            (_, _, Some(p)) if !p.is_empty() => Ok(Scope::Project(p.to_string())),
            _ if system => bail!(
                "one of --project (-p), --shared or --system is required (or set a default project with `kargo config set-project`)"
            ),
            _ => bail!(
                "either --project (-p) or --shared is required (or set a default project with `kargo config set-project`)"
            ),
        }
    }

    /// Whether either flag was given.
    pub fn given(self) -> bool {
        self.shared || self.system
    }
}

/// `--set KEY=VALUE` pairs as Kargo reads them: split at the first `=`,
/// key and value trimmed, the key not empty; a later key wins.
pub fn parse_set(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for kv in pairs {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("invalid --set format {kv:?}: expected key=value");
        };
        let k = k.trim();
        if k.is_empty() {
            bail!("invalid --set format {kv:?}: key cannot be empty");
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// `--unset KEY` keys; an empty one is refused.
pub fn parse_unset(keys: &[String]) -> Result<Vec<String>> {
    if keys.iter().any(|k| k.is_empty()) {
        bail!("--unset key cannot be empty");
    }
    Ok(keys.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_pairs_split_at_the_first_equals_and_trim() {
        let m = parse_set(&[" A = b=c ".into(), "EMPTY=".into(), "A=again".into()]).unwrap();
        assert_eq!(m["A"], "again");
        assert_eq!(m["EMPTY"], "");
        assert!(parse_set(&["novalue".into()]).is_err());
        assert!(parse_set(&["=v".into()]).is_err());
        assert!(parse_unset(&[String::new()]).is_err());
    }

    #[test]
    fn scopes_name_their_namespaces() {
        let f = |shared, system| ScopeFlags { shared, system };
        assert_eq!(
            f(false, false).resolve(Some("p"), true).unwrap(),
            Scope::Project("p".into())
        );
        assert_eq!(
            f(true, false)
                .resolve(Some("p"), false)
                .unwrap()
                .namespace(),
            "kargo-shared-resources"
        );
        assert_eq!(
            f(false, true).resolve(None, true).unwrap().namespace(),
            "kargo-system-resources"
        );
        assert!(f(false, true).resolve(None, false).is_err());
        assert!(f(false, false).resolve(None, true).is_err());
    }
}
