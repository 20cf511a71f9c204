//! `/cluster` wire types.

use serde::{Deserialize, Serialize};

/// One entry of `GET /cluster/status`: a `cluster` row (only when clustered) or a `node` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClusterStatusEntry {
    Cluster {
        id: String,
        name: String,
        nodes: u32,
        version: u64,
        #[serde(with = "crate::pve_bool")]
        quorate: bool,
        /// corral only: the node this node knows as the configuration store's (Raft) leader.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        leader: Option<String>,
        /// corral only: the votes quorum is counted against (those of the Raft voters).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        expected_votes: Option<u32>,
        /// corral only: this node's Raft term (it rises with every election it sees or starts).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        term: Option<u64>,
    },
    Node {
        id: String,
        name: String,
        nodeid: u32,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        ip: Option<String>,
        #[serde(with = "crate::pve_bool")]
        local: bool,
        #[serde(with = "crate::pve_bool")]
        online: bool,
        level: String,
    },
}

/// One entry of `GET /cluster/resources`: nodes and guests.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vmid: Option<crate::Vmid>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maxcpu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mem: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maxmem: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maxdisk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uptime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub level: Option<String>,
    /// Storage entries: the storage id, its type, whether shared, its content list.
    /// A guest's HA state (PVE's verbose service state), when HA manages it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hastate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub storage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plugintype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default, with = "crate::pve_bool::option")]
    pub shared: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<String>,
}

/// One entry of `GET /cluster/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterLogEntry {
    pub uid: i64,
    pub time: i64,
    pub pri: u8,
    pub tag: String,
    pub pid: i64,
    pub node: String,
    pub user: String,
    pub msg: String,
    pub id: String,
}

/// One entry of `GET /cluster/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
}

/// One member of `GET /cluster/gossip` (a corral extension): what this node's gossip knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GossipMember {
    pub node: String,
    #[serde(with = "crate::pve_bool")]
    pub local: bool,
    #[serde(with = "crate::pve_bool")]
    pub alive: bool,
    /// `online`, `offline`, or `unknown` while gossip cannot tell yet (just started or joined).
    #[serde(default)]
    pub state: String,
    /// `ip:port` of its gossip socket.
    pub address: String,
    /// Smoothed round trip from this node, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uptime: Option<u64>,
    /// Whether this node reached the member over SSH at its last check (not for itself).
    #[serde(skip_serializing_if = "Option::is_none", default, with = "crate::pve_bool::option")]
    pub ssh: Option<bool>,
    /// Why the last SSH check failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ssh_error: Option<String>,
}

/// This node's gossip datagram counters: what arrived, and what was dropped and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GossipCounters {
    pub received: u64,
    pub sent: u64,
    pub dropped_malformed: u64,
    pub dropped_unauthentic: u64,
    pub dropped_stale: u64,
    pub dropped_replayed: u64,
    /// Opened fine but was not a valid message (bad frame, refused by SWIM).
    pub dropped_invalid: u64,
}

impl GossipCounters {
    pub fn dropped(&self) -> u64 {
        self.dropped_malformed + self.dropped_unauthentic + self.dropped_stale + self.dropped_replayed + self.dropped_invalid
    }
}

/// `GET /cluster/gossip`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GossipReport {
    pub members: Vec<GossipMember>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub counters: Option<GossipCounters>,
}

/// Link latency above which the Cluster panel warns (corosync's own advice for its links).
pub const LATENCY_WARN_MS: f64 = 2.0;
