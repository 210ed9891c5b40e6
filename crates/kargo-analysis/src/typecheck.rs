//! The static type check Rollouts' conditions go through before they run:
//! Rollouts compiles every condition with expr's Go checker against the
//! concrete Go type of `result`, so `asFloat(result) == "1.1"` or a JSON
//! number compared with `"200"` is a compile error (`invalid operation: ==
//! (mismatched types float64 and string)`) and the measurement ends in
//! Error. The `expr-lang` crate has no static checker, so this module
//! re-parses the condition with expr's precedence table and applies the
//! checker's rules for the operators, literals, `result`, the Rollouts
//! functions and the common builtins. Anything it does not understand is
//! treated as Go's `interface {}` (unknown), which the checker lets through,
//! so it only ever reports errors Go reports too.

use serde_json::Value as Json;

/// The Go type of a value as expr's checker sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum GoType {
    /// `interface {}`: unknown until run time.
    Unknown,
    /// The untyped `nil`.
    Nil,
    /// `bool`.
    Bool,
    /// An integer type, by its Go name (`int`, `int64`).
    Int(&'static str),
    /// `float64`.
    Float,
    /// `string`.
    String,
    /// A slice of the element type (`[]float64`, `[]interface {}`).
    Array(Box<GoType>),
    /// `map[string]interface {}`.
    Map,
}

impl GoType {
    /// The type Go's `encoding/json` gives a decoded value (numbers are
    /// `float64`, arrays `[]interface {}`, objects `map[string]interface {}`).
    pub fn of_json(j: &Json) -> GoType {
        match j {
            Json::Null => GoType::Nil,
            Json::Bool(_) => GoType::Bool,
            Json::Number(_) => GoType::Float,
            Json::String(_) => GoType::String,
            Json::Array(_) => GoType::Array(Box::new(GoType::Unknown)),
            Json::Object(_) => GoType::Map,
        }
    }

    /// The Go spelling used in checker messages.
    pub fn name(&self) -> String {
        match self {
            GoType::Unknown => "interface {}".into(),
            GoType::Nil => "nil".into(),
            GoType::Bool => "bool".into(),
            GoType::Int(n) => (*n).into(),
            GoType::Float => "float64".into(),
            GoType::String => "string".into(),
            GoType::Array(e) => format!("[]{}", e.name()),
            GoType::Map => "map[string]interface {}".into(),
        }
    }

    fn unknown(&self) -> bool {
        matches!(self, GoType::Unknown)
    }
    fn number(&self) -> bool {
        matches!(self, GoType::Int(_) | GoType::Float)
    }
    fn integer(&self) -> bool {
        matches!(self, GoType::Int(_))
    }
    fn is(&self, kinds: &[fn(&GoType) -> bool]) -> bool {
        kinds.iter().any(|k| k(self))
    }
}

fn is_bool(t: &GoType) -> bool {
    *t == GoType::Bool
}
fn is_number(t: &GoType) -> bool {
    t.number()
}
fn is_integer(t: &GoType) -> bool {
    t.integer()
}
fn is_string(t: &GoType) -> bool {
    *t == GoType::String
}

/// The checker's `ComparableTo`.
fn comparable(l: &GoType, r: &GoType) -> bool {
    l.unknown()
        || r.unknown()
        || *l == GoType::Nil
        || *r == GoType::Nil
        || (l.number() && r.number())
        || (matches!(l, GoType::Array(_)) && matches!(r, GoType::Array(_)))
        || l == r
}

/// The checker's `MaybeCompatible`: one side unknown, the other of `kinds`.
fn maybe(l: &GoType, r: &GoType, kinds: &[fn(&GoType) -> bool]) -> bool {
    (l.unknown() && r.unknown()) || (l.unknown() && r.is(kinds)) || (r.unknown() && l.is(kinds))
}

/// The first type error Go's checker reports for `cond`, given the types
/// of the variables in `env`; `None` when it reports none (or when the
/// condition does not parse, which evaluation reports itself).
pub fn check(cond: &str, env: &[(&str, GoType)]) -> Option<String> {
    let toks = tokenize(cond)?;
    let mut p = Checker {
        toks,
        pos: 0,
        env,
        scopes: Vec::new(),
        predicate: 0,
        error: None,
    };
    p.program().ok()?;
    if p.pos != p.toks.len() {
        return None;
    }
    p.error
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int,
    Float,
    Str,
    Ident(String),
    Hash,
    Op(&'static str),
}

const OPS: [&str; 31] = [
    "??", "?.", "..", "**", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%",
    "^", "!", "|", "?", ":", ".", "=", "(", ")", "[", "]", "{", "}", ",",
];

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b';' {
            out.push(Tok::Op(";"));
            i += 1;
        } else if c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) && !after_value(&out))
        {
            let start = i;
            let mut float = false;
            if c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
                i += 2;
                while i < b.len() && (b[i].is_ascii_hexdigit() || b[i] == b'_') {
                    i += 1;
                }
            } else {
                while i < b.len() {
                    let d = b[i];
                    if d.is_ascii_digit() || d == b'_' {
                        i += 1;
                    } else if d == b'.' && b.get(i + 1) != Some(&b'.') && !float {
                        float = true;
                        i += 1;
                    } else if (d == b'e' || d == b'E') && i > start {
                        float = true;
                        i += 1;
                        if matches!(b.get(i), Some(b'+' | b'-')) {
                            i += 1;
                        }
                    } else {
                        break;
                    }
                }
            }
            out.push(if float { Tok::Float } else { Tok::Int });
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            i += 1;
            out.push(Tok::Str);
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else if c == b'#' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Hash);
        } else {
            let op = OPS.iter().find(|op| s[i..].starts_with(**op))?;
            i += op.len();
            out.push(Tok::Op(op));
        }
    }
    Some(out)
}

/// Whether the previous token ends a value (so a `.` is member access).
fn after_value(toks: &[Tok]) -> bool {
    matches!(
        toks.last(),
        Some(
            Tok::Ident(_) | Tok::Int | Tok::Float | Tok::Str | Tok::Hash | Tok::Op(")" | "]" | "}")
        )
    )
}

/// Parsing failed in a way that means "do not judge" (the condition uses
/// syntax this module does not model, or is malformed).
struct Bail;

struct Checker<'e> {
    toks: Vec<Tok>,
    pos: usize,
    env: &'e [(&'e str, GoType)],
    scopes: Vec<(String, GoType)>,
    predicate: usize,
    error: Option<String>,
}

const PREDICATES: [&str; 15] = [
    "all",
    "any",
    "one",
    "none",
    "map",
    "filter",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "count",
    "sum",
    "reduce",
    "groupBy",
    "sortBy",
];

fn binary_precedence(op: &str) -> Option<u8> {
    Some(match op {
        "|" => 0,
        "or" | "||" => 10,
        "and" | "&&" => 15,
        "==" | "!=" | "<" | ">" | ">=" | "<=" | "in" | "matches" | "contains" | "startsWith"
        | "endsWith" => 20,
        ".." => 25,
        "+" | "-" => 30,
        "*" | "/" | "%" => 60,
        "**" | "^" => 100,
        "??" => 150,
        _ => return None,
    })
}

impl Checker<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn eat(&mut self, op: &str) -> Result<(), Bail> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Bail)
        }
    }
    fn fail(&mut self, msg: String) -> GoType {
        if self.error.is_none() {
            self.error = Some(msg);
        }
        GoType::Unknown
    }

    /// `let x = e; ...` lines, then the expression.
    fn program(&mut self) -> Result<GoType, Bail> {
        let mut bound = 0;
        while matches!(self.peek(), Some(Tok::Ident(k)) if k == "let") {
            self.pos += 1;
            let Some(Tok::Ident(name)) = self.peek().cloned() else {
                return Err(Bail);
            };
            self.pos += 1;
            self.eat("=")?;
            let t = self.expr(0)?;
            self.eat(";")?;
            self.scopes.push((name, t));
            bound += 1;
        }
        let t = self.expr(0);
        for _ in 0..bound {
            self.scopes.pop();
        }
        t
    }

    fn binary_op(&self) -> Option<(String, bool)> {
        match self.peek()? {
            Tok::Op(o) => binary_precedence(o).map(|_| ((*o).to_string(), false)),
            Tok::Ident(w) if w == "not" => match self.peek_at(1)? {
                Tok::Ident(n)
                    if matches!(
                        n.as_str(),
                        "in" | "matches" | "contains" | "startsWith" | "endsWith"
                    ) =>
                {
                    Some((n.clone(), true))
                }
                _ => None,
            },
            Tok::Ident(w) => binary_precedence(w).map(|_| (w.clone(), false)),
            _ => None,
        }
    }

    fn expr(&mut self, min: u8) -> Result<GoType, Bail> {
        let mut left = self.unary()?;
        while let Some((op, negated)) = self.binary_op() {
            let prec = binary_precedence(&op).unwrap_or(0);
            if prec < min {
                break;
            }
            self.pos += if negated { 2 } else { 1 };
            if op == "|" {
                // A pipe passes the left value as the first argument.
                self.postfix_primary()?;
                left = GoType::Unknown;
                continue;
            }
            let right_assoc = op == "**" || op == "^";
            let right = self.expr(if right_assoc { prec } else { prec + 1 })?;
            left = self.binary(&op, left, right);
        }
        if min == 0 && self.is_op("?") {
            self.pos += 1;
            if self.is_op(":") {
                self.pos += 1;
                self.expr(0)?;
                return Ok(GoType::Unknown);
            }
            if !(left.unknown() || left == GoType::Bool) {
                self.fail(format!(
                    "non-bool expression (type {}) used as condition",
                    left.name()
                ));
            }
            let a = self.expr(0)?;
            self.eat(":")?;
            let b = self.expr(0)?;
            return Ok(if a == b { a } else { GoType::Unknown });
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<GoType, Bail> {
        let op = match self.peek() {
            Some(Tok::Op(o @ ("!" | "-" | "+"))) => Some((*o).to_string()),
            Some(Tok::Ident(w)) if w == "not" => Some("not".to_string()),
            _ => None,
        };
        let Some(op) = op else {
            return self.postfix_primary();
        };
        self.pos += 1;
        let prec = if op == "-" || op == "+" { 90 } else { 50 };
        let t = self.expr_from_unary(prec)?;
        Ok(match op.as_str() {
            "!" | "not" if t == GoType::Bool || t.unknown() => GoType::Bool,
            "-" | "+" if t.number() || t.unknown() => t,
            _ => self.fail(format!(
                "invalid operation: {op} (mismatched type {})",
                t.name()
            )),
        })
    }

    /// The operand of a unary operator: binds tighter than binary
    /// operators of lower precedence.
    fn expr_from_unary(&mut self, prec: u8) -> Result<GoType, Bail> {
        let mut left = self.unary()?;
        while let Some((op, negated)) = self.binary_op() {
            let p = binary_precedence(&op).unwrap_or(0);
            if p <= prec {
                break;
            }
            self.pos += if negated { 2 } else { 1 };
            let right = self.expr(p + 1)?;
            left = self.binary(&op, left, right);
        }
        Ok(left)
    }

    fn postfix_primary(&mut self) -> Result<GoType, Bail> {
        let mut t = self.primary()?;
        loop {
            if self.is_op(".") || self.is_op("?.") {
                self.pos += 1;
                if self.is_op("[") {
                    t = self.index(t)?;
                    continue;
                }
                match self.peek() {
                    Some(Tok::Ident(_)) => self.pos += 1,
                    _ => return Err(Bail),
                }
                if self.is_op("(") {
                    self.args(None)?;
                }
                t = GoType::Unknown;
            } else if self.is_op("[") {
                t = self.index(t)?;
            } else {
                return Ok(t);
            }
        }
    }

    fn index(&mut self, t: GoType) -> Result<GoType, Bail> {
        self.eat("[")?;
        let mut slice = false;
        if !self.is_op(":") {
            self.expr(0)?;
        }
        if self.is_op(":") {
            slice = true;
            self.pos += 1;
            if !self.is_op("]") {
                self.expr(0)?;
            }
        }
        self.eat("]")?;
        Ok(match (slice, t) {
            (true, t) => t,
            (false, GoType::Array(e)) => *e,
            _ => GoType::Unknown,
        })
    }

    /// Call arguments; `predicate_fn` names a function whose arguments
    /// after the first may be `{ ... }` predicates.
    fn args(&mut self, predicate_fn: Option<&str>) -> Result<(), Bail> {
        self.eat("(")?;
        let mut n = 0;
        while !self.is_op(")") {
            if n > 0 {
                self.eat(",")?;
            }
            if predicate_fn.is_some() && n > 0 {
                self.predicate += 1;
                let r = if self.is_op("{") {
                    self.pos += 1;
                    let r = self.program();
                    r.and_then(|_| self.eat("}"))
                } else {
                    self.expr(0).map(|_| ())
                };
                self.predicate -= 1;
                r?;
            } else {
                self.expr(0)?;
            }
            n += 1;
        }
        self.eat(")")
    }

    fn primary(&mut self) -> Result<GoType, Bail> {
        let tok = self.peek().cloned().ok_or(Bail)?;
        self.pos += 1;
        Ok(match tok {
            Tok::Int => GoType::Int("int"),
            Tok::Float => GoType::Float,
            Tok::Str => GoType::String,
            Tok::Hash => GoType::Unknown,
            Tok::Op("(") => {
                let t = self.expr(0)?;
                self.eat(")")?;
                t
            }
            Tok::Op("[") => {
                let mut n = 0;
                while !self.is_op("]") {
                    if n > 0 {
                        self.eat(",")?;
                        if self.is_op("]") {
                            break;
                        }
                    }
                    self.expr(0)?;
                    n += 1;
                }
                self.eat("]")?;
                GoType::Array(Box::new(GoType::Unknown))
            }
            Tok::Op("{") => {
                let mut n = 0;
                while !self.is_op("}") {
                    if n > 0 {
                        self.eat(",")?;
                        if self.is_op("}") {
                            break;
                        }
                    }
                    match self.peek() {
                        Some(Tok::Ident(_) | Tok::Str | Tok::Int) => self.pos += 1,
                        Some(Tok::Op("(")) => {
                            self.primary()?;
                        }
                        _ => return Err(Bail),
                    }
                    self.eat(":")?;
                    self.expr(0)?;
                    n += 1;
                }
                self.eat("}")?;
                GoType::Map
            }
            // `.field` inside a predicate is `#.field`.
            Tok::Op(".") if self.predicate > 0 => {
                match self.peek() {
                    Some(Tok::Ident(_)) => self.pos += 1,
                    _ => return Err(Bail),
                }
                GoType::Unknown
            }
            Tok::Ident(name) => {
                if self.is_op("(") {
                    let pred = PREDICATES.contains(&name.as_str()).then_some(name.as_str());
                    self.args(pred)?;
                    return Ok(function_type(&name));
                }
                self.ident(&name)
            }
            _ => return Err(Bail),
        })
    }

    fn ident(&mut self, name: &str) -> GoType {
        match name {
            "true" | "false" => return GoType::Bool,
            "nil" => return GoType::Nil,
            "$env" => return GoType::Unknown,
            _ => {}
        }
        if let Some((_, t)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return t.clone();
        }
        if let Some((_, t)) = self.env.iter().find(|(n, _)| *n == name) {
            return t.clone();
        }
        if self.predicate > 0 {
            return GoType::Unknown;
        }
        self.fail(format!("unknown name {name}"))
    }

    fn binary(&mut self, op: &str, l: GoType, r: GoType) -> GoType {
        let num: fn(&GoType) -> bool = is_number;
        let string: fn(&GoType) -> bool = is_string;
        let ok = match op {
            "==" | "!=" => comparable(&l, &r).then_some(GoType::Bool),
            "or" | "||" | "and" | "&&" => ((l == GoType::Bool && r == GoType::Bool)
                || maybe(&l, &r, &[is_bool]))
            .then_some(GoType::Bool),
            "<" | ">" | ">=" | "<=" => ((l.number() && r.number())
                || (l == GoType::String && r == GoType::String)
                || maybe(&l, &r, &[num, string]))
            .then_some(GoType::Bool),
            "-" | "*" => {
                if l.number() && r.number() {
                    Some(promote(&l, &r))
                } else {
                    maybe(&l, &r, &[num]).then_some(GoType::Unknown)
                }
            }
            "+" => {
                if l.number() && r.number() {
                    Some(promote(&l, &r))
                } else if l == GoType::String && r == GoType::String {
                    Some(GoType::String)
                } else {
                    maybe(&l, &r, &[num, string]).then_some(GoType::Unknown)
                }
            }
            "/" | "**" | "^" => {
                ((l.number() && r.number()) || maybe(&l, &r, &[num])).then_some(GoType::Float)
            }
            "%" => ((l.integer() && r.integer()) || maybe(&l, &r, &[is_integer]))
                .then_some(GoType::Int("int")),
            ".." => ((l.integer() && r.integer()) || maybe(&l, &r, &[is_integer]))
                .then_some(GoType::Array(Box::new(GoType::Int("int")))),
            "matches" | "contains" | "startsWith" | "endsWith" => {
                ((l == GoType::String && r == GoType::String) || maybe(&l, &r, &[string]))
                    .then_some(GoType::Bool)
            }
            "in" => {
                return match &r {
                    GoType::Array(e) if !comparable(&l, e) => self.fail(format!(
                        "cannot use {} as type {} in array",
                        l.name(),
                        e.name()
                    )),
                    GoType::Map if !(l.unknown() || l == GoType::String) => {
                        self.fail(format!("cannot use {} as type string in map key", l.name()))
                    }
                    _ => GoType::Bool,
                };
            }
            "??" => Some(if l == r { l.clone() } else { GoType::Unknown }),
            _ => Some(GoType::Unknown),
        };
        match ok {
            Some(t) => t,
            None => self.fail(format!(
                "invalid operation: {op} (mismatched types {} and {})",
                l.name(),
                r.name()
            )),
        }
    }
}

/// Both numbers: `int` stays `int`, anything with a float is `float64`.
fn promote(l: &GoType, r: &GoType) -> GoType {
    if l.integer() && r.integer() {
        l.clone()
    } else {
        GoType::Float
    }
}

/// What the Rollouts functions and expr's builtins return.
fn function_type(name: &str) -> GoType {
    match name {
        "asInt" => GoType::Int("int64"),
        "asFloat" | "float" => GoType::Float,
        "isNaN" | "isInf" | "isNil" | "all" | "any" | "one" | "none" | "hasPrefix"
        | "hasSuffix" => GoType::Bool,
        "len" | "count" | "findIndex" | "findLastIndex" | "int" | "indexOf" | "lastIndexOf" => {
            GoType::Int("int")
        }
        "string" | "lower" | "upper" | "trim" | "trimPrefix" | "trimSuffix" | "toJSON"
        | "toBase64" | "fromBase64" | "repeat" | "join" | "replace" => GoType::String,
        "filter" | "map" | "split" | "keys" | "values" => GoType::Array(Box::new(GoType::Unknown)),
        _ => GoType::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(t: GoType) -> Vec<(&'static str, GoType)> {
        vec![("result", t)]
    }

    #[test]
    fn mismatches_go_reports() {
        let cases: [(&str, GoType, Option<&str>); 14] = [
            (
                "result == \"200\"",
                GoType::Float,
                Some("invalid operation: == (mismatched types float64 and string)"),
            ),
            (
                "asFloat(result) == \"1.1\"",
                GoType::String,
                Some("invalid operation: == (mismatched types float64 and string)"),
            ),
            (
                "result[0] == \"x\"",
                GoType::Array(Box::new(GoType::Float)),
                Some("invalid operation: == (mismatched types float64 and string)"),
            ),
            (
                "result == true",
                GoType::Float,
                Some("invalid operation: == (mismatched types float64 and bool)"),
            ),
            ("result.a == \"x\"", GoType::Map, None),
            (
                "result[0] == \"x\"",
                GoType::Array(Box::new(GoType::Unknown)),
                None,
            ),
            ("result == \"200\"", GoType::String, None),
            ("result > 0 && result < 1.5", GoType::Float, None),
            (
                "invalidVariable",
                GoType::Bool,
                Some("unknown name invalidVariable"),
            ),
            (
                "all(result.c, {# < 5}) && result.d == nil",
                GoType::Map,
                None,
            ),
            ("asInt(result) == 1.1", GoType::String, None),
            (
                "len(result) > 0 ? result[0] < 1 : false",
                GoType::Array(Box::new(GoType::Float)),
                None,
            ),
            (
                "!result",
                GoType::Float,
                Some("invalid operation: ! (mismatched type float64)"),
            ),
            ("2 in result", GoType::Array(Box::new(GoType::Float)), None),
        ];
        for (cond, t, want) in cases {
            assert_eq!(check(cond, &env(t)).as_deref(), want, "{cond}");
        }
    }
}
