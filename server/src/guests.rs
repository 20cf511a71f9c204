//! Guest configurations: one record per VMID at `qemu/<vmid>` in the configuration tree
//! (replicated in a cluster; PVE keeps `/etc/pve/nodes/<node>/qemu-server/<vmid>.conf`), naming
//! the node that owns the guest. A VMID is unique in the cluster because creating a record is a
//! guarded write that fails if the key exists, on a standalone node and in a cluster alike.
//!
//! Only configuration for now: running guests (QEMU) come with the guests issue.
//! Must not render HTTP answers; the API layer maps [`GuestError`].

use std::collections::BTreeMap;

use corral_api_types::Vmid;
use corral_consensus::{Command, Op};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::cluster::{ClusterError, ClusterHandle};

pub const PREFIX: &str = "qemu/";
/// PVE's default memory, MiB.
const DEFAULT_MEMORY_MIB: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("VM {vmid} already exists on node '{node}'")]
    Exists { vmid: Vmid, node: String },
    #[error("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")]
    NotFound { vmid: Vmid, node: String },
    #[error("VM {0} was changed meanwhile, try again")]
    Changed(Vmid),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl From<sqlx::Error> for GuestError {
    fn from(err: sqlx::Error) -> Self {
        GuestError::Cluster(err.into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestRecord {
    /// The node that owns the guest (where it runs).
    pub node: String,
    /// PVE's configuration keys (`name`, `memory`, `cores`, …), values as PVE's text.
    pub config: BTreeMap<String, String>,
}

impl GuestRecord {
    pub fn name(&self, vmid: Vmid) -> String {
        self.config.get("name").cloned().unwrap_or_else(|| format!("VM {vmid}"))
    }

    pub fn memory_bytes(&self) -> u64 {
        self.config.get("memory").and_then(|m| m.parse().ok()).unwrap_or(DEFAULT_MEMORY_MIB) * 1024 * 1024
    }

    pub fn cpus(&self) -> u32 {
        let get = |key: &str| self.config.get(key).and_then(|v| v.parse::<u32>().ok()).unwrap_or(1);
        get("cores") * get("sockets")
    }

    /// Size of the first disk (PVE's `maxdisk` of a VM), from its `size=` option.
    pub fn boot_disk_bytes(&self) -> u64 {
        let first = ["scsi", "virtio", "sata", "ide"].iter().find_map(|bus| {
            (0..31).find_map(|n| self.config.get(&format!("{bus}{n}"))).filter(|v| !v.contains("media=cdrom"))
        });
        first.and_then(|v| v.split(',').find_map(|o| o.strip_prefix("size="))).and_then(size_bytes).unwrap_or(0)
    }

    /// PVE's `digest` of a configuration, for optimistic concurrency.
    pub fn digest(&self) -> String {
        crate::cluster::config::digest_of(&self.config)
    }
}

/// `4G`, `512M`, `1024K`, `1T` (PVE's disk `size=`) in bytes.
fn size_bytes(text: &str) -> Option<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = number.parse().ok()?;
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    Some((n * (1u64 << shift) as f64) as u64)
}

pub fn key(vmid: Vmid) -> String {
    format!("{PREFIX}{vmid}")
}

pub async fn list(db: &SqlitePool) -> sqlx::Result<Vec<(Vmid, GuestRecord)>> {
    let mut out: Vec<(Vmid, GuestRecord)> = corral_consensus::read_prefix(db, PREFIX)
        .await?
        .into_iter()
        .filter_map(|(k, v)| Some((Vmid::parse(k.strip_prefix(PREFIX)?).ok()?, serde_json::from_value(v).ok()?)))
        .collect();
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

pub async fn get(db: &SqlitePool, vmid: Vmid) -> sqlx::Result<Option<GuestRecord>> {
    Ok(corral_consensus::read(db, &key(vmid)).await?.and_then(|v| serde_json::from_value(v).ok()))
}

/// The record of `vmid` if `node` owns it.
pub async fn get_on(db: &SqlitePool, vmid: Vmid, node: &str) -> Result<GuestRecord, GuestError> {
    match get(db, vmid).await? {
        Some(record) if record.node == node => Ok(record),
        _ => Err(GuestError::NotFound { vmid, node: node.to_string() }),
    }
}

/// `Exists` if `vmid` is taken anywhere in the cluster.
pub async fn check_unused(db: &SqlitePool, vmid: Vmid) -> Result<(), GuestError> {
    match get(db, vmid).await? {
        Some(record) => Err(GuestError::Exists { vmid, node: record.node }),
        None => Ok(()),
    }
}

/// Record a new guest; refused if the VMID was taken meanwhile (by any node).
pub async fn create(db: &SqlitePool, cluster: &ClusterHandle, vmid: Vmid, record: &GuestRecord) -> Result<(), GuestError> {
    let value = serde_json::to_value(record).map_err(|e| ClusterError::Store(e.to_string()))?;
    let command = Command::new(vec![Op::Expect { key: key(vmid), value: None }, Op::Put { key: key(vmid), value }]);
    if cluster.write_config(command).await?.applied {
        return Ok(());
    }
    check_unused(db, vmid).await?;
    Err(GuestError::Changed(vmid))
}

/// Replace the guest's record by `new`, if it is still `old` (owner changes, locks).
pub async fn replace(cluster: &ClusterHandle, vmid: Vmid, old: &GuestRecord, new: &GuestRecord) -> Result<(), GuestError> {
    let to_value = |r: &GuestRecord| serde_json::to_value(r).map_err(|e| ClusterError::Store(e.to_string()));
    let command = Command::new(vec![Op::Expect { key: key(vmid), value: Some(to_value(old)?) }, Op::Put { key: key(vmid), value: to_value(new)? }]);
    if cluster.write_config(command).await?.applied {
        Ok(())
    } else {
        Err(GuestError::Changed(vmid))
    }
}

/// Remove the guest's record, if it is still the one that was read.
pub async fn destroy(cluster: &ClusterHandle, vmid: Vmid, record: &GuestRecord) -> Result<(), GuestError> {
    let value = serde_json::to_value(record).map_err(|e| ClusterError::Store(e.to_string()))?;
    let command = Command::new(vec![Op::Expect { key: key(vmid), value: Some(value) }, Op::Delete { key: key(vmid) }]);
    if cluster.write_config(command).await?.applied {
        Ok(())
    } else {
        Err(GuestError::Changed(vmid))
    }
}

/// Whether a configuration key names a disk (`scsi0`, `virtio1`, `sata2`, `ide0`, `efidisk0`, `tpmstate0`).
pub fn is_disk_key(key: &str) -> bool {
    let bus = ["scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"].into_iter().find(|b| key.starts_with(b));
    bus.is_some_and(|b| {
        let n = &key[b.len()..];
        !n.is_empty() && n.len() <= 2 && n.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Guests with a disk on `storage` (a disk value starts with `<storage>:`).
pub async fn using_storage(db: &SqlitePool, storage: &str) -> sqlx::Result<Vec<Vmid>> {
    let prefix = format!("{storage}:");
    Ok(list(db)
        .await?
        .into_iter()
        .filter(|(_, record)| record.config.iter().any(|(k, v)| is_disk_key(k) && v.starts_with(&prefix)))
        .map(|(vmid, _)| vmid)
        .collect())
}

/// The lowest free VMID (PVE's `/cluster/nextid`).
pub async fn next_free(db: &SqlitePool) -> sqlx::Result<Option<Vmid>> {
    let used: std::collections::BTreeSet<Vmid> = list(db).await?.into_iter().map(|(id, _)| id).collect();
    Ok((Vmid::MIN..=Vmid::MAX).filter_map(|id| Vmid::new(id).ok()).find(|id| !used.contains(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_pve_keys() {
        let vmid = Vmid::new(100).unwrap();
        let mut record = GuestRecord { node: "n1".into(), config: BTreeMap::new() };
        assert_eq!(record.name(vmid), "VM 100");
        assert_eq!(record.memory_bytes(), 512 * 1024 * 1024);
        assert_eq!(record.cpus(), 1);
        record.config.insert("cores".into(), "2".into());
        record.config.insert("sockets".into(), "2".into());
        record.config.insert("memory".into(), "2048".into());
        record.config.insert("name".into(), "web".into());
        assert_eq!((record.name(vmid), record.cpus(), record.memory_bytes()), ("web".to_string(), 4, 2048 * 1024 * 1024));
        record.config.insert("scsi0".into(), "nfs1:100/vm-100-disk-0.qcow2,size=4G".into());
        assert_eq!(record.boot_disk_bytes(), 4 << 30);
        let before = record.digest();
        record.config.insert("memory".into(), "1024".into());
        assert_ne!(before, record.digest());
    }
}
