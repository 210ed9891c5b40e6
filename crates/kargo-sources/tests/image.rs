//! Image discovery against a real `docker-registry` on loopback: every
//! selection strategy, tag filters, platform selection from a multi-arch
//! index, discovery limits, the per-digest metadata cache, credentials
//! and failures that name the repository without leaking the password.

mod support;

use kargo_api::warehouse::{DiscoveredImageReference, ImageSelectionStrategy, ImageSubscription};
use kargo_sources::{ImageCredentials, ImageDiscoverer, ImageError};
use support::{PASSWORD, Registry, USER};

fn sub(repo: String) -> ImageSubscription {
    ImageSubscription {
        repo_url: repo,
        ..Default::default()
    }
}

fn tags(refs: &[DiscoveredImageReference]) -> Vec<&str> {
    refs.iter().map(|r| r.tag.as_str()).collect()
}

/// app: semver tags, non-semver tags, different build times.
async fn seed_app(reg: &Registry) {
    let p = reg.pusher(false);
    for (tag, created) in [
        ("1.0.0", "2024-01-01T00:00:00Z"),
        ("1.1", "2024-01-15T00:00:00Z"),
        ("v1.10.0", "2024-02-01T00:00:00Z"),
        ("2.0.0-rc.1", "2024-02-15T00:00:00Z"),
        ("latest", "2024-01-20T00:00:00Z"),
        ("feature-x", "2024-04-01T00:00:00.123456789Z"),
    ] {
        p.image("team/app", tag, created, "linux/amd64", &[]).await;
    }
    p.image(
        "team/app",
        "1.2.0",
        "2024-03-01T00:00:00Z",
        "linux/amd64",
        &[("org.opencontainers.image.source", "https://example.com/app")],
    )
    .await;
}

#[tokio::test]
async fn semver_strategy_constraints_strictness_and_limit() {
    let reg = Registry::start(false).await;
    seed_app(&reg).await;
    let d = ImageDiscoverer::new();
    let repo = format!("{}/team/app", reg.host);

    let all = d.discover(&sub(repo.clone()), None).await.unwrap();
    assert_eq!(tags(&all), ["2.0.0-rc.1", "v1.10.0", "1.2.0", "1.0.0"]);
    for r in &all {
        assert!(r.digest.starts_with("sha256:"), "{r:?}");
    }
    assert_eq!(all[1].created_at.as_deref(), Some("2024-02-01T00:00:00Z"));
    assert_eq!(
        all[2]
            .annotations
            .get("org.opencontainers.image.source")
            .map(String::as_str),
        Some("https://example.com/app")
    );

    let mut s = sub(repo.clone());
    s.constraint = "^1.0.0".into();
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["v1.10.0", "1.2.0", "1.0.0"]);

    // The deprecated field still works when `constraint` is empty.
    let mut s = sub(repo.clone());
    s.semver_constraint = "~1.2".into();
    assert_eq!(tags(&d.discover(&s, None).await.unwrap()), ["1.2.0"]);

    let mut s = sub(repo.clone());
    s.strict_semvers = Some(false);
    s.constraint = "<2.0.0".into();
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["v1.10.0", "1.2.0", "1.1", "1.0.0"]);

    // A limit reads only the images it returns.
    let before = d.stats();
    let mut s = sub(repo.clone());
    s.discovery_limit = Some(2);
    s.image_selection_strategy = Some(ImageSelectionStrategy::SemVer);
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["2.0.0-rc.1", "v1.10.0"]);
    let after = d.stats();
    assert_eq!(after.tag_lists - before.tag_lists, 1);
    assert_eq!(after.digest_lookups - before.digest_lookups, 2);
    // Both digests were read by the first discovery: nothing new.
    assert_eq!(after.manifest_reads, before.manifest_reads);
    assert_eq!(after.config_reads, before.config_reads);

    let mut s = sub(repo);
    s.constraint = "not a constraint".into();
    let err = d.discover(&s, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("constraint"), "{err}");
}

#[tokio::test]
async fn lexical_strategy_and_tag_filters() {
    let reg = Registry::start(false).await;
    seed_app(&reg).await;
    let d = ImageDiscoverer::new();
    let repo = format!("{}/team/app", reg.host);

    let mut s = sub(repo.clone());
    s.image_selection_strategy = Some(ImageSelectionStrategy::Lexical);
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(
        tags(&got),
        [
            "v1.10.0",
            "latest",
            "feature-x",
            "2.0.0-rc.1",
            "1.2.0",
            "1.1",
            "1.0.0"
        ]
    );

    s.allow_tags_regexes = vec![r"^1\.".into()];
    s.ignore_tags_regexes = vec![r"^1\.1$".into()];
    assert_eq!(
        tags(&d.discover(&s, None).await.unwrap()),
        ["1.2.0", "1.0.0"]
    );

    // Deprecated fields fail discovery with the replacement named (Kargo >= 1.11).
    let mut s = sub(repo.clone());
    s.image_selection_strategy = Some(ImageSelectionStrategy::Lexical);
    s.allow_tags = r"^\d".into();
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(
        err.contains("allowTags is deprecated") && err.contains("allowTagsRegexes"),
        "{err}"
    );
    let mut s = sub(repo.clone());
    s.ignore_tags = vec!["1.2.0".into()];
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(err.contains("ignoreTagsRegexes"), "{err}");

    // Filters apply to SemVer too.
    let mut s = sub(repo.clone());
    s.ignore_tags_regexes = vec!["-rc".into()];
    assert_eq!(
        tags(&d.discover(&s, None).await.unwrap()),
        ["v1.10.0", "1.2.0", "1.0.0"]
    );

    let mut s = sub(repo);
    s.allow_tags_regexes = vec!["(".into()];
    let err = d.discover(&s, None).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid regular expression"),
        "{err}"
    );
}

#[tokio::test]
async fn newest_build_reads_each_digest_once() {
    let reg = Registry::start(false).await;
    let p = reg.pusher(false);
    for (tag, created) in [
        ("b", "2024-05-01T00:00:00Z"),
        ("a", "2024-06-01T00:00:00Z"),
        ("c", "2024-04-01T00:00:00Z"),
        ("d", "2024-07-01T10:20:30.5Z"),
    ] {
        p.image("svc", tag, created, "linux/amd64", &[]).await;
    }
    // Two more tags on digests that already exist.
    p.retag("svc", "a", "a-again").await;
    p.retag("svc", "d", "d-again").await;

    let d = ImageDiscoverer::new();
    let mut s = sub(format!("{}/svc", reg.host));
    s.image_selection_strategy = Some(ImageSelectionStrategy::NewestBuild);
    let got = d.discover(&s, None).await.unwrap();
    // Newest first; equal builds break ties by tag, greatest first.
    assert_eq!(tags(&got), ["d-again", "d", "a-again", "a", "b", "c"]);
    assert_eq!(got[0].created_at.as_deref(), Some("2024-07-01T10:20:30Z"));
    assert_eq!(got[0].digest, got[1].digest);
    let first = d.stats();
    assert_eq!(first.tag_lists, 1);
    assert_eq!(first.digest_lookups, 6);
    assert_eq!(first.manifest_reads, 4, "one read per digest, not per tag");
    assert_eq!(first.config_reads, 4, "one read per digest, not per tag");

    // Second discovery: tags are re-resolved, nothing else is read.
    s.discovery_limit = Some(3);
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["d-again", "d", "a-again"]);
    let second = d.stats();
    assert_eq!(second.digest_lookups - first.digest_lookups, 6);
    assert_eq!(second.manifest_reads, first.manifest_reads);
    assert_eq!(second.config_reads, first.config_reads);

    // cacheByTag trusts tags not to move: after one resolution, none.
    s.cache_by_tag = Some(true);
    d.discover(&s, None).await.unwrap();
    let third = d.stats();
    d.discover(&s, None).await.unwrap();
    let fourth = d.stats();
    assert_eq!(fourth.digest_lookups, third.digest_lookups);
    assert_eq!(fourth.tag_lists - third.tag_lists, 1);
}

#[tokio::test]
async fn platform_selection_from_indexes() {
    let reg = Registry::start(false).await;
    let p = reg.pusher(false);
    let amd = p
        .image(
            "multi",
            "amd64-build",
            "2024-01-01T00:00:00Z",
            "linux/amd64",
            &[],
        )
        .await;
    let arm = p
        .image(
            "multi",
            "arm64-build",
            "2024-01-02T00:00:00Z",
            "linux/arm64",
            &[("arch.note", "arm")],
        )
        .await;
    let index = p
        .index(
            "multi",
            "1.0.0",
            &[(&amd, "linux/amd64"), (&arm, "linux/arm64")],
        )
        .await;
    p.image("multi", "1.1.0", "2024-02-01T00:00:00Z", "linux/amd64", &[])
        .await;
    p.image(
        "multi",
        "0.9.0",
        "2023-12-01T00:00:00Z",
        "linux/arm64/v8",
        &[],
    )
    .await;
    let d = ImageDiscoverer::new();
    let repo = format!("{}/multi", reg.host);

    let mut s = sub(repo.clone());
    s.platform = "linux/arm64".into();
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["1.0.0"]);
    assert_eq!(
        got[0].digest, index.digest,
        "the tag's own digest (the index)"
    );
    assert_eq!(got[0].created_at.as_deref(), Some("2024-01-02T00:00:00Z"));
    assert_eq!(
        got[0].annotations.get("arch.note").map(String::as_str),
        Some("arm")
    );
    assert_eq!(
        got[0]
            .annotations
            .get("org.opencontainers.image.description")
            .map(String::as_str),
        Some("multi-arch")
    );

    s.platform = "linux/arm64/v8".into();
    assert_eq!(tags(&d.discover(&s, None).await.unwrap()), ["0.9.0"]);

    s.platform = "linux/amd64".into();
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["1.1.0", "1.0.0"]);
    assert_eq!(got[1].created_at.as_deref(), Some("2024-01-01T00:00:00Z"));

    s.platform = "windows/amd64".into();
    assert!(d.discover(&s, None).await.unwrap().is_empty());

    // Without a platform an index is as new as its newest image.
    let got = d.discover(&sub(repo.clone()), None).await.unwrap();
    assert_eq!(tags(&got), ["1.1.0", "1.0.0", "0.9.0"]);
    assert_eq!(got[1].created_at.as_deref(), Some("2024-01-02T00:00:00Z"));

    // NewestBuild honours the platform too.
    let mut s = sub(repo.clone());
    s.image_selection_strategy = Some(ImageSelectionStrategy::NewestBuild);
    s.platform = "linux/arm64".into();
    assert_eq!(
        tags(&d.discover(&s, None).await.unwrap()),
        // Equal build times: the lexically greater tag first.
        ["arm64-build", "1.0.0"]
    );

    let mut s = sub(repo);
    s.platform = "linux".into();
    let err = d.discover(&s, None).await.unwrap_err();
    assert!(err.to_string().contains("os/arch"), "{err}");
}

#[tokio::test]
async fn digest_strategy_follows_a_mutable_tag() {
    let reg = Registry::start(false).await;
    let p = reg.pusher(false);
    let first = p
        .image("web", "stable", "2024-01-01T00:00:00Z", "linux/amd64", &[])
        .await;
    p.image("web", "9.9.9", "2024-01-01T00:00:00Z", "linux/amd64", &[])
        .await;
    let d = ImageDiscoverer::new();
    let mut s = sub(format!("http://{}/web", reg.host));
    s.image_selection_strategy = Some(ImageSelectionStrategy::Digest);
    s.constraint = "stable".into();
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["stable"]);
    assert_eq!(got[0].digest, first.digest);

    let second = p
        .image("web", "stable", "2024-02-01T00:00:00Z", "linux/amd64", &[])
        .await;
    assert_ne!(first.digest, second.digest);
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(got[0].digest, second.digest);
    assert_eq!(got[0].created_at.as_deref(), Some("2024-02-01T00:00:00Z"));
    assert_eq!(d.stats().tag_lists, 0, "Digest does not list tags");

    s.constraint = "no-such-tag".into();
    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(err.contains("no-such-tag") && err.contains("/web"), "{err}");

    s.constraint.clear();
    let err = d.discover(&s, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Invalid { .. }), "{err}");
}

#[tokio::test]
async fn credentials_and_failures_name_the_repo_without_secrets() {
    let reg = Registry::start(true).await;
    reg.pusher(true)
        .image(
            "private/app",
            "1.0.0",
            "2024-01-01T00:00:00Z",
            "linux/amd64",
            &[],
        )
        .await;
    let d = ImageDiscoverer::new();
    let repo = format!("{}/private/app", reg.host);
    let s = sub(repo.clone());

    let err = d.discover(&s, None).await.unwrap_err().to_string();
    assert!(err.contains(&repo), "{err}");
    assert!(err.contains("list tags"), "{err}");

    let wrong = ImageCredentials {
        username: USER.into(),
        password: "wrong-Pa55word-xyz".into(),
    };
    let err = d.discover(&s, Some(&wrong)).await.unwrap_err().to_string();
    assert!(err.contains(&repo), "{err}");
    assert!(!err.contains("wrong-Pa55word-xyz"), "{err}");

    let right = ImageCredentials {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let got = d.discover(&s, Some(&right)).await.unwrap();
    assert_eq!(tags(&got), ["1.0.0"]);
    // Credentials are not shared: anonymous access still fails afterwards.
    assert!(d.discover(&s, None).await.is_err());
    assert!(d.discover(&s, Some(&wrong)).await.is_err());

    // Nobody listens on this port.
    let dead = format!("127.0.0.1:{}/gone/app", support::free_port());
    let err = d
        .discover(&sub(dead.clone()), Some(&right))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ImageError::Registry(_)), "{msg}");
    assert!(msg.contains(&dead), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");

    let err = d
        .discover(&sub("nginx:1.25".into()), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without a tag"), "{err}");
}

#[tokio::test]
async fn thousands_of_tags_are_listed_once_each() {
    // Distribution 2.8 ignores `n`/`last`: paging by `n` read the whole
    // list twice and reported every tag twice.
    let reg = Registry::start(false).await;
    let p = reg.pusher(false);
    p.image(
        "big/app",
        "0.0.0",
        "2024-01-01T00:00:00Z",
        "linux/amd64",
        &[],
    )
    .await;
    reg.bulk_tags("big/app", "0.0.0", 2500, |i| {
        format!("1.{}.{}", i / 100, i % 100)
    });
    let d = ImageDiscoverer::new();
    let mut s = sub(format!("{}/big/app", reg.host));
    s.discovery_limit = Some(3);
    let got = d.discover(&s, None).await.unwrap();
    assert_eq!(tags(&got), ["1.24.99", "1.24.98", "1.24.97"]);
    assert_eq!(d.stats().tag_lists, 1);
}
