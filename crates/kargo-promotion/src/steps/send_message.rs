//! `send-message`: sends a message through a MessageChannel or
//! ClusterMessageChannel during a Promotion, in Kargo's config shape
//! (`channel{kind,name}`, `message`, `encodingType`,
//! `slack{channelID,threadTS}`, `smtp{to,subject,html}`); Slack and SMTP
//! channels only (HTTP ones are for EventRouters, as in Kargo). Output:
//! `slack.threadTS` — a new message's timestamp, or the thread replied
//! to. The channel and its Secret come through the caller's
//! [`crate::ProjectObjects`]; sending is [`crate::message`]'s, retried
//! three times.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

use crate::message::{Message, Retry, send_with_retries};
use crate::objects::ObjectError;
use crate::step::{Step, StepContext, StepError, StepResult, parse_config};

/// Kargo's name.
pub const NAME: &str = "send-message";

/// `channel`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelRef {
    /// `MessageChannel` or `ClusterMessageChannel`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// `slack`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackOptions {
    /// Another channel than the channel's.
    #[serde(default, rename = "channelID")]
    pub channel_id: String,
    /// The thread to reply in.
    #[serde(default, rename = "threadTS")]
    pub thread_ts: String,
}

/// `smtp`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpOptions {
    /// Recipients (a list, or one address).
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// The subject.
    #[serde(default)]
    pub subject: String,
    /// The body is HTML.
    #[serde(default)]
    pub html: bool,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Config of `send-message`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessageConfig {
    /// The channel.
    pub channel: ChannelRef,
    /// The message (plain, or encoded: `encodingType`).
    pub message: String,
    /// Empty, `json`, `yaml` or `xml`.
    #[serde(default)]
    pub encoding_type: String,
    /// Slack options.
    #[serde(default)]
    pub slack: Option<SlackOptions>,
    /// SMTP options.
    #[serde(default)]
    pub smtp: Option<SmtpOptions>,
}

/// Decodes and checks a config.
pub fn parse(config: &Value) -> Result<SendMessageConfig, StepError> {
    let cfg: SendMessageConfig = parse_config(NAME, config)?;
    if !matches!(
        cfg.channel.kind.as_str(),
        "MessageChannel" | "ClusterMessageChannel"
    ) {
        return Err(StepError::config(
            NAME,
            "channel.kind: must be MessageChannel or ClusterMessageChannel",
        ));
    }
    if cfg.channel.name.is_empty() {
        return Err(StepError::config(NAME, "channel.name: must not be empty"));
    }
    if cfg.message.is_empty() {
        return Err(StepError::config(NAME, "message: must not be empty"));
    }
    if !matches!(cfg.encoding_type.as_str(), "" | "json" | "yaml" | "xml") {
        return Err(StepError::config(
            NAME,
            "encodingType: must be json, yaml or xml",
        ));
    }
    Ok(cfg)
}

/// The `send-message` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendMessage;

impl Step for SendMessage {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let objects = ctx
            .objects
            .ok_or_else(|| StepError::terminal(NAME, "message channels cannot be read here"))?;
        let (kind, name) = (&cfg.channel.kind, &cfg.channel.name);
        let channel = objects.message_channel(kind, name).map_err(|e| match e {
            ObjectError::NotFound => {
                StepError::terminal(NAME, format!("{kind} {name:?} not found"))
            }
            ObjectError::Refused(m) => StepError::terminal(NAME, format!("{kind} {name:?}: {m}")),
            ObjectError::Failed(m) => StepError::retryable(NAME, format!("{kind} {name:?}: {m}")),
        })?;
        if channel.spec.http.is_some() {
            return Err(StepError::terminal(
                NAME,
                format!(
                    "{kind} {name:?} is an HTTP channel: use it from an EventRouter, or the http step"
                ),
            ));
        }
        let slack = cfg.slack.clone().unwrap_or_default();
        let smtp = cfg.smtp.clone().unwrap_or_default();
        let message = Message {
            text: cfg.message.clone(),
            encoding: cfg.encoding_type.clone(),
            slack_channel: slack.channel_id,
            thread_ts: slack.thread_ts,
            to: smtp.to,
            subject: smtp.subject,
            html: smtp.html,
        };
        let retry = Retry {
            attempts: 3,
            backoff: Duration::from_secs(1),
        };
        let delivered = ctx
            .limits
            .block_on(
                send_with_retries(&channel, &message, retry, |_| {}),
                Duration::from_secs(120),
            )
            .map_err(|why| StepError::retryable(NAME, format!("sending {why}")))?
            .map_err(|e| StepError::retryable(NAME, e.to_string()))?;
        let mut outputs = Map::new();
        if channel.spec.slack.is_some() {
            outputs.insert(
                "slack".into(),
                json!({"threadTS": delivered.thread_ts.unwrap_or_default()}),
            );
        }
        Ok(StepResult::succeeded(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Channel;
    use crate::objects::{MetadataTarget, ProjectObjects};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    /// A project whose one channel is a Slack channel at `api`.
    struct OneChannel {
        api: String,
    }

    impl ProjectObjects for OneChannel {
        fn merge_metadata(
            &self,
            _: MetadataTarget,
            _: &str,
            _: &Map<String, Value>,
        ) -> Result<(), ObjectError> {
            Err(ObjectError::NotFound)
        }
        fn set_freight_alias(&self, _: &str, _: &str) -> Result<String, ObjectError> {
            Err(ObjectError::NotFound)
        }
        fn message_channel(&self, kind: &str, name: &str) -> Result<Channel, ObjectError> {
            if (kind, name) != ("MessageChannel", "slack") {
                return Err(ObjectError::NotFound);
            }
            let spec = serde_json::from_value(json!({"secretRef": {"name": "s"},
                "slack": {"channelID": "C1", "apiURL": self.api}}))
            .unwrap();
            Ok(Channel {
                name: "MessageChannel/slack".into(),
                spec,
                secret: [("apiKey".to_string(), "xoxb-1".to_string())].into(),
            })
        }
    }

    /// Slack's `chat.postMessage` for `n` requests: records each body
    /// and answers with a new `ts`.
    fn slack_api(n: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for (i, conn) in l.incoming().take(n).enumerate() {
                let mut s = conn.unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let (mut len, mut auth) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    let l = line.trim_end().to_ascii_lowercase();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if l.starts_with("authorization:") {
                        auth = line.trim_end().to_string();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let mut v: Value = serde_json::from_slice(&body).unwrap();
                v["auth"] = json!(auth);
                seen.lock().unwrap().push(v);
                let answer = format!(r#"{{"ok":true,"ts":"1700.00{i}"}}"#);
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
        });
        (url, got)
    }

    #[test]
    fn the_message_is_delivered_and_its_thread_returned() {
        let (api, got) = slack_api(2);
        let project = OneChannel { api };
        let dir = tempfile::tempdir().unwrap();
        let run = |cfg: Value| {
            crate::git::testutil::with_objects(dir.path(), &project, |ctx| {
                SendMessage.run(ctx, &cfg)
            })
        };
        let first = run(
            json!({"channel": {"kind": "MessageChannel", "name": "slack"},
            "message": "Promotion to prod started"}),
        )
        .unwrap();
        assert_eq!(first.outputs["slack"]["threadTS"], "1700.000");
        let reply = run(
            json!({"channel": {"kind": "MessageChannel", "name": "slack"},
            "message": "done", "slack": {"threadTS": "1700.000", "channelID": "C9"}}),
        )
        .unwrap();
        assert_eq!(reply.outputs["slack"]["threadTS"], "1700.000");
        let got = got.lock().unwrap().clone();
        assert_eq!(got[0]["text"], "Promotion to prod started");
        assert_eq!(got[0]["channel"], "C1");
        assert_eq!(got[0]["auth"], "authorization: Bearer xoxb-1");
        assert_eq!(got[1]["channel"], "C9");
        assert_eq!(got[1]["thread_ts"], "1700.000");
        let missing =
            run(json!({"channel": {"kind": "MessageChannel", "name": "nope"}, "message": "x"}));
        assert!(missing.unwrap_err().to_string().contains("not found"));
    }
}
