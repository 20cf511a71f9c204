//! The graphs' data, PVE's `rrddata` calls: `timeframe` (hour, day, week, month, year, decade)
//! picks the archive, `cf` (AVERAGE, the default, or MAX) how its rows were consolidated. Each
//! answer has the archive's full row count; a value not known for a row is left out, as PVE
//! does. Another node's graphs are that node's to answer (the request is forwarded there).

use axum::extract::{Path, State};
use axum::Json;
use corral_api_types::rrd::{GuestRrdRow, NodeRrdRow, RrdRow, StorageRrdRow};
use corral_rrd::{Cf, Timeframe};
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{unix_now, Authenticated, Privilege};
use crate::rrd_store;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[
    required("timeframe", Kind::Enum(&["hour", "day", "week", "month", "year", "decade"])),
    optional("cf", Kind::Enum(&["AVERAGE", "MAX"])),
];

#[derive(Deserialize)]
struct Query {
    timeframe: String,
    cf: Option<String>,
}

impl Query {
    /// The schema has checked both names already.
    fn archive(&self) -> (Timeframe, Cf) {
        (Timeframe::parse(&self.timeframe).unwrap_or(Timeframe::Hour), self.cf.as_deref().and_then(Cf::parse).unwrap_or(Cf::Average))
    }
}

fn answer<R: RrdRow + serde::Serialize>(state: &AppState, key: &str, query: &Query) -> Json<Value> {
    let (timeframe, cf) = query.archive();
    crate::api::data(state.rrd.rows::<R>(key, timeframe, cf, unix_now()))
}

/// `GET /nodes/{node}/rrddata` (Sys.Audit on `/nodes/{node}`).
pub async fn get_rrddata(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node))?;
    Ok(answer::<NodeRrdRow>(&state, rrd_store::NODE, &query))
}

/// `GET /nodes/{node}/qemu/{vmid}/rrddata` (VM.Audit on `/vms/{vmid}`).
pub async fn guest_rrddata(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    let vmid = super::qemu::vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    crate::guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    Ok(answer::<GuestRrdRow>(&state, &rrd_store::guest_key(vmid.get()), &query))
}

/// `GET /nodes/{node}/storage/{storage}/rrddata` (Datastore.Audit on `/storage/{storage}`).
pub async fn storage_rrddata(auth: Authenticated, State(state): State<AppState>, Path((node, id)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    super::storage::usable(&state, &id).await?;
    Ok(answer::<StorageRrdRow>(&state, &rrd_store::storage_key(&id), &query))
}
