//! An OpenID provider for tests, on a loopback port: a discovery
//! document, a JWKS with one RSA key (a fixed test key), an authorize
//! endpoint that signs in one configured user at once and redirects back
//! with `code` and `state`, and a token endpoint that checks the PKCE
//! verifier (S256) and issues real RS256-signed ID tokens and refresh
//! tokens. Tokens can also be minted directly, well-formed or not.

use openidconnect::PrivateSigningKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const KID: &str = "test-key";

fn fixture_key(file: &str) -> CoreRsaPrivateSigningKey {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file),
    )
    .unwrap();
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(openidconnect::JsonWebKeyId::new(KID.into())))
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Pending {
    challenge: String,
    redirect_uri: String,
    nonce: String,
}

struct State {
    issuer: String,
    client_id: String,
    user: Value,
    key: CoreRsaPrivateSigningKey,
    /// Lifetime of the ID tokens the token endpoint issues.
    ttl: i64,
    codes: Mutex<HashMap<String, Pending>>,
    refresh_tokens: Mutex<Vec<String>>,
    exchanged: AtomicUsize,
    refreshed: AtomicUsize,
}

impl State {
    fn sign(&self, key: &CoreRsaPrivateSigningKey, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": KID, "typ": "JWT"});
        let msg = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                msg.as_bytes(),
            )
            .unwrap();
        format!("{msg}.{}", b64(&sig))
    }

    fn claims(&self, aud: &str, ttl: i64, nonce: Option<&str>) -> Value {
        let now = jiff::Timestamp::now().as_second();
        let mut c = json!({"iss": self.issuer, "aud": aud, "iat": now, "exp": now + ttl});
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        for (k, v) in self.user.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }
}

/// A running provider.
pub struct Provider {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    state: Arc<State>,
    _rt: tokio::runtime::Runtime,
}

impl Provider {
    /// A provider for `client_id` signing in `user` (claims such as
    /// `sub`, `email`, `groups`); the token endpoint's ID tokens live
    /// `ttl` seconds.
    pub fn start(client_id: &str, user: Value, ttl: i64) -> Provider {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            user,
            key: fixture_key("oidc-signing-key.pem"),
            ttl,
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(Vec::new()),
            exchanged: AtomicUsize::new(0),
            refreshed: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/keys", axum::routing::get(keys))
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .with_state(state.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        Provider {
            issuer,
            state,
            _rt: rt,
        }
    }

    /// A valid ID token of the user for audience `aud`, living `ttl`
    /// seconds (negative: already expired).
    pub fn id_token(&self, aud: &str, ttl: i64) -> String {
        self.state
            .sign(&self.state.key, &self.state.claims(aud, ttl, None))
            .to_string()
    }

    /// An ID token like [`Provider::id_token`] but signed by another
    /// key under the same key id.
    pub fn forged_token(&self, aud: &str) -> String {
        self.state.sign(
            &fixture_key("oidc-other-key.pem"),
            &self.state.claims(aud, 300, None),
        )
    }

    /// Code exchanges whose PKCE verifier matched.
    pub fn exchanged(&self) -> usize {
        self.state.exchanged.load(Ordering::SeqCst)
    }

    /// Refresh-token grants served.
    pub fn refreshed(&self) -> usize {
        self.state.refreshed.load(Ordering::SeqCst)
    }
}

async fn discovery(
    axum::extract::State(st): axum::extract::State<Arc<State>>,
) -> axum::Json<Value> {
    let i = &st.issuer;
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn keys(axum::extract::State(st): axum::extract::State<Arc<State>>) -> axum::Json<Value> {
    let set = CoreJsonWebKeySet::new(vec![st.key.as_verification_key()]);
    axum::Json(serde_json::to_value(&set).unwrap())
}

fn bad(msg: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        http::StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_request", "error_description": msg})),
    )
        .into_response()
}

async fn authorize(
    axum::extract::State(st): axum::extract::State<Arc<State>>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != st.client_id {
        return bad("unknown client");
    }
    if get("response_type") != "code" || get("code_challenge_method") != "S256" {
        return bad("only the code flow with PKCE S256");
    }
    if get("code_challenge").is_empty() || get("state").is_empty() {
        return bad("code_challenge and state are required");
    }
    let code = b64(&rand_bytes());
    st.codes.lock().unwrap().insert(
        code.clone(),
        Pending {
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
            nonce: get("nonce"),
        },
    );
    let sep = if get("redirect_uri").contains('?') {
        '&'
    } else {
        '?'
    };
    let to = format!(
        "{}{sep}code={code}&state={}",
        get("redirect_uri"),
        url_escape(&get("state"))
    );
    (http::StatusCode::FOUND, [(http::header::LOCATION, to)]).into_response()
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

async fn token(
    axum::extract::State(st): axum::extract::State<Arc<State>>,
    axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let nonce = match get("grant_type").as_str() {
        "authorization_code" => {
            let Some(p) = st.codes.lock().unwrap().remove(&get("code")) else {
                return bad("unknown or used code");
            };
            let digest =
                ring::digest::digest(&ring::digest::SHA256, get("code_verifier").as_bytes());
            if b64(digest.as_ref()) != p.challenge {
                return bad("the PKCE code verifier does not match the challenge");
            }
            if get("redirect_uri") != p.redirect_uri {
                return bad("redirect_uri differs from the authorize request's");
            }
            st.exchanged.fetch_add(1, Ordering::SeqCst);
            Some(p.nonce)
        }
        "refresh_token" => {
            if !st
                .refresh_tokens
                .lock()
                .unwrap()
                .contains(&get("refresh_token"))
            {
                return bad("unknown refresh token");
            }
            st.refreshed.fetch_add(1, Ordering::SeqCst);
            None
        }
        other => return bad(&format!("grant_type {other}")),
    };
    let refresh = format!("rt-{}", b64(&rand_bytes()));
    st.refresh_tokens.lock().unwrap().push(refresh.clone());
    let id = st.sign(&st.key, &st.claims(&st.client_id, st.ttl, nonce.as_deref()));
    axum::Json(json!({
        "access_token": format!("at-{}", b64(&rand_bytes())),
        "token_type": "Bearer",
        "expires_in": st.ttl,
        "id_token": id,
        "refresh_token": refresh,
    }))
    .into_response()
}
