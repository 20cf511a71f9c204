//! The cluster configuration document (store key `cluster/config`, PVE's corosync.conf) and the
//! other keys of the replicated tree.

use std::collections::BTreeMap;

use corral_api_types::cluster_config::{ClusterConfigNode, JoinInfo, JoinNode, LinkSpec};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

pub const KEY_CONFIG: &str = "cluster/config";
/// The 2048-bit cluster secret (base64); gossip keys are derived from it.
pub const KEY_AUTHKEY: &str = "priv/authkey";
/// Ticket and CSRF signing keys (base64), shared so tickets are valid on every node.
pub const KEY_AUTH_KEYS: &str = "priv/auth-keys";
pub const KEY_CA_CERT: &str = "pki/ca.pem";
pub const KEY_CA_KEY: &str = "priv/ca.key";

/// PVE's `digest` of a stored document (SHA-1 hex, as PVE sends it), for optimistic concurrency.
pub fn digest_of(document: &impl Serialize) -> String {
    let text = serde_json::to_vec(document).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &text).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn node_cert_key(node: &str) -> String {
    format!("nodes/{node}/cert.pem")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    pub nodeid: u64,
    pub votes: u32,
    /// Link number → address.
    pub links: BTreeMap<u8, LinkSpec>,
    /// Where this node's API answers (`https://ip:port`).
    pub api: String,
    /// SHA-256 fingerprint of its HTTPS certificate.
    pub fingerprint: String,
    /// UDP port of its gossip member, on its link 0 address.
    #[serde(default = "default_gossip_port")]
    pub gossip_port: u16,
    /// SHA-256 fingerprint of its cluster certificate (mutual TLS between nodes): node-to-node
    /// calls are taken only from the members listed here.
    #[serde(default)]
    pub node_cert: String,
}

impl ClusterNode {
    /// The cluster certificate a call to this member must meet (none recorded: older entries).
    pub fn cert_pin(&self) -> Option<&str> {
        (!self.node_cert.is_empty()).then_some(self.node_cert.as_str())
    }
}

fn default_gossip_port() -> u16 {
    super::liveness::DEFAULT_GOSSIP_PORT
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    pub name: String,
    pub config_version: u64,
    pub nodes: Vec<ClusterNode>,
}

impl ClusterConfig {
    pub async fn load(db: &SqlitePool) -> sqlx::Result<Option<Self>> {
        Ok(corral_consensus::read(db, KEY_CONFIG).await?.and_then(|v| serde_json::from_value(v).ok()))
    }

    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn expected_votes(&self) -> u32 {
        self.nodes.iter().map(|n| n.votes).sum()
    }

    /// The `totem` section as PVE's API returns it (all values strings).
    pub fn totem(&self) -> serde_json::Value {
        let links: std::collections::BTreeSet<u8> = self.nodes.iter().flat_map(|n| n.links.keys().copied()).collect();
        let interface: serde_json::Map<String, serde_json::Value> =
            links.iter().map(|l| (l.to_string(), serde_json::json!({ "linknumber": l.to_string() }))).collect();
        serde_json::json!({
            "cluster_name": self.name,
            "config_version": self.config_version.to_string(),
            "interface": interface,
            "ip_version": "ipv4-6",
            "link_mode": "passive",
            "secauth": "on",
            "token_coefficient": "125",
            "version": "2",
        })
    }

    /// A digest over the configuration, for optimistic concurrency as PVE's `config_digest`.
    pub fn digest(&self) -> String {
        digest_of(self)
    }

    fn rings(node: &ClusterNode) -> BTreeMap<String, String> {
        node.links.iter().map(|(n, l)| (format!("ring{n}_addr"), l.address.to_string())).collect()
    }

    pub fn api_nodes(&self) -> Vec<ClusterConfigNode> {
        let mut nodes: Vec<ClusterConfigNode> = self
            .nodes
            .iter()
            .map(|n| ClusterConfigNode {
                node: n.name.clone(),
                name: n.name.clone(),
                nodeid: n.nodeid.to_string(),
                quorum_votes: n.votes.to_string(),
                rings: Self::rings(n),
            })
            .collect();
        nodes.sort_by_key(|n| n.nodeid.parse::<u64>().unwrap_or(0));
        nodes
    }

    pub fn join_info(&self, preferred: &str) -> JoinInfo {
        JoinInfo {
            nodelist: self
                .nodes
                .iter()
                .map(|n| JoinNode {
                    name: n.name.clone(),
                    nodeid: n.nodeid.to_string(),
                    quorum_votes: n.votes.to_string(),
                    pve_addr: api_host(&n.api).unwrap_or_else(|| n.links.get(&0).map(|l| l.address.to_string()).unwrap_or_default()),
                    pve_fp: n.fingerprint.clone(),
                    api: n.api.clone(),
                    rings: Self::rings(n),
                })
                .collect(),
            preferred_node: preferred.to_string(),
            totem: self.totem(),
            config_digest: self.digest(),
        }
    }
}

/// Change the cluster configuration without losing a concurrent change: read, change, and
/// commit only if nobody changed it meanwhile (compare-and-set), else start over. `change` may
/// refuse (its error is returned) and may add operations to the same commit. Bumps
/// `config_version`.
pub async fn update(
    db: &SqlitePool,
    cluster: &super::ClusterHandle,
    mut change: impl FnMut(&mut ClusterConfig) -> Result<Vec<corral_consensus::Op>, super::ClusterError>,
) -> Result<ClusterConfig, super::ClusterError> {
    use corral_consensus::{Command, Op};
    for _ in 0..50 {
        let raw = corral_consensus::read(db, KEY_CONFIG).await?;
        let mut config: ClusterConfig = raw
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| super::ClusterError::Refused("this node is not in a cluster".into()))?;
        let extra = change(&mut config)?;
        config.config_version += 1;
        let value = serde_json::to_value(&config).map_err(|e| super::ClusterError::Store(e.to_string()))?;
        let mut ops = vec![Op::Expect { key: KEY_CONFIG.into(), value: raw }, Op::Put { key: KEY_CONFIG.into(), value }];
        ops.extend(extra);
        if cluster.write(Command::new(ops)).await?.applied {
            return Ok(config);
        }
        // Someone else's change landed first (or this node's copy lags the leader): again.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(super::ClusterError::Refused("the cluster configuration kept changing; try again".into()))
}

/// The address part of `https://<ip>:<port>` (without brackets for IPv6).
pub fn api_host(api: &str) -> Option<String> {
    let rest = api.strip_prefix("https://")?;
    let (host, _port) = rest.rsplit_once(':')?;
    Some(host.trim_start_matches('[').trim_end_matches(']').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totem_and_nodes_use_pve_strings() {
        let cfg = ClusterConfig {
            name: "demo".into(),
            config_version: 3,
            nodes: vec![ClusterNode {
                name: "n1".into(),
                nodeid: 1,
                votes: 1,
                links: BTreeMap::from([(0, LinkSpec::parse("10.0.0.1").unwrap())]),
                api: "https://10.0.0.1:8006".into(),
                fingerprint: "AA".into(),
                gossip_port: 5405,
                node_cert: String::new(),
            }],
        };
        let totem = cfg.totem();
        assert_eq!(totem["config_version"], "3");
        assert_eq!(totem["interface"]["0"]["linknumber"], "0");
        let nodes = serde_json::to_value(cfg.api_nodes()).unwrap();
        assert_eq!(nodes[0]["nodeid"], "1");
        assert_eq!(nodes[0]["ring0_addr"], "10.0.0.1");
        let join = cfg.join_info("n1");
        assert_eq!(join.nodelist[0].pve_addr, "10.0.0.1");
        assert_eq!(cfg.expected_votes(), 1);
        assert_eq!(api_host("https://[fd00::1]:8006").as_deref(), Some("fd00::1"));
    }
}
