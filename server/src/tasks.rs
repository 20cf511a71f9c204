//! Tasks: long-running work with a UPID, a log file the GUI can follow and a final status line
//! (`TASK OK` / `TASK ERROR: …`), as PVE keeps them. Logs live in `<data>/tasks/<X>/<UPID>`
//! where X is the last hex digit of the start time; the index lives in the `tasks` table.
//! A daemon that restarts marks tasks it did not finish as `unexpected status`.

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

/// Where a task writes its log.
#[derive(Clone)]
pub struct TaskLog {
    file: Arc<AsyncMutex<tokio::fs::File>>,
}

impl TaskLog {
    pub async fn line(&self, text: impl AsRef<str>) {
        let mut file = self.file.lock().await;
        for line in text.as_ref().lines() {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        let _ = file.flush().await;
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
        })
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
        let log = TaskLog { file: Arc::new(AsyncMutex::new(file)) };
        let runner = self.clone();
        let task_upid = upid.clone();
        let handle = tokio::spawn(async move {
            let result = work(log.clone()).await;
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

    async fn finish(&self, upid: &Upid, status: &str) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&upid.to_string());
        let result = sqlx::query("UPDATE tasks SET endtime = ?, status = ? WHERE upid = ?")
            .bind(unix_now())
            .bind(status)
            .bind(upid.to_string())
            .execute(&self.db)
            .await;
        if let Err(err) = result {
            tracing::warn!(%err, %upid, "could not record task end");
        }
        let _ = self.events.send(Event::Tasks);
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

    pub async fn recent(&self, limit: i64) -> sqlx::Result<Vec<TaskSummary>> {
        let rows = sqlx::query_as::<_, TaskRow>(
            "SELECT upid, node, pid, pstart, starttime, type, id, user, endtime, status FROM tasks ORDER BY starttime DESC, pid DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(TaskRow::into_summary).collect())
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
