//! The quick start's workspace: a local app repository whose semver tags
//! are the releases, and a local GitOps config repository with one
//! `values.yaml` per Stage — both bare repositories served over `file://`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Stages of the demo pipeline, in order.
pub const STAGES: [&str; 4] = ["dev", "staging-us", "staging-eu", "prod-us"];

/// The repositories of a workspace.
pub struct Workspace {
    /// App repository URL.
    pub app_url: String,
    /// Config repository URL.
    pub config_url: String,
    app_work: PathBuf,
    config_bare: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Quick Start")
        .env("GIT_AUTHOR_EMAIL", "quickstart@kargo.local")
        .env("GIT_COMMITTER_NAME", "Quick Start")
        .env("GIT_COMMITTER_EMAIL", "quickstart@kargo.local")
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const VALUES: &str = "# my-web-app in the __STAGE__ environment.\n# Kargo sets image.tag; everything else is yours.\nimage:\n  repository: my-web-app\n  tag: none   # set by Kargo\nreplicas: 2\n";

impl Workspace {
    /// Creates both repositories under `dir`.
    pub fn create(dir: &Path) -> Result<Workspace> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let repos = dir.join("repos");
        std::fs::create_dir_all(&repos)?;
        let mk = |name: &str| -> Result<(PathBuf, PathBuf)> {
            let bare = repos.join(format!("{name}.git"));
            let work = repos.join(name);
            if bare.exists() {
                bail!("{} exists: use an empty --dir", bare.display());
            }
            git(
                &repos,
                &[
                    "init",
                    "-q",
                    "--bare",
                    "-b",
                    "main",
                    &bare.to_string_lossy(),
                ],
            )?;
            git(
                &repos,
                &["init", "-q", "-b", "main", &work.to_string_lossy()],
            )?;
            git(
                &work,
                &[
                    "remote",
                    "add",
                    "origin",
                    &format!("file://{}", bare.display()),
                ],
            )?;
            Ok((bare, work))
        };
        let (app_bare, app_work) = mk("my-web-app")?;
        let (config_bare, config_work) = mk("k8s-config")?;
        std::fs::write(
            app_work.join("README.md"),
            "my-web-app: each v* tag is a release.\n",
        )?;
        git(&app_work, &["add", "-A"])?;
        git(&app_work, &["commit", "-q", "-m", "initial"])?;
        git(&app_work, &["push", "-q", "origin", "main"])?;
        for stage in STAGES {
            let d = config_work.join("apps/my-web-app").join(stage);
            std::fs::create_dir_all(&d)?;
            std::fs::write(d.join("values.yaml"), VALUES.replace("__STAGE__", stage))?;
        }
        git(&config_work, &["add", "-A"])?;
        git(
            &config_work,
            &["commit", "-q", "-m", "initial environments"],
        )?;
        git(&config_work, &["push", "-q", "origin", "main"])?;
        Ok(Workspace {
            app_url: format!("file://{}", app_bare.display()),
            config_url: format!("file://{}", config_bare.display()),
            app_work,
            config_bare,
        })
    }

    /// Cuts a release: a commit and a tag, pushed.
    pub fn release(&self, tag: &str) -> Result<()> {
        std::fs::write(self.app_work.join("VERSION"), format!("{tag}\n"))?;
        git(&self.app_work, &["add", "-A"])?;
        git(
            &self.app_work,
            &["commit", "-q", "-m", &format!("release {tag}")],
        )?;
        git(&self.app_work, &["tag", tag])?;
        git(&self.app_work, &["push", "-q", "origin", "main", "--tags"])?;
        Ok(())
    }

    /// The `image.tag` committed for a Stage in the config repository.
    pub fn deployed(&self, stage: &str) -> String {
        let text = git(
            &self.config_bare,
            &["show", &format!("main:apps/my-web-app/{stage}/values.yaml")],
        )
        .unwrap_or_default();
        deployed_tag(&text)
    }

    /// Path of the config repository (for the demo environment).
    pub fn config_repo(&self) -> PathBuf {
        self.config_bare.clone()
    }
}

/// Reads `image.tag` from a values file.
pub fn deployed_tag(values: &str) -> String {
    let mut in_image = false;
    for line in values.lines() {
        if line.starts_with("image:") {
            in_image = true;
            continue;
        }
        if in_image {
            if !line.starts_with(' ') {
                in_image = false;
                continue;
            }
            if let Some(rest) = line.trim().strip_prefix("tag:") {
                return rest
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
                    .to_string();
            }
        }
    }
    String::new()
}

/// Reads a Stage's values from the config repository's `main` branch.
pub fn read_deployed(config_bare: &Path, stage: &str) -> String {
    deployed_tag(
        &git(
            config_bare,
            &["show", &format!("main:apps/my-web-app/{stage}/values.yaml")],
        )
        .unwrap_or_default(),
    )
}
