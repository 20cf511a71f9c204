//! Who is alive: this node's gossip member ([`corral_gossip`]), kept in step with the
//! replicated node list. It binds UDP on the node's link 0 address once the node is in a
//! cluster, seals datagrams with a key derived from the cluster authkey, and publishes the
//! node's version, load and uptime. Everything that asks "is node X online?" asks here.
//!
//! Must not write to the store: gossip only observes.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use corral_gossip::{CounterSnapshot, Gossip, GossipConfig, NodeStatus, PeerView, StorageUsage};
use sqlx::SqlitePool;

use super::config::KEY_AUTHKEY;
use super::ClusterConfig;

/// How often the member is brought in line with the node list and its status refreshed.
const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// PVE's corosync uses 5405-5412/udp; corral's gossip takes the first of them by default.
pub const DEFAULT_GOSSIP_PORT: u16 = 5405;

pub struct Liveness {
    /// UDP port of this node's gossip socket.
    pub port: u16,
    /// This node's cluster epoch, as last read from the store.
    epoch: std::sync::atomic::AtomicU64,
    member: Mutex<Option<Gossip>>,
    /// The authkey the member seals with.
    authkey: Mutex<Vec<u8>>,
    /// This node's storage checks, as the storage monitor last published them.
    storages: Mutex<Vec<StorageUsage>>,
    /// The guests running here, as the guest runtime last published them.
    running: Mutex<Vec<u32>>,
    /// This node's CPU and memory use, as its last status sample says.
    usage: Mutex<(f64, u32, u64, u64)>,
}

/// Running guests one status may carry (5 bytes each at most): a status probe must fit one datagram.
const RUNNING_BUDGET: usize = 120;

/// Bytes of storage ids one status may carry: a status probe must fit one datagram.
const STORAGE_ID_BUDGET: usize = 512;

impl Liveness {
    pub fn new(port: u16) -> Self {
        Self { port, epoch: Default::default(), member: Mutex::new(None), authkey: Mutex::default(), storages: Mutex::default(), running: Mutex::default(), usage: Mutex::default() }
    }

    fn member(&self) -> std::sync::MutexGuard<'_, Option<Gossip>> {
        self.member.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nodes gossip holds alive, and `me`.
    pub fn online(&self, me: &str) -> BTreeSet<String> {
        let mut out = self.member().as_ref().map(|g| g.alive()).unwrap_or_default();
        out.insert(me.to_string());
        out
    }

    /// `online`, `offline` or `unknown` for another configured node, as `/cluster/resources`
    /// and `/nodes` say it: unknown while gossip cannot tell yet (its member has not started,
    /// or has not had the time to hear the node), so a console never shows a node down that
    /// nobody has found down.
    pub fn state_of(peers: &[PeerView], node: &str) -> &'static str {
        match peers.iter().find(|p| p.node == node) {
            Some(p) if p.alive => "online",
            Some(p) if p.known => "offline",
            _ => "unknown",
        }
    }

    /// What gossip knows of every other configured node (empty while not clustered).
    pub fn peers(&self) -> Vec<PeerView> {
        self.member().as_ref().map(|g| g.peers()).unwrap_or_default()
    }

    pub fn counters(&self) -> Option<CounterSnapshot> {
        self.member().as_ref().map(|g| g.counters())
    }

    /// The gossip address the member is bound to, if it runs.
    pub fn bound(&self) -> Option<SocketAddr> {
        self.member().as_ref().map(|g| g.local_addr())
    }

    /// What this node publishes about itself.
    pub fn status(&self) -> NodeStatus {
        let usage = *self.usage.lock().unwrap_or_else(|p| p.into_inner());
        NodeStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            load: crate::host::proc_stats::read_loadavg()[0],
            uptime: crate::host::proc_stats::read_uptime(),
            epoch: self.epoch.load(std::sync::atomic::Ordering::Relaxed),
            storages: self.storages.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            running: self.running.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            cpu: usage.0,
            maxcpu: usage.1,
            mem: usage.2,
            maxmem: usage.3,
        }
    }

    /// Publish the guests running here (peers show any beyond the budget as unknown).
    pub fn set_running(&self, mut running: Vec<u32>) {
        running.truncate(RUNNING_BUDGET);
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = running;
    }

    /// Publish this node's storage checks to its peers (as many as fit a datagram; peers show
    /// the rest as unknown).
    pub fn set_storages(&self, mut storages: Vec<StorageUsage>) {
        let mut budget = STORAGE_ID_BUDGET;
        storages.retain(|s| {
            let fits = s.id.len() <= budget;
            budget = budget.saturating_sub(s.id.len());
            fits
        });
        *self.storages.lock().unwrap_or_else(|p| p.into_inner()) = storages;
    }

    pub async fn run(self: std::sync::Arc<Self>, db: SqlitePool, me: String, stats: std::sync::Arc<crate::node_stats::NodeStats>) {
        let mut ticker = tokio::time::interval(SYNC_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut errors = crate::changed_error::ChangedError::default();
        loop {
            ticker.tick().await;
            let s = stats.status();
            *self.usage.lock().unwrap_or_else(|p| p.into_inner()) = (s.cpu, s.cpuinfo.cpus, s.memory.used, s.memory.total);
            errors.note("gossip", self.sync(&db, &me).await);
        }
    }

    async fn sync(&self, db: &SqlitePool, me: &str) -> anyhow::Result<()> {
        self.epoch.store(super::epoch::current(db).await, std::sync::atomic::Ordering::Relaxed);
        let config = ClusterConfig::load(db).await?;
        let Some(config) = config.filter(|c| c.node(me).is_some()) else {
            self.member().take();
            return Ok(());
        };
        let node = config.node(me).expect("checked above");
        let bind = gossip_addr(node).ok_or_else(|| anyhow::anyhow!("node {me} has no link 0 address"))?;
        let authkey = read_authkey(db).await?;
        if self.bound() != Some(bind) {
            self.member().take();
            let gossip = Gossip::start(GossipConfig { node: me.to_string(), bind, authkey: authkey.clone(), status: self.status() })
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind UDP {bind}: {e}"))?;
            tracing::info!(%bind, "gossip member started");
            *self.member() = Some(gossip);
            *self.authkey.lock().unwrap_or_else(|p| p.into_inner()) = authkey;
        } else {
            // A new authkey (a node was removed): switch, taking the old one a while longer.
            let mut current = self.authkey.lock().unwrap_or_else(|p| p.into_inner());
            if *current != authkey {
                if let Some(g) = self.member().as_ref() {
                    g.set_key(authkey.clone());
                    tracing::info!("gossip key replaced");
                }
                *current = authkey;
            }
        }
        let peers = config.nodes.iter().filter(|n| n.name != me).filter_map(|n| Some((n.name.clone(), gossip_addr(n)?))).collect();
        if let Some(g) = self.member().as_ref() {
            g.set_peers(peers);
            g.set_status(self.status());
        }
        Ok(())
    }
}

fn gossip_addr(node: &super::config::ClusterNode) -> Option<SocketAddr> {
    Some(SocketAddr::new(node.links.get(&0)?.address, node.gossip_port))
}

async fn read_authkey(db: &SqlitePool) -> anyhow::Result<Vec<u8>> {
    let value = corral_consensus::read(db, KEY_AUTHKEY).await?.ok_or_else(|| anyhow::anyhow!("the cluster authkey is not in the store yet"))?;
    let text = value.as_str().ok_or_else(|| anyhow::anyhow!("the cluster authkey is not a string"))?;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}
