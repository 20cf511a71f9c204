//! `/cluster/raft/*`: node-to-node calls (Raft RPCs, forwarded writes and membership changes).
//! Not part of PVE's API; taken only over mutual TLS (see `cluster/node_tls.rs`) from a member's
//! cluster certificate (a joiner's, for `join`).

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use corral_consensus::{Command, CommandResult, NodeAddr, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::cluster::epoch::EPOCH_HEADER;
use crate::cluster::node_tls::NodePeer;
use crate::cluster::ClusterConfig;
use crate::state::AppState;

/// Largest node-to-node body (a snapshot chunk or a batch of log entries).
const MAX_NODE_CALL_BYTES: usize = 64 * 1024 * 1024;

/// A verified node-to-node call and its JSON body, with the caller's certificate.
pub struct NodeCall<T>(pub T, pub NodePeer);

/// Whether `peer` may make this call: its certificate must be a member's. A node that has no
/// configuration yet (a joiner being filled) takes any certificate of the cluster CA, and the
/// `join` call itself comes from a joiner, whose certificate the peer issued at admission.
async fn check_caller(state: &AppState, peer: &NodePeer, path: &str) -> Result<(), ApiError> {
    if path.ends_with("/raft/join") {
        return Ok(());
    }
    let Some(config) = ClusterConfig::load(&state.db).await? else { return Ok(()) };
    if config.nodes.iter().any(|n| n.node_cert == peer.fingerprint) {
        return Ok(());
    }
    Err(ApiError::forbidden("node certificate does not belong to a member of this cluster"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for NodeCall<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let path = req.extensions().get::<OriginalUri>().map(|u| u.path().to_string()).unwrap_or_else(|| req.uri().path().to_string());
        let Some(Some(peer)) = req.extensions().get::<Option<NodePeer>>().cloned() else {
            return Err(ApiError::forbidden("node-to-node calls need mutual TLS with a cluster certificate"));
        };
        check_caller(state, &peer, &path).await?;
        let sender_epoch: u64 = req.headers().get(EPOCH_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        let body: Bytes = axum::body::to_bytes(req.into_body(), MAX_NODE_CALL_BYTES)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "node call too large"))?;
        // Raft traffic never crosses epochs: an old-epoch node must not vote in, lead, or
        // write to the new one (and the other way round until it has resynced).
        let consensus_call = ["/raft/append", "/raft/vote", "/raft/snapshot", "/raft/write", "/raft/read-index"].iter().any(|p| path.ends_with(p));
        let mine = crate::cluster::epoch::current(&state.db).await;
        if consensus_call && sender_epoch != mine {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("cluster epoch mismatch: sender {sender_epoch}, this node {mine}")));
        }
        serde_json::from_slice(&body).map(|call| NodeCall(call, peer)).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed node call: {e}")))
    }
}

async fn raft(state: &AppState) -> Result<corral_consensus::Raft, ApiError> {
    state.cluster.raft().await.map(|(_, r)| r).ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no cluster store running"))
}

fn answer<T: serde::Serialize>(value: T) -> Json<Value> {
    Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

async fn append(State(state): State<AppState>, NodeCall(req, _): NodeCall<AppendEntriesRequest<TypeConfig>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.append_entries(req).await))
}

async fn vote(State(state): State<AppState>, NodeCall(req, _): NodeCall<VoteRequest<u64>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.vote(req).await))
}

async fn snapshot(State(state): State<AppState>, NodeCall(req, _): NodeCall<InstallSnapshotRequest<TypeConfig>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.install_snapshot(req).await))
}

async fn write(State(state): State<AppState>, NodeCall(command, _): NodeCall<Command>) -> Json<Value> {
    let result: Result<CommandResult, String> = state.cluster.write(command).await.map_err(|e| e.to_string());
    answer(result)
}

async fn read_index(State(state): State<AppState>, NodeCall((), _): NodeCall<()>) -> Json<Value> {
    let result: Result<u64, String> = state.cluster.leader_read_index(std::time::Duration::from_secs(2)).await.map_err(|e| e.to_string());
    answer(result)
}

async fn add_member(State(state): State<AppState>, NodeCall((id, addr), _): NodeCall<(u64, NodeAddr)>) -> Json<Value> {
    let result: Result<(), String> = state.cluster.add_member(id, addr).await.map_err(|e| e.to_string());
    answer(result)
}

async fn join(State(state): State<AppState>, NodeCall((who, nodeid), peer): NodeCall<(crate::cluster::join::Candidate, u64)>) -> Json<Value> {
    let result: Result<(), String> = crate::cluster::join::enroll(&state, who, nodeid, peer.fingerprint).await.map_err(|e| e.to_string());
    answer(result)
}

async fn remove_member(State(state): State<AppState>, NodeCall(id, _): NodeCall<u64>) -> Json<Value> {
    let result: Result<(), String> = state.cluster.remove_member(id).await.map_err(|e| e.to_string());
    answer(result)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(write))
        .route("/raft/read-index", post(read_index))
        .route("/raft/add-member", post(add_member))
        .route("/raft/remove-member", post(remove_member))
        .route("/raft/join", post(join))
}
