//! Turning SDK errors into what the ports care about: retry later, a conflict, a missing
//! resource, or anything else (kept whole, with its source chain).

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// The part of an SDK error a port acts on.
#[derive(Debug)]
pub enum Fault {
    /// Throttled, timed out, or a transient server error: retrying later may succeed.
    Retryable(String),
    /// A concurrent change (ConflictException, TransactionConflict).
    Conflict(String),
    /// The resource does not exist (ResourceNotFoundException, NoSuchEntity, NotFoundException).
    NotFound(String),
    /// A conditional write's condition did not hold.
    ConditionFailed(String),
    /// Anything else.
    Other(anyhow::Error),
}

const RETRYABLE: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];
const CONFLICT: &[&str] = &[
    "ConflictException",
    "TransactionConflictException",
    "ConcurrentModification",
    "ConcurrentModificationException",
];
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFoundException",
];

/// An answer's HTTP status, for errors whose type says nothing (a bare 500 from a proxy or a
/// load balancer has no error code).
pub trait HttpStatus {
    /// The status code.
    fn http_status(&self) -> u16;
}

impl HttpStatus for aws_sdk_dynamodb::config::http::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classifies any SDK error by its error code, or by its HTTP status where it has none.
pub fn fault<E, R>(err: SdkError<E, R>) -> Fault
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: HttpStatus + Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = err.message().map(str::to_string).unwrap_or_default();
    let said = |c: &str| {
        if message.is_empty() {
            c.to_string()
        } else {
            format!("{c}: {message}")
        }
    };
    match (&err, code.as_deref()) {
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
        ) => Fault::Retryable(format!("{:#}", anyhow::Error::new(err))),
        (_, Some(c)) if RETRYABLE.contains(&c) => Fault::Retryable(said(c)),
        // A server error with no code (a bare 500 or 503 on the way) is as transient as one
        // with: retry it rather than fail a grant for good.
        (SdkError::ServiceError(e), None) if e.raw().http_status() >= 500 => {
            Fault::Retryable(format!(
                "{} answered HTTP {}",
                operation::<E>(),
                e.raw().http_status()
            ))
        }
        (_, Some(c)) if CONFLICT.contains(&c) => Fault::Conflict(said(c)),
        (_, Some(c)) if NOT_FOUND.contains(&c) => Fault::NotFound(said(c)),
        (_, Some("ConditionalCheckFailedException")) => Fault::ConditionFailed(message),
        // Say which call failed and what AWS said, not the SDK's bare "service error"; the
        // whole error stays underneath for the log.
        (_, code) => {
            let said = match code {
                Some(c) => said(c),
                None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            };
            let context = format!("{} failed: {said}", operation::<E>());
            Fault::Other(anyhow::Error::new(err).context(context))
        }
    }
}

/// The AWS operation an SDK error type belongs to: `…::PutInlinePolicyToPermissionSetError`
/// names `PutInlinePolicyToPermissionSet`.
fn operation<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    let last = name.rsplit("::").next().unwrap_or(name);
    last.strip_suffix("Error").unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_type_names_its_operation() {
        assert_eq!(
            operation::<aws_sdk_dynamodb::operation::put_item::PutItemError>(),
            "PutItem"
        );
    }
}
