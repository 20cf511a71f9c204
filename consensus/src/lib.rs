//! corral's replicated configuration store: an openraft 0.9 (`storage-v2`) node whose log and
//! state machine live in the node's SQLite database.
//!
//! The state machine is a tree of JSON documents keyed by path (`cluster/config`,
//! `priv/authkey`, …), changed only by [`Command`]s that went through the Raft log. Reading a key
//! is a local SQLite read and works without quorum; writing needs the leader and a quorum.
//!
//! Must not know what the keys mean (that is the server's model), nor speak HTTP (the server
//! supplies the network).

pub mod raft_log;
pub mod state_machine;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

pub use raft_log::RaftLogStore;
pub use state_machine::{AppliedKeys, ConfigStateMachine};

/// A cluster member as Raft knows it: where its API answers and what it is called.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub name: String,
    /// `https://<link address>:<port>`
    pub api: String,
    /// SHA-256 fingerprint of the node's HTTPS certificate; peers pin it.
    #[serde(default)]
    pub fingerprint: String,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.api)
    }
}

/// One change to apply to the configuration tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Put { key: String, value: serde_json::Value },
    Delete { key: String },
    /// A guard: the command applies only if `key` holds exactly `value` (`None`: is absent).
    /// With guards a command is a compare-and-set, all or nothing; leases are built on it.
    Expect { key: String, value: Option<serde_json::Value> },
}

/// What goes through the Raft log: changes applied atomically, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub ops: Vec<Op>,
    /// Names one write request across its retries: a command whose request already reached the
    /// log is not applied again, and the retry gets the first attempt's result (so a guarded
    /// command that landed before its answer was lost does not report "not applied").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

impl Command {
    pub fn new(ops: Vec<Op>) -> Self {
        Self { ops, request: None }
    }

    pub fn put(key: impl Into<String>, value: serde_json::Value) -> Self {
        Self::new(vec![Op::Put { key: key.into(), value }])
    }
}

/// The tree key under which the state machine remembers the results of the latest requests.
pub const KEY_RECENT_REQUESTS: &str = "raft/recent-requests";
/// How many request results are remembered (retries come within seconds, so a few hundred
/// writes of history is plenty).
pub const RECENT_REQUESTS: usize = 256;

/// The outcome of a committed command: the log index, and whether its guards held (if they
/// did not, nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub index: u64,
    #[serde(default = "applied_by_default")]
    pub applied: bool,
}

fn applied_by_default() -> bool {
    true
}

impl Default for CommandResult {
    fn default() -> Self {
        Self { index: 0, applied: true }
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type StorageError = openraft::StorageError<NodeId>;

pub(crate) type IoError = openraft::StorageIOError<NodeId>;

/// Read one key of the configuration tree (local, no quorum needed).
pub async fn read(db: &sqlx::SqlitePool, key: &str) -> sqlx::Result<Option<serde_json::Value>> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM config_kv WHERE key = ?").bind(key).fetch_optional(db).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Read every key under `prefix`.
pub async fn read_prefix(db: &sqlx::SqlitePool, prefix: &str) -> sqlx::Result<Vec<(String, serde_json::Value)>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM config_kv WHERE substr(key, 1, length(?)) = ? ORDER BY key")
        .bind(prefix)
        .bind(prefix)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v))).collect())
}

pub(crate) fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}
