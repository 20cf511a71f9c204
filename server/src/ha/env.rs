//! [`corral_ha::Env`] for the daemon: the store through Raft, online nodes from gossip, leases
//! from `cluster::lease`, guests through `vm_runtime`, and the fence guard. One environment is
//! made per round from a snapshot of quorum and membership.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral_consensus::{Command, Op};
use corral_ha::{Component, Env, EnvError, HaState, Job, JobDone, Level, LrmStatus, ManagerStatus, NodeInfo, Sid};

use super::fence_guard::{instant_ns, GuardClient, Orders};
use super::store;
use crate::cluster::lease::{self, LeaseRecord};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

/// HA timing. The defaults recover a dead node's guests in about 7–8 s (see ARCHITECTURE.md,
/// "Failover timeline") while a link that drops out for 2 s fences nothing.
#[derive(Debug, Clone, Copy)]
pub struct HaSettings {
    /// Between two CRM (and two LRM) rounds.
    pub round: Duration,
    /// Length of the manager and agent leases.
    pub lease: Duration,
    /// A lease is renewed once it is this old.
    pub renew: Duration,
    /// The LRM stops its guests when this little of its lease is left unrenewed.
    pub self_fence: Duration,
    /// The fence guard kills them when this little is left.
    pub guard: Duration,
}

impl Default for HaSettings {
    fn default() -> Self {
        HaSettings { round: Duration::from_millis(500), lease: Duration::from_secs(6), renew: Duration::from_secs(1), self_fence: Duration::from_secs(1), guard: Duration::from_millis(500) }
    }
}

impl HaSettings {
    /// The watchdog's timeout: the self-fence margin plus a second, in whole seconds. The guard
    /// stops feeding it this long before the deadline while guests still run; by then the LRM
    /// has normally killed them already (self-fence), so the feeding resumes and the host stays.
    pub fn watchdog_timeout_s(&self) -> u32 {
        (self.self_fence.as_secs_f64().ceil() as u32 + 1).max(1)
    }

    /// Check the relations the fencing argument rests on: a lease is renewed (with a round to
    /// spare) before the LRM's self-fence point, and the guard fires after the LRM's own stop
    /// but before the lease ends. Other nodes go by the duration written in the lease record,
    /// so nodes may differ in these settings.
    pub fn validate(self) -> Result<Self, String> {
        let HaSettings { round, lease, renew, self_fence, guard } = self;
        if round.is_zero() || round > renew {
            return Err(format!("the HA round ({round:?}) must be positive and no longer than the renewal interval ({renew:?})"));
        }
        if renew + round >= lease.saturating_sub(self_fence) {
            return Err(format!("a lease of {lease:?} leaves no time to renew every {renew:?} (plus a round) before the self-fence point {self_fence:?} before its end"));
        }
        if guard.is_zero() || guard >= self_fence {
            return Err(format!("the fence guard's margin ({guard:?}) must be positive and smaller than the self-fence margin ({self_fence:?})"));
        }
        Ok(self)
    }
}

/// A lease this node holds, as it knows it.
#[derive(Debug, Clone)]
struct Held {
    record: LeaseRecord,
    until: Instant,
    renewed: Instant,
}

/// What outlives a round: leases held, jobs, the guard.
pub struct Shared {
    pub settings: HaSettings,
    /// The watchdog device the fence guard arms while it guards the agent lease.
    watchdog: Option<std::path::PathBuf>,
    guard: GuardClient,
    agent: Mutex<Option<Held>>,
    manager: Mutex<Option<Held>>,
    guard_deadline: Mutex<Option<Instant>>,
    guarded: Mutex<Vec<Sid>>,
    pub(super) finished: Mutex<Vec<JobDone>>,
    pub(super) busy: Mutex<BTreeSet<Sid>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(settings: HaSettings, run_dir: std::path::PathBuf, watchdog: Option<std::path::PathBuf>) -> Self {
        Shared {
            settings,
            watchdog,
            guard: GuardClient::new(run_dir),
            agent: Mutex::new(None),
            manager: Mutex::new(None),
            guard_deadline: Mutex::new(None),
            guarded: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
            busy: Mutex::new(BTreeSet::new()),
        }
    }

    /// Whether this node holds its agent lease with more than the self-fence margin left.
    pub fn agent_valid(&self) -> bool {
        lock(&self.agent).as_ref().is_some_and(|h| h.until > Instant::now() + self.settings.self_fence)
    }

    /// Make sure `sid` is guarded from now on (a guest arriving by migration).
    pub fn guard_also(&self, sid: &Sid) {
        let mut guarded = lock(&self.guarded);
        if !guarded.contains(sid) {
            guarded.push(sid.clone());
        }
        drop(guarded);
        self.tell_guard();
    }

    fn tell_guard(&self) {
        let deadline = *lock(&self.guard_deadline);
        let vmids = lock(&self.guarded).iter().map(Sid::vmid).collect();
        self.guard.order(Orders { deadline_ns: deadline.map(instant_ns), vmids, watchdog: self.watchdog.clone(), watchdog_timeout_s: self.settings.watchdog_timeout_s() });
    }
}

pub struct DaemonEnv {
    state: AppState,
    shared: Arc<Shared>,
    quorate: bool,
    nodes: Vec<NodeInfo>,
}

impl DaemonEnv {
    /// An environment for one round; `None` while this node is not a cluster member.
    pub async fn snapshot(state: &AppState, shared: &Arc<Shared>) -> Option<DaemonEnv> {
        state.cluster.raft().await?;
        let config = ClusterConfig::load(&state.db).await.ok()??;
        let quorate = state.sees_quorum(&config).await;
        let online = state.liveness.online(state.node.as_str());
        let mut nodes: Vec<NodeInfo> = config.nodes.iter().map(|n| NodeInfo { name: n.name.clone(), online: online.contains(&n.name) || n.name == state.node.as_str() }).collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Some(DaemonEnv { state: state.clone(), shared: shared.clone(), quorate, nodes })
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), EnvError> {
        let write = self.state.cluster.write(Command::new(ops));
        match tokio::time::timeout(Duration::from_secs(3), write).await {
            Ok(Ok(r)) if r.applied => Ok(()),
            Ok(Ok(_)) => Err(EnvError("changed concurrently".into())),
            Ok(Err(err)) => Err(EnvError(err.to_string())),
            Err(_) => Err(EnvError("cluster not ready - no quorum?".into())),
        }
    }

    /// Take or renew lease `name` into `slot`. True while held with more than `margin` left;
    /// false at once when the record shows someone else took it (or it is gone).
    async fn hold(&self, name: &str, margin: Duration, slot: &Mutex<Option<Held>>) -> bool {
        let s = self.shared.settings;
        let me = self.state.node.as_str();
        let now = Instant::now();
        let held = lock(slot).clone();
        if let Some(h) = &held {
            let record = lease::current(&self.state, name).await.ok().flatten();
            if record.is_none_or(|r| r.holder != me) {
                *lock(slot) = None;
                return false;
            }
            if now < h.renewed + s.renew && h.until > now + margin {
                return true;
            }
        }
        let fresh = held.as_ref().is_none_or(|h| h.until <= now + margin);
        let budget = match &held {
            Some(h) if !fresh => h.until - now - margin,
            _ => Duration::from_secs(3),
        };
        match tokio::time::timeout(budget, lease::grant(&self.state, name, s.lease)).await {
            Ok(Ok(grant)) => {
                // A lease taken anew: read nothing until this copy of the store has caught up
                // with the write that took it (a returning node must see it lost its guests).
                if fresh && !self.state.cluster.catch_up(grant.index, Duration::from_secs(2)).await {
                    return false;
                }
                *lock(slot) = Some(Held { record: grant.record, until: grant.until, renewed: now });
                true
            }
            _ => !fresh && held.is_some_and(|h| h.until > Instant::now() + margin),
        }
    }
}

/// Lines an admin should find in the cluster log: nodes lost, fencing, recovery, HA starts,
/// errors (the failover timeline is built from them, see `timeline.rs`).
fn for_cluster_log(level: Level, message: &str) -> bool {
    level != Level::Info
        || message.starts_with("fencing")
        || message.starts_with("recover")
        || message.contains("=> 'fence'")
        || message.contains("=> 'unknown'")
        || message.contains("=> master")
        || message.contains("lost agent lease")
        || message.contains("had moved")
        // An HA service started: the last step of a failover timeline.
        || (message.starts_with("service '") && message.ends_with("' started"))
}

impl Env for DaemonEnv {
    fn node(&self) -> &str {
        self.state.node.as_str()
    }

    fn unix_time(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    fn log(&self, level: Level, component: Component, message: &str) {
        match level {
            Level::Info => tracing::info!(target: "corral::ha", "{}: {message}", component.as_str()),
            Level::Warn => tracing::warn!(target: "corral::ha", "{}: {message}", component.as_str()),
            Level::Err => tracing::error!(target: "corral::ha", "{}: {message}", component.as_str()),
        }
        if for_cluster_log(level, message) {
            let state = self.state.clone();
            let tag = format!("pve-ha-{}", component.as_str());
            let pri = if level == Level::Info { crate::cluster_log::PRI_INFO } else { crate::cluster_log::PRI_WARNING };
            let message = message.to_string();
            tokio::spawn(async move { crate::cluster_log::append(&state, pri, &tag, "root@pam", &message).await });
        }
    }

    fn new_uid(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    fn quorate(&self) -> bool {
        self.quorate
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.clone()
    }

    async fn read(&self) -> Result<HaState, EnvError> {
        store::read(&self.state.db).await.map_err(|e| EnvError(e.to_string()))
    }

    async fn write_manager_status(&self, status: &ManagerStatus, consumed: &[String]) -> Result<(), EnvError> {
        let Some(held) = lock(&self.shared.manager).clone() else { return Err(EnvError("not the master".into())) };
        let value = serde_json::to_value(status).map_err(|e| EnvError(e.to_string()))?;
        // Only the current master's status lands: the write expects its lease unchanged.
        let mut ops = vec![lease::expect_held(super::MANAGER_LEASE, &held.record), Op::Put { key: store::MANAGER_STATUS.into(), value }];
        ops.extend(consumed.iter().map(|id| Op::Delete { key: format!("{}{id}", store::COMMANDS) }));
        self.write(ops).await
    }

    async fn write_lrm_status(&self, status: &LrmStatus) -> Result<(), EnvError> {
        let value = serde_json::to_value(status).map_err(|e| EnvError(e.to_string()))?;
        self.write(vec![Op::Put { key: store::lrm_key(self.node()), value }]).await
    }

    async fn manager_lock(&self) -> bool {
        self.hold(super::MANAGER_LEASE, Duration::ZERO, &self.shared.manager).await
    }

    async fn release_manager_lock(&self) {
        *lock(&self.shared.manager) = None;
        let _ = lease::release(&self.state, super::MANAGER_LEASE).await;
    }

    async fn agent_lock(&self) -> bool {
        let name = super::agent_lease(self.node());
        let held = self.hold(&name, self.shared.settings.self_fence, &self.shared.agent).await;
        if held {
            let until = lock(&self.shared.agent).as_ref().map(|h| h.until);
            *lock(&self.shared.guard_deadline) = until.map(|u| u - self.shared.settings.guard);
            self.shared.tell_guard();
        }
        held
    }

    async fn release_agent_lock(&self) {
        *lock(&self.shared.agent) = None;
        *lock(&self.shared.guard_deadline) = None;
        self.shared.tell_guard();
        let _ = lease::release(&self.state, &super::agent_lease(self.node())).await;
    }

    async fn fence_lock(&self, node: &str) -> bool {
        let name = super::agent_lease(node);
        let take = lease::grant(&self.state, &name, self.shared.settings.lease);
        matches!(tokio::time::timeout(Duration::from_secs(3), take).await, Ok(Ok(_)))
    }

    async fn release_fence_lock(&self, node: &str) {
        let _ = lease::release(&self.state, &super::agent_lease(node)).await;
    }

    async fn steal_service(&self, sid: &Sid, from: &str, to: &str) -> Result<(), EnvError> {
        let vmid = corral_api_types::Vmid::new(sid.vmid()).map_err(|e| EnvError(e.to_string()))?;
        let record = crate::guests::get(&self.state.db, vmid).await.map_err(|e| EnvError(e.to_string()))?.ok_or_else(|| EnvError(format!("VM {vmid} has no configuration")))?;
        if record.node != from {
            return Err(EnvError(format!("VM {vmid} is no longer on node '{from}'")));
        }
        let mut moved = record.clone();
        moved.node = to.to_string();
        moved.config.remove("lock");
        let replace = crate::guests::replace(&self.state.cluster, vmid, &record, &moved);
        match tokio::time::timeout(Duration::from_secs(3), replace).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(EnvError(err.to_string())),
            Err(_) => Err(EnvError("cluster not ready - no quorum?".into())),
        }
    }

    fn running(&self, sid: &Sid) -> bool {
        corral_api_types::Vmid::new(sid.vmid()).is_ok_and(|v| self.state.vms.is_running(v))
    }

    fn set_guarded(&self, sids: &[Sid]) {
        *lock(&self.shared.guarded) = sids.to_vec();
        self.shared.tell_guard();
    }

    fn stop_all_guarded(&self) {
        let guarded = lock(&self.shared.guarded).clone();
        for sid in guarded {
            let Ok(vmid) = corral_api_types::Vmid::new(sid.vmid()) else { continue };
            if let Some(pid) = self.state.vms.pid(vmid) {
                self.state.vms.expect_exit(vmid);
                if corral_qemu::process::kill_now(&self.state.vms.run, vmid.get()).is_some() {
                    self.log(Level::Warn, Component::Lrm, &format!("killed {sid} (QEMU pid {pid}): agent lease lost"));
                }
            }
        }
    }

    fn spawn(&self, job: Job) {
        super::jobs::spawn(self.state.clone(), self.shared.clone(), job);
    }

    fn finished(&self) -> Vec<JobDone> {
        std::mem::take(&mut *lock(&self.shared.finished))
    }

    fn busy(&self, sid: &Sid) -> bool {
        lock(&self.shared.busy).contains(sid)
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_defaults_hold_and_a_lease_too_short_to_renew_is_refused() {
        assert!(HaSettings::default().validate().is_ok());
        let ms = Duration::from_millis;
        let short = HaSettings { lease: ms(2000), ..HaSettings::default() };
        assert!(short.validate().unwrap_err().contains("no time to renew"));
        let guard_late = HaSettings { guard: ms(1000), ..HaSettings::default() };
        assert!(guard_late.validate().unwrap_err().contains("fence guard"));
        let slow_round = HaSettings { round: ms(2000), ..HaSettings::default() };
        assert!(slow_round.validate().is_err());
        let longer = HaSettings { lease: ms(20_000), renew: ms(2000), self_fence: ms(3000), guard: ms(1500), round: ms(1000) };
        assert!(longer.validate().is_ok());
    }
}
