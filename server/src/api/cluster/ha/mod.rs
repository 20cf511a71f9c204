//! `/cluster/ha`: HA resources, status, rules (PVE's `API2/HA/*`).

pub mod resources;
pub mod rules;
pub mod status;
pub mod timeline;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

async fn index() -> axum::Json<serde_json::Value> {
    crate::api::listing("id", &["groups", "resources", "rules", "status", "timeline"])
}

async fn status_index() -> axum::Json<serde_json::Value> {
    crate::api::listing("name", &["current", "manager_status"])
}

/// PVE 9 has migrated groups to rules; the list stays empty.
async fn groups() -> axum::Json<serde_json::Value> {
    crate::api::data(Vec::<serde_json::Value>::new())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ha", get(index))
        .route("/ha/groups", get(groups))
        .route("/ha/resources", get(resources::list).post(resources::create))
        .route("/ha/resources/{sid}", get(resources::get).put(resources::update).delete(resources::remove))
        .route("/ha/resources/{sid}/migrate", post(resources::migrate))
        .route("/ha/resources/{sid}/relocate", post(resources::relocate))
        .route("/ha/maintenance/{node}", axum::routing::put(resources::maintenance))
        .route("/ha/rules", get(rules::list).post(rules::create))
        .route("/ha/rules/{rule}", get(rules::get).put(rules::update).delete(rules::remove))
        .route("/ha/status", get(status_index))
        .route("/ha/status/current", get(status::current))
        .route("/ha/status/manager_status", get(status::manager_status))
        .route("/ha/timeline", get(timeline::get))
}
