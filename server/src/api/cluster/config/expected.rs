//! `POST /cluster/config/expected` (corral's form of `pvecm expected`): force expected votes on
//! a node without quorum (root only). See `cluster::epoch` for what it does and why it is risky.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{required, Kind, Prop, RawParams};
use crate::auth::Authenticated;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[required("expected", Kind::Int { min: 1, max: 65535 })];

#[derive(serde::Deserialize)]
struct Params {
    expected: u32,
}

pub async fn set_expected(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: Params = params.check(SCHEMA)?;
    auth.require_root()?;
    let text = crate::cluster::epoch::force_expected(&state, p.expected, &auth.userid.to_string()).await?;
    Ok(crate::api::data(text))
}
