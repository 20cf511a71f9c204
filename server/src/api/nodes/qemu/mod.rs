//! `/nodes/{node}/qemu[/{vmid}[/config]]`: guests owned by this node (requests for another
//! node's guests are forwarded there). Creating (with new disks allocated on a storage) and
//! destroying run as tasks (`qmcreate`, `qmdestroy`), as in PVE; power actions live in
//! [`status`].

pub mod migrate;
pub mod status;

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::guest::QemuListEntry;
use corral_api_types::storage::VolumeFormat;
use corral_api_types::Vmid;
use serde::Deserialize;
use serde_json::{json, Value};

use super::local_node;
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{optional, required, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::guests::{self, GuestError, GuestRecord};
use crate::state::AppState;

const OSTYPES: &[&str] = &["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"];

const CREATE_SCHEMA: &[Prop] = &[
    required("vmid", Kind::Int { min: Vmid::MIN as i64, max: Vmid::MAX as i64 }),
    optional("name", Kind::Str { max_len: 128 }),
    optional("memory", Kind::Int { min: 16, max: 4 * 1024 * 1024 }),
    optional("cores", Kind::Int { min: 1, max: 1024 }),
    optional("sockets", Kind::Int { min: 1, max: 16 }),
    optional("ostype", Kind::Enum(OSTYPES)),
    optional("description", Kind::Str { max_len: 8192 }),
    optional("onboot", Kind::Bool),
    optional("scsi0", DISK),
    optional("scsi1", DISK),
    optional("scsi2", DISK),
    optional("scsi3", DISK),
    optional("virtio0", DISK),
    optional("virtio1", DISK),
    optional("virtio2", DISK),
    optional("virtio3", DISK),
    optional("sata0", DISK),
    optional("sata1", DISK),
    optional("ide0", DISK),
    optional("ide1", DISK),
    optional("net0", NET),
    optional("net1", NET),
    optional("net2", NET),
    optional("net3", NET),
    optional("kvm", Kind::Bool),
    optional("serial0", Kind::Enum(&["socket"])),
    optional("boot", Kind::Str { max_len: 128 }),
    optional("args", Kind::Str { max_len: 4096 }),
    optional("start", Kind::Bool),
];

const NET: Kind = Kind::Str { max_len: 256 };
/// Largest new disk, GiB.
const MAX_DISK_GIB: f64 = 128.0 * 1024.0;

const DISK: Kind = Kind::Str { max_len: 512 };

#[derive(Deserialize)]
struct CreateParams {
    vmid: u32,
    name: Option<String>,
    memory: Option<u64>,
    cores: Option<u32>,
    sockets: Option<u32>,
    ostype: Option<String>,
    description: Option<String>,
    onboot: Option<bool>,
    kvm: Option<bool>,
    serial0: Option<String>,
    boot: Option<String>,
    args: Option<String>,
    start: Option<bool>,
}

impl From<GuestError> for ApiError {
    fn from(err: GuestError) -> Self {
        match err {
            GuestError::Exists { .. } => ApiError::param("vmid", err.to_string()),
            GuestError::Cluster(err) => err.into(),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

pub fn vmid_of(text: &str) -> ApiResult<Vmid> {
    Vmid::parse(text).map_err(|e| ApiError::param("vmid", e.to_string()))
}

/// PVE's `dns-name` format for guest names: dot-separated labels of letters, digits and `-`,
/// not starting or ending with `-`.
fn check_name(name: &str) -> Result<(), String> {
    let label_ok = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("value does not look like a valid DNS name: '{name}'"))
    }
}

fn config_of(p: &CreateParams) -> ApiResult<BTreeMap<String, String>> {
    let mut config = BTreeMap::new();
    if let Some(name) = &p.name {
        check_name(name).map_err(|why| ApiError::param("name", why))?;
        config.insert("name".into(), name.clone());
    }
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            config.insert(key.to_string(), value);
        }
    };
    put("memory", p.memory.map(|m| m.to_string()));
    put("cores", p.cores.map(|c| c.to_string()));
    put("sockets", p.sockets.map(|s| s.to_string()));
    put("ostype", p.ostype.clone());
    put("description", p.description.clone());
    put("onboot", p.onboot.map(|b| if b { "1" } else { "0" }.to_string()));
    put("kvm", p.kvm.map(|b| if b { "1" } else { "0" }.to_string()));
    put("serial0", p.serial0.clone());
    put("boot", p.boot.clone());
    put("args", p.args.clone());
    Ok(config)
}

/// `GET /nodes/{node}/qemu`: the guests this node owns, with their live state (VM.Audit per guest).
pub async fn list(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("full", Kind::Bool)])?;
    local_node(&state, &node)?;
    let mut entries = Vec::new();
    for (vmid, record) in guests::list(&state.db).await? {
        if record.node != state.node.as_str() || auth.require(Privilege::VmAudit, &format!("/vms/{vmid}")).is_err() {
            continue;
        }
        let live = status::live(&state, vmid, &record);
        entries.push(QemuListEntry {
            vmid,
            name: record.name(vmid),
            status: live["status"].as_str().unwrap_or("stopped").into(),
            cpus: record.cpus(),
            maxmem: record.memory_bytes(),
            mem: live["mem"].as_u64().unwrap_or(0),
            maxdisk: record.boot_disk_bytes(),
            disk: 0,
            uptime: live["uptime"].as_u64().unwrap_or(0),
            cpu: live["cpu"].as_f64().unwrap_or(0.0),
        });
    }
    Ok(crate::api::data(entries))
}

/// A disk of a new guest: an existing volume of it, or `<storage>:<GiB>` to allocate.
enum DiskPlan {
    Existing(String),
    New { storage: corral_api_types::storage::StorageConfig, gib: f64, format: VolumeFormat, options: String },
}

/// `POST /nodes/{node}/qemu`: a new guest on this node (task `qmcreate`; VM.Allocate). New disks
/// are allocated in the task; if anything fails, the volumes made so far are removed again.
pub async fn create(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: CreateParams = params.check(CREATE_SCHEMA)?;
    local_node(&state, &node)?;
    let vmid = Vmid::new(p.vmid).map_err(|e| ApiError::param("vmid", e.to_string()))?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    if p.args.is_some() {
        // PVE: only root@pam may set arbitrary QEMU arguments.
        auth.require_root().map_err(|_| ApiError::param("args", "only root can set 'args' config"))?;
    }
    let mut config = config_of(&p)?;
    let mut plans = Vec::new();
    for (key, value) in params.0.iter().filter(|(k, _)| guests::is_disk_key(k)) {
        plans.push((key.clone(), plan_disk(&state, vmid, value).await.map_err(|why| ApiError::param(key, why))?));
    }
    for (key, value) in params.0.iter().filter(|(k, _)| k.starts_with("net")) {
        config.insert(key.clone(), net_config(value).map_err(|why| ApiError::param(key, why))?);
    }
    guests::check_unused(&state.db, vmid).await?;
    state.require_quorum().await?;
    let start_after = p.start.unwrap_or(false);
    let s = state.clone();
    let upid = state
        .tasks
        .spawn("qmcreate", &vmid.to_string(), &auth.userid, move |log| async move {
            log.line(format!("creating VM {vmid} on node '{}'", s.node)).await;
            let mut made: Vec<(corral_api_types::storage::StorageConfig, corral_storage::VolumeName)> = Vec::new();
            let result = async {
                for (key, plan) in plans {
                    let value = match plan {
                        DiskPlan::Existing(value) => value,
                        DiskPlan::New { storage, gib, format, options } => {
                            let (value, name) = allocate(&s, vmid, &storage, gib, format, &options).await?;
                            log.line(format!("{key}: allocated {}:{name} ({gib} GiB, {format})", storage.storage)).await;
                            made.push((storage, name));
                            value
                        }
                    };
                    config.insert(key, value);
                }
                let record = GuestRecord { node: s.node.to_string(), config };
                guests::create(&s.db, &s.cluster, vmid, &record).await?;
                log.line(format!("VM {vmid} ({}): configuration written ({} MiB, {} vCPU)", record.name(vmid), record.memory_bytes() / 1024 / 1024, record.cpus())).await;
                anyhow::Ok(record)
            }
            .await;
            let record = match result {
                Ok(record) => record,
                Err(err) => {
                    for (storage, name) in made {
                        let freed = s.storage.registry.backend(&storage).free(&name).await;
                        log.line(format!("removing {}:{name} again: {}", storage.storage, freed.map_or_else(|e| e.to_string(), |_| "done".into()))).await;
                    }
                    return Err(err);
                }
            };
            if start_after {
                let pid = crate::vm_runtime::start(&s, vmid, &record).await?;
                log.line(format!("VM {vmid} started (QEMU pid {pid})")).await;
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

/// PVE's `destroy-unreferenced-disks`: images of this VMID on every enabled storage this node
/// uses that no configuration names (left over from an earlier guest with the same id).
async fn remove_unreferenced(state: &AppState, log: &crate::tasks::TaskLog, vmid: Vmid) {
    let Ok(storages) = crate::storage::list(&state.db).await else { return };
    for config in storages.into_iter().filter(|c| !c.disable && c.applies_to(state.node.as_str()) && c.content_set().contains(&corral_api_types::storage::ContentType::Images)) {
        let backend = state.storage.registry.backend(&config);
        let volumes = match backend.list(&config, Some(corral_api_types::storage::ContentType::Images), Some(vmid)).await {
            Ok(v) => v,
            Err(err) => {
                log.line(format!("storage '{}': cannot look for leftover disks: {err}", config.storage)).await;
                continue;
            }
        };
        for volume in volumes {
            let Ok(id) = corral_storage::VolumeId::parse(&volume.volid) else { continue };
            match backend.free(&id.name).await {
                Ok(()) => log.line(format!("removed unreferenced disk {}", volume.volid)).await,
                Err(err) => log.line(format!("could not remove {}: {err}", volume.volid)).await,
            }
        }
    }
}

/// Allocate a new disk of `gib` on `storage`; the disk's configuration value and its volume.
async fn allocate(
    state: &AppState,
    vmid: Vmid,
    storage: &corral_api_types::storage::StorageConfig,
    gib: f64,
    format: VolumeFormat,
    options: &str,
) -> Result<(String, corral_storage::VolumeName), corral_storage::StorageError> {
    let bytes = (gib * 1024.0 * 1024.0 * 1024.0) as u64;
    let name = state.storage.registry.backend(storage).alloc(vmid, None, format, bytes, state.storage.registry.scratch()).await?;
    Ok((format!("{}:{name},size={}{options}", storage.storage, size_text(bytes)), name))
}

/// `4G`, or `512M` for sizes that are not whole GiB (PVE's `size=` option).
fn size_text(bytes: u64) -> String {
    if bytes % (1 << 30) == 0 {
        format!("{}G", bytes >> 30)
    } else {
        format!("{}M", bytes.div_ceil(1 << 20))
    }
}

/// A disk value: `<storage>:<GiB>[,format=…][,opts]` (allocate) or an existing volume of this
/// guest on a storage this node can use.
async fn plan_disk(state: &AppState, vmid: Vmid, value: &str) -> Result<DiskPlan, String> {
    let (volid, options) = value.split_once(',').map_or((value, ""), |(v, o)| (v, o));
    if let Some((storage, size)) = volid.split_once(':').filter(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')) {
        let gib: f64 = size.parse().map_err(|_| format!("invalid size '{size}'"))?;
        if !(gib > 0.0 && gib <= MAX_DISK_GIB) {
            return Err(format!("size must be more than 0 and at most {MAX_DISK_GIB} GiB"));
        }
        let config = crate::storage::get(&state.db, storage).await.map_err(|e| e.to_string())?;
        if config.disable || !config.applies_to(state.node.as_str()) {
            return Err(format!("storage '{storage}' is not available on node '{}'", state.node));
        }
        if !config.content_set().contains(&corral_api_types::storage::ContentType::Images) {
            return Err(format!("storage '{storage}' does not support vm images"));
        }
        if state.storage.status(storage).is_some_and(|c| !c.active) {
            return Err(format!("storage '{storage}' is not online"));
        }
        let mut format = config.format.unwrap_or(VolumeFormat::Raw);
        let mut rest = Vec::new();
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("format", f)) => format = VolumeFormat::parse(f).map_err(|e| e.0)?,
                Some(("size", _)) => {}
                _ => rest.push(option.to_string()),
            }
        }
        let options = rest.iter().map(|o| format!(",{o}")).collect::<String>();
        return Ok(DiskPlan::New { storage: config, gib, format, options });
    }
    check_disk(state, vmid, value).await?;
    Ok(DiskPlan::Existing(value.to_string()))
}

/// `virtio,bridge=vmbr0[,firewall=1]` as PVE takes it; a MAC address is made up when none is given
/// (PVE's prefix BC:24:11). Stored as PVE writes it: `virtio=<mac>,bridge=vmbr0`.
fn net_config(value: &str) -> Result<String, String> {
    let mut parts: Vec<String> = Vec::new();
    let mut model = None;
    for part in value.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "virtio" | "e1000" | "rtl8139" => {
                let mac = if v.is_empty() { random_mac() } else { check_mac(v)? };
                model = Some(format!("{k}={mac}"));
            }
            "bridge" => {
                let ok = !v.is_empty() && v.len() <= 15 && v.starts_with(|c: char| c.is_ascii_alphabetic()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
                if !ok {
                    return Err(format!("invalid bridge name '{v}'"));
                }
                parts.push(format!("bridge={v}"));
            }
            "firewall" | "link_down" if v == "0" || v == "1" => parts.push(part.to_string()),
            other => return Err(format!("invalid format - unknown option '{other}'")),
        }
    }
    let model = model.ok_or("missing model (virtio, e1000 or rtl8139)")?;
    if !parts.iter().any(|p| p.starts_with("bridge=")) {
        return Err("missing bridge".into());
    }
    Ok(std::iter::once(model).chain(parts).collect::<Vec<_>>().join(","))
}

/// An existing volume of this guest on a storage this node can use: `<storage>:<vmid>/<file>[,option=value…]`.
async fn check_disk(state: &AppState, vmid: Vmid, value: &str) -> Result<(), String> {
    let volid = value.split(',').next().unwrap_or_default();
    let volume = corral_storage::VolumeId::parse(volid).map_err(|e| e.to_string())?;
    if volume.name.vmid() != Some(vmid) {
        return Err(format!("volume '{volid}' does not belong to VM {vmid}"));
    }
    let config = crate::storage::get(&state.db, volume.storage.as_str()).await.map_err(|e| e.to_string())?;
    if !config.applies_to(state.node.as_str()) || config.disable {
        return Err(format!("storage '{}' is not available on node '{}'", volume.storage, state.node));
    }
    state.storage.registry.backend(&config).info(&volume.name).await.map_err(|e| e.to_string())?;
    Ok(())
}

fn check_mac(text: &str) -> Result<String, String> {
    let ok = text.len() == 17 && text.split(':').count() == 6 && text.split(':').all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(format!("invalid MAC address '{text}'"))
    }
}

fn random_mac() -> String {
    let b: [u8; 3] = rand::random();
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

/// `GET /nodes/{node}/qemu/{vmid}`.
pub async fn index(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    Ok(crate::api::listing("subdir", &["config", "migrate", "rrddata", "status"]))
}

/// `GET /nodes/{node}/qemu/{vmid}/config`: the configuration and its digest.
pub async fn config(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("current", Kind::Bool), optional("snapshot", Kind::Str { max_len: 40 })])?;
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    let mut out: serde_json::Map<String, Value> = record.config.iter().map(|(k, v)| (k.clone(), config_value(k, v))).collect();
    out.insert("digest".into(), Value::String(record.digest()));
    Ok(crate::api::data(out))
}

fn update_schema() -> Vec<Prop> {
    let mut schema: Vec<Prop> = CREATE_SCHEMA.iter().filter(|p| p.name != "start").copied().collect();
    schema.extend([
        optional("digest", Kind::Str { max_len: 64 }),
        optional("delete", Kind::Str { max_len: 4096 }),
        optional("skiplock", Kind::Bool),
    ]);
    schema
}

#[derive(Deserialize)]
struct UpdateExtra {
    digest: Option<String>,
    delete: Option<String>,
}

/// Keys `delete` may name: every option but the identity of the guest.
fn deletable(key: &str) -> bool {
    CREATE_SCHEMA.iter().any(|p| p.name == key && !matches!(key, "vmid" | "start")) || key.starts_with("unused")
}

/// `PUT` and `POST /nodes/{node}/qemu/{vmid}/config`: change options (new disks allocated at
/// once), `delete` some (a removed disk becomes `unused<N>`, as in PVE), guarded by `digest`.
/// Changes to a running guest apply at its next start.
pub async fn update_config(auth: Authenticated, State(state): State<AppState>, Path((node, vmid_text)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid_text)?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let mut raw = params.clone();
    raw.0.insert("vmid".into(), vmid.to_string());
    let schema = update_schema();
    let p: CreateParams = raw.check(&schema)?;
    let extra: UpdateExtra = raw.check(&schema)?;
    if p.args.is_some() {
        auth.require_root().map_err(|_| ApiError::param("args", "only root can set 'args' config"))?;
    }
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    if let Some(lock) = record.config.get("lock") {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM is locked ({lock})")));
    }
    if extra.digest.as_ref().is_some_and(|d| *d != record.digest()) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "detected modified configuration - file changed by other user? Try again."));
    }
    let mut new = record.clone();
    new.config.extend(config_of(&p)?);
    for key in extra.delete.unwrap_or_default().split([',', ' ', ';']).filter(|k| !k.is_empty()) {
        if !deletable(key) {
            return Err(ApiError::param("delete", format!("cannot delete '{key}'")));
        }
        if raw.0.contains_key(key) {
            return Err(ApiError::param("delete", format!("cannot set and delete '{key}' at the same time")));
        }
        if let Some(old) = new.config.remove(key) {
            if guests::is_disk_key(key) {
                let n = (0..).find(|n| !new.config.contains_key(&format!("unused{n}"))).expect("a free index");
                new.config.insert(format!("unused{n}"), old.split(',').next().unwrap_or_default().to_string());
            }
        }
    }
    for (key, value) in raw.0.iter().filter(|(k, _)| k.starts_with("net")) {
        new.config.insert(key.clone(), net_config(value).map_err(|why| ApiError::param(key, why))?);
    }
    let mut made = Vec::new();
    for (key, value) in raw.0.iter().filter(|(k, _)| guests::is_disk_key(k)) {
        let value = match plan_disk(&state, vmid, value).await.map_err(|why| ApiError::param(key, why))? {
            DiskPlan::Existing(value) => value,
            DiskPlan::New { storage, gib, format, options } => {
                let (value, name) = allocate(&state, vmid, &storage, gib, format, &options).await?;
                made.push((storage, name));
                value
            }
        };
        new.config.insert(key.clone(), value);
    }
    state.require_quorum().await?;
    if let Err(err) = guests::replace(&state.cluster, vmid, &record, &new).await {
        for (storage, name) in made {
            let _ = state.storage.registry.backend(&storage).free(&name).await;
        }
        return Err(err.into());
    }
    Ok(crate::api::data(Value::Null))
}

/// PVE sends integer options as JSON numbers.
fn config_value(key: &str, value: &str) -> Value {
    match (key, value.parse::<u64>()) {
        ("memory" | "cores" | "sockets" | "onboot" | "kvm", Ok(n)) => json!(n),
        _ => Value::String(value.to_string()),
    }
}

/// `DELETE /nodes/{node}/qemu/{vmid}`: remove the guest (task `qmdestroy`; VM.Allocate).
pub async fn destroy(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    struct DestroyParams {
        #[serde(rename = "destroy-unreferenced-disks")]
        unreferenced: Option<bool>,
    }
    let p: DestroyParams = params.check(&[optional("purge", Kind::Bool), optional("destroy-unreferenced-disks", Kind::Bool), optional("skiplock", Kind::Bool)])?;
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    if state.vms.is_running(vmid) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {vmid} is running - destroy failed")));
    }
    state.require_quorum().await?;
    let task_state = state.clone();
    let upid = state
        .tasks
        .spawn("qmdestroy", &vmid.to_string(), &auth.userid, move |log| async move {
            guests::destroy(&task_state.cluster, vmid, &record).await?;
            log.line(format!("VM {vmid}: configuration removed")).await;
            // A new guest with this VMID starts with an empty graph.
            task_state.rrd.forget(&crate::rrd_store::guest_key(vmid.get()));
            // Its own disks go with it, as in PVE (volumes of other guests are only referenced).
            for (key, value) in record.config.iter().filter(|(k, _)| guests::is_disk_key(k) || k.starts_with("unused")) {
                let Ok(volume) = corral_storage::VolumeId::parse(value.split(',').next().unwrap_or_default()) else { continue };
                if volume.name.vmid() != Some(vmid) {
                    continue;
                }
                let freed = match crate::storage::get(&task_state.db, volume.storage.as_str()).await {
                    Ok(config) => task_state.storage.registry.backend(&config).free(&volume.name).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match freed {
                    Ok(()) => log.line(format!("{key}: removed {volume}")).await,
                    Err(why) => log.line(format!("{key}: could not remove {volume}: {why}")).await,
                }
            }
            if p.unreferenced.unwrap_or(false) {
                remove_unreferenced(&task_state, &log, vmid).await;
            }
            Ok(())
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_names_are_dns_names() {
        assert!(super::check_name("web-1.example").is_ok());
        assert!(super::check_name("-web").is_err());
        assert!(super::check_name("web_1").is_err());
        assert!(super::check_name("a..b").is_err());
    }
}
