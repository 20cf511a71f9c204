//! `GET /cluster/status`: Sys.Audit on `/`. Standalone: a single local node entry, node id 0.

use axum::extract::State;
use axum::Json;
use corral_api_types::cluster::ClusterStatusEntry;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

pub async fn get_status(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let ip = crate::host::network::addresses()
        .into_iter()
        .find(|a| a.up && !a.addr.is_loopback() && a.addr.is_ipv4())
        .map(|a| a.addr.to_string())
        .or_else(|| Some("127.0.0.1".into()));
    Ok(crate::api::data(vec![ClusterStatusEntry::Node {
        id: format!("node/{}", state.node),
        name: state.node.to_string(),
        nodeid: 0,
        ip,
        local: true,
        online: true,
        level: String::new(),
    }]))
}
