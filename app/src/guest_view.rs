//! Guests in the console: a VM's panel (Start / Shutdown / Stop / Reboot / Migrate / Remove,
//! each a task the admin can follow; Summary; Hardware) and the Create VM wizard (General,
//! Disks, CPU, Memory, Network, Confirm). PVE's `qemu/Config.js`, `qemu/CreateWizard.js`.

use std::collections::BTreeMap;

use corral_api_types::guest::{GuestStatus, MigratePreconditions};
use corral_api_types::storage::NodeStorageStatus;
use leptos::prelude::*;

use crate::api_client;
use crate::cluster_view::DialogFooter;
use crate::console::Field;
use crate::format;
use crate::live::use_live;
use crate::task_viewer::TaskViewer;

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    Migrate,
    Remove,
}

/// A guest's panel: the action toolbar above its tabs.
#[component]
pub fn GuestPanel(node: String, vmid: u32, tab: String) -> impl IntoView {
    let live = use_live();
    let version = RwSignal::new(0u64);
    // Once the guest is going (removed, or migrated away), its panel stops asking for it and,
    // when the task is closed, goes to the node it was on, as PVE does.
    let gone = RwSignal::new(false);
    let status_path = format!("/nodes/{node}/qemu/{vmid}/status/current");
    let status = Resource::new(move || (live.tick.get(), version.get(), gone.get()), move |(_, _, gone)| {
        let path = status_path.clone();
        async move { if gone { Err(left()) } else { api_client::get::<GuestStatus>(path).await } }
    });
    let task = RwSignal::new(None::<String>);
    let dialog = RwSignal::new(Dialog::None);
    let error = RwSignal::new(None::<String>);
    let navigate = leptos_router::hooks::use_navigate();
    let node_href = format!("/node/{node}/summary");
    let base = format!("/nodes/{node}/qemu/{vmid}");
    let action = {
        let base = base.clone();
        move |what: &'static str| {
            let path = format!("{base}/status/{what}");
            error.set(None);
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local(async move {
                match api_client::send::<String>("POST", &path, &[], &[]).await {
                    Ok(upid) => task.set(Some(upid)),
                    Err(e) => error.set(Some(e.message)),
                }
            });
            #[cfg(not(feature = "hydrate"))]
            let _ = path;
        }
    };
    let running = move || status.get().and_then(Result::ok).is_some_and(|s| s.status == "running");
    let content = match tab.as_str() {
        "summary" => view! { <GuestSummary node=node.clone() status/> <GuestGraph node=node.clone() vmid gone/> }.into_any(),
        "hardware" => view! { <GuestHardware node=node.clone() vmid gone/> }.into_any(),
        other => view! { <p class="error">{format!("No such panel '{other}'.")}</p> }.into_any(),
    };
    let (a1, a2, a3, a4) = (action.clone(), action.clone(), action.clone(), action);
    let (migrate_node, remove_node) = (node.clone(), node.clone());
    view! {
        <div class="toolbar" data-testid="guest-toolbar">
            <button disabled=running on:click=move |_| a1("start")>"Start"</button>
            <button disabled=move || !running() on:click=move |_| a2("shutdown")>"Shutdown"</button>
            <button disabled=move || !running() on:click=move |_| a3("stop")>"Stop"</button>
            <button disabled=move || !running() on:click=move |_| a4("reboot")>"Reboot"</button>
            <button on:click=move |_| dialog.set(Dialog::Migrate)>"Migrate"</button>
            <button disabled=running on:click=move |_| dialog.set(Dialog::Remove)>"Remove"</button>
        </div>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {content}
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Migrate => view! {
                <MigrateDialog node=migrate_node.clone() vmid
                    on_started=move |upid: String| { dialog.set(Dialog::None); gone.set(true); task.set(Some(upid)); }
                    on_cancel=move || dialog.set(Dialog::None)/>
            }.into_any(),
            Dialog::Remove => view! {
                <RemoveGuestDialog node=remove_node.clone() vmid gone
                    on_started=move |upid: String| { dialog.set(Dialog::None); task.set(Some(upid)); }
                    on_cancel=move || dialog.set(Dialog::None)/>
            }.into_any(),
        }}
        {move || task.get().map(|upid| {
            let (navigate, node_href) = (navigate.clone(), node_href.clone());
            view! {
                <TaskViewer upid
                    on_done=move |ok: bool| if !ok && gone.get_untracked() { gone.set(false); version.update(|v| *v += 1) } else { version.update(|v| *v += 1) }
                    on_close=move || {
                        task.set(None);
                        if gone.get_untracked() {
                            navigate(&node_href, Default::default());
                        }
                    }/>
            }
        })}
    }
}

#[component]
fn GuestSummary(node: String, status: Resource<api_client::ApiResult<GuestStatus>>) -> impl IntoView {
    view! {
        <div class="card" data-testid="guest-summary">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || {
                    let node = node.clone();
                    Suspend::new(async move {
                        match status.await {
                            Ok(s) => view! {
                                <h2>{format!("{} {} (Uptime: {})", s.vmid, s.name, format::uptime(s.uptime))}</h2>
                                <Field label="Status" value=s.qmpstatus.clone().unwrap_or_else(|| s.status.clone()) testid="guest-status"/>
                                <Field label="Node" value=node testid="guest-node"/>
                                <Field label="HA State" value=if s.ha.managed { s.ha.state.clone().unwrap_or_else(|| "started".into()) } else { "none".into() } testid="guest-ha-state"/>
                                {s.ha.managed.then(|| view! { <p class="hint"><leptos_router::components::A href="/datacenter/ha#timeline">"Failover timeline"</leptos_router::components::A></p> })}
                                <Field label="CPU usage" value=format!("{} of {} CPU(s)", format::percent(s.cpu), s.cpus)/>
                                <Field label="Memory usage" value=format!("{} of {}", format::bytes(s.mem), format::bytes(s.maxmem)) testid="guest-mem"/>
                                {s.pid.map(|pid| view! { <Field label="QEMU process" value=pid.to_string()/> })}
                            }.into_any(),
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

/// The guest's CPU and memory (its node's graph of it).
#[component]
fn GuestGraph(node: String, vmid: u32, gone: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="card" data-testid="guest-graph">
            <crate::chart::RrdGraph kind=crate::chart::GraphKind::Guest base=format!("/nodes/{node}/qemu/{vmid}") paused=Signal::from(gone)/>
        </div>
    }
}

/// PVE's Hardware list: what each key means, in PVE's order.
pub fn hardware_rows(config: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
    let get = |k: &str| config.get(k).map(text);
    let mut rows = vec![("Memory".to_string(), format!("{} MiB", get("memory").unwrap_or_else(|| "512".into())))];
    let (sockets, cores) = (get("sockets").unwrap_or_else(|| "1".into()), get("cores").unwrap_or_else(|| "1".into()));
    rows.push(("Processors".into(), format!("{sockets} socket(s), {cores} core(s)")));
    rows.push(("KVM hardware virtualization".into(), if get("kvm").as_deref() == Some("0") { "No".into() } else { "Yes".into() }));
    for prefix in ["ide", "sata", "scsi", "virtio"] {
        for (k, v) in config.iter().filter(|(k, _)| k.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))) {
            rows.push((format!("Hard Disk ({k})"), text(v)));
        }
    }
    for (k, v) in config.iter().filter(|(k, _)| k.starts_with("net")) {
        rows.push((format!("Network Device ({k})"), text(v)));
    }
    for (k, v) in config.iter().filter(|(k, _)| k.starts_with("unused")) {
        rows.push((format!("Unused Disk {}", &k[6..]), text(v)));
    }
    if let Some(serial) = get("serial0") {
        rows.push(("Serial Port (serial0)".into(), serial));
    }
    rows
}

/// What the panel says while its guest leaves this node.
fn left() -> api_client::ApiFailure {
    api_client::ApiFailure { status: 0, message: "This guest is leaving this node.".into() }
}

#[component]
fn GuestHardware(node: String, vmid: u32, gone: RwSignal<bool>) -> impl IntoView {
    let live = use_live();
    let path = format!("/nodes/{node}/qemu/{vmid}/config");
    let config = Resource::new(move || (live.log_tick.get(), gone.get()), move |(_, gone)| {
        let path = path.clone();
        async move { if gone { Err(left()) } else { api_client::get::<BTreeMap<String, serde_json::Value>>(path).await } }
    });
    view! {
        <div class="card wide">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match config.await {
                        Ok(c) => view! {
                            <table class="grid" data-testid="guest-hardware">
                                <tbody>
                                    {hardware_rows(&c).into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> }).collect_view()}
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

/// Migrate: a target list naming why a node is not allowed; online when the guest runs.
#[component]
fn MigrateDialog(node: String, vmid: u32, #[prop(into)] on_started: Callback<String>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let path = format!("/nodes/{node}/qemu/{vmid}/migrate");
    let pre_path = path.clone();
    let pre = Resource::new(|| (), move |_| api_client::get::<MigratePreconditions>(pre_path.clone()));
    let target = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let running = pre.get().and_then(Result::ok).is_some_and(|p| p.running);
        let (t, path) = (target.get_untracked(), path.clone());
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let online = if running { "1" } else { "0" };
            match api_client::send::<String>("POST", &path, &[("target", t.as_str()), ("online", online)], &[]).await {
                Ok(upid) => on_started.run(upid),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (t, path, running, on_started);
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label="Migrate" on:submit=submit>
                <h2>{format!("Migrate VM {vmid}")}</h2>
                <Field label="Source node" value=node.clone()/>
                <Transition fallback=|| view! { <p class="loading">"Checking..."</p> }>
                    {move || Suspend::new(async move {
                        match pre.await {
                            Ok(p) => {
                                if target.get_untracked().is_empty() {
                                    if let Some(first) = p.allowed_nodes.first() {
                                        target.set(first.clone());
                                    }
                                }
                                view! {
                                    <label>"Target node"
                                        <select name="target" on:change=move |ev| target.set(event_target_value(&ev))>
                                            {p.allowed_nodes.iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                                            {p.not_allowed_nodes.iter().map(|(n, why)| view! {
                                                <option value=n.clone() disabled=true>{format!("{n} - {}", why.reason)}</option>
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <Field label="Mode" value=if p.running { "Online (live)" } else { "Offline" } testid="migrate-mode"/>
                                    {(!p.local_disks.is_empty()).then(|| view! {
                                        <p class="warning">{format!("Local disks keep this guest here: {}", p.local_disks.join(", "))}</p>
                                    })}
                                }.into_any()
                            }
                            Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                        }
                    })}
                </Transition>
                <DialogFooter error on_cancel label="Migrate".to_string() disabled=Signal::derive(move || target.get().is_empty())/>
            </form>
        </div>
    }
}

#[component]
fn RemoveGuestDialog(node: String, vmid: u32, gone: RwSignal<bool>, #[prop(into)] on_started: Callback<String>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let path = format!("/nodes/{node}/qemu/{vmid}");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let path = path.clone();
        // Stop asking for the guest before it can vanish (the destroy task is quick).
        gone.set(true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match api_client::send::<String>("DELETE", &path, &[], &[]).await {
                Ok(upid) => on_started.run(upid),
                Err(e) => {
                    gone.set(false);
                    error.set(Some(e.message));
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (path, on_started);
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label="Remove guest" on:submit=submit>
                <h2>{format!("Remove VM {vmid}")}</h2>
                <p>"The guest and its disks are deleted. This cannot be undone."</p>
                <DialogFooter error on_cancel label="Remove".to_string()/>
            </form>
        </div>
    }
}

const STEPS: [&str; 6] = ["General", "Disks", "CPU", "Memory", "Network", "Confirm"];

/// The Create VM wizard.
#[component]
pub fn CreateVmWizard(#[prop(into)] on_started: Callback<String>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let step = RwSignal::new(0usize);
    let node = RwSignal::new(String::new());
    let vmid = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let bus = RwSignal::new("scsi".to_string());
    let storage = RwSignal::new(String::new());
    let size = RwSignal::new("8".to_string());
    let format = RwSignal::new("qcow2".to_string());
    let sockets = RwSignal::new("1".to_string());
    let cores = RwSignal::new("1".to_string());
    let kvm = RwSignal::new(true);
    let memory = RwSignal::new("2048".to_string());
    let bridge = RwSignal::new(String::new());
    let start = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let nodes = Resource::new(|| (), |_| api_client::get::<Vec<corral_api_types::cluster::ClusterResource>>("/cluster/resources?type=node".into()));
    let next_id = Resource::new(|| (), |_| api_client::get::<String>("/cluster/nextid".into()));
    let storages = Resource::new(move || node.get(), |n| async move {
        if n.is_empty() {
            Ok(Vec::new())
        } else {
            api_client::get::<Vec<NodeStorageStatus>>(format!("/nodes/{n}/storage?content=images&enabled=1")).await
        }
    });
    let form = move || {
        let mut f = vec![
            ("vmid", vmid.get_untracked()),
            ("memory", memory.get_untracked()),
            ("sockets", sockets.get_untracked()),
            ("cores", cores.get_untracked()),
            ("kvm", if kvm.get_untracked() { "1" } else { "0" }.to_string()),
            ("start", if start.get_untracked() { "1" } else { "0" }.to_string()),
        ];
        if !name.get_untracked().is_empty() {
            f.push(("name", name.get_untracked()));
        }
        if !storage.get_untracked().is_empty() {
            f.push(("disk", format!("{}0={}:{},format={}", bus.get_untracked(), storage.get_untracked(), size.get_untracked(), format.get_untracked())));
        }
        if !bridge.get_untracked().is_empty() {
            f.push(("net0", format!("virtio,bridge={}", bridge.get_untracked())));
        }
        f
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if step.get_untracked() + 1 < STEPS.len() {
            step.update(|s| *s += 1);
            return;
        }
        error.set(None);
        let fields = form();
        let target = node.get_untracked();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            // The disk travels as its own key (`scsi0=…`).
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (k, v) in fields {
                match (k, v.split_once('=')) {
                    ("disk", Some((key, value))) => pairs.push((key.to_string(), value.to_string())),
                    (k, _) => pairs.push((k.to_string(), v)),
                }
            }
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            match api_client::send::<String>("POST", &format!("/nodes/{target}/qemu"), &borrowed, &[]).await {
                Ok(upid) => on_started.run(upid),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (fields, target, on_started);
    };
    let input = |label: &'static str, field: &'static str, value: RwSignal<String>| {
        view! { <label>{label}<input name=field prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/></label> }
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal wizard" role="dialog" aria-label="Create: Virtual Machine" on:submit=submit>
                <h2>"Create: Virtual Machine"</h2>
                <ol class="steps">
                    {STEPS.iter().enumerate().map(|(i, s)| view! { <li class:current=move || step.get() == i>{*s}</li> }).collect_view()}
                </ol>
                <div class="step" style:display=move || if step.get() == 0 { "flex" } else { "none" }>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let names: Vec<String> = nodes.await.unwrap_or_default().into_iter().filter(|r| r.status == "online").filter_map(|r| r.node).collect();
                            if node.get_untracked().is_empty() {
                                if let Some(first) = names.first() { node.set(first.clone()); }
                            }
                            if vmid.get_untracked().is_empty() {
                                if let Ok(id) = next_id.await { vmid.set(id); }
                            }
                            view! {
                                <label>"Node"
                                    <select name="node" on:change=move |ev| node.set(event_target_value(&ev))>
                                        {names.into_iter().map(|n| { let sel = node.get_untracked() == n; view! { <option value=n.clone() selected=sel>{n.clone()}</option> } }).collect_view()}
                                    </select>
                                </label>
                            }
                        })}
                    </Transition>
                    {input("VM ID", "vmid", vmid)}
                    {input("Name", "name", name)}
                </div>
                <div class="step" style:display=move || if step.get() == 1 { "flex" } else { "none" }>
                    <label>"Bus/Device"
                        <select name="bus" on:change=move |ev| bus.set(event_target_value(&ev))>
                            <option value="scsi" selected=true>"SCSI"</option><option value="virtio">"VirtIO Block"</option>
                            <option value="sata">"SATA"</option><option value="ide">"IDE"</option>
                        </select>
                    </label>
                    <label>"Storage"
                        <Transition fallback=|| view! { <select disabled=true></select> }>
                            {move || Suspend::new(async move {
                                let list = storages.await.unwrap_or_default();
                                if storage.get_untracked().is_empty() || !list.iter().any(|s| s.storage == storage.get_untracked()) {
                                    storage.set(list.first().map(|s| s.storage.clone()).unwrap_or_default());
                                }
                                view! {
                                    <select name="storage" on:change=move |ev| storage.set(event_target_value(&ev))>
                                        {list.into_iter().map(|s| {
                                            let sel = storage.get_untracked() == s.storage;
                                            let label = format!("{} ({} free)", s.storage, format::bytes(s.avail));
                                            view! { <option value=s.storage.clone() selected=sel>{label}</option> }
                                        }).collect_view()}
                                        <option value="">"No disk"</option>
                                    </select>
                                }
                            })}
                        </Transition>
                    </label>
                    {input("Disk size (GiB)", "size", size)}
                    <label>"Format"
                        <select name="format" on:change=move |ev| format.set(event_target_value(&ev))>
                            <option value="qcow2" selected=true>"QEMU image format (qcow2)"</option><option value="raw">"Raw disk image (raw)"</option>
                        </select>
                    </label>
                </div>
                <div class="step" style:display=move || if step.get() == 2 { "flex" } else { "none" }>
                    {input("Sockets", "sockets", sockets)}
                    {input("Cores", "cores", cores)}
                    <label class="check">
                        <input type="checkbox" name="kvm" prop:checked=kvm on:change=move |ev| kvm.set(event_target_checked(&ev))/>
                        "KVM hardware virtualization"
                    </label>
                </div>
                <div class="step" style:display=move || if step.get() == 3 { "flex" } else { "none" }>
                    {input("Memory (MiB)", "memory", memory)}
                </div>
                <div class="step" style:display=move || if step.get() == 4 { "flex" } else { "none" }>
                    <label>"Bridge (empty: no network device)"
                        <input name="bridge" placeholder="vmbr0" prop:value=bridge on:input=move |ev| bridge.set(event_target_value(&ev))/>
                    </label>
                </div>
                <div class="step" style:display=move || if step.get() == 5 { "flex" } else { "none" }>
                    <table class="grid" data-testid="wizard-confirm">
                        <tbody>
                            {move || (step.get() == 5).then(|| form().into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> }).collect_view())}
                        </tbody>
                    </table>
                    <label class="check">
                        <input type="checkbox" name="start" prop:checked=start on:change=move |ev| start.set(event_target_checked(&ev))/>
                        "Start after created"
                    </label>
                </div>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="buttons">
                    <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="button" disabled=move || step.get() == 0 on:click=move |_| step.update(|s| *s = s.saturating_sub(1))>"Back"</button>
                    <button type="submit" class="primary">{move || if step.get() + 1 < STEPS.len() { "Next" } else { "Finish" }}</button>
                </div>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hardware_reads_like_pve() {
        let config: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(
            r#"{"memory":1024,"cores":2,"scsi0":"nfs1:100/vm-100-disk-0.qcow2,size=4G","net0":"virtio=BC:24:11:00:00:01,bridge=vmbr0","kvm":0,"unused0":"local:100/vm-100-disk-1.raw"}"#,
        )
        .unwrap();
        let rows = super::hardware_rows(&config);
        assert_eq!(rows[0], ("Memory".to_string(), "1024 MiB".to_string()));
        assert!(rows.contains(&("Processors".into(), "1 socket(s), 2 core(s)".into())));
        assert!(rows.contains(&("KVM hardware virtualization".into(), "No".into())));
        assert!(rows.contains(&("Hard Disk (scsi0)".into(), "nfs1:100/vm-100-disk-0.qcow2,size=4G".into())));
        assert!(rows.contains(&("Unused Disk 0".into(), "local:100/vm-100-disk-1.raw".into())));
    }
}
