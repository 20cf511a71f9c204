//! Rotation of the ticket and CSRF signing keys, as PVE rotates its `authkey.key` every day:
//! each [`crate::auth::keys::KeyDocument`] pair signs for `every` (24 h by default), then a new
//! pair takes over and the old one only verifies (for the tickets signed just before) until the
//! next rotation. Standalone, the node rotates its own copy. In a cluster the document lives in
//! the store: the Raft leader rotates it (compare-and-set, so two rotations never race) and
//! every node follows what the store says. `delnode` replaces the pair without keeping the old
//! one (see `cluster::join::remove`).

use std::time::Duration;

use crate::auth::keys::KeyDocument;
use crate::auth::unix_now;
use crate::cluster::config::KEY_AUTH_KEYS;
use crate::cluster::ClusterConfig;
use crate::state::AppState;

/// PVE's rotation period.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(24 * 3600);
const ROUND: Duration = Duration::from_secs(2);

pub async fn run(state: AppState, every: Duration) {
    let mut errors = crate::changed_error::ChangedError::default();
    loop {
        tokio::time::sleep(ROUND).await;
        errors.note("signing keys", round(&state, every.as_secs() as i64).await);
    }
}

async fn round(state: &AppState, every: i64) -> anyhow::Result<()> {
    if state.cluster.is_joining() {
        return Ok(()); // the join adopts the cluster's keys itself, keeping this node's tickets
    }
    let now = unix_now();
    let clustered = ClusterConfig::load(&state.db).await?.is_some_and(|c| c.node(state.node.as_str()).is_some());
    if !clustered {
        let local = KeyDocument::load(&state.db, now).await?;
        if local.due(now, every) {
            adopt(state, local.rotated(now)).await?;
        }
        return Ok(());
    }
    let Some(raw) = corral_consensus::read(&state.db, KEY_AUTH_KEYS).await? else { return Ok(()) };
    let Some(doc) = KeyDocument::from_value(&raw) else { anyhow::bail!("the cluster's signing keys are unreadable") };
    if doc.due(now, every) && state.cluster.leader_name().await.as_deref() == Some(state.node.as_str()) {
        let next = serde_json::to_value(doc.rotated(now))?;
        let ops = vec![corral_consensus::Op::Expect { key: KEY_AUTH_KEYS.into(), value: Some(raw) }, corral_consensus::Op::Put { key: KEY_AUTH_KEYS.into(), value: next }];
        state.cluster.write(corral_consensus::Command::new(ops)).await?;
        return Ok(()); // the next round follows what the store now says
    }
    follow(state, doc).await
}

/// Make the store's `doc` this node's keys, unless its copy already is (the keys in use always
/// follow the copy: start-up loads it, every change below and at a join sets both).
async fn follow(state: &AppState, doc: KeyDocument) -> anyhow::Result<()> {
    if KeyDocument::load(&state.db, unix_now()).await? == doc {
        return Ok(());
    }
    adopt(state, doc).await
}

async fn adopt(state: &AppState, doc: KeyDocument) -> anyhow::Result<()> {
    doc.store(&state.db).await?;
    state.set_keys(doc.keys());
    tracing::info!(since = doc.current.since, "signing keys changed");
    Ok(())
}
