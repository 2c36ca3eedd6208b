//! What people do to a request: approve, deny, cancel, release, revoke, review, extend. Each
//! takes its own body, so deny, revoke and review take no duration.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jit_contract::{
    ApproveBody, DbCredentialsView, ErrorBody, ExtendBody, IdPath, MessageBody, RequestView,
};
use jit_core::service::Ending;
use jit_core::types::RequestId;

use crate::error::{body, field, path, plain, ApiResult, Me};
use crate::Api;

fn id(p: Result<Path<IdPath>, PathRejection>) -> ApiResult<RequestId> {
    field("id", &path(p)?.id)
}

fn message(b: Result<Json<MessageBody>, JsonRejection>) -> ApiResult<String> {
    plain("message", &body(b)?.message)
}

/// Approve, optionally for less time than was asked.
#[utoipa::path(post, operation_id = "approve", path = "/v1/requests/{id}/approve", tag = "approvals", params(IdPath), request_body = ApproveBody,
    responses(
        (status = 200, description = "The request afterwards (approved, or still pending for other groups)", body = RequestView),
        (status = 403, description = "The caller may not decide this request", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Already decided, or not pending", body = ErrorBody),
        (status = 422, description = "Refused: the duration is longer than asked or out of range", body = ErrorBody)))]
pub async fn approve<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
    b: Result<Json<ApproveBody>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (id, b) = (id(p)?, body(b)?);
    let message = plain("message", &b.message)?;
    let duration = b
        .duration
        .as_ref()
        .map(|d| field("duration", d))
        .transpose()?;
    let req = app.approve(&me, &id, &message, duration).await?;
    Ok(Json(RequestView::of(&req, None)))
}

/// Deny, with a message.
#[utoipa::path(post, operation_id = "deny", path = "/v1/requests/{id}/deny", tag = "approvals", params(IdPath), request_body = MessageBody,
    responses(
        (status = 200, description = "The request, denied", body = RequestView),
        (status = 403, description = "The caller may not decide this request", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
        (status = 422, description = "Refused: a denial needs a message", body = ErrorBody)))]
pub async fn deny<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
    b: Result<Json<MessageBody>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (id, message) = (id(p)?, message(b)?);
    Ok(Json(RequestView::of(
        &app.deny(&me, &id, &message).await?,
        None,
    )))
}

/// Withdraw a request before it is active (the requester).
#[utoipa::path(post, operation_id = "cancel", path = "/v1/requests/{id}/cancel", tag = "requests", params(IdPath),
    responses(
        (status = 200, description = "The request, cancelled", body = RequestView),
        (status = 403, description = "Only the requester may cancel", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Not pending or approved any more", body = ErrorBody)))]
pub async fn cancel<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
) -> ApiResult<Json<RequestView>> {
    Ok(Json(RequestView::of(
        &app.cancel(&me, &id(p)?).await?,
        None,
    )))
}

/// The answer to an ending: 200 once the access is gone, 202 while it is still being removed.
fn ended(e: Ending) -> (StatusCode, Json<RequestView>) {
    let status = if e.removal.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut view = RequestView::of(&e.request, None);
    view.removal = e.removal;
    (status, Json(view))
}

/// End an active grant early (the requester).
#[utoipa::path(post, operation_id = "release", path = "/v1/requests/{id}/release", tag = "requests", params(IdPath),
    responses(
        (status = 200, description = "The request, released; the access is gone", body = RequestView),
        (status = 202, description = "The request, released; the access is still being removed (`removal` says why and until when at most)", body = RequestView),
        (status = 403, description = "Only the requester may release", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Not active", body = ErrorBody)))]
pub async fn release<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    Ok(ended(app.release(&me, &id(p)?).await?))
}

/// End someone's grant (an admin), with a message.
#[utoipa::path(post, operation_id = "revoke", path = "/v1/requests/{id}/revoke", tag = "admin", params(IdPath), request_body = MessageBody,
    responses(
        (status = 200, description = "The request, revoked; the access is gone", body = RequestView),
        (status = 202, description = "The request, revoked; the access is still being removed (`removal` says why and until when at most)", body = RequestView),
        (status = 403, description = "Only admins may revoke", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Not live", body = ErrorBody),
        (status = 422, description = "Refused: a revocation needs a message", body = ErrorBody)))]
pub async fn revoke<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
    b: Result<Json<MessageBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let (id, message) = (id(p)?, message(b)?);
    Ok(ended(app.revoke(&me, &id, &message).await?))
}

/// Record the review of a break-glass grant (an admin).
#[utoipa::path(post, operation_id = "review", path = "/v1/requests/{id}/review", tag = "admin", params(IdPath), request_body = MessageBody,
    responses(
        (status = 200, description = "The request, reviewed", body = RequestView),
        (status = 403, description = "Only admins may review", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Already reviewed", body = ErrorBody),
        (status = 422, description = "Refused: not a break-glass grant", body = ErrorBody)))]
pub async fn review<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
    b: Result<Json<MessageBody>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (id, message) = (id(p)?, message(b)?);
    Ok(Json(RequestView::of(
        &app.review(&me, &id, &message).await?,
        None,
    )))
}

/// Lengthen an active grant (the requester), under the same approval rule as asking.
#[utoipa::path(post, operation_id = "extend", path = "/v1/requests/{id}/extend", tag = "requests", params(IdPath), request_body = ExtendBody,
    responses(
        (status = 200, description = "The request, extended", body = RequestView),
        (status = 403, description = "Only the requester may extend", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Not active, or changed meanwhile", body = ErrorBody),
        (status = 422, description = "Refused: the flow does not allow it, the total is over the maximum, or it needs approval", body = ErrorBody)))]
pub async fn extend<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
    b: Result<Json<ExtendBody>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (id, b) = (id(p)?, body(b)?);
    let reason = plain("reason", &b.reason)?;
    let by = field("duration", &b.duration)?;
    Ok(Json(RequestView::of(
        &app.extend(&me, &id, by, &reason).await?,
        None,
    )))
}

/// A new password for the caller's active database grant (`postgres` bundles signing in with a
/// password). Each call issues a new one (the previous stops working for new sign-ins); it
/// lasts until the latest expiry of the caller's grants on that instance. Never stored, never
/// sent anywhere else; the answer must not be cached.
#[utoipa::path(post, operation_id = "dbCredentials", path = "/v1/requests/{id}/db-credentials", tag = "requests", params(IdPath),
    responses(
        (status = 200, description = "Where and how to sign in, with the password", body = DbCredentialsView),
        (status = 404, description = "No such request of the caller's", body = ErrorBody),
        (status = 422, description = "Not a database grant with a password, or not active", body = ErrorBody)))]
pub async fn db_credentials<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<IdPath>, PathRejection>,
) -> ApiResult<(
    [(axum::http::HeaderName, &'static str); 2],
    Json<DbCredentialsView>,
)> {
    let c = app.db_credentials(&me, &id(p)?).await?;
    Ok((
        [
            (axum::http::header::CACHE_CONTROL, "no-store"),
            (axum::http::header::PRAGMA, "no-cache"),
        ],
        Json(DbCredentialsView::of(&c)),
    ))
}
