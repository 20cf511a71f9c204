//! A deterministic simulator of a cluster running HA: nodes with power, network partitions, a
//! daemon that can hang, a replicated store (a write needs a majority of voters; each node
//! reads its own copy, which lags while it is cut off), leases with holder-first deadlines,
//! a fence guard per node, gossip that notices a silent node after `detect_ms`, and guests
//! that start, stop and migrate. Time is virtual: a scenario of minutes runs in milliseconds.
//!
//! The CRM and LRM are the daemon's own ([`crate::crm`], [`crate::lrm`]); only the
//! environment is simulated. The log is the golden file's content.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::crm::Crm;
use crate::env::*;
use crate::lrm::Lrm;
use crate::model::*;

/// The daemon's defaults (server `ha` settings), in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub round_ms: u64,
    pub lease_ms: u64,
    pub renew_ms: u64,
    /// Others wait this much longer than the holder (lease GRACE).
    pub grace_ms: u64,
    /// The LRM gives up (stops its guests) this long before its own deadline.
    pub self_fence_ms: u64,
    /// The guard kills this long before the deadline.
    pub guard_ms: u64,
    pub detect_ms: u64,
    pub start_ms: u64,
    pub stop_ms: u64,
    pub migrate_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { round_ms: 500, lease_ms: 6000, renew_ms: 1000, grace_ms: 1000, self_fence_ms: 1000, guard_ms: 500, detect_ms: 2000, start_ms: 500, stop_ms: 500, migrate_ms: 2000 }
    }
}

pub const MANAGER_LEASE: &str = "ha-manager";

pub fn agent_lease(node: &str) -> String {
    format!("ha-agent-{node}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    holder: String,
    version: u64,
}

#[derive(Debug, Clone, Default)]
struct Store {
    ha: HaState,
    leases: BTreeMap<String, Lease>,
}

#[derive(Default)]
struct Node {
    power: bool,
    group: u32,
    hung: bool,
    replica: Store,
    /// Lease name → (version, when this node first saw it).
    seen: BTreeMap<String, (u64, u64)>,
    /// Lease name → (version, own deadline, when renewed).
    held: BTreeMap<String, (u64, u64, u64)>,
    guard_deadline: Option<u64>,
    guarded: BTreeSet<Sid>,
    jobs: Vec<(u64, Job)>,
    finished: Vec<JobDone>,
    last_heard: BTreeMap<String, u64>,
    fail_start: BTreeMap<Sid, u32>,
}

struct World {
    time: u64,
    t: Timing,
    nodes: BTreeMap<String, Node>,
    store: Store,
    voters: BTreeSet<String>,
    running: BTreeMap<Sid, BTreeSet<String>>,
    log: Vec<String>,
    uid: u64,
    double_runs: u32,
}

impl World {
    fn log(&mut self, level: &str, who: &str, message: &str) {
        let line = format!("{:<4} {:>6.1} {who}: {message}", level, self.time as f64 / 1000.0);
        self.log.push(line);
    }

    fn up(&self, n: &str) -> bool {
        self.nodes.get(n).is_some_and(|n| n.power)
    }

    fn connected(&self, a: &str, b: &str) -> bool {
        a == b || (self.up(a) && self.up(b) && self.nodes[a].group == self.nodes[b].group)
    }

    /// Whether `n`'s store writes commit: its daemon runs and it reaches a majority of voters.
    fn can_write(&self, n: &str) -> bool {
        if !self.up(n) || self.nodes[n].hung {
            return false;
        }
        let reach = self.voters.iter().filter(|v| self.connected(n, v) && !self.nodes[*v].hung).count();
        reach > self.voters.len() / 2
    }

    fn online_view(&self, me: &str, other: &str) -> bool {
        me == other || self.nodes[me].last_heard.get(other).is_some_and(|t| self.time < t + self.t.detect_ms)
    }

    fn quorate(&self, me: &str) -> bool {
        let online = self.voters.iter().filter(|v| self.online_view(me, v)).count();
        online > self.voters.len() / 2
    }

    fn sync(&mut self, n: &str) {
        let store = self.store.clone();
        let now = self.time;
        let node = self.nodes.get_mut(n).expect("node");
        node.replica = store;
        let leases = node.replica.leases.clone();
        node.seen.retain(|name, _| leases.contains_key(name));
        for (name, lease) in leases {
            match node.seen.get(&name) {
                Some((v, _)) if *v == lease.version => {}
                _ => {
                    node.seen.insert(name, (lease.version, now));
                }
            }
        }
    }

    fn held_valid(&self, me: &str, name: &str, margin: u64) -> bool {
        let node = &self.nodes[me];
        let current = node.replica.leases.get(name);
        node.held.get(name).is_some_and(|(v, deadline, _)| current.is_some_and(|c| c.version == *v && c.holder == me) && *deadline > self.time + margin)
    }

    /// Take or renew `name` for `me` (see `server/src/cluster/lease.rs` for the real rules).
    fn lock(&mut self, me: &str, name: &str, margin: u64) -> bool {
        let now = self.time;
        let t = self.t;
        if let Some((version, _, renewed)) = self.nodes[me].held.get(name).copied() {
            let current = self.nodes[me].replica.leases.get(name);
            if current.is_none_or(|c| c.version != version || c.holder != me) {
                // Taken over or released by someone else while this node was away: lost.
                self.nodes.get_mut(me).expect("node").held.remove(name);
                return false;
            }
            if now < renewed + t.renew_ms && self.held_valid(me, name, margin) {
                return true;
            }
        }
        let current = self.nodes[me].replica.leases.get(name).cloned();
        if let Some(c) = &current {
            if c.holder != me {
                let seen = self.nodes[me].seen.get(name).map_or(now, |(_, at)| *at);
                if now < seen + t.lease_ms + t.grace_ms {
                    return false;
                }
            }
        }
        if !self.can_write(me) {
            return self.held_valid(me, name, margin);
        }
        if self.store.leases.get(name) != current.as_ref() {
            self.sync(me);
            self.nodes.get_mut(me).expect("node").held.remove(name);
            return false;
        }
        let lease = Lease { holder: me.to_string(), version: current.map_or(1, |c| c.version + 1) };
        self.store.leases.insert(name.to_string(), lease.clone());
        self.sync(me);
        let node = self.nodes.get_mut(me).expect("node");
        node.held.insert(name.to_string(), (lease.version, now + t.lease_ms, now));
        if name == agent_lease(me) {
            node.guard_deadline = Some(now + t.lease_ms);
        }
        true
    }

    fn release(&mut self, me: &str, name: &str) {
        let node = self.nodes.get_mut(me).expect("node");
        node.held.remove(name);
        if name == agent_lease(me) {
            node.guard_deadline = None;
        }
        if !self.can_write(me) {
            return;
        }
        if self.store.leases.get(name).is_some_and(|l| l.holder == me) {
            self.store.leases.remove(name);
            self.sync(me);
        }
    }

    fn start_guest(&mut self, node: &str, sid: &Sid) {
        let set = self.running.entry(sid.clone()).or_default();
        set.insert(node.to_string());
        if set.len() > 1 {
            let all = set.iter().cloned().collect::<Vec<_>>().join(", ");
            self.double_runs += 1;
            self.log("err", "world", &format!("DOUBLE RUN: {sid} runs on {all}"));
        }
    }

    fn stop_guest(&mut self, node: &str, sid: &Sid) -> bool {
        self.running.get_mut(sid).is_some_and(|s| s.remove(node))
    }

    fn runs_on(&self, node: &str, sid: &Sid) -> bool {
        self.running.get(sid).is_some_and(|s| s.contains(node))
    }

    fn finish(&mut self, node: &str, job: Job) {
        let t = &job.kind;
        let sid = job.sid.clone();
        let owner = self.store.ha.owners.get(&sid).cloned().unwrap_or_default();
        let (code, message) = match t {
            JobKind::Start => {
                let fails = self.nodes.get_mut(node).expect("node").fail_start.get_mut(&sid).filter(|n| **n > 0);
                if let Some(left) = fails {
                    *left -= 1;
                    (ERROR, "start failed (simulated)".to_string())
                } else if owner != node {
                    (ERROR, format!("guest configuration is on node '{owner}'"))
                } else {
                    if !self.runs_on(node, &sid) {
                        self.start_guest(node, &sid);
                    }
                    (SUCCESS, String::new())
                }
            }
            JobKind::Stop => {
                self.stop_guest(node, &sid);
                (SUCCESS, String::new())
            }
            JobKind::Migrate { target } | JobKind::Relocate { target } => {
                if !self.connected(node, target) || !self.can_write(node) {
                    (ERROR, format!("target node '{target}' not reachable"))

                } else {
                    let was = self.stop_guest(node, &sid);
                    if was && matches!(t, JobKind::Migrate { .. }) {
                        self.start_guest(target, &sid);
                    }
                    self.store.ha.owners.insert(sid.clone(), target.clone());
                    self.sync(node);
                    (SUCCESS, String::new())
                }
            }
        };
        let kind = job.kind.clone();
        self.nodes.get_mut(node).expect("node").finished.push(JobDone { sid, kind, exit_code: code, message });
    }

    fn duration(&self, kind: &JobKind) -> u64 {
        match kind {
            JobKind::Start => self.t.start_ms,
            JobKind::Stop | JobKind::Relocate { .. } => self.t.stop_ms,
            JobKind::Migrate { .. } => self.t.migrate_ms,
        }
    }
}

struct NodeEnv<'a> {
    world: &'a RefCell<World>,
    node: String,
}

impl Env for NodeEnv<'_> {
    fn node(&self) -> &str {
        &self.node
    }
    fn unix_time(&self) -> i64 {
        1_767_225_600 + (self.world.borrow().time / 1000) as i64
    }
    fn log(&self, level: Level, component: Component, message: &str) {
        let who = format!("{}/{}", self.node, component.as_str());
        self.world.borrow_mut().log(level.as_str(), &who, message);
    }
    fn new_uid(&self) -> String {
        let mut w = self.world.borrow_mut();
        w.uid += 1;
        format!("u{}", w.uid)
    }
    fn quorate(&self) -> bool {
        self.world.borrow().quorate(&self.node)
    }
    fn nodes(&self) -> Vec<NodeInfo> {
        let w = self.world.borrow();
        w.nodes.keys().map(|n| NodeInfo { name: n.clone(), online: w.online_view(&self.node, n) }).collect()
    }
    async fn read(&self) -> Result<HaState, EnvError> {
        Ok(self.world.borrow().nodes[&self.node].replica.ha.clone())
    }
    async fn write_manager_status(&self, status: &ManagerStatus, consumed: &[String]) -> Result<(), EnvError> {
        let mut w = self.world.borrow_mut();
        if !w.can_write(&self.node) {
            return Err(EnvError("cluster not ready - no quorum?".into()));
        }
        // Only the current master's writes land (the daemon's write expects its lease).
        if w.store.leases.get(MANAGER_LEASE).is_none_or(|l| l.holder != self.node) {
            return Err(EnvError("not the manager lease holder".into()));
        }
        w.store.ha.manager = status.clone();
        w.store.ha.commands.retain(|(id, _)| !consumed.contains(id));
        w.sync(&self.node);
        Ok(())
    }
    async fn write_lrm_status(&self, status: &LrmStatus) -> Result<(), EnvError> {
        let mut w = self.world.borrow_mut();
        if !w.can_write(&self.node) {
            return Err(EnvError("cluster not ready - no quorum?".into()));
        }
        w.store.ha.lrm.insert(self.node.clone(), status.clone());
        w.sync(&self.node);
        Ok(())
    }
    async fn manager_lock(&self) -> bool {
        self.world.borrow_mut().lock(&self.node, MANAGER_LEASE, 0)
    }
    async fn release_manager_lock(&self) {
        self.world.borrow_mut().release(&self.node, MANAGER_LEASE)
    }
    async fn agent_lock(&self) -> bool {
        let margin = self.world.borrow().t.self_fence_ms;
        self.world.borrow_mut().lock(&self.node, &agent_lease(&self.node), margin)
    }
    async fn release_agent_lock(&self) {
        self.world.borrow_mut().release(&self.node, &agent_lease(&self.node))
    }
    async fn fence_lock(&self, node: &str) -> bool {
        self.world.borrow_mut().lock(&self.node, &agent_lease(node), 0)
    }
    async fn release_fence_lock(&self, node: &str) {
        self.world.borrow_mut().release(&self.node, &agent_lease(node))
    }
    async fn steal_service(&self, sid: &Sid, from: &str, to: &str) -> Result<(), EnvError> {
        let mut w = self.world.borrow_mut();
        if !w.can_write(&self.node) {
            return Err(EnvError("cluster not ready - no quorum?".into()));
        }
        if w.store.ha.owners.get(sid).is_some_and(|o| o != from) {
            return Err(EnvError(format!("{sid} is no longer on node '{from}'")));
        }
        w.store.ha.owners.insert(sid.clone(), to.to_string());
        w.sync(&self.node);
        Ok(())
    }
    fn running(&self, sid: &Sid) -> bool {
        self.world.borrow().runs_on(&self.node, sid)
    }
    fn set_guarded(&self, sids: &[Sid]) {
        let mut w = self.world.borrow_mut();
        w.nodes.get_mut(&self.node).expect("node").guarded = sids.iter().cloned().collect();
    }
    fn stop_all_guarded(&self) {
        let mut w = self.world.borrow_mut();
        let guarded: Vec<Sid> = w.nodes[&self.node].guarded.iter().cloned().collect();
        for sid in guarded {
            if w.stop_guest(&self.node.clone(), &sid) {
                let who = format!("{}/lrm", self.node);
                w.log("warn", &who, &format!("stopped {sid} (agent lease lost)"));
            }
        }
    }
    fn spawn(&self, job: Job) {
        let mut w = self.world.borrow_mut();
        if let JobKind::Migrate { target } = &job.kind {
            // The daemon's receiving end refuses an HA guest at once without its agent lease.
            if !w.held_valid(target, &agent_lease(target), 0) {
                let message = format!("node '{target}' does not hold its agent lease");
                w.nodes.get_mut(&self.node).expect("node").finished.push(JobDone { sid: job.sid, kind: job.kind, exit_code: ERROR, message });
                return;
            }
        }
        let due = w.time + w.duration(&job.kind);
        w.nodes.get_mut(&self.node).expect("node").jobs.push((due, job));
    }
    fn finished(&self) -> Vec<JobDone> {
        std::mem::take(&mut self.world.borrow_mut().nodes.get_mut(&self.node).expect("node").finished)
    }
    fn busy(&self, sid: &Sid) -> bool {
        self.world.borrow().nodes[&self.node].jobs.iter().any(|(_, j)| &j.sid == sid)
    }
}

/// Poll a future of the simulated environment, which never waits.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the simulated environment never waits"),
    }
}

pub struct Sim {
    world: RefCell<World>,
    crm: BTreeMap<String, Crm>,
    lrm: BTreeMap<String, Lrm>,
}

impl Sim {
    pub fn new(nodes: &[&str], timing: Timing) -> Self {
        let mut world = World { time: 0, t: timing, nodes: BTreeMap::new(), store: Store::default(), voters: BTreeSet::new(), running: BTreeMap::new(), log: Vec::new(), uid: 0, double_runs: 0 };
        for n in nodes {
            world.nodes.insert(n.to_string(), Node { power: true, ..Default::default() });
            world.voters.insert(n.to_string());
        }
        Sim { world: RefCell::new(world), crm: nodes.iter().map(|n| (n.to_string(), Crm::default())).collect(), lrm: nodes.iter().map(|n| (n.to_string(), Lrm::default())).collect() }
    }

    pub fn log(&self) -> Vec<String> {
        self.world.borrow().log.clone()
    }

    pub fn double_runs(&self) -> u32 {
        self.world.borrow().double_runs
    }

    /// Where each guest runs now.
    pub fn running(&self) -> BTreeMap<Sid, Vec<String>> {
        self.world.borrow().running.iter().filter(|(_, s)| !s.is_empty()).map(|(k, s)| (k.clone(), s.iter().cloned().collect())).collect()
    }

    pub fn manager_status(&self) -> ManagerStatus {
        self.world.borrow().store.ha.manager.clone()
    }

    /// Run for `ms` of virtual time, one round per node every `round_ms`.
    pub fn run(&mut self, ms: u64) {
        let end = self.world.borrow().time + ms;
        while self.world.borrow().time < end {
            self.tick();
        }
    }

    fn tick(&mut self) {
        let names: Vec<String> = self.world.borrow().nodes.keys().cloned().collect();
        {
            let mut w = self.world.borrow_mut();
            w.time += w.t.round_ms;
            let now = w.time;
            self.gossip_and_replicate(&mut w, &names, now);
            for n in &names {
                if !w.up(n) || w.nodes[n].hung {
                    continue;
                }
                let due: Vec<Job> = {
                    let node = w.nodes.get_mut(n).expect("node");
                    let (done, later): (Vec<_>, Vec<_>) = node.jobs.drain(..).partition(|(at, _)| *at <= now);
                    node.jobs = later;
                    done.into_iter().map(|(_, j)| j).collect()
                };
                for job in due {
                    w.finish(n, job);
                }
            }
            for n in &names {
                self.guard(&mut w, n, now);
            }
        }
        for n in &names {
            let active = {
                let w = self.world.borrow();
                w.up(n) && !w.nodes[n].hung
            };
            if !active {
                continue;
            }
            let env = NodeEnv { world: &self.world, node: n.clone() };
            block_on(self.crm.get_mut(n).expect("crm").round(&env));
            block_on(self.lrm.get_mut(n).expect("lrm").round(&env));
        }
    }

    fn gossip_and_replicate(&self, w: &mut World, names: &[String], now: u64) {
        for a in names {
            for b in names {
                if a != b && w.connected(a, b) && !w.nodes[b].hung {
                    w.nodes.get_mut(a).expect("node").last_heard.insert(b.clone(), now);
                }
            }
        }
        // A node that meets the current voters again is resynced and re-added (epoch resync).
        for n in names {
            if w.voters.contains(n) || !w.up(n) || w.nodes[n].hung {
                continue;
            }
            if w.voters.clone().iter().any(|v| w.connected(n, v) && !w.nodes[v].hung) {
                w.voters.insert(n.clone());
                w.log("info", &format!("{n}/cluster"), "rejoined the cluster's new epoch (store resynced)");
            }
        }
        for n in names {
            if w.can_write(n) {
                w.sync(n);
            }
        }
    }

    /// The fence guard: a process beside the daemon that kills the node's HA guests when the
    /// agent lease runs out, whether or not the daemon still runs.
    fn guard(&self, w: &mut World, n: &str, now: u64) {
        let Some(deadline) = w.nodes[n].guard_deadline else { return };
        if !w.up(n) || now + w.t.guard_ms < deadline {
            return;
        }
        let guarded: Vec<Sid> = w.nodes[n].guarded.iter().cloned().collect();
        for sid in guarded {
            if w.stop_guest(n, &sid) {
                w.log("warn", &format!("{n}/guard"), &format!("agent lease runs out - killed {sid}"));
            }
        }
    }

    /// Run one scenario command (see `tests/scenarios/README.md`).
    pub fn command(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        {
            let mut w = self.world.borrow_mut();
            if words.first() != Some(&"wait") {
                w.log("info", "cmdlist", &format!("execute {line}"));
            }
        }
        match words.as_slice() {
            ["wait", secs] => self.run(secs.parse::<f64>().map_err(|e| e.to_string()).map(|s| (s * 1000.0) as u64)?),
            ["repeat", n, ..] => {
                let rest = line.splitn(3, ' ').nth(2).unwrap_or_default().to_string();
                for _ in 0..n.parse::<u32>().map_err(|e| e.to_string())? {
                    for part in rest.split(';') {
                        self.command(part.trim())?;
                    }
                }
            }
            ["power", node, "off"] => self.power_off(node)?,
            ["power", node, "on"] => self.with_node(node, |n| n.power = true)?,
            ["network", node, "off"] => {
                let group = 100 + self.index(node)?;
                self.with_node(node, |n| n.group = group)?
            }
            ["network", node, "on"] => self.with_node(node, |n| n.group = 0)?,
            ["partition", ..] => {
                let mut group = 1;
                for word in &words[1..] {
                    if *word == "|" {
                        group += 1;
                    } else {
                        self.with_node(word, |n| n.group = group)?;
                    }
                }
            }
            ["heal"] => {
                for node in self.world.borrow_mut().nodes.values_mut() {
                    node.group = 0;
                }
            }
            ["hang", node] => self.with_node(node, |n| n.hung = true)?,
            ["resume", node] => self.with_node(node, |n| n.hung = false)?,
            ["expected", node, "1"] => {
                let mut w = self.world.borrow_mut();
                w.voters = [node.to_string()].into();
            }
            ["maintenance", node, "enable"] => {
                self.world.borrow_mut().store.ha.maintenance.insert(node.to_string());
            }
            ["maintenance", node, "disable"] => {
                self.world.borrow_mut().store.ha.maintenance.remove(*node);
            }
            ["service", sid, rest @ ..] => self.service(sid, rest)?,
            _ => return Err(format!("unknown command: {line}")),
        }
        Ok(())
    }

    fn index(&self, node: &str) -> Result<u32, String> {
        self.world.borrow().nodes.keys().position(|n| n == node).map(|i| i as u32).ok_or_else(|| format!("no node {node}"))
    }

    fn with_node(&mut self, node: &str, f: impl FnOnce(&mut Node)) -> Result<(), String> {
        let mut w = self.world.borrow_mut();
        let n = w.nodes.get_mut(node).ok_or_else(|| format!("no node {node}"))?;
        f(n);
        Ok(())
    }

    fn power_off(&mut self, node: &str) -> Result<(), String> {
        let mut w = self.world.borrow_mut();
        let n = w.nodes.get_mut(node).ok_or_else(|| format!("no node {node}"))?;
        let replica = std::mem::take(&mut n.replica);
        let group = n.group;
        // The disk survives; memory, processes and the guard do not.
        *n = Node { power: false, group, replica, ..Default::default() };
        for set in w.running.values_mut() {
            set.remove(node);
        }
        drop(w);
        self.crm.insert(node.to_string(), Crm::default());
        self.lrm.insert(node.to_string(), Lrm::default());
        Ok(())
    }

    fn service(&mut self, sid: &str, rest: &[&str]) -> Result<(), String> {
        let sid = Sid::parse(sid)?;
        let mut w = self.world.borrow_mut();
        match rest {
            ["add", node, state @ ..] => {
                let state = state.first().map(|s| RequestState::parse(s).ok_or(format!("bad state {s}"))).transpose()?;
                w.store.ha.owners.insert(sid.clone(), node.to_string());
                w.store.ha.resources.insert(sid, ResourceConfig { state, ..Default::default() });
            }
            ["running", node] => {
                w.start_guest(node, &sid);
            }
            ["crash"] => {
                w.running.remove(&sid);
            }
            ["delete"] => {
                w.store.ha.resources.remove(&sid);
            }
            ["fail-start", node, count] => {
                let count = count.parse().map_err(|_| "bad count".to_string())?;
                w.nodes.get_mut(*node).ok_or("no node")?.fail_start.insert(sid, count);
            }
            ["max_relocate", n] | ["max_restart", n] => {
                let n: u32 = n.parse().map_err(|_| "bad number".to_string())?;
                let cfg = w.store.ha.resources.get_mut(&sid).ok_or("no such resource")?;
                if rest[0] == "max_relocate" {
                    cfg.max_relocate = Some(n);
                } else {
                    cfg.max_restart = Some(n);
                }
            }
            [verb @ ("migrate" | "relocate"), target] => {
                let command = if *verb == "migrate" { CrmCommand::Migrate { sid, target: target.to_string() } } else { CrmCommand::Relocate { sid, target: target.to_string() } };
                let id = format!("c{}", w.store.ha.commands.len() + w.uid as usize);
                w.store.ha.commands.push((id, command));
            }
            ["rule", nodes @ ..] => {
                let mut rule = NodeAffinityRule { resources: vec![sid.clone()], ..Default::default() };
                for n in nodes {
                    if *n == "strict" {
                        rule.strict = true;
                        continue;
                    }
                    let (name, prio) = n.split_once(':').unwrap_or((n, "0"));
                    rule.nodes.insert(name.to_string(), prio.parse().map_err(|_| "bad priority".to_string())?);
                }
                w.store.ha.rules.insert(format!("rule-{sid}"), rule);
            }
            [state] => {
                let state = RequestState::parse(state).ok_or(format!("bad state {state}"))?;
                w.store.ha.resources.get_mut(&sid).ok_or("no such resource")?.state = Some(state);
            }
            _ => return Err(format!("unknown service command: {rest:?}")),
        }
        Ok(())
    }
}
