//! The `/api2/json` tree. Modules mirror URL paths (`api/nodes/status.rs` ↔
//! `/nodes/{node}/status`); every handler states the privilege it needs beside its code.
//!
//! Must not render HTML; the console is a client of this tree like any other.

pub mod access;
pub mod cluster;
pub mod error;
pub mod events;
pub mod nodes;
pub mod params;
pub mod storage;
pub mod version;

use axum::extract::{OriginalUri, Request};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::state::AppState;
use error::ApiError;

/// PVE's success envelope.
pub fn data<T: Serialize>(value: T) -> Json<Value> {
    Json(json!({ "data": value }))
}

/// Directory listings (`GET` on an inner path) look like PVE's: `[{"subdir": …}]` or `[{"name": …}]`.
pub fn listing(key: &str, names: &[&str]) -> Json<Value> {
    data(names.iter().map(|n| json!({ key: n })).collect::<Vec<_>>())
}

async fn index() -> Json<Value> {
    listing("subdir", &["version", "access", "nodes", "cluster", "storage"])
}

async fn not_implemented(OriginalUri(uri): OriginalUri, req: Request) -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, format!("Method '{} {}' not implemented", req.method(), uri.path()))
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/version", get(version::get_version))
        .route("/events", get(events::stream))
        .nest("/access", access::router())
        .nest("/nodes", nodes::router(state))
        .nest("/cluster", cluster::router())
        .nest("/storage", storage::router())
        .fallback(not_implemented)
}
