//! The daemon's shared state, handed to every handler.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use corral_api_types::NodeName;
use leptos::config::LeptosOptions;
use sqlx::SqlitePool;
use tokio::sync::broadcast;

use crate::auth::login_guard::LoginGuard;
use crate::auth::AuthKeys;
use crate::events::Event;
use crate::node_stats::NodeStats;
use crate::cluster::ClusterHandle;
use crate::tasks::TaskRunner;

#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub db: SqlitePool,
    /// Ticket and CSRF keys; replaced by the cluster's when this node joins one.
    pub keys: std::sync::RwLock<AuthKeys>,
    pub node: NodeName,
    /// SHA-256 fingerprint of this node's HTTPS certificate, PVE style.
    pub fingerprint: String,
    pub stats: Arc<NodeStats>,
    /// This node's graphs (node, guests, storages), kept across restarts.
    pub rrd: Arc<crate::rrd_store::RrdStore>,
    pub tasks: Arc<TaskRunner>,
    pub cluster: Arc<ClusterHandle>,
    pub liveness: Arc<crate::cluster::liveness::Liveness>,
    pub ssh: crate::cluster::ssh::SshPaths,
    pub ssh_peers: crate::cluster::ssh::SshPeers,
    pub leases: crate::cluster::lease::Leases,
    /// This node's storage checks and backends.
    pub storage: Arc<crate::storage::monitor::StorageMonitor>,
    /// The guests running on this node.
    pub vms: Arc<crate::vm_runtime::VmRuntime>,
    /// HA's leases, jobs and fence guard on this node.
    pub ha: Arc<crate::ha::Shared>,
    pub data_dir: std::path::PathBuf,
    /// The address the API is bound to.
    pub listen: std::net::SocketAddr,
    pub login_guard: LoginGuard,
    /// Admission grants this node handed to joiners (phase 1 of a join).
    pub join_grants: crate::cluster::join::Grants,
    /// How long a failed login waits before it is answered.
    pub auth_fail_delay: Duration,
    pub events: broadcast::Sender<Event>,
    /// Wakes the publisher of this node's cluster log entries.
    pub cluster_log: Arc<crate::cluster_log::Publisher>,
    pub leptos: LeptosOptions,
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppInner {
    pub fn keys(&self) -> AuthKeys {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the voters this node sees alive hold a majority of the expected votes.
    pub async fn sees_quorum(&self, config: &crate::cluster::ClusterConfig) -> bool {
        let voters = self.cluster.voters().await;
        crate::cluster::quorum::config_is_quorate(config, voters.as_ref(), &self.liveness.online(self.node.as_str()))
    }

    /// PVE refuses configuration changes at once without quorum; a standalone node always has it.
    pub async fn require_quorum(&self) -> Result<(), crate::cluster::ClusterError> {
        match crate::cluster::ClusterConfig::load(&self.db).await? {
            Some(config) if !self.sees_quorum(&config).await => Err(crate::cluster::ClusterError::NoQuorum),
            _ => Ok(()),
        }
    }

    pub fn set_keys(&self, keys: AuthKeys) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
