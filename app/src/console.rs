//! PVE's frame: header, resource tree on the left, the selected object's tabs and content in
//! the centre, the task/cluster log panel at the bottom. The URL names the selection and tab:
//! `/datacenter/{tab}`, `/node/{node}/{tab}`, `/qemu/{node}/{vmid}/{tab}` or
//! `/storage/{node}/{storage}/{tab}`.

use corral_api_types::cluster::ClusterResource;
use corral_api_types::VersionInfo;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api_client::{self, ApiFailure};
use crate::live::{start_live, LiveMode};
use crate::{datacenter_view, guest_view, log_panel, node_view, storage_view, ConsoleLogin};

/// What the resource tree has selected.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    Datacenter,
    Node(String),
    Guest(String, u32),
    Storage(String, String),
}

impl Selection {
    pub fn href(&self, tab: &str) -> String {
        match self {
            Selection::Datacenter => format!("/datacenter/{tab}"),
            Selection::Node(n) => format!("/node/{n}/{tab}"),
            Selection::Guest(n, v) => format!("/qemu/{n}/{v}/{tab}"),
            Selection::Storage(n, s) => format!("/storage/{n}/{s}/{tab}"),
        }
    }

    pub fn tabs(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Selection::Datacenter => &[("summary", "Summary"), ("cluster", "Cluster"), ("storage", "Storage"), ("ha", "HA")],
            Selection::Node(_) => &[("summary", "Summary"), ("network", "Network")],
            Selection::Guest(..) => &[("summary", "Summary"), ("hardware", "Hardware")],
            Selection::Storage(..) => &[("summary", "Summary"), ("content", "Content")],
        }
    }
}

#[component]
pub fn ConsoleFrame() -> impl IntoView {
    let params = use_params_map();
    let selection = Memo::new(move |_| match params.with(|p| (p.get("node"), p.get("storage"), p.get("vmid").and_then(|v| v.parse::<u32>().ok()))) {
        (Some(node), Some(storage), _) => Selection::Storage(node, storage),
        (Some(node), None, Some(vmid)) => Selection::Guest(node, vmid),
        (Some(node), None, None) => Selection::Node(node),
        _ => Selection::Datacenter,
    });
    let tab = Memo::new(move |_| params.with(|p| p.get("tab")).unwrap_or_else(|| "summary".into()));
    start_live(crate::live::use_live());
    view! {
        <div class="frame">
            <Header/>
            <nav class="tree" aria-label="Resource tree">
                <ResourceTree selection/>
            </nav>
            <main class="content">
                <TabStrip selection tab/>
                <section class="panel">
                    {move || match selection.get() {
                        Selection::Datacenter => datacenter_view::DatacenterPanel(datacenter_view::DatacenterPanelProps { tab: tab.get() }).into_any(),
                        Selection::Node(node) => node_view::NodePanel(node_view::NodePanelProps { node, tab: tab.get() }).into_any(),
                        Selection::Guest(node, vmid) => guest_view::GuestPanel(guest_view::GuestPanelProps { node, vmid, tab: tab.get() }).into_any(),
                        Selection::Storage(node, storage) => storage_view::StorageObjectPanel(storage_view::StorageObjectPanelProps { node, storage, tab: tab.get() }).into_any(),
                    }}
                </section>
            </main>
            <log_panel::LogPanel/>
        </div>
    }
}

#[component]
fn Header() -> impl IntoView {
    let login = use_context::<ConsoleLogin>().unwrap_or_default();
    let version = Resource::new(|| (), |_| api_client::get::<VersionInfo>("/version".into()));
    let live = crate::live::use_live();
    let mode = move || match live.mode.get() {
        LiveMode::Connecting => "connecting",
        LiveMode::Push => "live",
        LiveMode::Polling => "polling",
    };
    view! {
        <header class="header">
            <span class="logo">"corral"</span>
            <span class="version">
                <Suspense fallback=|| "">
                    {move || Suspend::new(async move {
                        version.await.map(|v| format!("Cluster Manager {}", v.version)).unwrap_or_default()
                    })}
                </Suspense>
            </span>
            <span class="spacer"></span>
            <CreateVmButton/>
            <span class="live-mode" data-testid="live-mode" title="How this page receives updates">{mode}</span>
            <span class="user" data-testid="current-user">{login.userid.clone()}</span>
            <LogoutButton/>
        </header>
    }
}

/// The header's Create VM: the wizard, then the task viewer of its `qmcreate`.
#[component]
fn CreateVmButton() -> impl IntoView {
    let open = RwSignal::new(false);
    let task = RwSignal::new(None::<String>);
    view! {
        <button class="create-vm" on:click=move |_| open.set(true)>"Create VM"</button>
        {move || open.get().then(|| view! {
            <guest_view::CreateVmWizard
                on_started=move |upid: String| { open.set(false); task.set(Some(upid)); }
                on_cancel=move || open.set(false)/>
        })}
        {move || task.get().map(|upid| view! {
            <crate::task_viewer::TaskViewer upid on_done=move |_ok: bool| () on_close=move || task.set(None)/>
        })}
    }
}

#[component]
fn LogoutButton() -> impl IntoView {
    let logout = move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            api_client::browser::begin_logout().await;
            let _ = api_client::send::<serde_json::Value>("DELETE", "/access/session", &[], &[]).await;
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign("/login");
            }
        });
    };
    view! { <button class="logout" on:click=logout>"Logout"</button> }
}

#[component]
fn ResourceTree(selection: Memo<Selection>) -> impl IntoView {
    let live = crate::live::use_live();
    let resources = Resource::new(
        move || live.tick.get(),
        |_| api_client::get::<Vec<ClusterResource>>("/cluster/resources".into()),
    );
    let status = Resource::new(
        move || live.tick.get(),
        |_| api_client::get::<Vec<corral_api_types::cluster::ClusterStatusEntry>>("/cluster/status".into()),
    );
    let is = move |s: Selection| move || if selection.get() == s { "selected" } else { "" };
    view! {
        <ul class="tree-root">
            <li>
                <A href="/datacenter/summary" attr:class=is(Selection::Datacenter)>
                    <span class="icon dc"></span>
                    <span data-testid="tree-datacenter">
                        "Datacenter"
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                let name = status.await.ok().and_then(|entries| entries.into_iter().find_map(|e| match e {
                                    corral_api_types::cluster::ClusterStatusEntry::Cluster { name, .. } => Some(name),
                                    _ => None,
                                }));
                                name.map(|n| format!(" ({n})"))
                            })}
                        </Transition>
                    </span>
                </A>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        match resources.await {
                            Ok(list) => {
                                let (nodes, rest): (Vec<ClusterResource>, Vec<ClusterResource>) = list.into_iter().partition(|r| r.kind == "node");
                                let (guests, storages): (Vec<ClusterResource>, Vec<ClusterResource>) =
                                    rest.into_iter().filter(|r| r.kind == "qemu" || r.kind == "storage").partition(|r| r.kind == "qemu");
                                view! {
                                    <ul>
                                        {nodes.into_iter().map(|r| {
                                            let name = r.node.clone().unwrap_or_default();
                                            let icon = match r.status.as_str() {
                                                "online" => "icon node online",
                                                "unknown" => "icon node unknown",
                                                _ => "icon node offline",
                                            };
                                            let node_status = r.status.clone();
                                            let href = format!("/node/{name}/summary");
                                            let class = is(Selection::Node(name.clone()));
                                            let testid = format!("tree-node-{name}");
                                            let name_for_storage = name.clone();
                                            let mine: Vec<ClusterResource> = guests.iter().filter(|g| g.node.as_deref() == Some(name.as_str())).cloned().collect();
                                            let stores: Vec<ClusterResource> = storages.iter().filter(|g| g.node.as_deref() == Some(name.as_str())).cloned().collect();
                                            view! {
                                                <li data-testid=testid data-status=node_status>
                                                    <A href=href attr:class=class>
                                                        <span class=icon title=r.status.clone()></span>
                                                        {name}
                                                    </A>
                                                    <GuestLeaves guests=mine selection/>
                                                    <StorageLeaves node=name_for_storage storages=stores selection/>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }
                            Err(ApiFailure { message, .. }) => view! { <p class="error">{message}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </li>
        </ul>
    }
}

/// A node's guests in the tree, as PVE labels them: `100 (name)`.
#[component]
fn GuestLeaves(guests: Vec<ClusterResource>, selection: Memo<Selection>) -> impl IntoView {
    (!guests.is_empty()).then(|| {
        view! {
            <ul class="guests">
                {guests.into_iter().map(|g| {
                    let vmid = g.vmid.map(|v| v.to_string()).unwrap_or_default();
                    let label = format!("{vmid} ({})", g.name.clone().unwrap_or_default());
                    let class = format!("guest {}", g.status);
                    let sel = Selection::Guest(g.node.clone().unwrap_or_default(), g.vmid.map(u32::from).unwrap_or_default());
                    let href = sel.href("summary");
                    let link_class = move || if selection.get() == sel { "selected" } else { "" };
                    let icon = format!("icon vm {}", g.status);
                    let testid = format!("tree-guest-{vmid}");
                    let title = match &g.hastate {
                        Some(ha) => format!("{} (HA: {ha})", g.status),
                        None => g.status.clone(),
                    };
                    let ha_badge = g.hastate.clone().map(|ha| view! { <span class="ha-badge" data-testid="tree-guest-ha" title=format!("HA: {ha}")>"HA"</span> });
                    view! {
                        <li data-testid=testid class=class title=title data-status=g.status.clone() data-hastate=g.hastate.clone().unwrap_or_default()>
                            <A href=href attr:class=link_class>
                                <span class=icon></span>
                                {label}
                                {ha_badge}
                            </A>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    })
}

/// A node's storages in the tree, each with its availability on that node.
#[component]
fn StorageLeaves(node: String, storages: Vec<ClusterResource>, selection: Memo<Selection>) -> impl IntoView {
    (!storages.is_empty()).then(|| {
        view! {
            <ul class="storages">
                {storages.into_iter().map(|s| {
                    let id = s.storage.clone().unwrap_or_default();
                    let sel = Selection::Storage(node.clone(), id.clone());
                    let href = sel.href("summary");
                    let class = move || if selection.get() == sel { "selected" } else { "" };
                    let icon = format!("icon storage {}", s.status);
                    let testid = format!("tree-storage-{node}-{id}");
                    let title = format!("{id} ({})", s.status);
                    let label = format!("{id} ({node})");
                    view! {
                        <li data-testid=testid data-status=s.status.clone() title=title>
                            <A href=href attr:class=class>
                                <span class=icon></span>
                                {label}
                            </A>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn TabStrip(selection: Memo<Selection>, tab: Memo<String>) -> impl IntoView {
    let title = move || match selection.get() {
        Selection::Datacenter => "Datacenter".to_string(),
        Selection::Node(n) => format!("Node '{n}'"),
        Selection::Guest(n, v) => format!("Virtual Machine {v} on node '{n}'"),
        Selection::Storage(n, s) => format!("Storage '{s}' on node '{n}'"),
    };
    view! {
        <div class="tabstrip">
            <h1 class="panel-title">{title}</h1>
            <ul class="tabs" role="tablist">
                {move || {
                    let sel = selection.get();
                    sel.tabs().iter().map(|(id, label)| {
                        let href = sel.href(id);
                        let active = tab.get() == *id;
                        view! {
                            <li role="tab" aria-selected=if active { "true" } else { "false" }>
                                <A href=href attr:class=if active { "tab active" } else { "tab" }>{*label}</A>
                            </li>
                        }
                    }).collect_view()
                }}
            </ul>
        </div>
    }
}

/// A labelled value row of a summary card.
#[component]
pub fn Field(label: &'static str, #[prop(into)] value: String, #[prop(optional)] testid: Option<&'static str>) -> impl IntoView {
    view! {
        <div class="field">
            <span class="label">{label}</span>
            <span class="value" data-testid=testid>{value}</span>
        </div>
    }
}
