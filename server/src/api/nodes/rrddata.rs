//! `GET /nodes/{node}/rrddata`: Sys.Audit on `/nodes/{node}`. corral keeps one hour of samples
//! in memory; longer timeframes return that hour.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

const SCHEMA: &[Prop] = &[
    required("timeframe", Kind::Enum(&["hour", "day", "week", "month", "year", "decade"])),
    optional("cf", Kind::Enum(&["AVERAGE", "MAX"])),
];

#[derive(Deserialize)]
#[allow(dead_code)] // parsed for validation; one resolution is kept
struct Query {
    timeframe: String,
    cf: Option<String>,
}

pub async fn get_rrddata(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let _query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    Ok(crate::api::data(state.stats.history()))
}
