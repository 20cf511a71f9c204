//! `/cluster/ha/*` as PVE answers it: the status rows and the resources.

use serde::{Deserialize, Serialize};

/// One row of `GET /cluster/ha/status/current`: the quorum, the master, one per LRM and one
/// per service. `status` is the line PVE's GUI shows as it is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HaStatusRow {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::pve_bool::option")]
    pub quorate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Services: the id (`vm:100`), PVE's verbose state and the CRM's own state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_relocate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::pve_bool::option")]
    pub failback: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One entry of `GET /cluster/ha/resources`: only what was set, as PVE lists it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HaResource {
    pub sid: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_restart: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_relocate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::pve_bool::option")]
    pub failback: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl HaResource {
    /// The guest's id (`vm:100` → 100).
    pub fn vmid(&self) -> Option<u32> {
        self.sid.strip_prefix("vm:").unwrap_or(&self.sid).parse().ok()
    }
}

/// PVE's defaults, shown where a resource leaves a value unset.
pub const DEFAULT_MAX_RESTART: u32 = 1;
pub const DEFAULT_MAX_RELOCATE: u32 = 1;

/// `GET /cluster/ha/status/manager_status`, the parts a console shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HaManagerStatus {
    #[serde(default)]
    pub manager_status: HaManagerState,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HaManagerState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_node: Option<String>,
    #[serde(default)]
    pub timestamp: i64,
    /// Each node's state as the CRM sees it: online, maintenance, unknown, fence, gone.
    #[serde(default)]
    pub node_status: std::collections::BTreeMap<String, String>,
}

/// One step of a failover (`GET /cluster/ha/timeline`, a corral extension).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FailoverStep {
    /// `lost`, `fenced`, `recovery` or `started`.
    pub step: String,
    /// Unix time (seconds) of the cluster log entry that records it.
    pub time: i64,
    /// The node that recorded it.
    pub node: String,
    /// Why, in words (the cluster log's message).
    pub msg: String,
}

/// One recovery of an HA service from a fenced node, as the cluster log tells it: node lost →
/// lease expired and fenced → recovery node chosen → started there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Failover {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub steps: Vec<FailoverStep>,
}
