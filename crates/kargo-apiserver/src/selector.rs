//! Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field
//! selectors (`metadata.name=x`, any dotted path, `=`, `==`, `!=`).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// A token of the label selector language (apimachinery's `labels` lexer).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Open,
    Close,
    Comma,
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    In,
    NotIn,
    Gt,
    Lt,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Bang => "!".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '>' => out.push(Tok::Gt),
            '<' => out.push(Tok::Lt),
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                out.push(Tok::DoubleEq)
            }
            '=' => out.push(Tok::Eq),
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                out.push(Tok::NotEq)
            }
            '!' => out.push(Tok::Bang),
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "(),=!<>".contains(n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(match word.as_str() {
                    "in" => Tok::In,
                    "notin" => Tok::NotIn,
                    _ => Tok::Ident(word),
                });
            }
        }
    }
    out
}

fn found(t: Option<&Tok>, expected: &str) -> String {
    let what = t.map_or("end of string".to_string(), |t| {
        format!("'{}'", t.describe())
    });
    format!("unable to parse requirement: found {what}, expected: {expected}")
}

fn key(t: Option<Tok>) -> Result<String, String> {
    match t {
        Some(Tok::Ident(k)) => match kargo_api::k8s_names::qualified_name_error(&k) {
            None => Ok(k),
            Some(why) => Err(format!(
                "unable to parse requirement: key: Invalid value: {k:?}: {why}"
            )),
        },
        other => Err(found(other.as_ref(), "identifier")),
    }
}

fn value(v: String) -> Result<String, String> {
    match kargo_api::k8s_names::label_value_error(&v) {
        None => Ok(v),
        Some(why) => Err(format!(
            "unable to parse requirement: values[0]: Invalid value: {v:?}: {why}"
        )),
    }
}

impl LabelSelector {
    /// Parses a selector as kube-apiserver does (`a=b,c!=d,e in (x,y),f
    /// notin (z),g,!h,i>1,j<2`); an empty string selects everything. Keys
    /// and values must be valid label syntax; anything else is an error.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut toks = lex(s).into_iter().peekable();
        let mut reqs = Vec::new();
        while toks.peek().is_some() {
            let req = if toks.peek() == Some(&Tok::Bang) {
                toks.next();
                Req::NotExists(key(toks.next())?)
            } else {
                let k = key(toks.next())?;
                match toks.peek().cloned() {
                    None | Some(Tok::Comma) => Req::Exists(k),
                    Some(op @ (Tok::Eq | Tok::DoubleEq | Tok::NotEq)) => {
                        toks.next();
                        let v = match toks.peek() {
                            Some(Tok::Ident(_)) => match toks.next() {
                                Some(Tok::Ident(v)) => v,
                                _ => unreachable!("peeked an identifier"),
                            },
                            // `a=` selects an empty value.
                            None | Some(Tok::Comma) => String::new(),
                            other => return Err(found(other, "identifier")),
                        };
                        let v = value(v)?;
                        if op == Tok::NotEq {
                            Req::Ne(k, v)
                        } else {
                            Req::Eq(k, v)
                        }
                    }
                    Some(op @ (Tok::In | Tok::NotIn)) => {
                        toks.next();
                        if toks.next() != Some(Tok::Open) {
                            return Err(format!(
                                "unable to parse requirement: found '{}', expected: '('",
                                op.describe()
                            ));
                        }
                        let mut vs = Vec::new();
                        loop {
                            match toks.next() {
                                Some(Tok::Ident(v)) => vs.push(value(v)?),
                                Some(Tok::Comma) => {}
                                Some(Tok::Close) => break,
                                other => {
                                    return Err(found(other.as_ref(), "',', ')' or identifier"));
                                }
                            }
                        }
                        if op == Tok::In {
                            Req::In(k, vs)
                        } else {
                            Req::NotIn(k, vs)
                        }
                    }
                    Some(op @ (Tok::Gt | Tok::Lt)) => {
                        toks.next();
                        let n = match toks.next() {
                            Some(Tok::Ident(v)) => v.parse::<i64>().map_err(|_| {
                                format!("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer, not {v:?}")
                            })?,
                            other => return Err(found(other.as_ref(), "identifier")),
                        };
                        if op == Tok::Gt {
                            Req::Gt(k, n)
                        } else {
                            Req::Lt(k, n)
                        }
                    }
                    other => {
                        return Err(found(
                            other.as_ref(),
                            "'=', '!=', '==', 'in', 'notin', '>', '<' or ','",
                        ));
                    }
                }
            };
            reqs.push(req);
            match toks.next() {
                None | Some(Tok::Comma) => {}
                other => return Err(found(other.as_ref(), "','")),
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// True if nothing is required.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first `key=value` requirement, usable as an index lookup.
    pub fn first_equality(&self) -> Option<(&str, &str)> {
        self.0.iter().find_map(|r| match r {
            Req::Eq(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::Ne(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
            Req::Gt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Req::Lt(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Whether kube-apiserver lets a field selector on `kind` use `path`:
/// `metadata.name` and `metadata.namespace` everywhere, plus the field
/// labels the core kinds register (Events, Pods, Secrets, Namespaces).
fn supported_field(kind: &str, path: &str) -> bool {
    if matches!(path, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match kind {
        "Event" => {
            path.strip_prefix("involvedObject.").is_some_and(|f| {
                matches!(
                    f,
                    "kind"
                        | "namespace"
                        | "name"
                        | "uid"
                        | "apiVersion"
                        | "resourceVersion"
                        | "fieldPath"
                )
            }) || matches!(path, "reason" | "reportingComponent" | "source" | "type")
        }
        "Pod" => matches!(
            path,
            "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "spec.hostNetwork"
                | "status.phase"
                | "status.podIP"
                | "status.podIPs"
                | "status.nominatedNodeName"
        ),
        "Secret" => path == "type",
        "Namespace" => path == "status.phase",
        _ => false,
    }
}

impl FieldSelector {
    /// Parses `path=value,path!=value` for a list or watch of `kind`; a
    /// field kube-apiserver does not support for that kind is an error
    /// (`field label not supported: …`), never an empty answer.
    pub fn parse_for(kind: &str, s: &str) -> Result<Self, String> {
        let parsed = Self::parse(s)?;
        if let Some((path, _, _)) = parsed.0.iter().find(|(p, _, _)| !supported_field(kind, p)) {
            return Err(format!("field label not supported: {path}"));
        }
        Ok(parsed)
    }

    /// Parses `path=value,path!=value` (any dotted path).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = p.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = p.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = p.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid field selector {p:?}: expected path=value or path!=value"
                ));
            };
            reqs.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the object's fields match.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let mut cur = Some(obj);
            for seg in path.split('.') {
                cur = cur.and_then(|c| c.get(seg));
            }
            let got = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            (got == *want) == *eq
        })
    }

    /// The value required for `path`, if the selector pins it.
    pub fn pinned(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, eq, _)| p == path && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=fe", true),
            ("app!=web", false),
            ("tier in (fe, be)", true),
            ("tier notin (fe)", false),
            ("app", true),
            ("!app", false),
            ("missing", false),
            ("!missing", true),
            ("app=web,", true),
            ("tier in (fe,be),!x", true),
            ("n>1", false),
            ("a=", false),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        let n = json!({"metadata": {"labels": {"n": "5"}}});
        assert!(LabelSelector::parse("n>1").unwrap().matches(&n));
        assert!(!LabelSelector::parse("n<5").unwrap().matches(&n));
        // Malformed selectors are errors, never "match everything".
        for bad in [
            "a b c",
            "((( !!==",
            "a=b=c",
            "a in b",
            "a in (b",
            "=b",
            "a>x",
            "bad key=1",
            "a=-bad-",
            &format!("a={}", "v".repeat(64)),
        ] {
            let err = LabelSelector::parse(bad).unwrap_err();
            assert!(
                err.starts_with("unable to parse requirement"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn fields() {
        let o = json!({"metadata": {"name": "x", "namespace": "p"}, "involvedObject": {"kind": "Stage"}});
        assert!(
            FieldSelector::parse("metadata.name=x,involvedObject.kind=Stage")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=x")
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("bogus").is_err());
        assert!(FieldSelector::parse_for("Stage", "metadata.name=x").is_ok());
        assert_eq!(
            FieldSelector::parse_for("Stage", "spec.foo=bar").unwrap_err(),
            "field label not supported: spec.foo"
        );
        assert!(
            FieldSelector::parse_for(
                "Event",
                "involvedObject.name=x,involvedObject.kind=Stage,type=Warning"
            )
            .is_ok()
        );
        assert!(FieldSelector::parse_for("Secret", "type=Opaque").is_ok());
    }
}
