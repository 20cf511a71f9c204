//! HA in the daemon: the CRM and LRM of `corral-ha` run here in two loops, one round each
//! every `HaSettings::round`, over [`env::DaemonEnv`]. `fence_guard` is the separate process
//! that enforces the agent lease when the daemon cannot; `jobs` runs the LRM's starts, stops
//! and migrations as tasks; `store` is where HA lives in the configuration tree.

pub mod env;
pub mod fence_guard;
pub mod jobs;
pub mod store;
pub mod timeline;

use std::sync::Arc;

use corral_ha::crm::Crm;
use corral_ha::lrm::Lrm;

use crate::state::AppState;
pub use env::{HaSettings, Shared};

pub const MANAGER_LEASE: &str = "ha-manager";

pub fn agent_lease(node: &str) -> String {
    format!("ha-agent-{node}")
}

/// Start the CRM and LRM loops: separate tasks, so a CRM round waiting on a store write
/// never delays the LRM's lease renewal.
pub fn start(state: AppState) {
    let shared = state.ha.clone();
    tokio::spawn(rounds(state.clone(), shared.clone(), Crm::default(), |crm, env| Box::pin(crm.round(env))));
    tokio::spawn(rounds(state, shared, Lrm::default(), |lrm, env| Box::pin(lrm.round(env))));
}

/// Run `round` of `manager` every `HaSettings::round` while this node is a cluster member.
async fn rounds<M>(state: AppState, shared: Arc<Shared>, mut manager: M, round: impl for<'a> Fn(&'a mut M, &'a env::DaemonEnv) -> futures::future::BoxFuture<'a, ()>) {
    let mut ticker = tokio::time::interval(shared.settings.round);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Some(env) = env::DaemonEnv::snapshot(&state, &shared).await {
            round(&mut manager, &env).await;
        }
    }
}

/// Whether HA manages the guest (a resource that is not `ignored`).
pub async fn manages(db: &sqlx::SqlitePool, vmid: corral_api_types::Vmid) -> bool {
    let sid = corral_ha::Sid::vm(vmid.get());
    store::resource(db, &sid).await.ok().flatten().is_some_and(|c| c.request() != corral_ha::RequestState::Ignored)
}
