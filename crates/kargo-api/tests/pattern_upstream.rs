//! Kargo's `pkg/pattern/matcher_test.go` ported as data: every table, every
//! row, every assertion of matches and non-matches.

use kargo_api::pattern::{Matcher, Matchers, parse_name_pattern, parse_path_pattern};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Exact,
    Glob,
    Regex,
    BaseDir,
    Error,
}

fn kind(m: &Result<Matcher, kargo_api::pattern::PatternError>) -> Kind {
    match m {
        Ok(Matcher::Exact(_)) => Kind::Exact,
        Ok(Matcher::Glob(_)) => Kind::Glob,
        Ok(Matcher::Regex(..)) => Kind::Regex,
        Ok(Matcher::BaseDir(_)) => Kind::BaseDir,
        Err(_) => Kind::Error,
    }
}

/// `TestParseNamePattern`: pattern, kind, `String()`.
const NAME_PATTERNS: &[(&str, Kind, &str)] = &[
    ("exact", Kind::Exact, "exact"),
    ("glob:*.txt", Kind::Glob, "*.txt"),
    ("glob:[", Kind::Error, ""),
    ("regex:^dev-[a-zA-Z0-9]*", Kind::Regex, "^dev-[a-zA-Z0-9]*"),
    ("regex:[a-z", Kind::Error, ""),
    ("regexp:^dev-[a-zA-Z0-9]*", Kind::Regex, "^dev-[a-zA-Z0-9]*"),
    ("regexp:[a-z", Kind::Error, ""),
];

/// `TestParsePathPattern`: pattern, kind, `String()`.
const PATH_PATTERNS: &[(&str, Kind, &str)] = &[
    ("base/dir", Kind::BaseDir, "base/dir"),
    ("", Kind::BaseDir, ""),
    ("glob:*.txt", Kind::Glob, "*.txt"),
    ("glob:[", Kind::Error, ""),
    (
        "regex:^[a-z]+/config.yaml$",
        Kind::Regex,
        "^[a-z]+/config.yaml$",
    ),
    ("regex:[a-z", Kind::Error, ""),
    (
        "regexp:^[a-z]+/config.yaml$",
        Kind::Regex,
        "^[a-z]+/config.yaml$",
    ),
    ("regexp:[a-z", Kind::Error, ""),
];

/// A matcher test: pattern (None = invalid), strings that match, that don't.
struct MatchRow {
    name: &'static str,
    pattern: &'static str,
    valid: bool,
    yes: &'static [&'static str],
    no: &'static [&'static str],
}

/// `TestGlobMatcher`.
const GLOB: &[MatchRow] = &[
    MatchRow {
        name: "file wildcard",
        pattern: "*.yaml",
        valid: true,
        yes: &["deployment.yaml", "service.yaml", "configmap.yaml"],
        no: &["deployment.yml", "deployment.json", "yaml"],
    },
    MatchRow {
        name: "directory wildcard",
        pattern: "env/*/deployment.yaml",
        valid: true,
        yes: &["env/prod/deployment.yaml", "env/dev/deployment.yaml"],
        no: &[
            "env/prod/nested/deployment.yaml",
            "app/guestbook/deployment.yml",
        ],
    },
    MatchRow {
        name: "recursive superglob",
        pattern: "env/**/deployment.yaml",
        valid: true,
        yes: &[
            "env/nested/deployment.yaml",
            "env/even/more/nested/deployment.yaml",
            "env/can/it/be/even/more/nested/default/apps/deployment.yaml",
        ],
        no: &["env/nested/service.yml", "etc/deployment.yaml"],
    },
    MatchRow {
        name: "pattern with character class",
        pattern: "app-[a-z].yaml",
        valid: true,
        yes: &["app-a.yaml", "app-z.yaml"],
        no: &["app-ab.yaml", "app-1.yaml", "app-A.yaml"],
    },
    MatchRow {
        name: "multiple resource types",
        pattern: "*.{yaml,yml,json}",
        valid: true,
        yes: &["deployment.yaml", "service.yml", "configmap.json"],
        no: &["deployment.xml", "manifest.jsonnet"],
    },
    MatchRow {
        name: "invalid glob pattern",
        pattern: "[",
        valid: false,
        yes: &[],
        no: &[],
    },
];

/// `TestRegexpMatcher`.
const REGEXP: &[MatchRow] = &[
    MatchRow {
        name: "simple word pattern",
        pattern: "app",
        valid: true,
        yes: &["app", "application", "happy"],
        no: &["API", "App"],
    },
    MatchRow {
        name: "anchored pattern",
        pattern: "^app$",
        valid: true,
        yes: &["app"],
        no: &["application", "happy", "APP"],
    },
    MatchRow {
        name: "kubernetes resource pattern",
        pattern: "^(deployment|service|configmap)-[a-z0-9]+-[a-z0-9]+$",
        valid: true,
        yes: &[
            "deployment-app-prod",
            "service-api-dev",
            "configmap-db-test",
        ],
        no: &[
            "ingress-app-prod",
            "deployment-APP-prod",
            "deployment-app",
            "deployment_app_prod",
        ],
    },
    MatchRow {
        name: "semantic version pattern",
        pattern: "^v\\d+\\.\\d+\\.\\d+$",
        valid: true,
        yes: &["v1.0.0", "v0.1.0", "v12.34.56"],
        no: &["version1.0.0", "v1.0", "v1.0.0-beta", "1.0.0"],
    },
    MatchRow {
        name: "invalid regexp",
        pattern: "(unclosed",
        valid: false,
        yes: &[],
        no: &[],
    },
];

/// `TestBaseDirMatcher`.
const BASE_DIR: &[MatchRow] = &[
    MatchRow {
        name: "simple base directory",
        pattern: "configs",
        valid: true,
        yes: &["configs/app.yaml", "configs/dev/database.yaml", "configs"],
        no: &[
            "app/configs/settings.yaml",
            "configurations/app.yaml",
            "../configs/app.yaml",
        ],
    },
    MatchRow {
        name: "nested base directory",
        pattern: "environments/prod",
        valid: true,
        yes: &[
            "environments/prod/deployment.yaml",
            "environments/prod/configs/database.yaml",
            "environments/prod",
        ],
        no: &[
            "environments/dev/deployment.yaml",
            "environments",
            "apps/environments/prod/config.yaml",
            "../environments/prod/config.yaml",
        ],
    },
    MatchRow {
        name: "with relative path components",
        pattern: "config/shared",
        valid: true,
        yes: &["config/shared/common.yaml", "config/shared"],
        no: &[
            "config/shared/../private/secrets.yaml",
            "config/other/file.yaml",
            "app/config/shared/file.yaml",
        ],
    },
    MatchRow {
        name: "handling invalid paths",
        pattern: "valid/path",
        valid: true,
        yes: &[],
        no: &[
            "invalid:path",
            "\x00malformed",
            "valid/path/../../secret.txt",
            "completely/different/path",
        ],
    },
];

/// `TestExactMatcher`.
const EXACT: &[MatchRow] = &[MatchRow {
    name: "basic pattern",
    pattern: "deployment",
    valid: true,
    yes: &["deployment"],
    no: &["deployments", "Deployment", "deploy"],
}];

fn check_rows(
    rows: &[MatchRow],
    prefix: &str,
    parse: fn(&str) -> Result<Matcher, kargo_api::pattern::PatternError>,
) {
    for r in rows {
        let m = parse(&format!("{prefix}{}", r.pattern));
        assert_eq!(m.is_ok(), r.valid, "{}: {:?}", r.name, m.as_ref().err());
        let Ok(m) = m else { continue };
        assert_eq!(m.as_str(), r.pattern, "{}", r.name);
        for s in r.yes {
            assert!(m.matches(s), "{}: {s:?} should match", r.name);
        }
        for s in r.no {
            assert!(!m.matches(s), "{}: {s:?} should not match", r.name);
        }
    }
}

#[test]
fn parse_name_pattern_table() {
    assert_eq!(NAME_PATTERNS.len(), 7, "upstream rows");
    for (p, k, s) in NAME_PATTERNS {
        let m = parse_name_pattern(p);
        assert_eq!(kind(&m), *k, "{p}");
        if let Ok(m) = m {
            assert_eq!(m.as_str(), *s, "{p}");
        }
    }
}

#[test]
fn parse_path_pattern_table() {
    assert_eq!(PATH_PATTERNS.len(), 8, "upstream rows");
    for (p, k, s) in PATH_PATTERNS {
        let m = parse_path_pattern(p);
        assert_eq!(kind(&m), *k, "{p}");
        if let Ok(m) = m {
            assert_eq!(m.as_str(), *s, "{p}");
        }
    }
}

#[test]
fn glob_matcher_table() {
    assert_eq!(GLOB.len(), 6, "upstream rows");
    check_rows(GLOB, "glob:", parse_name_pattern);
}

#[test]
fn regexp_matcher_table() {
    assert_eq!(REGEXP.len(), 5, "upstream rows");
    check_rows(REGEXP, "regex:", parse_name_pattern);
}

#[test]
fn base_dir_matcher_table() {
    assert_eq!(BASE_DIR.len(), 4, "upstream rows");
    check_rows(BASE_DIR, "", parse_path_pattern);
}

#[test]
fn exact_matcher_table() {
    assert_eq!(EXACT.len(), 1, "upstream rows");
    check_rows(EXACT, "", parse_name_pattern);
}

/// `TestMatchers`: (patterns as name/path patterns, matches, non-matches,
/// `String()`); the patterns are upstream's exact, glob, regexp and base-dir
/// fixtures.
#[test]
fn matchers_table() {
    let exact = || parse_name_pattern("config.yaml").expect("exact");
    let glob = || parse_name_pattern("glob:*.{yaml,yml}").expect("glob");
    let regexp = || parse_name_pattern("regexp:^app-[a-z]+$").expect("regexp");
    let base_dir = || parse_path_pattern("configs").expect("base dir");
    let rows: Vec<(Matchers, &[&str], &[&str], &str)> = vec![
        (Matchers(vec![]), &[], &["anything", ""], ""),
        (
            Matchers(vec![exact()]),
            &["config.yaml"],
            &["other.yaml", "config.yml"],
            "config.yaml",
        ),
        (
            Matchers(vec![exact(), glob(), regexp()]),
            &["config.yaml", "other.yaml", "app-service", "service.yml"],
            &["data.json", "app_service", "App-service"],
            "config.yaml, *.{yaml,yml}, ^app-[a-z]+$",
        ),
        (
            Matchers(vec![exact(), base_dir()]),
            &["config.yaml", "configs/file.json", "configs"],
            &["settings.yaml", "other/configs/file.json"],
            "config.yaml, configs",
        ),
    ];
    assert_eq!(rows.len(), 4, "upstream rows");
    for (m, yes, no, s) in rows {
        for y in yes {
            assert!(m.matches(y), "{s}: {y:?}");
        }
        for n in no {
            assert!(!m.matches(n), "{s}: {n:?}");
        }
        assert_eq!(m.to_string(), s);
    }
}

/// Kargo's `pkg/api/authorized_stage_test.go` (`TestAuthorizedStages`):
/// value, then either the `(project, stage)` pairs or an error fragment.
/// Either the parsed `(project, stage)` pairs or a fragment of the error.
type Parsed = Result<&'static [(&'static str, &'static str)], &'static str>;

const AUTHORIZED: &[(&str, Parsed)] = &[
    ("proj:stage", Ok(&[("proj", "stage")])),
    (
        "proj:stage-a,proj:stage-b,other:stage-c",
        Ok(&[
            ("proj", "stage-a"),
            ("proj", "stage-b"),
            ("other", "stage-c"),
        ]),
    ),
    (
        " proj : stage-a , , other:stage-b ,",
        Ok(&[("proj", "stage-a"), ("other", "stage-b")]),
    ),
    ("bogus", Err("expected format")),
    ("proj:", Err("expected format")),
    (":stage", Err("expected format")),
    ("", Err("no authorized Stages")),
    (",, ,", Err("no authorized Stages")),
    ("*:stage", Err("deprecated glob expressions")),
    ("proj:*", Err("deprecated glob expressions")),
    ("proj:stage,proj:*", Err("deprecated glob expressions")),
];

#[test]
fn authorized_stages_table() {
    assert_eq!(AUTHORIZED.len(), 11, "upstream rows");
    for (value, want) in AUTHORIZED {
        let got = kargo_api::pattern::authorized_stages(value);
        match (want, got) {
            (Ok(pairs), Ok(got)) => {
                let got: Vec<(&str, &str)> =
                    got.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
                assert_eq!(&got, pairs, "{value:?}");
            }
            (Err(frag), Err(e)) => assert!(e.0.contains(frag), "{value:?}: {e}"),
            (want, got) => panic!("{value:?}: want {want:?}, got {got:?}"),
        }
    }
}
