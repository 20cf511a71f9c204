//! `/nodes` and `/nodes/{node}/…`. `{node}` is this node's name or the alias `localhost`;
//! forwarding to other nodes arrives with clustering.

pub mod forward;
pub mod monitoring;
pub mod network;
pub mod qemu;
pub mod rrddata;
pub mod status;
pub mod storage;
pub mod tasks;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use corral_api_types::node::NodeListEntry;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

/// Accept `{node}` if it names this node.
pub fn local_node(state: &AppState, node: &str) -> ApiResult<()> {
    if node == "localhost" || node == state.node.as_str() {
        Ok(())
    } else {
        Err(ApiError::param("node", format!("no such cluster node '{node}'")))
    }
}

/// `GET /nodes`: every member (Sys.Audit on `/nodes/{node}` per node), online or offline as
/// gossip sees them, with the usage figures each online peer publishes; this node's own from
/// its samples.
async fn list(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    let status = state.stats.status();
    let mut out = vec![NodeListEntry {
        node: state.node.to_string(),
        id: format!("node/{}", state.node),
        kind: "node".into(),
        status: "online".into(),
        cpu: Some(status.cpu),
        maxcpu: Some(status.cpuinfo.cpus),
        mem: Some(status.memory.used),
        maxmem: Some(status.memory.total),
        disk: Some(status.rootfs.used),
        maxdisk: Some(status.rootfs.total),
        uptime: Some(status.uptime),
        level: String::new(),
        ssl_fingerprint: state.fingerprint.clone(),
    }];
    if let Some(config) = crate::cluster::ClusterConfig::load(&state.db).await? {
        let peers = state.liveness.peers();
        for node in config.nodes.iter().filter(|n| n.name != state.node.as_str()) {
            let seen = peers.iter().find(|p| p.node == node.name && p.alive).and_then(|p| p.status.clone());
            out.push(NodeListEntry {
                node: node.name.clone(),
                id: format!("node/{}", node.name),
                kind: "node".into(),
                status: crate::cluster::liveness::Liveness::state_of(&peers, &node.name).into(),
                cpu: seen.as_ref().map(|s| s.cpu),
                maxcpu: seen.as_ref().map(|s| s.maxcpu),
                mem: seen.as_ref().map(|s| s.mem),
                maxmem: seen.as_ref().map(|s| s.maxmem),
                disk: None,
                maxdisk: None,
                uptime: seen.as_ref().map(|s| s.uptime),
                level: String::new(),
                ssl_fingerprint: node.fingerprint.clone(),
            });
        }
    }
    out.retain(|n| auth.require(Privilege::SysAudit, &format!("/nodes/{}", n.node)).is_ok());
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(super::data(out))
}

async fn index(_auth: Authenticated, State(state): State<AppState>, Path(node): Path<String>) -> ApiResult<Json<Value>> {
    local_node(&state, &node)?;
    Ok(super::listing("name", &["lxc", "network", "qemu", "replication", "rrddata", "scan", "status", "storage", "subscription", "tasks"]))
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/{node}", get(index))
        .route("/{node}/status", get(status::get_status))
        .route("/{node}/network", get(network::list_interfaces))
        .route("/{node}/rrddata", get(rrddata::get_rrddata))
        .route("/{node}/qemu", get(qemu::list).post(qemu::create))
        .route("/{node}/qemu/{vmid}", get(qemu::index).delete(qemu::destroy))
        .route("/{node}/qemu/{vmid}/config", get(qemu::config).put(qemu::update_config).post(qemu::update_config))
        .route("/{node}/qemu/{vmid}/rrddata", get(rrddata::guest_rrddata))
        .route("/{node}/qemu/{vmid}/migrate", get(qemu::migrate::preconditions).post(qemu::migrate::migrate))
        .route("/{node}/qemu/{vmid}/status", get(qemu::status::index))
        .route("/{node}/qemu/{vmid}/status/current", get(qemu::status::current))
        .route("/{node}/qemu/{vmid}/status/start", post(qemu::status::start))
        .route("/{node}/qemu/{vmid}/status/stop", post(qemu::status::stop))
        .route("/{node}/qemu/{vmid}/status/shutdown", post(qemu::status::shutdown))
        .route("/{node}/qemu/{vmid}/status/reboot", post(qemu::status::reboot))
        .route("/{node}/qemu/{vmid}/status/reset", post(qemu::status::reset))
        .route("/{node}/storage", get(storage::list))
        .route("/{node}/storage/{storage}", get(storage::index))
        .route("/{node}/storage/{storage}/status", get(storage::status))
        .route("/{node}/storage/{storage}/rrddata", get(rrddata::storage_rrddata))
        .route("/{node}/storage/{storage}/content", get(storage::content).post(storage::alloc))
        .route("/{node}/storage/{storage}/content/{*volume}", get(storage::volume_info).delete(storage::volume_delete))
        .route("/{node}/scan", get(storage::scan_index))
        .route("/{node}/scan/nfs", get(storage::scan_nfs))
        .route("/{node}/lxc", get(monitoring::lxc))
        .route("/{node}/replication", get(monitoring::replication))
        .route("/{node}/subscription", get(monitoring::subscription))
        .route("/{node}/tasks", get(tasks::list_tasks))
        .route("/{node}/tasks/{upid}", get(tasks::task_index).delete(tasks::stop_task))
        .route("/{node}/tasks/{upid}/status", get(tasks::task_status))
        .route("/{node}/tasks/{upid}/log", get(tasks::task_log))
        .layer(axum::middleware::from_fn_with_state(state.clone(), forward::forward))
}
