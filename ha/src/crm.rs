//! The cluster resource manager. Every node runs one; the one holding the manager lease is the
//! master and decides, each round, the desired state of every service (`manager_status`):
//! PVE's `CRM.pm` (election) and `Manager.pm` (service and node state machines), with one
//! difference that makes failover fast: a node is fenced the moment its agent lease has expired
//! by this node's clock, instead of after PVE's fixed 60 s + 120 s.

use std::collections::BTreeSet;

use crate::env::{Component, Env, Level, NodeInfo};
use crate::model::*;
use crate::select::{select_node, Candidates};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmState {
    WaitForQuorum,
    Slave,
    Master,
    LostManagerLock,
}

impl CrmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitForQuorum => "wait_for_quorum",
            Self::Slave => "slave",
            Self::Master => "master",
            Self::LostManagerLock => "lost_manager_lock",
        }
    }
}

/// Seconds between manager-status writes when nothing changed (the status shows the master's
/// timestamp; PVE calls a master dead after 30 s without one).
const REFRESH_SECS: i64 = 5;

pub struct Crm {
    state: CrmState,
    /// Services whose recovery found no node (logged once, retried every round).
    unplaceable: BTreeSet<Sid>,
    last_write: i64,
}

impl Default for Crm {
    fn default() -> Self {
        Self { state: CrmState::WaitForQuorum, unplaceable: BTreeSet::new(), last_write: 0 }
    }
}

impl Crm {
    pub fn state(&self) -> CrmState {
        self.state
    }

    fn set_state(&mut self, env: &impl Env, state: CrmState) {
        if self.state != state {
            env.log(Level::Info, Component::Crm, &format!("status change {} => {}", self.state.as_str(), state.as_str()));
            self.state = state;
        }
    }

    /// One round: keep or seek the manager lease, and manage while master.
    pub async fn round(&mut self, env: &impl Env) {
        if !env.quorate() {
            if self.state == CrmState::Master {
                self.set_state(env, CrmState::LostManagerLock);
            }
            self.set_state(env, CrmState::WaitForQuorum);
            return;
        }
        let Ok(ha) = env.read().await else { return };
        if self.state != CrmState::Master {
            if ha.resources.is_empty() && ha.manager.service_status.is_empty() {
                self.set_state(env, CrmState::Slave);
                return;
            }
            if !env.manager_lock().await {
                self.set_state(env, CrmState::Slave);
                return;
            }
            self.set_state(env, CrmState::Master);
            self.last_write = 0;
        } else if !env.manager_lock().await {
            self.set_state(env, CrmState::LostManagerLock);
            return;
        }
        self.manage(env, ha).await;
    }

    /// Give up mastership (daemon shutdown) so another node takes over without waiting.
    pub async fn shutdown(&mut self, env: &impl Env) {
        if self.state == CrmState::Master {
            env.release_manager_lock().await;
            self.set_state(env, CrmState::WaitForQuorum);
        }
    }

    async fn manage(&mut self, env: &impl Env, ha: HaState) {
        let mut round = Round { env, ha: &ha, ms: ha.manager.clone(), nodes: env.nodes(), fenced: Vec::new() };
        round.ms.master_node = Some(env.node().to_string());
        round.update_nodes();
        round.sync_services();
        let consumed = round.commands();
        round.fence().await;
        let sids: Vec<Sid> = round.ms.service_status.keys().cloned().collect();
        for sid in sids {
            round.next_state(&sid, &mut self.unplaceable).await;
        }
        let Round { ms, fenced, .. } = round;
        let now = env.unix_time();
        let changed = !consumed.is_empty() || ms.master_node != ha.manager.master_node || ms.node_status != ha.manager.node_status || ms.service_status != ha.manager.service_status;
        if changed || now - self.last_write >= REFRESH_SECS {
            let ms = ManagerStatus { timestamp: now, ..ms };
            if let Err(err) = env.write_manager_status(&ms, &consumed).await {
                env.log(Level::Warn, Component::Crm, &format!("writing manager status failed: {err}"));
                return;
            }
            self.last_write = now;
        }
        // Only now, with the recovery committed, may a fenced node have its lease back.
        for node in fenced {
            env.release_fence_lock(&node).await;
        }
    }
}

/// One manage() pass over a copy of the manager status.
struct Round<'a, E: Env> {
    env: &'a E,
    ha: &'a HaState,
    ms: ManagerStatus,
    nodes: Vec<NodeInfo>,
    /// Nodes fenced this round (their lease is released once the status is written).
    fenced: Vec<String>,
}

impl<E: Env> Round<'_, E> {
    fn log(&self, level: Level, message: &str) {
        self.env.log(level, Component::Crm, message);
    }

    fn node_state(&self, node: &str) -> NodeState {
        self.ms.node_status.get(node).copied().unwrap_or(NodeState::Unknown)
    }

    fn set_node(&mut self, node: &str, state: NodeState) {
        let old = self.ms.node_status.insert(node.to_string(), state);
        if old != Some(state) {
            let from = old.map_or("(new)", NodeState::as_str);
            self.log(Level::Info, &format!("node '{node}': state changed from '{from}' => '{}'", state.as_str()));
        }
    }

    fn update_nodes(&mut self) {
        let nodes = self.nodes.clone();
        for n in &nodes {
            let state = match (n.online, self.ha.maintenance.contains(&n.name)) {
                (true, true) => NodeState::Maintenance,
                (true, false) => NodeState::Online,
                (false, _) => NodeState::Unknown,
            };
            self.set_node(&n.name, state);
        }
        let configured: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        let stale: Vec<String> = self.ms.node_status.keys().filter(|n| !configured.contains(n.as_str())).cloned().collect();
        for node in stale {
            let has_services = self.ms.service_status.values().any(|s| s.node == node);
            if has_services {
                self.set_node(&node, NodeState::Gone);
            } else {
                self.ms.node_status.remove(&node);
                self.log(Level::Info, &format!("node '{node}': removed (no longer a cluster member)"));
            }
        }
    }

    /// New resources enter the status; removed or ignored ones leave it.
    fn sync_services(&mut self) {
        for (sid, cfg) in &self.ha.resources {
            if cfg.request() == RequestState::Ignored || self.ms.service_status.contains_key(sid) {
                continue;
            }
            let Some(owner) = self.ha.owners.get(sid) else { continue };
            let state = if cfg.request() == RequestState::Started { ServiceState::RequestStart } else { ServiceState::RequestStop };
            self.log(Level::Info, &format!("adding new service '{sid}' on node '{owner}'"));
            let uid = self.env.new_uid();
            self.ms.service_status.insert(sid.clone(), ServiceStatus { node: owner.clone(), state, uid, target: None, failed_nodes: vec![], running: false, maintenance_node: None });
        }
        let stale: Vec<Sid> = self.ms.service_status.keys().filter(|s| self.ha.resources.get(*s).is_none_or(|c| c.request() == RequestState::Ignored)).cloned().collect();
        for sid in stale {
            self.log(Level::Info, &format!("removing stale service '{sid}' (no config)"));
            self.ms.service_status.remove(&sid);
        }
    }

    fn commands(&mut self) -> Vec<String> {
        let mut consumed = Vec::new();
        for (id, command) in &self.ha.commands {
            consumed.push(id.clone());
            let (sid, target, relocate) = match command {
                CrmCommand::Migrate { sid, target } => (sid, target, false),
                CrmCommand::Relocate { sid, target } => (sid, target, true),
            };
            let verb = if relocate { "relocate" } else { "migrate" };
            self.log(Level::Info, &format!("got crm command: {verb} {sid} {target}"));
            let online = self.node_state(target) == NodeState::Online;
            let Some(st) = self.ms.service_status.get(sid).cloned() else {
                self.log(Level::Err, &format!("crm command error - no such service: {sid}"));
                continue;
            };
            if !online {
                self.log(Level::Err, &format!("crm command error - node not online: {target}"));
            } else if st.node == *target {
                self.log(Level::Info, &format!("ignore crm command - service already on target node: {verb} {sid} {target}"));
            } else if matches!(st.state, ServiceState::Started | ServiceState::Stopped | ServiceState::RequestStop) {
                let next = if relocate || st.state != ServiceState::Started { ServiceState::Relocate } else { ServiceState::Migrate };
                self.change(sid, next, None, Some(target.clone()));
            } else {
                self.log(Level::Err, &format!("crm command error - service '{sid}' is in state '{}'", st.state.as_str()));
            }
        }
        consumed
    }

    fn change(&mut self, sid: &Sid, state: ServiceState, node: Option<String>, target: Option<String>) {
        let uid = self.env.new_uid();
        let Some(st) = self.ms.service_status.get_mut(sid) else { return };
        let from = st.state;
        st.state = state;
        st.uid = uid;
        st.target = target.clone();
        if let Some(node) = node {
            st.node = node;
        }
        if state != ServiceState::Started {
            st.running = false;
        }
        let mut text = format!("service '{sid}': state changed from '{}' to '{}'", from.as_str(), state.as_str());
        match (state, &target) {
            (ServiceState::Migrate | ServiceState::Relocate, Some(t)) => text += &format!("  (node = {}, target = {t})", st.node),
            (ServiceState::Started | ServiceState::RequestStop | ServiceState::Stopped, _) => text += &format!("  (node = {})", st.node),
            _ => {}
        }
        self.log(Level::Info, &text);
    }

    /// Nodes that are gone from gossip and still have services get fenced: the master takes
    /// their agent lease, which it can only do once the lease has expired by its own clock;
    /// the node stopped its guests before that, so its services may now be recovered.
    async fn fence(&mut self) {
        let candidates: BTreeSet<String> = self
            .ms
            .service_status
            .iter()
            .filter(|(sid, st)| needs_fence(st, self.ha.resources.get(*sid)))
            .map(|(_, st)| st.node.clone())
            .filter(|n| matches!(self.node_state(n), NodeState::Unknown | NodeState::Gone | NodeState::Fence))
            .collect();
        for node in candidates {
            if !self.env.fence_lock(&node).await {
                continue;
            }
            let previous = self.node_state(&node);
            self.set_node(&node, NodeState::Fence);
            let sids: Vec<Sid> = self.ms.service_status.iter().filter(|(sid, st)| st.node == node && needs_fence(st, self.ha.resources.get(*sid))).map(|(s, _)| s.clone()).collect();
            for sid in &sids {
                self.change(sid, ServiceState::Fence, None, None);
            }
            self.log(Level::Info, &format!("fencing: acknowledged - got agent lock for node '{node}'"));
            self.set_node(&node, if previous == NodeState::Gone { NodeState::Gone } else { NodeState::Unknown });
            for sid in &sids {
                self.change(sid, ServiceState::Recovery, None, None);
            }
            self.fenced.push(node);
        }
    }

    fn online_nodes(&self) -> Vec<String> {
        self.ms.node_status.iter().filter(|(_, s)| **s == NodeState::Online).map(|(n, _)| n.clone()).collect()
    }

    fn select(&self, sid: &Sid, current: Option<&str>, avoid: &[String]) -> Option<String> {
        let online = self.online_nodes();
        let candidates = Candidates { online: online.iter().map(String::as_str).collect(), rules: &self.ha.rules, manager: &self.ms };
        select_node(&candidates, sid, current, avoid)
    }

    fn result(&self, st: &ServiceStatus) -> Option<i32> {
        self.ha.lrm.get(&st.node).and_then(|l| l.results.get(&st.uid)).map(|r| r.exit_code)
    }

    async fn next_state(&mut self, sid: &Sid, unplaceable: &mut BTreeSet<Sid>) {
        let Some(cfg) = self.ha.resources.get(sid).cloned() else { return };
        let Some(st) = self.ms.service_status.get(sid).cloned() else { return };
        let request = cfg.request();
        let wants_stop = matches!(request, RequestState::Stopped | RequestState::Disabled);
        match st.state {
            ServiceState::RequestStart => self.change(sid, ServiceState::Started, None, None),
            ServiceState::Started if wants_stop => self.change(sid, ServiceState::RequestStop, None, None),
            ServiceState::Started => self.next_started(sid, &cfg, &st),
            ServiceState::RequestStop => match self.result(&st) {
                Some(SUCCESS) => self.change(sid, ServiceState::Stopped, None, None),
                Some(_) => self.change(sid, ServiceState::Error, None, None),
                None => {}
            },
            ServiceState::Stopped if request == RequestState::Started => self.change(sid, ServiceState::RequestStart, None, None),
            ServiceState::Stopped => {}
            ServiceState::Migrate | ServiceState::Relocate => self.next_moving(sid, &st, request),
            ServiceState::Fence => {}
            ServiceState::Recovery => self.recover(sid, &st, request, unplaceable).await,
            ServiceState::Freeze => self.change(sid, if wants_stop { ServiceState::RequestStop } else { ServiceState::Started }, None, None),
            ServiceState::Error if request == RequestState::Disabled => {
                self.log(Level::Info, &format!("service '{sid}': clearing error flag"));
                self.change(sid, ServiceState::Stopped, None, None);
                if let Some(s) = self.ms.service_status.get_mut(sid) {
                    s.failed_nodes.clear();
                }
            }
            ServiceState::Error => {}
        }
    }

    fn next_started(&mut self, sid: &Sid, cfg: &ResourceConfig, st: &ServiceStatus) {
        match self.result(st) {
            Some(SUCCESS) if !st.running => {
                if let Some(s) = self.ms.service_status.get_mut(sid) {
                    s.running = true;
                    s.failed_nodes.clear();
                }
            }
            Some(SUCCESS) | None => {}
            Some(_) => {
                // The LRM gave up after max_restart: try another node while max_relocate allows.
                let mut failed = st.failed_nodes.clone();
                failed.push(st.node.clone());
                let target = if failed.len() as u32 <= cfg.max_relocate() { self.select(sid, None, &failed) } else { None };
                if let Some(s) = self.ms.service_status.get_mut(sid) {
                    s.failed_nodes = failed;
                }
                match target {
                    Some(target) => {
                        self.log(Level::Warn, &format!("starting service {sid} on node '{}' failed, relocating service.", st.node));
                        self.change(sid, ServiceState::Relocate, None, Some(target));
                    }
                    None => {
                        let failed = self.ms.service_status.get(sid).map(|s| s.failed_nodes.join(", ")).unwrap_or_default();
                        self.log(Level::Err, &format!("recovery policy for service {sid} failed, entering error state. Failed nodes: {failed}"));
                        self.change(sid, ServiceState::Error, None, None);
                    }
                }
                return;
            }
        }
        // Maintenance sends services away; they come back when it ends.
        let node_state = self.node_state(&st.node);
        if node_state == NodeState::Maintenance {
            if let Some(target) = self.select(sid, None, &[]) {
                self.log(Level::Info, &format!("migrate service '{sid}' to node '{target}' (running on node in maintenance)"));
                self.change(sid, ServiceState::Migrate, None, Some(target));
                if let Some(s) = self.ms.service_status.get_mut(sid) {
                    s.maintenance_node = Some(st.node.clone());
                }
            }
            return;
        }
        if let Some(home) = st.maintenance_node.clone() {
            if self.node_state(&home) == NodeState::Online && st.running {
                self.log(Level::Info, &format!("moving service '{sid}' back to '{home}', node came out of maintenance mode"));
                self.change(sid, ServiceState::Migrate, None, Some(home));
                return;
            }
        }
        if cfg.failback() && st.running && node_state == NodeState::Online {
            if let Some(best) = self.select(sid, Some(&st.node), &[]) {
                if best != st.node {
                    self.log(Level::Info, &format!("migrate service '{sid}' to node '{best}' (preferred by rule)"));
                    self.change(sid, ServiceState::Migrate, None, Some(best));
                }
            }
        }
    }

    fn next_moving(&mut self, sid: &Sid, st: &ServiceStatus, request: RequestState) {
        let Some(code) = self.result(st) else { return };
        let target = st.target.clone().unwrap_or_else(|| st.node.clone());
        let keep = st.maintenance_node.clone().filter(|home| *home != target);
        if code == SUCCESS {
            let next = if request == RequestState::Started { ServiceState::Started } else { ServiceState::RequestStop };
            self.change(sid, next, Some(target), None);
        } else {
            self.log(Level::Err, &format!("service '{sid}' - migration failed (exit code {code})"));
            let next = if request == RequestState::Started { ServiceState::Started } else { ServiceState::RequestStop };
            self.change(sid, next, None, None);
        }
        if let Some(s) = self.ms.service_status.get_mut(sid) {
            s.maintenance_node = keep;
        }
    }

    async fn recover(&mut self, sid: &Sid, st: &ServiceStatus, request: RequestState, unplaceable: &mut BTreeSet<Sid>) {
        // A migration that completed just before its source was fenced: the guest is already
        // elsewhere; follow it (if that node is gone too, it gets fenced in turn).
        if let Some(owner) = self.ha.owners.get(sid).filter(|o| **o != st.node).cloned() {
            self.log(Level::Info, &format!("service '{sid}' had moved to node '{owner}' before node '{}' was fenced", st.node));
            self.change(sid, ServiceState::Started, Some(owner), None);
            return;
        }
        let Some(target) = self.select(sid, None, &[]) else {
            if unplaceable.insert(sid.clone()) {
                self.log(Level::Err, &format!("recovering service '{sid}' from fenced node '{}' failed, no recovery node found", st.node));
            }
            return;
        };
        if let Err(err) = self.env.steal_service(sid, &st.node, &target).await {
            self.log(Level::Warn, &format!("recovering service '{sid}' to node '{target}' failed: {err}"));
            return;
        }
        unplaceable.remove(sid);
        self.log(Level::Info, &format!("recover service '{sid}' from fenced node '{}' to node '{target}'", st.node));
        let next = if request == RequestState::Started { ServiceState::Started } else { ServiceState::RequestStop };
        self.change(sid, next, Some(target), None);
        if let Some(s) = self.ms.service_status.get_mut(sid) {
            s.failed_nodes.clear();
        }
    }
}

/// Whether a service pins its node: while its node may still run it, nobody else may.
fn needs_fence(st: &ServiceStatus, cfg: Option<&ResourceConfig>) -> bool {
    let disabled = cfg.is_some_and(|c| c.request() == RequestState::Disabled);
    match st.state {
        ServiceState::Error | ServiceState::Recovery | ServiceState::Fence => false,
        ServiceState::Stopped => !disabled,
        _ => true,
    }
}
