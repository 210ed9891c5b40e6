//! The Kubernetes JSONPath subset web metrics use: a template such as
//! `{$.data.ok}`, `{.items[0].status}`, `{$['a-b'][*]}` or `{$}`; the
//! result is the first match, as in Rollouts' web provider.

use serde_json::Value;
use thiserror::Error;

/// A JSONPath template that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonPathError {
    /// Not parseable.
    #[error("invalid JSONPath {0:?}: {1}")]
    Invalid(String, String),
    /// Nothing matched.
    #[error("result of JSONPath {0:?} is empty")]
    Empty(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(i64),
    Wildcard,
}

/// The first value `template` selects in `data`.
pub fn first_match(template: &str, data: &Value) -> Result<Value, JsonPathError> {
    let segs = parse(template)?;
    let mut current: Vec<&Value> = vec![data];
    for seg in &segs {
        let mut next = Vec::new();
        for v in current {
            match (seg, v) {
                (Segment::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (Segment::Index(i), Value::Array(a)) => {
                    let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                    if idx >= 0 {
                        next.extend(a.get(idx as usize));
                    }
                }
                (Segment::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                (Segment::Wildcard, Value::Object(m)) => next.extend(m.values()),
                _ => {}
            }
        }
        current = next;
    }
    current
        .first()
        .map(|v| (*v).clone())
        .ok_or_else(|| JsonPathError::Empty(template.to_string()))
}

fn parse(template: &str) -> Result<Vec<Segment>, JsonPathError> {
    let bad = |why: &str| JsonPathError::Invalid(template.to_string(), why.to_string());
    let t = template.trim();
    let inner = match (t.strip_prefix('{'), t.ends_with('}')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        _ => t,
    };
    let inner = inner.trim();
    let mut rest = inner.strip_prefix('$').unwrap_or(inner);
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if let Some(r2) = r.strip_prefix('*') {
                segs.push(Segment::Wildcard);
                rest = r2;
                continue;
            }
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                if r.is_empty() {
                    break; // `{.}` is the whole document
                }
                return Err(bad("empty key"));
            }
            segs.push(Segment::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("unclosed ["))?;
            let body = r[..close].trim();
            rest = &r[close + 1..];
            if body == "*" {
                segs.push(Segment::Wildcard);
            } else if let Some(q) = body
                .strip_prefix('\'')
                .and_then(|b| b.strip_suffix('\''))
                .or_else(|| body.strip_prefix('"').and_then(|b| b.strip_suffix('"')))
            {
                segs.push(Segment::Key(q.to_string()));
            } else {
                let i: i64 = body.parse().map_err(|_| bad("unsupported subscript"))?;
                segs.push(Segment::Index(i));
            }
        } else {
            return Err(bad("expected . or ["));
        }
    }
    Ok(segs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let d = json!({"statusCode": 200, "data": {"ok": true, "items": [{"n": 1}, {"n": 2}]}, "a-b": "x"});
        assert_eq!(first_match("{$.statusCode}", &d), Ok(json!(200)));
        assert_eq!(first_match("{$.data.ok}", &d), Ok(json!(true)));
        assert_eq!(first_match("{.data.items[1].n}", &d), Ok(json!(2)));
        assert_eq!(first_match("{$.data.items[-1].n}", &d), Ok(json!(2)));
        assert_eq!(first_match("{$.data.items[*].n}", &d), Ok(json!(1)));
        assert_eq!(first_match("{$['a-b']}", &d), Ok(json!("x")));
        assert_eq!(first_match("{$}", &d), Ok(d.clone()));
        assert!(matches!(
            first_match("{$.nope}", &d),
            Err(JsonPathError::Empty(_))
        ));
        assert!(matches!(
            first_match("{$.a[x}", &d),
            Err(JsonPathError::Invalid(..))
        ));
    }
}
