//! OpenID Connect sign-in, as Kargo's API server does it: the settings
//! (Kargo's `OIDC_*` names), the verifier of ID tokens presented as bearer
//! tokens ([`verify`]), the authorization-code + PKCE flow the CLI and the
//! UI share ([`flow`]) and the HTTP client under them ([`http`]).

pub mod flow;
pub mod http;
pub mod verify;

pub use verify::OidcVerifier;

/// Scopes always asked for (Kargo's `DefaultScopes`).
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email"];

/// OpenID Connect settings (`--oidc-*` flags, or Kargo's `OIDC_*`
/// environment variables).
#[derive(Clone, Debug, Default)]
pub struct OidcConfig {
    /// The provider's issuer URL (`OIDC_ISSUER_URL`); discovery is read
    /// from `<issuer>/.well-known/openid-configuration`.
    pub issuer_url: String,
    /// Client id of the UI and the audience ID tokens must name
    /// (`OIDC_CLIENT_ID`).
    pub client_id: String,
    /// Client id of `kargo login --sso`, when it differs
    /// (`OIDC_CLI_CLIENT_ID`); its tokens are accepted too.
    pub cli_client_id: Option<String>,
    /// Client secret for the UI's code exchange, for providers that want
    /// one (`OIDC_CLIENT_SECRET`); PKCE is used either way.
    pub client_secret: Option<String>,
    /// Scopes asked for on top of [`DEFAULT_SCOPES`]
    /// (`OIDC_ADDITIONAL_SCOPES`).
    pub additional_scopes: Vec<String>,
    /// The claim naming the user (`OIDC_USERNAME_CLAIM`, default `email`).
    pub username_claim: String,
    /// The claim listing the user's groups (default `groups`).
    pub groups_claim: String,
    /// Namespaces whose claim-mapped ServiceAccounts apply everywhere
    /// (`GLOBAL_SERVICE_ACCOUNT_NAMESPACES`).
    pub global_service_account_namespaces: Vec<String>,
}

impl OidcConfig {
    /// Every scope asked for, as Kargo's public configuration lists them.
    pub fn scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect();
        for s in &self.additional_scopes {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// The client ids whose ID tokens are accepted.
    pub fn audiences(&self) -> Vec<String> {
        let mut out = vec![self.client_id.clone()];
        out.extend(
            self.cli_client_id
                .iter()
                .filter(|c| **c != self.client_id)
                .cloned(),
        );
        out
    }
}
