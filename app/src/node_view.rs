//! Node panels: Summary (status card and the node's usage graph) and Network.

use corral_api_types::node::{NetworkInterface, NodeListEntry, NodeStatus};
use leptos::prelude::*;

use crate::api_client;
use crate::chart::{GraphKind, RrdGraph};
use crate::console::Field;
use crate::format;
use crate::live::use_live;

#[component]
pub fn NodePanel(node: String, tab: String) -> impl IntoView {
    match tab.as_str() {
        "summary" => view! { <NodeSummary node/> }.into_any(),
        "network" => view! { <NodeNetwork node/> }.into_any(),
        other => view! { <p class="error">{format!("No such panel '{other}'.")}</p> }.into_any(),
    }
}

#[component]
fn NodeSummary(node: String) -> impl IntoView {
    let live = use_live();
    let status_node = node.clone();
    let status = Resource::new(move || live.tick.get(), move |_| api_client::get::<NodeStatus>(format!("/nodes/{status_node}/status")));
    let graph_base = format!("/nodes/{node}");
    let nodes = Resource::new(|| (), |_| api_client::get::<Vec<NodeListEntry>>("/nodes".into()));
    let fp_node = node.clone();
    view! {
        <div class="card" data-testid="node-status">
            <h2>{format!("{node} (Uptime: ")}
                <Transition fallback=|| "">
                    {move || Suspend::new(async move { status.await.map(|s| format::uptime(s.uptime)).unwrap_or_default() })}
                </Transition>
                ")"
            </h2>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) => view! {
                            <Field label="CPU usage" value=format!("{} of {} CPU(s)", format::percent(s.cpu), s.cpuinfo.cpus) testid="node-cpu"/>
                            <Field label="IO delay" value=format::percent(s.wait)/>
                            <Field label="Load average" value=s.loadavg.join(",") testid="node-load"/>
                            <Field label="RAM usage" value=format!("{} ({} of {})", format::percent(fraction(s.memory.used, s.memory.total)), format::bytes(s.memory.used), format::bytes(s.memory.total)) testid="node-mem"/>
                            <Field label="Root FS" value=format!("{} ({} of {})", format::percent(fraction(s.rootfs.used, s.rootfs.total)), format::bytes(s.rootfs.used), format::bytes(s.rootfs.total))/>
                            <Field label="CPU(s)" value=format!("{} x {}", s.cpuinfo.cpus, s.cpuinfo.model)/>
                            <Field label="Kernel Version" value=s.kversion.clone()/>
                            <Field label="Manager Version" value=s.pveversion.clone()/>
                            <Field label="Uptime" value=format::uptime(s.uptime) testid="node-uptime"/>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || {
                    let fp_node = fp_node.clone();
                    Suspend::new(async move {
                        let fingerprint = nodes.await.ok().and_then(|list| list.into_iter().find(|n| n.node == fp_node)).map(|n| n.ssl_fingerprint);
                        fingerprint.map(|fp| view! { <Field label="Certificate fingerprint (SHA-256)" value=fp testid="node-fingerprint"/> })
                    })
                }}
            </Transition>
        </div>
        <div class="card">
            <RrdGraph kind=GraphKind::Node base=graph_base/>
        </div>
    }
}

fn fraction(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        used as f64 / total as f64
    }
}

#[component]
fn NodeNetwork(node: String) -> impl IntoView {
    let list = Resource::new(|| (), move |_| api_client::get::<Vec<NetworkInterface>>(format!("/nodes/{node}/network")));
    view! {
        <div class="card">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(ifaces) => view! {
                            <table class="grid" data-testid="node-network">
                                <thead><tr><th>"Name"</th><th>"Type"</th><th>"Active"</th><th>"CIDR"</th><th>"CIDR (IPv6)"</th></tr></thead>
                                <tbody>
                                    {ifaces.into_iter().map(|i| view! {
                                        <tr>
                                            <td>{i.iface}</td>
                                            <td>{i.kind}</td>
                                            <td>{if i.active { "Yes" } else { "No" }}</td>
                                            <td>{i.cidr.unwrap_or_default()}</td>
                                            <td>{i.cidr6.unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}
