//! `GET /v1/catalog` and `GET /v1/catalog/{bundle}`.

use std::sync::{Arc, Mutex};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jit_contract::{BundlePath, BundleView, CatalogQuery, CatalogView, ErrorBody, RequestView};
use jit_core::catalog::Catalog;
use jit_core::policy::Refusal;
use jit_core::service::ServiceError;
use jit_core::types::BundleName;

use crate::error::{field, path, plain, query, ApiError, ApiResult, Me};
use crate::Api;

/// The bundles, with the flows that offer them, by name: those matching `q` if given, a page
/// of `limit` at a time, going on after `cursor`. The answer carries the catalog's version as
/// its `ETag`; a client that sends it back in `If-None-Match` is answered 304 with no body
/// while the catalog has not changed (the portal, the CLI and Slack's picker revalidate
/// instead of downloading it again).
#[utoipa::path(get, operation_id = "list_bundles", path = "/v1/catalog", tag = "catalog",
    params(CatalogQuery, ("If-None-Match" = Option<String>, Header, description = "The ETag of a catalog already held")),
    responses(
        (status = 200, description = "The catalog in force: a page of the bundles that match", body = CatalogView,
            headers(("ETag" = String, description = "The catalog's version, quoted"))),
        (status = 304, description = "The catalog named in If-None-Match is still in force",
            headers(("ETag" = String, description = "The catalog's version, quoted"))),
        (status = 400, description = "A query parameter is malformed or out of range", body = ErrorBody)))]
pub async fn list<A: Api>(
    State(app): State<Arc<A>>,
    _: Me,
    headers: HeaderMap,
    q: Result<Query<CatalogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let search =
        q.q.as_ref()
            .map(|t| plain("q", t).map(|t| t.trim().to_lowercase()))
            .transpose()?
            .filter(|t| !t.is_empty());
    let limit = match q.limit {
        None => DEFAULT_PAGE,
        Some(n @ 1..=MAX_PAGE) => n as usize,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "limit: from 1 to {MAX_PAGE}"
            )))
        }
    };
    let cursor: Option<BundleName> = q.cursor.as_ref().map(|c| field("cursor", c)).transpose()?;
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
    let rendered = Rendered::of(app.catalog(), app.catalog_version());
    let body = rendered.page(
        search.as_deref(),
        cursor.as_ref().map(|c| c.as_str()),
        limit,
    );
    Ok((
        [
            (ETAG, etag.as_str()),
            revalidate,
            (CONTENT_TYPE, "application/json"),
        ],
        body,
    )
        .into_response())
}

/// Bundles a page holds when the query does not say.
const DEFAULT_PAGE: usize = 100;
/// Most bundles a page holds.
const MAX_PAGE: u32 = 500;

/// A catalog's bundles as JSON, each with the text a search looks in, made once per catalog
/// version: a page is then a join of what was made, at a cost that grows with the page and
/// not with the catalog.
struct Rendered {
    version: String,
    /// By name: the name, the lowercase text searched, the bundle's JSON.
    bundles: Vec<(String, String, String)>,
}

impl Rendered {
    /// The rendering of `catalog` at `version`, made now if this process has none.
    fn of(catalog: &Catalog, version: &str) -> Arc<Rendered> {
        static MADE: Mutex<Vec<Arc<Rendered>>> = Mutex::new(Vec::new());
        if let Some(r) = MADE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|r| r.version == version)
        {
            return r.clone();
        }
        let bundles = catalog
            .bundles
            .values()
            .map(|b| {
                let view = BundleView::of(catalog, b);
                let mut hay = vec![
                    view.name.clone(),
                    view.description.clone(),
                    view.owner_team.clone(),
                ];
                hay.extend(view.services.iter().cloned());
                hay.extend(
                    view.statements
                        .iter()
                        .flat_map(|s| s.actions.iter().cloned()),
                );
                let json = serde_json::to_string(&view).expect("a view serializes");
                (view.name.clone(), hay.join("\n").to_lowercase(), json)
            })
            .collect();
        let made = Arc::new(Rendered {
            version: version.to_string(),
            bundles,
        });
        let mut all = MADE.lock().unwrap_or_else(|p| p.into_inner());
        // A process holds one catalog at a time, two while it changes (tests hold several).
        if all.len() >= 8 {
            all.remove(0);
        }
        all.push(made.clone());
        made
    }

    /// A `CatalogView` of the bundles matching `search` after `cursor`, at most `limit`.
    fn page(&self, search: Option<&str>, cursor: Option<&str>, limit: usize) -> String {
        let matching = || {
            self.bundles
                .iter()
                .filter(move |(_, hay, _)| search.is_none_or(|s| hay.contains(s)))
        };
        let matched = matching().count();
        let mut rest = matching()
            .skip_while(|(name, _, _)| cursor.is_some_and(|c| name.as_str() <= c))
            .peekable();
        let mut body = format!(
            "{{\"version\":{},\"matched\":{matched},\"bundles\":[",
            serde_json::Value::from(self.version.as_str())
        );
        let mut last = None;
        for (n, (name, _, json)) in rest.by_ref().take(limit).enumerate() {
            if n > 0 {
                body.push(',');
            }
            body.push_str(json);
            last = Some(name);
        }
        body.push(']');
        if let (Some(last), Some(_)) = (last, rest.peek()) {
            body.push_str(&format!(
                ",\"next_cursor\":{}",
                serde_json::Value::from(last.as_str())
            ));
        }
        body.push('}');
        body
    }
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
