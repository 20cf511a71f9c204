//! Who is alive, until SWIM gossip takes over: every node pings every other configured node
//! each second over the authenticated node-to-node channel, and a node counts as online while
//! its last ping is younger than [`ONLINE_WINDOW`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;

use super::network::node_call;
use super::ClusterConfig;

pub const PING_INTERVAL: Duration = Duration::from_secs(1);
pub const ONLINE_WINDOW: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct Liveness {
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl Liveness {
    pub fn saw(&self, node: &str) {
        self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(node.to_string(), Instant::now());
    }

    /// Nodes seen within the window, and `me`.
    pub fn online(&self, me: &str) -> BTreeSet<String> {
        let now = Instant::now();
        let mut out: BTreeSet<String> =
            self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(_, t)| now.duration_since(**t) < ONLINE_WINDOW).map(|(n, _)| n.clone()).collect();
        out.insert(me.to_string());
        out
    }

    pub async fn run(self: std::sync::Arc<Self>, db: SqlitePool, me: String) {
        let mut ticker = tokio::time::interval(PING_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Ok(Some(config)) = ClusterConfig::load(&db).await else { continue };
            for node in config.nodes.iter().filter(|n| n.name != me) {
                let peer = corral_consensus::NodeAddr { name: node.name.clone(), api: node.api.clone(), fingerprint: node.fingerprint.clone() };
                let (db, me, name, live) = (db.clone(), me.clone(), node.name.clone(), self.clone());
                tokio::spawn(async move {
                    if node_call::<_, String>(&db, &peer, "ping", &me, ONLINE_WINDOW).await.is_ok() {
                        live.saw(&name);
                    }
                });
            }
        }
    }
}
