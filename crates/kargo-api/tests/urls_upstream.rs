//! Kargo's own `pkg/urls` test tables (common_test.go, git_test.go,
//! helm_test.go, image_test.go), ported row for row as data.

use kargo_api::urls::{normalize_chart, normalize_git, normalize_image, sanitize};

/// `TestSanitizeURL`: input, expected.
const SANITIZE: &[(&str, &str)] = &[
    ("  https://example.com/repo  ", "https://example.com/repo"),
    (
        "\n\thttps://example.com/repo\t\n",
        "https://example.com/repo",
    ),
    (
        "\u{FEFF}https://example.com/repo",
        "https://example.com/repo",
    ),
    (
        "https://example.com/\u{200B}repo",
        "https://example.com/repo",
    ),
    (
        "https://example.com/repo\u{FEFF}",
        "https://example.com/repo",
    ),
    (
        "\u{FEFF} https://example.com/\u{200B}repo \u{FEFF}",
        "https://example.com/repo",
    ),
    (
        "\u{FEFF} \n https://example.com/\trepo \u{200B} \n ",
        "https://example.com/repo",
    ),
    ("https://example.com/repo", "https://example.com/repo"),
    ("ftp://example.com/resource", "ftp://example.com/resource"),
    ("   ", ""),
    ("", ""),
    ("https://example.com/ myrepo", "https://example.com/ myrepo"),
    (
        "https://example.com/\u{200B}myrepo",
        "https://example.com/myrepo",
    ),
];

/// `TestNormalizeGit`: input, expected.
const GIT: &[(&str, &str)] = &[
    // Anything we can't normalize is returned as-is
    ("https://not a url", "https://not a url"),
    (
        "http://github.com/example/repo?foo=bar",
        "http://github.com/example/repo?foo=bar",
    ),
    ("ssh://not a url", "ssh://not a url"),
    (
        "ssh://github.com/example/repo?foo=bar",
        "ssh://github.com/example/repo?foo=bar",
    ),
    ("not even remotely a url", "not even remotely a url"),
    // http[s]://[proxy-user:proxy-pass@]host.xz[:port][/path/to/repo[.git][/]]
    ("https://github.com", "https://github.com"),
    ("https://github.com/", "https://github.com"),
    ("https://foo:bar@github.com", "https://github.com"),
    ("https://foo:bar@github.com/", "https://github.com"),
    (
        "https://github.com/example/repo",
        "https://github.com/example/repo",
    ),
    (
        "https://github.com/example/repo/",
        "https://github.com/example/repo",
    ),
    (
        "https://github.com/example/repo.git",
        "https://github.com/example/repo",
    ),
    (
        "https://github.com/example/repo.git/",
        "https://github.com/example/repo",
    ),
    (
        "https://localhost:8443/example/repo",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://localhost:8443/example/repo/",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://localhost:8443/example/repo.git",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://localhost:8443/example/repo.git/",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://foo:bar@github.com/example/repo",
        "https://github.com/example/repo",
    ),
    (
        "https://foo:bar@github.com/example/repo/",
        "https://github.com/example/repo",
    ),
    (
        "https://foo:bar@github.com/example/repo.git",
        "https://github.com/example/repo",
    ),
    (
        "https://foo:bar@github.com/example/repo.git/",
        "https://github.com/example/repo",
    ),
    (
        "https://foo:bar@localhost:8443/example/repo",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://foo:bar@localhost:8443/example/repo/",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://foo:bar@localhost:8443/example/repo.git",
        "https://localhost:8443/example/repo",
    ),
    (
        "https://foo:bar@localhost:8443/example/repo.git/",
        "https://localhost:8443/example/repo",
    ),
    // ssh://[user@]host.xz[:port][/path/to/repo[.git][/]]
    ("ssh://git.example.com", "ssh://git.example.com"),
    ("ssh://git.example.com/", "ssh://git.example.com"),
    ("ssh://git@git.example.com", "ssh://git@git.example.com"),
    ("ssh://git@git.example.com/", "ssh://git@git.example.com"),
    (
        "ssh://github.com/example/repo",
        "ssh://github.com/example/repo",
    ),
    (
        "ssh://github.com/example/repo/",
        "ssh://github.com/example/repo",
    ),
    (
        "ssh://github.com/example/repo.git",
        "ssh://github.com/example/repo",
    ),
    (
        "ssh://github.com/example/repo.git/",
        "ssh://github.com/example/repo",
    ),
    (
        "ssh://localhost:2222/example/repo",
        "ssh://localhost:2222/example/repo",
    ),
    (
        "ssh://localhost:2222/example/repo/",
        "ssh://localhost:2222/example/repo",
    ),
    (
        "ssh://localhost:2222/example/repo.git",
        "ssh://localhost:2222/example/repo",
    ),
    (
        "ssh://localhost:2222/example/repo.git/",
        "ssh://localhost:2222/example/repo",
    ),
    (
        "ssh://git@github.com/example/repo",
        "ssh://git@github.com/example/repo",
    ),
    (
        "ssh://git@github.com/example/repo/",
        "ssh://git@github.com/example/repo",
    ),
    (
        "ssh://git@github.com/example/repo.git",
        "ssh://git@github.com/example/repo",
    ),
    (
        "ssh://git@github.com/example/repo.git/",
        "ssh://git@github.com/example/repo",
    ),
    (
        "ssh://git@localhost:2222/example/repo",
        "ssh://git@localhost:2222/example/repo",
    ),
    (
        "ssh://git@localhost:2222/example/repo/",
        "ssh://git@localhost:2222/example/repo",
    ),
    (
        "ssh://git@localhost:2222/example/repo.git",
        "ssh://git@localhost:2222/example/repo",
    ),
    (
        "ssh://git@localhost:2222/example/repo.git/",
        "ssh://git@localhost:2222/example/repo",
    ),
    // SCP-style [user@]host.xz[:path/to/repo[.git][/]]
    ("git.example.com", "ssh://git.example.com"),
    ("git@git.example.com", "ssh://git@git.example.com"),
    ("github.com:example/repo", "ssh://github.com/example/repo"),
    ("github.com:example/repo/", "ssh://github.com/example/repo"),
    (
        "github.com:example/repo.git",
        "ssh://github.com/example/repo",
    ),
    (
        "github.com:example/repo.git/",
        "ssh://github.com/example/repo",
    ),
    (
        "git@github.com:example/repo",
        "ssh://git@github.com/example/repo",
    ),
    (
        "git@github.com:example/repo/",
        "ssh://git@github.com/example/repo",
    ),
    (
        "git@github.com:example/repo.git",
        "ssh://git@github.com/example/repo",
    ),
    (
        "git@github.com:example/repo.git/",
        "ssh://git@github.com/example/repo",
    ),
];

/// `TestNormalizeChart`: name, input, expected.
const CHART: &[(&str, &str, &str)] = &[
    ("empty string", "", ""),
    ("single word", "repo", "repo"),
    ("leading and trailing whitespace", "  repo  ", "repo"),
    ("mixed case", "REpo", "repo"),
    ("oci prefix", "oci://repo", "repo"),
    ("oci prefix with whitespace", "  oci://repo  ", "repo"),
    ("oci prefix with mixed case", "OCI://Repo", "repo"),
    (
        "docker.io URL with oci prefix",
        "oci://docker.io/example/repo",
        "example/repo",
    ),
    (
        "docker.io URL without oci prefix",
        "docker.io/example/repo",
        "example/repo",
    ),
    (
        "index.docker.io URL with oci prefix",
        "oci://index.docker.io/example/repo",
        "example/repo",
    ),
    (
        "index.docker.io URL without oci prefix",
        "index.docker.io/example/repo",
        "example/repo",
    ),
    (
        "registry-1.docker.io URL with oci prefix",
        "oci://registry-1.docker.io/example/repo",
        "example/repo",
    ),
    (
        "registry-1.docker.io URL without oci prefix",
        "registry-1.docker.io/example/repo",
        "example/repo",
    ),
];

/// `TestNormalizeImage`: input, expected.
const IMAGE: &[(&str, &str)] = &[
    // Official images on Docker Hub
    ("index.docker.io/library/busybox", "busybox"),
    ("index.docker.io/busybox", "busybox"),
    ("registry-1.docker.io/library/busybox", "busybox"),
    ("registry-1.docker.io/busybox", "busybox"),
    ("docker.io/library/busybox", "busybox"),
    ("docker.io/busybox", "busybox"),
    ("library/busybox", "busybox"),
    ("busybox", "busybox"),
    // Other images on Docker Hub
    ("index.docker.io/example/repo", "example/repo"),
    ("docker.io/example/repo", "example/repo"),
    ("example/repo", "example/repo"),
    // Images from other registries
    ("ghcr.io/example/repo", "ghcr.io/example/repo"),
    ("quay.io/example/repo", "quay.io/example/repo"),
    // Input that cannot be normalized (invalid URL)
    ("invalid url", "invalid url"),
];

fn failures<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str)>,
    f: fn(&str) -> String,
) -> Vec<String> {
    rows.filter_map(|(input, want)| {
        let got = f(input);
        (got != want).then(|| format!("{input:?}: want {want:?}, got {got:?}"))
    })
    .collect()
}

#[test]
fn sanitize_url_table() {
    assert_eq!(SANITIZE.len(), 13, "upstream rows");
    let bad = failures(SANITIZE.iter().copied(), sanitize);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn normalize_git_table() {
    assert_eq!(GIT.len(), 55, "upstream rows");
    let bad = failures(GIT.iter().copied(), normalize_git);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn normalize_chart_table() {
    assert_eq!(CHART.len(), 13, "upstream rows");
    let bad = failures(CHART.iter().map(|(_, i, w)| (*i, *w)), normalize_chart);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn normalize_image_table() {
    assert_eq!(IMAGE.len(), 14, "upstream rows");
    let bad = failures(IMAGE.iter().copied(), normalize_image);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Beyond upstream's tables: how Go's parsers treat the spellings users
/// actually write (each checked against the Go sources' rules).
#[test]
fn spellings_users_write() {
    // Classic Helm repositories stay URLs (trailing slash kept: Kargo
    // compares them as written, lower-cased).
    assert_eq!(
        normalize_chart("https://Charts.Example.com/"),
        "https://charts.example.com/"
    );
    // A port makes `https:` no registry: returned lower-cased as is.
    assert_eq!(
        normalize_chart("https://charts.example.com:8443/x"),
        "https://charts.example.com:8443/x"
    );
    assert_eq!(
        normalize_chart("oci://ghcr.io/Org/Chart"),
        "ghcr.io/org/chart"
    );
    assert_eq!(
        normalize_chart("oci://localhost:5000/charts/app"),
        "localhost:5000/charts/app"
    );
    // Sanitised before anything else.
    assert_eq!(
        normalize_git("\u{FEFF}git@github.com:a/b.git"),
        "ssh://git@github.com/a/b"
    );
    assert_eq!(normalize_image("\u{200B}docker.io/library/nginx"), "nginx");
    // Go keeps the default port and prints non-ASCII path bytes escaped.
    assert_eq!(normalize_git("https://h:443/a/b.git"), "https://h:443/a/b");
    assert_eq!(normalize_git("https://h/ä.git"), "https://h/%C3%A4");
    // file:// is no form Kargo knows: its SCP rule reads `file` as a host.
    assert_eq!(
        normalize_git("file:///tmp/repo.git"),
        "ssh://file////tmp/repo"
    );
}
