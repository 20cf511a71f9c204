//! Wire types of corral's PVE-compatible API, shared by the server, the console (wasm) and tests.
//!
//! Must stay free of I/O, async runtimes and web frameworks so it compiles for wasm32.
//! Field names and value shapes follow Proxmox VE (`../shared/spec/pve-api.md`): booleans are
//! sent as integers `1`/`0` (see [`pve_bool`]) and some numbers are strings where PVE sends strings.

pub mod ids;
pub mod node;
pub mod cluster;
pub mod cluster_config;
pub mod guest;
pub mod access;
pub mod pve_bool;
pub mod upid;
pub mod storage;
pub mod ha;
pub mod rrd;
pub mod ticket;
pub mod params;

pub use ids::{IdError, NodeName, StorageId, TokenName, Userid};
pub use upid::Upid;
pub use guest::Vmid;

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionInfo {
    pub version: String,
    pub release: String,
    pub repoid: String,
    /// Product name; an extension of PVE's shape so clients can tell corral from PVE.
    pub product: String,
}
