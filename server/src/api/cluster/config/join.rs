//! `GET /cluster/config/join`: what another node needs to join this cluster (Sys.Audit on `/`).
//! A standalone node answers 424, which the GUI reads as "not in a cluster".

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional("node", Kind::Str { max_len: 63 })];

#[derive(Deserialize)]
struct Query {
    node: Option<String>,
}

pub async fn get_join_info(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    auth.require(Privilege::SysAudit, "/")?;
    let Some(config) = ClusterConfig::load(&state.db).await? else {
        return Err(ApiError::new(StatusCode::FAILED_DEPENDENCY, "node is not in a cluster, no join info available!"));
    };
    let preferred = query.node.unwrap_or_else(|| state.node.to_string());
    if config.node(&preferred).is_none() {
        return Err(ApiError::param("node", format!("unknown node '{preferred}'")));
    }
    Ok(crate::api::data(config.join_info(&preferred)))
}
