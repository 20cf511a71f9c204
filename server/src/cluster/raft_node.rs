//! This node's Raft instance, if it is in a cluster, and the one way to change cluster
//! configuration: [`ClusterHandle::write`], which fails the way PVE does without quorum.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use corral_consensus::{Command, CommandResult, ConfigStateMachine, NodeAddr, NodeId, Raft, RaftLogStore};
use sqlx::SqlitePool;
use tokio::sync::RwLock;

use super::network::PeerNetwork;
use super::ClusterError;

/// How long a write may wait for the leader and a quorum before it is refused.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ClusterHandle {
    db: SqlitePool,
    raft: RwLock<Option<(NodeId, Raft)>>,
}

async fn local_node_id(db: &SqlitePool) -> sqlx::Result<Option<NodeId>> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM local_state WHERE name = 'raft_node_id'").fetch_optional(db).await?;
    Ok(text.and_then(|t| t.parse().ok()))
}

fn raft_config() -> anyhow::Result<Arc<openraft::Config>> {
    let config = openraft::Config {
        cluster_name: "corral".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        ..Default::default()
    };
    Ok(Arc::new(config.validate()?))
}

impl ClusterHandle {
    /// Open the handle; a node that was in a cluster starts its Raft again.
    pub async fn open(db: SqlitePool) -> anyhow::Result<Arc<Self>> {
        let handle = Arc::new(Self { db: db.clone(), raft: RwLock::new(None) });
        if let Some(id) = local_node_id(&db).await? {
            handle.start(id).await?;
        }
        Ok(handle)
    }

    async fn start(&self, id: NodeId) -> anyhow::Result<Raft> {
        let raft = Raft::new(id, raft_config()?, PeerNetwork, RaftLogStore::new(self.db.clone()), ConfigStateMachine::new(self.db.clone())).await?;
        *self.raft.write().await = Some((id, raft.clone()));
        Ok(raft)
    }

    pub async fn raft(&self) -> Option<(NodeId, Raft)> {
        self.raft.read().await.clone()
    }

    /// Become the first member of a new cluster with Raft node id `id`.
    pub async fn bootstrap(&self, id: NodeId, me: NodeAddr) -> Result<(), ClusterError> {
        if self.raft.read().await.is_some() {
            return Err(ClusterError::Refused("this node already runs a cluster store".into()));
        }
        sqlx::query("INSERT INTO local_state (name, value) VALUES ('raft_node_id', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
            .bind(id.to_string())
            .execute(&self.db)
            .await?;
        let raft = self.start(id).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.initialize(BTreeMap::from([(id, me)])).await.map_err(|e| ClusterError::Store(e.to_string()))?;
        raft.wait(Some(WRITE_TIMEOUT)).current_leader(id, "first leader").await.map_err(|_| ClusterError::NoQuorum)?;
        Ok(())
    }

    /// Commit a change through Raft. Without a leader and quorum within [`WRITE_TIMEOUT`] this is
    /// PVE's "cluster not ready - no quorum?".
    pub async fn write(&self, command: Command) -> Result<CommandResult, ClusterError> {
        let Some((_, raft)) = self.raft().await else {
            return Err(ClusterError::Refused("this node is not in a cluster".into()));
        };
        match tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(command)).await {
            Ok(Ok(response)) => Ok(response.data),
            Ok(Err(err)) => {
                tracing::warn!(%err, "cluster write refused");
                Err(ClusterError::NoQuorum)
            }
            Err(_) => Err(ClusterError::NoQuorum),
        }
    }

    pub async fn shutdown(&self) {
        if let Some((_, raft)) = self.raft.write().await.take() {
            let _ = raft.shutdown().await;
        }
    }
}
