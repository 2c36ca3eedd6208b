//! Asking and looking: `POST /v1/requests` (and its dry run, `POST /v1/requests/preview`),
//! `GET /v1/requests`, `GET /v1/requests/{id}` and `GET /v1/approvals`.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use jit_contract::{
    ApprovalList, ErrorBody, IdPath, ListQuery, NewRequest, PreviewView, RequestList, RequestView,
    RoomView, MAX_ACCOUNTS,
};
use jit_core::plan::POLICY_BUDGET;
use jit_core::policy::RequestInput;
use jit_core::types::{AccountId, RequestId};

use crate::error::{body, field, path, plain, query, ApiError, ApiResult, Me};
use crate::Api;

/// Ask for a bundle: granted at once, or pending with the approval it needs.
#[utoipa::path(post, operation_id = "submit_request", path = "/v1/requests", tag = "requests", request_body = NewRequest,
    responses(
        (status = 201, description = "The request, approved or pending", body = RequestView),
        (status = 403, description = "Not eligible for any flow that offers the bundle", body = ErrorBody),
        (status = 404, description = "No such bundle", body = ErrorBody),
        (status = 422, description = "Refused by the rules (duration, reason, ticket, accounts, room in the container); the message says which", body = ErrorBody)))]
pub async fn submit<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    b: Result<Json<NewRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let req = app.submit(&me, input(body(b)?)?).await?;
    Ok((StatusCode::CREATED, Json(RequestView::of(&req, None))))
}

/// What asking would do now, without asking: the flow, the approval it would need (or that it
/// would be granted at once), the longest grant, and the room left in the caller's container.
/// The same policy as `POST /v1/requests`, refused the same way; nothing is stored or sent.
#[utoipa::path(post, operation_id = "preview_request", path = "/v1/requests/preview", tag = "requests", request_body = NewRequest,
    responses(
        (status = 200, description = "What the request would be", body = PreviewView),
        (status = 403, description = "Not eligible for any flow that offers the bundle", body = ErrorBody),
        (status = 404, description = "No such bundle", body = ErrorBody),
        (status = 422, description = "It would be refused by the rules (duration, reason, ticket, accounts, room in the container); the message says which", body = ErrorBody)))]
pub async fn preview<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    b: Result<Json<NewRequest>, JsonRejection>,
) -> ApiResult<Json<PreviewView>> {
    let (req, room) = app.preview(&me, input(body(b)?)?).await?;
    let max_duration = app
        .catalog()
        .flows
        .get(&req.flow)
        .map(|f| f.max_duration.to_string())
        .unwrap_or_default();
    Ok(Json(PreviewView {
        request: RequestView::of(&req, None),
        max_duration,
        room: room.map(|used| RoomView {
            used_bytes: used as u32,
            budget_bytes: POLICY_BUDGET as u32,
        }),
    }))
}

/// A request body as the policy's input, every field checked against the contract.
fn input(b: NewRequest) -> ApiResult<RequestInput> {
    let accounts = match &b.accounts {
        Some(a) if a.len() > MAX_ACCOUNTS => {
            return Err(ApiError::bad_request(format!(
                "accounts: at most {MAX_ACCOUNTS}"
            )))
        }
        Some(a) => Some(
            a.iter()
                .map(|x| field("accounts", x))
                .collect::<ApiResult<Vec<AccountId>>>()?,
        ),
        None => None,
    };
    let reason = b.reason.as_ref().map(|r| plain("reason", r)).transpose()?;
    let ticket = b.ticket.as_ref().map(|t| plain("ticket", t)).transpose()?;
    Ok(RequestInput {
        bundle: Some(field("bundle", &b.bundle)?),
        duration: b
            .duration
            .as_ref()
            .map(|d| field("duration", d))
            .transpose()?,
        reason,
        ticket,
        accounts,
        start_at: b.start_at,
        flow: b.flow.as_ref().map(|f| field("flow", f)).transpose()?,
    })
}

/// The caller's requests, newest first.
#[utoipa::path(get, operation_id = "list_requests", path = "/v1/requests", tag = "requests", params(ListQuery),
    responses((status = 200, description = "The caller's requests", body = RequestList)))]
pub async fn list<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<RequestList>> {
    let q = query(q)?;
    let limit = match q.limit {
        None => 50,
        Some(n @ 1..=200) => n as usize,
        Some(_) => return Err(ApiError::bad_request("limit: from 1 to 200")),
    };
    let requests = app
        .requests_of(&me, 200)
        .await?
        .iter()
        .filter(|r| q.status.is_none_or(|s| r.status == s))
        .take(limit)
        .map(|r| RequestView::of(r, None))
        .collect();
    Ok(Json(RequestList { requests }))
}

/// One request with its timeline (readable by everyone, like the audit trail).
#[utoipa::path(get, operation_id = "show_request", path = "/v1/requests/{id}", tag = "requests", params(IdPath),
    responses(
        (status = 200, description = "The request and its audit records", body = RequestView),
        (status = 404, description = "No such request", body = ErrorBody)))]
pub async fn show<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    p: Result<Path<IdPath>, PathRejection>,
) -> ApiResult<Json<RequestView>> {
    let id: RequestId = field("id", &path(p)?.id)?;
    let req = app.get(&id).await?;
    let timeline = app.timeline(&id).await?;
    Ok(Json(RequestView::of(&req, Some(timeline))))
}

/// Pending requests the caller may decide.
#[utoipa::path(get, operation_id = "list_approvals", path = "/v1/approvals", tag = "approvals",
    responses((status = 200, description = "The caller's approval inbox", body = ApprovalList)))]
pub async fn approvals<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
) -> ApiResult<Json<ApprovalList>> {
    let approvals = app
        .approvals_for(&me)
        .await?
        .iter()
        .map(|r| RequestView::of(r, None))
        .collect();
    Ok(Json(ApprovalList { approvals }))
}
