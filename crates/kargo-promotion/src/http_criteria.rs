//! Kargo's HTTP success and failure criteria, shared by the `http` step
//! and the HTTP (webhook) notification channel: the `response` variable
//! (status, canonical headers, the body as JSON) and the verdict of
//! `successExpression` / `failureExpression` over it. With neither
//! expression a 2xx status succeeds and anything else fails; a failure
//! expression that holds wins; a success expression that does not hold
//! is a failure when there is no failure expression, and otherwise
//! "neither" (the step tries again).

use kargo_expr::{Env, Evaluator, NoLookup};
use serde_json::{Map, Value, json};

/// What the criteria say of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The response meets the success criteria.
    Succeeded,
    /// The response meets the failure criteria.
    Failed,
    /// Neither (both expressions set, neither holds).
    Neither,
}

/// Go's canonical header key: `content-type` → `Content-Type`.
pub fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `response` variable: status, headers (canonical name → values) and
/// the body as JSON (an empty object when empty or not a JSON object/array).
pub fn response_value(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Value {
    let mut h: Map<String, Value> = Map::new();
    for (k, v) in headers {
        let entry = h
            .entry(canonical(k.as_str()))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(json!(String::from_utf8_lossy(v.as_bytes())));
        }
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or_else(|| json!({}))
    };
    json!({"status": status, "headers": h, "body": body})
}

/// `expression` over `response`; the error names `field`.
pub fn evaluate(field: &str, expression: &str, response: &Value) -> Result<Value, String> {
    let env = Env::new().set("response", response.clone());
    Evaluator::new(&env, &NoLookup)
        .evaluate_expression(expression)
        .map_err(|e| format!("{field}: {e}"))
}

fn condition(field: &str, expression: &str, response: &Value) -> Result<bool, String> {
    match evaluate(field, expression, response)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!(
            "{field}: {expression:?} must evaluate to true or false, got {other}"
        )),
    }
}

/// The verdict of the criteria (`success`, `failure`: expressions, empty
/// when unset) on `response` (from [`response_value`]). An expression
/// that fails or is not a boolean is an error.
pub fn judge(success: &str, failure: &str, response: &Value) -> Result<Verdict, String> {
    let has_success = !success.trim().is_empty();
    let has_failure = !failure.trim().is_empty();
    let failed = if has_failure {
        condition("failureExpression", failure, response)?
    } else if has_success {
        !condition("successExpression", success, response)?
    } else {
        !response["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s))
    };
    if failed {
        return Ok(Verdict::Failed);
    }
    // Only a failure expression, which did not hold; or no expressions and 2xx.
    if !has_success || condition("successExpression", success, response)? {
        Ok(Verdict::Succeeded)
    } else {
        Ok(Verdict::Neither)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_header_names() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-request-id"), "X-Request-Id");
        assert_eq!(canonical("ETAG"), "Etag");
    }

    #[test]
    fn response_body_is_an_object_or_empty() {
        let h = reqwest::header::HeaderMap::new();
        assert_eq!(response_value(200, &h, b"")["body"], json!({}));
        assert_eq!(response_value(200, &h, b"not json")["body"], json!({}));
        assert_eq!(
            response_value(200, &h, br#"{"a": [1]}"#)["body"]["a"][0],
            json!(1)
        );
    }

    #[test]
    fn verdicts_follow_kargos_rules() {
        let h = reqwest::header::HeaderMap::new();
        let ok = response_value(200, &h, br#"{"state": "done"}"#);
        let busy = response_value(200, &h, br#"{"state": "busy"}"#);
        let gone = response_value(404, &h, b"");
        let (done, missing) = ("response.body.state == 'done'", "response.status == 404");
        assert_eq!(judge("", "", &ok), Ok(Verdict::Succeeded));
        assert_eq!(judge("", "", &gone), Ok(Verdict::Failed));
        assert_eq!(judge(done, missing, &ok), Ok(Verdict::Succeeded));
        assert_eq!(judge(done, missing, &busy), Ok(Verdict::Neither));
        assert_eq!(judge(done, missing, &gone), Ok(Verdict::Failed));
        // One expression alone: its negation is the other outcome.
        assert_eq!(judge(done, "", &busy), Ok(Verdict::Failed));
        assert_eq!(judge("", missing, &ok), Ok(Verdict::Succeeded));
        let e = judge("response.status", "", &ok).unwrap_err();
        assert!(
            e.contains("successExpression") && e.contains("true or false"),
            "{e}"
        );
    }
}
