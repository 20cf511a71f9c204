//! Create Cluster (PVE task `clustercreate`): this node becomes the first member of a new
//! cluster. The node's CA (made at first start) becomes the cluster CA, so the node's certificate
//! is already issued under it; the node's ticket and CSRF keys become the cluster's.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine;
use corral_api_types::cluster_config::LinkSpec;
use corral_consensus::{Command, NodeAddr, Op};
use rand::RngCore;
use serde_json::json;

use super::config::{node_cert_key, ClusterConfig, ClusterNode, KEY_AUTHKEY, KEY_AUTH_KEYS, KEY_CA_CERT, KEY_CA_KEY, KEY_CONFIG};
use super::ClusterError;
use crate::cluster_log;
use crate::pki::PkiPaths;
use crate::state::AppState;
use crate::tasks::TaskLog;

/// The corosync authkey size PVE generates: 2048 bits.
pub const AUTHKEY_BYTES: usize = 256;

/// A new cluster authkey (PVE's corosync authkey size), from the OS's randomness.
pub fn new_authkey() -> Vec<u8> {
    let mut authkey = vec![0u8; AUTHKEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut authkey);
    authkey
}

#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub name: String,
    pub nodeid: u64,
    pub votes: u32,
    pub links: BTreeMap<u8, LinkSpec>,
}

/// PVE's rule for cluster names: a node name of at most 15 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 15 {
        return Err("value may only be 15 characters long".into());
    }
    corral_api_types::NodeName::parse(name).map(|_| ()).map_err(|_| format!("value '{name}' does not look like a valid cluster name"))
}

/// Refusals that need no task, for create and join alike: already clustered, link addresses not
/// on this node.
pub async fn precheck(state: &AppState, links: &BTreeMap<u8, LinkSpec>) -> Result<(), ClusterError> {
    if let Some(existing) = ClusterConfig::load(&state.db).await? {
        return Err(ClusterError::Refused(format!("this node is already part of cluster '{}'", existing.name)));
    }
    for (n, link) in links {
        if !crate::host::network::is_local(link.address) {
            return Err(ClusterError::Refused(format!("link{n}: cannot use IP '{}', not found on local node!", link.address)));
        }
    }
    Ok(())
}

/// The address peers use for this node's API: the listen address, or link 0 when listening on
/// every address.
pub fn api_url(listen: SocketAddr, link0: &LinkSpec) -> String {
    let ip = if listen.ip().is_unspecified() { link0.address } else { listen.ip() };
    format!("https://{}", SocketAddr::new(ip, listen.port()))
}

/// This node's signing keys become the cluster's: its tickets stay valid.
async fn auth_keys_document(state: &AppState) -> Result<serde_json::Value, ClusterError> {
    let doc = crate::auth::keys::KeyDocument::load(&state.db, crate::auth::unix_now()).await?;
    serde_json::to_value(doc).map_err(|e| ClusterError::Store(e.to_string()))
}

pub async fn run(state: AppState, req: CreateRequest, log: TaskLog) -> anyhow::Result<()> {
    log.line(format!("Creating cluster '{}' on node '{}'", req.name, state.node)).await;
    precheck(&state, &req.links).await?;
    let link0 = req.links.get(&0).ok_or_else(|| anyhow::anyhow!("link0 is required"))?;

    log.line("Generating the 2048-bit cluster authkey").await;
    let authkey = new_authkey();

    let paths = PkiPaths::new(&state.data_dir);
    let ca_cert = tokio::fs::read_to_string(&paths.ca_cert).await?;
    let ca_key = tokio::fs::read_to_string(&paths.ca_key).await?;
    let node_cert = tokio::fs::read_to_string(&paths.node_cert).await?;
    log.line("Issuing this node's cluster certificate (mutual TLS between nodes)").await;
    let credentials = crate::pki::issue_node_credentials(&ca_cert, &ca_key, state.node.as_str())?;
    state.cluster.tls().install(&credentials)?;

    let api = api_url(state.listen, link0);
    log.line(format!("Initialising the replicated configuration store (node id {}, API {api})", req.nodeid)).await;
    let me = NodeAddr { name: state.node.to_string(), api: api.clone(), fingerprint: state.fingerprint.clone() };
    state.cluster.bootstrap(req.nodeid, me).await?;

    let config = ClusterConfig {
        name: req.name.clone(),
        config_version: 1,
        nodes: vec![ClusterNode {
            name: state.node.to_string(),
            nodeid: req.nodeid,
            votes: req.votes,
            links: req.links.clone(),
            api,
            fingerprint: state.fingerprint.clone(),
            gossip_port: state.liveness.port,
            node_cert: crate::pki::fingerprint_of_pem(&credentials.cert)?,
        }],
    };
    log.line("Writing cluster configuration, CA and keys to the store").await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut command = Command::new(vec![
        Op::Put { key: KEY_CONFIG.into(), value: serde_json::to_value(&config)? },
        Op::Put { key: KEY_AUTHKEY.into(), value: json!(b64.encode(&authkey)) },
        Op::Put { key: KEY_AUTH_KEYS.into(), value: auth_keys_document(&state).await? },
        Op::Put { key: KEY_CA_CERT.into(), value: json!(ca_cert) },
        Op::Put { key: KEY_CA_KEY.into(), value: json!(ca_key) },
        Op::Put { key: node_cert_key(state.node.as_str()), value: json!(node_cert) },
    ]);
    command.ops.extend(crate::auth::token_store::migration_ops(&state.db).await?);
    // What this node kept while standalone (guest configurations) enters the cluster's log,
    // so members that replay the log instead of taking a snapshot get it too.
    let written: std::collections::BTreeSet<String> = command.ops.iter().filter_map(|op| if let Op::Put { key, .. } = op { Some(key.clone()) } else { None }).collect();
    let standalone = corral_consensus::read_prefix(&state.db, "").await?;
    command.ops.extend(standalone.into_iter().filter(|(key, _)| !written.contains(key)).map(|(key, value)| Op::Put { key, value }));
    state.cluster.write(command).await?;
    cluster_log::append(&state, cluster_log::PRI_INFO, "corral", "root@pam", &format!("created cluster '{}'", req.name)).await;
    log.line(format!("Cluster '{}' created; this node is member 1 of 1 and quorate", req.name)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_follow_pve() {
        assert!(check_name("demo-1").is_ok());
        assert!(check_name("a-very-long-name").is_err());
        assert!(check_name("bad_name").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn api_url_prefers_a_specific_listen_address() {
        let link = LinkSpec::parse("10.0.0.1").unwrap();
        assert_eq!(api_url("0.0.0.0:8006".parse().unwrap(), &link), "https://10.0.0.1:8006");
        assert_eq!(api_url("127.0.0.5:9000".parse().unwrap(), &link), "https://127.0.0.5:9000");
        assert_eq!(api_url("[::]:8006".parse().unwrap(), &LinkSpec::parse("fd00::1").unwrap()), "https://[fd00::1]:8006");
    }
}
