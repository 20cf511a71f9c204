//! The cluster log (PVE's `/cluster/log`): short, human-readable entries about who did what.
//! Every node keeps its latest [`KEPT`] entries in the `cluster_log` table (older ones are
//! pruned as new ones arrive, as PVE's fixed-size clog ring drops them). In a cluster it also
//! publishes its latest [`PUBLISHED`] entries to the replicated store (`clusterlog/<node>`) —
//! one key per node, so the store's share is bounded too — best effort: without quorum the
//! entries wait for the next publication. Publication is coalesced (a burst of entries costs
//! one write), and routine entries (logins) do not ask for one of their own: they go out with
//! the next entry or within [`PUBLISH_AT_LEAST`]. `/cluster/log` merges all nodes.

use corral_api_types::cluster::ClusterLogEntry;
use sqlx::SqlitePool;

use crate::auth::unix_now;
use crate::events::Event;
use crate::state::AppState;

pub const PRI_WARNING: u8 = 4;
pub const PRI_INFO: u8 = 6;
/// How many of its latest entries each node publishes.
pub const PUBLISHED: i64 = 50;
/// How many entries each node keeps in its own table.
pub const KEPT: i64 = 5000;
/// Shortest time between two publications of this node's entries.
const PUBLISH_SPACING: std::time::Duration = std::time::Duration::from_millis(250);
/// Entries that did not ask for a publication go out at least this often.
pub const PUBLISH_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(30);

/// Wakes this node's publisher; shared by everything that appends.
#[derive(Default)]
pub struct Publisher {
    wake: tokio::sync::Notify,
}

/// Where each node publishes its latest entries in the replicated store.
pub const PREFIX: &str = "clusterlog/";

fn store_key(node: &str) -> String {
    format!("{PREFIX}{node}")
}

/// Add an entry and have it published soon.
pub async fn append(state: &AppState, pri: u8, tag: &str, user: &str, msg: &str) {
    if insert(state, pri, tag, user, msg).await {
        state.cluster_log.wake.notify_one();
    }
}

/// Add a routine entry (a login): it costs no store write of its own.
pub async fn append_quietly(state: &AppState, pri: u8, tag: &str, user: &str, msg: &str) {
    insert(state, pri, tag, user, msg).await;
}

async fn insert(state: &AppState, pri: u8, tag: &str, user: &str, msg: &str) -> bool {
    let result = sqlx::query("INSERT INTO cluster_log (time, pri, tag, pid, node, user, msg) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(unix_now())
        .bind(i64::from(pri))
        .bind(tag)
        .bind(i64::from(std::process::id()))
        .bind(state.node.as_str())
        .bind(user)
        .bind(msg)
        .execute(&state.db)
        .await;
    match result {
        Ok(done) => {
            let _ = sqlx::query("DELETE FROM cluster_log WHERE uid <= ? - ?").bind(done.last_insert_rowid()).bind(KEPT).execute(&state.db).await;
            let _ = state.events.send(Event::ClusterLog);
            true
        }
        Err(err) => {
            tracing::warn!(%err, "could not write cluster log");
            false
        }
    }
}

/// Publish this node's latest entries whenever asked (at most every [`PUBLISH_SPACING`]) and
/// at least every [`PUBLISH_AT_LEAST`] while some are unpublished.
pub async fn run_publisher(state: AppState) {
    let mut published = 0;
    loop {
        tokio::select! {
            _ = state.cluster_log.wake.notified() => {}
            _ = tokio::time::sleep(PUBLISH_AT_LEAST) => {}
        }
        let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(uid), 0) FROM cluster_log").fetch_one(&state.db).await.unwrap_or(0);
        if newest > published && publish(&state).await {
            published = newest;
        }
        tokio::time::sleep(PUBLISH_SPACING).await;
    }
}

/// Whether this node's latest entries are in the store now.
async fn publish(state: &AppState) -> bool {
    // Without quorum the write would only wait out its timeout; a later round takes them along.
    let Ok(Some(config)) = crate::cluster::ClusterConfig::load(&state.db).await else { return false };
    if !state.sees_quorum(&config).await {
        return false;
    }
    let Ok(latest) = local(&state.db, PUBLISHED).await else { return false };
    let Ok(value) = serde_json::to_value(latest) else { return false };
    let command = corral_consensus::Command::put(store_key(state.node.as_str()), value);
    match state.cluster.write(command).await {
        Ok(_) => true,
        Err(err) => {
            tracing::debug!(%err, "cluster log entries stay local for now");
            false
        }
    }
}

async fn local(db: &SqlitePool, max: i64) -> sqlx::Result<Vec<ClusterLogEntry>> {
    let rows: Vec<(i64, i64, i64, String, i64, String, String, String)> =
        sqlx::query_as("SELECT uid, time, pri, tag, pid, node, user, msg FROM cluster_log ORDER BY uid DESC LIMIT ?")
            .bind(max)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(uid, time, pri, tag, pid, node, user, msg)| ClusterLogEntry {
            id: format!("{uid}:{node}"),
            uid,
            time,
            pri: pri.clamp(0, 7) as u8,
            tag,
            pid,
            node,
            user,
            msg,
        })
        .collect())
}

/// The newest `max` entries of this node and of every other node that published, newest first.
pub async fn recent(db: &SqlitePool, me: &str, max: i64) -> sqlx::Result<Vec<ClusterLogEntry>> {
    let mut all = local(db, max).await?;
    for (key, value) in corral_consensus::read_prefix(db, PREFIX).await? {
        if key == store_key(me) {
            continue;
        }
        if let Ok(entries) = serde_json::from_value::<Vec<ClusterLogEntry>>(value) {
            all.extend(entries);
        }
    }
    all.sort_by(|a, b| b.time.cmp(&a.time).then(b.uid.cmp(&a.uid)));
    all.dedup_by(|a, b| a.id == b.id);
    all.truncate(max.max(0) as usize);
    Ok(all)
}
