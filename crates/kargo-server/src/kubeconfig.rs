//! The kubeconfig that lets kubectl reach the server with no flags: a
//! `kargo` context (cluster with the server's address and CA, user with
//! the admin token) written to `<data-dir>/kubeconfig`, and merged into
//! the user's kubeconfig (`KUBECONFIG`, else `~/.kube/config`) keeping
//! every other entry and the user's current context. Files are written
//! atomically (a private temporary file renamed over the old one), mode
//! 0600.

use base64::Engine;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use yaml_serde::Value;

/// The name of the cluster, user and context entries.
pub const CONTEXT: &str = "kargo";

/// The file under the data directory.
pub fn data_dir_path(data_dir: &Path) -> PathBuf {
    data_dir.join("kubeconfig")
}

/// Problems reading or writing a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The existing file is not a kubeconfig this can merge into.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Serialize)]
struct Named<T> {
    name: &'static str,
    #[serde(flatten)]
    entry: T,
}

#[derive(Serialize)]
struct ClusterEntry<'a> {
    cluster: Cluster<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster<'a> {
    server: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<String>,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    user: User<'a>,
}

#[derive(Serialize)]
struct User<'a> {
    token: &'a str,
}

#[derive(Serialize)]
struct ContextEntry {
    context: Context,
}

#[derive(Serialize)]
struct Context {
    cluster: &'static str,
    user: &'static str,
}

#[derive(Serialize)]
struct Config<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: [Named<ClusterEntry<'a>>; 1],
    users: [Named<UserEntry<'a>>; 1],
    contexts: [Named<ContextEntry>; 1],
    #[serde(rename = "current-context")]
    current_context: &'static str,
}

/// A kubeconfig whose one context, `kargo`, reaches `server` with `token`,
/// trusting `ca_pem` when given (else the system's roots).
pub fn document(server: &str, token: &str, ca_pem: Option<&str>) -> Value {
    let config = Config {
        api_version: "v1",
        kind: "Config",
        clusters: [Named {
            name: CONTEXT,
            entry: ClusterEntry {
                cluster: Cluster {
                    server,
                    certificate_authority_data: ca_pem
                        .filter(|p| !p.trim().is_empty())
                        .map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
                },
            },
        }],
        users: [Named {
            name: CONTEXT,
            entry: UserEntry {
                user: User { token },
            },
        }],
        contexts: [Named {
            name: CONTEXT,
            entry: ContextEntry {
                context: Context {
                    cluster: CONTEXT,
                    user: CONTEXT,
                },
            },
        }],
        current_context: CONTEXT,
    };
    yaml_serde::to_value(config).expect("a kubeconfig of strings serializes")
}

/// The document as YAML text.
pub fn to_text(doc: &Value) -> String {
    yaml_serde::to_string(doc).expect("a YAML value serializes")
}

/// The `kargo` entry of `list` (`clusters`, `users`, `contexts`) in `doc`.
fn entry<'a>(doc: &'a Value, list: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(CONTEXT))
}

/// Whether `existing` holds a `kargo` user with `token`: a context this
/// server wrote before, which it may keep up to date.
pub fn holds_token(existing: &Value, token: &str) -> bool {
    entry(existing, "users")
        .and_then(|u| u.get("user")?.get("token")?.as_str())
        .is_some_and(|t| t == token)
}

/// Merges the `kargo` cluster, user and context of `ours` into `existing`:
/// entries of another name are left as they are, `kargo` entries are
/// replaced, and `current-context` is set only when the file had none.
pub fn merge(mut existing: Value, ours: &Value) -> Result<Value, String> {
    if existing.is_null() {
        existing = Value::Mapping(Default::default());
    }
    let Some(map) = existing.as_mapping_mut() else {
        return Err("not a kubeconfig: the document is not a mapping".into());
    };
    for (key, default) in [("apiVersion", "v1"), ("kind", "Config")] {
        if map.get(key).is_none_or(Value::is_null) {
            map.insert(key.into(), default.into());
        }
    }
    for list in ["clusters", "users", "contexts"] {
        let ours = entry(ours, list)
            .cloned()
            .ok_or_else(|| format!("our kubeconfig has no {list} entry"))?;
        let slot = map
            .entry(list.into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if slot.is_null() {
            *slot = Value::Sequence(Vec::new());
        }
        let Some(seq) = slot.as_sequence_mut() else {
            return Err(format!("not a kubeconfig: `{list}` is not a list"));
        };
        match seq
            .iter_mut()
            .find(|e| e.get("name").and_then(Value::as_str) == Some(CONTEXT))
        {
            Some(e) => *e = ours,
            None => seq.push(ours),
        }
    }
    let current = map
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or("");
    if current.is_empty() {
        map.insert("current-context".into(), CONTEXT.into());
    }
    Ok(existing)
}

/// The user's kubeconfig as kubectl picks the file it writes to: with
/// `KUBECONFIG` the first listed file that exists (else the last one
/// listed), otherwise `$HOME/.kube/config`. `None` without either.
pub fn user_path() -> Option<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let files: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if let Some(found) = files.iter().find(|p| p.exists()) {
            return Some(found.clone());
        }
        if let Some(last) = files.last() {
            return Some(last.clone());
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".kube").join("config"))
}

/// Writes `text` to `path` atomically with mode 0600: a private temporary
/// file in the same directory, synced, then renamed over `path` (through
/// a symlink to the file it points at). Missing directories are made 0700.
pub fn write_private(path: &Path, text: &str) -> Result<(), KubeconfigError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KubeconfigError::Io { path, source }
    };
    let target = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(io(path)(e)),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
    }
    // tempfile creates the file with mode 0600.
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubeconfig-")
        .tempfile_in(&dir)
        .map_err(io(&dir))?;
    tmp.write_all(text.as_bytes()).map_err(io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io(tmp.path()))?;
    tmp.persist(&target).map_err(|e| io(&target)(e.error))?;
    Ok(())
}

/// What [`install`] did with the user's kubeconfig.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    /// The file did not exist; it now holds the `kargo` context.
    Created(PathBuf),
    /// The `kargo` entries were merged into the existing file.
    Merged(PathBuf),
    /// The file exists and was left alone (no `--write-kubeconfig`).
    Left(PathBuf),
    /// No `KUBECONFIG` and no `HOME`: nowhere to write.
    NoPath,
}

/// Puts the `kargo` context of `ours` into the user's kubeconfig when
/// `force` is set, when there is no such file yet, or when the file's
/// `kargo` user already carries `token` (this server wrote it before).
pub fn install(ours: &Value, token: &str, force: bool) -> Result<Installed, KubeconfigError> {
    let Some(path) = user_path() else {
        return Ok(Installed::NoPath);
    };
    let invalid = |message: String| KubeconfigError::Invalid {
        path: path.clone(),
        message,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            yaml_serde::from_str::<Value>(&text)
                .map_err(|e| invalid(format!("not valid YAML: {e}")))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(KubeconfigError::Io { path, source }),
    };
    let outcome = match &existing {
        None => Installed::Created(path.clone()),
        Some(doc) if force || holds_token(doc, token) => Installed::Merged(path.clone()),
        Some(_) => return Ok(Installed::Left(path)),
    };
    let merged = merge(existing.unwrap_or(Value::Null), ours).map_err(invalid)?;
    write_private(&path, &to_text(&merged))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ours() -> Value {
        document(
            "https://127.0.0.1:8443",
            "tok",
            Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
        )
    }

    const OTHER: &str = "\
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    insecure-skip-tls-verify: true
users:
- name: prod-admin
  user:
    token: other
- name: kargo
  user:
    token: stale
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
    namespace: shop
current-context: prod
preferences:
  colors: true
";

    #[test]
    fn the_document_is_a_kubeconfig_kube_reads() {
        let kc: kube::config::Kubeconfig =
            yaml_serde::from_str(&to_text(&ours())).expect("kube reads it");
        assert_eq!(kc.current_context.as_deref(), Some("kargo"));
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:8443"));
        let ca = base64::engine::general_purpose::STANDARD
            .decode(cluster.certificate_authority_data.as_ref().unwrap())
            .unwrap();
        assert!(String::from_utf8(ca).unwrap().contains("BEGIN CERTIFICATE"));
        assert_eq!(
            kc.contexts[0].context.as_ref().unwrap().user.as_deref(),
            Some("kargo")
        );
    }

    #[test]
    fn merging_keeps_other_entries_and_the_current_context() {
        let merged = merge(yaml_serde::from_str(OTHER).unwrap(), &ours()).unwrap();
        assert_eq!(merged["current-context"].as_str(), Some("prod"));
        assert_eq!(merged["preferences"]["colors"].as_bool(), Some(true));
        let names = |list: &str| -> Vec<&str> {
            merged[list]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap())
                .collect()
        };
        assert_eq!(names("clusters"), ["prod", "kargo"]);
        assert_eq!(
            names("users"),
            ["prod-admin", "kargo"],
            "kargo replaced in place"
        );
        assert_eq!(names("contexts"), ["prod", "kargo"]);
        assert_eq!(
            merged["clusters"][0]["cluster"]["insecure-skip-tls-verify"].as_bool(),
            Some(true)
        );
        assert_eq!(merged["users"][1]["user"]["token"].as_str(), Some("tok"));
        assert_eq!(
            merged["contexts"][0]["context"]["namespace"].as_str(),
            Some("shop")
        );
        // Merging again changes nothing.
        assert_eq!(merge(merged.clone(), &ours()).unwrap(), merged);
    }

    #[test]
    fn a_file_without_current_context_switches_to_kargo() {
        let text =
            "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: null\ncurrent-context: \"\"\n";
        let merged = merge(yaml_serde::from_str(text).unwrap(), &ours()).unwrap();
        assert_eq!(merged["current-context"].as_str(), Some("kargo"));
        assert_eq!(merged["contexts"].as_sequence().unwrap().len(), 1);
        let empty = merge(Value::Null, &ours()).unwrap();
        assert_eq!(empty, ours(), "an empty file becomes our document");
        assert!(merge(yaml_serde::from_str("[1]").unwrap(), &ours()).is_err());
        assert!(merge(yaml_serde::from_str("users: 3").unwrap(), &ours()).is_err());
    }

    #[test]
    fn writes_are_private_and_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-config");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_private(&link, "new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let nested = dir.path().join("a/b/config");
        write_private(&nested, "x").unwrap();
        let mode = std::fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".kubeconfig-"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
