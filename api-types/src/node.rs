//! `/nodes` wire types.

use serde::{Deserialize, Serialize};

/// One row of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeListEntry {
    pub node: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    /// Usage figures: absent for a node that is offline (PVE omits them too).
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
    pub level: String,
    pub ssl_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CpuInfo {
    pub cpus: u32,
    pub model: String,
    pub sockets: u32,
    pub cores: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MemInfo {
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

/// `GET /nodes/{node}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeStatus {
    /// CPU utilisation 0..1 over the last sampling interval.
    pub cpu: f64,
    pub wait: f64,
    pub cpuinfo: CpuInfo,
    pub memory: MemInfo,
    pub swap: MemInfo,
    pub rootfs: RootFs,
    /// PVE sends the three load averages as strings.
    pub loadavg: [String; 3],
    pub uptime: u64,
    pub kversion: String,
    pub pveversion: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RootFs {
    pub total: u64,
    pub used: u64,
    pub avail: u64,
    pub free: u64,
}

/// One address of `GET /nodes/{node}/network` (the subset used for link selection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub iface: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "crate::pve_bool")]
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netmask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netmask6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr6: Option<String>,
    pub families: Vec<String>,
}
