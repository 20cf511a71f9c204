//! `GET /cluster/gossip` (corral's own, not PVE's): Sys.Audit on `/`. Every configured node as
//! this node's gossip sees it — alive, round-trip latency, version, load, uptime, whether SSH
//! to it works from here — and this
//! node's datagram counters (dropped forged, foreign or replayed traffic shows up here).

use axum::extract::State;
use axum::Json;
use corral_api_types::cluster::{GossipCounters, GossipMember, GossipReport};
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
            if n.name == me {
                return GossipMember {
                    node: n.name.clone(),
                    local: true,
                    alive: true,
                    address,
                    latency_ms: None,
                    version: Some(env!("CARGO_PKG_VERSION").into()),
                    load: Some(crate::host::proc_stats::read_loadavg()[0]),
                    uptime: Some(crate::host::proc_stats::read_uptime()),
                    ssh: None,
                    ssh_error: None,
                };
            }
            let seen = peers.iter().find(|p| p.node == n.name);
            let status = seen.and_then(|p| p.status.clone());
            GossipMember {
                node: n.name.clone(),
                local: false,
                alive: seen.is_some_and(|p| p.alive),
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
    let counters = state.liveness.counters().map(|c| GossipCounters {
        received: c.received,
        sent: c.sent,
        dropped_malformed: c.dropped_malformed,
        dropped_unauthentic: c.dropped_unauthentic,
        dropped_stale: c.dropped_stale,
        dropped_replayed: c.dropped_replayed,
        dropped_invalid: c.dropped_invalid,
    });
    Ok(GossipReport { members, counters })
}
