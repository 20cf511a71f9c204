//! Storage in the console: Datacenter → Storage (the grid of `storage.cfg` with Add NFS /
//! Add Directory, Edit, Remove) and a storage under a node in the tree (Summary with its usage
//! there, Content with its volumes). PVE's `dc/StorageView.js`, `storage/NFSEdit.js`.

use corral_api_types::cluster::ClusterResource;
use corral_api_types::storage::{ContentType, NfsExport, NodeStorageStatus, StorageConfig, StorageVolume};
use leptos::prelude::*;

use crate::api_client;
use crate::cluster_view::{DialogFooter, RemoveDialog};
use crate::console::Field;
use crate::format;
use crate::live::use_live;

/// The grid's Content column: GUI labels, as PVE shows them.
pub fn content_labels(list: &str) -> String {
    ContentType::parse_list(list).unwrap_or_default().into_iter().map(ContentType::label).collect::<Vec<_>>().join(", ")
}

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    Add(&'static str),
    Edit(StorageConfig),
    Remove(String),
}

/// Datacenter → Storage.
#[component]
pub fn StoragePanel() -> impl IntoView {
    let live = use_live();
    let version = RwSignal::new(0u64);
    let list = Resource::new(move || (version.get(), live.tick.get()), |_| api_client::get::<Vec<StorageConfig>>("/storage".into()));
    let selected = RwSignal::new(None::<StorageConfig>);
    let dialog = RwSignal::new(Dialog::None);
    let done = move || {
        dialog.set(Dialog::None);
        selected.set(None);
        version.update(|v| *v += 1);
    };
    view! {
        <div class="card wide" data-testid="storage-panel">
            <div class="toolbar">
                <button on:click=move |_| dialog.set(Dialog::Add("nfs"))>"Add NFS"</button>
                <button on:click=move |_| dialog.set(Dialog::Add("dir"))>"Add Directory"</button>
                <button disabled=move || selected.get().is_none() on:click=move |_| if let Some(s) = selected.get() { dialog.set(Dialog::Edit(s)) }>"Edit"</button>
                <button disabled=move || selected.get().is_none() on:click=move |_| if let Some(s) = selected.get() { dialog.set(Dialog::Remove(s.storage.to_string())) }>"Remove"</button>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(all) => view! {
                            <table class="grid selectable" data-testid="storage-grid">
                                <thead><tr><th>"ID"</th><th>"Type"</th><th>"Content"</th><th>"Path/Target"</th><th>"Shared"</th><th>"Enabled"</th></tr></thead>
                                <tbody>
                                    {all.into_iter().map(|s| {
                                        let id = s.storage.to_string();
                                        let row = s.clone();
                                        let is_selected = {
                                            let id = id.clone();
                                            move || selected.with(|sel| sel.as_ref().is_some_and(|x| x.storage.as_str() == id))
                                        };
                                        view! {
                                            <tr data-testid=format!("storage-row-{id}") class:selected=is_selected on:click=move |_| selected.set(Some(row.clone()))>
                                                <td>{id.clone()}</td>
                                                <td>{if s.kind.as_str() == "nfs" { "NFS" } else { "Directory" }}</td>
                                                <td>{content_labels(&s.content)}</td>
                                                <td>{s.target()}</td>
                                                <td>{if s.is_shared() { "Yes" } else { "No" }}</td>
                                                <td>{if s.disable { "No" } else { "Yes" }}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Add(kind) => view! { <StorageEditDialog kind existing=None on_done=done on_cancel=move || dialog.set(Dialog::None)/> }.into_any(),
            Dialog::Edit(config) => {
                let kind = if config.kind.as_str() == "nfs" { "nfs" } else { "dir" };
                view! { <StorageEditDialog kind existing=Some(config) on_done=done on_cancel=move || dialog.set(Dialog::None)/> }.into_any()
            }
            Dialog::Remove(id) => view! {
                <RemoveDialog title="Remove storage" path=format!("/storage/{id}")
                    text=format!("Remove storage '{id}' from the configuration of every node? The data on it stays where it is.")
                    on_done=done on_cancel=move || dialog.set(Dialog::None)/>
            }.into_any(),
        }}
    }
}

/// What the Export combo shows.
#[derive(Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Scan {
    NotYet,
    Scanning,
    Found(Vec<NfsExport>),
    Failed(String),
}

/// Add or edit an NFS or directory storage, as PVE's dialog: ID, Server, Export (scanned when
/// the combo is opened), Content, Nodes, Enable, NFS Version.
#[component]
fn StorageEditDialog(
    kind: &'static str,
    existing: Option<StorageConfig>,
    #[prop(into)] on_done: Callback<()>,
    #[prop(into)] on_cancel: Callback<()>,
) -> impl IntoView {
    let editing = existing.is_some();
    let id = RwSignal::new(existing.as_ref().map(|e| e.storage.to_string()).unwrap_or_default());
    let server = RwSignal::new(existing.as_ref().and_then(|e| e.server.clone()).unwrap_or_default());
    let export = RwSignal::new(existing.as_ref().and_then(|e| e.export.clone()).unwrap_or_default());
    let path = RwSignal::new(existing.as_ref().and_then(|e| e.path.clone()).unwrap_or_default());
    let content = RwSignal::new(existing.as_ref().map(|e| e.content_set().into_iter().collect::<Vec<_>>()).unwrap_or_else(|| vec![ContentType::Images]));
    let nodes = RwSignal::new(existing.as_ref().and_then(|e| e.node_list()).map(|n| n.into_iter().collect::<Vec<_>>()).unwrap_or_default());
    let enabled = RwSignal::new(existing.as_ref().is_none_or(|e| !e.disable));
    let version = RwSignal::new(existing.as_ref().and_then(|e| e.nfs_version().map(str::to_owned)).unwrap_or_default());
    let scan = RwSignal::new(Scan::NotYet);
    let scanned_for = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let cluster_nodes = Resource::new(|| (), |_| api_client::get::<Vec<ClusterResource>>("/cluster/resources?type=node".into()));

    let start_scan = move || {
        let target = server.get_untracked();
        if editing || target.trim().is_empty() || scanned_for.get_untracked() == target {
            return;
        }
        scanned_for.set(target.clone());
        scan.set(Scan::Scanning);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let path = format!("/nodes/localhost/scan/nfs?server={}", js_sys::encode_uri_component(target.trim()));
            match api_client::get::<Vec<NfsExport>>(path).await {
                Ok(list) => {
                    if export.get_untracked().is_empty() {
                        if let Some(first) = list.first() {
                            export.set(first.path.clone());
                        }
                    }
                    scan.set(Scan::Found(list));
                }
                Err(api_client::ApiFailure { message, .. }) => scan.set(Scan::Failed(message)),
            }
        });
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let content_text = content.get_untracked().iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",");
        let nodes_text = nodes.get_untracked().join(",");
        let mut form: Vec<(&'static str, String)> = vec![("content", content_text), ("disable", if enabled.get_untracked() { "0" } else { "1" }.into())];
        let mut delete = Vec::new();
        if nodes_text.is_empty() {
            delete.push("nodes");
        } else {
            form.push(("nodes", nodes_text));
        }
        if kind == "nfs" {
            let v = version.get_untracked();
            if v.is_empty() {
                delete.push("options");
            } else {
                form.push(("options", format!("vers={v}")));
            }
        }
        let (method, target) = if editing {
            if !delete.is_empty() {
                form.push(("delete", delete.join(",")));
            }
            ("PUT", format!("/storage/{}", id.get_untracked()))
        } else {
            form.push(("storage", id.get_untracked()));
            form.push(("type", kind.into()));
            if kind == "nfs" {
                form.push(("server", server.get_untracked().trim().to_string()));
                form.push(("export", export.get_untracked()));
            } else {
                form.push(("path", path.get_untracked()));
            }
            ("POST", "/storage".to_string())
        };
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match api_client::send::<serde_json::Value>(method, &target, &form, &[]).await {
                Ok(_) => on_done.run(()),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (method, target, form, on_done);
    };

    let title = match (editing, kind) {
        (true, "nfs") => "Edit: NFS",
        (true, _) => "Edit: Directory",
        (false, "nfs") => "Add: NFS",
        (false, _) => "Add: Directory",
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label=title on:submit=submit>
                <h2>{title}</h2>
                <label>"ID"
                    <input name="storage" required=true readonly=editing prop:value=id on:input=move |ev| id.set(event_target_value(&ev))/>
                </label>
                {(kind == "nfs").then(|| view! {
                    <label>"Server"
                        <input name="server" required=true readonly=editing prop:value=server
                            on:input=move |ev| { server.set(event_target_value(&ev)); export.set(String::new()); scan.set(Scan::NotYet); scanned_for.set(String::new()); }/>
                    </label>
                    <label>"Export"
                        <select name="export" required=true disabled=editing
                            class:invalid=move || matches!(scan.get(), Scan::Failed(_))
                            on:focus=move |_| start_scan()
                            on:mousedown=move |_| start_scan()
                            on:change=move |ev| export.set(event_target_value(&ev))>
                            {move || match scan.get() {
                                Scan::NotYet => {
                                    let current = export.get();
                                    let label = if current.is_empty() { "Open to scan the server's exports".to_string() } else { current.clone() };
                                    view! { <option value=current selected=true>{label}</option> }.into_any()
                                }
                                Scan::Scanning => view! { <option value="" selected=true disabled=true>"Scanning..."</option> }.into_any(),
                                Scan::Failed(why) => view! { <option value="" selected=true disabled=true>{why}</option> }.into_any(),
                                Scan::Found(list) if list.is_empty() => view! { <option value="" selected=true disabled=true>"The server exports nothing"</option> }.into_any(),
                                Scan::Found(list) => list.into_iter().map(|e| {
                                    let chosen = export.get_untracked() == e.path;
                                    view! { <option value=e.path.clone() selected=chosen>{e.path.clone()}</option> }
                                }).collect_view().into_any(),
                            }}
                        </select>
                    </label>
                    {move || match scan.get() {
                        Scan::Failed(why) => Some(view! { <p class="error" data-testid="scan-error">{format!("Scan failed: {why}")}</p> }),
                        _ => None,
                    }}
                })}
                {(kind == "dir").then(|| view! {
                    <label>"Directory"
                        <input name="path" required=true readonly=editing placeholder="/srv/vmstore" prop:value=path on:input=move |ev| path.set(event_target_value(&ev))/>
                    </label>
                })}
                <label>"Content"
                    <select name="content" multiple=true size="7"
                        on:change=move |ev| content.set(selected_values(&ev).iter().filter_map(|v| ContentType::parse(v).ok()).collect())>
                        {ContentType::ALL.into_iter().map(|c| {
                            let chosen = move || content.with(|list| list.contains(&c));
                            view! { <option value=c.as_str() selected=chosen>{c.label()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Nodes"
                    <Transition fallback=|| view! { <select disabled=true></select> }>
                        {move || Suspend::new(async move {
                            let names: Vec<String> = cluster_nodes.await.unwrap_or_default().into_iter().filter_map(|r| r.node).collect();
                            view! {
                                <select name="nodes" multiple=true size="3" on:change=move |ev| nodes.set(selected_values(&ev))>
                                    {names.into_iter().map(|n| {
                                        let chosen = { let n = n.clone(); move || nodes.with(|l| l.contains(&n)) };
                                        view! { <option value=n.clone() selected=chosen>{n.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                    <span class="hint">{move || if nodes.with(Vec::is_empty) { "All (No restrictions)".to_string() } else { nodes.get().join(", ") }}</span>
                </label>
                <label class="check">
                    <input type="checkbox" name="enable" prop:checked=enabled on:change=move |ev| enabled.set(event_target_checked(&ev))/>
                    "Enable"
                </label>
                {(kind == "nfs").then(|| view! {
                    <label>"NFS Version"
                        <select name="version" on:change=move |ev| version.set(event_target_value(&ev))>
                            <option value="" selected=move || version.get().is_empty()>"Default (3)"</option>
                            <option value="3" selected=move || version.get() == "3">"3"</option>
                        </select>
                    </label>
                    <p class="hint">"corral speaks NFSv3 from userspace, with a deadline on every call: a dead server never hangs a node."</p>
                })}
                <DialogFooter error on_cancel label=if editing { "OK".to_string() } else { "Add".to_string() }/>
            </form>
        </div>
    }
}

/// The values of a `<select multiple>`'s chosen options.
fn selected_values(ev: &leptos::ev::Event) -> Vec<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(select) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) else { return Vec::new() };
        let options = select.selected_options();
        (0..options.length()).filter_map(|i| options.item(i)).filter_map(|o| o.get_attribute("value")).collect()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        Vec::new()
    }
}

/// A storage under a node in the tree: Summary (status and usage) and Content (volumes).
#[component]
pub fn StorageObjectPanel(node: String, storage: String, tab: String) -> impl IntoView {
    match tab.as_str() {
        "summary" => view! { <StorageSummary node storage/> }.into_any(),
        "content" => view! { <StorageContent node storage/> }.into_any(),
        other => view! { <p class="error">{format!("No such panel '{other}'.")}</p> }.into_any(),
    }
}

#[component]
fn StorageSummary(node: String, storage: String) -> impl IntoView {
    let live = use_live();
    let path = format!("/nodes/{node}/storage/{storage}/status");
    let graph_base = format!("/nodes/{node}/storage/{storage}");
    let status = Resource::new(move || live.tick.get(), move |_| api_client::get::<NodeStorageStatus>(path.clone()));
    view! {
        <div class="card" data-testid="storage-summary">
            <h2>{format!("Storage '{storage}' on node '{node}'")}</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) => {
                            let state = match (s.enabled, s.active) {
                                (false, _) => "disabled".to_string(),
                                (true, true) => "available".to_string(),
                                (true, false) => format!("not available: {}", s.error.clone().unwrap_or_default()),
                            };
                            let percent = (s.used_fraction * 100.0).clamp(0.0, 100.0);
                            view! {
                                <Field label="Status" value=state testid="storage-state"/>
                                <Field label="Type" value=s.kind.clone()/>
                                <Field label="Content" value=content_labels(&s.content)/>
                                <Field label="Shared" value=if s.shared { "Yes" } else { "No" }/>
                                <Field label="Usage" value=format!("{} ({} of {})", format::percent(s.used_fraction), format::bytes(s.used), format::bytes(s.total)) testid="storage-usage"/>
                                <div class="usage-bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{percent:.0}")>
                                    <div class="usage-fill" style=format!("width: {percent:.2}%")></div>
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
        <div class="card" data-testid="storage-graph">
            <crate::chart::RrdGraph kind=crate::chart::GraphKind::Storage base=graph_base/>
        </div>
    }
}

#[component]
fn StorageContent(node: String, storage: String) -> impl IntoView {
    let live = use_live();
    let path = format!("/nodes/{node}/storage/{storage}/content");
    let content = Resource::new(move || live.log_tick.get(), move |_| api_client::get::<Vec<StorageVolume>>(path.clone()));
    view! {
        <div class="card wide">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match content.await {
                        Ok(list) if list.is_empty() => view! { <p class="hint" data-testid="storage-content-empty">"No volumes."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="grid" data-testid="storage-content">
                                <thead><tr><th>"Name"</th><th>"Format"</th><th>"Type"</th><th>"Size"</th><th>"VMID"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|v| view! {
                                        <tr>
                                            <td>{v.volid.clone()}</td>
                                            <td>{v.format.clone()}</td>
                                            <td>{ContentType::parse(&v.content).map(ContentType::label).unwrap_or_default()}</td>
                                            <td>{format::bytes(v.size)}</td>
                                            <td>{v.vmid.map(|v| v.to_string()).unwrap_or_default()}</td>
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

#[cfg(test)]
mod tests {
    #[test]
    fn content_shows_gui_labels() {
        assert_eq!(super::content_labels("images,iso"), "Disk image, ISO image");
        assert_eq!(super::content_labels("backup,vztmpl"), "Backup, Container template");
    }
}
