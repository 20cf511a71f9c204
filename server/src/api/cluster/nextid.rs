//! `GET /cluster/nextid`: the lowest free VMID, or whether a given one is free. PVE answers
//! with the id as a JSON string.

use axum::extract::State;
use axum::Json;
use corral_api_types::Vmid;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::Authenticated;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional("vmid", Kind::Int { min: Vmid::MIN as i64, max: Vmid::MAX as i64 })];

#[derive(serde::Deserialize)]
struct Params {
    vmid: Option<u32>,
}

pub async fn get_nextid(_auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: Params = params.check(SCHEMA)?;
    let vmid = match p.vmid {
        Some(id) => {
            let vmid = Vmid::new(id).map_err(|e| ApiError::param("vmid", e.to_string()))?;
            if crate::guests::get(&state.db, vmid).await?.is_some() {
                return Err(ApiError::param("vmid", format!("VM {vmid} already exists")));
            }
            vmid
        }
        None => crate::guests::next_free(&state.db).await?.ok_or_else(|| ApiError::param("vmid", "no free VMID left"))?,
    };
    Ok(crate::api::data(vmid.to_string()))
}
