//! Masterminds-compatible semantic versions and constraints (the rules of
//! `github.com/Masterminds/semver/v3`, which Kargo uses for image tags, chart
//! versions, git tags and `semverDiff`), built over the `semver` crate.
//!
//! - [`parse_version`] parses like Masterminds: leniently (`NewVersion`: `v`
//!   prefix, `1` and `1.2` padded with zeros, leading zeros in numbers) or
//!   strictly (`StrictNewVersion`: exactly `X.Y.Z`, no prefix, no leading zero).
//! - [`Constraint`] accepts Masterminds' constraint language: `=`, `!=`, `>`,
//!   `<`, `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`, `x`/`X`/`*` wildcards, hyphen
//!   ranges (`1.2 - 1.4.5`), AND by spaces or commas, OR by `||`.
//! - A prerelease version can satisfy an AND group only when some
//!   comparator of that group carries a prerelease (Masterminds v3.4+;
//!   issue 21 before that was per comparator): `>=1.2.3-0 <2` admits
//!   `1.5.0-rc.1`, `>1.0.0 !=1.2.0` does not, and `>=0.0.0-0` admits every
//!   prerelease.
//!
//! The comparator functions mirror Masterminds' `constraints.go` one to one,
//! including its quirks (`<=2` admits 2.9.9, `!=4.x` excludes every 4.y.z).

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
pub use semver::Version;
use semver::{BuildMetadata, Prerelease};

/// Why a constraint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// The string is not in Masterminds' constraint language.
    #[error("improper constraint: {0:?}")]
    Improper(String),
    /// The comparator's version part is not a version (e.g. `1.2.3.4`).
    #[error("invalid version {version:?} in constraint {constraint:?}")]
    BadVersion { constraint: String, version: String },
}

/// The version part of a comparator: digits or wildcards, then an optional
/// prerelease and build metadata (Masterminds' `cvRegex`, kept as is,
/// including the literal `|` its character classes admit).
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";

/// Operators in Masterminds' order; the empty one is a bare version.
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file; a test compiles every one.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in regex {pattern}: {e}"))
}

static CONSTRAINT_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"^\s*({OPS})\s*({CV})\s*$")));
static RANGE_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"\s*({CV})\s+-\s+({CV})\s*")));
static FIND_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"({OPS})\s*({CV})")));
static VALID_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
});
static VERSION_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
    )
});

/// Parses a version the way Masterminds does: `strict` is `StrictNewVersion`
/// (exactly `MAJOR.MINOR.PATCH[-pre][+meta]`, no `v`, no leading zeros),
/// otherwise `NewVersion` (`v1`, `1.2`, `01.02.03` are accepted and padded).
/// Prerelease identifiers are validated in both modes (no leading zeros in
/// numeric identifiers). Returns `None` for anything else.
pub fn parse_version(input: &str, strict: bool) -> Option<Version> {
    if strict {
        parse_strict(input)
    } else {
        parse_lenient(input)
    }
}

fn parse_strict(input: &str) -> Option<Version> {
    let mut parts = input.splitn(3, '.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let rest = parts.next()?;
    let (rest, meta) = match rest.split_once('+') {
        Some((r, m)) => (r, m),
        None => (rest, ""),
    };
    let (patch, pre) = match rest.split_once('-') {
        Some((p, pre)) => (p, pre),
        None => (rest, ""),
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if s.len() > 1 && s.starts_with('0') {
            return None;
        }
        s.parse().ok()
    };
    build(number(major)?, number(minor)?, number(patch)?, pre, meta)
}

fn parse_lenient(input: &str) -> Option<Version> {
    let caps = VERSION_RE.captures(input)?;
    let segment = |i: usize| -> Option<u64> {
        match caps.get(i) {
            Some(m) => m.as_str().trim_start_matches('.').parse().ok(),
            None => Some(0),
        }
    };
    let pre = caps.get(5).map_or("", |m| m.as_str());
    let meta = caps.get(8).map_or("", |m| m.as_str());
    build(segment(1)?, segment(2)?, segment(3)?, pre, meta)
}

fn build(major: u64, minor: u64, patch: u64, pre: &str, meta: &str) -> Option<Version> {
    let mut v = Version::new(major, minor, patch);
    if !pre.is_empty() {
        v.pre = Prerelease::new(pre).ok()?;
    }
    if !meta.is_empty() {
        v.build = BuildMetadata::new(meta).ok()?;
    }
    Some(v)
}

/// Masterminds' `Compare`: precedence order, build metadata ignored, a
/// version without prerelease above the same version with one.
pub fn compare(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

impl Op {
    fn parse(op: &str) -> Option<Op> {
        Some(match op {
            "" | "=" => Op::TildeOrEqual,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return None,
        })
    }
}

/// One comparator such as `>=1.2` or `~1.x`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    con: Version,
    /// A wildcard or missing segment somewhere (`1`, `1.x`, `*`).
    dirty: bool,
    /// The minor segment (and so the patch) is a wildcard or missing.
    minor_dirty: bool,
    /// Only the patch segment is a wildcard or missing.
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Comparator {
    fn parse(text: &str) -> Result<Comparator, SemverError> {
        if text.is_empty() {
            // Masterminds' parseConstraint(""): a wildcard (`>=0.0.0`).
            return Ok(Comparator {
                op: Op::TildeOrEqual,
                con: Version::new(0, 0, 0),
                dirty: true,
                minor_dirty: false,
                patch_dirty: false,
            });
        }
        let improper = || SemverError::Improper(text.to_string());
        let caps = CONSTRAINT_RE.captures(text).ok_or_else(improper)?;
        let group = |i: usize| caps.get(i).map_or("", |m| m.as_str());
        let op = Op::parse(group(1)).ok_or_else(improper)?;
        let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let ver = if is_x(major) {
            dirty = true;
            format!("0.0.0{pre}")
        } else if minor.is_empty() || is_x(minor.trim_start_matches('.')) {
            dirty = true;
            minor_dirty = true;
            format!("{major}.0.0{pre}")
        } else if patch.is_empty() || is_x(patch.trim_start_matches('.')) {
            dirty = true;
            patch_dirty = true;
            format!("{major}{minor}.0{pre}")
        } else {
            group(2).to_string()
        };
        let con = parse_lenient(&ver).ok_or_else(|| SemverError::BadVersion {
            constraint: text.trim().to_string(),
            version: group(2).to_string(),
        })?;
        Ok(Comparator {
            op,
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// Whether `v` satisfies this comparator; `include_pre` says whether the
    /// comparator's AND group admits prerelease versions at all.
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        match self.op {
            Op::TildeOrEqual => self.tilde_or_equal(v),
            Op::NotEqual => self.not_equal(v),
            Op::Greater => self.greater(v),
            Op::Less => compare(v, &self.con).is_lt(),
            Op::GreaterEqual => compare(v, &self.con).is_ge(),
            Op::LessEqual => self.less_equal(v),
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return v.pre != c.pre;
                }
                return false;
            }
        }
        compare(v, c).is_ne()
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return compare(v, c).is_gt();
        }
        if v.major > c.major {
            return true;
        } else if v.major < c.major || self.minor_dirty {
            return false;
        } else if self.patch_dirty {
            return v.minor > c.minor;
        }
        compare(v, c).is_gt()
    }

    fn less_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return compare(v, c).is_le();
        }
        if v.major > c.major {
            return false;
        }
        if v.major == c.major && v.minor > c.minor && !self.minor_dirty {
            return false;
        }
        true
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if compare(v, c).is_lt() {
            return false;
        }
        // ~0.0.0 (and ~*) admit everything from 0.0.0 up.
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }

    fn tilde_or_equal(&self, v: &Version) -> bool {
        if self.dirty {
            return self.tilde(v);
        }
        compare(v, &self.con).is_eq()
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if compare(v, c).is_lt() {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
    }
}

/// A parsed Masterminds constraint: OR-groups of AND-ed comparators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    source: String,
    groups: Vec<Vec<Comparator>>,
}

/// Masterminds' `rewriteRange`: `A - B` becomes `>= A, <= B ` (the trailing
/// space keeps `A - B <=C` two comparators).
fn rewrite_ranges(input: &str) -> String {
    let mut out = input.to_string();
    for caps in RANGE_RE.captures_iter(input) {
        let (Some(whole), Some(low), Some(high)) = (caps.get(0), caps.get(1), caps.get(11)) else {
            continue;
        };
        let replacement = format!(">= {}, <= {} ", low.as_str(), high.as_str());
        out = out.replacen(whole.as_str(), &replacement, 1);
    }
    out
}

impl Constraint {
    /// Parses a constraint such as `^1.2`, `>=1.0.0 <2 || 3.x` or `1.2 - 1.4.5`.
    /// An empty string is rejected, as in Masterminds' `NewConstraint`.
    pub fn parse(input: &str) -> Result<Constraint, SemverError> {
        let rewritten = rewrite_ranges(input);
        let mut groups = Vec::new();
        for segment in rewritten.split("||") {
            if !VALID_RE.is_match(segment) {
                return Err(SemverError::Improper(segment.trim().to_string()));
            }
            let comparators = FIND_RE
                .find_iter(segment)
                .map(|m| Comparator::parse(m.as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            if comparators.is_empty() {
                return Err(SemverError::Improper(segment.trim().to_string()));
            }
            groups.push(comparators);
        }
        Ok(Constraint {
            source: input.to_string(),
            groups,
        })
    }

    /// Whether `version` satisfies any OR-group (every comparator in it);
    /// a prerelease only where the group names one.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups.iter().any(|group| {
            let include_pre = group.iter().any(|c| !c.con.pre.is_empty());
            group.iter().all(|c| c.check(version, include_pre))
        })
    }

    /// Parses `version` leniently and checks it; `false` when it is no version.
    pub fn matches_str(&self, version: &str) -> bool {
        parse_version(version, false).is_some_and(|v| self.matches(&v))
    }

    /// The text the constraint was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Constraint {
    type Err = SemverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

#[cfg(test)]
mod masterminds_tables;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        parse_version(s, false).unwrap_or_else(|| panic!("test version {s} must parse"))
    }

    use super::masterminds_tables as mt;

    /// Runs `rows`, collecting every failing row's description.
    fn run<T>(table: &str, rows: &[T], upstream: usize, fails: impl Fn(&T) -> Option<String>) {
        assert_eq!(rows.len(), upstream, "{table}: upstream row count");
        let failures: Vec<String> = rows.iter().filter_map(fails).collect();
        assert!(
            failures.is_empty(),
            "{table}: {} failing rows:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn constraint_check_table() {
        // parseConstraint + check, prereleases admitted when the comparator
        // names one (a one-comparator group).
        run(
            "TestConstraintCheck",
            mt::CONSTRAINT_CHECK,
            118,
            |(c, ver, want)| {
                let comparator = match Comparator::parse(c) {
                    Ok(comparator) => comparator,
                    Err(e) => return Some(format!("{c:?} does not parse: {e}")),
                };
                let got = comparator.check(&v(ver), !comparator.con.pre.is_empty());
                (got != *want).then(|| format!("{c:?} with {ver:?}: expected {want}"))
            },
        );
    }

    #[test]
    fn constraints_check_table() {
        run(
            "TestConstraintsCheck",
            mt::CONSTRAINTS_CHECK,
            126,
            |(c, ver, want)| match Constraint::parse(c) {
                Ok(parsed) => (parsed.matches(&v(ver)) != *want)
                    .then(|| format!("{c:?} with {ver:?}: expected {want}")),
                Err(e) => Some(format!("{c:?} does not parse: {e}")),
            },
        );
    }

    #[test]
    fn new_constraint_table() {
        run(
            "TestNewConstraint",
            mt::NEW_CONSTRAINT,
            19,
            |(input, ors, count, err)| match (Constraint::parse(input), err) {
                (Ok(_), true) => Some(format!("{input:?} should be rejected")),
                (Err(e), false) => Some(format!("{input:?} should parse: {e}")),
                (Err(_), true) => None,
                (Ok(c), false) => {
                    (c.groups.len() != *ors || c.groups[0].len() != *count).then(|| {
                        format!(
                            "{input:?}: {} groups, {} in the first",
                            c.groups.len(),
                            c.groups[0].len()
                        )
                    })
                }
            },
        );
    }

    #[test]
    fn rewrite_range_table() {
        run("TestRewriteRange", mt::REWRITE_RANGE, 5, |(input, want)| {
            let got = rewrite_ranges(input);
            (got != *want).then(|| format!("{input:?} became {got:?}, expected {want:?}"))
        });
    }

    #[test]
    fn is_x_table() {
        run("TestIsX", mt::IS_X, 5, |(input, want)| {
            (is_x(input) != *want).then(|| format!("{input:?}: expected {want}"))
        });
    }

    #[test]
    fn strict_new_version_table() {
        run(
            "TestStrictNewVersion",
            mt::STRICT_NEW_VERSION,
            50,
            |(input, err)| {
                (parse_version(input, true).is_none() != *err)
                    .then(|| format!("{input:?}: error expected {err}"))
            },
        );
    }

    #[test]
    fn new_version_table() {
        // The "With loose NewVersion" subtest: Masterminds' default, which
        // Kargo uses.
        run("TestNewVersion", mt::NEW_VERSION, 44, |(input, err)| {
            (parse_version(input, false).is_none() != *err)
                .then(|| format!("{input:?}: error expected {err}"))
        });
    }

    #[test]
    fn compare_tables() {
        run("TestCompare", mt::COMPARE, 19, |(a, b, want)| {
            let got = compare(&v(a), &v(b)) as i32;
            (got != *want).then(|| format!("{a:?} vs {b:?}: {got}, expected {want}"))
        });
        type OrderTable = (
            &'static str,
            &'static [(&'static str, &'static str, bool)],
            usize,
            fn(Ordering) -> bool,
        );
        let tables: [OrderTable; 4] = [
            ("TestLessThan", mt::LESS_THAN, 3, Ordering::is_lt),
            ("TestLessThanEqual", mt::LESS_THAN_EQUAL, 3, Ordering::is_le),
            ("TestGreaterThan", mt::GREATER_THAN, 8, Ordering::is_gt),
            (
                "TestGreaterThanEqual",
                mt::GREATER_THAN_EQUAL,
                3,
                Ordering::is_ge,
            ),
        ];
        for (name, rows, upstream, op) in tables {
            run(name, rows, upstream, |(a, b, want)| {
                (op(compare(&v(a), &v(b))) != *want)
                    .then(|| format!("{a:?} vs {b:?}: expected {want}"))
            });
        }
    }

    #[test]
    fn empty_comparator_is_a_wildcard_but_empty_constraint_is_rejected() {
        // parseConstraint("") is `*`; NewConstraint("") is an error.
        let any = Comparator::parse("*").unwrap_or_else(|e| panic!("{e}"));
        assert!(any.check(&v("1"), false));
        assert!(!any.check(&v("1.2.3-alpha.1"), false));
        assert!(Constraint::parse("").is_err());
    }

    #[test]
    fn lenient_and_strict_versions() {
        assert_eq!(parse_version("v1.2", false), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version("1", false), Some(Version::new(1, 0, 0)));
        assert_eq!(
            parse_version("01.02.03", false),
            Some(Version::new(1, 2, 3))
        );
        assert_eq!(
            parse_version("1.2.3-rc.1+b5", false).map(|v| v.to_string()),
            Some("1.2.3-rc.1+b5".into())
        );
        assert_eq!(parse_version("1.2.3.4", false), None);
        assert_eq!(parse_version("latest", false), None);
        assert_eq!(parse_version("", false), None);
        assert_eq!(
            parse_version("1.2.3-01", false),
            None,
            "leading zero in numeric prerelease"
        );
        assert_eq!(parse_version("V1.2.3", false), None, "only lowercase v");
        assert_eq!(parse_version("1.2.3", true), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("v1.2.3", true), None);
        assert_eq!(parse_version("1.2", true), None);
        assert_eq!(parse_version("01.2.3", true), None);
        assert!(parse_version("1.2.3-alpha.1+build", true).is_some());
    }

    #[test]
    fn build_metadata_is_ignored_in_comparisons() {
        assert!(compare(&v("1.2.3+a"), &v("1.2.3+b")).is_eq());
        assert!(compare(&v("1.2.3-alpha"), &v("1.2.3")).is_lt());
        assert!(compare(&v("1.2.3-alpha.10"), &v("1.2.3-alpha.9")).is_gt());
        assert!(Constraint::parse("=1.2.3").is_ok_and(|c| c.matches(&v("1.2.3+meta"))));
    }

    #[test]
    fn matches_str_rejects_non_versions() {
        let c = Constraint::parse("^1").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.matches_str("v1.9.0"));
        assert!(!c.matches_str("latest"));
        assert_eq!(c.to_string(), "^1");
    }
}
