//! `GET /cluster/status`: Sys.Audit on `/`. Standalone: a single local node entry, node id 0.
//! In a cluster: a `cluster` entry (name, node count, config version, quorate) and one entry
//! per configured node.

use axum::extract::State;
use axum::Json;
use corral_api_types::cluster::ClusterStatusEntry;
use serde_json::Value;

use crate::api::error::ApiResult;
use crate::api::params::RawParams;
use crate::auth::{Authenticated, Privilege};
use crate::cluster::{quorum, ClusterConfig};
use crate::state::AppState;

fn local_ip(state: &AppState) -> Option<String> {
    crate::host::network::primary_address(state.listen).map(|a| a.to_string()).or_else(|| Some("127.0.0.1".into()))
}

pub async fn get_status(auth: Authenticated, State(state): State<AppState>, params: RawParams) -> ApiResult<Json<Value>> {
    params.check::<serde::de::IgnoredAny>(&[])?;
    auth.require(Privilege::SysAudit, "/")?;
    let Some(config) = ClusterConfig::load(&state.db).await? else {
        return Ok(crate::api::data(vec![ClusterStatusEntry::Node {
            id: format!("node/{}", state.node),
            name: state.node.to_string(),
            nodeid: 0,
            ip: local_ip(&state),
            local: true,
            online: true,
            level: String::new(),
        }]));
    };
    let online = state.liveness.online(state.node.as_str());
    let mut entries = vec![ClusterStatusEntry::Cluster {
        id: "cluster".into(),
        name: config.name.clone(),
        nodes: config.nodes.len() as u32,
        version: config.config_version,
        quorate: state.sees_quorum(&config).await,
        leader: state.cluster.leader_name().await,
        expected_votes: Some(quorum::expected_votes(&config, state.cluster.voters().await.as_ref())),
        term: state.cluster.term().await,
    }];
    for node in &config.nodes {
        entries.push(ClusterStatusEntry::Node {
            id: format!("node/{}", node.name),
            name: node.name.clone(),
            nodeid: node.nodeid as u32,
            ip: node.links.get(&0).map(|l| l.address.to_string()),
            local: node.name == state.node.as_str(),
            online: online.contains(&node.name),
            level: String::new(),
        });
    }
    Ok(crate::api::data(entries))
}
