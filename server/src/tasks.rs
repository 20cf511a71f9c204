//! Tasks: long-running work with a UPID, a log file the GUI can follow and a final status line
//! (`TASK OK` / `TASK ERROR: …`), as PVE keeps them. Logs live in `<data>/tasks/<X>/<UPID>`
//! where X is the last hex digit of the start time; the index lives in the `tasks` table.
//! A daemon that restarts marks tasks it did not finish as `unexpected status`. The history is
//! bounded: each node keeps its newest [`KEPT`] finished tasks, index rows and log files alike.
//! A task whose log cannot be written (disk full) ends in error rather than pretending.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use corral_api_types::cluster::TaskSummary;
use corral_api_types::{NodeName, Upid, Userid};
use sqlx::SqlitePool;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex as AsyncMutex;

use crate::auth::unix_now;
use crate::events::Event;

/// Finished tasks each node keeps (PVE rotates its task archive too).
pub const KEPT: i64 = 2000;

/// Where a task writes its log.
#[derive(Clone)]
pub struct TaskLog {
    file: Arc<AsyncMutex<tokio::fs::File>>,
    /// The first write that failed: the task then ends in error with it.
    failure: Arc<Mutex<Option<String>>>,
}

impl TaskLog {
    pub async fn line(&self, text: impl AsRef<str>) {
        let mut file = self.file.lock().await;
        let mut result = Ok(());
        for line in text.as_ref().lines() {
            result = result.and(file.write_all(format!("{line}\n").as_bytes()).await);
        }
        if let Err(err) = result.and(file.flush().await) {
            self.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| format!("writing the task log failed: {err}"));
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub struct TaskRunner {
    node: NodeName,
    dir: PathBuf,
    db: SqlitePool,
    events: tokio::sync::broadcast::Sender<Event>,
    pstart: u64,
    next: AtomicU32,
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Finished tasks kept ([`KEPT`]; fewer in tests).
    keep: i64,
}

/// The process start time in clock ticks since boot (field 22 of /proc/self/stat), PVE's pstart.
fn process_start_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    stat.rsplit_once(')').map(|(_, rest)| rest).and_then(|rest| rest.split_whitespace().nth(19)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn log_path(dir: &Path, upid: &Upid) -> PathBuf {
    dir.join(format!("{:X}", upid.starttime & 0xF)).join(upid.to_string())
}

impl TaskRunner {
    pub async fn new(node: NodeName, data_dir: &Path, db: SqlitePool, events: tokio::sync::broadcast::Sender<Event>) -> anyhow::Result<Self> {
        let dir = data_dir.join("tasks");
        tokio::fs::create_dir_all(&dir).await?;
        sqlx::query("UPDATE tasks SET status = 'unexpected status', endtime = ? WHERE status IS NULL AND node = ?")
            .bind(unix_now())
            .bind(node.as_str())
            .execute(&db)
            .await?;
        Ok(Self {
            node,
            dir,
            db,
            events,
            pstart: process_start_ticks(),
            next: AtomicU32::new(std::process::id()),
            running: Mutex::new(HashMap::new()),
            keep: KEPT,
        })
    }

    #[cfg(test)]
    fn keeping(mut self, keep: i64) -> Self {
        self.keep = keep;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start `work` as a task; its `Err` text becomes `TASK ERROR: …`. Returns at once.
    pub async fn spawn<F, Fut>(self: &Arc<Self>, kind: &str, id: &str, user: &Userid, work: F) -> anyhow::Result<Upid>
    where
        F: FnOnce(TaskLog) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        anyhow::ensure!(Upid::valid_field(kind) && Upid::valid_field(id), "invalid task type or id");
        let upid = Upid {
            node: self.node.clone(),
            // One daemon runs every task, so the pid field counts tasks to keep UPIDs unique.
            pid: self.next.fetch_add(1, Ordering::Relaxed),
            pstart: self.pstart,
            starttime: unix_now(),
            kind: kind.to_string(),
            id: id.to_string(),
            user: user.clone(),
        };
        let path = log_path(&self.dir, &upid);
        tokio::fs::create_dir_all(path.parent().unwrap_or(&self.dir)).await?;
        let file = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await?;
        sqlx::query("INSERT INTO tasks (upid, node, pid, pstart, starttime, type, id, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(upid.to_string())
            .bind(upid.node.as_str())
            .bind(i64::from(upid.pid))
            .bind(upid.pstart as i64)
            .bind(upid.starttime)
            .bind(&upid.kind)
            .bind(&upid.id)
            .bind(upid.user.as_str())
            .execute(&self.db)
            .await?;
        let log = TaskLog { file: Arc::new(AsyncMutex::new(file)), failure: Arc::default() };
        let runner = self.clone();
        let task_upid = upid.clone();
        let handle = tokio::spawn(async move {
            let result = work(log.clone()).await;
            // A task whose log is lost did not do what its log says; say so.
            let result = result.and_then(|()| log.failure().map_or(Ok(()), |why| Err(anyhow::anyhow!(why))));
            let status = match &result {
                Ok(()) => "OK".to_string(),
                Err(err) => format!("{err:#}").lines().next().unwrap_or("error").to_string(),
            };
            match &result {
                Ok(()) => log.line("TASK OK").await,
                Err(_) => log.line(format!("TASK ERROR: {status}")).await,
            }
            runner.finish(&task_upid, &status).await;
        });
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(upid.to_string(), handle.abort_handle());
        let _ = self.events.send(Event::Tasks);
        Ok(upid)
    }

    /// Record the end; while the database refuses (a full disk), keep trying, so the task does
    /// not stay "running" once there is room again.
    async fn finish(&self, upid: &Upid, status: &str) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&upid.to_string());
        let endtime = unix_now();
        let mut wait = std::time::Duration::from_millis(200);
        loop {
            let result = sqlx::query("UPDATE tasks SET endtime = ?, status = ? WHERE upid = ?")
                .bind(endtime)
                .bind(status)
                .bind(upid.to_string())
                .execute(&self.db)
                .await;
            match result {
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(%err, %upid, "could not record the task's end; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(30));
                }
            }
        }
        let _ = self.events.send(Event::Tasks);
        if let Err(err) = self.prune().await {
            tracing::warn!(%err, "could not prune the task history");
        }
    }

    /// Forget finished tasks beyond the newest kept ones: their rows and their log files.
    async fn prune(&self) -> sqlx::Result<()> {
        let old: Vec<String> = sqlx::query_scalar("SELECT upid FROM tasks WHERE status IS NOT NULL ORDER BY starttime DESC, pid DESC LIMIT -1 OFFSET ?")
            .bind(self.keep)
            .fetch_all(&self.db)
            .await?;
        for text in old {
            if let Ok(upid) = Upid::parse(&text) {
                let _ = tokio::fs::remove_file(log_path(&self.dir, &upid)).await;
            }
            sqlx::query("DELETE FROM tasks WHERE upid = ?").bind(&text).execute(&self.db).await?;
        }
        Ok(())
    }

    /// Abort a running task (`DELETE /nodes/{node}/tasks/{upid}`); false if it was not running.
    pub async fn stop(&self, upid: &Upid) -> bool {
        let handle = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&upid.to_string());
        let Some(handle) = handle else { return false };
        handle.abort();
        if let Ok(mut f) = tokio::fs::OpenOptions::new().append(true).open(log_path(&self.dir, upid)).await {
            let _ = f.write_all(b"received interrupt\nTASK ERROR: interrupted by signal\n").await;
        }
        self.finish(upid, "interrupted by signal").await;
        true
    }

    pub async fn find(&self, upid: &Upid) -> sqlx::Result<Option<TaskSummary>> {
        let row = sqlx::query_as::<_, TaskRow>("SELECT upid, node, pid, pstart, starttime, type, id, user, endtime, status FROM tasks WHERE upid = ?")
            .bind(upid.to_string())
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(TaskRow::into_summary))
    }

    /// The newest tasks, running and finished, without counting them all.
    pub async fn recent(&self, limit: i64) -> sqlx::Result<Vec<TaskSummary>> {
        self.select(&TaskFilter { source: Some("all".into()), ..TaskFilter::default() }, 0, limit).await
    }

    /// One page of the tasks `filter` keeps, newest first, and how many it keeps in all; the
    /// filtering and paging happen in SQL.
    pub async fn page(&self, filter: &TaskFilter, start: i64, limit: i64) -> sqlx::Result<(Vec<TaskSummary>, i64)> {
        let mut count = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM tasks WHERE 1 = 1");
        filter.push_where(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.db).await?;
        Ok((self.select(filter, start, limit).await?, total))
    }

    async fn select(&self, filter: &TaskFilter, start: i64, limit: i64) -> sqlx::Result<Vec<TaskSummary>> {
        let mut select = sqlx::QueryBuilder::new("SELECT upid, node, pid, pstart, starttime, type, id, user, endtime, status FROM tasks WHERE 1 = 1");
        filter.push_where(&mut select);
        select.push(" ORDER BY starttime DESC, pid DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(start);
        let rows: Vec<TaskRow> = select.build_query_as().fetch_all(&self.db).await?;
        Ok(rows.into_iter().map(TaskRow::into_summary).collect())
    }

    /// Lines `start..start + limit` of a task's log (numbered from 1) and its line count, read
    /// line by line: memory is bounded by the page, not by the log.
    pub async fn log_page(&self, upid: &Upid, start: u64, limit: u64) -> std::io::Result<(Vec<(u64, String)>, u64)> {
        use tokio::io::AsyncBufReadExt;
        let file = match tokio::fs::File::open(log_path(&self.dir, upid)).await {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(err) => return Err(err),
        };
        let mut lines = tokio::io::BufReader::new(file).lines();
        let (mut page, mut total) = (Vec::new(), 0u64);
        while let Some(line) = lines.next_line().await? {
            if total >= start && (page.len() as u64) < limit {
                page.push((total + 1, line));
            }
            total += 1;
        }
        Ok((page, total))
    }
}

/// PVE's task list filters, as SQL conditions.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    /// Only this user's tasks (a user without Sys.Audit on the node).
    pub only_user: Option<String>,
    pub userfilter: Option<String>,
    pub typefilter: Option<String>,
    pub vmid: Option<i64>,
    pub errors: bool,
    /// `active`: running only; `all`: both; otherwise (PVE's `archive`) finished only.
    pub source: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `running`, `ok`, `error`, comma-separated.
    pub statusfilter: Option<String>,
}

impl TaskFilter {
    fn push_where(&self, q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>) {
        if let Some(user) = &self.only_user {
            q.push(" AND user = ").push_bind(user.clone());
        }
        if let Some(part) = &self.userfilter {
            q.push(" AND instr(user, ").push_bind(part.clone()).push(") > 0");
        }
        if let Some(kind) = &self.typefilter {
            q.push(" AND type = ").push_bind(kind.clone());
        }
        if let Some(vmid) = self.vmid {
            // Guest tasks carry the VMID as their id (PVE's `vmid` filter).
            q.push(" AND id = ").push_bind(vmid.to_string());
        }
        if self.errors {
            q.push(" AND status IS NOT NULL AND status <> 'OK'");
        }
        match self.source.as_deref() {
            Some("active") => q.push(" AND status IS NULL"),
            Some("all") => q,
            _ => q.push(" AND status IS NOT NULL"),
        };
        if let Some(since) = self.since {
            q.push(" AND starttime >= ").push_bind(since);
        }
        if let Some(until) = self.until {
            q.push(" AND starttime <= ").push_bind(until);
        }
        if let Some(classes) = &self.statusfilter {
            let wanted: Vec<&str> = classes.split(',').map(str::trim).collect();
            q.push(" AND (0 = 1");
            if wanted.contains(&"running") {
                q.push(" OR status IS NULL");
            }
            if wanted.contains(&"ok") {
                q.push(" OR status = 'OK'");
            }
            if wanted.contains(&"error") {
                q.push(" OR (status IS NOT NULL AND status <> 'OK')");
            }
            q.push(")");
        }
    }
}

#[derive(sqlx::FromRow)]
struct TaskRow {
    upid: String,
    node: String,
    pid: i64,
    pstart: i64,
    starttime: i64,
    #[sqlx(rename = "type")]
    kind: String,
    id: String,
    user: String,
    endtime: Option<i64>,
    status: Option<String>,
}

impl TaskRow {
    fn into_summary(self) -> TaskSummary {
        TaskSummary {
            upid: self.upid,
            node: self.node,
            pid: self.pid as u32,
            pstart: self.pstart as u64,
            starttime: self.starttime,
            kind: self.kind,
            id: self.id,
            user: self.user,
            endtime: self.endtime,
            status: self.status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn runner(dir: &Path, keep: i64) -> Arc<TaskRunner> {
        let db = crate::db::open(&dir.join("t.db")).await.unwrap();
        let (events, _) = tokio::sync::broadcast::channel(16);
        Arc::new(TaskRunner::new(NodeName::parse("n1").unwrap(), dir, db, events).await.unwrap().keeping(keep))
    }

    async fn finished(runner: &TaskRunner, upid: &Upid) -> TaskSummary {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let task = runner.find(upid).await.unwrap();
            if let Some(task) = task.filter(|t| t.status.is_some()) {
                return task;
            }
            assert!(std::time::Instant::now() < deadline, "task {upid} never finished");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn the_history_keeps_the_newest_tasks_and_their_logs_only() {
        let dir = tempfile::tempdir().unwrap();
        let runner = runner(dir.path(), 3).await;
        let root = Userid::parse("root@pam").unwrap();
        let mut upids = Vec::new();
        for i in 0..6 {
            let upid = runner.spawn("test", &i.to_string(), &root, |log| async move { log.line("hello").await; Ok(()) }).await.unwrap();
            finished(&runner, &upid).await;
            upids.push(upid);
        }
        let (page, total) = runner.page(&TaskFilter::default(), 0, 50).await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(page.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["5", "4", "3"]);
        for (i, upid) in upids.iter().enumerate() {
            assert_eq!(log_path(runner.dir(), upid).exists(), i >= 3, "log of task {i}");
        }
    }

    #[tokio::test]
    async fn filters_and_pages_in_sql() {
        let dir = tempfile::tempdir().unwrap();
        let runner = runner(dir.path(), KEPT).await;
        let root = Userid::parse("root@pam").unwrap();
        let alice = Userid::parse("alice@pve").unwrap();
        for (user, kind, id, ok) in [(&root, "qmstart", "100", true), (&alice, "qmstop", "100", false), (&root, "qmstart", "101", true)] {
            let upid = runner.spawn(kind, id, user, move |_| async move { if ok { Ok(()) } else { Err(anyhow::anyhow!("boom")) } }).await.unwrap();
            finished(&runner, &upid).await;
        }
        let gate = Arc::new(tokio::sync::Notify::new());
        let hold = gate.clone();
        let running = runner.spawn("qmigrate", "102", &root, move |_| async move { hold.notified().await; Ok(()) }).await.unwrap();
        let ids = |page: Vec<TaskSummary>| page.into_iter().map(|t| t.id).collect::<Vec<_>>();
        let page = |f: TaskFilter| {
            let runner = runner.clone();
            async move { runner.page(&f, 0, 50).await.unwrap() }
        };
        assert_eq!(page(TaskFilter::default()).await.1, 3, "finished ones by default (PVE's archive)");
        assert_eq!(ids(page(TaskFilter { source: Some("active".into()), ..Default::default() }).await.0), ["102"]);
        assert_eq!(page(TaskFilter { source: Some("all".into()), ..Default::default() }).await.1, 4);
        assert_eq!(ids(page(TaskFilter { errors: true, ..Default::default() }).await.0), ["100"]);
        assert_eq!(ids(page(TaskFilter { vmid: Some(101), ..Default::default() }).await.0), ["101"]);
        assert_eq!(page(TaskFilter { only_user: Some("alice@pve".into()), ..Default::default() }).await.1, 1);
        assert_eq!(page(TaskFilter { userfilter: Some("root".into()), typefilter: Some("qmstart".into()), ..Default::default() }).await.1, 2);
        let f = TaskFilter { source: Some("all".into()), statusfilter: Some("running,error".into()), ..Default::default() };
        assert_eq!(ids(page(f).await.0), ["102", "100"]);
        assert_eq!(runner.recent(50).await.unwrap().first().map(|t| t.id.as_str()), Some("102"), "recent lists running tasks too");
        let (second, total) = runner.page(&TaskFilter::default(), 1, 1).await.unwrap();
        assert_eq!((ids(second), total), (vec!["100".to_string()], 3));
        gate.notify_one();
        finished(&runner, &running).await;
    }

    #[tokio::test]
    async fn a_log_page_is_read_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let runner = runner(dir.path(), KEPT).await;
        let root = Userid::parse("root@pam").unwrap();
        let upid = runner.spawn("test", "x", &root, |log| async move {
            for i in 1..=10 {
                log.line(format!("line {i}")).await;
            }
            Ok(())
        }).await.unwrap();
        finished(&runner, &upid).await;
        let (lines, total) = runner.log_page(&upid, 3, 4).await.unwrap();
        assert_eq!(total, 11, "ten lines and TASK OK");
        assert_eq!(lines, [(4, "line 4".to_string()), (5, "line 5".into()), (6, "line 6".into()), (7, "line 7".into())]);
    }

    #[tokio::test]
    async fn a_log_that_cannot_be_written_is_reported() {
        let file = tokio::fs::OpenOptions::new().append(true).open("/dev/full").await.unwrap();
        let log = TaskLog { file: Arc::new(AsyncMutex::new(file)), failure: Arc::default() };
        log.line("lost").await;
        assert!(log.failure().unwrap().starts_with("writing the task log failed"), "{:?}", log.failure());
    }
}
