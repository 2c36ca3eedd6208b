//! The audit trail: one record per transition, chained per request by SHA-256 so that editing,
//! removing or reordering a record is detectable.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lifecycle::Status;
use crate::types::RequestId;

/// The hash a request's chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A person asked.
    Requested,
    /// The request waits for approvers.
    AwaitingApproval,
    /// Granted without approval.
    AutoApproved,
    /// One approver voted yes; more are needed.
    Voted,
    /// Approval is complete.
    Approved,
    /// An approver said no.
    Denied,
    /// The requester withdrew it.
    Cancelled,
    /// Approvers were silent; the next tier was asked.
    Escalated,
    /// Nobody decided in time.
    Expired,
    /// The grant was applied in AWS.
    Activated,
    /// The grant could not be applied.
    Failed,
    /// The requester ended it early.
    Released,
    /// An admin ended it.
    Revoked,
    /// The window was lengthened.
    Extended,
    /// It reached its expiry.
    Ended,
    /// A break-glass grant was reviewed.
    Reviewed,
    /// The sweeper found the grant's statements missing or altered in AWS and restored them.
    DriftRepaired,
    /// The requester was told the grant ends soon (with chat on: a message with Extend).
    ExpiryWarned,
    /// The grant's access could not be removed yet (its database unreachable); retried.
    RemovalPending,
    /// The ended grant's access is gone from AWS: its removal finished (Identity Center's
    /// provisioning included), at this record's time.
    AccessRemoved,
}

impl Action {
    /// The kebab-case name used in records and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Requested => "requested",
            Action::AwaitingApproval => "awaiting-approval",
            Action::AutoApproved => "auto-approved",
            Action::Voted => "voted",
            Action::Approved => "approved",
            Action::Denied => "denied",
            Action::Cancelled => "cancelled",
            Action::Escalated => "escalated",
            Action::Expired => "expired",
            Action::Activated => "activated",
            Action::Failed => "failed",
            Action::Released => "released",
            Action::Revoked => "revoked",
            Action::Extended => "extended",
            Action::Ended => "ended",
            Action::Reviewed => "reviewed",
            Action::DriftRepaired => "drift-repaired",
            Action::ExpiryWarned => "expiry-warned",
            Action::RemovalPending => "removal-pending",
            Action::AccessRemoved => "access-removed",
        }
    }
}

/// The actor for things the system did on its own (expiry, escalation, grants).
pub const SYSTEM: &str = "system";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The request it belongs to.
    pub request_id: RequestId,
    /// 1, 2, 3... within the request.
    pub seq: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: an email, or `system`.
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// The request's status afterwards.
    pub status: Status,
    /// The reason or message given, if any.
    pub message: Option<String>,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 over this record's fields and `prev_hash`.
    pub hash: String,
}

impl AuditEvent {
    /// Builds the record that follows `prev_hash`, computing its hash.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: &RequestId,
        seq: u64,
        at: DateTime<Utc>,
        actor: &str,
        action: Action,
        status: Status,
        message: Option<String>,
        prev_hash: &str,
    ) -> Self {
        let mut e = AuditEvent {
            request_id: request_id.clone(),
            seq,
            at,
            actor: actor.to_string(),
            action,
            status,
            message,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The hash this record should carry: fields are length-prefixed so that no two different
    /// records hash the same input.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let at = self.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let seq = self.seq.to_string();
        let fields: [&str; 8] = [
            &self.prev_hash,
            self.request_id.as_str(),
            &seq,
            &at,
            &self.actor,
            self.action.as_str(),
            self.status.as_str(),
            self.message.as_deref().unwrap_or("\u{0}"),
        ];
        for f in fields {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Where a chain was found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A record's content does not match its hash.
    #[error("record {seq} was altered: its content does not match its hash")]
    Altered {
        /// The record.
        seq: u64,
    },
    /// A record does not follow the one before it.
    #[error("record {seq} does not follow the record before it (removed or reordered records)")]
    Broken {
        /// The record.
        seq: u64,
    },
}

/// Checks a request's records, in order, from the first.
pub fn verify_chain(events: &[AuditEvent]) -> Result<(), ChainError> {
    let mut prev = GENESIS.to_string();
    for (i, e) in events.iter().enumerate() {
        if e.prev_hash != prev || e.seq != i as u64 + 1 {
            return Err(ChainError::Broken { seq: e.seq });
        }
        if e.compute_hash() != e.hash {
            return Err(ChainError::Altered { seq: e.seq });
        }
        prev = e.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Vec<AuditEvent> {
        let id = RequestId::parse("abcdef0123456789").unwrap();
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = AuditEvent::new(
            &id,
            1,
            t,
            "a@x.io",
            Action::Requested,
            Status::Requested,
            Some("why".into()),
            GENESIS,
        );
        let b = AuditEvent::new(
            &id,
            2,
            t,
            SYSTEM,
            Action::AutoApproved,
            Status::Approved,
            None,
            &a.hash,
        );
        let c = AuditEvent::new(
            &id,
            3,
            t,
            SYSTEM,
            Action::Activated,
            Status::Active,
            None,
            &b.hash,
        );
        vec![a, b, c]
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain()), Ok(()));
    }

    #[test]
    fn editing_removing_or_reordering_a_record_is_detected() {
        let mut edited = chain();
        edited[1].actor = "mallory@x.io".into();
        assert_eq!(verify_chain(&edited), Err(ChainError::Altered { seq: 2 }));

        let mut removed = chain();
        removed.remove(1);
        assert_eq!(verify_chain(&removed), Err(ChainError::Broken { seq: 3 }));

        let mut swapped = chain();
        swapped.swap(1, 2);
        assert!(verify_chain(&swapped).is_err());

        let mut rehashed = chain();
        rehashed[1].message = Some("forged".into());
        rehashed[1].hash = rehashed[1].compute_hash();
        assert_eq!(
            verify_chain(&rehashed),
            Err(ChainError::Broken { seq: 3 }),
            "a re-hashed edit breaks the next link"
        );
    }
}
