//! Discovery benchmarks against real components on loopback, each run
//! alternating with its baseline:
//! - image discovery (SemVer, `discoveryLimit` 20, a repository of
//!   thousands of tags) against `skopeo list-tags` plus `skopeo inspect`
//!   of the 20 manifests it needs (8 at a time, as kargo-rs reads them),
//!   on Debian's `docker-registry`;
//! - a git refresh with nothing new against one `git ls-remote`.
//!
//! Run with `scripts/bench.sh` (`-- git` or `-- image` for one of them).

#[path = "../../../benches/support.rs"]
mod stats;
#[path = "../tests/support/mod.rs"]
mod support;

use kargo_api::warehouse::{
    CommitSelectionStrategy, DiscoveredImageReference, GitSubscription, ImageSubscription,
};
use kargo_sources::{GitDiscoverer, ImageDiscoverer};
use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 11;
/// Tags in the benchmark repository.
const TAGS: usize = 5000;
/// Distinct images among the newest tags (what discovery must read).
const NEEDED: usize = 20;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn skopeo(args: &[&str]) -> Command {
    let mut c = Command::new("skopeo");
    c.args(args);
    c
}

/// `skopeo list-tags`, then `skopeo inspect` of the needed tags, 8 at a time.
fn skopeo_baseline(repo: &str, needed: &[String]) -> f64 {
    let t = Instant::now();
    run(&mut skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repo}"),
    ]));
    for chunk in needed.chunks(8) {
        let children: Vec<_> = chunk
            .iter()
            .map(|tag| {
                skopeo(&[
                    "inspect",
                    "--no-tags",
                    "--tls-verify=false",
                    &format!("docker://{repo}:{tag}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn skopeo")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("skopeo inspect").success());
        }
    }
    ms(t)
}

fn image_bench(rt: &tokio::runtime::Runtime) {
    let reg = rt.block_on(support::Registry::start(false));
    let repo = format!("{}/bench/app", reg.host);
    let pusher = reg.pusher(false);
    let t = Instant::now();
    rt.block_on(async {
        // Old releases share one image; the newest NEEDED are distinct.
        pusher
            .image(
                "bench/app",
                "0.0.0",
                "2024-01-01T00:00:00Z",
                "linux/amd64",
                &[],
            )
            .await;
        for i in 0..NEEDED {
            let created = format!("2024-02-{:02}T00:00:00Z", i + 1);
            pusher
                .image(
                    "bench/app",
                    &format!("1.0.{i}"),
                    &created,
                    "linux/amd64",
                    &[],
                )
                .await;
        }
    });
    reg.bulk_tags("bench/app", "0.0.0", TAGS - NEEDED - 1, |i| {
        format!("0.{}.{}", (i + 1) / 100, (i + 1) % 100)
    });
    eprintln!("pushed {TAGS} tags in {:.1} s", t.elapsed().as_secs_f64());
    let needed: Vec<String> = (0..NEEDED).rev().map(|i| format!("1.0.{i}")).collect();
    let sub = ImageSubscription {
        repo_url: repo.clone(),
        discovery_limit: Some(NEEDED as i64),
        ..Default::default()
    };
    let check = |got: &[DiscoveredImageReference]| {
        let tags: Vec<&str> = got.iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(tags, needed, "discovery finds the newest {NEEDED} tags");
    };
    let warm = ImageDiscoverer::new();
    check(&rt.block_on(warm.discover(&sub, None)).expect("discover"));
    let (cold, base) = stats::alternate(
        RUNS,
        || {
            let d = ImageDiscoverer::new();
            let t = Instant::now();
            let got = rt.block_on(d.discover(&sub, None)).expect("discover");
            let elapsed = ms(t);
            check(&got);
            elapsed
        },
        || skopeo_baseline(&repo, &needed),
    );
    let (refresh, base2) = stats::alternate(
        RUNS,
        || {
            let t = Instant::now();
            let got = rt.block_on(warm.discover(&sub, None)).expect("discover");
            let elapsed = ms(t);
            check(&got);
            elapsed
        },
        || skopeo_baseline(&repo, &needed),
    );
    stats::header(&format!(
        "Image discovery: {TAGS} tags, {NEEDED} needed (ms, {RUNS} runs each)"
    ));
    let base_name = "(skopeo list-tags + inspect)";
    stats::row("first discovery", &cold, &base, base_name, "≤ 1.2x");
    stats::row(
        "refresh (manifests cached by digest)",
        &refresh,
        &base2,
        base_name,
        "≤ 1.2x",
    );
}

fn git(dir: &std::path::Path, args: &[&str]) {
    run(Command::new("git").arg("-C").arg(dir).args(args));
}

fn git_bench(rt: &tokio::runtime::Runtime) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["config", "user.email", "bench@example.com"]);
    git(&src, &["config", "user.name", "bench"]);
    for i in 0..50 {
        std::fs::write(src.join("f.txt"), format!("{i}\n")).expect("write");
        git(&src, &["add", "."]);
        git(&src, &["commit", "-q", "-m", &format!("change {i}")]);
        git(&src, &["tag", &format!("v1.0.{i}")]);
    }
    let url = format!("file://{}", src.display());
    let d = GitDiscoverer::new(&tmp.path().join("cache"));
    let subs = [
        GitSubscription {
            repo_url: url.clone(),
            branch: "main".into(),
            ..Default::default()
        },
        GitSubscription {
            repo_url: url.clone(),
            commit_selection_strategy: Some(CommitSelectionStrategy::SemVer),
            ..Default::default()
        },
    ];
    stats::header(&format!(
        "Git refresh with nothing new (ms, {RUNS} runs each)"
    ));
    for (name, sub) in ["branch", "SemVer tags"].iter().zip(&subs) {
        let first = rt.block_on(d.discover(sub, None)).expect("discover");
        let (k, b) = stats::alternate(
            RUNS,
            || {
                let t = Instant::now();
                let got = rt.block_on(d.discover(sub, None)).expect("discover");
                let elapsed = ms(t);
                assert_eq!(got, first);
                elapsed
            },
            || {
                let t = Instant::now();
                run(Command::new("git").args(["ls-remote", "--symref", "--", &url]));
                ms(t)
            },
        );
        stats::row(
            &format!("refresh, {name}"),
            &k,
            &b,
            "(git ls-remote)",
            "≤ 1.2x",
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "git") {
        git_bench(&rt);
    }
    if only.as_deref().is_none_or(|o| o == "image") {
        image_bench(&rt);
    }
}
