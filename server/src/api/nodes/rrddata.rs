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

/// `GET /nodes/{node}/qemu/{vmid}/rrddata` (VM.Audit): the guest's samples of the last hour.
pub async fn guest_rrddata(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let _query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    let vmid = super::qemu::vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    crate::guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    Ok(crate::api::data(state.vms.history(vmid)))
}

pub async fn get_rrddata(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let _query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    Ok(crate::api::data(state.stats.history()))
}
