//! `-o jsonpath=TEMPLATE` and `-o go-template=TEMPLATE` as kubectl prints
//! them: text with `{…}` (or `{{…}}`) actions, `range … end` loops and
//! quoted literals. The path queries themselves run on `jsonpath-rust`;
//! this file only turns Kubernetes' template forms into its RFC 9535
//! paths (`.metadata.labels.kargo\.akuity\.io/alias` becomes
//! `$.metadata.labels['kargo.akuity.io/alias']`, Go's
//! `index .metadata.labels "k"` becomes `$.metadata.labels['k']`).

use anyhow::{Result, anyhow, bail};
use jsonpath_rust::JsonPath;
use serde_json::Value;

/// Which template language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// kubectl's `-o jsonpath`: `{.items[*].metadata.name}`.
    JsonPath,
    /// kubectl's `-o go-template` (its common subset): `{{.metadata.name}}`,
    /// `{{range .items}}…{{end}}`, `{{index .metadata.labels "k"}}`.
    GoTemplate,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Expr(String),
    Range(String, Vec<Node>),
}

/// Renders `template` over `data`.
pub fn render(syntax: Syntax, template: &str, data: &Value) -> Result<String> {
    let nodes = parse(syntax, template)?;
    let mut out = String::new();
    eval(syntax, &nodes, data, &mut out)?;
    Ok(out)
}

fn parse(syntax: Syntax, template: &str) -> Result<Vec<Node>> {
    let (open, close) = match syntax {
        Syntax::JsonPath => ("{", "}"),
        Syntax::GoTemplate => ("{{", "}}"),
    };
    // Stack of (range expression, nodes); the bottom frame is the template.
    let mut stack: Vec<(Option<String>, Vec<Node>)> = vec![(None, Vec::new())];
    let mut rest = template;
    while !rest.is_empty() {
        let Some(start) = rest.find(open) else {
            push_text(&mut stack, rest);
            break;
        };
        push_text(&mut stack, &rest[..start]);
        let after = &rest[start + open.len()..];
        let end = find_close(after, close)
            .ok_or_else(|| anyhow!("unclosed {open} in template {template:?}"))?;
        let action = after[..end].trim();
        let action = match syntax {
            Syntax::GoTemplate => action.trim_start_matches('-').trim_end_matches('-').trim(),
            Syntax::JsonPath => action,
        };
        rest = &after[end + close.len()..];
        if let Some(expr) = action.strip_prefix("range ") {
            stack.push((Some(expr.trim().to_string()), Vec::new()));
        } else if action == "end" {
            let (Some(expr), body) = stack
                .pop()
                .ok_or_else(|| anyhow!("unbalanced end in template {template:?}"))?
            else {
                bail!("{open}end{close} without {open}range{close} in template {template:?}");
            };
            last(&mut stack).push(Node::Range(expr, body));
        } else if let Some(lit) = literal(action) {
            push_text(&mut stack, &lit);
        } else {
            last(&mut stack).push(Node::Expr(action.to_string()));
        }
    }
    if stack.len() != 1 {
        bail!("{open}range{close} without {open}end{close} in template {template:?}");
    }
    Ok(stack.pop().map(|(_, n)| n).unwrap_or_default())
}

fn last(stack: &mut [(Option<String>, Vec<Node>)]) -> &mut Vec<Node> {
    &mut stack
        .last_mut()
        .expect("the template frame is never popped")
        .1
}

fn push_text(stack: &mut [(Option<String>, Vec<Node>)], text: &str) {
    if !text.is_empty() {
        last(stack).push(Node::Text(text.to_string()));
    }
}

/// Where `close` ends an action, skipping quoted strings.
fn find_close(s: &str, close: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if s[i..].starts_with(close) => return Some(i),
            None => {}
        }
    }
    None
}

/// `"text\n"` as an action prints the text.
fn literal(action: &str) -> Option<String> {
    let inner = action.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    Some(out)
}

fn eval(syntax: Syntax, nodes: &[Node], data: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Expr(e) => {
                let found = query(syntax, e, data)?;
                match syntax {
                    Syntax::JsonPath => {
                        let parts: Vec<String> = found.iter().map(|v| cell(v)).collect();
                        out.push_str(&parts.join(" "));
                    }
                    Syntax::GoTemplate => match found.first() {
                        Some(v) => out.push_str(&cell(v)),
                        None => out.push_str("<no value>"),
                    },
                }
            }
            Node::Range(e, body) => {
                let found = query(syntax, e, data)?;
                let items: Vec<&Value> = match syntax {
                    Syntax::JsonPath => found,
                    // Go ranges over the one value's elements.
                    Syntax::GoTemplate => match found.first() {
                        Some(Value::Array(a)) => a.iter().collect(),
                        Some(Value::Object(m)) => m.values().collect(),
                        _ => Vec::new(),
                    },
                };
                for item in items {
                    eval(syntax, body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn query<'a>(syntax: Syntax, expr: &str, data: &'a Value) -> Result<Vec<&'a Value>> {
    let path = match syntax {
        Syntax::JsonPath => kube_path(expr)?,
        Syntax::GoTemplate => go_path(expr)?,
    };
    data.query(&path)
        .map_err(|e| anyhow!("invalid path {expr:?}: {e}"))
}

/// A key as an RFC 9535 segment.
fn segment(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!(".{key}")
    } else {
        format!("['{}']", key.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Kubernetes' JSONPath (`.a.b`, `$.a`, `a\.b`, `[0]`, `[*]`, `..x`) as an RFC 9535 path.
fn kube_path(expr: &str) -> Result<String> {
    let e = expr.trim();
    let e = e
        .strip_prefix('$')
        .or_else(|| e.strip_prefix('@'))
        .unwrap_or(e);
    let mut out = String::from("$");
    let chars: Vec<char> = e.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    out.push_str("..");
                    i += 1;
                    // `..name`: the name follows without a dot.
                    let (key, next) = read_key(&chars, i);
                    if key == "*" {
                        out.push('*');
                    } else if !key.is_empty() {
                        out.push_str(segment(&key).trim_start_matches('.'));
                    }
                    i = next;
                    continue;
                }
                let (key, next) = read_key(&chars, i);
                i = next;
                match key.as_str() {
                    "" => {}
                    "*" => out.push_str(".*"),
                    k => out.push_str(&segment(k)),
                }
            }
            '[' => {
                let start = i;
                let mut quote = None;
                let mut depth = 0;
                while i < chars.len() {
                    let c = chars[i];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '\'' || c == '"' => quote = Some(c),
                        None if c == '[' => depth += 1,
                        None if c == ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        None => {}
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    bail!("unclosed [ in {expr:?}");
                }
                out.extend(&chars[start..=i]);
                i += 1;
            }
            _ => {
                // A bare first key (`metadata.name`).
                let (key, next) = read_key(&chars, i);
                if key.is_empty() {
                    bail!("unexpected {:?} in {expr:?}", chars[i]);
                }
                out.push_str(&segment(&key));
                i = next;
            }
        }
    }
    Ok(out)
}

/// A dotted key up to the next unescaped `.` or `[`; `\.` is a dot in the key.
fn read_key(chars: &[char], mut i: usize) -> (String, usize) {
    let mut key = String::new();
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                key.push(chars[i + 1]);
                i += 2;
            }
            '.' | '[' => break,
            c => {
                key.push(c);
                i += 1;
            }
        }
    }
    (key, i)
}

/// Go's `.a.b`, `.`, `$` and `index X "k" 0` as an RFC 9535 path.
fn go_path(expr: &str) -> Result<String> {
    let e = expr.trim();
    if let Some(args) = e.strip_prefix("index ") {
        let words = go_words(args)?;
        let (base, keys) = words
            .split_first()
            .ok_or_else(|| anyhow!("index needs a value in {expr:?}"))?;
        let mut out = go_path(base)?;
        for k in keys {
            match literal(k) {
                Some(s) => out.push_str(&segment(&s)),
                None if k.parse::<i64>().is_ok() => out.push_str(&format!("[{k}]")),
                None => bail!("index takes quoted keys or numbers, not {k:?}, in {expr:?}"),
            }
        }
        return Ok(out);
    }
    let e = e.strip_prefix('$').unwrap_or(e);
    if !e.is_empty() && !e.starts_with('.') {
        bail!("unsupported go-template action {expr:?} (fields, index, range and quoted text are)");
    }
    let mut out = String::from("$");
    for key in e.split('.').filter(|k| !k.is_empty()) {
        out.push_str(&segment(key));
    }
    Ok(out)
}

/// The byte just past the quote that closes the string `s` starts with.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Words of a Go action, keeping quoted strings whole.
fn go_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let end = closing_quote(rest).ok_or_else(|| anyhow!("unclosed quote in {s:?}"))?;
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "dev", "labels": {"kargo.akuity.io/alias": "wonky-wombat"}}, "spec": {"n": 1}},
            {"metadata": {"name": "prod", "labels": {}}, "spec": {"n": 2}}
        ]})
    }

    #[test]
    fn jsonpath_as_kubectl_prints_it() {
        let l = list();
        let r = |t| render(Syntax::JsonPath, t, &l).unwrap();
        assert_eq!(r("{.items[*].metadata.name}"), "dev prod");
        assert_eq!(r("{$.items[0].spec.n}"), "1");
        assert_eq!(
            r(r#"{.items[0].metadata.labels.kargo\.akuity\.io/alias}"#),
            "wonky-wombat"
        );
        assert_eq!(
            r(r#"{range .items[*]}{.metadata.name}{"\t"}{.spec}{"\n"}{end}"#),
            "dev\t{\"n\":1}\nprod\t{\"n\":2}\n"
        );
        assert_eq!(r("names: {.items[*].metadata.name}!"), "names: dev prod!");
        assert_eq!(r("{.items[?(@.spec.n==2)].metadata.name}"), "prod");
        assert_eq!(r("{..n}"), "1 2");
        assert_eq!(r("{.nothing}"), "");
    }

    #[test]
    fn go_template_subset() {
        let l = list();
        let r = |t| render(Syntax::GoTemplate, t, &l).unwrap();
        assert_eq!(
            r(r#"{{range .items}}{{.metadata.name}}{{"\n"}}{{end}}"#),
            "dev\nprod\n"
        );
        let first: Value = serde_json::from_str(&r("{{ index .items 0 }}")).unwrap();
        assert_eq!(first, l["items"][0]);
        assert_eq!(
            r(r#"{{range .items}}{{index .metadata.labels "kargo.akuity.io/alias"}};{{end}}"#),
            "wonky-wombat;<no value>;"
        );
        assert_eq!(r("{{.kind}}"), "List");
    }

    #[test]
    fn bad_templates_say_why() {
        let l = list();
        for (s, t) in [
            (Syntax::JsonPath, "{.items"),
            (Syntax::JsonPath, "{range .items[*]}x"),
            (Syntax::JsonPath, "x{end}"),
            (Syntax::GoTemplate, "{{printf .kind}}"),
        ] {
            assert!(render(s, t, &l).is_err(), "{t}");
        }
    }
}
