//! Printer columns and the small JSONPath subset they use
//! (`.a.b`, `[0]`, `[?(@.type=="Ready")]`, `*`, escaped dots `\.`),
//! evaluated over stored JSON to build `kubectl get` tables.

use serde_json::Value;

/// One printer column.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header.
    pub name: &'static str,
    /// OpenAPI type (`string`, `integer`, `date`).
    pub type_: &'static str,
    /// JSONPath into the object.
    pub json_path: &'static str,
    /// 0 = always shown, 1 = only with `-o wide`.
    pub priority: i32,
}

/// Const constructor for [`Column`].
pub const fn col(
    name: &'static str,
    type_: &'static str,
    json_path: &'static str,
    priority: i32,
) -> Column {
    Column {
        name,
        type_,
        json_path,
        priority,
    }
}

#[derive(Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    Wildcard,
    Filter { key: String, value: String },
}

fn parse(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => i += 1,
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map_or(chars.len(), |p| i + p);
                let inner: String = chars[i + 1..end].iter().collect();
                if let Some(f) = inner.strip_prefix("?(@.").and_then(|s| s.strip_suffix(')')) {
                    if let Some((k, v)) = f.split_once("==") {
                        segs.push(Seg::Filter {
                            key: k.trim().into(),
                            value: v.trim().trim_matches('"').trim_matches('\'').into(),
                        });
                    }
                } else if inner == "*" {
                    segs.push(Seg::Wildcard);
                } else if let Ok(n) = inner.parse() {
                    segs.push(Seg::Index(n));
                }
                i = end + 1;
            }
            '*' => {
                segs.push(Seg::Wildcard);
                i += 1;
            }
            _ => {
                let mut key = String::new();
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        key.push(chars[i + 1]);
                        i += 2;
                    } else {
                        key.push(chars[i]);
                        i += 1;
                    }
                }
                segs.push(Seg::Key(key));
            }
        }
    }
    segs
}

/// Evaluates `path` against `obj`, returning every match.
pub fn select<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = vec![obj];
    for seg in parse(path) {
        let mut next = Vec::new();
        for v in cur {
            match &seg {
                Seg::Key(k) => next.extend(v.get(k.as_str())),
                Seg::Index(n) => next.extend(v.get(*n)),
                Seg::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Seg::Filter { key, value } => {
                    if let Value::Array(a) = v {
                        next.extend(
                            a.iter()
                                .filter(|e| e.get(key.as_str()).map(render) == Some(value.clone())),
                        );
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// Renders a JSON value as kubectl prints a cell.
pub fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The cell text of `column` for `obj` (matches joined with `,`).
pub fn cell(obj: &Value, column: &Column) -> Value {
    let found = select(obj, column.json_path);
    if found.is_empty() {
        return Value::Null;
    }
    if found.len() == 1 {
        return found[0].clone();
    }
    Value::String(
        found
            .iter()
            .map(|v| render(v))
            .collect::<Vec<_>>()
            .join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_paths() {
        let o = json!({
            "metadata": {"labels": {"kargo.akuity.io/alias": "jolly-penguin"}},
            "status": {"conditions": [{"type": "Healthy", "status": "False"}, {"type": "Ready", "status": "True", "message": "ok"}],
                       "freightHistory": [{"items": {"Warehouse/a": {"name": "f1"}, "Warehouse/b": {"name": "f2"}}}]}
        });
        assert_eq!(
            render(select(&o, r#".metadata.labels.kargo\.akuity\.io/alias"#)[0]),
            "jolly-penguin"
        );
        assert_eq!(
            render(select(&o, r#".status.conditions[?(@.type=="Ready")].status"#)[0]),
            "True"
        );
        let c = col("x", "string", ".status.freightHistory[0].items.*.name", 0);
        assert_eq!(cell(&o, &c), json!("f1,f2"));
        assert!(select(&o, ".spec.missing").is_empty());
    }
}
