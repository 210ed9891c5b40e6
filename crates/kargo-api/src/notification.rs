//! Notifications in Kargo Enterprise's published shapes
//! (`ee.kargo.akuity.io/v1alpha1`): a `MessageChannel` (a project's) or
//! `ClusterMessageChannel` (everyone's) says where messages go — Slack,
//! SMTP or an HTTP endpoint, credentials in the Secret `secretRef` names —
//! and an `EventRouter` sends a project's Kargo Events of some `types`,
//! filtered by a `when` expression, to channels, grouped (Slack threads)
//! by a `groupingKey`. Field names follow Kargo's documentation of them;
//! the few fields added here say so.

use serde::{Deserialize, Serialize};

kargo_object!(
    /// Where a project's messages go.
    MessageChannel, MessageChannelSpec, ChannelStatus,
    group = crate::EE_GROUP, kind = "MessageChannel", plural = "messagechannels", namespaced = true
);

kargo_object!(
    /// Where messages of any project may go (its Secret lives in
    /// `kargo-system-resources` unless `secretRef.namespace` says otherwise).
    ClusterMessageChannel, MessageChannelSpec, ChannelStatus,
    group = crate::EE_GROUP, kind = "ClusterMessageChannel", plural = "clustermessagechannels", namespaced = false
);

kargo_object!(
    /// Sends a project's Kargo Events to channels.
    EventRouter, EventRouterSpec, ChannelStatus,
    group = crate::EE_GROUP, kind = "EventRouter", plural = "eventrouters", namespaced = true
);

/// A Secret by name, and for a ClusterMessageChannel its namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// The Secret's name.
    #[serde(default)]
    pub name: String,
    /// Its namespace (ClusterMessageChannel only; ignored on a MessageChannel).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `spec` of a (Cluster)MessageChannel: exactly one of `slack`, `smtp`, `http`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageChannelSpec {
    /// The Secret with credentials: Slack `apiKey` (a bot token) or
    /// `webhookURL` (an incoming webhook); SMTP `username`, `password`;
    /// HTTP `bearerToken` or `authorization`, and `hmacKey` to sign bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
    /// Slack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannel>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpChannel>,
    /// An HTTP endpoint (a generic webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpChannel>,
}

/// A Slack channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackChannel {
    /// The channel ID messages go to (with a bot token).
    #[serde(
        default,
        rename = "channelID",
        skip_serializing_if = "String::is_empty"
    )]
    pub channel_id: String,
    /// Slack's Web API base URL (added here; default `https://slack.com/api`).
    #[serde(default, rename = "apiURL", skip_serializing_if = "String::is_empty")]
    pub api_url: String,
}

/// An SMTP server and its default addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpChannel {
    /// The `From` address.
    #[serde(default)]
    pub from: String,
    /// Default recipients: the first is `To`, the rest `Cc`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The server's host.
    #[serde(default)]
    pub host: String,
    /// The server's port.
    #[serde(default)]
    pub port: u16,
    /// STARTTLS (default true).
    #[serde(default, rename = "useTLS", skip_serializing_if = "Option::is_none")]
    pub use_tls: Option<bool>,
    /// Skip TLS certificate verification (testing only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure_skip_verify: bool,
}

/// A name and a value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameValue {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// An HTTP endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpChannel {
    /// The URL requested.
    #[serde(default)]
    pub url: String,
    /// GET, POST (default), PUT, PATCH or DELETE.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Extra query parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<NameValue>,
    /// Longest one request may take (Go duration, default `10s`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    /// Skip TLS certificate verification (testing only).
    #[serde(
        default,
        rename = "insecureSkipTLSVerify",
        skip_serializing_if = "is_false"
    )]
    pub insecure_skip_tls_verify: bool,
    /// Whether an answer means success (expr over `response.status`,
    /// `response.body`, `response.headers`; default: a 2xx status).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub success_expression: String,
    /// Whether an answer means failure (default: not a success).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_expression: String,
}

/// `spec` of an EventRouter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventRouterSpec {
    /// Event types (Kargo's Event reasons: `PromotionFailed`, ...).
    #[serde(default)]
    pub types: Vec<String>,
    /// Where matching events go.
    #[serde(default)]
    pub channels: Vec<RouterChannel>,
    /// An expr expression over `event` that must be true to send.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub when: String,
    /// Messages with the same key are grouped (a Slack thread); may hold `${{ }}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub grouping_key: String,
    /// A message for every channel, instead of the default one; may hold `${{ }}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// How `output` is encoded: plain (empty), `json`, `yaml`, `xml`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encoding_type: String,
}

/// A channel an EventRouter sends to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterChannel {
    /// `MessageChannel` or `ClusterMessageChannel`.
    #[serde(default)]
    pub kind: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// This channel's message, instead of the router's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// How `output` is encoded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encoding_type: String,
}

/// Status of channels and routers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<crate::common::Condition>,
}

/// Checks a channel spec: exactly one kind, with its required fields.
pub fn check_channel(spec: &MessageChannelSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let set = [
        spec.slack.is_some(),
        spec.smtp.is_some(),
        spec.http.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        out.push((
            "spec".into(),
            "exactly one of slack, smtp or http must be set".into(),
        ));
    }
    if let Some(s) = &spec.smtp {
        for (field, empty) in [("from", s.from.is_empty()), ("host", s.host.is_empty())] {
            if empty {
                out.push((format!("spec.smtp.{field}"), "required".into()));
            }
        }
        if s.port == 0 {
            out.push(("spec.smtp.port".into(), "required".into()));
        }
    }
    if let Some(h) = &spec.http {
        if !h.url.starts_with("http://") && !h.url.starts_with("https://") {
            out.push((
                "spec.http.url".into(),
                "must be an http:// or https:// URL".into(),
            ));
        }
        if !matches!(
            h.method.as_str(),
            "" | "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
        ) {
            out.push((
                "spec.http.method".into(),
                format!("{:?}: must be GET, POST, PUT, PATCH or DELETE", h.method),
            ));
        }
    }
    if (spec.slack.is_some() || spec.smtp.is_some())
        && spec.secret_ref.as_ref().is_none_or(|r| r.name.is_empty())
    {
        out.push((
            "spec.secretRef".into(),
            "required for slack and smtp (the token or credentials)".into(),
        ));
    }
    out
}

/// Checks a router spec.
pub fn check_router(spec: &EventRouterSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if spec.types.is_empty() {
        out.push((
            "spec.types".into(),
            "at least one event type is required".into(),
        ));
    }
    if spec.channels.is_empty() {
        out.push((
            "spec.channels".into(),
            "at least one channel is required".into(),
        ));
    }
    for (i, c) in spec.channels.iter().enumerate() {
        if !matches!(c.kind.as_str(), "MessageChannel" | "ClusterMessageChannel") {
            out.push((
                format!("spec.channels[{i}].kind"),
                "must be MessageChannel or ClusterMessageChannel".into(),
            ));
        }
        if c.name.is_empty() {
            out.push((format!("spec.channels[{i}].name"), "required".into()));
        }
    }
    for (field, enc) in std::iter::once(("spec.encodingType".to_string(), &spec.encoding_type))
        .chain(
            spec.channels
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("spec.channels[{i}].encodingType"), &c.encoding_type)),
        )
    {
        if !matches!(enc.as_str(), "" | "json" | "yaml" | "xml") {
            out.push((
                field,
                format!("{enc:?}: must be json, yaml or xml (or empty: plain text)"),
            ));
        }
    }
    out
}
