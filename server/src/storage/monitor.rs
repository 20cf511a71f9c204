//! Every node checks its own access to each enabled storage it may use, on a short cycle (PVE's
//! pvestatd: 10 s; here [`CHECK_INTERVAL`]), and publishes the result: locally for
//! `/nodes/{node}/storage`, to its peers in its gossip status, to consoles as an event when
//! availability changes. Each check runs under the backend's deadline, all checks of a round
//! run side by side, so one dead NFS server delays nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_api_types::rrd::StorageRrdRow;
use corral_api_types::storage::StorageConfig;
use corral_gossip::StorageUsage;
use corral_storage::{Registry, Usage};
use sqlx::SqlitePool;
use tokio::sync::{broadcast, Notify};

use crate::cluster::liveness::Liveness;
use crate::events::Event;
use crate::rrd_store::RrdStore;

/// How often a node checks its storages.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(3);
/// How often the configuration is looked at for storages added, changed or removed (a local
/// read), so a change made on any node is checked here at once rather than at the next round.
const CONFIG_POLL: Duration = Duration::from_millis(250);
/// Longest one NFS call may take (checks and API calls alike).
pub const NFS_DEADLINE: Duration = Duration::from_millis(2500);

/// The last check of one storage on this node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    pub active: bool,
    pub usage: Usage,
    pub error: Option<String>,
    /// The content list the storage's directories were last created for.
    activated_for: Option<String>,
}

pub struct StorageMonitor {
    pub registry: Registry,
    table: Mutex<BTreeMap<String, Checked>>,
    wake: Notify,
}

impl StorageMonitor {
    pub fn new(registry: Registry) -> Self {
        Self { registry, table: Mutex::default(), wake: Notify::new() }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Checked>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last check of `storage`; `None` until it has been checked (or when it is not used here).
    pub fn status(&self, storage: &str) -> Option<Checked> {
        self.table().get(storage).cloned()
    }

    /// Check now instead of at the next tick (after a configuration change).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn run(self: Arc<Self>, db: SqlitePool, me: String, liveness: Arc<Liveness>, rrd: Arc<RrdStore>, events: broadcast::Sender<Event>) {
        loop {
            let configs: Vec<StorageConfig> = match super::list(&db).await {
                Ok(all) => all.into_iter().filter(|c| !c.disable && c.applies_to(&me)).collect(),
                Err(err) => {
                    tracing::warn!(%err, "storage monitor: cannot read the configuration");
                    Vec::new()
                }
            };
            self.registry.retain(&configs.iter().map(|c| c.storage.to_string()).collect::<Vec<_>>());
            let previous = self.table().clone();
            let checks = configs.iter().map(|c| self.check(c, previous.get(c.storage.as_str()).cloned()));
            let results: BTreeMap<String, Checked> = futures::future::join_all(checks).await.into_iter().collect();
            let changed = availability(&previous) != availability(&results);
            for (id, checked) in &results {
                let before = previous.get(id).map(|p| p.active);
                if before != Some(checked.active) {
                    match &checked.error {
                        Some(err) => tracing::warn!(storage = %id, %err, "storage not available"),
                        None => tracing::info!(storage = %id, "storage available"),
                    }
                }
            }
            liveness.set_storages(results.iter().map(|(id, c)| usage_of(id, c)).collect());
            record_usage(&rrd, &previous, &results);
            *self.table() = results;
            if changed {
                let _ = events.send(Event::Resources);
            }
            tokio::select! {
                _ = tokio::time::sleep(CHECK_INTERVAL) => {}
                _ = self.wake.notified() => {}
                _ = config_changed(&db, &me, &configs) => {}
            }
        }
    }

    async fn check(&self, config: &StorageConfig, previous: Option<Checked>) -> (String, Checked) {
        let backend = self.registry.backend(config);
        let mut activated_for = previous.and_then(|p| p.activated_for).filter(|c| *c == config.content);
        let result = async {
            if activated_for.is_none() {
                backend.activate(config).await?;
                activated_for = Some(config.content.clone());
            }
            backend.usage().await
        }
        .await;
        let checked = match result {
            Ok(usage) => Checked { active: true, usage, error: None, activated_for },
            Err(err) => {
                let why = match err {
                    corral_storage::StorageError::NotOnline { why, .. } => why,
                    other => other.to_string(),
                };
                Checked { active: false, usage: Usage::default(), error: Some(why), activated_for: None }
            }
        };
        (config.storage.to_string(), checked)
    }
}

/// Returns when the storages this node should check differ from `current`.
async fn config_changed(db: &SqlitePool, me: &str, current: &[StorageConfig]) {
    loop {
        tokio::time::sleep(CONFIG_POLL).await;
        if let Ok(all) = super::list(db).await {
            let now: Vec<StorageConfig> = all.into_iter().filter(|c| !c.disable && c.applies_to(me)).collect();
            if now != current {
                return;
            }
        }
    }
}

/// Each available storage's size and use into its graph; a storage no longer used here loses
/// its graph.
fn record_usage(rrd: &RrdStore, previous: &BTreeMap<String, Checked>, results: &BTreeMap<String, Checked>) {
    let now = crate::auth::unix_now();
    for (id, checked) in results.iter().filter(|(_, c)| c.active) {
        let row = StorageRrdRow { time: now, total: Some(checked.usage.total as f64), used: Some(checked.usage.used as f64) };
        rrd.record(&crate::rrd_store::storage_key(id), &row);
    }
    for gone in previous.keys().filter(|id| !results.contains_key(*id)) {
        rrd.forget(&crate::rrd_store::storage_key(gone));
    }
}

fn availability(table: &BTreeMap<String, Checked>) -> Vec<(&String, bool)> {
    table.iter().map(|(id, c)| (id, c.active)).collect()
}

fn usage_of(id: &str, c: &Checked) -> StorageUsage {
    StorageUsage { id: id.to_string(), active: c.active, total: c.usage.total, used: c.usage.used, avail: c.usage.avail }
}
