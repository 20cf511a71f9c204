//! `GET /cluster/config/nodes`: the cluster's nodes as configured (Sys.Audit on `/`); empty on a
//! standalone node.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

pub async fn list_nodes(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let nodes = ClusterConfig::load(&state.db).await?.map(|c| c.api_nodes()).unwrap_or_default();
    Ok(crate::api::data(nodes))
}

/// The parameters PVE's addnode takes, plus what a corral joiner adds (`api`, `fingerprint`,
/// `version`) so the cluster can reach and pin it.
const ADD_SCHEMA: &[crate::api::params::Prop] = {
    use crate::api::params::{optional, required, Kind};
    &[
        optional("nodeid", Kind::Int { min: 1, max: u32::MAX as i64 }),
        optional("votes", Kind::Int { min: 0, max: 255 }),
        optional("force", Kind::Bool),
        optional("new_node_ip", Kind::Str { max_len: 64 }),
        optional("apiversion", Kind::Int { min: 0, max: 1000 }),
        required("api", Kind::Str { max_len: 256 }),
        required("fingerprint", Kind::Str { max_len: 95 }),
        required("version", Kind::Str { max_len: 32 }),
        optional("gossip_port", Kind::Int { min: 1, max: 65535 }),
        optional("guests", Kind::Str { max_len: 65536 }),
    ]
};

#[derive(serde::Deserialize)]
struct AddParams {
    nodeid: Option<u64>,
    votes: Option<u32>,
    api: String,
    fingerprint: String,
    version: String,
    gossip_port: Option<u16>,
    guests: Option<String>,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, Value>,
}

/// `POST /cluster/config/nodes/{node}`: phase 1 of a join, on the peer (root only). Checks
/// everything, changes nothing, and answers with the node id, the cluster authkey and the
/// joiner's cluster certificate.
pub async fn add_node(
    auth: Authenticated,
    State(state): State<AppState>,
    axum::extract::Path(node): axum::extract::Path<String>,
    params: RawParams,
) -> ApiResult<Json<Value>> {
    use crate::api::error::ApiError;
    use crate::cluster::join::{admission, Candidate};
    let p: AddParams = params.check(&super::with_links(ADD_SCHEMA))?;
    auth.require_root()?;
    let name = corral_api_types::NodeName::parse(&node).map_err(|e| ApiError::param("node", e.to_string()))?;
    let links = super::parse_links(&p.rest)?;
    let guests = p
        .guests
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(corral_api_types::Vmid::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::param("guests", e.to_string()))?;
    let who = Candidate {
        name: name.to_string(),
        nodeid: p.nodeid,
        votes: p.votes.unwrap_or(1),
        links,
        api: p.api,
        fingerprint: p.fingerprint,
        version: p.version,
        gossip_port: p.gossip_port.unwrap_or(crate::cluster::liveness::DEFAULT_GOSSIP_PORT),
        guests,
    };
    Ok(crate::api::data(admission(&state, &who).await?))
}

/// `DELETE /cluster/config/nodes/{node}`: remove a node from the cluster (root only, needs quorum).
pub async fn delete_node(
    auth: Authenticated,
    State(state): State<AppState>,
    axum::extract::Path(node): axum::extract::Path<String>,
    params: RawParams,
) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require_root()?;
    crate::cluster::join::remove(&state, &node).await?;
    Ok(crate::api::data(Value::Null))
}
