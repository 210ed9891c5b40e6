//! The webhook server's own certificates, with no cert-manager: a CA and
//! a serving certificate for the Service's DNS names (and any extra
//! names asked for), kept in the `kubernetes.io/tls` Secret
//! `kargo-webhooks-server-cert` of the Kargo namespace so every replica
//! serves with the same CA. The first replica to start makes it (a POST:
//! of two racing, the second gets 409 and reads the winner's); a replica
//! asked for names the stored certificate lacks makes a new one and
//! replaces it with the resourceVersion it read.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

/// The Secret's name.
pub const SECRET: &str = "kargo-webhooks-server-cert";
/// The annotation listing the names the certificate covers.
const SANS_ANNOTATION: &str = "kargo.akuity.io/subject-alternative-names";
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the server serves with and what the configurations trust.
#[derive(Clone, Debug)]
pub struct WebhookCerts {
    /// The CA (the configurations' `caBundle`).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// Its key.
    pub key_pem: String,
}

/// The names a certificate for Service `name` in `namespace` covers, as
/// the API server dials it, plus `extra`.
pub fn sans(namespace: &str, name: &str, extra: &[String]) -> Vec<String> {
    let mut out = vec![
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ];
    for e in extra {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out
}

fn from_secret(s: &Secret, want: &[String]) -> Option<WebhookCerts> {
    let covered: Vec<&str> = s
        .metadata
        .annotations
        .as_ref()?
        .get(SANS_ANNOTATION)?
        .split(',')
        .collect();
    if !want.iter().all(|w| covered.contains(&w.as_str())) {
        return None;
    }
    let data = s.data.as_ref()?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|t| !t.is_empty())
    };
    Some(WebhookCerts {
        ca_pem: text("ca.crt")?,
        cert_pem: text("tls.crt")?,
        key_pem: text("tls.key")?,
    })
}

fn to_secret(namespace: &str, sans: &[String], c: &WebhookCerts) -> Secret {
    let mut s = Secret {
        type_: Some("kubernetes.io/tls".into()),
        ..Default::default()
    };
    s.metadata.name = Some(SECRET.into());
    s.metadata.namespace = Some(namespace.into());
    s.metadata.annotations = Some(BTreeMap::from([(SANS_ANNOTATION.into(), sans.join(","))]));
    s.data = Some(BTreeMap::from([
        ("ca.crt".into(), ByteString(c.ca_pem.clone().into_bytes())),
        (
            "tls.crt".into(),
            ByteString(c.cert_pem.clone().into_bytes()),
        ),
        ("tls.key".into(), ByteString(c.key_pem.clone().into_bytes())),
    ]));
    s
}

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, kube::Error>, String> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))
}

/// The certificates in the Secret, made (or remade, for new names) when
/// needed.
pub async fn load_or_create(
    client: kube::Client,
    namespace: &str,
    sans: &[String],
) -> Result<WebhookCerts, String> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    for _ in 0..5 {
        let existing = bounded(api.get_opt(SECRET))
            .await?
            .map_err(|e| format!("reading Secret {namespace}/{SECRET}: {e}"))?;
        if let Some(c) = existing.as_ref().and_then(|s| from_secret(s, sans)) {
            return Ok(c);
        }
        let g = crate::tls::generate("kargo webhooks server CA", "kargo webhooks server", sans)
            .map_err(|e| e.to_string())?;
        let certs = WebhookCerts {
            ca_pem: g.ca_pem,
            cert_pem: g.cert_pem,
            key_pem: g.key_pem,
        };
        let mut secret = to_secret(namespace, sans, &certs);
        let written = match existing {
            None => bounded(api.create(&PostParams::default(), &secret)).await,
            Some(old) => {
                secret.metadata.resource_version = old.metadata.resource_version;
                bounded(api.replace(SECRET, &PostParams::default(), &secret)).await
            }
        };
        match written? {
            Ok(_) => return Ok(certs),
            // Another replica wrote first: use what it wrote.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(format!("writing Secret {namespace}/{SECRET}: {e}")),
        }
    }
    Err(format!(
        "Secret {namespace}/{SECRET} kept changing while it was being written"
    ))
}
