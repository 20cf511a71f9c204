//! NFSv3 from userspace (the `nfs3_client` crate over [`stream::RpcStream`]): the export scan
//! (`showmount -e`), and an [`NfsStore`] per configured storage that keeps one mounted
//! [`session::Session`] and runs every call on it under a deadline. A call that fails or runs
//! out of time drops the session; the next call mounts afresh.

pub mod session;
pub mod stream;

use std::time::Duration;

use corral_api_types::storage::{ContentType, NfsExport, StorageVolume, VolumeFormat};
use corral_api_types::Vmid;
use nfs3_client::nfs3_types::nfs3::nfs_fh3;
use nfs3_client::{MountClient, PortmapperClient};
use tokio::sync::Mutex;

use self::session::{Entry, Session};
use self::stream::BoundedConnector;
use crate::volume::{self, VolumeName};
use crate::{image, with_deadline, Result, StorageError, Usage};
use nfs3_client::net::Connector;

/// PVE's scan allows `showmount` 10 s; a LAN answers in milliseconds.
pub const SCAN_DEADLINE: Duration = Duration::from_secs(5);
/// Exports one scan returns at most.
const MAX_EXPORTS: usize = 4096;

/// `showmount -e <server>` over the MOUNT protocol: exports sorted by path.
pub async fn scan_exports(server: &str) -> Result<Vec<NfsExport>> {
    with_deadline(format!("scanning NFS server '{server}'"), SCAN_DEADLINE, async {
        let ip = session::resolve(server).await?;
        let connector = BoundedConnector;
        let pm = connector.connect((ip, nfs3_client::nfs3_types::portmap::PMAP_PORT).into()).await.map_err(|e| StorageError::Nfs(format!("portmapper on {server}: {e}")))?;
        let mount_port = PortmapperClient::new(pm)
            .getport(nfs3_client::nfs3_types::mount::PROGRAM, nfs3_client::nfs3_types::mount::VERSION, nfs3_client::nfs3_types::portmap::IPPROTO_TCP)
            .await
            .map_err(|e| StorageError::Nfs(format!("no mount service on {server}: {e}")))?;
        let m = connector.connect((ip, mount_port).into()).await.map_err(|e| StorageError::Nfs(format!("mount service on {server}: {e}")))?;
        let exports = MountClient::new(m).export().await.map_err(|e| StorageError::Nfs(format!("listing exports of {server}: {e}")))?;
        let mut out: Vec<NfsExport> = exports
            .into_inner()
            .into_iter()
            .take(MAX_EXPORTS)
            .map(|e| {
                let groups: Vec<String> = e.ex_groups.into_inner().iter().map(|g| String::from_utf8_lossy(g.0.as_ref()).into_owned()).collect();
                NfsExport {
                    path: String::from_utf8_lossy(e.ex_dir.0.as_ref()).into_owned(),
                    options: if groups.is_empty() { "(everyone)".into() } else { groups.join(",") },
                }
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    })
    .await
}

/// The export of one NFS storage, mounted on demand.
pub struct NfsStore {
    pub storage: String,
    pub server: String,
    pub export: String,
    machine: String,
    /// Longest any one call may take, mounting included.
    deadline: Duration,
    session: Mutex<Option<Session>>,
}

impl NfsStore {
    pub fn new(storage: &str, server: &str, export: &str, machine: &str, deadline: Duration) -> Self {
        Self {
            storage: storage.into(),
            server: server.into(),
            export: export.into(),
            machine: machine.into(),
            deadline,
            session: Mutex::new(None),
        }
    }

    /// Run `work` on a mounted session under the deadline (waiting for the session included).
    async fn call<T>(&self, what: &str, work: impl for<'s> AsyncFnOnce(&'s mut Session) -> Result<T>) -> Result<T> {
        let label = format!("{what} on storage '{}'", self.storage);
        let attempt = async {
            let mut guard = self.session.lock().await;
            if guard.is_none() {
                let ip = session::resolve(&self.server).await?;
                *guard = Some(Session::mount(ip, &self.export, &self.machine).await?);
            }
            let result = work(guard.as_mut().expect("mounted above")).await;
            if let Err(err) = &result {
                if !matches!(err, StorageError::NoSuchVolume(_) | StorageError::Exists(_) | StorageError::BadVolume(_)) {
                    guard.take();
                }
            }
            result
        };
        match with_deadline(label, self.deadline, attempt).await {
            // The timed-out attempt was dropped with the lock; its session may be mid-call.
            Err(err @ StorageError::Timeout { .. }) => {
                self.session.lock().await.take();
                Err(err)
            }
            other => other,
        }
    }

    pub async fn usage(&self) -> Result<Usage> {
        self.call("FSSTAT", async |s| {
            let (total, free, avail) = s.fsstat().await?;
            Ok(Usage { total, used: total.saturating_sub(free), avail })
        })
        .await
    }

    /// Create the directories of the given content types (PVE's `create-subdirs`).
    pub async fn activate(&self, content: &[ContentType]) -> Result<()> {
        let dirs: Vec<&str> = content.iter().filter(|c| **c != ContentType::Rootdir).map(|c| c.subdir()).collect();
        self.call("creating directories", async |s| {
            for dir in dirs {
                s.mkdir_p(dir).await?;
            }
            Ok(())
        })
        .await
    }

    pub async fn list(&self, content: &[ContentType], vmid: Option<Vmid>) -> Result<Vec<StorageVolume>> {
        let storage = self.storage.clone();
        self.call("listing volumes", async |s| {
            let mut out = Vec::new();
            for kind in content {
                match kind {
                    ContentType::Images => list_images(s, &storage, vmid, &mut out).await?,
                    ContentType::Rootdir => {}
                    other if vmid.is_none() => list_files(s, &storage, *other, &mut out).await?,
                    _ => {}
                }
            }
            Ok(out)
        })
        .await
    }

    /// A new disk image for `vmid`: the named file, or the first free `vm-<vmid>-disk-<n>`.
    pub async fn alloc(&self, vmid: Vmid, file: Option<&str>, format: VolumeFormat, size: u64, scratch: &std::path::Path) -> Result<VolumeName> {
        // Build the qcow2/vmdk header before touching the server: a failing tool leaves nothing behind.
        let header = match format {
            VolumeFormat::Raw => None,
            other => Some(image::create_in_scratch(other, size, scratch).await?),
        };
        self.call("allocating a volume", async |s| {
            let dir = s.mkdir_p(&format!("{}/{vmid}", ContentType::Images.subdir())).await?;
            let name = match file {
                Some(f) => VolumeName::image(vmid, f)?,
                None => {
                    let taken: Vec<String> = s.list(&dir).await?.into_iter().map(|e| e.name).collect();
                    VolumeName::image(vmid, &volume::free_disk_name(vmid, format, taken.iter().map(String::as_str)))?
                }
            };
            let handle = s.create_new(&dir, name.file()).await?;
            let filled = match &header {
                None => s.set_size(&handle, size).await,
                Some(bytes) => s.write_all(&handle, bytes).await,
            };
            if let Err(err) = filled {
                let _ = s.remove(&dir, name.file()).await;
                return Err(err);
            }
            Ok(name)
        })
        .await
    }

    pub async fn free(&self, name: &VolumeName) -> Result<()> {
        self.call("removing a volume", async |s| {
            let dir = s.lookup_path(&name.dir()).await?;
            s.remove(&dir, name.file()).await?;
            if let VolumeName::Image { vmid, .. } = name {
                let images = s.lookup_path(ContentType::Images.subdir()).await?;
                s.rmdir_if_empty(&images, &vmid.to_string()).await?;
            }
            Ok(())
        })
        .await
    }

    pub async fn info(&self, name: &VolumeName) -> Result<StorageVolume> {
        let storage = self.storage.clone();
        self.call("reading a volume", async |s| {
            let dir = s.lookup_path(&name.dir()).await?;
            let entry = s.list(&dir).await?.into_iter().find(|e| e.name == name.file()).ok_or_else(|| StorageError::NoSuchVolume(format!("{storage}:{name}")))?;
            describe(s, &storage, name.clone(), &entry).await
        })
        .await
    }
}

async fn describe(s: &mut Session, storage: &str, name: VolumeName, entry: &Entry) -> Result<StorageVolume> {
    let mut size = entry.size;
    if let (VolumeName::Image { format: VolumeFormat::Qcow2, .. }, Some(handle)) = (&name, &entry.handle) {
        size = qcow2_size(s, handle).await?.unwrap_or(entry.size);
    }
    Ok(StorageVolume {
        volid: format!("{storage}:{name}"),
        content: name.content().as_str().into(),
        format: name.format(),
        size,
        used: entry.used,
        vmid: name.vmid().map(u32::from),
        ctime: entry.ctime,
    })
}

async fn qcow2_size(s: &mut Session, file: &nfs_fh3) -> Result<Option<u64>> {
    let header = s.read(file, 0, image::QCOW2_HEADER_PREFIX as u32).await?;
    Ok(image::qcow2_virtual_size(&header))
}

async fn list_images(s: &mut Session, storage: &str, only: Option<Vmid>, out: &mut Vec<StorageVolume>) -> Result<()> {
    let images = match s.lookup_path(ContentType::Images.subdir()).await {
        Ok(fh) => fh,
        Err(StorageError::NoSuchVolume(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    for dir in s.list(&images).await? {
        let Ok(vmid) = dir.name.parse::<u32>().map_err(|_| ()).and_then(|v| Vmid::new(v).map_err(|_| ())) else { continue };
        if !dir.is_dir || only.is_some_and(|o| o != vmid) {
            continue;
        }
        let Some(handle) = dir.handle.clone() else { continue };
        for file in s.list(&handle).await? {
            if let Ok(name) = VolumeName::image(vmid, &file.name) {
                out.push(describe(s, storage, name, &file).await?);
            }
        }
    }
    Ok(())
}

async fn list_files(s: &mut Session, storage: &str, content: ContentType, out: &mut Vec<StorageVolume>) -> Result<()> {
    let dir = match s.lookup_path(content.subdir()).await {
        Ok(fh) => fh,
        Err(StorageError::NoSuchVolume(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    for file in s.list(&dir).await? {
        if file.is_dir || volume::check_file_name(&file.name).is_err() {
            continue;
        }
        let name = VolumeName::File { content, file: file.name.clone() };
        out.push(describe(s, storage, name, &file).await?);
    }
    Ok(())
}
