//! The cluster log (PVE's `/cluster/log`): short, human-readable entries about who did what.
//! Every node keeps its own entries in the `cluster_log` table. In a cluster it also publishes
//! its latest entries to the replicated store (`clusterlog/<node>`), best effort: without quorum
//! the entry stays local and goes out with the next one. `/cluster/log` merges all nodes.

use corral_api_types::cluster::ClusterLogEntry;
use sqlx::SqlitePool;

use crate::auth::unix_now;
use crate::events::Event;
use crate::state::AppState;

pub const PRI_WARNING: u8 = 4;
pub const PRI_INFO: u8 = 6;
/// How many of its latest entries each node publishes.
pub const PUBLISHED: i64 = 50;

/// Where each node publishes its latest entries in the replicated store.
pub const PREFIX: &str = "clusterlog/";

fn store_key(node: &str) -> String {
    format!("{PREFIX}{node}")
}

pub async fn append(state: &AppState, pri: u8, tag: &str, user: &str, msg: &str) {
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
        Ok(_) => {
            let _ = state.events.send(Event::ClusterLog);
            let state = state.clone();
            tokio::spawn(async move { publish(&state).await });
        }
        Err(err) => tracing::warn!(%err, "could not write cluster log"),
    }
}

async fn publish(state: &AppState) {
    // Without quorum the write would only wait out its timeout; the next entry takes this one along.
    let Ok(Some(config)) = crate::cluster::ClusterConfig::load(&state.db).await else { return };
    if !state.sees_quorum(&config).await {
        return;
    }
    let Ok(latest) = local(&state.db, PUBLISHED).await else { return };
    let Ok(value) = serde_json::to_value(latest) else { return };
    let command = corral_consensus::Command::put(store_key(state.node.as_str()), value);
    if let Err(err) = state.cluster.write(command).await {
        tracing::debug!(%err, "cluster log entry stays local for now");
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
