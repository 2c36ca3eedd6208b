//! Slack's request signing (version `v0`): an HMAC-SHA256, keyed with the app's signing secret,
//! over `v0:{X-Slack-Request-Timestamp}:{raw body}`, sent hex-encoded in `X-Slack-Signature`.
//! A request is taken only when the signature matches (compared in constant time) and its
//! timestamp is within five minutes of now; the caller refuses a signature seen before.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const WINDOW_SECS: i64 = 300;

/// Why a request was not taken as Slack's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A header is missing or malformed.
    #[error("the request is not signed: {0}")]
    Unsigned(&'static str),
    /// The timestamp is outside the window (an old request sent again, or a wrong clock).
    #[error("the request's timestamp is {0} s from now, more than five minutes")]
    Stale(i64),
    /// The signature does not match the body.
    #[error("the request's signature does not match")]
    Forged,
    /// The same signed request came before.
    #[error("the request was sent before")]
    Replayed,
}

/// The signing secret, kept out of Debug output and logs.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    /// Wraps a secret as Slack shows it (the app's Basic Information page).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into().trim().as_bytes().to_vec())
    }

    fn mac(&self, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }

    /// The `X-Slack-Signature` Slack would send for `body` at `timestamp` (for tests and
    /// local mode's own requests).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac(&timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("v0={}", hex::encode(tag))
    }

    /// Checks a request's signature headers against its raw body at `now`.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let timestamp = timestamp.ok_or(Refusal::Unsigned("no X-Slack-Request-Timestamp"))?;
        let signature = signature.ok_or(Refusal::Unsigned("no X-Slack-Signature"))?;
        let at: i64 = timestamp
            .parse()
            .map_err(|_| Refusal::Unsigned("X-Slack-Request-Timestamp is not a number"))?;
        let skew = (now.timestamp() - at).abs();
        if skew > WINDOW_SECS {
            return Err(Refusal::Stale(skew));
        }
        let hex_tag = signature
            .strip_prefix("v0=")
            .ok_or(Refusal::Unsigned("X-Slack-Signature is not v0="))?;
        let tag = hex::decode(hex_tag).map_err(|_| Refusal::Forged)?;
        // verify_slice compares in constant time.
        self.mac(timestamp, body)
            .verify_slice(&tag)
            .map_err(|_| Refusal::Forged)
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The example request from Slack's "Verifying requests from Slack" guide.
        let secret = SigningSecret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(secret.sign(1531420618, body), sig);
        assert_eq!(
            secret.verify(Some("1531420618"), Some(sig), body, at(1531420618 + 60)),
            Ok(())
        );
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused() {
        let secret = SigningSecret::new("s3cret");
        let body = b"payload=x";
        let sig = secret.sign(1000, body);
        let now = at(1100);
        assert_eq!(
            secret.verify(Some("1000"), Some(&sig), b"payload=y", now),
            Err(Refusal::Forged)
        );
        let other = SigningSecret::new("other").sign(1000, body);
        assert_eq!(
            secret.verify(Some("1000"), Some(&other), body, now),
            Err(Refusal::Forged)
        );
        assert_eq!(
            secret.verify(Some("1000"), Some(&sig), body, at(1000 + 301)),
            Err(Refusal::Stale(301))
        );
        assert!(matches!(
            secret.verify(None, Some(&sig), body, now),
            Err(Refusal::Unsigned(_))
        ));
        assert!(matches!(
            secret.verify(Some("1000"), Some("v1=00"), body, now),
            Err(Refusal::Unsigned(_))
        ));
        assert_eq!(
            secret.verify(Some("1000"), Some("v0=zz"), body, now),
            Err(Refusal::Forged)
        );
        assert_eq!(format!("{secret:?}"), "SigningSecret(…)");
    }
}
