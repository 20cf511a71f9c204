//! `/cluster`: status, resources, log and tasks. A standalone node answers in PVE's standalone
//! shapes.

pub mod backup_info;
pub mod config;
pub mod gossip;
pub mod ha;
pub mod leases;
pub mod log;
pub mod nextid;
pub mod raft;
pub mod resources;
pub mod status;
pub mod tasks;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

async fn index() -> axum::Json<serde_json::Value> {
    super::listing("name", &["backup-info", "config", "gossip", "ha", "leases", "log", "nextid", "resources", "status", "tasks"])
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/status", get(status::get_status))
        .route("/gossip", get(gossip::get_gossip))
        .route("/leases", get(leases::list))
        .route("/leases/{name}", axum::routing::post(leases::acquire).delete(leases::release))
        .merge(config::router())
        .merge(ha::router())
        .merge(raft::router())
        .route("/resources", get(resources::get_resources))
        .route("/log", get(log::get_log))
        .route("/nextid", get(nextid::get_nextid))
        .route("/tasks", get(tasks::get_tasks))
        .route("/backup-info/not-backed-up", get(backup_info::not_backed_up))
}
