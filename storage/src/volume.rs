//! Volume names as PVE writes them (`../shared/spec/pve-api.md` §4.3): `<vmid>/vm-<vmid>-disk-<n>.<fmt>`
//! for disk images, `iso/<file>`, `vztmpl/<file>`, `backup/<file>`, `snippets/<file>`,
//! `import/<file>` for the rest, and volume ids `<storage>:<volname>`. Parsing is the only way
//! to get one, and a parsed name can only point inside its content type's directory: no `..`, no
//! further slashes, no hidden files.

use std::fmt;

use corral_api_types::storage::{ContentType, VolumeFormat};
use corral_api_types::{StorageId, Vmid};

use crate::StorageError;

const MAX_FILE_NAME: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VolumeName {
    /// A disk image of a guest: `<vmid>/<file>`.
    Image { vmid: Vmid, file: String, format: VolumeFormat },
    /// Any other content: `<kind>/<file>`.
    File { content: ContentType, file: String },
}

fn bad(text: &str, why: &str) -> StorageError {
    StorageError::BadVolume(format!("unable to parse volume name '{text}' - {why}"))
}

/// A plain file name: letters, digits, `.`, `_`, `-`, `+`; not starting with a dot.
pub fn check_file_name(file: &str) -> Result<(), String> {
    if file.is_empty() || file.len() > MAX_FILE_NAME {
        return Err(format!("file name must be 1 to {MAX_FILE_NAME} characters"));
    }
    if file.starts_with('.') {
        return Err("file name must not start with '.'".into());
    }
    if !file.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+')) {
        return Err("file name may only contain letters, digits, '.', '_', '-' and '+'".into());
    }
    Ok(())
}

/// The format a disk image's file name says (`.raw`, `.qcow2`, `.vmdk`).
pub fn format_of(file: &str) -> Option<VolumeFormat> {
    let (_, ext) = file.rsplit_once('.')?;
    VolumeFormat::parse(ext).ok()
}

/// Whether `file` is a disk image name PVE would accept for `vmid`: `vm-<vmid>-…` or `base-<vmid>-…`.
pub fn check_image_name(vmid: Vmid, file: &str) -> Result<VolumeFormat, String> {
    check_file_name(file)?;
    if !(file.starts_with(&format!("vm-{vmid}-")) || file.starts_with(&format!("base-{vmid}-"))) {
        return Err(format!("illegal name '{file}' - should be 'vm-{vmid}-*'"));
    }
    format_of(file).ok_or_else(|| format!("illegal name '{file}' - the extension must be .raw, .qcow2 or .vmdk"))
}

fn content_of_prefix(prefix: &str) -> Option<ContentType> {
    Some(match prefix {
        "iso" => ContentType::Iso,
        "vztmpl" => ContentType::Vztmpl,
        "backup" => ContentType::Backup,
        "snippets" => ContentType::Snippets,
        "import" => ContentType::Import,
        _ => return None,
    })
}

fn prefix_of(content: ContentType) -> &'static str {
    match content {
        ContentType::Iso => "iso",
        ContentType::Vztmpl => "vztmpl",
        ContentType::Backup => "backup",
        ContentType::Snippets => "snippets",
        ContentType::Import => "import",
        ContentType::Images => "images",
        ContentType::Rootdir => "rootdir",
    }
}

impl VolumeName {
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let (head, file) = text.split_once('/').ok_or_else(|| bad(text, "expected '<kind or vmid>/<file>'"))?;
        if file.contains('/') {
            return Err(bad(text, "too many '/'"));
        }
        if let Ok(vmid) = head.parse::<u32>() {
            let vmid = Vmid::new(vmid).map_err(|e| bad(text, &e.0))?;
            let format = check_image_name(vmid, file).map_err(|why| bad(text, &why))?;
            return Ok(Self::Image { vmid, file: file.to_string(), format });
        }
        let content = content_of_prefix(head).ok_or_else(|| bad(text, &format!("unknown volume kind '{head}'")))?;
        check_file_name(file).map_err(|why| bad(text, &why))?;
        Ok(Self::File { content, file: file.to_string() })
    }

    pub fn image(vmid: Vmid, file: &str) -> Result<Self, StorageError> {
        Self::parse(&format!("{vmid}/{file}"))
    }

    pub fn content(&self) -> ContentType {
        match self {
            Self::Image { .. } => ContentType::Images,
            Self::File { content, .. } => *content,
        }
    }

    pub fn vmid(&self) -> Option<Vmid> {
        match self {
            Self::Image { vmid, .. } => Some(*vmid),
            Self::File { .. } => None,
        }
    }

    pub fn file(&self) -> &str {
        match self {
            Self::Image { file, .. } | Self::File { file, .. } => file,
        }
    }

    /// The directory, relative to the storage's root, that holds the file.
    pub fn dir(&self) -> String {
        match self {
            Self::Image { vmid, .. } => format!("{}/{vmid}", ContentType::Images.subdir()),
            Self::File { content, .. } => content.subdir().to_string(),
        }
    }

    /// The file's path relative to the storage's root (`images/100/vm-100-disk-0.qcow2`).
    pub fn relative_path(&self) -> String {
        format!("{}/{}", self.dir(), self.file())
    }

    /// `raw`, `qcow2`, `vmdk` for images; `iso`, `tgz`-like names for the rest as PVE reports them.
    pub fn format(&self) -> String {
        match self {
            Self::Image { format, .. } => format.as_str().to_string(),
            Self::File { content: ContentType::Iso, .. } => "iso".into(),
            Self::File { content: ContentType::Vztmpl, .. } => "tgz".into(),
            Self::File { file, .. } => file.rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default(),
        }
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image { vmid, file, .. } => write!(f, "{vmid}/{file}"),
            Self::File { content, file } => write!(f, "{}/{file}", prefix_of(*content)),
        }
    }
}

/// `<storage>:<volname>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeId {
    pub storage: StorageId,
    pub name: VolumeName,
}

impl VolumeId {
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let (storage, name) = text.split_once(':').ok_or_else(|| bad(text, "expected '<storage>:<volume>'"))?;
        let storage = StorageId::parse(storage).map_err(|e| StorageError::BadVolume(e.0))?;
        Ok(Self { storage, name: VolumeName::parse(name)? })
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.name)
    }
}

/// The first `vm-<vmid>-disk-<n>.<fmt>` not among `taken` (file names in the guest's directory).
pub fn free_disk_name<'a>(vmid: Vmid, format: VolumeFormat, taken: impl IntoIterator<Item = &'a str>) -> String {
    let taken: std::collections::BTreeSet<&str> = taken.into_iter().collect();
    let used = |n: u32| ["raw", "qcow2", "vmdk"].iter().any(|ext| taken.contains(format!("vm-{vmid}-disk-{n}.{ext}").as_str()));
    let n = (0..).find(|n| !used(*n)).expect("an unused index exists");
    format!("vm-{vmid}-disk-{n}.{format}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pve_volume_ids_parse_and_print() {
        let id = VolumeId::parse("nfs1:100/vm-100-disk-0.qcow2").unwrap();
        assert_eq!(id.storage.as_str(), "nfs1");
        assert_eq!(id.name.relative_path(), "images/100/vm-100-disk-0.qcow2");
        assert_eq!(id.name.format(), "qcow2");
        assert_eq!(id.to_string(), "nfs1:100/vm-100-disk-0.qcow2");
        let iso = VolumeId::parse("nfs1:iso/debian-12.iso").unwrap();
        assert_eq!(iso.name.relative_path(), "template/iso/debian-12.iso");
        assert_eq!(iso.name.content(), ContentType::Iso);
    }

    #[test]
    fn names_outside_the_layout_are_refused() {
        for bad in [
            "nfs1:100/../../etc/passwd",
            "nfs1:100/vm-101-disk-0.qcow2",
            "nfs1:100/vm-100-disk-0.exe",
            "nfs1:iso/../x.iso",
            "nfs1:iso/.hidden",
            "nfs1:iso/a/b.iso",
            "nfs1:etc/passwd",
            "nfs1:99/vm-99-disk-0.raw",
            "nfs1/100/vm-100-disk-0.raw",
            "1x:100/vm-100-disk-0.raw",
            "nfs1:100/vm-100-disk 0.raw",
        ] {
            assert!(VolumeId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn free_names_take_the_first_unused_index() {
        let vmid = Vmid::new(100).unwrap();
        assert_eq!(free_disk_name(vmid, VolumeFormat::Qcow2, []), "vm-100-disk-0.qcow2");
        assert_eq!(free_disk_name(vmid, VolumeFormat::Raw, ["vm-100-disk-0.qcow2", "vm-100-disk-2.raw"]), "vm-100-disk-1.raw");
    }
}
