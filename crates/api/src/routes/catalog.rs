//! `GET /v1/catalog` and `GET /v1/catalog/{bundle}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jit_contract::{BundlePath, BundleView, CatalogView, ErrorBody, RequestView};
use jit_core::policy::Refusal;
use jit_core::service::ServiceError;
use jit_core::types::BundleName;

use crate::error::{field, path, ApiError, ApiResult, Me};
use crate::Api;

/// The bundles, with the flows that offer them. The answer carries the catalog's version as
/// its `ETag`; a client that sends it back in `If-None-Match` is answered 304 with no body
/// while the catalog has not changed (the portal, the CLI and Slack's picker revalidate
/// instead of downloading it again).
#[utoipa::path(get, operation_id = "list_bundles", path = "/v1/catalog", tag = "catalog",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of a catalog already held")),
    responses(
        (status = 200, description = "The catalog in force", body = CatalogView,
            headers(("ETag" = String, description = "The catalog's version, quoted"))),
        (status = 304, description = "The catalog named in If-None-Match is still in force",
            headers(("ETag" = String, description = "The catalog's version, quoted")))))]
pub async fn list<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{}\"", app.catalog_version());
    let held = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let revalidate = (CACHE_CONTROL, "private, no-cache");
    if held {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(ETAG, etag.as_str()), revalidate],
        )
            .into_response());
    }
    let cat = app.catalog();
    let view = CatalogView {
        version: app.catalog_version().to_string(),
        bundles: cat
            .bundles
            .values()
            .map(|b| BundleView::of(cat, b))
            .collect(),
    };
    Ok(([(ETAG, etag.as_str()), revalidate], Json(view)).into_response())
}

/// One bundle, with the caller's recent requests for it.
#[utoipa::path(get, operation_id = "show_bundle", path = "/v1/catalog/{bundle}", tag = "catalog", params(BundlePath),
    responses(
        (status = 200, description = "The bundle", body = BundleView),
        (status = 404, description = "No such bundle", body = ErrorBody)))]
pub async fn show<A: Api>(
    State(app): State<Arc<A>>,
    Me(me): Me,
    p: Result<Path<BundlePath>, PathRejection>,
) -> ApiResult<Json<BundleView>> {
    let name: BundleName = field("bundle", &path(p)?.bundle)?;
    let cat = app.catalog();
    let b = cat.bundle(&name).ok_or_else(|| {
        ApiError::from(ServiceError::Refused(Refusal::unknown_bundle(
            cat,
            name.as_str(),
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
    let mut view = BundleView::of(cat, b);
    view.recent_requests = Some(recent);
    Ok(Json(view))
}
