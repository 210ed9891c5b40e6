//! The one `git` command line kargo-rs runs, for Warehouse discovery
//! (`git.rs`) and the promotion's git steps (`kargo-promotion`'s
//! `git.rs`) alike: hardening flags (no credential helper, no askpass, no
//! `ext::` remote helper), no prompts, C locale, none of the caller's
//! `GIT_DIR`/`GIT_WORK_TREE`/`GIT_INDEX_FILE`, and credentials and TLS
//! settings passed through the environment only (`GIT_CONFIG_COUNT` /
//! `GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n`: an `http.extraHeader` with
//! basic auth, `http.sslVerify=false`), never as an argument or in a URL.
//! Running it (timeouts, process groups, aborts) stays with each caller.

use std::path::Path;
use std::process::Command;

use base64::Engine;

/// `git [-C dir] <hardening flags> args...` with `basic_auth` (username,
/// password) and `insecure_skip_tls_verify` in the environment.
pub fn command(
    dir: Option<&Path>,
    args: &[&str],
    basic_auth: Option<(&str, &str)>,
    insecure_skip_tls_verify: bool,
) -> Command {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    cmd.args([
        "-c",
        "credential.helper=",
        "-c",
        "core.askPass=",
        "-c",
        "protocol.ext.allow=never",
    ]);
    cmd.args(args);
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    let mut config: Vec<(&str, String)> = Vec::new();
    if let Some((user, password)) = basic_auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        config.push(("http.extraHeader", format!("Authorization: Basic {token}")));
    }
    if insecure_skip_tls_verify {
        config.push(("http.sslVerify", "false".to_string()));
    }
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (i, (k, v)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), k)
            .env(format!("GIT_CONFIG_VALUE_{i}"), v);
    }
    cmd
}
