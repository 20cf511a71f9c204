//! The Raft log and vote in SQLite (`raft_log`, `raft_meta`). Every write is one transaction;
//! the database runs with `synchronous=FULL`, so a committed transaction is on disk before the
//! flush callback fires.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::SqlitePool;

use crate::{IoError, NodeId, StorageError, TypeConfig};

#[derive(Clone)]
pub struct RaftLogStore {
    db: SqlitePool,
}

impl RaftLogStore {
    pub fn new(db: SqlitePool) -> Self {
        Self { db }
    }
}

/// A value that is there but does not parse is an error, never "none": an unreadable vote read
/// as no vote would let this node vote twice in one term.
pub(crate) async fn get_meta<T: DeserializeOwned>(db: &SqlitePool, name: &str) -> Result<Option<T>, sqlx::Error> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM raft_meta WHERE name = ?").bind(name).fetch_optional(db).await?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
}

pub(crate) async fn set_meta<'e, E, T>(exec: E, name: &str, value: &T) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    T: Serialize,
{
    let text = serde_json::to_string(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO raft_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
        .bind(name)
        .bind(text)
        .execute(exec)
        .await?;
    Ok(())
}

fn bounds(range: &impl RangeBounds<u64>) -> (i64, i64) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s as i64,
        Bound::Excluded(s) => *s as i64 + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => (*e as i64).saturating_add(1),
        Bound::Excluded(e) => *e as i64,
        Bound::Unbounded => i64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for RaftLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let (start, end) = bounds(&range);
        let rows: Vec<String> = sqlx::query_scalar("SELECT entry FROM raft_log WHERE idx >= ? AND idx < ? ORDER BY idx")
            .bind(start)
            .bind(end)
            .fetch_all(&self.db)
            .await
            .map_err(|e| IoError::read_logs(&e))?;
        rows.iter().map(|r| serde_json::from_str(r).map_err(|e| IoError::read_logs(&e).into())).collect()
    }
}

impl RaftLogStorage<TypeConfig> for RaftLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId<NodeId>> = get_meta(&self.db, "last_purged").await.map_err(|e| IoError::read_logs(&e))?;
        let last: Option<String> = sqlx::query_scalar("SELECT entry FROM raft_log ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.db)
            .await
            .map_err(|e| IoError::read_logs(&e))?;
        let last_log_id = match last {
            Some(text) => Some(serde_json::from_str::<Entry<TypeConfig>>(&text).map_err(|e| IoError::read_logs(&e))?.log_id),
            None => last_purged,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        set_meta(&self.db, "vote", vote).await.map_err(|e| IoError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        get_meta(&self.db, "vote").await.map_err(|e| IoError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError> {
        set_meta(&self.db, "committed", &committed).await.map_err(|e| IoError::write_logs(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError> {
        Ok(get_meta::<Option<LogId<NodeId>>>(&self.db, "committed").await.map_err(|e| IoError::read_logs(&e))?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await.map_err(|e| IoError::write_logs(&e))?;
        for entry in entries {
            let text = serde_json::to_string(&entry).map_err(|e| IoError::write_logs(&e))?;
            sqlx::query("INSERT OR REPLACE INTO raft_log (idx, entry) VALUES (?, ?)")
                .bind(entry.log_id.index as i64)
                .bind(text)
                .execute(&mut *tx)
                .await
                .map_err(|e| IoError::write_logs(&e))?;
        }
        tx.commit().await.map_err(|e| IoError::write_logs(&e))?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM raft_log WHERE idx >= ?")
            .bind(log_id.index as i64)
            .execute(&self.db)
            .await
            .map_err(|e| IoError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError> {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await.map_err(|e| IoError::write_logs(&e))?;
        set_meta(&mut *tx, "last_purged", &log_id).await.map_err(|e| IoError::write_logs(&e))?;
        sqlx::query("DELETE FROM raft_log WHERE idx <= ?")
            .bind(log_id.index as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| IoError::write_logs(&e))?;
        tx.commit().await.map_err(|e| IoError::write_logs(&e))?;
        Ok(())
    }
}
