//! Guests (QEMU virtual machines): the VMID and what `GET /nodes/{node}/qemu` lists.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::IdError;

/// A guest's id, unique in the cluster: PVE's range 100..=999999999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Vmid(u32);

impl Vmid {
    pub const MIN: u32 = 100;
    pub const MAX: u32 = 999_999_999;

    pub fn new(id: u32) -> Result<Self, IdError> {
        if (Self::MIN..=Self::MAX).contains(&id) {
            Ok(Self(id))
        } else {
            Err(IdError(format!("value must be between {} and {}", Self::MIN, Self::MAX)))
        }
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let id = text.trim().parse::<u32>().map_err(|_| IdError(format!("type check ('integer') failed - got '{text}'")))?;
        Self::new(id)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Vmid {
    type Error = IdError;
    fn try_from(id: u32) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl From<Vmid> for u32 {
    fn from(id: Vmid) -> u32 {
        id.0
    }
}

impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One entry of `GET /nodes/{node}/qemu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuListEntry {
    pub vmid: Vmid,
    pub name: String,
    /// `running` or `stopped`.
    pub status: String,
    pub cpus: u32,
    /// Bytes.
    pub maxmem: u64,
    pub mem: u64,
    pub maxdisk: u64,
    pub disk: u64,
    pub uptime: u64,
    pub cpu: f64,
}

/// `GET /nodes/{node}/qemu/{vmid}/status/current`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestStatus {
    pub vmid: Vmid,
    pub name: String,
    /// `running` or `stopped`.
    pub status: String,
    /// What QEMU itself says (`running`, `paused`, `postmigrate`…).
    #[serde(default)]
    pub qmpstatus: Option<String>,
    pub cpus: u32,
    pub cpu: f64,
    pub mem: u64,
    pub maxmem: u64,
    pub uptime: u64,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub ha: GuestHa,
}

/// A guest's `ha` in its status: whether HA manages it and the state HA is asked to keep.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GuestHa {
    #[serde(with = "crate::pve_bool")]
    pub managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Why a node may not take a guest (`GET …/migrate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotAllowed {
    pub reason: String,
}

/// `GET /nodes/{node}/qemu/{vmid}/migrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigratePreconditions {
    #[serde(with = "crate::pve_bool")]
    pub running: bool,
    pub allowed_nodes: Vec<String>,
    pub not_allowed_nodes: std::collections::BTreeMap<String, NotAllowed>,
    pub local_disks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmids_follow_pve_range() {
        assert!(Vmid::parse("100").is_ok());
        assert!(Vmid::parse("999999999").is_ok());
        assert!(Vmid::parse("99").is_err());
        assert!(Vmid::parse("1000000000").is_err());
        assert!(Vmid::parse("abc").is_err());
        assert!(serde_json::from_str::<Vmid>("42").is_err());
        assert_eq!(serde_json::to_string(&Vmid::new(100).unwrap()).unwrap(), "100");
    }
}
