//! Storage: PVE's `storage.cfg` entries as the API shows them, per-node status, volumes and the
//! NFS export scan (`../shared/spec/pve-api.md` §4).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{IdError, NodeName, StorageId};

/// What a storage may hold, with PVE's names, GUI labels and directory layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentType {
    Backup,
    Images,
    Import,
    Iso,
    Rootdir,
    Snippets,
    Vztmpl,
}

impl ContentType {
    pub const ALL: [ContentType; 7] =
        [Self::Images, Self::Rootdir, Self::Vztmpl, Self::Iso, Self::Backup, Self::Snippets, Self::Import];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::Images => "images",
            Self::Import => "import",
            Self::Iso => "iso",
            Self::Rootdir => "rootdir",
            Self::Snippets => "snippets",
            Self::Vztmpl => "vztmpl",
        }
    }

    /// The GUI's label (PVE `Utils.js`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Backup => "Backup",
            Self::Images => "Disk image",
            Self::Import => "Import",
            Self::Iso => "ISO image",
            Self::Rootdir => "Container",
            Self::Snippets => "Snippets",
            Self::Vztmpl => "Container template",
        }
    }

    /// Directory under the storage's path (PVE `Plugin.pm` vtype_subdirs).
    pub fn subdir(self) -> &'static str {
        match self {
            Self::Backup => "dump",
            Self::Images => "images",
            Self::Import => "import",
            Self::Iso => "template/iso",
            Self::Rootdir => "private",
            Self::Snippets => "snippets",
            Self::Vztmpl => "template/cache",
        }
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| IdError(format!("invalid content type '{text}'")))
    }

    /// A comma list as PVE writes it (`images,iso`): sorted, no duplicates.
    pub fn list_to_string(set: &BTreeSet<ContentType>) -> String {
        let mut names: Vec<&str> = set.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.join(",")
    }

    /// Parse a comma list; every unknown name is an error.
    pub fn parse_list(text: &str) -> Result<BTreeSet<ContentType>, IdError> {
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Self::parse).collect()
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Storage types corral implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Dir,
    Nfs,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dir => "dir",
            Self::Nfs => "nfs",
        }
    }

    /// Content types the type accepts (PVE's plugin `plugindata`).
    pub fn allowed_content(self) -> &'static [ContentType] {
        &ContentType::ALL
    }

    /// Shared between nodes by nature (PVE's `@SHARED_STORAGE`).
    pub fn is_shared(self) -> bool {
        matches!(self, Self::Nfs)
    }
}

/// Disk image formats on file storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeFormat {
    Raw,
    Qcow2,
    Vmdk,
}

impl VolumeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
            Self::Vmdk => "vmdk",
        }
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        match text {
            "raw" => Ok(Self::Raw),
            "qcow2" => Ok(Self::Qcow2),
            "vmdk" => Ok(Self::Vmdk),
            _ => Err(IdError(format!("value '{text}' does not have a value in the enumeration 'raw, qcow2, vmdk'"))),
        }
    }
}

impl fmt::Display for VolumeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `storage.cfg` section, as the store keeps it and `GET /storage/{storage}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageConfig {
    pub storage: StorageId,
    #[serde(rename = "type")]
    pub kind: StorageType,
    /// Comma list, sorted (`images,iso`).
    pub content: String,
    /// Directory of a `dir` storage; PVE's mount point of an `nfs` one (`/mnt/pve/<id>`).
    /// Absent for the default `local` storage: each node's own `<data dir>/local`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub export: Option<String>,
    /// NFS mount options; corral reads `vers=`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub options: Option<String>,
    /// Comma list of nodes that may use the storage; absent = all.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nodes: Option<String>,
    #[serde(with = "crate::pve_bool", default, skip_serializing_if = "is_false")]
    pub disable: bool,
    /// `dir` storages can be marked shared (someone else shares the directory).
    #[serde(with = "crate::pve_bool", default)]
    pub shared: bool,
    #[serde(rename = "prune-backups", skip_serializing_if = "Option::is_none", default)]
    pub prune_backups: Option<String>,
    /// Default format of new disk images (PVE: raw).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<VolumeFormat>,
    /// PVE's digest of the whole configuration, filled in by `GET`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl StorageConfig {
    /// An entry with only its id, type and content; every option unset.
    pub fn new(storage: StorageId, kind: StorageType, content: &str) -> Self {
        Self {
            storage,
            kind,
            content: content.into(),
            path: None,
            server: None,
            export: None,
            options: None,
            nodes: None,
            disable: false,
            shared: false,
            prune_backups: None,
            format: None,
            digest: None,
        }
    }

    pub fn content_set(&self) -> BTreeSet<ContentType> {
        ContentType::parse_list(&self.content).unwrap_or_default()
    }

    pub fn node_list(&self) -> Option<BTreeSet<String>> {
        self.nodes.as_ref().map(|n| n.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
    }

    /// Whether `node` may use the storage (its `nodes` list, if any, names it).
    pub fn applies_to(&self, node: &str) -> bool {
        self.node_list().is_none_or(|nodes| nodes.is_empty() || nodes.contains(node))
    }

    pub fn is_shared(&self) -> bool {
        self.kind.is_shared() || self.shared
    }

    /// What the grid's Path/Target column shows.
    pub fn target(&self) -> String {
        match self.kind {
            StorageType::Nfs => format!("{}:{}", self.server.as_deref().unwrap_or(""), self.export.as_deref().unwrap_or("")),
            StorageType::Dir => self.path.clone().unwrap_or_default(),
        }
    }

    /// The NFS version asked for in `options` (`vers=4.2` → `4.2`), if any.
    pub fn nfs_version(&self) -> Option<&str> {
        self.options.as_deref()?.split(',').find_map(|o| o.trim().strip_prefix("vers="))
    }

    /// Nodes named in `nodes` that do not parse as node names (for validation messages).
    pub fn bad_nodes(&self) -> Vec<String> {
        self.node_list().unwrap_or_default().into_iter().filter(|n| NodeName::parse(n).is_err()).collect()
    }
}

/// One entry of `GET /nodes/{node}/storage` (and the body of `…/{storage}/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStorageStatus {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    #[serde(with = "crate::pve_bool")]
    pub enabled: bool,
    #[serde(with = "crate::pve_bool")]
    pub active: bool,
    #[serde(with = "crate::pve_bool")]
    pub shared: bool,
    pub total: u64,
    pub used: u64,
    pub avail: u64,
    pub used_fraction: f64,
    /// Why the storage is not active (a corral extension; absent when active).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageVolume {
    pub volid: String,
    pub content: String,
    pub format: String,
    /// Virtual size in bytes.
    pub size: u64,
    /// Bytes the file takes on the storage.
    pub used: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vmid: Option<u32>,
    pub ctime: u64,
}

/// One entry of `GET /nodes/{node}/scan/nfs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NfsExport {
    pub path: String,
    pub options: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_lists_are_sorted_and_checked() {
        let set = ContentType::parse_list("iso, images,iso").unwrap();
        assert_eq!(ContentType::list_to_string(&set), "images,iso");
        assert!(ContentType::parse_list("images,disks").is_err());
    }

    #[test]
    fn config_round_trips_pve_json() {
        let text = r#"{"storage":"nfs1","type":"nfs","content":"images,iso","server":"10.0.0.4","export":"/srv","path":"/mnt/pve/nfs1","options":"vers=3","nodes":"n1,n2","shared":1}"#;
        let config: StorageConfig = serde_json::from_str(text).unwrap();
        assert!(config.applies_to("n1") && !config.applies_to("n3"));
        assert_eq!(config.nfs_version(), Some("3"));
        assert_eq!(config.target(), "10.0.0.4:/srv");
        assert!(config.is_shared() && !config.disable);
        let back = serde_json::to_value(&config).unwrap();
        assert_eq!(back["shared"], 1);
        assert!(back.get("disable").is_none());
    }
}
