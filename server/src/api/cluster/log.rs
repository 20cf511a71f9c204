//! `GET /cluster/log`: Sys.Syslog on `/` in PVE; root only until ACLs exist.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::cluster_log;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional("max", Kind::Int { min: 1, max: 10_000 })];

#[derive(Deserialize)]
struct Query {
    max: Option<i64>,
}

pub async fn get_log(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    auth.require(Privilege::SysAudit, "/")?;
    Ok(crate::api::data(cluster_log::recent(&state.db, state.node.as_str(), query.max.unwrap_or(50)).await?))
}
