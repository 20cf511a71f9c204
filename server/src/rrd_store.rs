//! This node's graphs: one round-robin series (`corral-rrd`) per measured thing — the node
//! itself (`node`), each guest that ran here (`qemu/<vmid>`), each storage it checks
//! (`storage/<id>`) — fed by the samplers and read by the `rrddata` handlers. Series live in
//! memory and go to the `rrd` table every minute and at shutdown, so graphs survive restarts
//! and a crash loses at most a minute. Each series has a fixed size, so the table is bounded by
//! the number of guests and storages.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use corral_api_types::rrd::RrdRow;
use corral_rrd::{Cf, Series, Timeframe};
use sqlx::SqlitePool;

/// How often changed series are written to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

pub const NODE: &str = "node";

pub fn guest_key(vmid: u32) -> String {
    format!("qemu/{vmid}")
}

pub fn storage_key(storage: &str) -> String {
    format!("storage/{storage}")
}

pub struct RrdStore {
    db: SqlitePool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    series: HashMap<String, Series>,
    dirty: BTreeSet<String>,
    forgotten: BTreeSet<String>,
}

impl RrdStore {
    /// The series kept in the database. One that does not decode is dropped (and overwritten
    /// by the next sample): a graph's history is not worth refusing to start over.
    pub async fn load(db: SqlitePool) -> Result<Self, sqlx::Error> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT key, data FROM rrd").fetch_all(&db).await?;
        let mut series = HashMap::new();
        for (key, data) in rows {
            let Some(sources) = sources_of(&key) else { continue };
            match Series::decode(&data, sources) {
                Ok(s) => {
                    series.insert(key, s);
                }
                Err(err) => tracing::warn!(%key, %err, "graph history unreadable; starting it anew"),
            }
        }
        Ok(Self { db, inner: Mutex::new(Inner { series, ..Default::default() }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record<R: RrdRow>(&self, key: &str, row: &R) {
        let mut inner = self.lock();
        let series = inner.series.entry(key.to_string()).or_insert_with(|| Series::new(R::SOURCES.len()));
        if series.sources() != R::SOURCES.len() {
            *series = Series::new(R::SOURCES.len());
        }
        if series.update(row.time(), &row.values()) {
            inner.forgotten.remove(key);
            inner.dirty.insert(key.to_string());
        }
    }

    /// PVE's `rrddata` answer: the timeframe's rows ending now; unknown values left out (all of
    /// them for a series never recorded).
    pub fn rows<R: RrdRow>(&self, key: &str, timeframe: Timeframe, cf: Cf, now: i64) -> Vec<R> {
        let inner = self.lock();
        let empty;
        let series = match inner.series.get(key).filter(|s| s.sources() == R::SOURCES.len()) {
            Some(s) => s,
            None => {
                empty = Series::new(R::SOURCES.len());
                &empty
            }
        };
        series.rows(timeframe, cf, now).into_iter().map(|row| R::from_values(row.time, &row.values)).collect()
    }

    /// Drop a series (a destroyed guest, a removed storage) here and, at the next flush, on disk.
    pub fn forget(&self, key: &str) {
        let mut inner = self.lock();
        if inner.series.remove(key).is_some() {
            inner.dirty.remove(key);
            inner.forgotten.insert(key.to_string());
        }
    }

    /// Write what changed since the last flush, in one transaction.
    pub async fn flush(&self) -> Result<(), sqlx::Error> {
        let (writes, deletes) = {
            let mut inner = self.lock();
            let dirty = std::mem::take(&mut inner.dirty);
            let writes: Vec<(String, Vec<u8>)> = dirty.into_iter().filter_map(|k| inner.series.get(&k).map(|s| (k, s.encode()))).collect();
            (writes, std::mem::take(&mut inner.forgotten))
        };
        if writes.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for (key, data) in &writes {
            sqlx::query("INSERT INTO rrd (key, data) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data").bind(key).bind(data).execute(&mut *tx).await?;
        }
        for key in &deletes {
            sqlx::query("DELETE FROM rrd WHERE key = ?").bind(key).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Flush every [`FLUSH_EVERY`] for as long as the daemon runs.
    pub async fn run(self: std::sync::Arc<Self>) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            if let Err(err) = self.flush().await {
                tracing::warn!(%err, "writing graph history failed; trying again in a minute");
                // What was taken for this flush is lost for the table only; the next sample
                // marks the series dirty again.
            }
        }
    }
}

fn sources_of(key: &str) -> Option<usize> {
    use corral_api_types::rrd::{GuestRrdRow, NodeRrdRow, StorageRrdRow};
    match key.split_once('/').map_or(key, |(kind, _)| kind) {
        NODE => Some(NodeRrdRow::SOURCES.len()),
        "qemu" => Some(GuestRrdRow::SOURCES.len()),
        "storage" => Some(StorageRrdRow::SOURCES.len()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api_types::rrd::{GuestRrdRow, NodeRrdRow};

    async fn db() -> (tempfile::TempDir, SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("t.db")).await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn series_survive_a_restart_and_forgotten_ones_do_not() {
        let (_dir, db) = db().await;
        let store = RrdStore::load(db.clone()).await.unwrap();
        for m in 0..90 {
            store.record(NODE, &NodeRrdRow { time: m * 60, cpu: Some(0.25), memused: Some(1e9), ..Default::default() });
            store.record(&guest_key(100), &GuestRrdRow { time: m * 60, mem: Some(5e8), ..Default::default() });
        }
        store.flush().await.unwrap();
        store.forget(&guest_key(100));
        store.flush().await.unwrap();

        let again = RrdStore::load(db).await.unwrap();
        let rows: Vec<NodeRrdRow> = again.rows(NODE, Timeframe::Hour, Cf::Average, 89 * 60);
        assert_eq!(rows.len(), 70);
        assert!(rows.iter().all(|r| r.cpu == Some(0.25) && r.memused == Some(1e9)));
        let day: Vec<NodeRrdRow> = again.rows(NODE, Timeframe::Day, Cf::Max, 89 * 60);
        assert_eq!(day.iter().filter(|r| r.cpu.is_some()).count(), 3);
        let guest: Vec<GuestRrdRow> = again.rows(&guest_key(100), Timeframe::Hour, Cf::Average, 89 * 60);
        assert!(guest.iter().all(|r| r.mem.is_none()));
    }

    #[tokio::test]
    async fn an_unreadable_series_starts_anew() {
        let (_dir, db) = db().await;
        sqlx::query("INSERT INTO rrd (key, data) VALUES ('node', x'00010203')").execute(&db).await.unwrap();
        let store = RrdStore::load(db).await.unwrap();
        let rows: Vec<NodeRrdRow> = store.rows(NODE, Timeframe::Hour, Cf::Average, 0);
        assert!(rows.iter().all(|r| r.cpu.is_none()));
    }
}
