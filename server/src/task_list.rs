//! Cluster-wide task list (PVE's `/cluster/tasks`): every node publishes its running tasks and
//! its latest finished ones to the replicated store under `tasklist/<node>` (best effort, as
//! pvestatd broadcasts its task list), and `/cluster/tasks` merges them with the local index.
//! A task's log stays on its node; `/nodes/{node}/tasks/{upid}/log` is forwarded there.

use std::sync::Arc;

use corral_api_types::cluster::TaskSummary;
use corral_consensus::Command;
use sqlx::SqlitePool;
use tokio::sync::broadcast;

use crate::cluster::ClusterHandle;
use crate::events::Event;
use crate::tasks::TaskRunner;

pub const PREFIX: &str = "tasklist/";
/// How many of its latest tasks a node publishes (running ones always).
pub const PUBLISHED: i64 = 25;
/// How many `/cluster/tasks` lists, as PVE's GUI asks for.
pub const LISTED: usize = 50;

fn key(node: &str) -> String {
    format!("{PREFIX}{node}")
}

/// Publish this node's task list whenever a task starts or ends, if it changed since the last
/// publication (the store announces the write as a `tasks` event, which must not loop).
pub async fn publish(tasks: Arc<TaskRunner>, cluster: Arc<ClusterHandle>, node: String, mut events: broadcast::Receiver<Event>) {
    let mut last: Option<Vec<TaskSummary>> = None;
    loop {
        match events.recv().await {
            Ok(Event::Tasks) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
        if cluster.raft().await.is_none() {
            continue;
        }
        let Ok(mine) = tasks.recent(PUBLISHED).await else { continue };
        let mine: Vec<TaskSummary> = mine.into_iter().filter(|t| t.node == node).collect();
        if last.as_ref() == Some(&mine) {
            continue;
        }
        let Ok(value) = serde_json::to_value(&mine) else { continue };
        match cluster.write(Command::put(key(&node), value)).await {
            Ok(_) => last = Some(mine),
            Err(err) => tracing::debug!(%err, "task list stays local for now"),
        }
    }
}

/// This node's tasks and every other node's published ones: running first, then newest.
pub async fn merged(db: &SqlitePool, tasks: &TaskRunner, me: &str) -> sqlx::Result<Vec<TaskSummary>> {
    let mut all = tasks.recent(LISTED as i64).await?;
    for (k, value) in corral_consensus::read_prefix(db, PREFIX).await? {
        if k == key(me) {
            continue;
        }
        if let Ok(list) = serde_json::from_value::<Vec<TaskSummary>>(value) {
            all.extend(list.into_iter().take(PUBLISHED as usize));
        }
    }
    sort(&mut all);
    Ok(all)
}

/// Running first, then newest; a task listed twice keeps its first entry (this node's own
/// index comes first, and may know it finished before its published copy does).
fn sort(all: &mut Vec<TaskSummary>) {
    let mut seen = std::collections::HashSet::new();
    all.retain(|t| seen.insert(t.upid.clone()));
    all.sort_by(|a, b| a.endtime.is_some().cmp(&b.endtime.is_some()).then(b.starttime.cmp(&a.starttime)).then(a.upid.cmp(&b.upid)));
    all.truncate(LISTED);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(upid: &str, start: i64, end: Option<i64>) -> TaskSummary {
        TaskSummary { upid: upid.into(), node: "n".into(), pid: 1, pstart: 1, starttime: start, kind: "k".into(), id: String::new(), user: "root@pam".into(), endtime: end, status: end.map(|_| "OK".into()) }
    }

    #[test]
    fn running_tasks_come_first_then_the_newest() {
        let mut all = vec![task("a", 10, Some(11)), task("b", 5, None), task("c", 20, Some(21)), task("a", 10, None)];
        sort(&mut all);
        assert_eq!(all.iter().map(|t| (t.upid.as_str(), t.endtime)).collect::<Vec<_>>(), [("b", None), ("c", Some(21)), ("a", Some(11))]);
    }
}
