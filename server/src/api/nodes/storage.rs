//! `/nodes/{node}/storage[/{storage}[/status|/content[/{volume}]]]`: the storages as this node
//! sees them, and their volumes. Status comes from the storage monitor's last check, so these
//! calls never wait on a dead server; content calls reach the storage under its deadline, and
//! fail at once when the last check found it unreachable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::storage::{ContentType, NodeStorageStatus, StorageConfig, VolumeFormat};
use corral_api_types::Vmid;
use corral_storage::{Backend, StorageError, VolumeId, VolumeName};
use serde::Deserialize;
use serde_json::{json, Value};

use super::local_node;
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;
use crate::storage;

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::BadVolume(why) => ApiError::param("volume", why),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

const CONTENT_NAMES: &[&str] = &["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"];

/// The status of one storage on this node.
fn status_of(state: &AppState, config: &StorageConfig) -> NodeStorageStatus {
    let checked = (!config.disable).then(|| state.storage.status(config.storage.as_str())).flatten();
    let (active, usage, error) = match &checked {
        Some(c) => (c.active, c.usage, c.error.clone()),
        None if config.disable => (false, Default::default(), None),
        None => (false, Default::default(), Some("not checked yet".into())),
    };
    NodeStorageStatus {
        storage: config.storage.to_string(),
        kind: config.kind.as_str().into(),
        content: config.content.clone(),
        enabled: !config.disable,
        active,
        shared: config.is_shared(),
        total: usage.total,
        used: usage.used,
        avail: usage.avail,
        used_fraction: if usage.total > 0 { usage.used as f64 / usage.total as f64 } else { 0.0 },
        error,
    }
}

/// `GET /nodes/{node}/storage` (Datastore.Audit per storage; filters as PVE).
pub async fn list(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct Query {
        content: Option<String>,
        enabled: Option<bool>,
        storage: Option<String>,
    }
    let q: Query = params.check(&[
        optional("content", Kind::Str { max_len: 256 }),
        optional("enabled", Kind::Bool),
        optional("storage", Kind::Str { max_len: 64 }),
        optional("format", Kind::Bool),
        optional("target", Kind::Str { max_len: 64 }),
    ])?;
    local_node(&state, &node)?;
    let wanted = match &q.content {
        Some(c) => Some(ContentType::parse_list(c).map_err(|e| ApiError::param("content", e.0))?),
        None => None,
    };
    let out: Vec<NodeStorageStatus> = storage::list(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.applies_to(state.node.as_str()))
        .filter(|c| q.storage.as_deref().is_none_or(|s| s == c.storage.as_str()))
        .filter(|c| wanted.as_ref().is_none_or(|w| c.content_set().iter().any(|t| w.contains(t))))
        .filter(|c| auth.require(Privilege::DatastoreAudit, &format!("/storage/{}", c.storage)).is_ok())
        .map(|c| status_of(&state, &c))
        .filter(|s| !q.enabled.unwrap_or(false) || (s.enabled && s.active))
        .collect();
    Ok(crate::api::data(out))
}

/// The storage `id` if this node may use it.
pub(super) async fn usable(state: &AppState, id: &str) -> ApiResult<StorageConfig> {
    let config = storage::get(&state.db, id).await?;
    if !config.applies_to(state.node.as_str()) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{id}' is not available on node '{}'", state.node)));
    }
    Ok(config)
}

/// A backend for calls that reach the storage: refused at once if disabled or last seen down.
fn reachable(state: &AppState, config: &StorageConfig) -> ApiResult<Backend> {
    let id = config.storage.as_str();
    if config.disable {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{id}' is disabled")));
    }
    if let Some(checked) = state.storage.status(id).filter(|c| !c.active) {
        let why = checked.error.unwrap_or_default();
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{id}' is not online ({why})")));
    }
    Ok(state.storage.registry.backend(config))
}

/// `GET /nodes/{node}/storage/{storage}`.
pub async fn index(auth: Authenticated, State(state): State<AppState>, Path((node, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    usable(&state, &id).await?;
    Ok(crate::api::listing("subdir", &["content", "rrddata", "status"]))
}

/// `GET /nodes/{node}/storage/{storage}/status`.
pub async fn status(auth: Authenticated, State(state): State<AppState>, Path((node, id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    let config = usable(&state, &id).await?;
    Ok(crate::api::data(status_of(&state, &config)))
}

/// `GET /nodes/{node}/storage/{storage}/content` (`content`, `vmid` filters).
pub async fn content(auth: Authenticated, State(state): State<AppState>, Path((node, id)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct Query {
        content: Option<String>,
        vmid: Option<u32>,
    }
    let q: Query = params.check(&[optional("content", Kind::Enum(CONTENT_NAMES)), optional("vmid", Kind::Int { min: Vmid::MIN as i64, max: Vmid::MAX as i64 })])?;
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    let config = usable(&state, &id).await?;
    let content = q.content.as_deref().map(ContentType::parse).transpose().map_err(|e| ApiError::param("content", e.0))?;
    let vmid = q.vmid.map(Vmid::new).transpose().map_err(|e| ApiError::param("vmid", e.0))?;
    let volumes = reachable(&state, &config)?.list(&config, content, vmid).await?;
    Ok(crate::api::data(volumes))
}

/// PVE's size: KiB as a bare number, or with a `K`, `M`, `G` (or `T`) suffix.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'K'),
    };
    let shift = match unit {
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("unable to parse size '{text}'")),
    };
    let n: u64 = number.parse().map_err(|_| format!("unable to parse size '{text}'"))?;
    let bytes = n.checked_mul(1 << shift).filter(|b| *b > 0 && *b <= 1 << 50).ok_or_else(|| format!("size '{text}' is out of range (1K to 1P)"))?;
    Ok(bytes)
}

/// `POST /nodes/{node}/storage/{storage}/content`: allocate a disk image (Datastore.AllocateSpace).
pub async fn alloc(auth: Authenticated, State(state): State<AppState>, Path((node, id)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct Params {
        filename: String,
        size: String,
        vmid: u32,
        format: Option<String>,
    }
    let p: Params = params.check(&[
        required("filename", Kind::Str { max_len: 200 }),
        required("size", Kind::Str { max_len: 32 }),
        required("vmid", Kind::Int { min: Vmid::MIN as i64, max: Vmid::MAX as i64 }),
        optional("format", Kind::Enum(&["raw", "qcow2", "vmdk", "subvol"])),
    ])?;
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAllocateSpace, &format!("/storage/{id}"))?;
    let vmid = Vmid::new(p.vmid).map_err(|e| ApiError::param("vmid", e.0))?;
    let size = parse_size(&p.size).map_err(|why| ApiError::param("size", why))?;
    let name_format = corral_storage::volume::check_image_name(vmid, &p.filename).map_err(|why| ApiError::param("filename", why))?;
    let format = match p.format.as_deref() {
        None => name_format,
        Some(f) => VolumeFormat::parse(f).map_err(|e| ApiError::param("format", e.0))?,
    };
    if format != name_format {
        return Err(ApiError::param("format", format!("the file name says '{name_format}', not '{format}'")));
    }
    let config = usable(&state, &id).await?;
    if !config.content_set().contains(&ContentType::Images) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("storage '{id}' does not support content type 'images'")));
    }
    let backend = reachable(&state, &config)?;
    let name = backend.alloc(vmid, Some(&p.filename), format, size, state.storage.registry.scratch()).await?;
    Ok(crate::api::data(format!("{id}:{name}")))
}

/// The volume `text` names on storage `id`: a full volume id or a name on this storage.
fn volume_on(id: &str, text: &str) -> ApiResult<VolumeName> {
    if text.contains(':') {
        let volume = VolumeId::parse(text)?;
        if volume.storage.as_str() != id {
            return Err(ApiError::param("volume", format!("volume '{text}' is not on storage '{id}'")));
        }
        Ok(volume.name)
    } else {
        Ok(VolumeName::parse(text)?)
    }
}

/// `GET /nodes/{node}/storage/{storage}/content/{volume}`.
pub async fn volume_info(auth: Authenticated, State(state): State<AppState>, Path((node, id, volume)): Path<(String, String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAudit, &format!("/storage/{id}"))?;
    let name = volume_on(&id, &volume)?;
    let config = usable(&state, &id).await?;
    let info = reachable(&state, &config)?.info(&name).await?;
    let path = state.storage.registry.location(&config, &name);
    Ok(crate::api::data(json!({ "path": path, "size": info.size, "used": info.used, "format": info.format })))
}

/// `DELETE /nodes/{node}/storage/{storage}/content/{volume}`: task `imgdel`; refused while a guest uses the volume.
pub async fn volume_delete(auth: Authenticated, State(state): State<AppState>, Path((node, id, volume)): Path<(String, String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("delay", Kind::Int { min: 1, max: 30 })])?;
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAllocateSpace, &format!("/storage/{id}"))?;
    let name = volume_on(&id, &volume)?;
    let config = usable(&state, &id).await?;
    let volid = format!("{id}:{name}");
    for (vmid, record) in crate::guests::list(&state.db).await? {
        if record.config.iter().any(|(k, v)| crate::guests::is_disk_key(k) && v.split(',').next() == Some(volid.as_str())) {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("volume '{volid}' is used by VM {vmid}")));
        }
    }
    let backend = reachable(&state, &config)?;
    // PVE's imgdel tasks carry no id (a volume id would not fit the UPID's fields).
    let upid = state
        .tasks
        .spawn("imgdel", "", &auth.userid, move |log| async move {
            log.line(format!("removing volume '{volid}'")).await;
            backend.free(&name).await?;
            log.line(format!("volume '{volid}' removed")).await;
            Ok(())
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

/// `GET /nodes/{node}/scan` and `…/scan/nfs?server=`: the exports an NFS server offers.
pub async fn scan_index(_auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    Ok(crate::api::data(vec![json!({ "method": "nfs" })]))
}

pub async fn scan_nfs(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct Query {
        server: String,
    }
    let q: Query = params.check(&[required("server", Kind::Str { max_len: 256 })])?;
    local_node(&state, &node)?;
    auth.require(Privilege::DatastoreAllocate, "/storage")?;
    corral_storage::config::check_server(&q.server).map_err(|why| ApiError::param("server", why))?;
    let exports = corral_storage::nfs::scan_exports(&q.server).await?;
    Ok(crate::api::data(exports))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_as_pve_takes_them() {
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("512M"), Ok(512 << 20));
        assert_eq!(super::parse_size("1024"), Ok(1 << 20));
        assert!(super::parse_size("0").is_err());
        assert!(super::parse_size("4X").is_err());
        assert!(super::parse_size("-1G").is_err());
        assert!(super::parse_size("99999999999T").is_err());
    }
}
