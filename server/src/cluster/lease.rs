//! Leases: named, time-limited claims held by one node (HA's node locks build on them).
//!
//! The record at `leases/<name>` says who holds it, a version that grows with every renewal
//! and the duration. Clocks are never compared across nodes; each node measures with its own
//! monotonic clock:
//! - the holder counts its lease valid until *the moment it sent* the renewal + duration;
//! - any other node counts it expired only once duration + [`GRACE`] have passed since *it
//!   saw* that version appear in its store.
//!
//! A renewal is committed before any node can see it, so the holder's deadline always comes
//! first: a node that cannot renew (no quorum, partitioned) is past its deadline before anyone
//! else may take the lease over. Taking over is a compare-and-set on the record, so two nodes
//! racing for an expired lease cannot both win.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use corral_consensus::{Command, Op};
use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::state::AppState;

/// Extra wait on top of the duration before a non-holder treats a lease as expired: covers
/// clock-rate differences and the delay between commit and this node seeing the record.
pub const GRACE: Duration = Duration::from_secs(1);
pub const PREFIX: &str = "leases/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: String,
    pub version: u64,
    pub duration_ms: u64,
    /// Random per take, kept through renewals. A released lease's record is deleted, so a
    /// later take starts again at version 1; without this id another node could mistake it for
    /// the old record it saw long ago (same holder, same version) and count it expired at once.
    #[serde(default)]
    pub take: String,
}

impl LeaseRecord {
    fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

/// When a non-holder may consider a lease it first saw at `seen` expired.
pub fn expires_for_others(record: &LeaseRecord, seen: Instant) -> Instant {
    seen + record.duration() + GRACE
}

/// What this node knows of leases: when it first saw each version, and its own deadlines.
#[derive(Default)]
pub struct Leases {
    seen: Mutex<HashMap<String, (LeaseRecord, Instant)>>,
    held: Mutex<HashMap<String, (u64, Instant)>>,
}

impl Leases {
    /// Record `record` as seen now unless this exact version was seen before; when it was first seen.
    pub fn observe(&self, name: &str, record: &LeaseRecord, now: Instant) -> Instant {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(name) {
            Some((known, at)) if known == record => *at,
            _ => {
                seen.insert(name.to_string(), (record.clone(), now));
                now
            }
        }
    }

    /// Until when this node holds `name` (its own deadline), if it holds the current version.
    pub fn held_until(&self, name: &str, record: &LeaseRecord) -> Option<Instant> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(name).filter(|(version, _)| *version == record.version).map(|(_, until)| *until)
    }

    fn hold(&self, name: &str, version: u64, until: Instant) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), (version, until));
    }

    fn drop_hold(&self, name: &str) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// A lease taken or renewed: this node's deadline, the record's version, and the log index of
/// the write (this node's copy of the store is current once it has applied that index).
#[derive(Debug, Clone)]
pub struct Grant {
    pub until: Instant,
    /// The record as written.
    pub record: LeaseRecord,
    pub index: u64,
}

/// An `Op::Expect` that holds only while `holder` still has version `version` of lease
/// `name`: a write carrying it lands only for the lease's current holder.
pub fn expect_held(name: &str, record: &LeaseRecord) -> Op {
    Op::Expect { key: key(name), value: Some(serde_json::to_value(record).unwrap_or_default()) }
}

pub async fn current(state: &AppState, name: &str) -> Result<Option<LeaseRecord>, ClusterError> {
    Ok(corral_consensus::read(&state.db, &key(name)).await?.and_then(|v| serde_json::from_value(v).ok()))
}

/// Every lease with this node's view of it.
pub async fn list(state: &AppState) -> Result<Vec<(String, LeaseRecord, Instant)>, ClusterError> {
    let now = Instant::now();
    let mut out = Vec::new();
    for (k, v) in corral_consensus::read_prefix(&state.db, PREFIX).await? {
        let Ok(record) = serde_json::from_value::<LeaseRecord>(v) else { continue };
        let name = k.trim_start_matches(PREFIX).to_string();
        let seen = state.leases.observe(&name, &record, now);
        out.push((name, record, seen));
    }
    Ok(out)
}

/// Note new lease versions as they arrive, so the expiry clock of other nodes' leases starts
/// when the renewal lands here, not when someone first asks.
pub async fn watch(state: AppState) {
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let _ = list(&state).await;
    }
}

/// Acquire `name` for this node, or renew it if this node holds it. Returns this node's deadline.
pub async fn acquire(state: &AppState, name: &str, duration: Duration) -> Result<Instant, ClusterError> {
    Ok(grant(state, name, duration).await?.until)
}

/// [`acquire`], with the version and log index of the grant.
///
/// Decided on committed state: when this node's copy says another node holds the lease, it
/// first catches up with everything committed (a read barrier through the leader) and looks
/// again, so a release that has committed elsewhere is never mistaken for a live hold.
pub async fn grant(state: &AppState, name: &str, duration: Duration) -> Result<Grant, ClusterError> {
    let me = state.node.to_string();
    let mut current = current(state, name).await?;
    if let Err(refused) = may_take(state, name, current.as_ref(), Instant::now()) {
        if let Err(err) = state.cluster.read_barrier(BARRIER_WAIT).await {
            tracing::warn!(lease = name, %err, "could not catch up with the committed state");
            return Err(refused);
        }
        current = self::current(state, name).await?;
        may_take(state, name, current.as_ref(), Instant::now())?;
    }
    // A renewal keeps the take; a lease taken anew (free, or from another holder) gets a new one.
    let take = match &current {
        Some(r) if r.holder == me => r.take.clone(),
        _ => uuid::Uuid::new_v4().simple().to_string(),
    };
    let next = LeaseRecord { holder: me, version: current.as_ref().map_or(1, |r| r.version + 1), duration_ms: duration.as_millis() as u64, take };
    let expect = current.map(|r| serde_json::to_value(r).unwrap_or_default());
    let value = serde_json::to_value(&next).map_err(|e| ClusterError::Store(e.to_string()))?;
    let started = Instant::now();
    let result = state.cluster.write(Command::new(vec![Op::Expect { key: key(name), value: expect }, Op::Put { key: key(name), value }])).await?;
    if !result.applied {
        return Err(ClusterError::Refused(format!("lease '{name}' changed while acquiring it; try again")));
    }
    let until = started + duration;
    state.leases.hold(name, next.version, until);
    Ok(Grant { until, record: next, index: result.index })
}

/// How long a lease decision waits to catch up with the committed state.
const BARRIER_WAIT: Duration = Duration::from_secs(2);

/// Whether this node may take or renew `name` as `record` stands: it holds it, it is free, or
/// its holder let it run out by this node's clock.
fn may_take(state: &AppState, name: &str, record: Option<&LeaseRecord>, now: Instant) -> Result<(), ClusterError> {
    let Some(record) = record else { return Ok(()) };
    if record.holder == state.node.as_str() {
        return Ok(());
    }
    let seen = state.leases.observe(name, record, now);
    let expires = expires_for_others(record, seen);
    if now < expires {
        let left = expires.saturating_duration_since(now);
        return Err(ClusterError::Refused(format!("lease '{name}' is held by {} (expires in {} s at the earliest)", record.holder, left.as_secs() + 1)));
    }
    tracing::info!(lease = name, holder = %record.holder, version = record.version, unrenewed_ms = now.duration_since(seen).as_millis() as u64, "taking over an expired lease");
    Ok(())
}

/// Give up `name` if this node holds it (decided, like a take, on committed state).
pub async fn release(state: &AppState, name: &str) -> Result<(), ClusterError> {
    let mut record = current(state, name).await?;
    // This node's own take may not have reached its copy yet: decide on committed state.
    if record.as_ref().is_none_or(|r| r.holder != state.node.as_str()) {
        state.cluster.read_barrier(BARRIER_WAIT).await?;
        record = current(state, name).await?;
    }
    let Some(record) = record else { return Ok(()) };
    if record.holder != state.node.as_str() {
        return Err(ClusterError::Refused(format!("lease '{name}' is held by {}, not by this node", record.holder)));
    }
    let expect = serde_json::to_value(&record).map_err(|e| ClusterError::Store(e.to_string()))?;
    state.leases.drop_hold(name);
    let result = state.cluster.write(Command::new(vec![Op::Expect { key: key(name), value: Some(expect) }, Op::Delete { key: key(name) }])).await?;
    if !result.applied {
        return Err(ClusterError::Refused(format!("lease '{name}' changed while releasing it")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, version: u64) -> LeaseRecord {
        LeaseRecord { holder: holder.into(), version, duration_ms: 10_000, take: "t1".into() }
    }

    #[test]
    fn others_count_from_when_they_first_saw_a_version() {
        let leases = Leases::default();
        let t0 = Instant::now();
        let r1 = record("n1", 1);
        assert_eq!(leases.observe("x", &r1, t0), t0);
        // Seeing the same version later does not restart the clock...
        assert_eq!(leases.observe("x", &r1, t0 + Duration::from_secs(5)), t0);
        assert_eq!(expires_for_others(&r1, t0), t0 + Duration::from_secs(10) + GRACE);
        // ...a renewal (new version) does.
        let r2 = record("n1", 2);
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(leases.observe("x", &r2, t1), t1);
    }

    #[test]
    fn a_new_take_with_a_reused_version_is_new_to_others() {
        // Released (deleted) and taken again: versions restart, the take id does not repeat.
        let leases = Leases::default();
        let t0 = Instant::now();
        leases.observe("x", &record("n1", 1), t0);
        let again = LeaseRecord { take: "t2".into(), ..record("n1", 1) };
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(leases.observe("x", &again, t1), t1);
    }

    #[test]
    fn the_holders_deadline_comes_before_anyone_elses() {
        // The holder starts its clock before sending; others start theirs after seeing the commit.
        let sent = Instant::now();
        let committed_and_seen = sent + Duration::from_millis(30);
        let r = record("n1", 7);
        let holder_deadline = sent + r.duration();
        assert!(holder_deadline < expires_for_others(&r, committed_and_seen));
        let leases = Leases::default();
        leases.hold("x", 7, holder_deadline);
        assert_eq!(leases.held_until("x", &r), Some(holder_deadline));
        assert_eq!(leases.held_until("x", &record("n1", 8)), None, "a newer version is not ours");
    }
}
