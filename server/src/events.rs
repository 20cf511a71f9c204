//! Live events pushed to consoles over SSE (`GET /api2/json/events`, a corral extension).
//! Clients that cannot hold the stream poll the ordinary endpoints instead.

use corral_api_types::node::RrdSample;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A new status sample of a node (what the Summary graph plots).
    NodeSample { node: String, sample: RrdSample },
    /// The cluster log has new entries; clients re-read `/cluster/log`.
    ClusterLog,
    /// A task started or ended; clients re-read `/cluster/tasks`.
    Tasks,
    /// Something in `/cluster/resources` changed (a storage became available or not);
    /// clients re-read it.
    Resources,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::NodeSample { .. } => "node-sample",
            Event::ClusterLog => "cluster-log",
            Event::Tasks => "tasks",
            Event::Resources => "resources",
        }
    }
}
