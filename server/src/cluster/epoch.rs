//! Cluster epochs: `corral cluster expected N` (PVE's `pvecm expected`) and what follows it.
//!
//! Forcing expected votes is an unsafe recovery: the node starts a new Raft group whose only
//! voter is itself, keeping the configuration it has, and bumps the cluster epoch. Nodes of the
//! old epoch must then never decide anything with it: node-to-node Raft calls carry the
//! sender's epoch and are refused across epochs, and a node that learns of a peer with a newer
//! epoch throws away its store and has itself added back by that peer, receiving the current
//! configuration. Expected votes are the votes of the Raft voters, so they climb back to the
//! full count as the old nodes return.
//!
//! Gossip only hints at a newer epoch: anyone holding the authkey (a former member, a backup)
//! can seal a status that claims one. Before a node gives up its store it asks the peer itself
//! over the node channel — at the address its own configuration has for that member, under
//! mutual TLS with the member's cluster certificate — and resyncs only if the member says so.
//! A refused or failed resync is tried again later and later (1 s doubling to a minute).

use std::collections::BTreeMap;
use std::time::Duration;

use corral_consensus::{Command, NodeAddr, Op};
use serde_json::json;
use sqlx::SqlitePool;

use super::config::KEY_CONFIG;
use super::{quorum, ClusterConfig, ClusterError};
use crate::cluster_log;
use crate::state::AppState;

pub const KEY_EPOCH: &str = "cluster/epoch";
/// Header on node-to-node calls: the sender's epoch.
pub const EPOCH_HEADER: &str = "X-Corral-Epoch";
const RESYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// Start-up and the watcher may both decide to resync (or start Raft): one at a time.
static STORE_CHANGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn replicated_epoch(value: Option<serde_json::Value>) -> u64 {
    value.and_then(|v| v.as_u64()).unwrap_or(0)
}

/// This node's epoch: the replicated one, or the one it is moving to (set before its store is
/// replaced, so the new epoch's leader is accepted while the copy arrives).
pub async fn current(db: &SqlitePool) -> u64 {
    let replicated = corral_consensus::read(db, KEY_EPOCH).await.ok().flatten().and_then(|v| v.as_u64()).unwrap_or(0);
    let floor: Option<String> = sqlx::query_scalar("SELECT value FROM local_state WHERE name = 'epoch_floor'").fetch_optional(db).await.ok().flatten();
    replicated.max(floor.and_then(|f| f.parse().ok()).unwrap_or(0))
}

async fn set_floor(db: &SqlitePool, epoch: u64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO local_state (name, value) VALUES ('epoch_floor', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        .bind(epoch.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// `expected N`: only without quorum, only if the nodes present can reach quorum of N.
pub async fn force_expected(state: &AppState, expected: u32, user: &str) -> Result<String, ClusterError> {
    let config = ClusterConfig::load(&state.db).await?.ok_or_else(|| ClusterError::Refused("this node is not in a cluster".into()))?;
    if state.sees_quorum(&config).await {
        return Err(ClusterError::Refused("the cluster is quorate; expected votes can only be forced on a node without quorum".into()));
    }
    let total = config.expected_votes();
    if expected == 0 || expected > total {
        return Err(ClusterError::Refused(format!("expected votes must be between 1 and {total}, the votes of all configured nodes")));
    }
    let me = config.node(state.node.as_str()).cloned().ok_or_else(|| ClusterError::Refused("this node is not in the cluster configuration".into()))?;
    if !quorum::is_quorate(me.votes, expected) {
        return Err(ClusterError::Refused(format!("this node's {} vote(s) are not a quorum of {expected} expected votes", me.votes)));
    }
    let epoch = current(&state.db).await + 1;
    set_floor(&state.db, epoch).await?;
    let addr = NodeAddr { name: me.name.clone(), api: me.api.clone(), fingerprint: me.fingerprint.clone() };
    state.cluster.restart_alone(me.nodeid, addr).await?;
    let mut config = config;
    config.config_version += 1;
    let value = serde_json::to_value(&config).map_err(|e| ClusterError::Store(e.to_string()))?;
    state.cluster.write(Command::new(vec![Op::Put { key: KEY_EPOCH.into(), value: json!(epoch) }, Op::Put { key: KEY_CONFIG.into(), value }])).await?;
    state.cluster.compact().await?;
    let text = format!(
        "expected votes forced to {expected} by {user}: this node alone forms the configuration store, cluster epoch {epoch}; the other nodes resync when they return"
    );
    cluster_log::append(state, cluster_log::PRI_WARNING, "corral", user, &text).await;
    tracing::warn!("{text}");
    Ok(text)
}

/// The epoch `peer` holds, asked over the node channel (not what gossip says it holds).
async fn proven_epoch(state: &AppState, peer: &NodeAddr) -> anyhow::Result<u64> {
    state.cluster.call::<_, u64>(peer, "epoch", &(), Duration::from_secs(5)).await
}

/// This node's replicated epoch, for a member asking over the node channel.
pub async fn replicated(db: &SqlitePool) -> u64 {
    replicated_epoch(corral_consensus::read(db, KEY_EPOCH).await.ok().flatten())
}

/// Replace this node's store with the cluster's as `peer` (of a newer epoch) has it — once
/// `peer` itself has confirmed that epoch over the node channel.
pub async fn resync(state: &AppState, peer: &NodeAddr, epoch: u64) -> anyhow::Result<()> {
    let _one_at_a_time = STORE_CHANGE.lock().await;
    if replicated_epoch(corral_consensus::read(&state.db, KEY_EPOCH).await?) >= epoch {
        return Ok(()); // done meanwhile
    }
    let proven = proven_epoch(state, peer).await.map_err(|e| anyhow::anyhow!("asking {} for its cluster epoch: {e:#}", peer.name))?;
    if proven < epoch {
        let text = format!("ignored cluster epoch {epoch} claimed for {} in gossip: {} holds epoch {proven}", peer.name, peer.name);
        cluster_log::append(state, cluster_log::PRI_WARNING, "corral", "root@pam", &text).await;
        anyhow::bail!(text);
    }
    let config = ClusterConfig::load(&state.db).await?.ok_or_else(|| anyhow::anyhow!("not in a cluster"))?;
    let me = config.node(state.node.as_str()).cloned().ok_or_else(|| anyhow::anyhow!("not in the cluster configuration"))?;
    tracing::warn!(peer = %peer.name, epoch, "this node's configuration store is from an older cluster epoch; discarding it and resyncing");
    set_floor(&state.db, epoch).await?;
    // The old tree stays readable (and names the peers, should this attempt fail) until the
    // new epoch's snapshot replaces all of it.
    state.cluster.reset_raft().await?;
    state.cluster.start_member(me.nodeid).await?;
    let addr = NodeAddr { name: me.name.clone(), api: me.api.clone(), fingerprint: me.fingerprint.clone() };
    state.cluster.call::<_, Result<(), String>>(peer, "membership", &super::raft_node::MembershipChange::AddVoter(me.nodeid, addr), RESYNC_TIMEOUT).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    let deadline = tokio::time::Instant::now() + RESYNC_TIMEOUT;
    while replicated_epoch(corral_consensus::read(&state.db, KEY_EPOCH).await?) < epoch || ClusterConfig::load(&state.db).await?.is_none() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the configuration did not arrive within {RESYNC_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster_log::append(state, cluster_log::PRI_INFO, "corral", "root@pam", &format!("resynced from {} after rejoining in cluster epoch {epoch}", peer.name)).await;
    Ok(())
}

/// How long a restarting member waits to hear its peers' epochs before starting its Raft.
const STARTUP_LISTEN: Duration = Duration::from_secs(3);

/// Start this member's Raft after a restart, unless gossip shows the cluster moved to a newer
/// epoch meanwhile (`expected` ran elsewhere): then resync instead, so that a returning node
/// never takes part in the old epoch's elections.
pub async fn start_store(state: AppState) {
    let Some(id) = state.cluster.pending_start().await else { return };
    let deadline = tokio::time::Instant::now() + STARTUP_LISTEN;
    while tokio::time::Instant::now() < deadline {
        let Ok(Some(config)) = ClusterConfig::load(&state.db).await else { break };
        let heard = state.liveness.peers();
        let all_heard = config.nodes.iter().filter(|n| n.name != state.node.as_str()).all(|n| heard.iter().any(|p| p.node == n.name && p.status.is_some()));
        if all_heard {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some((epoch, peer)) = newer_peer(&state).await {
        match resync(&state, &peer, epoch).await {
            Ok(()) => return,
            // The watcher below retries while the newer peer is in sight.
            Err(err) => tracing::warn!("resync from {} at start-up failed: {err:#}", peer.name),
        }
        return;
    }
    let _one_at_a_time = STORE_CHANGE.lock().await;
    if state.cluster.raft().await.is_some() {
        return; // the watcher resynced meanwhile
    }
    if let Err(err) = state.cluster.resume(id).await {
        tracing::error!("starting the configuration store failed: {err:#}");
        let what = format!("starting the configuration store failed: {err:#}");
        crate::cluster_log::append(&state, crate::cluster_log::PRI_WARNING, "corral", "root@pam", &what).await;
    }
}

/// The alive peer with the newest epoch, if it is newer than the one this node's store holds
/// (a resync that did not finish leaves the store behind, so it is tried again).
async fn newer_peer(state: &AppState) -> Option<(u64, NodeAddr)> {
    let mine = replicated_epoch(corral_consensus::read(&state.db, KEY_EPOCH).await.ok().flatten());
    let newer: BTreeMap<u64, String> =
        state.liveness.peers().into_iter().filter(|p| p.alive).filter_map(|p| Some((p.status?.epoch, p.node))).filter(|(e, _)| *e > mine).collect();
    let (epoch, name) = newer.into_iter().next_back()?;
    let config = ClusterConfig::load(&state.db).await.ok()??;
    let node = config.node(&name)?;
    Some((epoch, NodeAddr { name: node.name.clone(), api: node.api.clone(), fingerprint: node.fingerprint.clone() }))
}

/// Watch gossip for peers of a newer epoch and resync from one; a peer whose resync failed or
/// was refused is tried again after 1 s, 2 s, 4 s … up to a minute.
pub async fn watch(state: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff: BTreeMap<String, (tokio::time::Instant, Duration)> = BTreeMap::new();
    loop {
        ticker.tick().await;
        let Some((epoch, peer)) = newer_peer(&state).await else { continue };
        let now = tokio::time::Instant::now();
        if backoff.get(&peer.name).is_some_and(|(until, _)| now < *until) {
            continue;
        }
        match resync(&state, &peer, epoch).await {
            Ok(()) => {
                backoff.remove(&peer.name);
            }
            Err(err) => {
                let wait = backoff.get(&peer.name).map_or(Duration::from_secs(1), |(_, w)| (*w * 2).min(Duration::from_secs(60)));
                tracing::warn!("resync from {} failed: {err:#}; next attempt in {} s", peer.name, wait.as_secs());
                backoff.insert(peer.name.clone(), (now + wait, wait));
            }
        }
    }
}
