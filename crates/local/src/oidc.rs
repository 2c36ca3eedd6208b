//! Bearer tokens checked as the deployed API's JWT authorizer checks them (API Gateway HTTP
//! API, JWT authorizer), for `jit-local --oidc-issuer`:
//!
//! - the header names a key (`kid`) of the issuer's JWKS, found through its discovery
//!   document, and an RSA algorithm (RS256, RS384, RS512: what the authorizer supports), and
//!   the signature verifies with that key; `alg: none` and any other algorithm are refused;
//! - `iss` is the issuer, exactly;
//! - `aud` contains the audience, or, when the token has no `aud`, `client_id` is it;
//! - `exp` is in the future, `nbf` and `iat` (when present) are not;
//! - `scope` (or `scp`) carries the scope every route requires, when one is set;
//! - and, as the intake function then requires, an `email` claim that is an email address.
//!
//! A key id the cached JWKS lacks makes one refetch (key rotation), at most every 30 seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use jit_core::types::Email;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// What the authorizer is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL (`iss`), whose discovery document names the JWKS.
    pub issuer: String,
    /// The client id public clients sign in with (told to them in `GET /v1/config`).
    pub client_id: String,
    /// The audience a token must carry (`aud`, or `client_id`).
    pub audience: String,
    /// The scope every route requires; `None` when routes require none.
    pub scope: Option<String>,
}

/// Checks bearer tokens against [`Settings`].
pub struct Verifier {
    settings: Settings,
    jwks_uri: String,
    agent: ureq::Agent,
    keys: Mutex<(JwkSet, Instant)>,
}

/// The claims read from a token.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
}

const REFETCH_AFTER: Duration = Duration::from_secs(30);

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .build();
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(tls)
        .build()
        .into()
}

fn get_json(agent: &ureq::Agent, url: &str) -> anyhow::Result<Value> {
    agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?
        .body_mut()
        .read_json()
        .with_context(|| format!("GET {url}: not JSON"))
}

impl Verifier {
    /// Reads the issuer's discovery document and its JWKS (blocking: call at start-up).
    pub fn discover(settings: Settings) -> anyhow::Result<Self> {
        let agent = agent();
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let doc = get_json(&agent, &url)?;
        if doc["issuer"].as_str() != Some(settings.issuer.as_str()) {
            bail!(
                "{url} names the issuer {}, not {}; give --oidc-issuer exactly as the provider names itself",
                doc["issuer"],
                settings.issuer
            );
        }
        let jwks_uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| anyhow!("{url} names no jwks_uri"))?
            .to_string();
        let keys = fetch_keys(&agent, &jwks_uri)?;
        Ok(Self {
            settings,
            jwks_uri,
            agent,
            keys: Mutex::new((keys, Instant::now())),
        })
    }

    /// The settings it checks against.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The caller a token names, or why it is refused (blocking when the JWKS is refetched).
    pub fn verify(&self, token: &str) -> Result<Email, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("the bearer token is not a signed JWT: {e}"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(format!(
                "the token is signed with {:?}; only RS256, RS384 and RS512 are accepted",
                header.alg
            ));
        }
        let kid = header
            .kid
            .ok_or("the token's header names no key (kid)".to_string())?;
        let key = self.key(&kid)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.validate_aud = false; // aud or client_id, below
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "the token has expired; sign in again (jit login)".to_string()
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => format!(
                    "the token was issued by someone else; this API trusts {}",
                    self.settings.issuer
                ),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the token's signature does not verify with the issuer's key".to_string()
                }
                _ => format!("the token is refused: {e}"),
            })?
            .claims;
        self.check(&claims)
    }

    fn check(&self, claims: &Claims) -> Result<Email, String> {
        debug_assert_eq!(claims.iss, self.settings.issuer);
        // As API Gateway: `aud` when the token has one, `client_id` only when it has none.
        let audience = &self.settings.audience;
        let for_us = match &claims.aud {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
            Some(_) => false,
            None => claims.client_id.as_deref() == Some(audience.as_str()),
        };
        if !for_us {
            return Err(format!(
                "the token is not for this API: its audience is not {audience}"
            ));
        }
        if let Some(iat) = claims.iat {
            if iat > chrono::Utc::now().timestamp() {
                return Err("the token was issued in the future".to_string());
            }
        }
        if let Some(needed) = &self.settings.scope {
            let mut granted: Vec<&str> = claims
                .scope
                .as_deref()
                .map(|s| s.split(' ').collect())
                .unwrap_or_default();
            match &claims.scp {
                Some(Value::String(s)) => granted.extend(s.split(' ')),
                Some(Value::Array(all)) => granted.extend(all.iter().filter_map(Value::as_str)),
                _ => {}
            }
            if !granted.contains(&needed.as_str()) {
                return Err(format!("the token lacks the scope {needed}"));
            }
        }
        let email = claims
            .email
            .as_deref()
            .ok_or("the token carries no email claim; the IdP must put the person's email in the access token")?;
        Email::parse(email).map_err(|e| format!("the token's email claim: {e}"))
    }

    fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let find = |set: &JwkSet| {
            set.find(kid)
                .map(|jwk| DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid}: {e}")))
        };
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = find(&keys.0) {
            return k;
        }
        if keys.1.elapsed() >= REFETCH_AFTER {
            if let Ok(fresh) = fetch_keys(&self.agent, &self.jwks_uri) {
                *keys = (fresh, Instant::now());
                if let Some(k) = find(&keys.0) {
                    return k;
                }
            }
        }
        Err(format!(
            "the token names a key ({kid}) the issuer does not publish"
        ))
    }
}

fn fetch_keys(agent: &ureq::Agent, jwks_uri: &str) -> anyhow::Result<JwkSet> {
    serde_json::from_value(get_json(agent, jwks_uri)?)
        .with_context(|| format!("{jwks_uri}: not a JWK set"))
}
