//! What monitoring clients (prometheus-pve-exporter, dashboards) read besides guests, answered
//! truthfully in PVE's shapes: `/nodes/{node}/lxc` (corral runs no containers yet: empty),
//! `/nodes/{node}/replication` (no replication jobs), `/nodes/{node}/subscription` (PVE's answer
//! for a node without a subscription key).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::local_node;
use crate::api::error::ApiResult;
use crate::api::params::{optional, Kind, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

/// `GET /nodes/{node}/lxc`.
pub async fn lxc(_auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    Ok(crate::api::data(Vec::<Value>::new()))
}

/// `GET /nodes/{node}/replication` (`guest` filter accepted).
pub async fn replication(_auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("guest", Kind::Int { min: 100, max: 999_999_999 })])?;
    local_node(&state, &node)?;
    Ok(crate::api::data(Vec::<Value>::new()))
}

/// `GET /nodes/{node}/subscription` (Sys.Audit): no key, as PVE says it.
pub async fn subscription(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    Ok(crate::api::data(json!({
        "status": "notfound",
        "message": "There is no subscription key",
        "serverid": server_id(&state),
        "url": "https://www.proxmox.com/en/proxmox-virtual-environment/pricing",
    })))
}

/// PVE's server id is a hash over the host; here the node's certificate fingerprint, shortened.
fn server_id(state: &AppState) -> String {
    state.fingerprint.replace(':', "").chars().take(32).collect()
}
