//! Failures to reach the server, said in words: the address, the cause
//! (connection refused, untrusted certificate, timeout, unknown host) and
//! what to do about it, instead of kube-rs's `client error (Connect)`.

use std::error::Error as StdError;
use std::sync::OnceLock;
use std::time::Duration;

/// The server this invocation talks to.
struct Target {
    /// `host:port`.
    authority: String,
    /// The address as configured.
    url: String,
    /// The request timeout in force (`None`: no limit).
    timeout: Option<Duration>,
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// Records the server address and request timeout for later messages.
pub fn remember(url: &str, timeout: Option<Duration>) {
    let authority = match url.parse::<http::Uri>() {
        Ok(u) => {
            let host = u.host().unwrap_or(url);
            let port = u.port_u16().unwrap_or(match u.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
            format!("{host}:{port}")
        }
        Err(_) => url.to_string(),
    };
    let _ = TARGET.set(Target {
        authority,
        url: url.to_string(),
        timeout,
    });
}

/// Why the connection failed.
enum Cause {
    Refused,
    TimedOut,
    Dns(String),
    Tls(rustls::Error),
    Other(String),
}

/// Every error in the chain, including the ones `io::Error` wraps (its
/// `source()` skips the wrapped error itself).
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(cur) = next {
        out.push(cur);
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cur.source(),
        };
    }
    out
}

/// The cause, and whether it struck while connecting (rather than while
/// waiting for an answer on an established connection).
fn cause(e: &(dyn StdError + 'static)) -> Option<(Cause, bool)> {
    let links = chain(e);
    // hyper-util says "client error (Connect)" for anything before the
    // connection is up (TCP, TLS, the connect timeout).
    let connecting = links.iter().any(|l| {
        let s = l.to_string();
        s.contains("(Connect)") || s.contains("tcp connect error") || s.starts_with("dns error")
    });
    Some((cause_of(&links, connecting)?, connecting))
}

fn cause_of(links: &[&(dyn StdError + 'static)], connecting: bool) -> Option<Cause> {
    for l in links {
        if let Some(t) = l.downcast_ref::<rustls::Error>() {
            return Some(Cause::Tls(t.clone()));
        }
    }
    for l in links {
        if let Some(io) = l.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(Cause::Refused),
                std::io::ErrorKind::TimedOut => return Some(Cause::TimedOut),
                _ => {}
            }
        }
    }
    let innermost = links.last().map(|l| l.to_string()).unwrap_or_default();
    // hyper-util's resolver failure reads "dns error".
    if links.iter().any(|l| l.to_string().starts_with("dns error")) {
        return Some(Cause::Dns(innermost));
    }
    // Other failures are ours to explain only when they struck while
    // connecting or sending (hyper-util's "client error (SendRequest)").
    let sending = links
        .iter()
        .any(|l| l.to_string().contains("(SendRequest)"));
    (connecting || sending).then_some(Cause::Other(innermost))
}

fn tls_words(e: &rustls::Error) -> (String, bool) {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => (
            "its certificate is not trusted (signed by an unknown authority)".into(),
            true,
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => (
            "its certificate is not valid for this host name".into(),
            false,
        ),
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            ("its certificate has expired".into(), false)
        }
        rustls::Error::InvalidCertificate(c) => {
            (format!("its certificate is not accepted ({c:?})"), true)
        }
        other => (format!("the TLS handshake failed ({other})"), false),
    }
}

/// A sentence for a connection failure, or `None` when `e` is not one.
pub fn describe(e: &(dyn StdError + 'static)) -> Option<String> {
    let (cause, connecting) = cause(e)?;
    let (authority, url, timeout) = match TARGET.get() {
        Some(t) => (t.authority.as_str(), t.url.as_str(), t.timeout),
        None => ("the server", "", None),
    };
    let verb = if connecting {
        "cannot connect to"
    } else {
        "lost the connection to"
    };
    let at = if url.is_empty() || url.ends_with(authority) {
        format!("{verb} {authority}")
    } else {
        format!("{verb} {authority} ({url})")
    };
    Some(match cause {
        Cause::Refused => format!(
            "{at}: connection refused (nothing listens there; is `kargo server` running, and is the address right?)"
        ),
        Cause::TimedOut => match timeout {
            Some(t) => format!(
                "{at}: no answer within {} (the request timeout; change it with --request-timeout)",
                kargo_api::validate::format_duration(t)
            ),
            None => format!("{at}: the connection timed out"),
        },
        Cause::Dns(why) => {
            let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            format!("{at}: the host name {host:?} could not be resolved ({why})")
        }
        Cause::Tls(t) => {
            let (words, ca_hint) = tls_words(&t);
            if ca_hint {
                format!(
                    "{at}: {words}; trust the server's CA certificate with --certificate-authority FILE, or save it with `kargo login {url} --token TOKEN --ca-file FILE` (a kargo server writes it to <data-dir>/ca.crt)"
                )
            } else {
                format!("{at}: {words}")
            }
        }
        Cause::Other(why) if url.starts_with("http://") => {
            format!("{at}: {why} (a kargo server speaks https://, not http://)")
        }
        Cause::Other(why) => format!("{at}: {why}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_errors_are_not_connection_failures() {
        let e = std::io::Error::other("disk full");
        assert!(describe(&e).is_none());
    }

    #[test]
    fn refused_names_the_cause() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let msg = describe(&e).unwrap();
        assert!(msg.contains("connection refused"), "{msg}");
    }
}
