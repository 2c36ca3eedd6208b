//! The pages behind emailed links: `GET`/`POST /v1/decisions/{token}` (approve or deny) and
//! `GET`/`POST /v1/prompts/{token}` (ask for what an access-denied prompt offers). A GET never
//! acts, because mail scanners open links; every answer is HTML, errors included.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Html;
use jit_contract::{
    DecisionAction, DecisionForm, DurationText, Field, FormDuration, PageQuery, PromptAction,
    PromptForm, Token, TokenPath,
};
use jit_core::service::{PromptAnswer, Verdict};
use jit_core::types::GrantDuration;

use crate::error::{field, form, path, plain, query, ApiError, ApiResult};
use crate::{pages, Api};

/// What the bundle of `req` grants, one (actions, resources) line per statement.
fn grants<A: Api>(app: &A, req: &jit_core::lifecycle::Request) -> Vec<(String, String)> {
    let cat = app.catalog();
    cat.bundle(&req.bundle)
        .map(|b| {
            jit_contract::BundleView::of(cat, b)
                .statements
                .into_iter()
                .map(|s| (s.actions.join(", "), s.resources.join(", ")))
                .collect()
        })
        .unwrap_or_default()
}

/// Headers for link pages: the token is in the URL, so it must not leak through a Referer, a
/// cache or a frame.
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

fn token(p: Result<Path<TokenPath>, PathRejection>) -> ApiResult<Token> {
    let t = path(p)?.token;
    if !<Token as Field>::SYNTAX.matches(&t.0) {
        return Err(ApiError::bad_request(
            "this link is damaged: open it again from the email, in full",
        ));
    }
    Ok(t)
}

/// A duration typed into a form: empty means none.
fn form_duration(d: &FormDuration) -> ApiResult<Option<GrantDuration>> {
    if !<FormDuration as Field>::SYNTAX.matches(&d.0) {
        return Err(ApiError::bad_request(format!(
            "duration: {:?} is not a duration such as 4h, 1d12h or PT4H",
            d.0
        )));
    }
    if d.0.is_empty() {
        return Ok(None);
    }
    field("duration", &DurationText::new(d.0.clone())).map(Some)
}

/// The decision page: the request and a form; opening it never decides anything.
#[utoipa::path(get, operation_id = "show_decision", path = "/v1/decisions/{token}", tag = "links", params(TokenPath, PageQuery),
    responses(
        (status = 200, description = "The request and the approve/deny form", content_type = "text/html", body = String),
        (status = 400, description = "A damaged link or query", content_type = "text/html", body = String),
        (status = 403, description = "A forged link, or the approver may no longer decide", content_type = "text/html", body = String),
        (status = 404, description = "The request is gone", content_type = "text/html", body = String),
        (status = 410, description = "The link expired or was used", content_type = "text/html", body = String),
        (status = 503, description = "Busy; open the link again in a moment", content_type = "text/html", body = String)))]
pub async fn decision_page<A: Api>(
    State(app): State<Arc<A>>,
    Extension(config): Extension<Arc<jit_contract::ClientConfig>>,
    p: Result<Path<TokenPath>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> LinkPage {
    link_page(
        async {
            let (t, q) = (token(p)?, query(q)?);
            let hint = q.action.map(|a| match a {
                DecisionAction::Approve => "approve",
                DecisionAction::Deny => "deny",
            });
            let (claims, req) = app.inspect_link(&t.0).await?;
            let extras = pages::Extras {
                grants: grants(app.as_ref(), &req),
                portal: config.portal_url.as_deref(),
                refused: None,
            };
            Ok(pages::confirm(&req, &claims, hint, &extras))
        }
        .await,
    )
}

/// Decide by link: approve (optionally for less time) or deny with a message.
#[utoipa::path(post, operation_id = "decide", path = "/v1/decisions/{token}", tag = "links", params(TokenPath),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What was decided", content_type = "text/html", body = String),
        (status = 400, description = "The form is not what this page takes", content_type = "text/html", body = String),
        (status = 403, description = "A forged link, or the approver may no longer decide", content_type = "text/html", body = String),
        (status = 404, description = "The request is gone", content_type = "text/html", body = String),
        (status = 409, description = "Already decided", content_type = "text/html", body = String),
        (status = 410, description = "The link expired or was used", content_type = "text/html", body = String),
        (status = 413, description = "The form is too large", content_type = "text/html", body = String),
        (status = 415, description = "Not a form", content_type = "text/html", body = String),
        (status = 422, description = "Refused: a denial needs a message, or the duration is out of range", content_type = "text/html", body = String),
        (status = 503, description = "Busy; send the form again in a moment", content_type = "text/html", body = String)))]
pub async fn decide<A: Api>(
    State(app): State<Arc<A>>,
    Extension(config): Extension<Arc<jit_contract::ClientConfig>>,
    p: Result<Path<TokenPath>, PathRejection>,
    f: Result<Form<DecisionForm>, FormRejection>,
) -> LinkPage {
    let (t, f) = match (token(p), form(f)) {
        (Ok(t), Ok(f)) => (t, f),
        (Err(e), _) | (_, Err(e)) => return link_page(Err(e)),
    };
    let outcome: ApiResult<String> = async {
        let message = plain("message", &f.message)?;
        let verdict = match f.action {
            DecisionAction::Approve => Verdict::Approve,
            DecisionAction::Deny => Verdict::Deny,
        };
        let duration = form_duration(&f.duration)?;
        let req = app
            .decide_by_link(&t.0, verdict, &message, duration)
            .await?;
        Ok(pages::done(&req))
    }
    .await;
    // A form the rules refused (a denial with no message, a duration out of range) comes back
    // as it was sent, with why, so nothing typed is lost.
    match outcome {
        Err(e) if matches!(e.status.as_u16(), 400 | 422) => {
            let Ok((claims, req)) = app.inspect_link(&t.0).await else {
                return link_page(Err(e));
            };
            let action = match f.action {
                DecisionAction::Approve => "approve",
                DecisionAction::Deny => "deny",
            };
            let extras = pages::Extras {
                grants: grants(app.as_ref(), &req),
                portal: config.portal_url.as_deref(),
                refused: Some((&e.message, action, &f.message.0, &f.duration.0)),
            };
            (
                e.status,
                page_headers(),
                Html(pages::confirm(&req, &claims, None, &extras)),
            )
        }
        other => link_page(other),
    }
}

/// The prompt page: what was denied and a prefilled request form; opening it never acts.
#[utoipa::path(get, operation_id = "show_prompt", path = "/v1/prompts/{token}", tag = "links", params(TokenPath),
    responses(
        (status = 200, description = "What was denied and the request form", content_type = "text/html", body = String),
        (status = 400, description = "A damaged link", content_type = "text/html", body = String),
        (status = 403, description = "A forged link", content_type = "text/html", body = String),
        (status = 404, description = "The prompt is gone", content_type = "text/html", body = String),
        (status = 410, description = "The link expired or was answered", content_type = "text/html", body = String),
        (status = 503, description = "Busy; open the link again in a moment", content_type = "text/html", body = String)))]
pub async fn prompt_page<A: Api>(
    State(app): State<Arc<A>>,
    p: Result<Path<TokenPath>, PathRejection>,
) -> LinkPage {
    link_page(
        async {
            let t = token(p)?;
            let (prompt, offer) = app.inspect_prompt(&t.0).await?;
            Ok(pages::prompt_form(&prompt, &offer))
        }
        .await,
    )
}

/// Answer a prompt: ask for the offered bundle, or say it is not needed.
#[utoipa::path(post, operation_id = "answer_prompt", path = "/v1/prompts/{token}", tag = "links", params(TokenPath),
    request_body(content = PromptForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The request made, or the prompt dismissed", content_type = "text/html", body = String),
        (status = 400, description = "The form is not what this page takes", content_type = "text/html", body = String),
        (status = 403, description = "A forged link, or not eligible", content_type = "text/html", body = String),
        (status = 404, description = "The prompt or the bundle is gone", content_type = "text/html", body = String),
        (status = 409, description = "Answered already", content_type = "text/html", body = String),
        (status = 410, description = "The link expired or was answered", content_type = "text/html", body = String),
        (status = 413, description = "The form is too large", content_type = "text/html", body = String),
        (status = 415, description = "Not a form", content_type = "text/html", body = String),
        (status = 422, description = "Refused by the rules; the link still works", content_type = "text/html", body = String),
        (status = 503, description = "Busy; send the form again in a moment", content_type = "text/html", body = String)))]
pub async fn answer_prompt<A: Api>(
    State(app): State<Arc<A>>,
    p: Result<Path<TokenPath>, PathRejection>,
    f: Result<Form<PromptForm>, FormRejection>,
) -> LinkPage {
    let outcome = async {
        let (t, f) = (token(p)?, form(f)?);
        let reason = plain("reason", &f.reason)?;
        let ticket = plain("ticket", &f.ticket)?;
        let answer = match f.action {
            PromptAction::Request => PromptAnswer::Request {
                duration: form_duration(&f.duration)?,
                reason,
                ticket: Some(ticket.trim().to_string()).filter(|t| !t.is_empty()),
            },
            PromptAction::Dismiss => PromptAnswer::Dismiss,
        };
        Ok::<_, ApiError>(app.answer_prompt(&t.0, answer).await?)
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
