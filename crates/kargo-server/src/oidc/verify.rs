//! Verifies ID tokens presented as bearer tokens, as Kargo's API server
//! does with go-oidc: the provider's discovery document and JWKS are read
//! on first use (and again after a failure), the key set is read again
//! when a token names a key it does not hold (key rotation; at most once
//! every few seconds), and a token must be signed by one of those keys
//! with an algorithm the provider advertises, name the issuer, name one
//! of the accepted client ids as audience and be unexpired. The user is
//! the username claim's value, its groups the groups claim's, and every
//! string claim is kept for mapping to ServiceAccounts.

use super::OidcConfig;
use super::http::OidcHttp;
use kargo_rbac::{OidcIdentity, UserInfo};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce, SignatureVerificationError,
};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Shortest time between two reads of the key set for unknown keys.
const JWKS_REFRESH_GAP: Duration = Duration::from_secs(5);

/// The provider as last read.
struct Provider {
    metadata: CoreProviderMetadata,
    read_at: Instant,
}

/// Verifies ID tokens of one provider.
pub struct OidcVerifier {
    cfg: Arc<OidcConfig>,
    issuer: IssuerUrl,
    http: OidcHttp,
    provider: Mutex<Option<Arc<Provider>>>,
}

/// The claims of a JWT's payload, unverified: to tell which issuer a
/// bearer token claims to come from.
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

impl OidcVerifier {
    /// A verifier for `cfg`'s provider (nothing is fetched yet).
    pub fn new(cfg: Arc<OidcConfig>) -> Result<Self, String> {
        let issuer = IssuerUrl::new(cfg.issuer_url.clone())
            .map_err(|e| format!("OIDC issuer URL {:?}: {e}", cfg.issuer_url))?;
        Ok(Self {
            http: OidcHttp::new(false).map_err(|e| e.0)?,
            issuer,
            cfg,
            provider: Mutex::new(None),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OidcConfig {
        &self.cfg
    }

    /// The HTTP client calls to the provider go through.
    pub fn http(&self) -> &OidcHttp {
        &self.http
    }

    /// Whether `token` says it was issued by this provider (unverified:
    /// decides only which verification it gets, as Kargo dispatches).
    pub fn claims_issuer(&self, token: &str) -> bool {
        unverified_claims(token)
            .and_then(|c| c.get("iss").and_then(Value::as_str).map(String::from))
            .is_some_and(|iss| iss == self.issuer.as_str())
    }

    /// The provider's metadata (with its key set), read on first use.
    pub async fn metadata(&self) -> Result<CoreProviderMetadata, String> {
        Ok(self.provider(false).await?.metadata.clone())
    }

    async fn provider(&self, reread_keys: bool) -> Result<Arc<Provider>, String> {
        let mut slot = self.provider.lock().await;
        match slot.as_ref() {
            Some(p) if !reread_keys => return Ok(p.clone()),
            Some(p) if p.read_at.elapsed() < JWKS_REFRESH_GAP => return Ok(p.clone()),
            Some(p) => {
                let jwks = CoreJsonWebKeySet::fetch_async(p.metadata.jwks_uri(), &self.http)
                    .await
                    .map_err(|e| format!("reading the OIDC provider's keys: {e}"))?;
                let fresh = Arc::new(Provider {
                    metadata: p.metadata.clone().set_jwks(jwks),
                    read_at: Instant::now(),
                });
                *slot = Some(fresh.clone());
                return Ok(fresh);
            }
            None => {}
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                format!(
                    "reading the OIDC provider's discovery document at {}: {e}",
                    self.issuer.as_str()
                )
            })?;
        let p = Arc::new(Provider {
            metadata,
            read_at: Instant::now(),
        });
        *slot = Some(p.clone());
        Ok(p)
    }

    fn verifier<'a>(&self, p: &'a Provider, client_id: &str) -> CoreIdTokenVerifier<'a> {
        let keys = p.metadata.jwks().clone();
        let id = ClientId::new(client_id.to_string());
        let v = match &self.cfg.client_secret {
            Some(s) if client_id == self.cfg.client_id => {
                CoreIdTokenVerifier::new_confidential_client(
                    id,
                    ClientSecret::new(s.clone()),
                    self.issuer.clone(),
                    keys,
                )
            }
            _ => CoreIdTokenVerifier::new_public_client(id, self.issuer.clone(), keys),
        };
        v.set_allowed_algs(p.metadata.id_token_signing_alg_values_supported().clone())
    }

    /// Checks `token` against every accepted audience; the first error
    /// when none accepts it.
    fn check(&self, p: &Provider, token: &CoreIdToken) -> Result<(), ClaimsVerificationError> {
        let mut first = None;
        for aud in self.cfg.audiences() {
            // A bearer token carries no nonce of ours to compare.
            match token.claims(&self.verifier(p, &aud), |_: Option<&Nonce>| Ok(())) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or_else(|| ClaimsVerificationError::Other("no client id".into())))
    }

    /// The user `token` authenticates, or why it does not.
    pub async fn verify(&self, token: &str) -> Result<UserInfo, String> {
        let parsed = CoreIdToken::from_str(token).map_err(|e| format!("not an ID token: {e}"))?;
        let p = self.provider(false).await?;
        let mut outcome = self.check(&p, &parsed);
        if matches!(
            outcome,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            ))
        ) {
            let p = self.provider(true).await?;
            outcome = self.check(&p, &parsed);
        }
        outcome.map_err(|e| format!("invalid ID token: {e}"))?;
        let claims = unverified_claims(token).ok_or("invalid ID token: unreadable claims")?;
        Ok(self.user_of(&claims))
    }

    /// The user verified `claims` describe.
    fn user_of(&self, claims: &Map<String, Value>) -> UserInfo {
        let text = |c: &str| claims.get(c).and_then(Value::as_str).map(String::from);
        // As Kargo names the actor: the username claim, else the email,
        // else the subject.
        let (claim, name) = match text(&self.cfg.username_claim) {
            Some(n) => (self.cfg.username_claim.clone(), n),
            None => match text("email") {
                Some(e) => ("email".to_string(), e),
                None => ("subject".to_string(), text("sub").unwrap_or_default()),
            },
        };
        let groups = match claims.get(&self.cfg.groups_claim) {
            Some(Value::Array(g)) => g
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(g)) => vec![g.clone()],
            _ => Vec::new(),
        };
        UserInfo::signed_in_with_oidc(
            &name,
            groups,
            OidcIdentity {
                username_claim: claim,
                claims: kargo_rbac::flatten_claims(claims),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_from_the_unverified_payload() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://idp.example.com","sub":"1"}"#)
        );
        let v = OidcVerifier::new(Arc::new(OidcConfig {
            issuer_url: "https://idp.example.com".into(),
            client_id: "kargo".into(),
            username_claim: "email".into(),
            groups_claim: "groups".into(),
            ..OidcConfig::default()
        }))
        .unwrap();
        assert!(v.claims_issuer(&token));
        assert!(!v.claims_issuer("opaque-api-token"));
        let user = v.user_of(&unverified_claims(&token).unwrap());
        assert_eq!(user.name, "1");
        assert_eq!(user.actor(), "subject:1");
    }
}
