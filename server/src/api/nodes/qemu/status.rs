//! `/nodes/{node}/qemu/{vmid}/status[/current|/start|/stop|/shutdown|/reboot|/reset]`: a guest's
//! live state and its power actions, each action a task with PVE's type (`qmstart`, `qmstop`,
//! `qmshutdown`, `qmreboot`, `qmreset`).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::Vmid;
use corral_qemu::{process, QemuError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::vmid_of;
use crate::api::error::{ApiError, ApiResult};
use crate::api::nodes::local_node;
use crate::api::params::{optional, Kind, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::guests::{self, GuestRecord};
use crate::state::AppState;
use crate::vm_runtime;

/// PVE's default wait for a guest to power off.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(180);

impl From<QemuError> for ApiError {
    fn from(err: QemuError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}

/// `GET …/status`.
pub async fn index(_auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    vmid_of(&vmid)?;
    Ok(crate::api::listing("subdir", &["current", "reboot", "reset", "shutdown", "start", "stop"]))
}

/// What the guest lists say of a guest on this node: from `/proc`, without asking QEMU.
pub fn live(state: &AppState, vmid: Vmid, record: &GuestRecord) -> Value {
    let pid = state.vms.pid(vmid);
    let stats = pid.and_then(process::stats);
    let mut out = json!({
        "vmid": vmid,
        "name": record.name(vmid),
        "status": if pid.is_some() { "running" } else { "stopped" },
        "cpus": record.cpus(),
        "maxmem": record.memory_bytes(),
        "mem": stats.map_or(0, |s| s.rss),
        "maxdisk": record.boot_disk_bytes(),
        "disk": 0,
        "cpu": if pid.is_some() { state.vms.cpu(vmid) } else { 0.0 },
        "uptime": stats.map_or(0, |s| s.uptime),
        "ha": { "managed": 0 },
    });
    if let Some(pid) = pid {
        out["pid"] = json!(pid);
    }
    out
}

async fn process_status(state: &AppState, vmid: Vmid) -> Option<String> {
    let answer = corral_qemu::qmp::command(&state.vms.run.qmp(vmid.get()), Duration::from_secs(2), "query-status", None).await.ok()?;
    answer.get("status").and_then(Value::as_str).map(String::from)
}

/// `GET …/status/current`.
pub async fn current(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    let mut out = live(&state, vmid, &record);
    out["qmpstatus"] = json!(match state.vms.pid(vmid) {
        Some(_) => process_status(&state, vmid).await.unwrap_or_else(|| "running".into()),
        None => "stopped".into(),
    });
    // As PVE: `managed` and the requested state from the HA configuration.
    if let Ok(Some(cfg)) = crate::ha::store::resource(&state.db, &corral_ha::Sid::vm(vmid.get())).await {
        out["ha"] = json!({ "managed": 1, "state": cfg.request().as_str() });
    }
    Ok(crate::api::data(out))
}

/// The guest, checked for a power action (VM.PowerMgmt in PVE; here VM.Allocate's holder).
async fn for_action(auth: &Authenticated, state: &AppState, node: &str, vmid: &str) -> ApiResult<(Vmid, GuestRecord)> {
    local_node(state, node)?;
    let vmid = vmid_of(vmid)?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    if let Some(lock) = record.config.get("lock") {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM is locked ({lock})")));
    }
    Ok((vmid, record))
}

async fn task(state: &AppState, auth: &Authenticated, kind: &str, vmid: Vmid, work: impl FnOnce(crate::tasks::TaskLog) -> futures::future::BoxFuture<'static, anyhow::Result<()>> + Send + 'static) -> ApiResult<Json<Value>> {
    let upid = state.tasks.spawn(kind, &vmid.to_string(), &auth.userid, work).await.map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

/// Start or stop of an HA guest: only its requested state changes (tasks `hastart`/`hastop`,
/// as PVE); the HA manager does the rest.
async fn ha_request(state: &AppState, auth: &Authenticated, vmid: Vmid, request: corral_ha::RequestState) -> ApiResult<Json<Value>> {
    let sid = corral_ha::Sid::vm(vmid.get());
    crate::api::cluster::ha::resources::request(state, &sid, request).await?;
    let (kind, verb) = if request == corral_ha::RequestState::Started { ("hastart", "start") } else { ("hastop", "stop") };
    task(state, auth, kind, vmid, move |log| {
        Box::pin(async move {
            log.line(format!("Requesting HA {verb} for VM {vmid}")).await;
            Ok(())
        })
    })
    .await
}

#[derive(Deserialize)]
struct MigrationSide {
    migratedfrom: Option<String>,
}

/// A guest arriving by live migration from `source`: its record still names the source.
async fn incoming(auth: &Authenticated, state: &AppState, node: &str, vmid: &str, source: &str) -> ApiResult<(Vmid, GuestRecord)> {
    local_node(state, node)?;
    auth.require_root()?;
    let vmid = vmid_of(vmid)?;
    let record = guests::get_on(&state.db, vmid, source).await?;
    Ok((vmid, record))
}

/// `POST …/status/start`. With `migratedfrom` (root, node to node): start the guest waiting for
/// the incoming live migration; the task's last line names the socket, as PVE's does.
pub async fn start(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let side: MigrationSide = params.check(&[
        optional("skiplock", Kind::Bool),
        optional("timeout", Kind::Int { min: 0, max: 86400 }),
        optional("migratedfrom", Kind::Str { max_len: 63 }),
        optional("stateuri", Kind::Enum(&["unix"])),
    ])?;
    if let Some(source) = side.migratedfrom {
        let (vmid, record) = incoming(&auth, &state, &node, &vmid, &source).await?;
        if state.vms.is_running(vmid) {
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {vmid} already running")));
        }
        // An HA guest may only arrive where the node's agent lease (and its guard) covers it.
        if crate::ha::manages(&state.db, vmid).await {
            if !state.ha.agent_valid() {
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("node '{}' does not hold its HA agent lease; cannot receive HA guest {vmid}", state.node)));
            }
            state.ha.guard_also(&corral_ha::Sid::vm(vmid.get()));
        }
        let s = state.clone();
        return task(&state, &auth, "qmstart", vmid, move |log| {
            Box::pin(async move {
                log.line(format!("starting VM {vmid} for the migration from node '{source}'")).await;
                let socket = vm_runtime::start_incoming(&s, vmid, &record).await?;
                log.line(format!("migration listens on unix:{}", socket.display())).await;
                Ok(())
            })
        })
        .await;
    }
    let (vmid, record) = for_action(&auth, &state, &node, &vmid).await?;
    if crate::ha::manages(&state.db, vmid).await {
        return ha_request(&state, &auth, vmid, corral_ha::RequestState::Started).await;
    }
    if state.vms.is_running(vmid) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {vmid} already running")));
    }
    let s = state.clone();
    task(&state, &auth, "qmstart", vmid, move |log| {
        Box::pin(async move {
            log.line(format!("starting VM {vmid} on node '{}'", s.node)).await;
            let pid = vm_runtime::start(&s, vmid, &record).await?;
            log.line(format!("VM {vmid} started (QEMU pid {pid})")).await;
            Ok(())
        })
    })
    .await
}

/// `POST …/status/stop`: hard stop.
pub async fn stop(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let side: MigrationSide = params.check(&[
        optional("skiplock", Kind::Bool),
        optional("timeout", Kind::Int { min: 0, max: 86400 }),
        optional("keepActive", Kind::Bool),
        optional("migratedfrom", Kind::Str { max_len: 63 }),
    ])?;
    let (vmid, _) = match side.migratedfrom {
        // A failed migration's receiving end, stopped by the source.
        Some(source) => incoming(&auth, &state, &node, &vmid, &source).await?,
        None => {
            let (vmid, record) = for_action(&auth, &state, &node, &vmid).await?;
            if crate::ha::manages(&state.db, vmid).await {
                return ha_request(&state, &auth, vmid, corral_ha::RequestState::Stopped).await;
            }
            (vmid, record)
        }
    };
    let s = state.clone();
    task(&state, &auth, "qmstop", vmid, move |log| {
        Box::pin(async move {
            log.line(format!("stopping VM {vmid}")).await;
            vm_runtime::stop(&s, vmid).await?;
            log.line(format!("VM {vmid} stopped")).await;
            Ok(())
        })
    })
    .await
}

#[derive(Deserialize)]
struct ShutdownParams {
    timeout: Option<u64>,
    #[serde(rename = "forceStop")]
    force_stop: Option<bool>,
}

/// `POST …/status/shutdown`: ACPI power button; `forceStop` stops it hard after `timeout`.
pub async fn shutdown(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: ShutdownParams = params.check(&[optional("timeout", Kind::Int { min: 0, max: 86400 }), optional("forceStop", Kind::Bool), optional("skiplock", Kind::Bool), optional("keepActive", Kind::Bool)])?;
    let (vmid, _) = for_action(&auth, &state, &node, &vmid).await?;
    let s = state.clone();
    let timeout = p.timeout.map(Duration::from_secs).unwrap_or(SHUTDOWN_TIMEOUT);
    task(&state, &auth, "qmshutdown", vmid, move |log| {
        Box::pin(async move {
            log.line(format!("shutting down VM {vmid} (up to {} s)", timeout.as_secs())).await;
            match vm_runtime::shutdown(&s, vmid, timeout).await {
                Err(QemuError::Timeout { .. }) if p.force_stop.unwrap_or(false) => {
                    log.line("the guest did not power off in time; stopping it").await;
                    vm_runtime::stop(&s, vmid).await?;
                }
                other => other?,
            }
            log.line(format!("VM {vmid} is off")).await;
            Ok(())
        })
    })
    .await
}

/// `POST …/status/reboot`: shut down, then start again.
pub async fn reboot(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: ShutdownParams = params.check(&[optional("timeout", Kind::Int { min: 0, max: 86400 })])?;
    let (vmid, record) = for_action(&auth, &state, &node, &vmid).await?;
    if !state.vms.is_running(vmid) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {vmid} not running")));
    }
    let s = state.clone();
    let timeout = p.timeout.map(Duration::from_secs).unwrap_or(SHUTDOWN_TIMEOUT);
    task(&state, &auth, "qmreboot", vmid, move |log| {
        Box::pin(async move {
            log.line(format!("rebooting VM {vmid}")).await;
            vm_runtime::shutdown(&s, vmid, timeout).await?;
            let pid = vm_runtime::start(&s, vmid, &record).await?;
            log.line(format!("VM {vmid} started again (QEMU pid {pid})")).await;
            Ok(())
        })
    })
    .await
}

/// `POST …/status/reset`: the reset button.
pub async fn reset(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("skiplock", Kind::Bool)])?;
    let (vmid, _) = for_action(&auth, &state, &node, &vmid).await?;
    if !state.vms.is_running(vmid) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM {vmid} not running")));
    }
    let s = state.clone();
    task(&state, &auth, "qmreset", vmid, move |log| {
        Box::pin(async move {
            corral_qemu::qmp::command(&s.vms.run.qmp(vmid.get()), process::QMP_DEADLINE, "system_reset", None).await?;
            log.line(format!("VM {vmid} reset")).await;
            Ok(())
        })
    })
    .await
}
