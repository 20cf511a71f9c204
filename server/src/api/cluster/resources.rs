//! `GET /cluster/resources`: nodes and guests; any authenticated user sees what it may audit
//! (root: everything).

use axum::extract::State;
use axum::Json;
use corral_api_types::cluster::ClusterResource;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::{optional, Kind, Prop, RawParams};
use crate::auth::{Authenticated, Privilege};
use crate::state::AppState;

const SCHEMA: &[Prop] = &[optional("type", Kind::Enum(&["vm", "storage", "node", "sdn"]))];

#[derive(Deserialize)]
struct Query {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn get_resources(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    let query: Query = params.check(SCHEMA)?;
    let mut out = Vec::new();
    let wants_nodes = query.kind.as_deref().is_none_or(|k| k == "node");
    if wants_nodes {
        out.extend(remote_nodes(&auth, &state).await?);
    }
    if wants_nodes && auth.require(Privilege::SysAudit, &format!("/nodes/{}", state.node)).is_ok() {
        let s = state.stats.status();
        out.push(ClusterResource {
            id: format!("node/{}", state.node),
            kind: "node".into(),
            node: Some(state.node.to_string()),
            status: "online".into(),
            cpu: Some(s.cpu),
            maxcpu: Some(s.cpuinfo.cpus),
            mem: Some(s.memory.used),
            maxmem: Some(s.memory.total),
            disk: Some(s.rootfs.used),
            maxdisk: Some(s.rootfs.total),
            uptime: Some(s.uptime),
            level: Some(String::new()),
            ..Default::default()
        });
    }
    if query.kind.as_deref().is_none_or(|k| k == "vm") {
        out.extend(guests(&auth, &state).await?);
    }
    if query.kind.as_deref().is_none_or(|k| k == "storage") {
        out.extend(storages(&auth, &state).await?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(crate::api::data(out))
}

/// The other members of the cluster: online, offline or not known yet as gossip sees them, with the uptime,
/// CPU and memory figures their gossip status carries.
async fn remote_nodes(auth: &Authenticated, state: &AppState) -> ApiResult<Vec<ClusterResource>> {
    let Some(config) = crate::cluster::ClusterConfig::load(&state.db).await? else { return Ok(Vec::new()) };
    let peers = state.liveness.peers();
    let seen = |name: &str| peers.iter().find(|p| p.node == name && p.alive).and_then(|p| p.status.clone());
    Ok(config
        .nodes
        .iter()
        .filter(|n| n.name != state.node.as_str())
        .filter(|n| auth.require(Privilege::SysAudit, &format!("/nodes/{}", n.name)).is_ok())
        .map(|n| {
            let s = seen(&n.name);
            ClusterResource {
                id: format!("node/{}", n.name),
                kind: "node".into(),
                node: Some(n.name.clone()),
                status: crate::cluster::liveness::Liveness::state_of(&peers, &n.name).into(),
                cpu: s.as_ref().map(|s| s.cpu),
                maxcpu: s.as_ref().map(|s| s.maxcpu),
                mem: s.as_ref().map(|s| s.mem),
                maxmem: s.as_ref().map(|s| s.maxmem),
                disk: None,
                maxdisk: None,
                uptime: s.as_ref().map(|s| s.uptime),
                level: Some(String::new()),
                ..Default::default()
            }
        })
        .collect())
}

/// Guests with their state: this node's from its own processes, another node's from what that
/// node's gossip status says runs there; a guest on a node that is offline is `unknown`, as in PVE.
async fn guests(auth: &Authenticated, state: &AppState) -> ApiResult<Vec<ClusterResource>> {
    let peers = state.liveness.peers();
    let remote_running = |node: &str, vmid: u32| -> Option<bool> {
        let peer = peers.iter().find(|p| p.node == node && p.alive)?;
        Some(peer.status.as_ref()?.running.contains(&vmid))
    };
    let mut out = Vec::new();
    let ha = crate::ha::store::read(&state.db).await?;
    for (vmid, record) in crate::guests::list(&state.db).await? {
        if auth.require(Privilege::VmAudit, &format!("/vms/{vmid}")).is_err() {
            continue;
        }
        let sid = corral_ha::Sid::vm(vmid.get());
        let hastate = ha.resources.get(&sid).map(|cfg| corral_ha::verbose_state(ha.manager.service_status.get(&sid), cfg).to_string());
        let (status, mem, cpu, uptime) = if record.node == state.node.as_str() {
            let live = crate::api::nodes::qemu::status::live(state, vmid, &record);
            (live["status"].as_str().unwrap_or("stopped").to_string(), live["mem"].as_u64().unwrap_or(0), live["cpu"].as_f64().unwrap_or(0.0), live["uptime"].as_u64().unwrap_or(0))
        } else {
            let status = match remote_running(&record.node, vmid.get()) {
                Some(true) => "running",
                Some(false) => "stopped",
                None => "unknown",
            };
            (status.to_string(), 0, 0.0, 0)
        };
        out.push(ClusterResource {
            id: format!("qemu/{vmid}"),
            kind: "qemu".into(),
            status,
            vmid: Some(vmid),
            name: Some(record.name(vmid)),
            maxcpu: Some(record.cpus()),
            maxmem: Some(record.memory_bytes()),
            mem: Some(mem),
            cpu: Some(cpu),
            disk: Some(0),
            maxdisk: Some(record.boot_disk_bytes()),
            uptime: Some(uptime),
            node: Some(record.node),
            hastate,
            ..Default::default()
        });
    }
    Ok(out)
}

/// One entry per storage and node that may use it: `available` when that node's last check
/// reached it (its own table here, its gossip status for peers), `unknown` otherwise, as PVE
/// shows a storage whose node is offline or whose status is stale.
async fn storages(auth: &Authenticated, state: &AppState) -> ApiResult<Vec<ClusterResource>> {
    let me = state.node.to_string();
    let nodes: Vec<String> = match crate::cluster::ClusterConfig::load(&state.db).await? {
        Some(config) => config.nodes.iter().map(|n| n.name.clone()).collect(),
        None => vec![me.clone()],
    };
    let peers = state.liveness.peers();
    let remote = |node: &str, id: &str| {
        peers.iter().find(|p| p.node == node && p.alive).and_then(|p| p.status.as_ref()).and_then(|s| s.storages.iter().find(|u| u.id == id)).map(|u| (u.active, u.used, u.total))
    };
    let mut out = Vec::new();
    for config in crate::storage::list(&state.db).await? {
        if config.disable || auth.require(Privilege::DatastoreAudit, &format!("/storage/{}", config.storage)).is_err() {
            continue;
        }
        for node in nodes.iter().filter(|n| config.applies_to(n)) {
            let seen = if *node == me {
                state.storage.status(config.storage.as_str()).map(|c| (c.active, c.usage.used, c.usage.total))
            } else {
                remote(node, config.storage.as_str())
            };
            let (active, used, total) = seen.unwrap_or((false, 0, 0));
            out.push(ClusterResource {
                id: format!("storage/{node}/{}", config.storage),
                kind: "storage".into(),
                node: Some(node.clone()),
                status: if active { "available" } else { "unknown" }.into(),
                disk: Some(used),
                maxdisk: Some(total),
                storage: Some(config.storage.to_string()),
                plugintype: Some(config.kind.as_str().into()),
                shared: Some(config.is_shared()),
                content: Some(config.content.clone()),
                ..Default::default()
            });
        }
    }
    Ok(out)
}
