//! What anyone in the company may read: `GET /v1/audit` (JSON or CSV), `GET /v1/prompts` and
//! `GET /v1/report`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use jit_contract::{
    csv_cell, AuditFormat, AuditPage, AuditQuery, AuditRow, ErrorBody, PromptRow, PromptsPage,
    PromptsQuery, Report, ReportQuery, AUDIT_CSV_COLUMNS,
};
use jit_core::audit::Action;
use jit_core::lifecycle::Request;
use jit_core::types::{BundleName, Email, RequestId};

use crate::error::{field, query, ApiError, ApiResult, Me};
use crate::Api;

/// Longest range in one query.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// The period of a query: `to` defaults to now, `from` to `default_days` before `to`. That
/// `from` is before `to` and within [`MAX_PERIOD_DAYS`] is a rule (422): each is a valid time.
fn period(
    now: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_days: i64,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(|| now + Duration::seconds(1));
    let from = from.unwrap_or(to - Duration::days(default_days));
    if to <= from || to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::refused(format!(
            "from must be before to, at most {MAX_PERIOD_DAYS} days apart"
        )));
    }
    Ok((from, to))
}

/// The audit trail: every step of every request, by anyone, as JSON or CSV.
#[utoipa::path(get, operation_id = "audit", path = "/v1/audit", tag = "records", params(AuditQuery),
    responses(
        (status = 200, description = "The records of the period, oldest first", content(
            (AuditPage = "application/json"),
            (String = "text/csv"))),
        (status = 422, description = "from is not before to, or the period is over 366 days", body = ErrorBody)))]
pub async fn audit<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let user: Option<Email> = q.user.as_ref().map(|u| field("user", u)).transpose()?;
    let bundle: Option<BundleName> = q.bundle.as_ref().map(|b| field("bundle", b)).transpose()?;
    let (from, to) = period(app.now(), q.from, q.to, 7)?;
    let mut requests: BTreeMap<RequestId, Request> = BTreeMap::new();
    let mut records = Vec::new();
    for e in app.audit(from, to).await? {
        if !requests.contains_key(&e.request_id) {
            requests.insert(e.request_id.clone(), app.get(&e.request_id).await?);
        }
        let r = &requests[&e.request_id];
        if user
            .as_ref()
            .is_some_and(|u| e.actor != u.as_str() && r.requester != *u)
            || bundle.as_ref().is_some_and(|b| r.bundle != *b)
        {
            continue;
        }
        records.push(AuditRow::of(&e, r));
    }
    Ok(match q.format.unwrap_or(AuditFormat::Json) {
        AuditFormat::Json => Json(AuditPage { from, to, records }).into_response(),
        AuditFormat::Csv => {
            let mut csv = AUDIT_CSV_COLUMNS.join(",");
            csv.push('\n');
            for row in &records {
                let cells: Vec<String> = row.cells().iter().map(|c| csv_cell(c)).collect();
                csv.push_str(&cells.join(","));
                csv.push('\n');
            }
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
        }
    })
}

/// Access-denied prompts and what became of them; readable by everyone (never their links).
#[utoipa::path(get, operation_id = "list_prompts", path = "/v1/prompts", tag = "records", params(PromptsQuery),
    responses(
        (status = 200, description = "The prompts of the period", body = PromptsPage),
        (status = 422, description = "from is not before to, or the period is over 366 days", body = ErrorBody)))]
pub async fn prompts<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    q: Result<Query<PromptsQuery>, QueryRejection>,
) -> ApiResult<Json<PromptsPage>> {
    let q = query(q)?;
    let user: Option<Email> = q.user.as_ref().map(|u| field("user", u)).transpose()?;
    let (from, to) = period(app.now(), q.from, q.to, 7)?;
    let prompts = app
        .prompts(from, to)
        .await?
        .iter()
        .filter(|p| user.as_ref().is_none_or(|u| p.denied.person == *u))
        .map(PromptRow::of)
        .collect();
    Ok(Json(PromptsPage { from, to, prompts }))
}

/// How access is used: time to access, auto-approval rate, live and standing grants,
/// break-glass uses awaiting review, prompts that became requests.
#[utoipa::path(get, operation_id = "report", path = "/v1/report", tag = "records", params(ReportQuery),
    responses(
        (status = 200, description = "The figures of the period", body = Report),
        (status = 422, description = "from is not before to, or the period is over 366 days", body = ErrorBody)))]
pub async fn report<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Json<Report>> {
    let q = query(q)?;
    let (from, to) = period(app.now(), q.from, q.to, 30)?;
    let events = app.audit(from, to).await?;
    let prompts = app.prompts(from, to).await?;
    let live = app.live_grants().await?;
    let mut unreviewed = Vec::new();
    let mut seen = BTreeSet::new();
    for e in &events {
        if e.action == Action::AutoApproved && seen.insert(e.request_id.clone()) {
            let r = app.get(&e.request_id).await?;
            if r.plan.break_glass && !r.reviewed {
                unreviewed.push(r.id.to_string());
            }
        }
    }
    Ok(Json(Report::of(
        (from, to),
        &events,
        &live,
        unreviewed,
        &prompts,
        app.now(),
    )))
}
