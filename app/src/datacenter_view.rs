//! Datacenter panels. Summary as PVE's: Health (cluster, quorum, nodes online/offline), Guests
//! (VMs running/stopped, HA services by state), Resources (CPU, memory, storage with bars) and
//! the Nodes grid.

use corral_api_types::cluster::{ClusterResource, ClusterStatusEntry};
use leptos::prelude::*;

use crate::api_client;
use crate::console::Field;
use crate::format;
use crate::live::use_live;

#[component]
pub fn DatacenterPanel(tab: String) -> impl IntoView {
    match tab.as_str() {
        "summary" => view! { <DatacenterSummary/> }.into_any(),
        "cluster" => view! { <crate::cluster_view::ClusterPanel/> }.into_any(),
        "storage" => view! { <crate::storage_view::StoragePanel/> }.into_any(),
        "ha" => view! { <crate::ha_view::HaPanel/> }.into_any(),
        other => view! { <p class="error">{format!("No such panel '{other}'.")}</p> }.into_any(),
    }
}

#[derive(Debug, PartialEq)]
pub struct Health {
    pub cluster: Option<(String, bool)>,
    pub online: usize,
    pub offline: usize,
    /// Nodes this node's gossip cannot tell about yet (it just started or joined).
    pub unknown: usize,
}

/// A node's `/cluster/resources` row.
fn node_row<'a>(resources: &'a [ClusterResource], name: &str) -> Option<&'a ClusterResource> {
    resources.iter().find(|r| r.kind == "node" && r.node.as_deref() == Some(name))
}

/// `online`, `offline`, or `unknown` when `/cluster/status` says not online and
/// `/cluster/resources` says gossip cannot tell yet.
fn node_state(online: bool, resources: &[ClusterResource], name: &str) -> &'static str {
    match (online, node_row(resources, name).map(|r| r.status.as_str())) {
        (true, _) => "online",
        (false, Some("unknown")) => "unknown",
        _ => "offline",
    }
}

/// Counts from `/cluster/status`; a node gossip cannot tell about yet counts as unknown, not
/// offline.
pub fn health(entries: &[ClusterStatusEntry], resources: &[ClusterResource]) -> Health {
    let mut h = Health { cluster: None, online: 0, offline: 0, unknown: 0 };
    for e in entries {
        match e {
            ClusterStatusEntry::Cluster { name, quorate, .. } => h.cluster = Some((name.clone(), *quorate)),
            ClusterStatusEntry::Node { name, online, .. } => match node_state(*online, resources, name) {
                "online" => h.online += 1,
                "unknown" => h.unknown += 1,
                _ => h.offline += 1,
            },
        }
    }
    h
}

/// What the Datacenter Summary shows besides Health: guests, HA services, resources, nodes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DcSummary {
    /// Cluster name and quorum; nodes online, offline, unknown.
    pub health: Option<(Option<(String, bool)>, usize, usize, usize)>,
    pub vms_running: usize,
    pub vms_stopped: usize,
    /// HA services per verbose state (`started`, `fence`, `error`, …), sorted by state.
    pub ha: Vec<(String, usize)>,
    pub cpu: (f64, u32),
    pub mem: (u64, u64),
    pub storage: (u64, u64),
    pub nodes: Vec<DcNode>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DcNode {
    pub name: String,
    pub nodeid: u32,
    /// `online`, `offline` or `unknown`.
    pub state: String,
    pub ip: String,
    pub cpu: Option<f64>,
    pub mem: Option<(u64, u64)>,
    pub uptime: Option<u64>,
}

/// Sum up the cluster: CPU and memory of online nodes; storage counted once per shared storage
/// and once per node for local ones (as PVE's summary does).
pub fn summarize(status: &[ClusterStatusEntry], resources: &[ClusterResource], ha: &[corral_api_types::ha::HaStatusRow]) -> DcSummary {
    let h = health(status, resources);
    let mut out = DcSummary { health: Some((h.cluster, h.online, h.offline, h.unknown)), ..Default::default() };
    let mut cpu_used = 0.0;
    let mut shared_seen = std::collections::BTreeSet::new();
    for r in resources {
        match r.kind.as_str() {
            "qemu" if r.status == "running" => out.vms_running += 1,
            "qemu" => out.vms_stopped += 1,
            "node" if r.status == "online" => {
                let cpus = r.maxcpu.unwrap_or(0);
                cpu_used += r.cpu.unwrap_or(0.0) * f64::from(cpus);
                out.cpu.1 += cpus;
                out.mem.0 += r.mem.unwrap_or(0);
                out.mem.1 += r.maxmem.unwrap_or(0);
            }
            "storage" if r.status == "available" => {
                let id = r.storage.clone().unwrap_or_default();
                if r.shared == Some(true) && !shared_seen.insert(id) {
                    continue;
                }
                out.storage.0 += r.disk.unwrap_or(0);
                out.storage.1 += r.maxdisk.unwrap_or(0);
            }
            _ => {}
        }
    }
    out.cpu.0 = if out.cpu.1 > 0 { cpu_used / f64::from(out.cpu.1) } else { 0.0 };
    let mut by_state = std::collections::BTreeMap::<String, usize>::new();
    for row in ha.iter().filter(|r| r.kind == "service") {
        *by_state.entry(row.state.clone().unwrap_or_default()).or_default() += 1;
    }
    out.ha = by_state.into_iter().collect();
    for e in status {
        if let ClusterStatusEntry::Node { name, nodeid, online, ip, .. } = e {
            let res = node_row(resources, name).filter(|r| r.status == "online");
            out.nodes.push(DcNode {
                name: name.clone(),
                nodeid: *nodeid,
                state: node_state(*online, resources, name).into(),
                ip: ip.clone().unwrap_or_default(),
                cpu: res.and_then(|r| r.cpu),
                mem: res.and_then(|r| Some((r.mem?, r.maxmem?))),
                uptime: res.and_then(|r| r.uptime),
            });
        }
    }
    out.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

async fn load_summary() -> crate::api_client::ApiResult<DcSummary> {
    let status = api_client::get::<Vec<ClusterStatusEntry>>("/cluster/status".into()).await?;
    let resources = api_client::get::<Vec<ClusterResource>>("/cluster/resources".into()).await?;
    // A user without Sys.Audit, or a node whose HA nobody set up, still gets the rest.
    let ha = api_client::get::<Vec<corral_api_types::ha::HaStatusRow>>("/cluster/ha/status/current".into()).await.unwrap_or_default();
    Ok(summarize(&status, &resources, &ha))
}

#[component]
fn UsageBar(fraction: f64) -> impl IntoView {
    let percent = (fraction * 100.0).clamp(0.0, 100.0);
    view! {
        <div class="usage-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{percent:.0}")>
            <div class="usage-fill" style=format!("width: {percent:.2}%")></div>
        </div>
    }
}

fn fraction(used: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { used as f64 / total as f64 }
}

#[component]
fn DatacenterSummary() -> impl IntoView {
    let live = use_live();
    let summary = Resource::new(move || live.tick.get(), |_| load_summary());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
            {move || Suspend::new(async move {
                match summary.await {
                    Ok(s) => {
                        let (cluster, online, offline, unknown) = s.health.clone().unwrap_or_default();
                        let cluster_line = match &cluster {
                            None => "Standalone node - no cluster defined".to_string(),
                            Some((name, quorate)) => format!("Cluster: {name}, Quorate: {}", if *quorate { "Yes" } else { "No" }),
                        };
                        let ha_line = if s.ha.is_empty() { "none".to_string() } else { s.ha.iter().map(|(state, n)| format!("{state}: {n}")).collect::<Vec<_>>().join(", ") };
                        let (cpu, cpus) = s.cpu;
                        view! {
                            <div class="dc-summary">
                                <div class="card" data-testid="dc-health">
                                    <h2>"Health"</h2>
                                    <Field label="Status" value=cluster_line testid="dc-cluster-status"/>
                                    <Field label="Nodes online" value=online.to_string() testid="dc-nodes-online"/>
                                    <Field label="Nodes offline" value=offline.to_string() testid="dc-nodes-offline"/>
                                    {(unknown > 0).then(|| view! { <Field label="Nodes not heard from yet" value=unknown.to_string() testid="dc-nodes-unknown"/> })}
                                </div>
                                <div class="card" data-testid="dc-guests">
                                    <h2>"Guests"</h2>
                                    <Field label="Virtual Machines running" value=s.vms_running.to_string() testid="dc-vms-running"/>
                                    <Field label="Virtual Machines stopped" value=s.vms_stopped.to_string() testid="dc-vms-stopped"/>
                                    <Field label="HA services" value=ha_line testid="dc-ha-services"/>
                                </div>
                                <div class="card" data-testid="dc-resources">
                                    <h2>"Resources"</h2>
                                    <Field label="CPU" value=format!("{} of {cpus} CPU(s)", format::percent(cpu)) testid="dc-cpu"/>
                                    <UsageBar fraction=cpu/>
                                    <Field label="Memory" value=format!("{} of {}", format::bytes(s.mem.0), format::bytes(s.mem.1)) testid="dc-mem"/>
                                    <UsageBar fraction=fraction(s.mem.0, s.mem.1)/>
                                    <Field label="Storage" value=format!("{} of {}", format::bytes(s.storage.0), format::bytes(s.storage.1)) testid="dc-storage"/>
                                    <UsageBar fraction=fraction(s.storage.0, s.storage.1)/>
                                </div>
                            </div>
                            <div class="card wide" data-testid="dc-nodes">
                                <h2>"Nodes"</h2>
                                <table class="grid" data-testid="dc-nodes-grid">
                                    <thead><tr><th>"Name"</th><th>"ID"</th><th>"Online"</th><th>"Server Address"</th><th>"CPU usage"</th><th>"Memory usage"</th><th>"Uptime"</th></tr></thead>
                                    <tbody>
                                        {s.nodes.into_iter().map(|n| view! {
                                            <tr data-testid=format!("dc-node-{}", n.name) data-online=if n.state == "online" { "1" } else { "0" } data-state=n.state.clone()>
                                                <td>{n.name.clone()}</td>
                                                <td>{n.nodeid.to_string()}</td>
                                                <td>{match n.state.as_str() { "online" => "Yes", "unknown" => "?", _ => "No" }}</td>
                                                <td>{n.ip.clone()}</td>
                                                <td>{n.cpu.map(format::percent).unwrap_or_default()}</td>
                                                <td>{n.mem.map(|(u, t)| format::percent(fraction(u, t))).unwrap_or_default()}</td>
                                                <td>{n.uptime.map(format::uptime).unwrap_or_default()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_health() {
        let entries = vec![ClusterStatusEntry::Node {
            id: "node/a".into(),
            name: "a".into(),
            nodeid: 0,
            ip: None,
            local: true,
            online: true,
            level: String::new(),
        }];
        assert_eq!(health(&entries, &[]), Health { cluster: None, online: 1, offline: 0, unknown: 0 });
    }

    fn res(kind: &str, status: &str) -> ClusterResource {
        ClusterResource { id: kind.into(), kind: kind.into(), status: status.into(), ..Default::default() }
    }

    #[test]
    fn shared_storage_counts_once_and_offline_nodes_add_no_capacity() {
        let node = |name: &str, status: &str| ClusterResource { node: Some(name.into()), cpu: Some(0.5), maxcpu: Some(2), mem: Some(1 << 30), maxmem: Some(4 << 30), uptime: Some(60), ..res("node", status) };
        let store = |node: &str, id: &str, shared: bool| ClusterResource { node: Some(node.into()), storage: Some(id.into()), shared: Some(shared), disk: Some(10), maxdisk: Some(100), ..res("storage", "available") };
        let resources = vec![
            node("a", "online"), node("b", "offline"), node("c", "unknown"),
            store("a", "nfs1", true), store("b", "nfs1", true), store("a", "local", false), store("b", "local", false),
            res("qemu", "running"), res("qemu", "stopped"), res("qemu", "stopped"),
        ];
        let status = vec![
            ClusterStatusEntry::Node { id: "node/b".into(), name: "b".into(), nodeid: 2, ip: None, local: false, online: false, level: String::new() },
            ClusterStatusEntry::Node { id: "node/a".into(), name: "a".into(), nodeid: 1, ip: Some("10.0.0.1".into()), local: true, online: true, level: String::new() },
            ClusterStatusEntry::Node { id: "node/c".into(), name: "c".into(), nodeid: 3, ip: None, local: false, online: false, level: String::new() },
        ];
        let ha = vec![corral_api_types::ha::HaStatusRow { kind: "service".into(), state: Some("started".into()), ..Default::default() }];
        let s = summarize(&status, &resources, &ha);
        assert_eq!((s.vms_running, s.vms_stopped), (1, 2));
        assert_eq!(s.cpu, (0.5, 2));
        assert_eq!(s.mem, (1 << 30, 4 << 30));
        assert_eq!(s.storage, (30, 300), "nfs1 once, local per node");
        assert_eq!(s.ha, vec![("started".to_string(), 1)]);
        assert_eq!(
            s.nodes.iter().map(|n| (n.name.as_str(), n.state.as_str(), n.uptime)).collect::<Vec<_>>(),
            [("a", "online", Some(60)), ("b", "offline", None), ("c", "unknown", None)]
        );
        assert_eq!(s.health.as_ref().map(|h| (h.1, h.2, h.3)), Some((1, 1, 1)), "a node not heard yet is not counted offline");
    }
}
