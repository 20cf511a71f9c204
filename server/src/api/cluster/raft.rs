//! `/cluster/raft/*`: node-to-node calls (Raft RPCs, forwarded writes and membership changes). Not part of PVE's API; callers must carry the node-to-node MAC.

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
use crate::cluster::network::node_key;
use crate::cluster::peer_client::{verify_node_call, NODE_AUTH_HEADER};
use crate::state::AppState;

/// Largest node-to-node body (a snapshot chunk or a batch of log entries).
const MAX_NODE_CALL_BYTES: usize = 64 * 1024 * 1024;

/// A verified node-to-node call and its JSON body.
pub struct NodeCall<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for NodeCall<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let path = req.extensions().get::<OriginalUri>().map(|u| u.path().to_string()).unwrap_or_else(|| req.uri().path().to_string());
        let header = req.headers().get(NODE_AUTH_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let sender_epoch: u64 = req.headers().get(EPOCH_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        let body: Bytes = axum::body::to_bytes(req.into_body(), MAX_NODE_CALL_BYTES)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "node call too large"))?;
        let key = node_key(&state.db).await.map_err(|_| ApiError::forbidden("not in a cluster"))?;
        if !verify_node_call(&key, &header, &path, &body) {
            return Err(ApiError::unauthorized("invalid node authentication"));
        }
        // Raft traffic never crosses epochs: an old-epoch node must not vote in, lead, or
        // write to the new one (and the other way round until it has resynced).
        let consensus_call = ["/raft/append", "/raft/vote", "/raft/snapshot", "/raft/write"].iter().any(|p| path.ends_with(p));
        let mine = crate::cluster::epoch::current(&state.db).await;
        if consensus_call && sender_epoch != mine {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("cluster epoch mismatch: sender {sender_epoch}, this node {mine}")));
        }
        serde_json::from_slice(&body).map(NodeCall).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed node call: {e}")))
    }
}

async fn raft(state: &AppState) -> Result<corral_consensus::Raft, ApiError> {
    state.cluster.raft().await.map(|(_, r)| r).ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no cluster store running"))
}

fn answer<T: serde::Serialize>(value: T) -> Json<Value> {
    Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

async fn append(State(state): State<AppState>, NodeCall(req): NodeCall<AppendEntriesRequest<TypeConfig>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.append_entries(req).await))
}

async fn vote(State(state): State<AppState>, NodeCall(req): NodeCall<VoteRequest<u64>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.vote(req).await))
}

async fn snapshot(State(state): State<AppState>, NodeCall(req): NodeCall<InstallSnapshotRequest<TypeConfig>>) -> Result<Json<Value>, ApiError> {
    Ok(answer(raft(&state).await?.install_snapshot(req).await))
}

async fn write(State(state): State<AppState>, NodeCall(command): NodeCall<Command>) -> Json<Value> {
    let result: Result<CommandResult, String> = state.cluster.write(command).await.map_err(|e| e.to_string());
    answer(result)
}

async fn add_member(State(state): State<AppState>, NodeCall((id, addr)): NodeCall<(u64, NodeAddr)>) -> Json<Value> {
    let result: Result<(), String> = state.cluster.add_member(id, addr).await.map_err(|e| e.to_string());
    answer(result)
}

async fn join(State(state): State<AppState>, NodeCall((who, nodeid)): NodeCall<(crate::cluster::join::Candidate, u64)>) -> Json<Value> {
    let result: Result<(), String> = crate::cluster::join::enroll(&state, who, nodeid).await.map_err(|e| e.to_string());
    answer(result)
}

async fn remove_member(State(state): State<AppState>, NodeCall(id): NodeCall<u64>) -> Json<Value> {
    let result: Result<(), String> = state.cluster.remove_member(id).await.map_err(|e| e.to_string());
    answer(result)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(write))
        .route("/raft/add-member", post(add_member))
        .route("/raft/remove-member", post(remove_member))
        .route("/raft/join", post(join))
}
