//! `GET /nodes/{node}/status`: Sys.Audit on `/nodes/{node}`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

pub async fn get_status(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    super::local_node(&state, &node)?;
    auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    Ok(crate::api::data(state.stats.status()))
}
