//! Errors as the API answers them, and the extractors' refusals mapped onto them. The rule the
//! document states: 400 when input does not match the schema; 401 without a caller; 403, 404,
//! 409, 410 and 422 when well-formed input is refused by the rules; 503 when the service is
//! busy; 500 with no internals.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Form, FromRequestParts, Json, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jit_contract::patterns::Syntax;
use jit_contract::{ErrorBody, ErrorDetail, Field, FieldError};
use jit_core::lifecycle::LifecycleError;
use jit_core::link::LinkError;
use jit_core::policy::Refusal;
use jit_core::service::ServiceError;
use jit_core::types::{Email, InvalidValue};

use crate::{Caller, Unidentified, MAX_BODY_BYTES};

/// An API error: a status, a stable code, and a message a person can act on.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// Input that does not match the schema.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Well-formed input refused by the rules.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match &e {
            ServiceError::Refused(Refusal::NotEligible { .. } | Refusal::BreakGlassOnly { .. }) => {
                Self::new(S::FORBIDDEN, "not_eligible", msg)
            }
            ServiceError::Refused(Refusal::UnknownBundle { .. }) => {
                Self::new(S::NOT_FOUND, "unknown_bundle", msg)
            }
            ServiceError::Refused(Refusal::TooManyPending { .. }) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "too_many_pending", msg)
            }
            ServiceError::Refused(_) => Self::refused(msg),
            ServiceError::Lifecycle(LifecycleError::NotAllowed(_)) => {
                Self::new(S::FORBIDDEN, "forbidden", msg)
            }
            ServiceError::Lifecycle(
                LifecycleError::WrongState { .. }
                | LifecycleError::StaleExtension
                | LifecycleError::NotYet(_),
            ) => Self::new(S::CONFLICT, "conflict", msg),
            ServiceError::Lifecycle(_) => Self::refused(msg),
            ServiceError::NotFound(_) => Self::new(S::NOT_FOUND, "not_found", msg),
            ServiceError::Link(LinkError::Expired(_)) | ServiceError::LinkUsed => {
                Self::new(S::GONE, "link_gone", msg)
            }
            ServiceError::Link(_) => Self::new(S::FORBIDDEN, "bad_link", msg),
            // The service's own checks run on input the schema took: a rule, not syntax.
            ServiceError::Invalid(_) => Self::refused(msg),
            ServiceError::TooLarge(_) => Self::new(S::UNPROCESSABLE_ENTITY, "too_large", msg),
            ServiceError::Quota(_) => Self::new(S::UNPROCESSABLE_ENTITY, "quota_reached", msg),
            ServiceError::Busy(_) | ServiceError::Retryable(_) => {
                tracing::warn!(error = %e, "busy");
                Self::new(
                    S::SERVICE_UNAVAILABLE,
                    "busy",
                    "the service is busy; try again in a few seconds",
                )
            }
            ServiceError::Unknown(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Self::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

/// The signed-in caller: extracting it answers 401, saying how to sign in, when there is none.
pub struct Me(pub Email);

impl<S: Send + Sync> FromRequestParts<S> for Me {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(Caller(e)) = parts.extensions.get::<Caller>() {
            return Ok(Me(e.clone()));
        }
        let message = match parts.extensions.get::<Unidentified>() {
            Some(Unidentified(why)) => format!("not signed in: {why}"),
            None => "sign in first: no caller identity on this request".to_string(),
        };
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            message,
        ))
    }
}

/// A patterned field, checked against its published syntax (400) and then its range (422).
pub fn field<T: std::str::FromStr<Err = InvalidValue>>(
    name: &str,
    value: &impl Field,
) -> ApiResult<T> {
    value.check().map_err(|e| match e {
        FieldError::Malformed(m) => ApiError::bad_request(format!("{name}: {m}")),
        FieldError::OutOfRange(m) => ApiError::refused(format!("{name}: {m}")),
    })
}

/// A free-text field as published: on one line, within its length, saying something where
/// required (400 naming the character or the length otherwise).
pub fn plain<F: Field>(name: &str, value: &F) -> ApiResult<String> {
    let text = value.text();
    if F::SYNTAX.matches(text) {
        return Ok(text.to_string());
    }
    let max = match F::SYNTAX {
        Syntax::PlainText { max } | Syntax::SomePlainText { max } => max,
        _ => usize::MAX,
    };
    Err(ApiError::bad_request(
        match jit_core::text::forbidden_char(text) {
            Some((at, c)) => format!(
                "{name} contains U+{:04X} at character {at} (a line break, control or \
                 text-direction character): write it on one line, as plain text",
                c as u32
            ),
            None if text.chars().count() > max => {
                format!("{name} is too long: at most {max} characters")
            }
            None => format!("{name}: say why"),
        },
    ))
}

/// A JSON body, or what was wrong with it.
pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    b.map(|Json(t)| t).map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "send the body as JSON with Content-Type: application/json",
        ),
        _ => ApiError::bad_request(format!(
            "the body is not what this route takes: {}",
            e.body_text()
        )),
    })
}

/// A query string, or what was wrong with it.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))
}

/// Path parameters, or what was wrong with them.
pub fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(t)| t)
        .map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
}

/// A form, or what was wrong with it (413 and 415 keep their status).
pub fn form<T>(f: Result<Form<T>, FormRejection>) -> ApiResult<T> {
    f.map(|Form(t)| t).map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the form is over {MAX_BODY_BYTES} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_a_form",
            "send the form as application/x-www-form-urlencoded",
        ),
        _ => ApiError::bad_request(format!(
            "the form is not what this page takes: {}",
            e.body_text()
        )),
    })
}
