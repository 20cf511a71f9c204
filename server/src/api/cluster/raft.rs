//! `/cluster/raft/*`: node-to-node calls (Raft RPCs, forwarded writes and membership changes).
//! Not part of PVE's API; taken only over mutual TLS (see `cluster/node_tls.rs`) from a member's
//! cluster certificate (a joiner's, for `join`).

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use corral_consensus::{Command, CommandResult, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::cluster::epoch::EPOCH_HEADER;
use crate::cluster::node_tls::NodePeer;
use crate::cluster::raft_node::MembershipChange;
use crate::cluster::ClusterConfig;
use crate::state::AppState;

/// Largest node-to-node body (a snapshot chunk or a batch of log entries).
const MAX_NODE_CALL_BYTES: usize = 64 * 1024 * 1024;

/// A verified node-to-node call and its JSON body, with the caller's certificate.
pub struct NodeCall<T>(pub T, pub NodePeer);

/// Whether `peer` may make this call (decided before its body is read): its certificate must
/// be a member's. The `join` call comes from a joiner, whose certificate this node issued with
/// an admission grant in phase 1: it is taken while that grant is live (the grant itself is
/// checked with the body). A node that has no configuration yet (a joiner being filled) takes
/// any certificate of the cluster CA.
async fn check_caller(state: &AppState, peer: &NodePeer, path: &str) -> Result<(), ApiError> {
    if path.ends_with("/raft/join") {
        return if state.join_grants.expects(&peer.fingerprint) {
            Ok(())
        } else {
            Err(ApiError::forbidden("no admission grant for this node certificate"))
        };
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
        let consensus_call = ["/raft/append", "/raft/vote", "/raft/snapshot", "/raft/write", "/raft/read-index", "/raft/ping"].iter().any(|p| path.ends_with(p));
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
    let answer_of = state.cluster.accept_append(req).await;
    answer_of.map(answer).ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no cluster store running"))
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

/// A member asking whether this node can be reached before it campaigns (same epoch only).
async fn ping(NodeCall((), _): NodeCall<()>) -> Json<Value> {
    answer(())
}

/// This node's cluster epoch, for a member deciding whether to resync (gossip only hints).
async fn epoch(State(state): State<AppState>, NodeCall((), _): NodeCall<()>) -> Json<Value> {
    answer(crate::cluster::epoch::replicated(&state.db).await)
}

async fn membership(State(state): State<AppState>, NodeCall(change, _): NodeCall<MembershipChange>) -> Json<Value> {
    let result: Result<(), String> = state.cluster.change_members(change).await.map_err(|e| e.to_string());
    answer(result)
}

async fn join(State(state): State<AppState>, NodeCall((who, nodeid, grant), peer): NodeCall<(crate::cluster::join::Candidate, u64, String)>) -> Json<Value> {
    let result = async {
        state.join_grants.redeem(&peer.fingerprint, &grant, &who.name, nodeid)?;
        crate::cluster::join::enroll(&state, who, nodeid, peer.fingerprint).await
    };
    let result: Result<(), String> = result.await.map_err(|e| e.to_string());
    answer(result)
}

/// The joiner `name` (the caller itself: its certificate is the one recorded for it).
async fn joiner_is_caller(state: &AppState, name: &str, nodeid: u64, peer: &NodePeer) -> Result<(), String> {
    let config = ClusterConfig::load(&state.db).await.map_err(|e| e.to_string())?.ok_or("this node is not in a cluster")?;
    match config.node(name) {
        Some(n) if n.nodeid == nodeid && n.node_cert == peer.fingerprint => Ok(()),
        _ => Err(format!("node '{name}' (id {nodeid}) is not this caller")),
    }
}

async fn join_finish(State(state): State<AppState>, NodeCall((name, nodeid), peer): NodeCall<(String, u64)>) -> Json<Value> {
    let result = async {
        joiner_is_caller(&state, &name, nodeid, &peer).await?;
        crate::cluster::join::finish(&state, &name, nodeid).await.map_err(|e| e.to_string())
    };
    answer(result.await)
}

async fn join_abort(State(state): State<AppState>, NodeCall((name, nodeid), peer): NodeCall<(String, u64)>) -> Json<Value> {
    let result = async {
        joiner_is_caller(&state, &name, nodeid, &peer).await?;
        crate::cluster::join::undo(&state, &name, nodeid).await;
        Ok::<(), String>(())
    };
    answer(result.await)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(write))
        .route("/raft/read-index", post(read_index))
        .route("/raft/membership", post(membership))
        .route("/raft/epoch", post(epoch))
        .route("/raft/ping", post(ping))
        .route("/raft/join", post(join))
        .route("/raft/join-finish", post(join_finish))
        .route("/raft/join-abort", post(join_abort))
}
