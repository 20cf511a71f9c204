//! Storage definitions in the configuration tree (PVE's `storage.cfg`): one record per storage at
//! `storage/<id>`, replicated in a cluster and local on a standalone node, written with
//! compare-and-set so concurrent edits never lose each other. [`monitor`] checks them.
//!
//! Must not render HTTP answers; the API maps [`StorageStoreError`].

pub mod monitor;

use corral_api_types::storage::StorageConfig;
use corral_api_types::StorageId;
use corral_consensus::{Command, Op};
use sqlx::SqlitePool;

use crate::cluster::{ClusterError, ClusterHandle};

pub const PREFIX: &str = "storage/";

#[derive(Debug, thiserror::Error)]
pub enum StorageStoreError {
    #[error("storage ID '{0}' already defined")]
    Exists(StorageId),
    #[error("storage '{0}' does not exist")]
    NotFound(String),
    #[error("storage '{0}' was changed meanwhile, try again")]
    Changed(StorageId),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl From<sqlx::Error> for StorageStoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::Cluster(err.into())
    }
}

fn key(id: &StorageId) -> String {
    format!("{PREFIX}{id}")
}

pub async fn list(db: &SqlitePool) -> sqlx::Result<Vec<StorageConfig>> {
    let mut out: Vec<StorageConfig> = corral_consensus::read_prefix(db, PREFIX)
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_value(v).ok())
        .collect();
    out.sort_by(|a, b| a.storage.cmp(&b.storage));
    Ok(out)
}

pub async fn get(db: &SqlitePool, id: &str) -> Result<StorageConfig, StorageStoreError> {
    let parsed = StorageId::parse(id).map_err(|_| StorageStoreError::NotFound(id.to_string()))?;
    corral_consensus::read(db, &key(&parsed))
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| StorageStoreError::NotFound(id.to_string()))
}

/// PVE's digest over the whole configuration: any change anywhere changes it.
pub fn digest(all: &[StorageConfig]) -> String {
    let text: std::collections::BTreeMap<String, String> =
        all.iter().map(|c| (c.storage.to_string(), serde_json::to_string(c).unwrap_or_default())).collect();
    crate::cluster::config::digest_of(&text)
}

fn value(config: &StorageConfig) -> Result<serde_json::Value, StorageStoreError> {
    let mut config = config.clone();
    config.digest = None;
    serde_json::to_value(config).map_err(|e| StorageStoreError::Cluster(ClusterError::Store(e.to_string())))
}

pub async fn create(cluster: &ClusterHandle, config: &StorageConfig) -> Result<(), StorageStoreError> {
    let k = key(&config.storage);
    let command = Command::new(vec![Op::Expect { key: k.clone(), value: None }, Op::Put { key: k, value: value(config)? }]);
    if cluster.write_config(command).await?.applied {
        Ok(())
    } else {
        Err(StorageStoreError::Exists(config.storage.clone()))
    }
}

/// Replace `old` by `new`, if `old` is still what the store holds.
pub async fn update(cluster: &ClusterHandle, old: &StorageConfig, new: &StorageConfig) -> Result<(), StorageStoreError> {
    let k = key(&old.storage);
    let command = Command::new(vec![Op::Expect { key: k.clone(), value: Some(value(old)?) }, Op::Put { key: k, value: value(new)? }]);
    if cluster.write_config(command).await?.applied {
        Ok(())
    } else {
        Err(StorageStoreError::Changed(old.storage.clone()))
    }
}

pub async fn remove(cluster: &ClusterHandle, old: &StorageConfig) -> Result<(), StorageStoreError> {
    let k = key(&old.storage);
    let command = Command::new(vec![Op::Expect { key: k.clone(), value: Some(value(old)?) }, Op::Delete { key: k }]);
    if cluster.write_config(command).await?.applied {
        Ok(())
    } else {
        Err(StorageStoreError::Changed(old.storage.clone()))
    }
}

/// On a node's very first start its standalone tree gets the default `local` storage (a joiner's
/// tree is later replaced by the cluster's, which has its own). Only then: an admin may remove it.
pub async fn write_default(cluster: &ClusterHandle) -> Result<(), StorageStoreError> {
    match create(cluster, &corral_storage::config::default_local()).await {
        Ok(()) | Err(StorageStoreError::Exists(_)) => Ok(()),
        Err(err) => Err(err),
    }
}
