//! `GET /cluster/config/nodes`: the cluster's nodes as configured (Sys.Audit on `/`); empty on a
//! standalone node.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

pub async fn list_nodes(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let nodes = ClusterConfig::load(&state.db).await?.map(|c| c.api_nodes()).unwrap_or_default();
    Ok(crate::api::data(nodes))
}
