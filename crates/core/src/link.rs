//! Signed decision links: an approver's approve/deny link carries an HMAC-SHA256 token naming
//! the request, the approver, the tier, an expiry and a nonce. The signature is checked before
//! anything in the token is believed; single use is enforced by the store recording the nonce.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::types::{Email, RequestId};

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, so a huge path segment is refused before any work.
pub const MAX_TOKEN_LEN: usize = 1_024;
/// Shortest signing key accepted.
pub const MIN_KEY_LEN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The request to decide.
    #[serde(rename = "r")]
    pub request_id: RequestId,
    /// The approver the link was sent to.
    #[serde(rename = "a")]
    pub approver: Email,
    /// The tier they were asked at.
    #[serde(rename = "t")]
    pub tier: usize,
    /// Unix seconds after which the link is dead.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Random, single-use.
    #[serde(rename = "n")]
    pub nonce: String,
}

/// Why a token was refused. Each has its own page, so people know what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token this product could have made.
    #[error("this link is not valid: it may have been cut short or altered; open it from the email again")]
    Malformed,
    /// The signature does not match.
    #[error("this link's signature does not match: it was not issued by this service")]
    Forged,
    /// Past its expiry.
    #[error("this link expired at {0}; if the request still waits, decide it with the jit command (jit approvals) or in your team's jit portal")]
    Expired(DateTime<Utc>),
    /// Used by someone other than the approver it names.
    #[error("this link was sent to another approver; use the link from your own email")]
    WrongApprover,
}

fn mac(key: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(payload);
    mac
}

/// A signing key too short to be safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the link-signing key must be at least {MIN_KEY_LEN} bytes; it is {0}")]
pub struct WeakKey(pub usize);

/// Signs decision tokens with the current key and verifies them with it or, during a
/// rotation, with the previous one. Each token names its key by id (a hash of the key, not the
/// key), so the right key is chosen without trying both.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
    id: String,
    previous: Option<(Vec<u8>, String)>,
}

/// What is signed: the claims and the id of the key that signed them.
#[derive(Serialize, Deserialize)]
struct Signed {
    #[serde(flatten)]
    claims: LinkClaims,
    /// The signing key's id; absent on tokens made before keys had ids (the current key).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
}

/// A key's id: 8 hex digits of a hash of it, so a token can name its key without revealing it.
fn key_id(key: &[u8]) -> String {
    use sha2::Digest;
    let digest = Sha256::digest([b"jit link key id:".as_slice(), key].concat());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner { key: <redacted> }")
    }
}

impl LinkSigner {
    /// A signer for `key` (at least 32 bytes).
    pub fn new(key: &[u8]) -> Result<Self, WeakKey> {
        if key.len() < MIN_KEY_LEN {
            return Err(WeakKey(key.len()));
        }
        Ok(Self {
            key: key.to_vec(),
            id: key_id(key),
            previous: None,
        })
    }

    /// A signer for `key` that still accepts tokens signed with `previous` (a rotation: links
    /// already sent keep working for their lifetime).
    pub fn with_previous(key: &[u8], previous: &[u8]) -> Result<Self, WeakKey> {
        if previous.len() < MIN_KEY_LEN {
            return Err(WeakKey(previous.len()));
        }
        Ok(Self {
            previous: Some((previous.to_vec(), key_id(previous))),
            ..Self::new(key)?
        })
    }

    /// A signer for another kind of link, with a key derived from this one, so that a token
    /// made for one purpose (a prompt's request form) never verifies for another (a decision).
    /// Keeps the key ids of this signer, so a derived token names the key it came from.
    pub fn derive(&self, purpose: &str) -> Self {
        let derived = |key: &[u8]| {
            mac(key, purpose.as_bytes())
                .finalize()
                .into_bytes()
                .to_vec()
        };
        Self {
            key: derived(&self.key),
            id: self.id.clone(),
            previous: self
                .previous
                .as_ref()
                .map(|(key, id)| (derived(key), id.clone())),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        mac(&self.key, payload)
    }

    /// `base64url(claims JSON) "." base64url(HMAC)`.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        let signed = Signed {
            claims: claims.clone(),
            key_id: Some(self.id.clone()),
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).expect("claims serialize"));
        let tag = URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes()).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Checks the signature first (in constant time), then expiry, then, when `user` is given,
    /// that it is the approver the link names.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
        user: Option<&Email>,
    ) -> Result<LinkClaims, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Malformed)?;
        // The key id only chooses which key checks the signature; nothing else in the token is
        // believed before that check.
        let signed: Signed = serde_json::from_slice(&raw).map_err(|_| LinkError::Malformed)?;
        let key = match (&signed.key_id, &self.previous) {
            (Some(id), Some((previous, previous_id))) if id == previous_id && *id != self.id => {
                previous.as_slice()
            }
            _ => self.key.as_slice(),
        };
        mac(key, payload.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| LinkError::Forged)?;
        let claims = signed.claims;
        let expires = DateTime::from_timestamp(claims.expires, 0).ok_or(LinkError::Malformed)?;
        if now >= expires {
            return Err(LinkError::Expired(expires));
        }
        if user.is_some_and(|u| *u != claims.approver) {
            return Err(LinkError::WrongApprover);
        }
        Ok(claims)
    }
}

/// A fresh random nonce (128 bits, hex).
pub fn nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> LinkClaims {
        LinkClaims {
            request_id: RequestId::parse("abcd1234abcd").unwrap(),
            approver: Email::parse("dave@example.com").unwrap(),
            tier: 0,
            expires,
            nonce: nonce(),
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let s = LinkSigner::new(&[7; 32]).unwrap();
        let c = claims(2_000);
        let token = s.sign(&c);
        assert!(token.len() < 300 && !token.contains('/') && !token.contains('+'));
        assert_eq!(s.verify(&token, at(1_000), Some(&c.approver)).unwrap(), c);
    }

    #[test]
    fn forged_expired_wrong_approver_and_garbage_tokens_get_distinct_errors() {
        let s = LinkSigner::new(&[7; 32]).unwrap();
        let token = s.sign(&claims(2_000));
        let other = LinkSigner::new(&[8; 32]).unwrap();
        assert_eq!(
            other.verify(&token, at(1_000), None),
            Err(LinkError::Forged)
        );

        // Swap in a payload naming someone else, keeping the old signature.
        let mut evil = claims(9_999);
        evil.approver = Email::parse("mallory@example.com").unwrap();
        let evil_payload = s.sign(&evil).split_once('.').unwrap().0.to_string();
        let spliced = format!("{evil_payload}.{}", token.split_once('.').unwrap().1);
        assert_eq!(s.verify(&spliced, at(1_000), None), Err(LinkError::Forged));

        assert_eq!(
            s.verify(&token, at(2_000), None),
            Err(LinkError::Expired(at(2_000)))
        );
        let bob = Email::parse("bob@example.com").unwrap();
        assert_eq!(
            s.verify(&token, at(1_000), Some(&bob)),
            Err(LinkError::WrongApprover)
        );
        assert_eq!(
            s.verify("nodot", at(1_000), None),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            s.verify("a.!!!", at(1_000), None),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            s.verify(&"a".repeat(2_000), at(1_000), None),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn short_keys_are_refused_and_never_printed() {
        assert_eq!(LinkSigner::new(b"short").unwrap_err(), WeakKey(5));
        let s = LinkSigner::new(b"a-secret-key-that-is-long-enough!").unwrap();
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn a_rotation_keeps_links_signed_with_the_previous_key_working() {
        let old = LinkSigner::new(b"the-old-key-of-at-least-32-bytes!!").unwrap();
        let new = LinkSigner::with_previous(
            b"the-new-key-of-at-least-32-bytes!!",
            b"the-old-key-of-at-least-32-bytes!!",
        )
        .unwrap();
        let c = claims(2_000_000_000);
        let before = old.sign(&c);
        assert_eq!(
            new.verify(&before, at(0), None).unwrap(),
            c,
            "an old link still works"
        );
        let after = new.sign(&c);
        assert_eq!(new.verify(&after, at(0), None).unwrap(), c);
        assert_eq!(old.verify(&after, at(0), None), Err(LinkError::Forged));
        // Derived signers (prompt links) rotate with their base.
        let p_old = old.derive("prompts");
        let p_new = new.derive("prompts");
        assert_eq!(p_new.verify(&p_old.sign(&c), at(0), None).unwrap(), c);
        assert_eq!(
            new.verify(&p_old.sign(&c), at(0), None),
            Err(LinkError::Forged)
        );
        // Once the previous key is dropped, its links stop working.
        let later = LinkSigner::new(b"the-new-key-of-at-least-32-bytes!!").unwrap();
        assert_eq!(later.verify(&before, at(0), None), Err(LinkError::Forged));
        assert_eq!(later.verify(&after, at(0), None).unwrap(), c);
        assert!(
            LinkSigner::with_previous(b"the-new-key-of-at-least-32-bytes!!", b"short").is_err()
        );
    }
}
