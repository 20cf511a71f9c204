//! `GET|POST /nodes/{node}/qemu/{vmid}/migrate`: move a guest to another node (task `qmigrate`).
//! A stopped guest moves by changing its owner in the store. A running guest on shared storage
//! moves live: the target starts QEMU waiting for the migration, the stream goes through an SSH
//! tunnel between the nodes (unix socket to unix socket, keys exchanged at join, as PVE does),
//! and the owner changes only once the target runs the guest. A failed migration leaves the
//! guest running on the source, its configuration there, and nothing on the target.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use corral_api_types::Vmid;
use corral_qemu::qmp;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::vmid_of;
use crate::api::error::{ApiError, ApiResult};
use crate::api::nodes::local_node;
use crate::api::params::{optional, required, Kind, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::cluster::peer_api::{self, Peers};
use crate::cluster::ClusterConfig;
use crate::guests::{self, GuestRecord};
use crate::state::AppState;
use crate::tasks::TaskLog;

/// Longest a live migration's memory copy may take.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(600);

/// Why a guest cannot go to `target`, or which of its disks are local.
struct Check {
    running: bool,
    local_disks: Vec<String>,
    /// Per node that may not take the guest: why.
    not_allowed: Vec<(String, String)>,
    allowed: Vec<String>,
}

async fn check(state: &AppState, vmid: Vmid, record: &GuestRecord) -> ApiResult<Check> {
    let config = ClusterConfig::load(&state.db).await?.ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no cluster: there is no node to migrate to"))?;
    let online = state.liveness.online(state.node.as_str());
    let mut local_disks = Vec::new();
    let mut storages = Vec::new();
    for (key, value) in record.config.iter().filter(|(k, _)| guests::is_disk_key(k)) {
        let Ok(volume) = corral_storage::VolumeId::parse(value.split(',').next().unwrap_or_default()) else { continue };
        let storage = crate::storage::get(&state.db, volume.storage.as_str()).await?;
        if !storage.is_shared() {
            local_disks.push(format!("{key} ({volume})"));
        }
        storages.push(storage);
    }
    let mut not_allowed = Vec::new();
    let mut allowed = Vec::new();
    for node in config.nodes.iter().map(|n| n.name.clone()).filter(|n| n != state.node.as_str()) {
        let missing: Vec<String> = storages.iter().filter(|s| s.disable || !s.applies_to(&node)).map(|s| s.storage.to_string()).collect();
        if !online.contains(&node) {
            not_allowed.push((node, "node is offline".into()));
        } else if !missing.is_empty() {
            not_allowed.push((node, format!("storage not available there: {}", missing.join(", "))));
        } else {
            allowed.push(node);
        }
    }
    Ok(Check { running: state.vms.is_running(vmid), local_disks, not_allowed, allowed })
}

/// `GET …/migrate`: PVE's preconditions (running, local disks, allowed nodes and why not).
pub async fn preconditions(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[optional("target", Kind::Str { max_len: 63 })])?;
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAudit, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    let c = check(&state, vmid, &record).await?;
    let not_allowed: serde_json::Map<String, Value> = c.not_allowed.iter().map(|(n, why)| (n.clone(), json!({ "reason": why }))).collect();
    Ok(crate::api::data(json!({
        "running": if c.running { 1 } else { 0 },
        "allowed_nodes": c.allowed,
        "not_allowed_nodes": not_allowed,
        "local_disks": c.local_disks,
        "local_resources": [],
    })))
}

#[derive(Deserialize)]
struct MigrateParams {
    target: String,
    online: Option<bool>,
}

/// `POST …/migrate` (task `qmigrate`).
pub async fn migrate(auth: Authenticated, State(state): State<AppState>, Path((node, vmid)): Path<(String, String)>, params: RawParams) -> ApiResult<Json<Value>> {
    let p: MigrateParams = params.check(&[
        required("target", Kind::Str { max_len: 63 }),
        optional("online", Kind::Bool),
        optional("force", Kind::Bool),
        optional("with-local-disks", Kind::Bool),
        optional("migration_type", Kind::Enum(&["secure"])),
        optional("bwlimit", Kind::Int { min: 0, max: i64::MAX }),
    ])?;
    local_node(&state, &node)?;
    let vmid = vmid_of(&vmid)?;
    auth.require(Privilege::VmAllocate, &format!("/vms/{vmid}"))?;
    let record = guests::get_on(&state.db, vmid, state.node.as_str()).await?;
    if let Some(lock) = record.config.get("lock") {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("VM is locked ({lock})")));
    }
    if crate::ha::manages(&state.db, vmid).await {
        // An HA guest moves through the HA manager (task `hamigrate`, as PVE).
        let sid = corral_ha::Sid::vm(vmid.get());
        crate::api::cluster::ha::resources::queue_move(&state, &sid, &p.target, false).await?;
        let target = p.target.clone();
        let upid = state
            .tasks
            .spawn("hamigrate", &vmid.to_string(), &auth.userid, move |log| async move {
                log.line(format!("Requesting HA migration for VM {vmid} to node {target}")).await;
                Ok(())
            })
            .await
            .map_err(|e| ApiError::internal("starting task", e))?;
        return Ok(crate::api::data(upid.to_string()));
    }
    let target = p.target.clone();
    if target == state.node.as_str() {
        return Err(ApiError::param("target", format!("target is local node.")));
    }
    let c = check(&state, vmid, &record).await?;
    if let Some((_, why)) = c.not_allowed.iter().find(|(n, _)| *n == target) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("can't migrate VM {vmid} to node '{target}': {why}")));
    }
    if !c.allowed.contains(&target) {
        return Err(ApiError::param("target", format!("no such cluster node '{target}'")));
    }
    if !c.local_disks.is_empty() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("can't migrate VM {vmid}: local disks {} (corral migrates guests whose disks are on shared storage)", c.local_disks.join(", "))));
    }
    if c.running && !p.online.unwrap_or(false) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "can't migrate running VM without --online"));
    }
    state.require_quorum().await?;
    let s = state.clone();
    let live = c.running;
    let upid = state
        .tasks
        .spawn("qmigrate", &vmid.to_string(), &auth.userid, move |log| async move {
            if live {
                migrate_live(&s, &log, vmid, record, &target).await
            } else {
                log.line(format!("migrating stopped VM {vmid} to node '{target}'")).await;
                let moved = GuestRecord { node: target.clone(), ..record.clone() };
                guests::replace(&s.cluster, vmid, &record, &moved).await?;
                log.line(format!("migration finished: VM {vmid} is now on node '{target}'")).await;
                Ok(())
            }
        })
        .await
        .map_err(|e| ApiError::internal("starting task", e))?;
    Ok(crate::api::data(upid.to_string()))
}

fn peers(state: &AppState) -> Peers<'_> {
    Peers { db: &state.db, cluster: &state.cluster, keys: state.keys() }
}

pub(crate) async fn migrate_live(s: &AppState, log: &TaskLog, vmid: Vmid, record: GuestRecord, target: &str) -> anyhow::Result<()> {
    log.line(format!("starting migration of VM {vmid} to node '{target}'")).await;
    let mut locked = record.clone();
    locked.config.insert("lock".into(), "migrate".into());
    guests::replace(&s.cluster, vmid, &record, &locked).await?;
    let result = transfer(s, log, vmid, target).await;
    match result {
        Ok(()) => {
            let mut moved = record.clone();
            moved.node = target.to_string();
            guests::replace(&s.cluster, vmid, &locked, &moved).await?;
            // The source QEMU has handed over and sits paused: end it quietly.
            crate::vm_runtime::stop(s, vmid).await?;
            log.line(format!("migration finished: VM {vmid} runs on node '{target}'")).await;
            Ok(())
        }
        Err(err) => {
            log.line(format!("migration failed: {err:#}")).await;
            let stop = peer_api::call(&peers(s), target, Method::POST, &format!("/nodes/{target}/qemu/{vmid}/status/stop"), &[("migratedfrom", s.node.to_string())]).await;
            if let Ok(upid) = stop {
                let _ = peer_api::wait_task(&peers(s), target, upid.as_str().unwrap_or_default(), Duration::from_secs(30)).await;
            }
            guests::replace(&s.cluster, vmid, &locked, &record).await?;
            log.line(format!("VM {vmid} keeps running on node '{}'", s.node)).await;
            Err(err)
        }
    }
}

/// Start the receiving QEMU on `target`, tunnel to it, stream the guest over; Ok once the
/// target runs it.
async fn transfer(s: &AppState, log: &TaskLog, vmid: Vmid, target: &str) -> anyhow::Result<()> {
    let p = peers(s);
    let upid = peer_api::call(&p, target, Method::POST, &format!("/nodes/{target}/qemu/{vmid}/status/start"), &[("migratedfrom", s.node.to_string()), ("stateuri", "unix".into())])
        .await
        .map_err(anyhow::Error::msg)?;
    let lines = peer_api::wait_task(&p, target, upid.as_str().unwrap_or_default(), Duration::from_secs(60)).await.map_err(anyhow::Error::msg)?;
    let remote = lines
        .iter()
        .find_map(|l| l.strip_prefix("migration listens on unix:"))
        .ok_or_else(|| anyhow::anyhow!("the target did not say where it listens"))?
        .to_string();
    log.line(format!("target QEMU waits on {remote}")).await;
    let config = ClusterConfig::load(&s.db).await?.ok_or_else(|| anyhow::anyhow!("no cluster configuration"))?;
    let local = s.vms.run.migrate_out(vmid.get());
    s.ssh_peers.forward_unix(&s.ssh, &config, target, &local, std::path::Path::new(&remote)).await.map_err(anyhow::Error::msg)?;
    log.line("SSH tunnel to the target is up").await;
    let result = stream(s, log, vmid, &local).await;
    s.ssh_peers.close_forward(&s.ssh, &config, target, &local, std::path::Path::new(&remote)).await;
    result
}

async fn stream(s: &AppState, log: &TaskLog, vmid: Vmid, local: &std::path::Path) -> anyhow::Result<()> {
    let socket = s.vms.run.qmp(vmid.get());
    let short = Duration::from_secs(5);
    qmp::command(&socket, short, "migrate", Some(json!({ "uri": format!("unix:{}", local.display()) }))).await?;
    let started = tokio::time::Instant::now();
    let mut last_report = started;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let info = qmp::command(&socket, short, "query-migrate", None).await?;
        let status = info["status"].as_str().unwrap_or("unknown").to_string();
        match status.as_str() {
            "completed" => {
                let ram = &info["ram"];
                log.line(format!(
                    "migration completed: {} MiB transferred in {} ms, downtime {} ms",
                    ram["transferred"].as_u64().unwrap_or(0) / (1024 * 1024),
                    info["total-time"].as_u64().unwrap_or(0),
                    info["downtime"].as_u64().unwrap_or(0)
                ))
                .await;
                return Ok(());
            }
            "failed" | "cancelled" => anyhow::bail!("QEMU reports the migration {status}: {}", info["error-desc"].as_str().unwrap_or("no reason given")),
            _ => {}
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = tokio::time::Instant::now();
            let ram = &info["ram"];
            log.line(format!("migration {status}: {} of {} MiB", ram["transferred"].as_u64().unwrap_or(0) >> 20, ram["total"].as_u64().unwrap_or(0) >> 20)).await;
        }
        if started.elapsed() > MIGRATION_DEADLINE {
            let _ = qmp::command(&socket, short, "migrate_cancel", None).await;
            anyhow::bail!("the migration did not finish within {} s", MIGRATION_DEADLINE.as_secs());
        }
    }
}
