//! The handlers, one module per route group. Each handler's `#[utoipa::path]` is its entry in
//! the OpenAPI document; the statuses every route of a kind shares (401, 400 for malformed
//! input, 413 and 415 for bodies, 503, 500) are added by [`crate::openapi`].

pub mod actions;
pub mod catalog;
pub mod links;
pub mod meta;
pub mod records;
pub mod requests;
