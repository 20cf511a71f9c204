//! `GET /cluster/gossip` (corral's own, not PVE's): Sys.Audit on `/`. Every configured node as
//! this node's gossip sees it — alive, round-trip latency, version, load, uptime, whether SSH
//! to it works from here — and this
//! node's datagram counters (dropped forged, foreign or replayed traffic shows up here).

use axum::extract::State;
use axum::Json;
use corral_api_types::cluster::{GossipMember, GossipReport};
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::cluster::ClusterConfig;
use crate::state::AppState;

pub async fn get_gossip(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    Ok(crate::api::data(report(&state).await?))
}

pub async fn report(state: &AppState) -> sqlx::Result<GossipReport> {
    let Some(config) = ClusterConfig::load(&state.db).await? else { return Ok(GossipReport::default()) };
    let peers = state.liveness.peers();
    let ssh = state.ssh_peers.status();
    let me = state.node.as_str();
    let members = config
        .nodes
        .iter()
        .map(|n| {
            let address = n.links.get(&0).map(|l| std::net::SocketAddr::new(l.address, n.gossip_port).to_string()).unwrap_or_default();
            let local = n.name == me;
            let seen = peers.iter().find(|p| p.node == n.name);
            // This node's own figures are what it publishes to the others.
            let status = if local { Some(state.liveness.status()) } else { seen.and_then(|p| p.status.clone()) };
            GossipMember {
                node: n.name.clone(),
                local,
                alive: local || seen.is_some_and(|p| p.alive),
                state: if local { "online" } else { crate::cluster::liveness::Liveness::state_of(&peers, &n.name) }.into(),
                address,
                latency_ms: seen.and_then(|p| p.rtt_us).map(|us| us as f64 / 1000.0),
                version: status.as_ref().map(|s| s.version.clone()),
                load: status.as_ref().map(|s| s.load),
                uptime: status.as_ref().map(|s| s.uptime),
                ssh: ssh.get(&n.name).map(|r| r.is_ok()),
                ssh_error: ssh.get(&n.name).and_then(|r| r.clone().err()),
            }
        })
        .collect();
    Ok(GossipReport { members, counters: state.liveness.counters() })
}
