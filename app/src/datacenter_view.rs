//! Datacenter panels. Summary → Health: standalone or cluster with quorum, node counts.

use corral_api_types::cluster::ClusterStatusEntry;
use leptos::prelude::*;

use crate::api_client;
use crate::console::Field;
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
}

pub fn health(entries: &[ClusterStatusEntry]) -> Health {
    let mut h = Health { cluster: None, online: 0, offline: 0 };
    for e in entries {
        match e {
            ClusterStatusEntry::Cluster { name, quorate, .. } => h.cluster = Some((name.clone(), *quorate)),
            ClusterStatusEntry::Node { online: true, .. } => h.online += 1,
            ClusterStatusEntry::Node { .. } => h.offline += 1,
        }
    }
    h
}

#[component]
fn DatacenterSummary() -> impl IntoView {
    let live = use_live();
    let status = Resource::new(move || live.tick.get(), |_| api_client::get::<Vec<ClusterStatusEntry>>("/cluster/status".into()));
    view! {
        <div class="card" data-testid="dc-health">
            <h2>"Health"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading..."</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(entries) => {
                            let h = health(&entries);
                            let cluster = match &h.cluster {
                                None => "Standalone node - no cluster defined".to_string(),
                                Some((name, quorate)) => format!("Cluster: {name}, Quorate: {}", if *quorate { "Yes" } else { "No" }),
                            };
                            view! {
                                <Field label="Status" value=cluster testid="dc-cluster-status"/>
                                <Field label="Nodes online" value=h.online.to_string() testid="dc-nodes-online"/>
                                <Field label="Nodes offline" value=h.offline.to_string() testid="dc-nodes-offline"/>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </div>
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
        assert_eq!(health(&entries), Health { cluster: None, online: 1, offline: 0 });
    }
}
