//! The cluster log (PVE's `/cluster/log`): short, human-readable entries about who did what.
//! Node-local for a standalone node; replicated once the node is in a cluster.

use corral_api_types::cluster::ClusterLogEntry;
use sqlx::SqlitePool;

use crate::auth::unix_now;
use crate::events::Event;
use crate::state::AppState;

pub const PRI_INFO: u8 = 6;

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
        }
        Err(err) => tracing::warn!(%err, "could not write cluster log"),
    }
}

pub async fn recent(db: &SqlitePool, max: i64) -> sqlx::Result<Vec<ClusterLogEntry>> {
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
