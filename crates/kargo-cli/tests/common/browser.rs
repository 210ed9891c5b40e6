//! What the browser tests and the UI benchmark drive Chromium with:
//! Debian's `/usr/bin/chromium` and playwright-core (pinned), found in
//! `KARGO_UI_TEST_DIR` (default `~/.cache/kargo-rs/ui-test`, where
//! scripts/test.sh installs it) or installed there with npm when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails, saying what to install, when Debian's Chromium is missing.
pub fn chromium() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: scripts/test.sh installs it (apt-get install chromium)"
    );
}

/// The playwright-core version the test pins.
const PLAYWRIGHT: &str = "1.65.1";

/// The playwright-core package directory, installing it when missing.
pub fn playwright_core() -> PathBuf {
    let base = std::env::var_os("KARGO_UI_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/kargo-rs/ui-test")
        });
    let pkg = base.join("node_modules/playwright-core");
    let version = || -> Option<String> {
        let text = std::fs::read_to_string(pkg.join("package.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["version"].as_str().map(String::from)
    };
    if version().as_deref() != Some(PLAYWRIGHT) {
        std::fs::create_dir_all(&base).unwrap();
        let out = Command::new("timeout")
            .args(["300", "npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
            .arg(&base)
            .arg(format!("playwright-core@{PLAYWRIGHT}"))
            .output()
            .expect("npm (node 20) is needed for the browser tests: scripts/test.sh installs what they use");
        assert!(
            out.status.success(),
            "npm install playwright-core@{PLAYWRIGHT}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(version().as_deref(), Some(PLAYWRIGHT));
    pkg
}
