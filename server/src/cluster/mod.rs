//! The cluster: what the replicated store holds (`config.rs`), this node's Raft instance
//! (`raft_node.rs`), quorum arithmetic (`quorum.rs`) and the Create Cluster task (`create.rs`).
//!
//! Must not render HTTP answers; the API layer turns [`ClusterError`]s into PVE errors.

pub mod config;
pub mod create;
pub mod epoch;
pub mod join;
pub mod lease;
pub mod liveness;
pub mod network;
pub mod node_tls;
pub mod peer_api;
pub mod peer_client;
pub mod quorum;
pub mod raft_node;
pub mod ssh;

pub use config::ClusterConfig;
pub use raft_node::ClusterHandle;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// PVE's words, which clients match on.
    #[error("cluster not ready - no quorum?")]
    NoQuorum,
    #[error("{0}")]
    Refused(String),
    #[error("replicated store: {0}")]
    Store(String),
}

impl From<sqlx::Error> for ClusterError {
    fn from(err: sqlx::Error) -> Self {
        ClusterError::Store(err.to_string())
    }
}
