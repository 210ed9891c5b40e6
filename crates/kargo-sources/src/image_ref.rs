//! Image references (`[registry/]repository[:tag][@digest]`) parsed and
//! normalised as Docker's distribution/reference package does:
//! `nginx` is `docker.io/library/nginx`, a first component is a registry
//! only when it has a `.` or `:` or is `localhost`.
//!
//! The grammar is distribution's, written with ASCII classes: the OCI
//! crates' parser compiles the same grammar with Unicode word classes
//! repeated 128 times for the tag, a regex that holds about 7 MB for the
//! life of the process once the first Warehouse is discovered.

use std::sync::LazyLock;

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]`, `docker.io` when none is named.
    pub registry: String,
    /// The path in the registry (`library/` added for Docker Hub's
    /// official images).
    pub repository: String,
    /// The tag, if named.
    pub tag: Option<String>,
    /// The digest, if named.
    pub digest: Option<String>,
}

/// Docker Hub, where a name without a registry lives.
const DEFAULT_REGISTRY: &str = "docker.io";
/// distribution's limit on the name (registry and path).
const NAME_MAX: usize = 255;

static REFERENCE: LazyLock<regex::Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|-+)";
    let path_component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let domain = format!(r"{host}(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{path_component}(?:/{path_component})*");
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    regex::Regex::new(&format!(
        "^(?-u)(?P<name>{name})(?::(?P<tag>{tag}))?(?:@(?P<digest>{digest}))?$"
    ))
    .expect("the reference grammar compiles")
});

impl ImageRef {
    /// Parses `s`, naming what is wrong when it is not a reference.
    pub fn parse(s: &str) -> Result<ImageRef, String> {
        if s.is_empty() {
            return Err("the reference is empty".into());
        }
        let Some(c) = REFERENCE.captures(s) else {
            // As distribution: what would parse in lower case has an
            // upper-case repository path.
            return Err(if REFERENCE.is_match(&s.to_ascii_lowercase()) {
                "repository name must be lowercase".into()
            } else {
                "invalid reference format".into()
            });
        };
        let name = &c["name"];
        if name.len() > NAME_MAX {
            return Err(format!(
                "repository name must not be more than {NAME_MAX} characters"
            ));
        }
        let (registry, path) = split_registry(name);
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(ImageRef {
            registry,
            repository,
            tag: c.name("tag").map(|m| m.as_str().to_string()),
            digest: c.name("digest").map(|m| m.as_str().to_string()),
        })
    }
}

fn has_upper(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_uppercase())
}

/// distribution's `splitDockerDomain`: the first component is a registry
/// when it has a `.` or `:`, is `localhost`, or has an upper-case letter.
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || has_upper(first) =>
        {
            let registry = if first == "index.docker.io" {
                DEFAULT_REGISTRY
            } else {
                first
            };
            (registry.to_string(), rest)
        }
        _ => (DEFAULT_REGISTRY.to_string(), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from distribution/reference's normalisation and parsing
    /// tests: input, then registry, repository, tag, digest (or the error
    /// when it must fail).
    /// Registry, repository, tag, digest.
    type Parts = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );

    const ROWS: &[(&str, Result<Parts, &str>)] = &[
        ("nginx", Ok(("docker.io", "library/nginx", None, None))),
        (
            "nginx:latest",
            Ok(("docker.io", "library/nginx", Some("latest"), None)),
        ),
        (
            "docker.io/nginx",
            Ok(("docker.io", "library/nginx", None, None)),
        ),
        (
            "index.docker.io/nginx",
            Ok(("docker.io", "library/nginx", None, None)),
        ),
        (
            "docker.io/library/nginx",
            Ok(("docker.io", "library/nginx", None, None)),
        ),
        (
            "dmcgowan/myapp",
            Ok(("docker.io", "dmcgowan/myapp", None, None)),
        ),
        (
            "dmcgowan/myapp:latest",
            Ok(("docker.io", "dmcgowan/myapp", Some("latest"), None)),
        ),
        (
            "ghcr.io/akuity/kargo",
            Ok(("ghcr.io", "akuity/kargo", None, None)),
        ),
        ("localhost/app", Ok(("localhost", "app", None, None))),
        (
            "localhost:5000/app:v1",
            Ok(("localhost:5000", "app", Some("v1"), None)),
        ),
        (
            "127.0.0.1:5000/team/app",
            Ok(("127.0.0.1:5000", "team/app", None, None)),
        ),
        ("[::1]:5000/app", Ok(("[::1]:5000", "app", None, None))),
        ("Example.com/app", Ok(("Example.com", "app", None, None))),
        (
            "a.b/c_d/e__f/g-h/i--j.k:Tag_1.0-x",
            Ok(("a.b", "c_d/e__f/g-h/i--j.k", Some("Tag_1.0-x"), None)),
        ),
        (
            "r.test/app@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            Ok((
                "r.test",
                "app",
                None,
                Some("sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            )),
        ),
        (
            "r.test/app:v2@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            Ok((
                "r.test",
                "app",
                Some("v2"),
                Some("sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            )),
        ),
        ("", Err("the reference is empty")),
        ("Uppercase", Err("repository name must be lowercase")),
        ("team/UPPER", Err("repository name must be lowercase")),
        ("r.test/Team/app", Err("repository name must be lowercase")),
        ("app:", Err("invalid reference format")),
        ("app@sha256:00", Err("invalid reference format")),
        ("a..b/app", Err("invalid reference format")),
        ("-app", Err("invalid reference format")),
        ("app/", Err("invalid reference format")),
        ("r.test/app:-tag", Err("invalid reference format")),
        ("r.test/app:tag with space", Err("invalid reference format")),
        ("app:ta\u{e9}g", Err("invalid reference format")),
    ];

    #[test]
    fn references_parse_and_normalise_as_distribution_does() {
        for (input, want) in ROWS {
            let got = ImageRef::parse(input);
            match want {
                Ok((registry, repository, tag, digest)) => {
                    let r = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(r.registry, *registry, "{input:?}");
                    assert_eq!(r.repository, *repository, "{input:?}");
                    assert_eq!(r.tag.as_deref(), *tag, "{input:?}");
                    assert_eq!(r.digest.as_deref(), *digest, "{input:?}");
                }
                Err(message) => assert_eq!(got, Err(message.to_string()), "{input:?}"),
            }
        }
    }

    #[test]
    fn a_name_longer_than_255_characters_is_refused() {
        let long = format!("r.test/{}", "a".repeat(250));
        assert_eq!(
            ImageRef::parse(&long),
            Err("repository name must not be more than 255 characters".into())
        );
    }
}
