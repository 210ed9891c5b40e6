//! Kargo's `pkg/api/freight_test.go` (`TestGenerateFreightID`,
//! `TestSubscriptionNameAffectsFreightID`) ported as data, plus golden IDs.
//! Upstream asserts only equalities; the golden IDs here are
//! `printf '%s' '<input>' | sha1sum` of the input Kargo's formula builds
//! (written out in each row), computed outside this code.

use kargo_api::Freight;
use kargo_api::common::{Chart, FreightOrigin, GitCommit, Image};
use sha1::{Digest, Sha1};

/// `(repoURL, tag, id, subscriptionName)`
type C = (&'static str, &'static str, &'static str, &'static str);
/// `(repoURL, tag, digest, subscriptionName)`
type I = (&'static str, &'static str, &'static str, &'static str);
/// `(repoURL, name, version, subscriptionName)`
type H = (&'static str, &'static str, &'static str, &'static str);

struct Row {
    what: &'static str,
    origin: (&'static str, &'static str),
    commits: &'static [C],
    images: &'static [I],
    charts: &'static [H],
    /// The string Kargo hashes.
    input: &'static str,
    id: &'static str,
}

const SHA: &str = "abc123def456abc123def456abc123def456abc123";
const C40: &str = "0123456789abcdef0123456789abcdef01234567";

/// Rows 1-2: `TestGenerateFreightID` (the Freight, then with another
/// commit ID). Rows 3-8: the three `TestSubscriptionNameAffectsFreightID`
/// subtests, each without and with a subscription name. Rows 9-13: ours,
/// for the spellings whose IDs used to differ from Kargo's.
const ROWS: &[Row] = &[
    Row {
        what: "upstream TestGenerateFreightID",
        origin: ("fake-kind", "fake-name"),
        commits: &[("fake-git-repo", "", "fake-commit-id", "")],
        images: &[("fake-image-repo", "fake-image-tag", "", "")],
        charts: &[("fake-chart-repo", "fake-chart", "fake-chart-version", "")],
        input: "fake-kind/fake-name:fake-chart-repo/fake-chart:fake-chart-version|fake-image-repo:fake-image-tag@|ssh://fake-git-repo:fake-commit-id",
        id: "2ef94c8c7020aa65825be992e9525f7703d15990",
    },
    Row {
        what: "upstream TestGenerateFreightID, changed commit",
        origin: ("fake-kind", "fake-name"),
        commits: &[("fake-git-repo", "", "a-different-fake-commit", "")],
        images: &[("fake-image-repo", "fake-image-tag", "", "")],
        charts: &[("fake-chart-repo", "fake-chart", "fake-chart-version", "")],
        input: "fake-kind/fake-name:fake-chart-repo/fake-chart:fake-chart-version|fake-image-repo:fake-image-tag@|ssh://fake-git-repo:a-different-fake-commit",
        id: "3798c04f40053ff2ab244201e4c6e80f0283bd6f",
    },
    Row {
        what: "upstream git commit, no subscription name",
        origin: ("", ""),
        commits: &[("https://github.com/example/repo", "", SHA, "")],
        images: &[],
        charts: &[],
        input: "/:https://github.com/example/repo:abc123def456abc123def456abc123def456abc123",
        id: "cec5af9136e19ddbd5c9f71717f1905c0e301800",
    },
    Row {
        what: "upstream git commit SubscriptionName",
        origin: ("", ""),
        commits: &[("https://github.com/example/repo", "", SHA, "my-sub")],
        images: &[],
        charts: &[],
        input: "/:https://github.com/example/repo:abc123def456abc123def456abc123def456abc123:my-sub",
        id: "c6987bf2f7416e2e3124df611089af1604ded4c6",
    },
    Row {
        what: "upstream image, no subscription name",
        origin: ("", ""),
        commits: &[],
        images: &[("example.com/myimage", "v1.2.3", "sha256:deadbeef", "")],
        charts: &[],
        input: "/:example.com/myimage:v1.2.3@sha256:deadbeef",
        id: "d9bedaec1a51d3202e2e53b06e87f1a65e882a2e",
    },
    Row {
        what: "upstream image SubscriptionName",
        origin: ("", ""),
        commits: &[],
        images: &[(
            "example.com/myimage",
            "v1.2.3",
            "sha256:deadbeef",
            "img-sub",
        )],
        charts: &[],
        input: "/:example.com/myimage:v1.2.3@sha256:deadbeef:img-sub",
        id: "cc37a6e5ce4b56e5232aaccdc6f946e30f3f5f10",
    },
    Row {
        what: "upstream chart, no subscription name",
        origin: ("", ""),
        commits: &[],
        images: &[],
        charts: &[("https://charts.example.com", "mychart", "1.0.0", "")],
        input: "/:https:/charts.example.com/mychart:1.0.0",
        id: "ab9075822c9fcf0645639bf6d0f9248feb7f4209",
    },
    Row {
        what: "upstream chart SubscriptionName",
        origin: ("", ""),
        commits: &[],
        images: &[],
        charts: &[(
            "https://charts.example.com",
            "mychart",
            "1.0.0",
            "chart-sub",
        )],
        input: "/:https:/charts.example.com/mychart:1.0.0:chart-sub",
        id: "2d1886ad002183cc621aa5133bb35a20f3469cc3",
    },
    Row {
        what: "OCI chart: oci:// stripped",
        origin: ("Warehouse", "guestbook"),
        commits: &[],
        images: &[],
        charts: &[(
            "oci://ghcr.io/akuity/kargo-charts/guestbook",
            "",
            "0.1.0",
            "",
        )],
        input: "Warehouse/guestbook:ghcr.io/akuity/kargo-charts/guestbook:0.1.0",
        id: "a650d7bdbf74adb64b2a147aa677d40f81f9998a",
    },
    Row {
        what: "ssh:// git URL keeps its user",
        origin: ("Warehouse", "guestbook"),
        commits: &[("ssh://git@github.com/example/repo.git", "", C40, "")],
        images: &[],
        charts: &[],
        input: "Warehouse/guestbook:ssh://git@github.com/example/repo:0123456789abcdef0123456789abcdef01234567",
        id: "42541feb362f1a0d1faee9ab5c3f6295111cd84d",
    },
    Row {
        what: "SCP git URL becomes the same ssh:// URL",
        origin: ("Warehouse", "guestbook"),
        commits: &[("git@github.com:example/repo.git/", "", C40, "")],
        images: &[],
        charts: &[],
        input: "Warehouse/guestbook:ssh://git@github.com/example/repo:0123456789abcdef0123456789abcdef01234567",
        id: "42541feb362f1a0d1faee9ab5c3f6295111cd84d",
    },
    Row {
        what: "tagged SCP commit with subscription; image repoURL as written",
        origin: ("Warehouse", "guestbook"),
        commits: &[("github.com:Example/Repo.git", "v1.0.0", C40, "config")],
        images: &[("docker.io/library/nginx", "1.25.0", "sha256:abc", "")],
        charts: &[],
        input: "Warehouse/guestbook:docker.io/library/nginx:1.25.0@sha256:abc|ssh://github.com/example/repo:v1.0.0:0123456789abcdef0123456789abcdef01234567:config",
        id: "0463bc9647aa935ad3164d82fe7828e0911ac2f3",
    },
    Row {
        what: "Docker Hub OCI chart with subscription",
        origin: ("Warehouse", "guestbook"),
        commits: &[],
        images: &[],
        charts: &[(
            "oci://registry-1.docker.io/example/chart",
            "",
            "2.0.0",
            "charts",
        )],
        input: "Warehouse/guestbook:example/chart:2.0.0:charts",
        id: "8c5f00df11aee2c363ecb3f0f7ba3c45a7a21378",
    },
];

fn freight(r: &Row) -> Freight {
    Freight {
        origin: FreightOrigin {
            kind: r.origin.0.into(),
            name: r.origin.1.into(),
        },
        commits: r
            .commits
            .iter()
            .map(|(repo, tag, id, sub)| GitCommit {
                repo_url: (*repo).into(),
                tag: (*tag).into(),
                id: (*id).into(),
                subscription_name: (*sub).into(),
                ..Default::default()
            })
            .collect(),
        images: r
            .images
            .iter()
            .map(|(repo, tag, digest, sub)| Image {
                repo_url: (*repo).into(),
                tag: (*tag).into(),
                digest: (*digest).into(),
                subscription_name: (*sub).into(),
                ..Default::default()
            })
            .collect(),
        charts: r
            .charts
            .iter()
            .map(|(repo, name, version, sub)| Chart {
                repo_url: (*repo).into(),
                name: (*name).into(),
                version: (*version).into(),
                subscription_name: (*sub).into(),
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn golden_ids() {
    assert_eq!(ROWS.len(), 13, "8 upstream-derived rows and 5 of ours");
    for r in ROWS {
        assert_eq!(
            hex::encode(Sha1::digest(r.input.as_bytes())),
            r.id,
            "{}: committed data is self-consistent",
            r.what
        );
        assert_eq!(freight(r).compute_id(), r.id, "{}", r.what);
    }
}

/// `TestGenerateFreightID`: stable over repeated calls; any change moves it.
#[test]
fn generate_freight_id_is_deterministic() {
    let f = freight(&ROWS[0]);
    let id = f.compute_id();
    for _ in 0..100 {
        assert_eq!(f.compute_id(), id);
    }
    assert_ne!(freight(&ROWS[1]).compute_id(), id);
}

/// `TestSubscriptionNameAffectsFreightID`: a name makes a distinct ID, the
/// same name the same ID, no name the historical ID.
#[test]
fn subscription_name_affects_freight_id() {
    for pair in ROWS[2..8].chunks(2) {
        let (base, named) = (freight(&pair[0]), freight(&pair[1]));
        assert_ne!(base.compute_id(), named.compute_id(), "{}", pair[1].what);
        assert_eq!(named.compute_id(), freight(&pair[1]).compute_id());
    }
}
