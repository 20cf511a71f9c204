//! corral's storage layer: the `storage.cfg` rules ([`config`]), volume names ([`volume`]), and
//! the backends that hold disk images: local directories ([`dir`]) and NFSv3 spoken from
//! userspace ([`nfs`]), where every network operation runs under a deadline, so a dead server
//! fails a call instead of hanging it.
//!
//! Must not speak HTTP, touch the configuration store, or know about nodes beyond a name: the
//! server decides which storages exist and wires results into the API.

pub mod backend;
pub mod config;
pub mod dir;
pub mod image;
pub mod nfs;
pub mod volume;

use std::time::Duration;

pub use backend::{Backend, Registry, Usage};
pub use volume::{VolumeId, VolumeName};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage cannot be reached or used right now (PVE: "storage 'x' is not online").
    #[error("storage '{storage}' is not online ({why})")]
    NotOnline { storage: String, why: String },
    #[error("{what} timed out after {} s", .after.as_secs_f32())]
    Timeout { what: String, after: Duration },
    #[error("volume '{0}' does not exist")]
    NoSuchVolume(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    BadVolume(String),
    #[error("{0}")]
    Nfs(String),
    #[error("{0}")]
    Tool(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl StorageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// Whether the error says the storage is unreachable (rather than a bad request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::NotOnline { .. } | Self::Timeout { .. })
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Run `work` under a deadline; the future is dropped (its sockets closed) when time is up.
pub async fn with_deadline<T>(what: impl Into<String>, after: Duration, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(after, work).await {
        Ok(result) => result,
        Err(_) => Err(StorageError::Timeout { what: what.into(), after }),
    }
}
