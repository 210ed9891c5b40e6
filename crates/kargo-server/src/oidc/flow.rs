//! The authorization-code flow with PKCE (S256) that `kargo login --sso`
//! and the UI's "Sign in with SSO" share: [`begin`] makes the authorize
//! URL with a fresh state, nonce and code verifier; [`finish`] trades the
//! code the provider sent back (with the verifier) for the ID token and
//! refresh token; [`refresh`] trades a refresh token for a new ID token.

use super::http::OidcHttp;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
};

/// A started sign-in: where to send the browser and what to check when
/// it comes back.
#[derive(Clone, Debug)]
pub struct Started {
    /// The provider's authorize URL, with client id, redirect URI,
    /// scopes, state, nonce and the S256 code challenge.
    pub url: String,
    /// The `state` the callback must bring back.
    pub state: String,
    /// The PKCE code verifier (kept by the client, sent with the code).
    pub verifier: String,
}

/// What a finished sign-in yields.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The ID token: the bearer token for Kargo's API.
    pub id_token: String,
    /// A refresh token, when the provider gave one (`offline_access`).
    pub refresh_token: Option<String>,
}

/// The query of a redirect back from the provider: `code` and `state`,
/// or `error` and `error_description`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Callback {
    /// The authorization code.
    #[serde(default)]
    pub code: String,
    /// The state the sign-in started with.
    #[serde(default)]
    pub state: String,
    /// The provider's error code, when it refused.
    #[serde(default)]
    pub error: String,
    /// Its explanation.
    #[serde(default)]
    pub error_description: String,
}

/// Reads the provider's discovery document (and key set).
pub async fn discover(issuer: &str, http: &OidcHttp) -> Result<CoreProviderMetadata, String> {
    let issuer =
        IssuerUrl::new(issuer.to_string()).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
    CoreProviderMetadata::discover_async(issuer.clone(), http)
        .await
        .map_err(|e| format!("reading the discovery document of {}: {e}", issuer.as_str()))
}

/// Whether the provider lists `offline_access` (then a refresh token can
/// be asked for, as Kargo's CLI does).
pub fn offers_refresh(metadata: &CoreProviderMetadata) -> bool {
    metadata
        .scopes_supported()
        .is_some_and(|s| s.iter().any(|s| s.as_str() == "offline_access"))
}

fn client(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> Result<CodeFlowClient, String> {
    let redirect =
        RedirectUrl::new(redirect.to_string()).map_err(|e| format!("redirect URI: {e}"))?;
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(redirect))
}

/// The client type [`CoreClient::from_provider_metadata`] makes.
type CodeFlowClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Starts a sign-in of `client_id` returning to `redirect` with `scopes`.
pub fn begin(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    redirect: &str,
    scopes: &[String],
) -> Result<Started, String> {
    let c = client(metadata, client_id, None, redirect)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, _nonce) = c
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        // `openid` is always added by the client.
        .add_scopes(
            scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .map(|s| Scope::new(s.clone())),
        )
        .set_pkce_challenge(challenge)
        .url();
    Ok(Started {
        url: url.to_string(),
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
    })
}

fn tokens(res: &openidconnect::core::CoreTokenResponse) -> Result<Tokens, String> {
    use openidconnect::TokenResponse;
    let id = res
        .id_token()
        .ok_or("the provider answered without an ID token")?;
    Ok(Tokens {
        id_token: id.to_string(),
        refresh_token: res.refresh_token().map(|r| r.secret().clone()),
    })
}

/// Trades `code` (and the PKCE `verifier`) for tokens at the token endpoint.
pub async fn finish(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
    code: &str,
    verifier: &str,
    http: &OidcHttp,
) -> Result<Tokens, String> {
    let c = client(metadata, client_id, secret, redirect)?;
    let res = c
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| format!("the provider has no token endpoint: {e}"))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(http)
        .await
        .map_err(|e| format!("exchanging the authorization code: {}", describe(&e)))?;
    tokens(&res)
}

/// Trades a refresh token for fresh tokens (the old refresh token is
/// kept when the provider sends no new one).
pub async fn refresh(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    refresh_token: &str,
    http: &OidcHttp,
) -> Result<Tokens, String> {
    let c = client(metadata, client_id, None, "http://localhost/")?;
    let rt = RefreshToken::new(refresh_token.to_string());
    let res = c
        .exchange_refresh_token(&rt)
        .map_err(|e| format!("the provider has no token endpoint: {e}"))?
        .request_async(http)
        .await
        .map_err(|e| format!("refreshing the ID token: {}", describe(&e)))?;
    let mut t = tokens(&res)?;
    t.refresh_token
        .get_or_insert_with(|| refresh_token.to_string());
    Ok(t)
}

/// A token request error with its causes.
fn describe(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
