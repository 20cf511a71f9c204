//! Raft's transport: JSON over HTTPS to the peer's `/api2/json/cluster/raft/*`, with mutual TLS
//! under the cluster CA (see `node_tls.rs`). A peer that cannot be reached is reported as
//! `Unreachable`, which Raft treats as a down node.

use std::time::Duration;

use corral_consensus::{NodeAddr, TypeConfig};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::SqlitePool;

use super::node_tls::NodeTls;

pub struct PeerNetwork {
    pub db: SqlitePool,
    pub tls: std::sync::Arc<NodeTls>,
    /// Per peer: whether the last Raft call reached it (failures are logged on change only;
    /// openraft's own per-retry errors are silenced by the default log filter).
    pub reachable: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, bool>>>,
}

pub struct PeerClient {
    db: SqlitePool,
    tls: std::sync::Arc<NodeTls>,
    target_id: u64,
    target: NodeAddr,
    reachable: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, bool>>>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;
    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> PeerClient {
        PeerClient { db: self.db.clone(), tls: self.tls.clone(), target_id: target, target: node.clone(), reachable: self.reachable.clone() }
    }
}

/// POST `body` to `<peer.api>/api2/json/cluster/raft/<what>` over mutual TLS, the peer checked
/// to hold the cluster's certificate for its name (the very one the configuration records for
/// it, once this node has a configuration); the peer's answer.
pub async fn node_call<Req: Serialize, Resp: DeserializeOwned>(
    tls: &NodeTls,
    db: &SqlitePool,
    peer: &NodeAddr,
    what: &str,
    body: &Req,
    timeout: Duration,
) -> anyhow::Result<Resp> {
    let api = &peer.api;
    let bytes = serde_json::to_vec(body)?;
    let config = super::ClusterConfig::load(db).await?;
    let pin = config.as_ref().and_then(|c| c.node(&peer.name)).and_then(|n| n.cert_pin());
    let response = tls
        .client(&peer.name, pin)?
        .post(format!("{api}/api2/json/cluster/raft/{what}"))
        .timeout(timeout)
        .header(super::epoch::EPOCH_HEADER, super::epoch::current(db).await.to_string())
        .header("Content-Type", "application/json")
        .body(bytes)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("{api} answered {status}: {}", response.text().await.unwrap_or_default().trim());
    }
    Ok(response.json().await?)
}

impl PeerClient {
    fn note_reachability(&self, failure: Option<&anyhow::Error>) {
        let now = failure.is_none();
        let before = self.reachable.lock().unwrap_or_else(|p| p.into_inner()).insert(self.target_id, now);
        match (before, failure) {
            (Some(true) | None, Some(err)) => tracing::warn!(peer = %self.target.name, "configuration store: peer unreachable: {err:#}"),
            (Some(false), None) => tracing::info!(peer = %self.target.name, "configuration store: peer reachable again"),
            _ => {}
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        what: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, NodeAddr, E>> {
        // Finish before openraft gives up on the call (hard TTL), so a failure is ours to note.
        let timeout = option.soft_ttl();
        let answer = match tokio::time::timeout(timeout, node_call::<Req, Result<Resp, E>>(&self.tls, &self.db, &self.target, what, request, timeout)).await {
            Ok(answer) => answer,
            Err(_) => Err(anyhow::anyhow!("no answer within {timeout:?}")),
        };
        self.note_reachability(answer.as_ref().err());
        match answer {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(self.target_id, self.target.clone(), remote))),
            Err(err) => {
                let connect = err.downcast_ref::<reqwest::Error>().is_none_or(|e| e.is_connect() || e.is_timeout());
                if connect {
                    Err(RPCError::Unreachable(Unreachable::new(&std::io::Error::other(err.to_string()))))
                } else {
                    Err(RPCError::Network(NetworkError::new(&std::io::Error::other(err.to_string()))))
                }
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(&mut self, req: AppendEntriesRequest<TypeConfig>, option: RPCOption) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        self.call("append", &req, &option).await
    }

    async fn install_snapshot(
        &mut self,
        req: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>> {
        self.call("snapshot", &req, &option).await
    }

    async fn vote(&mut self, req: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        self.call("vote", &req, &option).await
    }
}
