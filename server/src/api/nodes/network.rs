//! `GET /nodes/{node}/network`: the node's interfaces and addresses; any authenticated user (PVE
//! lets everyone list them so the join dialog can offer link addresses).

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::Authenticated;
use crate::host::network;
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional(
    "type",
    Kind::Enum(&["bridge", "bond", "eth", "alias", "vlan", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort", "any_bridge", "any_local_bridge", "include_sdn"]),
)];

#[derive(Deserialize)]
struct Query {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn list_interfaces(_auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    super::local_node(&state, &node)?;
    let mut list = network::interfaces();
    if let Some(kind) = query.kind {
        list.retain(|i| i.kind == kind);
    }
    Ok(crate::api::data(list))
}
