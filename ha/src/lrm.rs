//! The local resource manager: on every node, it does what the manager status asks of the
//! services placed on this node (start, stop, migrate, relocate) and reports each command's
//! result once, by its uid (PVE's `LRM.pm`). It runs HA guests only while it holds this node's
//! agent lease; when a renewal fails past the safety margin it stops them all at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::{Component, Env, Job, JobKind, Level};
use crate::model::*;

/// Rounds without local services before the agent lease is given back.
const IDLE_ROUNDS: u32 = 20;
/// Seconds between status writes when nothing changed.
const REFRESH_SECS: i64 = 10;

#[derive(Default)]
pub struct Lrm {
    state: LrmState,
    /// Failed starts per service since its last successful start.
    restarts: BTreeMap<Sid, u32>,
    /// The uid each running job answers.
    jobs: BTreeMap<Sid, String>,
    results: BTreeMap<String, LrmResult>,
    /// Each service's max_restart as last read.
    max_restart: BTreeMap<Sid, u32>,
    idle: u32,
    written: Option<LrmStatus>,
}

impl Lrm {
    pub fn state(&self) -> LrmState {
        self.state
    }

    fn set_state(&mut self, env: &impl Env, state: LrmState) {
        if self.state != state {
            env.log(Level::Info, Component::Lrm, &format!("status change {} => {}", self.state.as_str(), state.as_str()));
            self.state = state;
        }
    }

    pub async fn round(&mut self, env: &impl Env) {
        self.collect(env);
        if self.state == LrmState::Active {
            self.keep_lock(env).await;
        } else {
            // Without the lease, only look whether anything placed here needs it.
            let work = env.read().await.is_ok_and(|ha| self.has_work(env, &ha));
            if work {
                self.keep_lock(env).await;
            } else if self.state == LrmState::LostAgentLock {
                self.set_state(env, LrmState::WaitForAgentLock);
            }
        }
        if self.state == LrmState::Active {
            // Read after the lease: the lease write proves this copy of the store is current.
            if let Ok(ha) = env.read().await {
                self.execute(env, &ha);
                self.maybe_idle(env, &ha).await;
            }
        }
        self.write_status(env).await;
    }

    /// Whether anything placed on this node (or arriving here) needs the agent lease.
    fn has_work(&self, env: &impl Env, ha: &HaState) -> bool {
        !self.jobs.is_empty() || ha.manager.service_status.iter().any(|(sid, st)| st.node == env.node() && (wants_running(st.state) || env.running(sid)) || incoming(st, env.node()))
    }

    /// While active, the lease is kept as long as it has time left (a failed renewal is not yet
    /// a loss); a new lease is only sought with quorum.
    async fn keep_lock(&mut self, env: &impl Env) {
        let held = (self.state == LrmState::Active || env.quorate()) && env.agent_lock().await;
        match (self.state, held) {
            (LrmState::Active, false) => {
                self.set_state(env, LrmState::LostAgentLock);
                env.log(Level::Err, Component::Lrm, "lost agent lease - stopping all HA guests on this node");
                env.stop_all_guarded();
            }
            (LrmState::WaitForAgentLock | LrmState::LostAgentLock, true) => {
                self.set_state(env, LrmState::Active);
                self.idle = 0;
            }
            _ => {}
        }
    }

    async fn maybe_idle(&mut self, env: &impl Env, ha: &HaState) {
        if self.has_work(env, ha) {
            self.idle = 0;
            return;
        }
        self.idle += 1;
        if self.idle >= IDLE_ROUNDS {
            env.set_guarded(&[]);
            env.release_agent_lock().await;
            self.set_state(env, LrmState::WaitForAgentLock);
        }
    }

    fn execute(&mut self, env: &impl Env, ha: &HaState) {
        let me = env.node();
        let mine: Vec<(&Sid, &ServiceStatus)> = ha.manager.service_status.iter().filter(|(_, st)| st.node == me).collect();
        // Guests arriving by migration are guarded too: once they run here, only this node's
        // lease makes that safe.
        let guarded: Vec<Sid> = ha.manager.service_status.iter().filter(|(_, st)| st.node == me || incoming(st, me)).map(|(sid, _)| sid.clone()).collect();
        env.set_guarded(&guarded);
        // Results answer uids still in the manager status; older ones are dropped.
        let online: BTreeSet<String> = env.nodes().into_iter().filter(|n| n.online).map(|n| n.name).collect();
        let live: BTreeSet<&str> = ha.manager.service_status.values().map(|s| s.uid.as_str()).collect();
        self.results.retain(|uid, _| live.contains(uid.as_str()));
        for (sid, st) in mine {
            if env.busy(sid) || self.jobs.contains_key(sid) {
                continue;
            }
            let cfg = ha.resources.get(sid).cloned().unwrap_or_default();
            self.max_restart.insert(sid.clone(), cfg.max_restart());
            let kind = match st.state {
                ServiceState::Started | ServiceState::RequestStart if env.running(sid) => {
                    self.answer(sid, &st.uid, SUCCESS, st.state);
                    continue;
                }
                ServiceState::Started | ServiceState::RequestStart => {
                    if self.restarts.get(sid).copied().unwrap_or(0) > cfg.max_restart() {
                        continue;
                    }
                    if self.results.get(&st.uid).is_some_and(|r| r.exit_code != SUCCESS) {
                        continue;
                    }
                    JobKind::Start
                }
                ServiceState::RequestStop | ServiceState::Stopped | ServiceState::Error if env.running(sid) => JobKind::Stop,
                ServiceState::RequestStop | ServiceState::Stopped => {
                    self.answer(sid, &st.uid, SUCCESS, st.state);
                    continue;
                }
                ServiceState::Migrate | ServiceState::Relocate if self.results.contains_key(&st.uid) => continue,
                ServiceState::Migrate | ServiceState::Relocate => {
                    let target = st.target.clone().unwrap_or_default();
                    if target == me || target.is_empty() {
                        self.answer(sid, &st.uid, EWRONG_NODE, st.state);
                        continue;
                    }
                    if st.state == ServiceState::Migrate && env.running(sid) {
                        // The target takes an HA guest only under its agent lease: start once
                        // its LRM says it is active (unless it is gone; then the job fails).
                        let ready = ha.lrm.get(&target).is_some_and(|l| l.state == LrmState::Active);
                        if !ready && online.contains(&target) {
                            continue;
                        }
                        JobKind::Migrate { target }
                    } else {
                        JobKind::Relocate { target }
                    }
                }
                ServiceState::Error | ServiceState::Fence | ServiceState::Recovery | ServiceState::Freeze => continue,
            };
            self.jobs.insert(sid.clone(), st.uid.clone());
            env.spawn(Job { sid: sid.clone(), kind });
        }
    }

    fn answer(&mut self, sid: &Sid, uid: &str, exit_code: i32, state: ServiceState) {
        // A failure overrides an earlier success of the same command (a started guest that
        // died and could not be started again).
        if exit_code != SUCCESS || !self.results.contains_key(uid) {
            self.results.insert(uid.to_string(), LrmResult { sid: sid.clone(), exit_code, state });
        }
        if exit_code == SUCCESS && matches!(state, ServiceState::Started | ServiceState::RequestStart) {
            self.restarts.remove(sid);
        }
    }

    /// Take in finished jobs; a failed start is retried up to max_restart times before the
    /// failure is reported (the CRM then relocates).
    fn collect(&mut self, env: &impl Env) {
        for done in env.finished() {
            let Some(uid) = self.jobs.remove(&done.sid) else { continue };
            let state = match &done.kind {
                JobKind::Start => ServiceState::Started,
                JobKind::Stop => ServiceState::Stopped,
                JobKind::Migrate { .. } => ServiceState::Migrate,
                JobKind::Relocate { .. } => ServiceState::Relocate,
            };
            if done.exit_code != SUCCESS {
                env.log(Level::Warn, Component::Lrm, &format!("{} of service '{}' failed: {}", kind_name(&done.kind), done.sid, done.message));
            }
            if done.kind == JobKind::Start && done.exit_code != SUCCESS {
                let tries = self.restarts.entry(done.sid.clone()).or_insert(0);
                *tries += 1;
                let max = self.max_restart.get(&done.sid).copied().unwrap_or(1);
                if *tries <= max {
                    env.log(Level::Warn, Component::Lrm, &format!("restart policy: retry number {tries} for service '{}'", done.sid));
                    continue;
                }
                self.restarts.remove(&done.sid);
            }
            if done.exit_code == SUCCESS {
                let what = match &done.kind {
                    JobKind::Start => "started".to_string(),
                    JobKind::Stop => "stopped".to_string(),
                    JobKind::Migrate { target } => format!("migrated to node '{target}'"),
                    JobKind::Relocate { target } => format!("relocated to node '{target}'"),
                };
                env.log(Level::Info, Component::Lrm, &format!("service '{}' {what}", done.sid));
            }
            self.answer(&done.sid, &uid, done.exit_code, state);
        }
    }

    async fn write_status(&mut self, env: &impl Env) {
        let mode = if self.state == LrmState::Maintenance { "maintenance" } else { "active" };
        let status = LrmStatus { state: self.state, mode: mode.into(), timestamp: env.unix_time(), results: self.results.clone() };
        let stale = match &self.written {
            None => true,
            Some(w) => w.state != status.state || w.results != status.results || status.timestamp - w.timestamp >= REFRESH_SECS,
        };
        if stale && env.write_lrm_status(&status).await.is_ok() {
            self.written = Some(status);
        }
    }
}

/// A service migrating or relocating to `node`.
fn incoming(st: &ServiceStatus, node: &str) -> bool {
    matches!(st.state, ServiceState::Migrate | ServiceState::Relocate) && st.target.as_deref() == Some(node)
}

fn wants_running(state: ServiceState) -> bool {
    matches!(state, ServiceState::Started | ServiceState::RequestStart | ServiceState::Migrate | ServiceState::Relocate | ServiceState::RequestStop)
}

fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Start => "start",
        JobKind::Stop => "stop",
        JobKind::Migrate { .. } => "migration",
        JobKind::Relocate { .. } => "relocation",
    }
}
