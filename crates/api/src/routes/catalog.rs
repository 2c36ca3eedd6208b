//! `GET /v1/catalog` and `GET /v1/catalog/{bundle}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use jit_contract::{BundlePath, BundleView, CatalogView, ErrorBody, RequestView};
use jit_core::policy::Refusal;
use jit_core::service::ServiceError;
use jit_core::types::BundleName;

use crate::error::{field, path, ApiError, ApiResult, Me};
use crate::Api;

/// The bundles, with the flows that offer them.
#[utoipa::path(get, operation_id = "list_bundles", path = "/v1/catalog", tag = "catalog",
    responses((status = 200, description = "The catalog in force", body = CatalogView)))]
pub async fn list<A: Api>(State(app): State<Arc<A>>, _: Me) -> ApiResult<Json<CatalogView>> {
    let cat = app.catalog();
    Ok(Json(CatalogView {
        version: cat.version(),
        bundles: cat
            .bundles
            .values()
            .map(|b| BundleView::of(cat, b))
            .collect(),
    }))
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
