//! A directory on the node's own disk as storage (PVE's `dir` type; `local` by default), with
//! PVE's layout under it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use corral_api_types::storage::{ContentType, StorageVolume, VolumeFormat};
use corral_api_types::Vmid;

use crate::volume::{self, VolumeName};
use crate::{image, with_deadline, Result, StorageError, Usage};

/// A local disk answers at once; a stuck one (dead USB, full journal) must not hang callers.
const LOCAL_DEADLINE: Duration = Duration::from_secs(10);

pub struct DirStore {
    pub storage: String,
    pub path: PathBuf,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
    let context = context.into();
    move |e| StorageError::io(context, e)
}

impl DirStore {
    pub fn new(storage: &str, path: PathBuf) -> Self {
        Self { storage: storage.into(), path }
    }

    pub async fn usage(&self) -> Result<Usage> {
        let path = self.path.clone();
        with_deadline(format!("statfs {}", self.path.display()), LOCAL_DEADLINE, async move {
            tokio::task::spawn_blocking(move || statvfs(&path)).await.map_err(|e| StorageError::Tool(e.to_string()))?
        })
        .await
    }

    pub async fn activate(&self, content: &[ContentType]) -> Result<()> {
        for c in content.iter().filter(|c| **c != ContentType::Rootdir) {
            let dir = self.path.join(c.subdir());
            tokio::fs::create_dir_all(&dir).await.map_err(io(format!("creating {}", dir.display())))?;
        }
        Ok(())
    }

    pub async fn list(&self, content: &[ContentType], vmid: Option<Vmid>) -> Result<Vec<StorageVolume>> {
        let mut out = Vec::new();
        for kind in content {
            match kind {
                ContentType::Images => {
                    for (name, _) in read_dir(&self.path.join(ContentType::Images.subdir())).await? {
                        let Some(id) = name.parse::<u32>().ok().and_then(|v| Vmid::new(v).ok()) else { continue };
                        if vmid.is_some_and(|v| v != id) {
                            continue;
                        }
                        for (file, _) in read_dir(&self.path.join(ContentType::Images.subdir()).join(&name)).await? {
                            if let Ok(volume) = VolumeName::image(id, &file) {
                                out.push(self.describe(volume).await?);
                            }
                        }
                    }
                }
                ContentType::Rootdir => {}
                other if vmid.is_none() => {
                    for (file, is_file) in read_dir(&self.path.join(other.subdir())).await? {
                        if is_file && volume::check_file_name(&file).is_ok() {
                            out.push(self.describe(VolumeName::File { content: *other, file }).await?);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    pub async fn alloc(&self, vmid: Vmid, file: Option<&str>, format: VolumeFormat, size: u64) -> Result<VolumeName> {
        let dir = self.path.join(ContentType::Images.subdir()).join(vmid.to_string());
        tokio::fs::create_dir_all(&dir).await.map_err(io(format!("creating {}", dir.display())))?;
        let name = match file {
            Some(f) => VolumeName::image(vmid, f)?,
            None => {
                let taken: Vec<String> = read_dir(&dir).await?.into_iter().map(|(n, _)| n).collect();
                VolumeName::image(vmid, &volume::free_disk_name(vmid, format, taken.iter().map(String::as_str)))?
            }
        };
        let path = dir.join(name.file());
        let created = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&path).await;
        let handle = match created {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StorageError::Exists(format!("volume '{}:{name}' already exists", self.storage)))
            }
            Err(e) => return Err(StorageError::io(format!("creating {}", path.display()), e)),
        };
        let filled = match format {
            VolumeFormat::Raw => handle.set_len(size).await.map_err(io("sizing the image")),
            other => {
                drop(handle);
                // qemu-img refuses nothing over an existing empty file; it replaces it.
                image::qemu_img_create(other, &path, size).await
            }
        };
        if let Err(err) = filled {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(err);
        }
        Ok(name)
    }

    pub async fn free(&self, name: &VolumeName) -> Result<()> {
        let path = self.path.join(name.relative_path());
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NoSuchVolume(format!("{}:{name}", self.storage))),
            Err(e) => return Err(StorageError::io(format!("removing {}", path.display()), e)),
        }
        if name.vmid().is_some() {
            let _ = tokio::fs::remove_dir(self.path.join(name.dir())).await;
        }
        Ok(())
    }

    pub async fn info(&self, name: &VolumeName) -> Result<StorageVolume> {
        self.describe(name.clone()).await
    }

    async fn describe(&self, name: VolumeName) -> Result<StorageVolume> {
        use std::os::unix::fs::MetadataExt;
        let path = self.path.join(name.relative_path());
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::NoSuchVolume(format!("{}:{name}", self.storage))),
            Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
        };
        let mut size = meta.len();
        if matches!(name, VolumeName::Image { format: VolumeFormat::Qcow2, .. }) {
            size = read_prefix(&path).await.ok().and_then(|h| image::qcow2_virtual_size(&h)).unwrap_or(size);
        }
        Ok(StorageVolume {
            volid: format!("{}:{name}", self.storage),
            content: name.content().as_str().into(),
            format: name.format(),
            size,
            used: meta.blocks() * 512,
            vmid: name.vmid().map(u32::from),
            ctime: meta.ctime().max(0) as u64,
        })
    }
}

async fn read_prefix(path: &Path) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; image::QCOW2_HEADER_PREFIX];
    file.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Names in `dir` with whether each is a plain file; a missing directory is empty.
async fn read_dir(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io(format!("listing {}", dir.display())))? {
        let is_file = entry.file_type().await.map(|t| t.is_file()).unwrap_or(false);
        out.push((entry.file_name().to_string_lossy().into_owned(), is_file));
    }
    out.sort();
    Ok(out)
}

fn statvfs(path: &Path) -> Result<Usage> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| StorageError::Tool("path contains a NUL byte".into()))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and st a properly sized out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(StorageError::io(format!("statfs {}", path.display()), std::io::Error::last_os_error()));
    }
    let unit = st.f_frsize as u64;
    let total = st.f_blocks as u64 * unit;
    let free = st.f_bfree as u64 * unit;
    Ok(Usage { total, used: total.saturating_sub(free), avail: st.f_bavail as u64 * unit })
}
