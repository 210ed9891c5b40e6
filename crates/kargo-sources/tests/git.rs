//! Git discovery against real repositories on disk (`file://` remotes):
//! strategies, filters, shared mirrors and the ls-remote fetch skip.

use kargo_api::warehouse::{CommitSelectionStrategy, GitSubscription};
use kargo_sources::GitDiscoverer;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare remote plus a working clone to push from.
struct Remote {
    _dir: tempfile::TempDir,
    url: String,
    work: std::path::PathBuf,
}

impl Remote {
    fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("remote.git");
        let work = dir.path().join("work");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        git(
            dir.path(),
            &["init", "-q", "-b", "main", work.to_str().unwrap()],
        );
        let url = format!("file://{}", bare.display());
        git(&work, &["remote", "add", "origin", &url]);
        Remote {
            _dir: dir,
            url,
            work,
        }
    }

    fn commit(&self, path: &str, msg: &str) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, msg).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", msg]);
        git(&self.work, &["push", "-q", "origin", "main", "--tags"]);
    }

    fn tag(&self, tag: &str) {
        git(
            &self.work,
            &["tag", "-a", tag, "-m", &format!("release {tag}")],
        );
        git(&self.work, &["push", "-q", "origin", tag]);
    }
}

fn sub(url: &str, strategy: CommitSelectionStrategy) -> GitSubscription {
    GitSubscription {
        repo_url: url.into(),
        commit_selection_strategy: Some(strategy),
        ..Default::default()
    }
}

#[tokio::test]
async fn newest_from_branch_with_path_filters() {
    let r = Remote::new();
    r.commit("apps/web/a.txt", "web one");
    r.commit("docs/readme.md", "docs");
    r.commit("apps/web/b.txt", "web two");
    let cache = tempfile::tempdir().unwrap();
    let d = GitDiscoverer::new(cache.path());
    let all = d
        .discover(
            &sub(&r.url, CommitSelectionStrategy::NewestFromBranch),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|c| c.subject.as_str()).collect::<Vec<_>>(),
        ["web two", "docs", "web one"]
    );
    assert_eq!(
        all[0].branch, "main",
        "default branch comes from the remote's HEAD"
    );
    let mut s = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    s.include_paths = vec!["apps/web".into()];
    s.discovery_limit = Some(1);
    let web = d.discover(&s, None).await.unwrap();
    assert_eq!(
        web.iter().map(|c| c.subject.as_str()).collect::<Vec<_>>(),
        ["web two"]
    );
    let mut s = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    s.exclude_paths = vec!["glob:apps/**".into()];
    let docs = d.discover(&s, None).await.unwrap();
    assert_eq!(
        docs.iter().map(|c| c.subject.as_str()).collect::<Vec<_>>(),
        ["docs"]
    );
    let mut s = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    s.expression_filter = r#"subject startsWith "web""#.into();
    let filtered = d.discover(&s, None).await.unwrap();
    assert_eq!(
        filtered
            .iter()
            .map(|c| c.subject.as_str())
            .collect::<Vec<_>>(),
        ["web two", "web one"]
    );
    s.expression_filter = "subject +".into();
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(err.contains("expressionFilter"), "{err}");
    let mut s = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    s.branch = "nope".into();
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(err.contains("branch \"nope\" does not exist"), "{err}");
}

#[tokio::test]
async fn tag_strategies() {
    let r = Remote::new();
    for t in [
        "v1.0.0",
        "v1.2.0",
        "v1.10.0",
        "v2.0.0-rc.1",
        "1.3",
        "latest",
    ] {
        r.commit("app.txt", t);
        r.tag(t);
    }
    let cache = tempfile::tempdir().unwrap();
    let d = GitDiscoverer::new(cache.path());
    let tags = |v: Vec<kargo_api::warehouse::DiscoveredCommit>| {
        v.into_iter().map(|c| c.tag).collect::<Vec<_>>()
    };
    // SemVer, strict by default: "1.3" and "latest" are not versions; prereleases sort below.
    let semver = d
        .discover(&sub(&r.url, CommitSelectionStrategy::SemVer), None)
        .await
        .unwrap();
    assert_eq!(
        tags(semver.clone()),
        ["v2.0.0-rc.1", "v1.10.0", "v1.2.0", "v1.0.0"]
    );
    assert_eq!(
        semver[1].subject, "v1.10.0",
        "the commit subject, as Kargo reports it"
    );
    assert_eq!(
        semver[1].id.len(),
        40,
        "annotated tags resolve to their commit"
    );
    let mut s = sub(&r.url, CommitSelectionStrategy::SemVer);
    s.semver_constraint = "^1.0".into();
    assert_eq!(
        tags(d.discover(&s, None).await.unwrap()),
        ["v1.10.0", "v1.2.0", "v1.0.0"]
    );
    s.strict_semvers = Some(false);
    assert_eq!(
        tags(d.discover(&s, None).await.unwrap()),
        ["v1.10.0", "1.3", "v1.2.0", "v1.0.0"]
    );
    let lex = d
        .discover(&sub(&r.url, CommitSelectionStrategy::Lexical), None)
        .await
        .unwrap();
    assert_eq!(tags(lex)[0], "v2.0.0-rc.1");
    let mut s = sub(&r.url, CommitSelectionStrategy::NewestTag);
    s.ignore_tags_regexes = vec!["^latest$".into()];
    s.discovery_limit = Some(2);
    let newest = tags(d.discover(&s, None).await.unwrap());
    assert_eq!(newest.len(), 2);
    assert!(!newest.contains(&"latest".to_string()));
    let mut s = sub(&r.url, CommitSelectionStrategy::SemVer);
    s.semver_constraint = ">= nonsense".into();
    assert!(
        d.discover(&s, None)
            .await
            .unwrap_err()
            .to_string()
            .contains("semverConstraint")
    );
}

#[tokio::test]
async fn one_mirror_per_repository_and_no_fetch_when_nothing_moved() {
    let r = Remote::new();
    r.commit("a.txt", "one");
    let cache = tempfile::tempdir().unwrap();
    let d = GitDiscoverer::new(cache.path());
    // Two subscriptions to the same repository, written differently.
    let a = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    let b = sub(
        &format!("{}/", r.url),
        CommitSelectionStrategy::NewestFromBranch,
    );
    let first = d.discover(&a, None).await.unwrap();
    d.discover(&b, None).await.unwrap();
    let before = d.stats();
    // Nothing new on the remote: one ls-remote and no other git process.
    assert_eq!(d.discover(&a, None).await.unwrap(), first);
    let s = d.stats();
    assert_eq!((s.clones, s.fetches, s.ls_remotes), (1, 1, 3), "{s:?}");
    assert_eq!(s.processes - before.processes, 1, "{s:?}");
    assert_eq!(s.unchanged - before.unchanged, 1, "{s:?}");
    r.commit("a.txt", "two");
    let found = d.discover(&a, None).await.unwrap();
    assert_eq!(found[0].subject, "two");
    assert_eq!(d.stats().fetches, 2);
    assert_eq!(
        std::fs::read_dir(cache.path().join("git")).unwrap().count(),
        1
    );
}

#[tokio::test]
async fn unreachable_remotes_fail_with_a_clear_message_and_no_secret() {
    let cache = tempfile::tempdir().unwrap();
    let d = GitDiscoverer::new(cache.path());
    let creds = kargo_sources::git::GitCredentials {
        username: "bot".into(),
        password: "s3cr3t-token".into(),
    };
    let s = sub(
        "http://127.0.0.1:9/org/repo.git",
        CommitSelectionStrategy::NewestFromBranch,
    );
    let err = d.discover(&s, Some(&creds)).await.unwrap_err().to_string();
    assert!(
        err.contains("git ls-remote http://127.0.0.1:9/org/repo.git"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    let s = sub(
        "https://user:hunter2@127.0.0.1:9/org/repo.git",
        CommitSelectionStrategy::NewestFromBranch,
    );
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn tag_expression_filter_sees_kargo_variables() {
    let r = Remote::new();
    r.commit("a.txt", "feat: one");
    r.tag("v1.0.0");
    r.commit("b.txt", "fix: two");
    git(&r.work, &["tag", "v1.1.0"]);
    git(&r.work, &["push", "-q", "origin", "v1.1.0"]);
    let cache = tempfile::tempdir().unwrap();
    let d = GitDiscoverer::new(cache.path());
    let mut s = sub(&r.url, CommitSelectionStrategy::SemVer);
    let tags_for = |found: Vec<kargo_api::warehouse::DiscoveredCommit>| {
        found.into_iter().map(|c| c.tag).collect::<Vec<_>>()
    };
    // Annotated: tagger and annotation; author is the tagged commit's.
    s.expression_filter = "tagger == 'Dev <dev@example.com>' && annotation == 'release v1.0.0' \
                           && author == 'Dev <dev@example.com>' && subject == 'feat: one'"
        .into();
    assert_eq!(tags_for(d.discover(&s, None).await.unwrap()), ["v1.0.0"]);
    // Lightweight: no tagger, no annotation.
    s.expression_filter = "tagger == '' && annotation == ''".into();
    assert_eq!(tags_for(d.discover(&s, None).await.unwrap()), ["v1.1.0"]);
    // creatorDate is a time; a number result is read as Go's ParseBool does.
    s.expression_filter =
        "creatorDate.After(date('2000-01-01')) && creatorDate.Year() > 2000".into();
    assert_eq!(
        tags_for(d.discover(&s, None).await.unwrap()),
        ["v1.1.0", "v1.0.0"]
    );
    s.expression_filter = "tag == 'v1.1.0' ? 1 : 0".into();
    assert_eq!(tags_for(d.discover(&s, None).await.unwrap()), ["v1.1.0"]);
    // What Freight records: `Name <email>`, one pair of brackets, for
    // annotated and lightweight tags and for branch commits alike.
    s.expression_filter = String::new();
    let b = sub(&r.url, CommitSelectionStrategy::NewestFromBranch);
    for c in d
        .discover(&s, None)
        .await
        .unwrap()
        .into_iter()
        .chain(d.discover(&b, None).await.unwrap())
    {
        assert_eq!(c.author, "Dev <dev@example.com>", "{}", c.id);
        assert_eq!(c.committer, "Dev <dev@example.com>", "{}", c.id);
    }
}
