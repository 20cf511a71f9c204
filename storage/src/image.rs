//! Disk image files: new qcow2/vmdk images are made by `qemu-img create` (locally: in a scratch
//! directory for NFS, which corral then uploads, or in place on a directory storage), and a
//! qcow2 image's virtual size is read from its header. raw images need no tool: a sparse file
//! of the right length.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use corral_api_types::storage::VolumeFormat;

use crate::{with_deadline, Result, StorageError};

/// How long `qemu-img create` may take (it writes a few metadata clusters).
const TOOL_DEADLINE: Duration = Duration::from_secs(20);
/// Bytes of a qcow2 header that hold the magic and the virtual size.
pub const QCOW2_HEADER_PREFIX: usize = 32;
/// A freshly made qcow2/vmdk header is small (metadata only); more than this is refused.
const MAX_HEADER_FILE: u64 = 64 * 1024 * 1024;

/// The virtual size a qcow2 header states, if `bytes` start one.
pub fn qcow2_virtual_size(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < QCOW2_HEADER_PREFIX || &bytes[..4] != b"QFI\xfb" {
        return None;
    }
    Some(u64::from_be_bytes(bytes[24..32].try_into().ok()?))
}

/// `qemu-img create -f <format> <path> <size>`.
pub async fn qemu_img_create(format: VolumeFormat, path: &Path, size: u64) -> Result<()> {
    let mut command = tokio::process::Command::new("qemu-img");
    command.args(["create", "-q", "-f", format.as_str()]);
    if format == VolumeFormat::Qcow2 {
        command.args(["-o", "preallocation=off"]);
    }
    command.arg(path).arg(size.to_string()).kill_on_drop(true).stdin(std::process::Stdio::null());
    let output = with_deadline("qemu-img create", TOOL_DEADLINE, async {
        command.output().await.map_err(|e| StorageError::Tool(format!("cannot run qemu-img: {e}")))
    })
    .await?;
    if output.status.success() {
        Ok(())
    } else {
        Err(StorageError::Tool(format!("qemu-img create failed: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

/// Make an empty image in `scratch` and return its bytes (the file is removed).
pub async fn create_in_scratch(format: VolumeFormat, size: u64, scratch: &Path) -> Result<Vec<u8>> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    tokio::fs::create_dir_all(scratch).await.map_err(|e| StorageError::io(format!("creating {}", scratch.display()), e))?;
    let path: PathBuf = scratch.join(format!("new-{}-{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), format.as_str()));
    let result = async {
        qemu_img_create(format, &path, size).await?;
        let length = tokio::fs::metadata(&path).await.map_err(|e| StorageError::io("reading the new image", e))?.len();
        if length > MAX_HEADER_FILE {
            return Err(StorageError::Tool(format!("qemu-img made a {length}-byte header; refusing to upload it")));
        }
        tokio::fs::read(&path).await.map_err(|e| StorageError::io("reading the new image", e))
    }
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qcow2_headers_state_their_size() {
        let mut header = b"QFI\xfb".to_vec();
        header.extend_from_slice(&[0; 20]);
        header.extend_from_slice(&(4u64 << 30).to_be_bytes());
        assert_eq!(qcow2_virtual_size(&header), Some(4 << 30));
        assert_eq!(qcow2_virtual_size(&header[..20]), None);
        assert_eq!(qcow2_virtual_size(&[0u8; 32]), None);
    }

    #[tokio::test]
    async fn qemu_img_makes_a_qcow2_header() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = create_in_scratch(VolumeFormat::Qcow2, 1 << 30, dir.path()).await.unwrap();
        assert_eq!(qcow2_virtual_size(&bytes), Some(1 << 30));
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "scratch file left behind");
    }
}
