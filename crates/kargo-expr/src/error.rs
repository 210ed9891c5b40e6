//! The error type of this crate's expression side: what was being evaluated,
//! where, and why it failed.

use std::fmt;

/// Where an expression sits inside its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The whole template string the expression came from.
    pub template: String,
    /// The delimited expression, e.g. `${{ ctx.stage }}`, or the bare
    /// expression for conditions written without delimiters.
    pub segment: String,
    /// Byte offset of `segment` in `template`.
    pub offset: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segment == self.template {
            write!(f, "evaluating {:?}", self.segment)
        } else {
            write!(
                f,
                "evaluating {:?} at offset {} of {:?}",
                self.segment, self.offset, self.template
            )
        }
    }
}

/// Everything that can go wrong while evaluating templates and expressions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// `${{` (or `${%`) without its closing delimiter.
    #[error(
        "evaluating {template:?}: unclosed expression at offset {offset}: expected {expected:?} but reached the end of the template"
    )]
    Unclosed {
        template: String,
        offset: usize,
        expected: &'static str,
    },
    /// The expression does not parse.
    #[error("{location}: syntax error{}: {message}", position.as_ref().map(|(l, c)| format!(" at line {l}, column {c} of the expression")).unwrap_or_default())]
    Syntax {
        location: Location,
        /// Line and column inside the expression, when expr-lang reports them.
        position: Option<(usize, usize)>,
        message: String,
    },
    /// The expression parsed but failed to run (unknown variable or
    /// function, wrong operand, a Kargo function's own error, ...).
    #[error("{location}: {message}")]
    Eval { location: Location, message: String },
    /// A condition (a step's `if`) did not produce a bool.
    #[error("condition {condition:?} evaluated to {got}, expected true or false")]
    NotBool { condition: String, got: String },
    /// The environment defines a variable under the name of one of the
    /// templating functions (`quote`, `asYAML`, `asJSON`), which Kargo
    /// refuses.
    #[error("{name:?} is a forbidden key in the environment map; it is reserved for internal use")]
    Reserved { name: &'static str },
    /// An error inside a configuration block, with the field path.
    #[error("{path}: {source}")]
    AtPath {
        path: String,
        #[source]
        source: Box<ExprError>,
    },
}

impl ExprError {
    /// Wraps the error with the path of the field it came from.
    pub fn at_path(self, path: &str) -> ExprError {
        if path.is_empty() {
            return self;
        }
        ExprError::AtPath {
            path: path.to_string(),
            source: Box::new(self),
        }
    }

    /// Builds the error for an expr-lang failure at `location`.
    pub(crate) fn from_expr(location: Location, err: &expr::Error) -> ExprError {
        match err {
            expr::Error::PestError(pest) => {
                let (position, message) = describe_pest(&pest.to_string());
                ExprError::Syntax {
                    location,
                    position,
                    message,
                }
            }
            other => ExprError::Eval {
                location,
                message: other.to_string(),
            },
        }
    }
}

/// Pulls `line:col` and the `= expected ...` line out of pest's multi-line
/// rendering, which is the only public view of its position.
fn describe_pest(rendered: &str) -> (Option<(usize, usize)>, String) {
    let mut position = None;
    let mut message = None;
    for line in rendered.lines() {
        let trimmed = line.trim();
        if let Some(pos) = trimmed.strip_prefix("--> ") {
            if let Some((l, c)) = pos.split_once(':')
                && let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse())
            {
                position = Some((l, c));
            }
        } else if let Some(m) = trimmed.strip_prefix("= ") {
            message = Some(m.to_string());
        }
    }
    let message = message.unwrap_or_else(|| rendered.trim().replace('\n', " "));
    (position, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pest_rendering_is_summarised() {
        let rendered = " --> 1:5\n  |\n1 | 1 + + \n  |     ^---\n  |\n  = expected primary";
        assert_eq!(
            describe_pest(rendered),
            (Some((1, 5)), "expected primary".to_string())
        );
    }

    #[test]
    fn path_wraps_and_displays() {
        let inner = ExprError::NotBool {
            condition: "1".into(),
            got: "1".into(),
        };
        let e = inner.clone().at_path("steps[0].if");
        assert_eq!(e.to_string(), format!("steps[0].if: {inner}"));
        assert_eq!(inner.clone().at_path(""), inner);
    }
}
