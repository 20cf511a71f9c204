//! `/nodes/{node}/qemu[/{vmid}[/config|/status/current]]`: guest configurations owned by this
//! node (requests for another node's guests are forwarded there). Creating and destroying run
//! as tasks (`qmcreate`, `qmdestroy`), as in PVE. Guests do not run yet: every status is
//! `stopped`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::guest::QemuListEntry;
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
];

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

fn vmid_of(text: &str) -> ApiResult<Vmid> {
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
    Ok(config)
}

/// `GET /nodes/{node}/qemu`: the guests this node owns (VM.Audit per guest).
pub async fn list(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("full", Kind::Bool)])?;
    local_node(&state, &node)?;
    let entries: Vec<QemuListEntry> = guests::list(&state.db)
        .await?
        .into_iter()
        .filter(|(vmid, record)| record.node == state.node.as_str() && auth.require(Privilege::VmAudit, &format!("/vms/{vmid}")).is_ok())
        .map(|(vmid, record)| QemuListEntry {
            vmid,
            name: record.name(vmid),
            status: "stopped".into(),
            cpus: record.cpus(),
            maxmem: record.memory_bytes(),
            mem: 0,
            maxdisk: 0,
            disk: 0,
            uptime: 0,
            cpu: 0.0,
        })
        .collect();
    Ok(crate::api::data(entries))
}

/// `POST /nodes/{node}/qemu`: record a new guest on this node (task `qmcreate`; VM.Allocate).
pub async fn create(auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: CreateParams = params.check(CREATE_SCHEMA)?;
    local_node(&state, &node)?;
    let vmid = Vmid::new(p.vmid).map_err(|e| ApiError::param("vmid", e.to_string()))?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let mut config = config_of(&p)?;
    for (key, value) in params.0.iter().filter(|(k, _)| guests::is_disk_key(k)) {
        check_disk(&state, vmid, value).await.map_err(|why| ApiError::param(key, why))?;
        config.insert(key.clone(), value.clone());
    }
    let record = GuestRecord { node: state.node.to_string(), config };
    guests::check_unused(&state.db, vmid).await?;
    state.require_quorum().await?;
    let task_state = state.clone();
    let upid = state
        .tasks
        .spawn("qmcreate", &vmid.to_string(), &auth.userid, move |log| async move {
            log.line(format!("creating VM {vmid} ({}) on node '{}'", record.name(vmid), record.node)).await;
            guests::create(&task_state.db, &task_state.cluster, vmid, &record).await?;
            log.line(format!("VM {vmid}: configuration written ({} MiB, {} vCPU)", record.memory_bytes() / 1024 / 1024, record.cpus())).await;
            Ok(())
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

/// A disk is an existing volume of this guest on a storage this node can use:
/// `<storage>:<vmid>/<file>[,option=value…]`.
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

/// `GET /nodes/{node}/qemu/{vmid}`.
pub async fn index(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    Ok(crate::api::listing("subdir", &["config", "status"]))
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

/// PVE sends integer options as JSON numbers.
fn config_value(key: &str, value: &str) -> Value {
    match (key, value.parse::<u64>()) {
        ("memory" | "cores" | "sockets" | "onboot", Ok(n)) => json!(n),
        _ => Value::String(value.to_string()),
    }
}

/// `GET /nodes/{node}/qemu/{vmid}/status/current`.
pub async fn current(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    Ok(crate::api::data(json!({
        "vmid": vmid,
        "name": record.name(vmid),
        "status": "stopped",
        "qmpstatus": "stopped",
        "cpus": record.cpus(),
        "maxmem": record.memory_bytes(),
        "mem": 0,
        "maxdisk": 0,
        "disk": 0,
        "cpu": 0,
        "uptime": 0,
        "ha": { "managed": 0 },
    })))
}

/// `DELETE /nodes/{node}/qemu/{vmid}`: remove the guest (task `qmdestroy`; VM.Allocate).
pub async fn destroy(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("purge", Kind::Bool), optional("destroy-unreferenced-disks", Kind::Bool), optional("skiplock", Kind::Bool)])?;
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    state.require_quorum().await?;
    let task_state = state.clone();
    let upid = state
        .tasks
        .spawn("qmdestroy", &vmid.to_string(), &auth.userid, move |log| async move {
            guests::destroy(&task_state.cluster, vmid, &record).await?;
            log.line(format!("VM {vmid}: configuration removed")).await;
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
