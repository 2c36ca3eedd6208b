//! The HTTP API (v1), as one axum router over the application service. The intake Lambda serves
//! it through lambda_http; local mode serves it on 127.0.0.1. Who is calling is not this
//! crate's concern: each transport puts a [`Caller`] in the request's extensions (from the JWT's
//! email claim in AWS, from a development header in local mode), and a request without one is
//! refused with 401.

mod pages;
mod views;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use jit_core::audit::AuditEvent;
use jit_core::catalog::Catalog;
use jit_core::lifecycle::{LifecycleError, Request, Status};
use jit_core::link::{LinkClaims, LinkError};
use jit_core::policy::{Refusal, RequestInput};
use jit_core::ports::*;
use jit_core::prompt::{Offer, Prompt};
use jit_core::service::{PromptAnswer, Service, ServiceError, Verdict};
use jit_core::types::*;
use serde::Deserialize;
use serde_json::json;

pub use views::{ApprovalView, RequestView};

/// The person making a request, as established by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Email);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route the router serves, as (method, path): the OpenAPI document lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/catalog"),
    ("GET", "/v1/catalog/{bundle}"),
    ("POST", "/v1/requests"),
    ("GET", "/v1/requests"),
    ("GET", "/v1/requests/{id}"),
    ("GET", "/v1/approvals"),
    ("POST", "/v1/requests/{id}/approve"),
    ("POST", "/v1/requests/{id}/deny"),
    ("POST", "/v1/requests/{id}/cancel"),
    ("POST", "/v1/requests/{id}/release"),
    ("POST", "/v1/requests/{id}/revoke"),
    ("POST", "/v1/requests/{id}/extend"),
    ("POST", "/v1/requests/{id}/review"),
    ("GET", "/v1/decisions/{token}"),
    ("POST", "/v1/decisions/{token}"),
    ("GET", "/v1/prompts/{token}"),
    ("POST", "/v1/prompts/{token}"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/prompts"),
    ("GET", "/v1/report"),
];

/// What the router needs from the service; implemented for every [`Service`].
pub trait Api: Send + Sync + 'static {
    /// The catalog in force.
    fn catalog(&self) -> &Catalog;
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// See [`Service::submit`].
    fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::get`].
    fn get(&self, id: &RequestId) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::timeline`].
    fn timeline(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send;
    /// See [`Service::requests_of`].
    fn requests_of(
        &self,
        person: &Email,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
    /// See [`Service::approvals_for`].
    fn approvals_for(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
    /// See [`Service::approve`].
    fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::deny`].
    fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::cancel`].
    fn cancel(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::release`].
    fn release(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::revoke`].
    fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::review`].
    fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::extend`].
    fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::inspect_link`].
    fn inspect_link(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(LinkClaims, Request), ServiceError>> + Send;
    /// See [`Service::decide_by_link`].
    fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send;
    /// See [`Service::inspect_prompt`].
    fn inspect_prompt(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(Prompt, Offer), ServiceError>> + Send;
    /// See [`Service::answer_prompt`].
    fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> impl Future<Output = Result<(Prompt, Option<Request>), ServiceError>> + Send;
    /// See [`Service::audit`].
    fn audit(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send;
    /// See [`Service::prompts`].
    fn prompts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, ServiceError>> + Send;
    /// See [`Service::live_grants`].
    fn live_grants(&self) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send;
}

impl<S, G, Sc, M, D, C> Api for Service<S, G, Sc, M, D, C>
where
    S: RequestStore + 'static,
    G: Grantor + 'static,
    Sc: Scheduler + 'static,
    M: Mailer + 'static,
    D: Directory + 'static,
    C: Clock + 'static,
{
    fn catalog(&self) -> &Catalog {
        Service::catalog(self)
    }
    fn now(&self) -> DateTime<Utc> {
        Service::now(self)
    }
    fn submit(
        &self,
        caller: &Email,
        input: RequestInput,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::submit(self, caller, input)
    }
    fn get(&self, id: &RequestId) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::get(self, id)
    }
    fn timeline(
        &self,
        id: &RequestId,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send {
        Service::timeline(self, id)
    }
    fn requests_of(
        &self,
        person: &Email,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::requests_of(self, person, limit)
    }
    fn approvals_for(
        &self,
        person: &Email,
    ) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::approvals_for(self, person)
    }
    fn approve(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::approve(self, caller, id, message, duration)
    }
    fn deny(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::deny(self, caller, id, message)
    }
    fn cancel(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::cancel(self, caller, id)
    }
    fn release(
        &self,
        caller: &Email,
        id: &RequestId,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::release(self, caller, id)
    }
    fn revoke(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::revoke(self, caller, id, message)
    }
    fn review(
        &self,
        caller: &Email,
        id: &RequestId,
        message: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::review(self, caller, id, message)
    }
    fn extend(
        &self,
        caller: &Email,
        id: &RequestId,
        by: GrantDuration,
        reason: &str,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::extend(self, caller, id, by, reason)
    }
    fn inspect_link(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(LinkClaims, Request), ServiceError>> + Send {
        Service::inspect_link(self, token)
    }
    fn decide_by_link(
        &self,
        token: &str,
        verdict: Verdict,
        message: &str,
        duration: Option<GrantDuration>,
    ) -> impl Future<Output = Result<Request, ServiceError>> + Send {
        Service::decide_by_link(self, token, verdict, message, duration)
    }
    fn inspect_prompt(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<(Prompt, Offer), ServiceError>> + Send {
        Service::inspect_prompt(self, token)
    }
    fn answer_prompt(
        &self,
        token: &str,
        answer: PromptAnswer,
    ) -> impl Future<Output = Result<(Prompt, Option<Request>), ServiceError>> + Send {
        Service::answer_prompt(self, token, answer)
    }
    fn audit(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, ServiceError>> + Send {
        Service::audit(self, from, to)
    }
    fn prompts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Prompt>, ServiceError>> + Send {
        Service::prompts(self, from, to)
    }
    fn live_grants(&self) -> impl Future<Output = Result<Vec<Request>, ServiceError>> + Send {
        Service::live_grants(self)
    }
}

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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
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
            ServiceError::Refused(Refusal::UnknownBundle(_)) => {
                Self::new(S::NOT_FOUND, "unknown_bundle", msg)
            }
            ServiceError::Refused(_) => Self::new(S::UNPROCESSABLE_ENTITY, "refused", msg),
            ServiceError::Lifecycle(LifecycleError::NotAllowed(_)) => {
                Self::new(S::FORBIDDEN, "forbidden", msg)
            }
            ServiceError::Lifecycle(
                LifecycleError::WrongState { .. }
                | LifecycleError::StaleExtension
                | LifecycleError::NotYet(_),
            ) => Self::new(S::CONFLICT, "conflict", msg),
            ServiceError::Lifecycle(_) => Self::new(S::UNPROCESSABLE_ENTITY, "refused", msg),
            ServiceError::NotFound(_) => Self::new(S::NOT_FOUND, "not_found", msg),
            ServiceError::Link(LinkError::Expired(_)) | ServiceError::LinkUsed => {
                Self::new(S::GONE, "link_gone", msg)
            }
            ServiceError::Link(_) => Self::new(S::FORBIDDEN, "bad_link", msg),
            ServiceError::Invalid(_) => Self::new(S::BAD_REQUEST, "bad_request", msg),
            ServiceError::TooLarge(_) => Self::new(S::UNPROCESSABLE_ENTITY, "too_large", msg),
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
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn caller(c: Option<Extension<Caller>>) -> ApiResult<Email> {
    c.map(|Extension(Caller(e))| e).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first: no caller identity on this request",
        )
    })
}

fn parse<T: std::str::FromStr<Err = InvalidValue>>(text: &str) -> ApiResult<T> {
    text.parse()
        .map_err(|e: InvalidValue| ApiError::bad_request(e.to_string()))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
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

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))
}

/// Builds the router over `app`.
pub fn router<A: Api>(app: Arc<A>) -> Router {
    Router::new()
        .route("/v1/catalog", get(catalog_list::<A>))
        .route("/v1/catalog/{bundle}", get(catalog_show::<A>))
        .route("/v1/requests", post(submit::<A>).get(list::<A>))
        .route("/v1/requests/{id}", get(show::<A>))
        .route("/v1/approvals", get(approvals::<A>))
        .route("/v1/requests/{id}/approve", post(approve::<A>))
        .route("/v1/requests/{id}/deny", post(deny::<A>))
        .route("/v1/requests/{id}/cancel", post(cancel::<A>))
        .route("/v1/requests/{id}/release", post(release::<A>))
        .route("/v1/requests/{id}/revoke", post(revoke::<A>))
        .route("/v1/requests/{id}/extend", post(extend::<A>))
        .route("/v1/requests/{id}/review", post(review::<A>))
        .route(
            "/v1/decisions/{token}",
            get(decision_page::<A>).post(decide::<A>),
        )
        .route(
            "/v1/prompts/{token}",
            get(prompt_page::<A>).post(answer_prompt::<A>),
        )
        .route("/v1/audit", get(audit::<A>))
        .route("/v1/prompts", get(prompts::<A>))
        .route("/v1/report", get(report::<A>))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route; see the OpenAPI document",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

async fn catalog_list<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
) -> ApiResult<Json<serde_json::Value>> {
    caller(c)?;
    let cat = app.catalog();
    let bundles: Vec<_> = cat
        .bundles
        .values()
        .map(|b| views::bundle(cat, b))
        .collect();
    Ok(Json(
        json!({ "version": cat.version(), "bundles": bundles }),
    ))
}

async fn catalog_show<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let me = caller(c)?;
    let name: BundleName = parse(&name)?;
    let cat = app.catalog();
    let b = cat.bundle(&name).ok_or_else(|| {
        ApiError::from(ServiceError::Refused(Refusal::UnknownBundle(
            name.to_string(),
        )))
    })?;
    let recent: Vec<RequestView> = app
        .requests_of(&me, 50)
        .await?
        .iter()
        .filter(|r| r.bundle == name)
        .take(10)
        .map(|r| RequestView::of(r, None))
        .collect();
    let mut view = views::bundle(cat, b);
    view["recent_requests"] = json!(recent);
    Ok(Json(view))
}

/// `POST /v1/requests` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The bundle.
    pub bundle: String,
    /// How long.
    pub duration: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// A subset of the bundle's accounts.
    pub accounts: Option<Vec<String>>,
    /// A later start.
    pub start_at: Option<DateTime<Utc>>,
    /// A specific flow (required for break-glass).
    pub flow: Option<String>,
}

async fn submit<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    b: Result<Json<NewRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let me = caller(c)?;
    let b = body(b)?;
    let input = RequestInput {
        bundle: Some(parse(&b.bundle)?),
        duration: b.duration.as_deref().map(parse).transpose()?,
        reason: b.reason,
        ticket: b.ticket,
        accounts: b
            .accounts
            .map(|a| {
                a.iter()
                    .map(|x| parse(x))
                    .collect::<ApiResult<Vec<AccountId>>>()
            })
            .transpose()?,
        start_at: b.start_at,
        flow: b.flow.as_deref().map(parse).transpose()?,
    };
    let req = app.submit(&me, input).await?;
    Ok((StatusCode::CREATED, Json(RequestView::of(&req, None))))
}

/// `GET /v1/requests` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the caller's own (the only listing offered; `false` is refused).
    pub mine: Option<bool>,
    /// Only this status.
    pub status: Option<String>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<usize>,
}

async fn list<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let me = caller(c)?;
    let q = query(q)?;
    if q.mine == Some(false) {
        return Err(ApiError::bad_request(
            "only your own requests can be listed (mine=true); use /v1/audit for everyone's",
        ));
    }
    let status: Option<Status> = q.status.as_deref().map(parse).transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let requests: Vec<RequestView> = app
        .requests_of(&me, 200)
        .await?
        .iter()
        .filter(|r| status.is_none_or(|s| r.status == s))
        .take(limit)
        .map(|r| RequestView::of(r, None))
        .collect();
    Ok(Json(json!({ "requests": requests })))
}

async fn show<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    caller(c)?;
    let id: RequestId = parse(&id)?;
    let req = app.get(&id).await?;
    let timeline = app.timeline(&id).await?;
    Ok(Json(RequestView::of(&req, Some(timeline))))
}

async fn approvals<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
) -> ApiResult<Json<serde_json::Value>> {
    let me = caller(c)?;
    let pending: Vec<RequestView> = app
        .approvals_for(&me)
        .await?
        .iter()
        .map(|r| RequestView::of(r, None))
        .collect();
    Ok(Json(json!({ "approvals": pending })))
}

/// Body of approve, deny, revoke and review.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The approver's or admin's message.
    #[serde(default)]
    pub message: String,
    /// For approve: a shorter duration.
    pub duration: Option<String>,
}

async fn approve<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    b: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let me = caller(c)?;
    let (id, b) = (parse(&id)?, body(b)?);
    let duration = b.duration.as_deref().map(parse).transpose()?;
    Ok(Json(RequestView::of(
        &app.approve(&me, &id, &b.message, duration).await?,
        None,
    )))
}

async fn deny<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    b: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (me, id, message) = with_message(c, &id, b)?;
    Ok(Json(RequestView::of(
        &app.deny(&me, &id, &message).await?,
        None,
    )))
}

/// The caller, the request and the message of deny, revoke and review (which take no
/// duration).
fn with_message(
    c: Option<Extension<Caller>>,
    id: &str,
    b: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<(Email, RequestId, String)> {
    let me = caller(c)?;
    let (id, b) = (parse(id)?, body(b)?);
    if b.duration.is_some() {
        return Err(ApiError::bad_request("duration only applies to approvals"));
    }
    Ok((me, id, b.message))
}

async fn cancel<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let me = caller(c)?;
    Ok(Json(RequestView::of(
        &app.cancel(&me, &parse(&id)?).await?,
        None,
    )))
}

async fn release<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let me = caller(c)?;
    Ok(Json(RequestView::of(
        &app.release(&me, &parse(&id)?).await?,
        None,
    )))
}

async fn revoke<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    b: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (me, id, message) = with_message(c, &id, b)?;
    Ok(Json(RequestView::of(
        &app.revoke(&me, &id, &message).await?,
        None,
    )))
}

async fn review<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    b: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let (me, id, message) = with_message(c, &id, b)?;
    Ok(Json(RequestView::of(
        &app.review(&me, &id, &message).await?,
        None,
    )))
}

/// `POST /v1/requests/{id}/extend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    /// By how much.
    pub duration: String,
    /// Why.
    pub reason: String,
}

async fn extend<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    Path(id): Path<String>,
    b: Result<Json<Extend>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let me = caller(c)?;
    let (id, b) = (parse(&id)?, body(b)?);
    let by = parse(&b.duration)?;
    Ok(Json(RequestView::of(
        &app.extend(&me, &id, by, &b.reason).await?,
        None,
    )))
}

/// Headers for decision pages: the token is in the URL, so it must not leak through a Referer,
/// a cache or a frame.
fn page_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    h
}

/// A link page: the page, or the problem page with the error's status; always with
/// [`page_headers`].
type LinkPage = (StatusCode, HeaderMap, Html<String>);

fn link_page(outcome: Result<String, ApiError>) -> LinkPage {
    match outcome {
        Ok(body) => (StatusCode::OK, page_headers(), Html(body)),
        Err(err) => (
            err.status,
            page_headers(),
            Html(pages::problem(&err.message)),
        ),
    }
}

/// `GET /v1/decisions/{token}` query: which button the email link pointed at.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// `approve` or `deny`.
    pub action: Option<String>,
}

async fn decision_page<A: Api>(
    State(app): State<Arc<A>>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
) -> LinkPage {
    // Never acts: mail scanners open links. It only shows the request and a form.
    link_page(
        app.inspect_link(&token)
            .await
            .map(|(claims, req)| pages::confirm(&req, &claims, q.action.as_deref()))
            .map_err(ApiError::from),
    )
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionForm {
    /// `approve` or `deny`.
    pub action: String,
    /// The message (required to deny).
    #[serde(default)]
    pub message: String,
    /// A shorter duration, when approving.
    #[serde(default)]
    pub duration: String,
}

async fn decide<A: Api>(
    State(app): State<Arc<A>>,
    Path(token): Path<String>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> LinkPage {
    let outcome = async {
        let Form(f) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let verdict = match f.action.as_str() {
            "approve" => Verdict::Approve,
            "deny" => Verdict::Deny,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown action {other:?}: approve or deny"
                )))
            }
        };
        let duration = Some(f.duration.trim())
            .filter(|d| !d.is_empty())
            .map(parse)
            .transpose()?;
        Ok(app
            .decide_by_link(&token, verdict, &f.message, duration)
            .await?)
    }
    .await;
    link_page(outcome.map(|req| pages::done(&req)))
}

async fn prompt_page<A: Api>(State(app): State<Arc<A>>, Path(token): Path<String>) -> LinkPage {
    // Never acts: it shows what was denied and a prefilled form.
    link_page(
        app.inspect_prompt(&token)
            .await
            .map(|(prompt, offer)| pages::prompt_form(&prompt, &offer))
            .map_err(ApiError::from),
    )
}

/// The prompt's request form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptForm {
    /// `request` or `dismiss`.
    pub action: String,
    /// Why (prefilled with what was denied).
    #[serde(default)]
    pub reason: String,
    /// How long (the offer's duration when empty).
    #[serde(default)]
    pub duration: String,
    /// A ticket reference, when the flow asks for one.
    #[serde(default)]
    pub ticket: String,
}

async fn answer_prompt<A: Api>(
    State(app): State<Arc<A>>,
    Path(token): Path<String>,
    form: Result<Form<PromptForm>, FormRejection>,
) -> LinkPage {
    let outcome = async {
        let Form(f) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let answer = match f.action.as_str() {
            "request" => PromptAnswer::Request {
                duration: Some(f.duration.trim())
                    .filter(|d| !d.is_empty())
                    .map(parse)
                    .transpose()?,
                reason: f.reason,
                ticket: Some(f.ticket.trim().to_string()).filter(|t| !t.is_empty()),
            },
            "dismiss" => PromptAnswer::Dismiss,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown action {other:?}: request or dismiss"
                )))
            }
        };
        Ok(app.answer_prompt(&token, answer).await?)
    }
    .await;
    match outcome {
        // Refused input: say what to change; the link still works.
        Err(err)
            if matches!(
                err.status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            (
                err.status,
                page_headers(),
                Html(pages::not_made(&err.message)),
            )
        }
        other => link_page(other.map(|(prompt, req)| pages::prompt_done(&prompt, req.as_ref()))),
    }
}

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Start (RFC 3339); default 7 days ago.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// Only records by or about this person.
    pub user: Option<String>,
    /// Only records about this bundle.
    pub bundle: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Longest audit range in one query.
pub const MAX_AUDIT_DAYS: i64 = 366;

/// `GET /v1/prompts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsQuery {
    /// Start (RFC 3339); default 7 days ago.
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); default now.
    pub to: Option<DateTime<Utc>>,
    /// Only prompts sent to this person.
    pub user: Option<String>,
}

/// The time range of an audit-like query, checked.
fn period(
    app_now: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_days: i64,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(|| app_now + Duration::seconds(1));
    let from = from.unwrap_or(to - Duration::days(default_days));
    if to <= from || to - from > Duration::days(MAX_AUDIT_DAYS) {
        return Err(ApiError::bad_request(format!(
            "from must be before to, at most {MAX_AUDIT_DAYS} days apart"
        )));
    }
    Ok((from, to))
}

/// Access-denied prompts and what became of them; readable by everyone, like the audit trail
/// (links are never included).
async fn prompts<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    q: Result<Query<PromptsQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    caller(c)?;
    let q = query(q)?;
    let (from, to) = period(app.now(), q.from, q.to, 7)?;
    let user: Option<Email> = q.user.as_deref().map(parse).transpose()?;
    let rows: Vec<serde_json::Value> = app
        .prompts(from, to)
        .await?
        .iter()
        .filter(|p| user.as_ref().is_none_or(|u| p.denied.person == *u))
        .map(views::prompt_row)
        .collect();
    Ok(Json(json!({ "from": from, "to": to, "prompts": rows })))
}

async fn audit<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller(c)?;
    let q = query(q)?;
    let (from, to) = period(app.now(), q.from, q.to, 7)?;
    let user: Option<Email> = q.user.as_deref().map(parse).transpose()?;
    let bundle: Option<BundleName> = q.bundle.as_deref().map(parse).transpose()?;
    let events = app.audit(from, to).await?;
    let mut requests: BTreeMap<RequestId, Request> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
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
        out.push(views::audit_row(&e, r));
    }
    match q.format.as_deref() {
        None | Some("json") => {
            Ok(Json(json!({ "from": from, "to": to, "records": out })).into_response())
        }
        Some("csv") => {
            let mut csv =
                String::from("at,request_id,seq,actor,action,status,requester,bundle,message\n");
            for row in &out {
                let cells: Vec<String> = [
                    "at",
                    "request_id",
                    "seq",
                    "actor",
                    "action",
                    "status",
                    "requester",
                    "bundle",
                    "message",
                ]
                .iter()
                .map(|k| views::csv_cell(&row[*k]))
                .collect();
                csv.push_str(&cells.join(","));
                csv.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown format {other:?}: json or csv"
        ))),
    }
}

/// `GET /v1/report` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start; default 30 days ago.
    pub from: Option<DateTime<Utc>>,
    /// End; default now.
    pub to: Option<DateTime<Utc>>,
}

async fn report<A: Api>(
    State(app): State<Arc<A>>,
    c: Option<Extension<Caller>>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    caller(c)?;
    let q = query(q)?;
    let (from, to) = period(app.now(), q.from, q.to, 30)?;
    let events = app.audit(from, to).await?;
    let prompts = app.prompts(from, to).await?;
    let live = app.live_grants().await?;
    let mut break_glass_unreviewed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &events {
        if e.action == jit_core::audit::Action::AutoApproved && seen.insert(e.request_id.clone()) {
            let r = app.get(&e.request_id).await?;
            if r.plan.break_glass && !r.reviewed {
                break_glass_unreviewed.push(r.id.to_string());
            }
        }
    }
    let mut report = views::report(from, to, &events, &live, break_glass_unreviewed, app.now());
    report["prompts"] = views::prompt_figures(&prompts);
    Ok(Json(report))
}
