//! Datacenter → HA: the status grid (quorum, master, one row per LRM with the CRM's view of its
//! node) and the Resources grid with Add / Edit / Remove, as PVE's `ha/Fencing`-less HA panel.
//! Everything comes from `/cluster/ha/*` and is re-read when an `ha` event says it changed.

use std::collections::{BTreeMap, BTreeSet};

use corral_api_types::cluster::{ClusterResource, ClusterStatusEntry};
use corral_api_types::ha::{HaManagerStatus, HaResource, HaStatusRow, DEFAULT_MAX_RELOCATE, DEFAULT_MAX_RESTART};
use leptos::prelude::*;

use crate::api_client::{self, ApiResult};
use crate::cluster_view::{DialogFooter, RemoveDialog};
use crate::live::use_live;

/// PVE's words when quorum rests on fewer than three votes.
pub const VOTES_HINT: &str = "At least three quorum votes are recommended for reliable HA.";

/// What the panel shows, read together so that the grids agree with each other.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HaView {
    pub status: Vec<HaStatusRow>,
    pub resources: Vec<HaResource>,
    /// The CRM's view of each node: online, maintenance, unknown, fence, gone.
    pub node_states: BTreeMap<String, String>,
    pub guests: Vec<ClusterResource>,
    /// The cluster's votes (one per node); `None` on a standalone node.
    pub votes: Option<u32>,
    /// Recent failovers, newest first.
    #[serde(default)]
    pub failovers: Vec<corral_api_types::ha::Failover>,
}

impl HaView {
    /// The guests HA does not manage yet, for the Add dialog: `(vmid, "100 (name)")`.
    pub fn unmanaged(&self) -> Vec<(u32, String)> {
        let managed: BTreeSet<u32> = self.resources.iter().filter_map(HaResource::vmid).collect();
        let mut out: Vec<(u32, String)> = self
            .guests
            .iter()
            .filter_map(|g| g.vmid.map(|v| (u32::from(v), g.name.clone().unwrap_or_default())))
            .filter(|(v, _)| !managed.contains(v))
            .map(|(v, name)| (v, format!("{v} ({name})")))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A service's row of `status/current`.
    pub fn service(&self, sid: &str) -> Option<&HaStatusRow> {
        self.status.iter().find(|r| r.kind == "service" && r.sid.as_deref() == Some(sid))
    }

    fn guest_name(&self, vmid: Option<u32>) -> String {
        self.guests.iter().find(|g| g.vmid.map(u32::from) == vmid).and_then(|g| g.name.clone()).unwrap_or_default()
    }

    pub fn few_votes(&self) -> bool {
        self.votes.is_some_and(|v| v < 3)
    }
}

async fn load() -> ApiResult<HaView> {
    let status = api_client::get::<Vec<HaStatusRow>>("/cluster/ha/status/current".into()).await?;
    let resources = api_client::get::<Vec<HaResource>>("/cluster/ha/resources".into()).await?;
    let manager = api_client::get::<HaManagerStatus>("/cluster/ha/status/manager_status".into()).await?;
    let guests = api_client::get::<Vec<ClusterResource>>("/cluster/resources?type=vm".into()).await?;
    let cluster = api_client::get::<Vec<ClusterStatusEntry>>("/cluster/status".into()).await?;
    let votes = cluster.iter().find_map(|e| match e {
        ClusterStatusEntry::Cluster { nodes, expected_votes, .. } => Some(expected_votes.unwrap_or(*nodes)),
        ClusterStatusEntry::Node { .. } => None,
    });
    let failovers = api_client::get::<Vec<corral_api_types::ha::Failover>>("/cluster/ha/timeline".into()).await?;
    Ok(HaView { status, resources, node_states: manager.manager_status.node_status, guests, votes, failovers })
}

#[derive(Clone, PartialEq)]
enum Dialog {
    None,
    Add,
    Edit(HaResource),
    Remove(String),
}

#[component]
pub fn HaPanel() -> impl IntoView {
    let live = use_live();
    let version = RwSignal::new(0u64);
    let view_data = Resource::new(move || (version.get(), live.tick.get()), |_| load());
    let selected = RwSignal::new(None::<HaResource>);
    let dialog = RwSignal::new(Dialog::None);
    let done = move || {
        dialog.set(Dialog::None);
        selected.set(None);
        version.update(|v| *v += 1);
    };
    let current = Signal::derive(move || view_data.get().and_then(Result::ok).unwrap_or_default());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
            {move || Suspend::new(async move {
                match view_data.await {
                    Ok(v) => view! {
                        {v.few_votes().then(|| view! { <p class="warning" data-testid="ha-votes-hint">{VOTES_HINT}</p> })}
                        <StatusGrid view=v.clone()/>
                        <div class="card wide" data-testid="ha-resources-panel">
                            <h2>"Resources"</h2>
                            <div class="toolbar">
                                <button on:click=move |_| dialog.set(Dialog::Add)>"Add"</button>
                                <button disabled=move || selected.get().is_none() on:click=move |_| if let Some(r) = selected.get() { dialog.set(Dialog::Edit(r)) }>"Edit"</button>
                                <button disabled=move || selected.get().is_none() on:click=move |_| if let Some(r) = selected.get() { dialog.set(Dialog::Remove(r.sid)) }>"Remove"</button>
                            </div>
                            <ResourcesGrid view=v.clone() selected/>
                        </div>
                        <Timeline failovers=v.failovers/>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                }
            })}
        </Transition>
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Add => view! { <HaResourceDialog existing=None view=current.get_untracked() on_done=done on_cancel=move || dialog.set(Dialog::None)/> }.into_any(),
            Dialog::Edit(r) => view! { <HaResourceDialog existing=Some(r) view=current.get_untracked() on_done=done on_cancel=move || dialog.set(Dialog::None)/> }.into_any(),
            Dialog::Remove(sid) => view! {
                <RemoveDialog title="Remove HA resource" path=format!("/cluster/ha/resources/{sid}")
                    text=format!("Remove {sid} from HA? The guest itself stays as it is.")
                    on_done=done on_cancel=move || dialog.set(Dialog::None)/>
            }.into_any(),
        }}
    }
}

/// Quorum, master and one row per LRM; for an LRM also the CRM's state of its node (`fence`
/// while its lease runs out, `unknown` while it is silent).
#[component]
fn StatusGrid(view: HaView) -> impl IntoView {
    let rows: Vec<HaStatusRow> = view.status.iter().filter(|r| r.kind != "service").cloned().collect();
    let states = view.node_states.clone();
    view! {
        <div class="card wide" data-testid="ha-status-panel">
            <h2>"Status"</h2>
            <table class="grid" data-testid="ha-status">
                <thead><tr><th>"Type"</th><th>"Status"</th><th>"Node state"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let node_state = if r.kind == "lrm" { r.node.as_ref().and_then(|n| states.get(n)).cloned().unwrap_or_default() } else { String::new() };
                        let warn = matches!(node_state.as_str(), "fence" | "unknown" | "gone") || (r.kind == "quorum" && r.quorate == Some(false));
                        let cell = if warn { "warning-cell" } else { "" };
                        let node_state_attr = node_state.clone();
                        view! {
                            <tr data-testid=format!("ha-status-{}", r.id) data-node-state=node_state_attr>
                                <td>{r.kind.clone()}</td>
                                <td class=cell>{r.status.clone()}</td>
                                <td class=cell>{node_state}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// What each step of a failover is called on screen.
fn step_label(step: &str) -> &'static str {
    match step {
        "lost" => "Node lost",
        "fenced" => "Lease expired, node fenced",
        "recovery" => "Recovery node chosen",
        "started" => "Started",
        _ => "",
    }
}

/// The failover timeline (no PVE version has one): for each recent recovery, node lost → lease
/// expired and fenced → recovery node chosen → started, with times relative to the loss.
#[component]
fn Timeline(failovers: Vec<corral_api_types::ha::Failover>) -> impl IntoView {
    view! {
        <div class="card wide" id="timeline" data-testid="ha-timeline">
            <h2>"Failover timeline"</h2>
            {failovers.is_empty().then(|| view! { <p class="empty">"No failover in the recent cluster log."</p> })}
            {failovers.into_iter().take(5).map(|f| {
                let t0 = f.steps.first().map(|s| s.time).unwrap_or_default();
                view! {
                    <h3 data-testid=format!("failover-{}", f.sid)>{format!("{}: {} → {}", f.sid, f.from, f.to)}</h3>
                    <table class="grid" data-testid="failover-steps">
                        <thead><tr><th>"Step"</th><th>"Time"</th><th>"After"</th><th>"Node"</th><th>"Reason"</th></tr></thead>
                        <tbody>
                            {f.steps.into_iter().map(|s| view! {
                                <tr data-step=s.step.clone()>
                                    <td>{step_label(&s.step)}</td>
                                    <td>{crate::format::clock(s.time)}</td>
                                    <td>{format!("+{} s", s.time - t0)}</td>
                                    <td>{s.node.clone()}</td>
                                    <td>{s.msg.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            }).collect_view()}
        </div>
    }
}

/// PVE's Resources grid: ID, State, Node, Name, Max. Restart, Max. Relocate, Failback,
/// Description.
#[component]
fn ResourcesGrid(view: HaView, selected: RwSignal<Option<HaResource>>) -> impl IntoView {
    let rows: Vec<(HaResource, String, String, String)> = view
        .resources
        .iter()
        .map(|r| {
            let status = view.service(&r.sid);
            let state = status.and_then(|s| s.state.clone()).unwrap_or_else(|| r.state.clone().unwrap_or_else(|| "started".into()));
            let node = status.and_then(|s| s.node.clone()).unwrap_or_default();
            (r.clone(), state, node, view.guest_name(r.vmid()))
        })
        .collect();
    view! {
        <table class="grid selectable" data-testid="ha-resources">
            <thead><tr><th>"ID"</th><th>"State"</th><th>"Node"</th><th>"Name"</th><th>"Max. Restart"</th><th>"Max. Relocate"</th><th>"Failback"</th><th>"Description"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|(r, state, node, name)| {
                    let sid = r.sid.clone();
                    let row = r.clone();
                    let is_selected = {
                        let sid = sid.clone();
                        move || selected.with(|s| s.as_ref().is_some_and(|x| x.sid == sid))
                    };
                    let (state_attr, node_attr) = (state.clone(), node.clone());
                    view! {
                        <tr data-testid=format!("ha-row-{sid}") data-state=state_attr data-node=node_attr class:selected=is_selected on:click=move |_| selected.set(Some(row.clone()))>
                            <td>{sid.clone()}</td>
                            <td data-testid="ha-state">{state}</td>
                            <td data-testid="ha-node">{node}</td>
                            <td>{name}</td>
                            <td>{r.max_restart.unwrap_or(DEFAULT_MAX_RESTART).to_string()}</td>
                            <td>{r.max_relocate.unwrap_or(DEFAULT_MAX_RELOCATE).to_string()}</td>
                            <td>{if r.failback.unwrap_or(true) { "Yes" } else { "No" }}</td>
                            <td>{r.comment.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The form's fields as the API wants them (PVE's `ha/ResourceEdit.js`). Editing sends only
/// the configuration's digest and what changed back, clearing an emptied comment.
pub fn resource_form(existing: Option<&HaResource>, vmid: &str, max_restart: &str, max_relocate: &str, state: &str, failback: bool, comment: &str) -> (String, String, Vec<(&'static str, String)>) {
    let mut form: Vec<(&'static str, String)> = vec![
        ("max_restart", max_restart.trim().to_string()),
        ("max_relocate", max_relocate.trim().to_string()),
        ("state", state.to_string()),
        ("failback", if failback { "1" } else { "0" }.to_string()),
    ];
    match existing {
        Some(r) => {
            if comment.trim().is_empty() {
                if r.comment.is_some() {
                    form.push(("delete", "comment".into()));
                }
            } else {
                form.push(("comment", comment.to_string()));
            }
            if let Some(digest) = &r.digest {
                form.push(("digest", digest.clone()));
            }
            ("PUT".into(), format!("/cluster/ha/resources/{}", r.sid), form)
        }
        None => {
            form.push(("sid", format!("vm:{vmid}")));
            if !comment.trim().is_empty() {
                form.push(("comment", comment.to_string()));
            }
            ("POST".into(), "/cluster/ha/resources".into(), form)
        }
    }
}

/// The guests HA does not manage yet, read fresh when the Add dialog opens (a guest created a
/// moment ago is offered even if the panel behind has not reloaded yet).
async fn unmanaged_guests() -> ApiResult<Vec<(u32, String)>> {
    let resources = api_client::get::<Vec<HaResource>>("/cluster/ha/resources".into()).await?;
    let guests = api_client::get::<Vec<ClusterResource>>("/cluster/resources?type=vm".into()).await?;
    Ok(HaView { resources, guests, ..Default::default() }.unmanaged())
}

/// Add or edit an HA resource: VM (from the guests HA does not manage yet), Max. Restart,
/// Max. Relocate, Request State, Failback, Comment.
#[component]
fn HaResourceDialog(existing: Option<HaResource>, view: HaView, #[prop(into)] on_done: Callback<()>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let editing = existing.is_some();
    let candidates = Resource::new(|| (), |_| unmanaged_guests());
    let vmid = RwSignal::new(existing.as_ref().and_then(HaResource::vmid).map(|v| v.to_string()).unwrap_or_default());
    let max_restart = RwSignal::new(existing.as_ref().and_then(|r| r.max_restart).unwrap_or(DEFAULT_MAX_RESTART).to_string());
    let max_relocate = RwSignal::new(existing.as_ref().and_then(|r| r.max_relocate).unwrap_or(DEFAULT_MAX_RELOCATE).to_string());
    let request = RwSignal::new(existing.as_ref().and_then(|r| r.state.clone()).unwrap_or_else(|| "started".into()));
    let failback = RwSignal::new(existing.as_ref().and_then(|r| r.failback).unwrap_or(true));
    let comment = RwSignal::new(existing.as_ref().and_then(|r| r.comment.clone()).unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let nothing_to_add = Signal::derive(move || !editing && candidates.get().is_some_and(|r| r.is_ok_and(|l| l.is_empty())));
    let cannot_add = Signal::derive(move || !editing && candidates.get().and_then(Result::ok).is_none_or(|l| l.is_empty()));
    let current_sid = existing.as_ref().map(|r| r.sid.clone()).unwrap_or_default();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        // The select shows its first guest until one is picked.
        let mut chosen = vmid.get_untracked();
        if chosen.is_empty() {
            chosen = candidates.get_untracked().and_then(Result::ok).and_then(|l| l.first().map(|(v, _)| v.to_string())).unwrap_or_default();
        }
        let (method, path, form) = resource_form(
            existing.as_ref(),
            &chosen,
            &max_restart.get_untracked(),
            &max_relocate.get_untracked(),
            &request.get_untracked(),
            failback.get_untracked(),
            &comment.get_untracked(),
        );
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match api_client::send::<serde_json::Value>(&method, &path, &form, &[]).await {
                Ok(_) => on_done.run(()),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (method, path, form, on_done);
    };
    let title = if editing { "Edit: Resource" } else { "Add: Resource: Virtual Machine" };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label=title on:submit=submit>
                <h2>{title}</h2>
                <label>"VM"
                    {if editing {
                        view! { <input name="sid" readonly=true prop:value=current_sid/> }.into_any()
                    } else {
                        view! {
                            <Transition fallback=|| view! { <select name="vmid" disabled=true></select> }>
                                {move || Suspend::new(async move {
                                    let list = candidates.await.unwrap_or_default();
                                    view! {
                                        <select name="vmid" required=true on:change=move |ev| vmid.set(event_target_value(&ev))>
                                            {list.into_iter().enumerate().map(|(i, (v, label))| {
                                                let value = v.to_string();
                                                let chosen = { let value = value.clone(); move || vmid.with(|c| if c.is_empty() { i == 0 } else { *c == value }) };
                                                view! { <option value=value selected=chosen>{label}</option> }
                                            }).collect_view()}
                                        </select>
                                    }
                                })}
                            </Transition>
                        }.into_any()
                    }}
                </label>
                {move || nothing_to_add.get().then(|| view! { <p class="hint" data-testid="ha-no-guests">"Every guest is already managed by HA."</p> })}
                <label>"Max. Restart"
                    <input name="max_restart" type="number" min="0" max="10" required=true prop:value=max_restart on:input=move |ev| max_restart.set(event_target_value(&ev))/>
                </label>
                <label>"Max. Relocate"
                    <input name="max_relocate" type="number" min="0" max="10" required=true prop:value=max_relocate on:input=move |ev| max_relocate.set(event_target_value(&ev))/>
                </label>
                <label>"Request State"
                    <select name="state" on:change=move |ev| request.set(event_target_value(&ev))>
                        {["started", "stopped", "disabled", "ignored"].into_iter().map(|s| view! { <option value=s selected=move || request.get() == s>{s}</option> }).collect_view()}
                    </select>
                </label>
                <label class="check">
                    <input type="checkbox" name="failback" prop:checked=failback on:change=move |ev| failback.set(event_target_checked(&ev))/>
                    "Failback"
                </label>
                <label>"Comment"
                    <input name="comment" prop:value=comment on:input=move |ev| comment.set(event_target_value(&ev))/>
                </label>
                {view.few_votes().then(|| view! { <p class="warning">{VOTES_HINT}</p> })}
                <DialogFooter error on_cancel label=if editing { "OK".to_string() } else { "Add".to_string() } disabled=cannot_add/>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(vmid: u32, name: &str) -> ClusterResource {
        ClusterResource { id: format!("qemu/{vmid}"), kind: "qemu".into(), vmid: Some(corral_api_types::Vmid::new(vmid).unwrap()), name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn the_add_dialog_offers_only_guests_ha_does_not_manage() {
        let view = HaView {
            guests: vec![guest(101, "web"), guest(100, "db"), guest(102, "mail")],
            resources: vec![HaResource { sid: "vm:101".into(), kind: "vm".into(), ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(view.unmanaged(), vec![(100, "100 (db)".to_string()), (102, "102 (mail)".to_string())]);
    }

    #[test]
    fn fewer_than_three_votes_get_the_hint() {
        assert!(HaView { votes: Some(2), ..Default::default() }.few_votes());
        assert!(!HaView { votes: Some(3), ..Default::default() }.few_votes());
        assert!(!HaView::default().few_votes());
    }

    #[test]
    fn editing_sends_the_digest_and_clears_an_emptied_comment() {
        let r = HaResource { sid: "vm:100".into(), kind: "vm".into(), comment: Some("old".into()), digest: Some("abc".into()), ..Default::default() };
        let (method, path, form) = resource_form(Some(&r), "100", "2", "1", "stopped", false, " ");
        assert_eq!((method.as_str(), path.as_str()), ("PUT", "/cluster/ha/resources/vm:100"));
        assert!(form.contains(&("delete", "comment".into())) && form.contains(&("digest", "abc".into())) && form.contains(&("failback", "0".into())));
        let (method, _, form) = resource_form(None, "100", "1", "1", "started", true, "db");
        assert_eq!(method, "POST");
        assert!(form.contains(&("sid", "vm:100".into())) && form.contains(&("comment", "db".into())));
    }
}
