//! `GET /cluster/ha/timeline` (corral extension): each recent failover of an HA service, step
//! by step, from the cluster log every node shares (see `ha::timeline`).

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

/// How far back in the merged cluster log failovers are looked for.
const LOG_ENTRIES: i64 = 1000;

pub async fn get(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let log = crate::cluster_log::recent(&state.db, state.node.as_str(), LOG_ENTRIES).await?;
    Ok(crate::api::data(crate::ha::timeline::failovers(&log)))
}
