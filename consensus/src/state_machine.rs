//! The state machine: applies committed [`Command`]s to `config_kv` and keeps the last applied
//! log id and membership in `raft_meta`, in the same transaction, so a crash never leaves the
//! tree and its position apart. Snapshots are the whole tree as JSON.

use std::collections::BTreeMap;
use std::io::Cursor;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, StoredMembership};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::raft_log::{get_meta, set_meta};
use crate::{Command, CommandResult, IoError, NodeAddr, NodeId, Op, StorageError, TypeConfig, KEY_RECENT_REQUESTS, RECENT_REQUESTS};

/// Where the keys changed by each applied batch are announced (a change feed for live views;
/// a lagging receiver loses batches, never blocks the state machine). `"*"` means "anything"
/// (a snapshot replaced the tree).
pub type AppliedKeys = tokio::sync::broadcast::Sender<std::sync::Arc<Vec<String>>>;

#[derive(Clone)]
pub struct ConfigStateMachine {
    db: SqlitePool,
    applied: Option<AppliedKeys>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotData {
    kv: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, NodeAddr>,
    data: Vec<u8>,
}

type Membership = StoredMembership<NodeId, NodeAddr>;

impl ConfigStateMachine {
    pub fn new(db: SqlitePool) -> Self {
        Self { db, applied: None }
    }

    /// Announce the keys of every applied batch on `applied`.
    pub fn with_change_feed(mut self, applied: AppliedKeys) -> Self {
        self.applied = Some(applied);
        self
    }

    /// The keys `command` writes (it was applied).
    pub fn keys_of(command: &Command) -> impl Iterator<Item = &str> {
        command.ops.iter().filter_map(|op| match op {
            Op::Put { key, .. } | Op::Delete { key } => Some(key.as_str()),
            Op::Expect { .. } => None,
        })
    }

    fn announce(&self, keys: Vec<String>) {
        if let (Some(applied), false) = (&self.applied, keys.is_empty()) {
            let _ = applied.send(std::sync::Arc::new(keys));
        }
    }

    /// Apply `command` if all its guards hold; whether it was applied.
    /// Apply `command` to the tree directly, outside Raft: for a node that is in no cluster,
    /// whose tree is its own until it creates one. The same all-or-nothing guards as in Raft.
    pub async fn apply_standalone(db: &SqlitePool, command: &Command) -> sqlx::Result<bool> {
        let mut tx = db.begin_with("BEGIN IMMEDIATE").await?;
        let applied = Self::apply_ops(&mut tx, command).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Apply a logged command once per request: a retry of a request already in the log gets
    /// the recorded result and changes nothing. The record is part of the tree, so every
    /// replica (and every snapshot) agrees on it.
    async fn apply_request(tx: &mut sqlx::SqliteConnection, command: &Command, index: u64) -> Result<CommandResult, sqlx::Error> {
        let Some(request) = &command.request else {
            return Ok(CommandResult { index, applied: Self::apply_ops(tx, command).await? });
        };
        let text: Option<String> = sqlx::query_scalar("SELECT value FROM config_kv WHERE key = ?").bind(KEY_RECENT_REQUESTS).fetch_optional(&mut *tx).await?;
        let mut recent: Vec<(String, CommandResult)> = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        if let Some((_, earlier)) = recent.iter().find(|(id, _)| id == request) {
            return Ok(earlier.clone());
        }
        let result = CommandResult { index, applied: Self::apply_ops(tx, command).await? };
        recent.push((request.clone(), result.clone()));
        let excess = recent.len().saturating_sub(RECENT_REQUESTS);
        recent.drain(..excess);
        let value = serde_json::to_string(&recent).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query("INSERT INTO config_kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(KEY_RECENT_REQUESTS)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        Ok(result)
    }

    async fn apply_ops(tx: &mut sqlx::SqliteConnection, command: &Command) -> Result<bool, sqlx::Error> {
        for op in &command.ops {
            if let Op::Expect { key, value } = op {
                let text: Option<String> = sqlx::query_scalar("SELECT value FROM config_kv WHERE key = ?").bind(key).fetch_optional(&mut *tx).await?;
                let current: Option<serde_json::Value> = text.and_then(|t| serde_json::from_str(&t).ok());
                if current != *value {
                    return Ok(false);
                }
            }
        }
        for op in &command.ops {
            match op {
                Op::Expect { .. } => {}
                Op::Put { key, value } => {
                    sqlx::query("INSERT INTO config_kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                        .bind(key)
                        .bind(value.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                Op::Delete { key } => {
                    sqlx::query("DELETE FROM config_kv WHERE key = ?").bind(key).execute(&mut *tx).await?;
                }
            }
        }
        Ok(true)
    }

    async fn current_tree(&self) -> Result<BTreeMap<String, serde_json::Value>, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM config_kv ORDER BY key").fetch_all(&self.db).await?;
        Ok(rows.into_iter().filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v))).collect())
    }

    async fn save_snapshot(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let meta = serde_json::to_string(&stored.meta).map_err(|e| IoError::write_snapshot(None, &e))?;
        sqlx::query("INSERT INTO raft_snapshot (id, meta, data) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET meta = excluded.meta, data = excluded.data")
            .bind(meta)
            .bind(&stored.data)
            .execute(&self.db)
            .await
            .map_err(|e| IoError::write_snapshot(None, &e))?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for ConfigStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // One read transaction, so the tree and its position belong together.
        let mut tx = self.db.begin().await.map_err(|e| IoError::read_state_machine(&e))?;
        let last_applied: Option<LogId<NodeId>> = read_meta_tx(&mut tx, "last_applied").await.map_err(|e| IoError::read_state_machine(&e))?;
        let membership: Membership = read_meta_tx(&mut tx, "membership").await.map_err(|e| IoError::read_state_machine(&e))?.unwrap_or_default();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM config_kv ORDER BY key").fetch_all(&mut *tx).await.map_err(|e| IoError::read_state_machine(&e))?;
        tx.commit().await.map_err(|e| IoError::read_state_machine(&e))?;
        let kv = rows.into_iter().filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|v| (k, v))).collect();
        let data = serde_json::to_vec(&SnapshotData { kv }).map_err(|e| IoError::read_state_machine(&e))?;
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, crate::now_millis()),
            None => format!("empty-{}", crate::now_millis()),
        };
        let meta = SnapshotMeta { last_log_id: last_applied, last_membership: membership, snapshot_id };
        let stored = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        self.save_snapshot(&stored).await?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

async fn read_meta_tx<T: serde::de::DeserializeOwned>(tx: &mut sqlx::SqliteConnection, name: &str) -> Result<Option<T>, sqlx::Error> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM raft_meta WHERE name = ?").bind(name).fetch_optional(&mut *tx).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

impl RaftStateMachine<TypeConfig> for ConfigStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership), StorageError> {
        let last_applied = get_meta(&self.db, "last_applied").await.map_err(|e| IoError::read_state_machine(&e))?;
        let membership = get_meta(&self.db, "membership").await.map_err(|e| IoError::read_state_machine(&e))?.unwrap_or_default();
        Ok((last_applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await.map_err(|e| IoError::write_state_machine(&e))?;
        let mut results = Vec::new();
        let mut changed = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let result = match &entry.payload {
                EntryPayload::Blank => CommandResult { index: log_id.index, applied: true },
                EntryPayload::Normal(command) => {
                    let result = Self::apply_request(&mut tx, command, log_id.index).await.map_err(|e| IoError::apply(log_id, &e))?;
                    if result.applied {
                        changed.extend(Self::keys_of(command).map(str::to_string));
                    }
                    result
                }
                EntryPayload::Membership(m) => {
                    set_meta(&mut *tx, "membership", &StoredMembership::new(Some(log_id), m.clone())).await.map_err(|e| IoError::apply(log_id, &e))?;
                    CommandResult { index: log_id.index, applied: true }
                }
            };
            set_meta(&mut *tx, "last_applied", &Some(log_id)).await.map_err(|e| IoError::apply(log_id, &e))?;
            results.push(result);
        }
        tx.commit().await.map_err(|e| IoError::write_state_machine(&e))?;
        changed.sort();
        changed.dedup();
        self.announce(changed);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta<NodeId, NodeAddr>, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let parsed: SnapshotData = serde_json::from_slice(&data).map_err(|e| IoError::read_snapshot(Some(meta.signature()), &e))?;
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await.map_err(|e| IoError::write_snapshot(Some(meta.signature()), &e))?;
        let write = async {
            sqlx::query("DELETE FROM config_kv").execute(&mut *tx).await?;
            for (key, value) in &parsed.kv {
                sqlx::query("INSERT INTO config_kv (key, value) VALUES (?, ?)").bind(key).bind(value.to_string()).execute(&mut *tx).await?;
            }
            set_meta(&mut *tx, "last_applied", &meta.last_log_id).await?;
            set_meta(&mut *tx, "membership", &meta.last_membership).await?;
            Ok::<_, sqlx::Error>(())
        };
        write.await.map_err(|e| IoError::write_snapshot(Some(meta.signature()), &e))?;
        tx.commit().await.map_err(|e| IoError::write_snapshot(Some(meta.signature()), &e))?;
        self.announce(vec!["*".into()]);
        self.save_snapshot(&StoredSnapshot { meta: meta.clone(), data }).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as("SELECT meta, data FROM raft_snapshot WHERE id = 1")
            .fetch_optional(&self.db)
            .await
            .map_err(|e| IoError::read_snapshot(None, &e))?;
        let Some((meta, data)) = row else { return Ok(None) };
        let meta = serde_json::from_str(&meta).map_err(|e| IoError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl ConfigStateMachine {
    /// The whole configuration tree (diagnostics and tests).
    pub async fn tree(&self) -> sqlx::Result<BTreeMap<String, serde_json::Value>> {
        self.current_tree().await
    }
}
