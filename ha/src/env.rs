//! The seam between HA's logic and the world. The daemon implements [`Env`] over the Raft
//! store, gossip, leases and QEMU; the simulator over a modelled cluster with a virtual clock.
//! The logic calls nothing else, so both run exactly the same code.

use std::fmt;

use crate::model::{HaState, LrmStatus, ManagerStatus, Sid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Err,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Err => "err",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Crm,
    Lrm,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Lrm => "lrm",
        }
    }
}

/// A store write or read that did not happen (no quorum, conflict, I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError(pub String);

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Work the LRM hands to the environment; it runs in the background (a start takes about a
/// second, a live migration longer) while rounds and lease renewals go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    Start,
    Stop,
    /// Live-migrate to the target (the guest's owner changes when it completes).
    Migrate { target: String },
    /// Stop here and hand the (stopped) guest's configuration to the target.
    Relocate { target: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub sid: Sid,
    pub kind: JobKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDone {
    pub sid: Sid,
    pub kind: JobKind,
    /// `model::SUCCESS`, `model::ERROR`, …
    pub exit_code: i32,
    pub message: String,
}

/// A configured node and whether gossip hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub online: bool,
}

#[allow(async_fn_in_trait)]
pub trait Env {
    /// This node's name.
    fn node(&self) -> &str;
    /// Wall-clock seconds, for status timestamps only (never for a safety decision).
    fn unix_time(&self) -> i64;
    fn log(&self, level: Level, component: Component, message: &str);
    /// A fresh command id for the LRM protocol.
    fn new_uid(&self) -> String;

    /// Whether the voters this node hears hold a quorum.
    fn quorate(&self) -> bool;
    /// The configured nodes (sorted by name) and who is online.
    fn nodes(&self) -> Vec<NodeInfo>;

    /// The HA part of this node's copy of the store.
    async fn read(&self) -> Result<HaState, EnvError>;
    /// Write the manager status and drop the consumed CRM commands, in one store write.
    async fn write_manager_status(&self, status: &ManagerStatus, consumed: &[String]) -> Result<(), EnvError>;
    async fn write_lrm_status(&self, status: &LrmStatus) -> Result<(), EnvError>;

    /// Take or renew the manager lease. `true` while this node holds it.
    async fn manager_lock(&self) -> bool;
    async fn release_manager_lock(&self);
    /// Take or renew this node's agent lease. `true` while held with time left.
    async fn agent_lock(&self) -> bool;
    async fn release_agent_lock(&self);
    /// Take (or keep renewing) another node's agent lease: possible only once that node's
    /// lease has expired by this node's reckoning, which proves the node stopped its guests.
    async fn fence_lock(&self, node: &str) -> bool;
    /// Give back a fenced node's agent lease (its services have been moved away).
    async fn release_fence_lock(&self, node: &str);
    /// Move a guest's configuration to another node (recovery after fencing).
    async fn steal_service(&self, sid: &Sid, from: &str, to: &str) -> Result<(), EnvError>;

    /// Whether the guest runs on this node.
    fn running(&self, sid: &Sid) -> bool;
    /// The HA guests this node may run: the fence guard kills exactly these when the agent
    /// lease runs out. Set before a start.
    fn set_guarded(&self, sids: &[Sid]);
    /// Stop every HA guest of this node now (the agent lease is lost).
    fn stop_all_guarded(&self);
    fn spawn(&self, job: Job);
    /// Jobs finished since the last call.
    fn finished(&self) -> Vec<JobDone>;
    /// Whether a job for `sid` is still running.
    fn busy(&self, sid: &Sid) -> bool;
}
