//! Slack's Web API, as one narrow port ([`SlackWeb`]: call a method with arguments, get its
//! JSON answer), the HTTPS client for it ([`HttpSlack`]), and the answers Slack gives turned
//! into errors that say whether to try again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// A Web API call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Rate-limited (HTTP 429), a server error or no answer: trying later may succeed.
    #[error("Slack is busy: {0}")]
    Retryable(String),
    /// Slack answered `ok: false` with this error code (`users_not_found`, `invalid_auth`...).
    #[error("Slack refused {method}: {error}")]
    Refused {
        /// The method called.
        method: String,
        /// Slack's error code.
        error: String,
    },
}

impl SlackError {
    /// Slack's error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Refused { error, .. } => Some(error),
            SlackError::Retryable(_) => None,
        }
    }
}

/// Slack's Web API: `method` (`chat.postMessage`, `users.info`...) called with `args` (a JSON
/// object), answering the method's JSON when it says `ok: true`.
pub trait SlackWeb: Send + Sync + 'static {
    /// Calls `method`.
    fn call(
        &self,
        method: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, SlackError>> + Send;
}

impl<W: SlackWeb> SlackWeb for Arc<W> {
    fn call(
        &self,
        method: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, SlackError>> + Send {
        (**self).call(method, args)
    }
}

/// The bot token (`xoxb-…`), kept out of Debug output and logs.
#[derive(Clone)]
pub struct BotToken(String);

impl BotToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into().trim().to_string())
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(…)")
    }
}

/// Slack's Web API over HTTPS. Arguments go form-encoded (every method takes that; nested
/// values such as `blocks` and `view` as JSON text), the token in the Authorization header.
#[derive(Clone)]
pub struct HttpSlack {
    base: String,
    token: BotToken,
    agent: ureq::Agent,
}

/// Where Slack's Web API is.
pub const SLACK_API: &str = "https://slack.com/api";

impl HttpSlack {
    /// A client of the Web API at `base` (no trailing slash: [`SLACK_API`], or a fake in
    /// tests) with the bot token.
    pub fn new(base: &str, token: BotToken) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    fn call_blocking(&self, method: &str, args: &Value) -> Result<Value, SlackError> {
        let form: Vec<(String, String)> = args
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let url = format!("{}/{method}", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token.0))
            .send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| SlackError::Retryable(format!("{method}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 429 {
            let after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_string();
            return Err(SlackError::Retryable(format!(
                "{method}: rate-limited, retry after {after} s"
            )));
        }
        if status >= 500 {
            return Err(SlackError::Retryable(format!("{method}: HTTP {status}")));
        }
        let body: Value = resp.body_mut().read_json().map_err(|e| {
            SlackError::Retryable(format!("{method}: HTTP {status}, not JSON: {e}"))
        })?;
        check(method, body)
    }
}

/// Turns a Web API answer into the method's JSON or its refusal.
pub fn check(method: &str, body: Value) -> Result<Value, SlackError> {
    if body["ok"].as_bool() == Some(true) {
        return Ok(body);
    }
    let error = body["error"]
        .as_str()
        .unwrap_or("unknown_error")
        .to_string();
    if matches!(
        error.as_str(),
        "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    ) {
        return Err(SlackError::Retryable(format!("{method}: {error}")));
    }
    Err(SlackError::Refused {
        method: method.to_string(),
        error,
    })
}

impl SlackWeb for HttpSlack {
    async fn call(&self, method: &str, args: Value) -> Result<Value, SlackError> {
        let me = self.clone();
        let method = method.to_string();
        tokio::task::spawn_blocking(move || me.call_blocking(&method, &args))
            .await
            .map_err(|e| SlackError::Retryable(format!("the call did not finish: {e}")))?
    }
}
