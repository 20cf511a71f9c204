//! One interface over the storage types, and the [`Registry`] that hands out a backend per
//! configured storage, keeping each NFS storage's mounted session between calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_api_types::storage::{ContentType, StorageConfig, StorageType, StorageVolume, VolumeFormat};
use corral_api_types::Vmid;

use crate::dir::DirStore;
use crate::nfs::NfsStore;
use crate::volume::VolumeName;
use crate::{Result, StorageError};

/// Space on a storage, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub total: u64,
    pub used: u64,
    pub avail: u64,
}

#[derive(Clone)]
pub enum Backend {
    Dir(Arc<DirStore>),
    Nfs(Arc<NfsStore>),
}

pub struct Registry {
    node: String,
    local_root: PathBuf,
    scratch: PathBuf,
    nfs_deadline: Duration,
    nfs: Mutex<HashMap<String, Arc<NfsStore>>>,
}

impl Registry {
    /// `local_root`: the directory of the default `local` storage; `scratch`: where new image
    /// headers are made before upload.
    pub fn new(node: &str, local_root: PathBuf, scratch: PathBuf, nfs_deadline: Duration) -> Self {
        Self { node: node.into(), local_root, scratch, nfs_deadline, nfs: Mutex::default() }
    }

    /// The directory a `dir` storage uses on this node.
    pub fn dir_path(&self, config: &StorageConfig) -> PathBuf {
        config.path.as_ref().map(PathBuf::from).unwrap_or_else(|| self.local_root.clone())
    }

    /// Where a volume lives for QEMU and for PVE's `path`: a file on this node, or an `nfs://` URL.
    pub fn location(&self, config: &StorageConfig, name: &VolumeName) -> String {
        match config.kind {
            StorageType::Nfs => format!("nfs://{}{}/{}", config.server.as_deref().unwrap_or(""), config.export.as_deref().unwrap_or(""), name.relative_path()),
            StorageType::Dir => self.dir_path(config).join(name.relative_path()).to_string_lossy().into_owned(),
        }
    }

    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    pub fn backend(&self, config: &StorageConfig) -> Backend {
        match config.kind {
            StorageType::Dir => Backend::Dir(Arc::new(DirStore::new(config.storage.as_str(), self.dir_path(config)))),
            StorageType::Nfs => {
                let (server, export) = (config.server.clone().unwrap_or_default(), config.export.clone().unwrap_or_default());
                let mut cache = self.nfs.lock().unwrap_or_else(|p| p.into_inner());
                let store = cache.entry(config.storage.to_string()).or_insert_with(|| Arc::new(NfsStore::new(config.storage.as_str(), &server, &export, &self.node, self.nfs_deadline)));
                if store.server != server || store.export != export {
                    *store = Arc::new(NfsStore::new(config.storage.as_str(), &server, &export, &self.node, self.nfs_deadline));
                }
                Backend::Nfs(store.clone())
            }
        }
    }

    /// Forget storages that are no longer configured (their sessions close).
    pub fn retain(&self, configured: &[String]) {
        self.nfs.lock().unwrap_or_else(|p| p.into_inner()).retain(|id, _| configured.contains(id));
    }

    /// A backend for a configuration not saved yet (the online check before Add); never cached.
    pub fn probe(&self, config: &StorageConfig) -> Backend {
        match config.kind {
            StorageType::Nfs => Backend::Nfs(Arc::new(NfsStore::new(
                config.storage.as_str(),
                config.server.as_deref().unwrap_or_default(),
                config.export.as_deref().unwrap_or_default(),
                &self.node,
                self.nfs_deadline,
            ))),
            StorageType::Dir => self.backend(config),
        }
    }
}

impl Backend {
    pub async fn usage(&self) -> Result<Usage> {
        match self {
            Self::Dir(d) => d.usage().await,
            Self::Nfs(n) => n.usage().await,
        }
    }

    /// Make the storage usable: reach it, create the directories of its content types.
    pub async fn activate(&self, config: &StorageConfig) -> Result<()> {
        let content: Vec<ContentType> = config.content_set().into_iter().collect();
        let result = match self {
            Self::Dir(d) => d.activate(&content).await,
            Self::Nfs(n) => n.activate(&content).await,
        };
        result.map_err(|err| StorageError::NotOnline { storage: config.storage.to_string(), why: err.to_string() })
    }

    /// Volumes of the given content type (all the storage's types when `None`), optionally of one guest.
    pub async fn list(&self, config: &StorageConfig, content: Option<ContentType>, vmid: Option<Vmid>) -> Result<Vec<StorageVolume>> {
        let kinds: Vec<ContentType> = match content {
            Some(c) => vec![c],
            None => config.content_set().into_iter().collect(),
        };
        let mut out = match self {
            Self::Dir(d) => d.list(&kinds, vmid).await?,
            Self::Nfs(n) => n.list(&kinds, vmid).await?,
        };
        out.sort_by(|a, b| a.volid.cmp(&b.volid));
        Ok(out)
    }

    pub async fn alloc(&self, vmid: Vmid, file: Option<&str>, format: VolumeFormat, size: u64, scratch: &Path) -> Result<VolumeName> {
        match self {
            Self::Dir(d) => d.alloc(vmid, file, format, size).await,
            Self::Nfs(n) => n.alloc(vmid, file, format, size, scratch).await,
        }
    }

    pub async fn free(&self, name: &VolumeName) -> Result<()> {
        match self {
            Self::Dir(d) => d.free(name).await,
            Self::Nfs(n) => n.free(name).await,
        }
    }

    pub async fn info(&self, name: &VolumeName) -> Result<StorageVolume> {
        match self {
            Self::Dir(d) => d.info(name).await,
            Self::Nfs(n) => n.info(name).await,
        }
    }
}
