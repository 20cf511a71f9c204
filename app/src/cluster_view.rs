//! Datacenter → Cluster: the cluster's name, version and nodes; Create Cluster (dialog, then the
//! task viewer), Join Information (window with the encoded text to copy).

use corral_api_types::cluster::{GossipMember, GossipReport, LATENCY_WARN_MS};
use corral_api_types::cluster_config::{ClusterConfigNode, EncodedJoinInfo, JoinInfo};
use corral_api_types::node::NetworkInterface;
use leptos::prelude::*;

use crate::api_client::{self, ApiFailure};
use crate::live::use_live;
use crate::task_viewer::TaskViewer;

#[derive(Clone, Copy, PartialEq)]
enum Dialog {
    None,
    Create,
    JoinInfo,
    Join,
    Expected,
}

/// The join information, asked for only in a cluster: a standalone node answers 424, which a
/// browser would log as a failed request on every refresh.
async fn join_info() -> api_client::ApiResult<JoinInfo> {
    let status = api_client::get::<Vec<corral_api_types::cluster::ClusterStatusEntry>>("/cluster/status".into()).await?;
    if !status.iter().any(|e| matches!(e, corral_api_types::cluster::ClusterStatusEntry::Cluster { .. })) {
        return Err(ApiFailure { status: 424, message: "no cluster defined".into() });
    }
    api_client::get::<JoinInfo>("/cluster/config/join".into()).await
}

#[component]
pub fn ClusterPanel() -> impl IntoView {
    let live = use_live();
    let version = RwSignal::new(0u64);
    let join = Resource::new(move || (version.get(), live.tick.get()), |_| join_info());
    let nodes = Resource::new(move || (version.get(), live.tick.get()), |_| api_client::get::<Vec<ClusterConfigNode>>("/cluster/config/nodes".into()));
    let status = Resource::new(move || (version.get(), live.tick.get()), |_| {
        api_client::get::<Vec<corral_api_types::cluster::ClusterStatusEntry>>("/cluster/status".into())
    });
    let gossip = Resource::new(move || (version.get(), live.tick.get()), |_| api_client::get::<GossipReport>("/cluster/gossip".into()));
    let dialog = RwSignal::new(Dialog::None);
    let task = RwSignal::new(None::<String>);
    view! {
        <div class="card wide" data-testid="cluster-panel">
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    let info = join.await;
                    let clustered = info.is_ok();
                    let cluster_entry = status.await.unwrap_or_default().into_iter().find_map(|e| match e {
                        corral_api_types::cluster::ClusterStatusEntry::Cluster { quorate, expected_votes, leader, .. } => Some((quorate, expected_votes, leader)),
                        _ => None,
                    });
                    let quorate = cluster_entry.as_ref().is_some_and(|(q, _, _)| *q);
                    let quorum_line = cluster_entry.map(|(q, expected, leader)| {
                        format!(
                            "Quorate: {}    Expected Votes: {}    Store Leader: {}",
                            if q { "Yes" } else { "No" },
                            expected.map(|e| e.to_string()).unwrap_or_default(),
                            leader.unwrap_or_else(|| "none".into())
                        )
                    });
                    let line = match &info {
                        Ok(i) => format!(
                            "Cluster Name: {}    Config Version: {}    Number of Nodes: {}",
                            i.totem["cluster_name"].as_str().unwrap_or_default(),
                            i.totem["config_version"].as_str().unwrap_or_default(),
                            i.nodelist.len()
                        ),
                        Err(ApiFailure { status: 424, .. }) => "Standalone node - no cluster defined".to_string(),
                        Err(e) => e.message.clone(),
                    };
                    view! {
                        <div class="toolbar">
                            <button disabled=clustered on:click=move |_| dialog.set(Dialog::Create)>"Create Cluster"</button>
                            <button disabled=!clustered on:click=move |_| dialog.set(Dialog::JoinInfo)>"Join Information"</button>
                            <button disabled=clustered on:click=move |_| dialog.set(Dialog::Join)>"Join Cluster"</button>
                            <button disabled=!clustered || quorate title="Only on a node without quorum" on:click=move |_| dialog.set(Dialog::Expected)>"Expected Votes"</button>
                        </div>
                        {(clustered && !quorate).then(|| view! {
                            <p class="warning" data-testid="no-quorum">"This node has no quorum: the configuration is read-only until enough nodes are back."</p>
                        })}
                        <p class="cluster-info" data-testid="cluster-info">{line}</p>
                        {quorum_line.map(|q| view! { <p class="cluster-info" data-testid="cluster-quorum">{q}</p> })}
                    }
                })}
            </Transition>
            <h2>"Cluster Nodes"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = nodes.await.unwrap_or_default();
                    let online: Vec<String> = status
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|e| match e {
                            corral_api_types::cluster::ClusterStatusEntry::Node { name, online: true, .. } => Some(name),
                            _ => None,
                        })
                        .collect();
                    let members = gossip.await.unwrap_or_default().members;
                    let warnings = cluster_warnings(&list, &members);
                    let member = move |name: &str| members.iter().find(|m| m.node == name).cloned();
                    view! {
                        {warnings.into_iter().map(|w| view! { <p class="warning" data-testid="cluster-warning">{w}</p> }).collect_view()}
                        <table class="grid" data-testid="cluster-nodes">
                            <thead><tr><th>"Nodename"</th><th>"ID"</th><th>"Votes"</th><th>"Link 0"</th><th>"Online"</th><th>"Latency"</th><th>"Version"</th><th>"SSH"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|n| {
                                    let up = online.contains(&n.name);
                                    let m = member(&n.name);
                                    // Not heard yet is not the same as down (a node that just joined or restarted).
                                    let unknown = !up && m.as_ref().is_some_and(|m| m.state == "unknown");
                                    let latency = m.as_ref().and_then(|m| m.latency_ms);
                                    let slow = latency.is_some_and(|l| l > LATENCY_WARN_MS);
                                    let latency = match (m.as_ref().is_some_and(|m| m.local), latency) {
                                        (true, _) => "-".to_string(),
                                        (false, Some(ms)) => format!("{ms:.2} ms"),
                                        (false, None) => String::new(),
                                    };
                                    let node_version = m.as_ref().and_then(|m| m.version.clone()).unwrap_or_default();
                                    let (ssh_text, ssh_bad, ssh_title) = match m.as_ref().map(|m| (m.local, m.ssh, m.ssh_error.clone())) {
                                        Some((true, _, _)) => ("-", false, String::new()),
                                        Some((false, Some(true), _)) => ("OK", false, String::new()),
                                        Some((false, Some(false), err)) => ("unreachable", true, err.unwrap_or_default()),
                                        _ => ("", false, String::new()),
                                    };
                                    view! {
                                        <tr>
                                            <td>{n.name.clone()}</td>
                                            <td>{n.nodeid.clone()}</td>
                                            <td>{n.quorum_votes.clone()}</td>
                                            <td>{n.rings.get("ring0_addr").cloned().unwrap_or_default()}</td>
                                            <td class=if up { "online" } else if unknown { "unknown" } else { "offline" } data-testid="node-online" title=if unknown { "not heard from yet" } else { "" }>
                                                {if up { "Yes" } else if unknown { "?" } else { "No" }}
                                            </td>
                                            <td class:warning-cell=slow data-testid="node-latency">{latency}</td>
                                            <td class:stale=!up title=if up { "" } else { "last known, the node is offline" } data-testid="node-version">{node_version}</td>
                                            <td class:warning-cell=ssh_bad title=ssh_title data-testid="node-ssh">{ssh_text}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                })}
            </Transition>
        </div>
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Create => view! {
                <CreateClusterDialog
                    on_started=move |upid: String| { dialog.set(Dialog::None); task.set(Some(upid)); }
                    on_cancel=move || dialog.set(Dialog::None)
                />
            }.into_any(),
            Dialog::JoinInfo => view! { <JoinInformationWindow join on_close=move || dialog.set(Dialog::None)/> }.into_any(),
            Dialog::Expected => view! {
                <ExpectedVotesDialog
                    on_done=move || { dialog.set(Dialog::None); version.update(|v| *v += 1); }
                    on_cancel=move || dialog.set(Dialog::None)
                />
            }.into_any(),
            Dialog::Join => view! {
                <JoinClusterDialog
                    on_started=move |upid: String| { dialog.set(Dialog::None); task.set(Some(upid)); }
                    on_cancel=move || dialog.set(Dialog::None)
                />
            }.into_any(),
        }}
        {move || task.get().map(|upid| view! {
            <TaskViewer
                upid
                on_done=move |_ok: bool| version.update(|v| *v += 1)
                on_close=move || task.set(None)
            />
        })}
    }
}

/// Advice the panel shows above the node grid: too few votes for HA, slow links (gossip's
/// measured round trip), nodes running another corral version than this one.
pub fn cluster_warnings(nodes: &[ClusterConfigNode], members: &[GossipMember]) -> Vec<String> {
    let votes: u32 = nodes.iter().filter_map(|n| n.quorum_votes.parse::<u32>().ok()).sum();
    let mut out = Vec::new();
    if !nodes.is_empty() && votes < 3 {
        out.push(format!("HA needs at least three quorum votes; this cluster has {votes}."));
    }
    for m in members.iter().filter(|m| m.alive && !m.local) {
        if let Some(ms) = m.latency_ms.filter(|ms| *ms > LATENCY_WARN_MS) {
            out.push(format!("Link latency to {} is {ms:.1} ms; cluster links should stay below {LATENCY_WARN_MS} ms.", m.node));
        }
    }
    // An offline node's SSH is down too; the Online column already says so.
    for m in members.iter().filter(|m| !m.local && m.alive && m.ssh == Some(false)) {
        let why = m.ssh_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        out.push(format!("SSH to {} is unreachable from this node{why}", m.node));
    }
    let ours = members.iter().find(|m| m.local).and_then(|m| m.version.clone());
    for m in members.iter().filter(|m| m.alive && !m.local) {
        if let (Some(ours), Some(theirs)) = (&ours, &m.version) {
            if ours != theirs {
                out.push(format!("Version mismatch: {} runs corral {theirs}, this node runs {ours}. Upgrade all nodes to the same version.", m.node));
            }
        }
    }
    out
}

/// The addresses offered for a link: every address of every active interface.
pub fn link_choices(ifaces: &[NetworkInterface]) -> Vec<String> {
    let mut out: Vec<String> = ifaces
        .iter()
        .filter(|i| i.active)
        .flat_map(|i| [i.address.clone(), i.address6.clone()])
        .flatten()
        .collect();
    // Non-loopback addresses first: they are the ones other nodes can reach.
    out.sort_by_key(|a| a.starts_with("127.") || a == "::1");
    out
}

#[component]
fn CreateClusterDialog(#[prop(into)] on_started: Callback<String>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let link0 = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let (n, l) = (name.get_untracked(), link0.get_untracked());
            let mut form = vec![("clustername", n.as_str())];
            if !l.is_empty() {
                form.push(("link0", l.as_str()));
            }
            match api_client::send::<String>("POST", "/cluster/config", &form, &[]).await {
                Ok(upid) => on_started.run(upid),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = on_started;
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label="Create Cluster" on:submit=submit>
                <h2>"Create Cluster"</h2>
                <label>"Cluster Name"
                    <input name="clustername" maxlength="15" required=true prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Cluster Network: Link 0"
                    <LinkAddressInput value=link0 list_id="create-link-choices"/>
                </label>
                <p class="hint">"Multiple links are used as failover, lower numbers have higher priority."</p>
                <DialogFooter error on_cancel label="Create".to_string()/>
            </form>
        </div>
    }
}

/// How every dialog form ends: the last error, Cancel, and the submit button.
#[component]
pub(crate) fn DialogFooter(
    error: RwSignal<Option<String>>,
    #[prop(into)] on_cancel: Callback<()>,
    #[prop(into)] label: Signal<String>,
    #[prop(optional, into)] disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <div class="buttons">
            <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            <button type="submit" class="primary" disabled=move || disabled.get()>{move || label.get()}</button>
        </div>
    }
}

/// "Remove X?": one DELETE of `path`, its error shown in the dialog, as PVE's remove windows.
#[component]
pub(crate) fn RemoveDialog(
    title: &'static str,
    #[prop(into)] text: String,
    path: String,
    #[prop(into)] on_done: Callback<()>,
    #[prop(into)] on_cancel: Callback<()>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let path = path.clone();
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match api_client::send::<serde_json::Value>("DELETE", &path, &[], &[]).await {
                Ok(_) => on_done.run(()),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (path, on_done);
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label=title on:submit=submit>
                <h2>{title}</h2>
                <p>{text}</p>
                <DialogFooter error on_cancel label="Remove".to_string()/>
            </form>
        </div>
    }
}

/// `pvecm expected` with the risk spelled out; the admin must tick that they understand it.
#[component]
fn ExpectedVotesDialog(#[prop(into)] on_done: Callback<()>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let votes = RwSignal::new("1".to_string());
    let understood = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let v = votes.get_untracked();
            match api_client::send::<String>("POST", "/cluster/config/expected", &[("expected", v.as_str())], &[]).await {
                Ok(_) => on_done.run(()),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = on_done;
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label="Expected Votes" on:submit=submit>
                <h2>"Set Expected Votes"</h2>
                <p class="warning">
                    "Unsafe recovery. This node alone becomes the cluster's configuration store, in a new cluster epoch, "
                    "and accepts changes again. Do this only when the missing nodes are really down (powered off), never when "
                    "they may still be running on the other side of a network split: whatever they change there is discarded "
                    "when they come back and resync from this node. Expected votes return to the full count as they rejoin."
                </p>
                <label>"Expected votes"
                    <input name="expected" type="number" min="1" required=true prop:value=votes on:input=move |ev| votes.set(event_target_value(&ev))/>
                </label>
                <label class="check">
                    <input type="checkbox" name="understood" prop:checked=understood on:change=move |ev| understood.set(event_target_checked(&ev))/>
                    "I understand the risk: the other nodes are powered off."
                </label>
                <DialogFooter error on_cancel label="Set expected votes".to_string() disabled=Signal::derive(move || !understood.get())/>
            </form>
        </div>
    }
}

/// A link address field: editable, offering this node's addresses, defaulting to the address the
/// node's API is reached at.
#[component]
fn LinkAddressInput(value: RwSignal<String>, list_id: &'static str) -> impl IntoView {
    let addresses = Resource::new(|| (), |_| api_client::get::<Vec<NetworkInterface>>("/nodes/localhost/network".into()));
    let status = Resource::new(|| (), |_| api_client::get::<Vec<corral_api_types::cluster::ClusterStatusEntry>>("/cluster/status".into()));
    view! {
        <Transition fallback=|| view! { <input disabled=true/> }>
            {move || Suspend::new(async move {
                let choices = link_choices(&addresses.await.unwrap_or_default());
                let own = own_address(&status.await.unwrap_or_default());
                if value.get_untracked().is_empty() {
                    if let Some(first) = own.or_else(|| choices.first().cloned()) {
                        value.set(first);
                    }
                }
                view! {
                    <input name="link0" list=list_id prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                    <datalist id=list_id>
                        {choices.into_iter().map(|a| view! { <option value=a/> }).collect_view()}
                    </datalist>
                }
            })}
        </Transition>
    }
}

/// This node's own address as the cluster status reports it (the default link address).
fn own_address(entries: &[corral_api_types::cluster::ClusterStatusEntry]) -> Option<String> {
    entries.iter().find_map(|e| match e {
        corral_api_types::cluster::ClusterStatusEntry::Node { local: true, ip, .. } => ip.clone(),
        _ => None,
    })
}

#[component]
fn JoinClusterDialog(#[prop(into)] on_started: Callback<String>, #[prop(into)] on_cancel: Callback<()>) -> impl IntoView {
    let pasted = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let link0 = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let decoded = Memo::new(move |_| EncodedJoinInfo::decode(&pasted.get()));
    let cluster_name = move || decoded.get().and_then(|d| d.totem["cluster_name"].as_str().map(str::to_owned));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let Some(info) = decoded.get_untracked() else {
            error.set(Some("Does not seem like a valid encoded Cluster Information!".into()));
            return;
        };
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let (pw, l0) = (password.get_untracked(), link0.get_untracked());
            let mut form = vec![("hostname", info.ip_address.as_str()), ("fingerprint", info.fingerprint.as_str()), ("password", pw.as_str())];
            if !l0.is_empty() {
                form.push(("link0", l0.as_str()));
            }
            match api_client::send::<String>("POST", "/cluster/config/join", &form, &[]).await {
                Ok(upid) => on_started.run(upid),
                Err(e) => error.set(Some(e.message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (info, on_started);
    };
    view! {
        <div class="modal-backdrop">
            <form class="modal" role="dialog" aria-label="Cluster Join" on:submit=submit>
                <h2>"Cluster Join"</h2>
                <label>"Information"
                    <textarea name="information" rows="5" placeholder="Paste encoded Cluster Information here"
                        prop:value=pasted on:input=move |ev| pasted.set(event_target_value(&ev))></textarea>
                </label>
                {move || (!pasted.get().trim().is_empty() && decoded.get().is_none())
                    .then(|| view! { <p class="error">"Does not seem like a valid encoded Cluster Information!"</p> })}
                <label>"Peer Address"<input readonly=true name="hostname" prop:value=move || decoded.get().map(|d| d.ip_address).unwrap_or_default()/></label>
                <label>"Password"
                    <input type="password" name="password" autocomplete="off" placeholder="Peer's root password"
                        prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <label>"Fingerprint"<input readonly=true name="fingerprint" prop:value=move || decoded.get().map(|d| d.fingerprint).unwrap_or_default()/></label>
                <label>{move || format!("Link 0 (peer's link address: {})", decoded.get().and_then(|d| d.peer_links.get("0").cloned()).unwrap_or_default())}
                    <LinkAddressInput value=link0 list_id="join-link-choices"/>
                </label>
                <DialogFooter
                    error
                    on_cancel
                    label=Signal::derive(move || cluster_name().map(|n| format!("Join '{n}'")).unwrap_or_else(|| "Join".into()))
                    disabled=Signal::derive(move || decoded.get().is_none())
                />
            </form>
        </div>
    }
}

#[component]
fn JoinInformationWindow(join: Resource<api_client::ApiResult<JoinInfo>>, #[prop(into)] on_close: Callback<()>) -> impl IntoView {
    view! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-label="Cluster Join Information">
                <h2>"Cluster Join Information"</h2>
                <p class="hint">"Copy the Join Information here and use it on the node you want to add."</p>
                <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                    {move || Suspend::new(async move {
                        let encoded = join.await.ok().and_then(|i| EncodedJoinInfo::from_join_info(&i));
                        match encoded {
                            Some(e) => {
                                let text = e.encode();
                                let copy_text = text.clone();
                                let copy = move |_| {
                                    #[cfg(feature = "hydrate")]
                                    api_client::browser::copy_to_clipboard(&copy_text);
                                    #[cfg(not(feature = "hydrate"))]
                                    let _ = &copy_text;
                                };
                                view! {
                                    <label>"IP Address"<input readonly=true value=e.ip_address.clone() data-testid="join-ip"/></label>
                                    <label>"Fingerprint"<input readonly=true value=e.fingerprint.clone() data-testid="join-fingerprint"/></label>
                                    <label>"Join Information"<textarea readonly=true rows="6" data-testid="join-information">{text}</textarea></label>
                                    <div class="buttons">
                                        <button type="button" on:click=copy>"Copy Information"</button>
                                        <button type="button" on:click=move |_| on_close.run(())>"Close"</button>
                                    </div>
                                }.into_any()
                            }
                            None => view! {
                                <p class="error">"No join information available."</p>
                                <div class="buttons"><button type="button" on:click=move |_| on_close.run(())>"Close"</button></div>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_votes_warn_about_ha() {
        let node = |name: &str| ClusterConfigNode { node: name.into(), name: name.into(), nodeid: "1".into(), quorum_votes: "1".into(), rings: Default::default() };
        assert_eq!(cluster_warnings(&[node("a")], &[]).len(), 1);
        assert!(cluster_warnings(&[node("a"), node("b"), node("c")], &[]).is_empty());
        assert!(cluster_warnings(&[], &[]).is_empty());
    }

    fn member(name: &str, local: bool, alive: bool, latency_ms: Option<f64>, version: &str) -> GossipMember {
        GossipMember { node: name.into(), local, alive, state: if alive { "online" } else { "offline" }.into(), address: String::new(), latency_ms, version: Some(version.into()), load: None, uptime: None, ssh: None, ssh_error: None }
    }

    #[test]
    fn slow_links_and_other_versions_are_warned_about() {
        let nodes: Vec<ClusterConfigNode> = ["a", "b", "c"]
            .iter()
            .map(|n| ClusterConfigNode { node: (*n).into(), name: (*n).into(), nodeid: "1".into(), quorum_votes: "1".into(), rings: Default::default() })
            .collect();
        let healthy = [member("a", true, true, None, "0.1.0"), member("b", false, true, Some(0.3), "0.1.0"), member("c", false, true, Some(1.9), "0.1.0")];
        assert!(cluster_warnings(&nodes, &healthy).is_empty());
        let troubled = [member("a", true, true, None, "0.1.0"), member("b", false, true, Some(4.25), "0.1.0"), member("c", false, true, Some(0.2), "0.2.0")];
        let warnings = cluster_warnings(&nodes, &troubled);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("Link latency to b is 4.2 ms"), "{warnings:?}");
        assert!(warnings[1].contains("c runs corral 0.2.0, this node runs 0.1.0"), "{warnings:?}");
        let mut no_ssh = member("b", false, true, Some(0.3), "0.1.0");
        no_ssh.ssh = Some(false);
        no_ssh.ssh_error = Some("Host key verification failed.".into());
        let warnings = cluster_warnings(&nodes, &[member("a", true, true, None, "0.1.0"), no_ssh]);
        assert_eq!(warnings, ["SSH to b is unreachable from this node: Host key verification failed."]);
        // An offline node's last figures are not news.
        let offline = [member("a", true, true, None, "0.1.0"), member("b", false, false, Some(9.0), "0.0.1")];
        assert!(cluster_warnings(&nodes, &offline).is_empty());
    }

    #[test]
    fn routable_addresses_come_first() {
        let iface = |name: &str, v4: &str, v6: Option<&str>| NetworkInterface {
            iface: name.into(),
            kind: "eth".into(),
            active: true,
            address: Some(v4.into()),
            netmask: None,
            cidr: None,
            address6: v6.map(Into::into),
            netmask6: None,
            cidr6: None,
            families: vec![],
        };
        let choices = link_choices(&[iface("lo", "127.0.0.1", Some("::1")), iface("eth0", "10.0.0.5", None)]);
        assert_eq!(choices, ["10.0.0.5", "127.0.0.1", "::1"]);
    }
}
