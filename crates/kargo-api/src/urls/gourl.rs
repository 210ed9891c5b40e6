//! The subset of Go's `net/url` that Kargo's URL normalisation leans on:
//! `url.Parse`, `URL.String`, `URL.Query` and the escaping rules behind
//! them. Kargo's results (and so Freight IDs) depend on Go's exact
//! behaviour, which differs from WHATWG URL parsing (the `url` crate): Go
//! keeps default ports, never resolves `.`/`..`, and percent-encodes
//! non-ASCII bytes when printing. Decoded parts may be any bytes, so they
//! are kept as `Vec<u8>`.

/// Which part of a URL a byte is escaped or unescaped for (Go's `encoding`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => return true,
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `unescape`: `None` where Go returns an error.
fn unescape(s: &[u8], mode: Mode) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return None;
                }
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && &s[i..i + 3] != b"%25" {
                    return None;
                }
                if mode == Mode::Zone {
                    let v = (unhex(s[i + 1]) << 4) | unhex(s[i + 2]);
                    if &s[i..i + 3] != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return None;
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return None;
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                out.push((unhex(s[i + 1]) << 4) | unhex(s[i + 2]));
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push(b'+');
        } else if should_escape(c, mode) {
            out.extend_from_slice(&[
                b'%',
                UPPER_HEX[(c >> 4) as usize],
                UPPER_HEX[(c & 15) as usize],
            ]);
        } else {
            out.push(c);
        }
    }
    out
}

fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|r| {
        r.is_ascii_alphanumeric()
            || matches!(
                r,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// User name and optional password of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    username: Vec<u8>,
    password: Option<Vec<u8>>,
}

/// A parsed URL with Go's field semantics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoUrl {
    pub scheme: String,
    pub opaque: String,
    pub user: Option<UserInfo>,
    pub host: Vec<u8>,
    pub path: Vec<u8>,
    pub raw_path: Vec<u8>,
    pub force_query: bool,
    pub raw_query: String,
    pub fragment: Vec<u8>,
    pub raw_fragment: Vec<u8>,
}

fn parse_host(host: &str) -> Option<Vec<u8>> {
    let b = host.as_bytes();
    if host.starts_with('[') {
        let i = host.rfind(']')?;
        if !valid_optional_port(&b[i + 1..]) {
            return None;
        }
        if let Some(zone) = host[..i].find("%25") {
            let mut out = unescape(&b[..zone], Mode::Host)?;
            out.extend(unescape(&b[zone..i], Mode::Zone)?);
            out.extend(unescape(&b[i..], Mode::Host)?);
            return Some(out);
        }
    } else if let Some(i) = host.rfind(':')
        && !valid_optional_port(&b[i..])
    {
        return None;
    }
    unescape(b, Mode::Host)
}

fn parse_authority(authority: &str) -> Option<(Option<UserInfo>, Vec<u8>)> {
    let Some(i) = authority.rfind('@') else {
        return Some((None, parse_host(authority)?));
    };
    let host = parse_host(&authority[i + 1..])?;
    let userinfo = &authority[..i];
    if !valid_userinfo(userinfo) {
        return None;
    }
    let user = match userinfo.split_once(':') {
        None => UserInfo {
            username: unescape(userinfo.as_bytes(), Mode::UserPassword)?,
            password: None,
        },
        Some((u, p)) => UserInfo {
            username: unescape(u.as_bytes(), Mode::UserPassword)?,
            password: Some(unescape(p.as_bytes(), Mode::UserPassword)?),
        },
    };
    Some((Some(user), host))
}

/// Go's `getScheme`: `Err` for a leading `:`.
fn get_scheme(raw: &str) -> Result<(&str, &str), ()> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err(());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

impl GoUrl {
    /// Go's `url.Parse`; `None` where Go returns an error.
    pub fn parse(raw: &str) -> Option<GoUrl> {
        let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
        let mut url = Self::parse_no_fragment(u)?;
        if !frag.is_empty() {
            url.set_fragment(frag)?;
        }
        Some(url)
    }

    fn parse_no_fragment(raw: &str) -> Option<GoUrl> {
        if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
            return None;
        }
        let mut url = GoUrl::default();
        if raw == "*" {
            url.path = b"*".to_vec();
            return Some(url);
        }
        let (scheme, rest) = get_scheme(raw).ok()?;
        url.scheme = scheme.to_ascii_lowercase();
        let mut rest = rest;
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some((r, q)) = rest.split_once('?') {
            rest = r;
            url.raw_query = q.to_string();
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                url.opaque = rest.to_string();
                return Some(url);
            }
            let segment = rest.split('/').next().unwrap_or("");
            if segment.contains(':') {
                return None;
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let after = &rest[2..];
            let (authority, path) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            let (user, host) = parse_authority(authority)?;
            url.user = user;
            url.host = host;
            rest = path;
        }
        url.set_path(rest)?;
        Some(url)
    }

    fn set_path(&mut self, p: &str) -> Option<()> {
        let path = unescape(p.as_bytes(), Mode::Path)?;
        self.raw_path = if escape(&path, Mode::Path) == p.as_bytes() {
            Vec::new()
        } else {
            p.as_bytes().to_vec()
        };
        self.path = path;
        Some(())
    }

    fn set_fragment(&mut self, f: &str) -> Option<()> {
        let frag = unescape(f.as_bytes(), Mode::Fragment)?;
        self.raw_fragment = if escape(&frag, Mode::Fragment) == f.as_bytes() {
            Vec::new()
        } else {
            f.as_bytes().to_vec()
        };
        self.fragment = frag;
        Some(())
    }

    /// Removes the user information (Go: `u.User = nil`).
    pub fn clear_user(&mut self) {
        self.user = None;
    }

    /// Removes one trailing `suffix` from the decoded path, if present
    /// (Go: `u.Path = strings.TrimSuffix(u.Path, suffix)`).
    pub fn trim_path_suffix(&mut self, suffix: &str) {
        if self.path.ends_with(suffix.as_bytes()) {
            self.path.truncate(self.path.len() - suffix.len());
        }
    }

    /// Whether the path is empty.
    pub fn path_is_empty(&self) -> bool {
        self.path.is_empty()
    }

    fn escaped_path(&self) -> Vec<u8> {
        if !self.raw_path.is_empty()
            && valid_encoded(&self.raw_path, Mode::Path)
            && unescape(&self.raw_path, Mode::Path).as_deref() == Some(self.path.as_slice())
        {
            return self.raw_path.clone();
        }
        if self.path == b"*" {
            return b"*".to_vec();
        }
        escape(&self.path, Mode::Path)
    }

    fn escaped_fragment(&self) -> Vec<u8> {
        if !self.raw_fragment.is_empty()
            && valid_encoded(&self.raw_fragment, Mode::Fragment)
            && unescape(&self.raw_fragment, Mode::Fragment).as_deref()
                == Some(self.fragment.as_slice())
        {
            return self.raw_fragment.clone();
        }
        escape(&self.fragment, Mode::Fragment)
    }

    /// Whether `URL.Query()` finds at least one parameter (Go silently
    /// drops malformed pairs, so `?a;b` or `?&` have none).
    pub fn has_query_params(&self) -> bool {
        self.raw_query.split('&').any(|key| {
            if key.contains(';') || key.is_empty() {
                return false;
            }
            let (k, v) = key.split_once('=').unwrap_or((key, ""));
            unescape(k.as_bytes(), Mode::QueryComponent).is_some()
                && unescape(v.as_bytes(), Mode::QueryComponent).is_some()
        })
    }

    /// Go's `URL.String()`.
    pub fn to_go_string(&self) -> String {
        let mut buf: Vec<u8> = Vec::new();
        if !self.scheme.is_empty() {
            buf.extend_from_slice(self.scheme.as_bytes());
            buf.push(b':');
        }
        if !self.opaque.is_empty() {
            buf.extend_from_slice(self.opaque.as_bytes());
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    buf.extend_from_slice(b"//");
                }
                if let Some(u) = &self.user {
                    buf.extend(escape(&u.username, Mode::UserPassword));
                    if let Some(p) = &u.password {
                        buf.push(b':');
                        buf.extend(escape(p, Mode::UserPassword));
                    }
                    buf.push(b'@');
                }
                if !self.host.is_empty() {
                    buf.extend(escape(&self.host, Mode::Host));
                }
            }
            let path = self.escaped_path();
            if path.first().is_some_and(|&c| c != b'/') && !self.host.is_empty() {
                buf.push(b'/');
            }
            if buf.is_empty() {
                let segment = path.split(|&c| c == b'/').next().unwrap_or_default();
                if segment.contains(&b':') {
                    buf.extend_from_slice(b"./");
                }
            }
            buf.extend(path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            buf.push(b'?');
            buf.extend_from_slice(self.raw_query.as_bytes());
        }
        if !self.fragment.is_empty() {
            buf.push(b'#');
            buf.extend(self.escaped_fragment());
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> Option<String> {
        GoUrl::parse(s).map(|u| u.to_go_string())
    }

    #[test]
    fn parses_and_prints_like_go() {
        assert_eq!(
            round("https://h:443/a/b").as_deref(),
            Some("https://h:443/a/b")
        );
        assert_eq!(round("https://u:p@h/x").as_deref(), Some("https://u:p@h/x"));
        assert_eq!(round("https://h/ü").as_deref(), Some("https://h/%C3%BC"));
        assert_eq!(round("https://h/a%2fb").as_deref(), Some("https://h/a%2fb"));
        assert_eq!(round("https://h/x?").as_deref(), Some("https://h/x?"));
        assert_eq!(
            round("https://h/x#f g").as_deref(),
            Some("https://h/x#f%20g")
        );
        assert_eq!(round("a/b").as_deref(), Some("a/b"));
        assert!(round("https://not a url").is_none(), "space in host");
        assert!(round("a:b/c").is_some(), "scheme a, opaque b/c");
        assert!(round("a_b:c").is_none(), "colon in first relative segment");
        assert!(round("https://h:x/").is_none(), "bad port");
        assert!(round("https://h/\x01").is_none(), "control byte");
        assert!(round(":x").is_none(), "missing scheme");
    }

    #[test]
    fn query_params_as_go_counts_them() {
        let q = |s: &str| GoUrl::parse(s).is_some_and(|u| u.has_query_params());
        assert!(q("https://h/r?foo=bar"));
        assert!(q("https://h/r?="));
        assert!(!q("https://h/r?"));
        assert!(!q("https://h/r?&"));
        assert!(!q("https://h/r?a;b"));
        assert!(!q("https://h/r?%zz"));
    }
}
