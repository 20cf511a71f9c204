//! Live events pushed to consoles over SSE (`GET /api2/json/events`, a corral extension).
//! Clients that cannot hold the stream poll the ordinary endpoints instead.

use corral_api_types::rrd::NodeRrdRow;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A new status sample of a node (what the Summary graph plots).
    NodeSample { node: String, sample: NodeRrdRow },
    /// The cluster log has new entries; clients re-read `/cluster/log`.
    ClusterLog,
    /// A task started or ended; clients re-read `/cluster/tasks`.
    Tasks,
    /// Something in `/cluster/resources` changed (a storage became available or not, a guest
    /// or storage was configured); clients re-read it.
    Resources,
    /// HA configuration or state changed anywhere in the cluster; clients re-read
    /// `/cluster/ha/*`.
    Ha,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::NodeSample { .. } => "node-sample",
            Event::ClusterLog => "cluster-log",
            Event::Tasks => "tasks",
            Event::Resources => "resources",
            Event::Ha => "ha",
        }
    }

    /// What a change to `key` in the replicated store means to an open console. Leases are
    /// renewed every second and show nowhere, so they announce nothing.
    pub fn for_store_key(key: &str) -> &'static [Event] {
        const ALL: &[Event] = &[Event::Resources, Event::Ha, Event::ClusterLog, Event::Tasks];
        match key {
            "*" => ALL,
            k if k.starts_with(crate::ha::store::PREFIX) => &[Event::Ha],
            k if k.starts_with(crate::cluster_log::PREFIX) => &[Event::ClusterLog],
            k if k.starts_with(crate::task_list::PREFIX) => &[Event::Tasks],
            k if [crate::guests::PREFIX, crate::storage::PREFIX, "cluster/"].iter().any(|p| k.starts_with(p)) => &[Event::Resources],
            _ => &[],
        }
    }
}

/// Turn the store's applied changes into console events, each kind at most once per batch:
/// this is what carries a change made on any node to every open page of this one.
pub async fn relay_store_changes(mut changes: broadcast::Receiver<Arc<Vec<String>>>, events: broadcast::Sender<Event>) {
    loop {
        let keys = match changes.recv().await {
            Ok(keys) => keys,
            Err(broadcast::error::RecvError::Lagged(_)) => Arc::new(vec!["*".to_string()]),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut sent: Vec<&'static str> = Vec::new();
        for event in keys.iter().flat_map(|k| Event::for_store_key(k)) {
            if !sent.contains(&event.name()) {
                sent.push(event.name());
                let _ = events.send(event.clone());
            }
        }
    }
}

/// What of gossip's view an open page shows: who is alive, and each peer's running guests and
/// storage availability (not its load or memory, which change all the time).
fn membership_view(liveness: &crate::cluster::liveness::Liveness, me: &str) -> Vec<(String, bool, Vec<u32>, Vec<(String, bool)>)> {
    let mut view: Vec<_> = liveness
        .peers()
        .into_iter()
        .map(|p| {
            let (running, storages) = p.status.map(|s| (s.running, s.storages.into_iter().map(|st| (st.id, st.active)).collect())).unwrap_or_default();
            (p.node, p.alive, running, storages)
        })
        .collect();
    view.push((me.to_string(), true, Vec::new(), Vec::new()));
    view.sort();
    view
}

/// Announce changes in gossip's view (a node up or down, a guest started or stopped elsewhere,
/// a storage's availability on another node) as `resources` events, checked every 200 ms:
/// pages see a power loss as soon as this node's gossip does.
pub async fn relay_membership(liveness: Arc<crate::cluster::liveness::Liveness>, me: String, events: broadcast::Sender<Event>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Vec::new();
    loop {
        tick.tick().await;
        let view = membership_view(&liveness, &me);
        if view != last {
            last = view;
            let _ = events.send(Event::Resources);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_renewals_announce_nothing_and_ha_writes_announce_ha() {
        assert!(Event::for_store_key("leases/ha-agent-n1").is_empty());
        assert_eq!(Event::for_store_key("ha/manager_status").iter().map(Event::name).collect::<Vec<_>>(), ["ha"]);
        assert_eq!(Event::for_store_key("qemu/100").iter().map(Event::name).collect::<Vec<_>>(), ["resources"]);
        assert_eq!(Event::for_store_key("*").len(), 4);
        assert_eq!(Event::for_store_key("tasklist/n2").iter().map(Event::name).collect::<Vec<_>>(), ["tasks"]);
    }
}
