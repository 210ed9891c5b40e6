//! Argo Rollouts' `metricproviders/webmetric/webmetric_test.go`
//! `TestRunSuite` as data: each row runs the web provider (and the
//! condition evaluation) against a real loopback server answering the
//! row's status and body, and an OAuth2 token endpoint, and checks what
//! the upstream test checks: the phase, the recorded value (Successful and
//! Failed), the error message (Error), and what the server received.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use kargo_analysis::{NoSecrets, Providers, reconcile_async};
use kargo_api::analysis::{AnalysisRunSpec, AnalysisRunStatus, Metric, WebMetric, WebMetricHeader};
use serde_json::json;

const ACCESS_TOKEN: &str = "MyAccessToken";

#[derive(Default, Clone, Copy)]
struct Row {
    name: &'static str,
    status: u16,
    response: &'static str,
    success: &'static str,
    failure: &'static str,
    json_path: &'static str,
    method: &'static str,
    url: &'static str,
    header_key: bool,
    content_type_header: bool,
    body: &'static str,
    json_body: &'static str,
    /// "ok" or "ko": the OAuth2 token endpoint to use.
    oauth: &'static str,
    expected_method: &'static str,
    expected_body: &'static str,
    expected_json_body: &'static str,
    expected_auth: &'static str,
    expected_value: &'static str,
    expected_phase: &'static str,
    expected_error: &'static str,
}

const ABCD: &str = r#"{"a": 1, "b": true, "c": [1, 2, 3, 4], "d": null}"#;
const ABCD_VALUE: &str = r#"{"a":1,"b":true,"c":[1,2,3,4],"d":null}"#;
const ABCD_COND: &str = "result.a > 0 && result.b && all(result.c, {# < 5}) && result.d == nil";
const KEY_PATH: &str = "{$.key[0].key2.value}";
const MAP: &str = r#"{"key":{"num":1.2, "bool":true, "mapfield":{"foo":"bar"}}}"#;
const MAP_VALUE: &str = r#"{"bool":true,"mapfield":{"foo":"bar"},"num":1.2}"#;
const MAP_COND: &str = r#"result.num > 1.1 && result.bool && result.mapfield.foo == "bar""#;

const fn r() -> Row {
    Row {
        name: "",
        status: 0,
        response: "",
        success: "",
        failure: "",
        json_path: "",
        method: "",
        url: "",
        header_key: false,
        content_type_header: false,
        body: "",
        json_body: "",
        oauth: "",
        expected_method: "",
        expected_body: "",
        expected_json_body: "",
        expected_auth: "",
        expected_value: "",
        expected_phase: "",
        expected_error: "",
    }
}

#[rustfmt::skip]
const ROWS: [Row; 39] = [
    Row { name: "When_noJSONPathSpecified_And_MatchesConditions_Then_Succeed", status: 200, response: ABCD, success: ABCD_COND, header_key: true, expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_matchesNeitherCondition_Then_Inconclusive", status: 200, response: ABCD,
        success: "result.a >= 2 && result.b && all(result.c, {# < 5}) && result.d == nil",
        failure: "result.a <= 0 && result.b && all(result.c, {# < 5}) && result.d == nil",
        header_key: true, expected_value: ABCD_VALUE, expected_phase: "Inconclusive", ..r() },
    Row { name: "When_intStringReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [{"key2": {"value": "1"}}]}"#, success: "asInt(result) > 0", failure: "asInt(result) <= 0", json_path: KEY_PATH, header_key: true, expected_value: "\"1\"", expected_phase: "Successful", ..r() },
    Row { name: "When_intStringReturnedInJson_And_DoesNotMatcheConditions_Then_Failure", status: 200, response: r#"{"key": [{"key2": {"value": "0"}}]}"#, success: "asInt(result) > 0", failure: "asInt(result) <= 0", json_path: KEY_PATH, expected_value: "\"0\"", expected_phase: "Failed", ..r() },
    Row { name: "When_floatStringReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [{"key2": {"value": "1.2"}}]}"#, success: "asFloat(result) > 1.1", failure: "asFloat(result) <= 0", json_path: KEY_PATH, header_key: true, expected_value: "\"1.2\"", expected_phase: "Successful", ..r() },
    Row { name: "When_floatStringReturnedInJson_And_DoesNotMatcheConditions_Then_Failure", status: 200, response: r#"{"key": [{"key2": {"value": "1.2"}}]}"#, success: "asFloat(result) > 1.1", failure: "asFloat(result) < 1.3", json_path: KEY_PATH, expected_value: "\"1.2\"", expected_phase: "Failed", ..r() },
    Row { name: "When_numberReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [{"key2": {"value": 1}}]}"#, success: "result > 0", failure: "result <= 0", json_path: KEY_PATH, header_key: true, expected_value: "1", expected_phase: "Successful", ..r() },
    Row { name: "When_numberReturnedInJson_And_DoesNotMatchConditions_Then_Failure", status: 200, response: r#"{"key": [{"key2": {"value": 0}}]}"#, success: "result > 0", failure: "result <= 0", json_path: KEY_PATH, expected_value: "0", expected_phase: "Failed", ..r() },
    Row { name: "When_floatReturnedInJson_And_MatchesConditions_Then_Success", status: 200, response: r#"{"key": [{"key2": {"value": 1.1}}]}"#, success: "result > 0", failure: "result <= 0", json_path: KEY_PATH, expected_value: "1.1", expected_phase: "Successful", ..r() },
    Row { name: "When_floatReturnedInJson_And_DoesNotMatchConditions_Then_Failure", status: 200, response: r#"{"key": [{"key2": {"value": -1.1}}]}"#, success: "result > 0", failure: "result <= 0", json_path: KEY_PATH, expected_value: "-1.1", expected_phase: "Failed", ..r() },
    Row { name: "When_stringReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [{"key2": {"value": "true"}}]}"#, success: r#"result == "true""#, failure: r#"result == "false""#, json_path: KEY_PATH, expected_value: "\"true\"", expected_phase: "Successful", ..r() },
    Row { name: "When_stringReturnedInJson_And_DoesNotMatchConditions_Then_Fail", status: 200, response: r#"{"key": [{"key2": {"value": "true"}}]}"#, success: r#"result == "true""#, failure: r#"result == "true""#, json_path: KEY_PATH, expected_value: "\"true\"", expected_phase: "Failed", ..r() },
    Row { name: "When_boolReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [{"key2": {"value": true}}]}"#, success: "result == true", failure: "result == false", json_path: KEY_PATH, expected_value: "true", expected_phase: "Successful", ..r() },
    Row { name: "When_boolReturnedInJson_And_DoesNotMatchConditions_Then_Fail", status: 200, response: r#"{"key": [{"key2": {"value": false}}]}"#, success: "result == true", failure: "result == false", json_path: KEY_PATH, expected_value: "false", expected_phase: "Failed", ..r() },
    Row { name: "When_listReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: r#"{"key": [1, 2, 3, 4, 5, 6]}"#, success: "any(result, {# > 5})", json_path: "{$.key}", expected_value: "[1,2,3,4,5,6]", expected_phase: "Successful", ..r() },
    Row { name: "When_listReturnedInJson_And_DoesNotMatchConditions_Then_Fail", status: 200, response: r#"{"key": [1, 2, 3, 4, 5, 6]}"#, success: "any(result, {# > 6})", json_path: "{$.key}", expected_value: "[1,2,3,4,5,6]", expected_phase: "Failed", ..r() },
    Row { name: "When_mapReturnedInJson_And_MatchesConditions_Then_Succeed", status: 200, response: MAP, success: MAP_COND, json_path: "{$.key}", expected_value: MAP_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_mapReturnedInJson_And_DoesNotMatchConditions_Then_Fail", status: 200, response: MAP, success: MAP_COND, failure: MAP_COND, json_path: "{$.key}", expected_value: MAP_VALUE, expected_phase: "Failed", ..r() },
    Row { name: "When_non200_Then_Error", status: 300, response: r#"{"key": [{"key2": {"value": "true"}}]}"#, success: "true", failure: "true", json_path: KEY_PATH, expected_value: "true", expected_phase: "Error", ..r() },
    Row { name: "When_BadURL_Then_Fail", status: 200, response: r#"{"key": [{"key2": {"value": "true"}}]}"#, success: "true", failure: "true", url: "bad://url.com", json_path: KEY_PATH, expected_value: "true", expected_phase: "Error", expected_error: "unsupported protocol scheme", ..r() },
    Row { name: "When_200Response_And_EmptyBody_Then_Succeed", status: 200, response: "", success: "true", json_path: KEY_PATH, expected_value: "", expected_phase: "Successful", ..r() },
    Row { name: "When_200Response_And_EmptyBody_And_SuccessConditionNotMet_Then_Fail", status: 200, response: "", success: "result == 'fail123'", expected_value: "", expected_phase: "Failed", ..r() },
    Row { name: "When_200Response_And_NonJsonBody_Then_Succeed", status: 200, response: "test: notJson", success: "result == 'test: notJson'", json_path: KEY_PATH, expected_value: "test: notJson", expected_phase: "Successful", ..r() },
    Row { name: "When_200Response_And_NonJsonBody_And_SuccessConditionNotMet_Then_Fail", status: 200, response: "OK", success: "result == 'fail123'", expected_value: "OK", expected_phase: "Failed", ..r() },
    Row { name: "When_200Response_And_JsonPathHasNoMatch_Then_Error", status: 200, response: r#"{"key": [{"key2": {"value": "true"}}]}"#, success: "true", failure: "true", json_path: "{$.key[0].key2.novalue}", expected_value: "true", expected_phase: "Error", expected_error: "Could not find JSONPath in body", ..r() },
    Row { name: "When_200Response_And_NilBody_Then_Succeed", status: 200, success: "true", expected_phase: "Successful", ..r() },
    Row { name: "When_200Response_And_AnyJson_Then_Succeed", status: 200, response: "{}", success: "true", expected_value: "{}", expected_phase: "Successful", ..r() },
    Row { name: "When_non200Response_And_NoBody_Then_Failure", status: 400, response: "", expected_value: "", expected_phase: "Error", ..r() },
    Row { name: "When_methodEmpty_Then_server_gets_GET", status: 200, response: ABCD, success: ABCD_COND, header_key: true, expected_method: "GET", expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_methodGET_Then_server_gets_GET", status: 200, response: ABCD, success: ABCD_COND, method: "GET", header_key: true, expected_method: "GET", expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_methodPOST_Then_server_gets_body", status: 200, response: ABCD, success: ABCD_COND, method: "POST", header_key: true, body: "some body", expected_method: "POST", expected_body: "some body", expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_methodPUT_Then_server_gets_body", status: 200, response: ABCD, success: ABCD_COND, method: "PUT", header_key: true, body: "some body", expected_method: "PUT", expected_body: "some body", expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_sendingBodyWithGet_Then_Failure", success: ABCD_COND, header_key: true, body: "some body", expected_value: "Body can only be used with POST or PUT WebMetric Method types", expected_phase: "Error", ..r() },
    Row { name: "When_methodPOST_Then_server_gets_jsonBody_Then_Succeed", status: 200, response: ABCD, success: ABCD_COND, method: "POST", header_key: true, json_body: r#"{"key1": "value1", "key2": "value2"}"#, expected_method: "POST", expected_json_body: r#"{"key1": "value1", "key2": "value2"}"#, expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_methodPUT_Then_server_gets_jsonBody_Then_Succeed", status: 200, response: ABCD, success: ABCD_COND, method: "PUT", header_key: true, content_type_header: true, json_body: r#"{"key1": "value1", "key2": { "key3" : "value3"}}"#, expected_method: "PUT", expected_json_body: r#"{"key1": "value1", "key2": { "key3" : "value3"}}"#, expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_sendingJsonBodyWithGet_Then_Failure", success: ABCD_COND, header_key: true, json_body: r#"{"key1": "value1", "key2": { "key3" : "value3"}}"#, expected_value: "Body/JSONBody can only be used with POST or PUT WebMetric Method types", expected_phase: "Error", ..r() },
    Row { name: "When_sending_BothBodyAndJsonBodyWithGet_Then_Failure", success: ABCD_COND, header_key: true, json_body: r#"{"key1": "value1", "key2": { "key3" : "value3"}}"#, body: "test body", expected_value: "use either Body or JSONBody; both cannot exists for WebMetric payload", expected_phase: "Error", ..r() },
    Row { name: "When_usingOAuth2_Then_Succeed", status: 200, response: ABCD, success: ABCD_COND, header_key: true, oauth: "ok", expected_auth: ACCESS_TOKEN, expected_value: ABCD_VALUE, expected_phase: "Successful", ..r() },
    Row { name: "When_RejectedByOAuthServer_Then_Failure", response: "Missing OAuth2 token", success: ABCD_COND, header_key: true, oauth: "ko", expected_auth: ACCESS_TOKEN, expected_error: "oauth2: cannot fetch token: 401 Unauthorized", expected_phase: "Error", ..r() },
];

/// What the row's server received.
#[derive(Default, Debug, Clone)]
struct Seen {
    method: String,
    body: String,
    content_type: String,
}

#[derive(Clone)]
struct Serve {
    row: Row,
    seen: Arc<Mutex<Option<Seen>>>,
}

async fn handle(
    State(s): State<Serve>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |k: header::HeaderName| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if let Ok(mut seen) = s.seen.lock() {
        *seen = Some(Seen {
            method: method.to_string(),
            body: String::from_utf8_lossy(&body).into_owned(),
            content_type: header(header::CONTENT_TYPE),
        });
    }
    let row = s.row;
    if !row.expected_auth.is_empty()
        && header(header::AUTHORIZATION) != format!("Bearer {}", row.expected_auth)
    {
        return (StatusCode::UNAUTHORIZED, row.response).into_response();
    }
    let status = StatusCode::from_u16(row.status).unwrap_or(StatusCode::OK);
    if !status.is_success() {
        let text = status.canonical_reason().unwrap_or("").to_string();
        return (status, format!("{text}\n")).into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], row.response).into_response()
}

async fn listen(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

async fn oauth_server() -> String {
    let app = Router::new()
        .route(
            "/ok",
            post(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{ACCESS_TOKEN}"}}"#),
                )
            }),
        )
        .route("/ko", post(|| async { StatusCode::UNAUTHORIZED }));
    listen(app).await
}

fn metric(row: &Row, url: String, oauth: &str) -> Metric {
    let mut headers = Vec::new();
    if row.header_key {
        headers.push(WebMetricHeader {
            key: "key".into(),
            value: "value".into(),
        });
    }
    if row.content_type_header {
        headers.push(WebMetricHeader {
            key: "Content-Type".into(),
            value: "application/json".into(),
        });
    }
    let authentication = (!row.oauth.is_empty()).then(|| {
        json!({"oauth2": {
            "tokenUrl": format!("{oauth}/{}", row.oauth),
            "clientId": "myClientID",
            "clientSecret": "mySecret",
            "scopes": ["myFirstScope", "mySecondScope"],
        }})
    });
    let mut m = Metric {
        name: "foo".into(),
        success_condition: row.success.into(),
        failure_condition: row.failure.into(),
        ..Default::default()
    };
    m.provider.web = Some(WebMetric {
        method: row.method.into(),
        url: if row.url.is_empty() {
            url
        } else {
            row.url.into()
        },
        headers,
        body: row.body.into(),
        json_path: row.json_path.into(),
        json_body: (!row.json_body.is_empty())
            .then(|| serde_json::from_str(row.json_body).expect("json body")),
        authentication,
        ..Default::default()
    });
    m
}

#[tokio::test]
async fn run_suite() {
    let rows = ROWS;
    assert_eq!(rows.len(), 39, "TestRunSuite's rows");
    let oauth = oauth_server().await;
    for row in rows {
        let seen = Arc::new(Mutex::new(None));
        let app = Router::new().route("/", any(handle)).with_state(Serve {
            row,
            seen: seen.clone(),
        });
        let base = listen(app).await;
        let spec = AnalysisRunSpec {
            metrics: vec![metric(&row, format!("{base}/"), &oauth)],
            ..Default::default()
        };
        let r = reconcile_async(
            &spec,
            &AnalysisRunStatus::default(),
            &jiff::Timestamp::now,
            &NoSecrets,
            &Providers::new(),
        )
        .await;
        let m = &r.status.metric_results[0].measurements[0];
        let name = row.name;
        assert_eq!(m.phase, row.expected_phase, "{name}: {}", m.message);
        assert!(m.started_at.is_some(), "{name}");
        match row.expected_phase {
            "Successful" | "Failed" | "Inconclusive" => {
                if row.expected_phase != "Inconclusive" {
                    assert_eq!(m.value, row.expected_value, "{name}");
                }
                assert!(m.finished_at.is_some(), "{name}");
            }
            _ => assert!(
                m.message.contains(row.expected_error),
                "{name}: {}",
                m.message
            ),
        }
        let seen = seen.lock().expect("lock").clone();
        if !row.expected_method.is_empty() {
            assert_eq!(
                seen.as_ref().map(|s| s.method.as_str()),
                Some(row.expected_method),
                "{name}"
            );
        }
        if !row.expected_body.is_empty() {
            assert_eq!(
                seen.as_ref().map(|s| s.body.as_str()),
                Some(row.expected_body),
                "{name}"
            );
        }
        if !row.expected_json_body.is_empty() {
            let s = seen.expect("request received");
            let sent: serde_json::Value = serde_json::from_str(&s.body).expect("json sent");
            let want: serde_json::Value =
                serde_json::from_str(row.expected_json_body).expect("json");
            assert_eq!(sent, want, "{name}");
            assert_eq!(s.content_type, "application/json", "{name}");
        }
    }
}
