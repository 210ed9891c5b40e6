//! Printer columns and the small JSONPath subset they use
//! (`.a.b`, `[0]`, `[?(@.type=="Ready")]`, `*`, escaped dots `\.`),
//! evaluated over stored JSON text to build `kubectl get` tables. Paths
//! are parsed once per column and walk the text itself (borrowed
//! [`RawValue`]s): only the objects on a path are split into members,
//! nothing is copied, and a single match is the stored text of the value.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

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

/// A column's JSONPath, parsed once.
#[derive(Debug)]
pub struct Path(Vec<Seg>);

/// An object's members in order, keys borrowed unless escaped.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k.0, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The members of `raw` if it is an object.
fn members(raw: &RawValue) -> Vec<(Cow<'_, str>, &RawValue)> {
    if !raw.get().starts_with('{') {
        return Vec::new();
    }
    serde_json::from_str::<Members<'_>>(raw.get()).map_or_else(|_| Vec::new(), |m| m.0)
}

/// The elements of `raw` if it is an array.
fn elements(raw: &RawValue) -> Vec<&RawValue> {
    if !raw.get().starts_with('[') {
        return Vec::new();
    }
    serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default()
}

/// The value of member `key` (the last, as a parse into `Value` keeps).
fn member<'a>(raw: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    members(raw)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `raw` parsed (for the few values that are compared or joined).
fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// A stored object split into its top-level members once, so every
/// column starts from them instead of re-reading the text.
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
    raw: &'a RawValue,
}

impl<'a> Object<'a> {
    /// Reads `text`, which must be a JSON object.
    pub fn parse(text: &'a str) -> serde_json::Result<Self> {
        let raw: &RawValue = serde_json::from_str(text)?;
        let members = serde_json::from_str::<Members<'a>>(text)?.0;
        Ok(Object { members, raw })
    }

    /// The whole object's text.
    pub fn text(&self) -> &'a str {
        self.raw.get()
    }

    /// A top-level member (the last of duplicates).
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }
}

impl Path {
    /// Parses a printer column's JSONPath.
    pub fn new(path: &str) -> Self {
        Path(parse(path))
    }

    /// Every match in `obj`, as stored text.
    pub fn select<'a>(&self, obj: &Object<'a>) -> Vec<&'a RawValue> {
        let (mut cur, rest) = match self.0.split_first() {
            Some((Seg::Key(k), rest)) => (obj.get(k).into_iter().collect(), rest),
            _ => (vec![obj.raw], &self.0[..]),
        };
        for seg in rest {
            let mut next = Vec::new();
            for v in cur {
                match seg {
                    Seg::Key(k) => next.extend(member(v, k)),
                    Seg::Index(n) => next.extend(elements(v).get(*n)),
                    Seg::Wildcard => {
                        if v.get().starts_with('[') {
                            next.extend(elements(v));
                        } else {
                            next.extend(members(v).into_iter().map(|(_, x)| x));
                        }
                    }
                    Seg::Filter { key, value: want } => next.extend(
                        elements(v)
                            .into_iter()
                            .filter(|e| member(e, key).is_some_and(|x| render(&value(x)) == *want)),
                    ),
                }
            }
            cur = next;
        }
        cur
    }

    /// The cell for `obj` as JSON text: `null` without a match, the
    /// stored value for one, the matches' texts joined with `,` for more.
    pub fn cell<'a>(&self, obj: &Object<'a>) -> Cow<'a, str> {
        let found = self.select(obj);
        match found.as_slice() {
            [] => Cow::Borrowed("null"),
            [one] => Cow::Borrowed(one.get()),
            many => Cow::Owned(
                Value::String(
                    many.iter()
                        .map(|v| render(&value(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .to_string(),
            ),
        }
    }
}

/// Renders a JSON value as kubectl prints a cell.
pub fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
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
        let text = o.to_string();
        let raw = Object::parse(&text).unwrap();
        assert_eq!(
            Path::new(r#".metadata.labels.kargo\.akuity\.io/alias"#).cell(&raw),
            r#""jolly-penguin""#
        );
        assert_eq!(
            Path::new(r#".status.conditions[?(@.type=="Ready")].status"#).cell(&raw),
            r#""True""#
        );
        let c = Path::new(".status.freightHistory[0].items.*.name");
        assert_eq!(c.cell(&raw), r#""f1,f2""#);
        assert_eq!(
            Path::new(".status.conditions[1]").cell(&raw),
            r#"{"type":"Ready","status":"True","message":"ok"}"#
        );
        assert_eq!(Path::new(".spec.missing").cell(&raw), "null");
        assert!(Path::new(".spec.missing").select(&raw).is_empty());
        // Escaped keys are found; the last of duplicate keys wins.
        let raw = Object::parse(r#"{"a\u0062":1,"x":1,"x":2}"#).unwrap();
        assert_eq!(Path::new(".ab").cell(&raw), "1");
        assert_eq!(Path::new(".x").cell(&raw), "2");
    }
}
