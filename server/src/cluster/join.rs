//! Joining a cluster (PVE task `clusterjoin`) and admitting a joiner, in two phases:
//!
//! 1. The joiner logs in to the peer as `root@pam` (password typed by the admin; the peer pinned
//!    by the pasted fingerprint) and asks `POST /cluster/config/nodes/{name}`. The peer checks
//!    everything and changes nothing; it answers with the node id and the cluster authkey.
//!    The answer also carries the joiner's cluster certificate, issued under the cluster CA.
//! 2. The joiner starts an empty Raft member and calls the peer's node-to-node `join` over
//!    mutual TLS with that certificate. The cluster's leader copies the store to the joiner,
//!    makes it a voter and records it (with its certificate's fingerprint) in the configuration.
//!    Then the joiner takes the cluster's ticket keys.
//!
//! A refusal in phase 1 leaves both sides as they were; a failure in phase 2 makes the joiner
//! drop what it started.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use corral_api_types::cluster_config::LinkSpec;
use corral_api_types::Vmid;
use corral_consensus::{Command, NodeAddr, Op};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{node_cert_key, ClusterConfig, ClusterNode, KEY_AUTHKEY, KEY_AUTH_KEYS, KEY_CA_CERT, KEY_CA_KEY};
use super::peer_client::{pinned_client, pve_data};
use super::{create, ClusterError};
use crate::auth::AuthKeys;
use crate::cluster_log;
use crate::state::AppState;
use crate::tasks::TaskLog;

/// Most nodes one cluster takes (PVE's documentation's long-standing figure).
pub const MAX_NODES: usize = 32;
/// Phase 2 includes copying the whole store to the joiner.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(90);

/// What a joiner asks the peer for (phase 1) and the cluster to do (phase 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub nodeid: Option<u64>,
    pub votes: u32,
    pub links: BTreeMap<u8, LinkSpec>,
    pub api: String,
    pub fingerprint: String,
    pub version: String,
    #[serde(default = "default_gossip_port")]
    pub gossip_port: u16,
    /// The guests the joiner has: it must have none, its configuration is replaced.
    #[serde(default)]
    pub guests: Vec<Vmid>,
}

fn default_gossip_port() -> u16 {
    super::liveness::DEFAULT_GOSSIP_PORT
}

/// The peer's answer to phase 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Admission {
    pub nodeid: u64,
    pub clustername: String,
    /// base64 of the 2048-bit authkey (PVE returns `corosync_authkey` here too).
    pub corosync_authkey: String,
    /// The peer's node name: its cluster certificate is checked against it.
    pub peer_node: String,
    /// The cluster CA and the joiner's cluster certificate, issued by the peer.
    pub node_credentials: crate::pki::NodeCredentials,
}

fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// How long a peer waits for quorum before refusing a joiner: right after a join gossip needs
/// a moment to see the new member, and scripts join nodes back to back.
const QUORUM_WAIT: Duration = Duration::from_secs(10);

async fn wait_for_quorum(state: &AppState, config: &ClusterConfig) -> Result<(), ClusterError> {
    let deadline = tokio::time::Instant::now() + QUORUM_WAIT;
    while !state.sees_quorum(config).await {
        if tokio::time::Instant::now() >= deadline {
            return Err(ClusterError::NoQuorum);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Every check the peer makes before anything changes; the node id the joiner gets.
pub async fn admit(state: &AppState, who: &Candidate) -> Result<(ClusterConfig, u64), ClusterError> {
    let config = ClusterConfig::load(&state.db).await?.ok_or_else(|| ClusterError::Refused("the peer is not in a cluster".into()))?;
    wait_for_quorum(state, &config).await?;
    let ours = env!("CARGO_PKG_VERSION");
    if major_minor(&who.version) != major_minor(ours) {
        return Err(ClusterError::Refused(format!("version mismatch: the joining node runs corral {}, the cluster runs {ours}", who.version)));
    }
    if !who.guests.is_empty() {
        let ids: Vec<String> = who.guests.iter().map(Vmid::to_string).collect();
        return Err(ClusterError::Refused(format!(
            "this host already contains virtual guests (VMID {}); the cluster's configuration would replace theirs - remove or back them up first",
            ids.join(", ")
        )));
    }
    if config.node(&who.name).is_some() {
        return Err(ClusterError::Refused(format!("can't add existing node '{}'", who.name)));
    }
    if config.nodes.len() >= MAX_NODES {
        return Err(ClusterError::Refused(format!("the cluster already has {MAX_NODES} nodes, the most corral supports")));
    }
    let nodeid = match who.nodeid {
        Some(id) => {
            if let Some(user) = config.nodes.iter().find(|n| n.nodeid == id) {
                return Err(ClusterError::Refused(format!("node id {id} is already used by node '{}'", user.name)));
            }
            id
        }
        None => state.cluster.allocate_node_id(&config.nodes.iter().map(|n| n.nodeid).collect()).await,
    };
    for (n, link) in &who.links {
        for other in &config.nodes {
            if other.links.values().any(|l| l.address == link.address) {
                return Err(ClusterError::Refused(format!("address '{}' already used on link ring{n}_addr by node '{}'", link.address, other.name)));
            }
        }
    }
    let cluster_links: std::collections::BTreeSet<u8> = config.nodes.iter().flat_map(|n| n.links.keys().copied()).collect();
    for n in &cluster_links {
        if !who.links.contains_key(n) {
            return Err(ClusterError::Refused(format!("link{n} exists in cluster config but wasn't specified for new node")));
        }
    }
    for n in who.links.keys() {
        if !cluster_links.contains(n) {
            return Err(ClusterError::Refused(format!("link{n} was specified for new node but doesn't exist in cluster config")));
        }
    }
    Ok((config, nodeid))
}

/// Phase 1 on the peer: every check, then the answer (node id, authkey, and the joiner's
/// cluster certificate, issued here under the cluster CA). Nothing is stored.
pub async fn admission(state: &AppState, who: &Candidate) -> Result<Admission, ClusterError> {
    let (config, nodeid) = admit(state, who).await?;
    let text = |value: Option<Value>| value.and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let ca_cert = text(corral_consensus::read(&state.db, KEY_CA_CERT).await?);
    let ca_key = text(corral_consensus::read(&state.db, KEY_CA_KEY).await?);
    let node_credentials = crate::pki::issue_node_credentials(&ca_cert, &ca_key, &who.name)
        .map_err(|e| ClusterError::Store(format!("issuing the cluster certificate for '{}': {e:#}", who.name)))?;
    Ok(Admission {
        nodeid,
        clustername: config.name,
        corosync_authkey: text(corral_consensus::read(&state.db, KEY_AUTHKEY).await?),
        peer_node: state.node.to_string(),
        node_credentials,
    })
}

/// Phase 2 on the peer: admit again (the cluster may have changed), add the member, record it
/// with `node_cert`, the fingerprint of the cluster certificate it called with.
pub async fn enroll(state: &AppState, who: Candidate, nodeid: u64, node_cert: String) -> Result<(), ClusterError> {
    admit(state, &Candidate { nodeid: Some(nodeid), ..who.clone() }).await?;
    let addr = NodeAddr { name: who.name.clone(), api: who.api.clone(), fingerprint: who.fingerprint.clone() };
    // The node enters the configuration first, atomically checked against other joiners (so
    // two can never get the same name or id), and becomes a Raft member after that.
    let entry = ClusterNode {
        name: who.name.clone(),
        nodeid,
        votes: who.votes,
        links: who.links.clone(),
        api: who.api.clone(),
        fingerprint: who.fingerprint.clone(),
        gossip_port: who.gossip_port,
        node_cert,
    };
    super::config::update(&state.db, &state.cluster, |config| {
        if let Some(other) = config.nodes.iter().find(|n| n.name == entry.name || n.nodeid == entry.nodeid) {
            return Err(ClusterError::Refused(format!("node '{}' with id {} is already in the cluster (joined meanwhile)", other.name, other.nodeid)));
        }
        config.nodes.push(entry.clone());
        Ok(Vec::new())
    })
    .await?;
    if let Err(err) = state.cluster.add_member(nodeid, addr).await {
        let name = who.name.clone();
        let _ = super::config::update(&state.db, &state.cluster, |config| {
            config.nodes.retain(|n| n.name != name);
            Ok(Vec::new())
        })
        .await;
        return Err(err);
    }
    cluster_log::append(state, cluster_log::PRI_INFO, "corral", "root@pam", &format!("adding node {} to cluster", who.name)).await;
    Ok(())
}

/// `delnode`: take a node out of the Raft membership and the configuration. The node itself
/// must be off (or at least not come back as a member: its node id is never reused).
pub async fn remove(state: &AppState, name: &str) -> Result<(), ClusterError> {
    let config = ClusterConfig::load(&state.db).await?.ok_or_else(|| ClusterError::Refused("this node is not in a cluster".into()))?;
    if name == state.node.as_str() {
        return Err(ClusterError::Refused("Cannot delete myself from cluster!".into()));
    }
    let node = config.node(name).cloned().ok_or_else(|| ClusterError::Refused(format!("Node/IP: {name} is not a known host of the cluster.")))?;
    if !state.sees_quorum(&config).await {
        return Err(ClusterError::NoQuorum);
    }
    state.cluster.remove_member(node.nodeid).await?;
    super::config::update(&state.db, &state.cluster, |config| {
        config.nodes.retain(|n| n.name != name);
        // Its root key leaves every node's authorized_keys with it.
        Ok(vec![Op::Delete { key: node_cert_key(name) }, Op::Delete { key: super::ssh::store_key(name) }])
    })
    .await?;
    cluster_log::append(state, cluster_log::PRI_INFO, "corral", "root@pam", &format!("deleting node {name} from cluster")).await;
    Ok(())
}

/// What the admin gave `POST /cluster/config/join`.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The peer: an address, optionally with `:port` (default 8006).
    pub hostname: String,
    pub password: String,
    pub fingerprint: String,
    pub nodeid: Option<u64>,
    pub votes: u32,
    pub links: BTreeMap<u8, LinkSpec>,
    /// This node's guests (the peer refuses the join unless there are none).
    pub guests: Vec<Vmid>,
}

pub fn peer_url(hostname: &str) -> String {
    let has_port = match hostname.rsplit_once(':') {
        Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    };
    let bare_v6 = hostname.parse::<std::net::Ipv6Addr>().is_ok();
    match (has_port, bare_v6) {
        (true, _) => format!("https://{hostname}"),
        (false, true) => format!("https://[{hostname}]:8006"),
        (false, false) => format!("https://{hostname}:8006"),
    }
}

pub async fn run(state: AppState, req: JoinRequest, log: TaskLog) -> anyhow::Result<()> {
    create::precheck(&state, &req.links).await?;
    let peer = peer_url(&req.hostname);
    log.line(format!("Establishing API connection with host '{}'", req.hostname)).await;
    let client = pinned_client(&req.fingerprint, Duration::from_secs(30))?;
    let login = client
        .post(format!("{peer}/api2/json/access/ticket"))
        .form(&[("username", "root@pam"), ("password", req.password.as_str())])
        .send()
        .await
        .map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("not verified") {
                anyhow::anyhow!("fingerprint '{}' not verified, abort!", req.fingerprint)
            } else {
                anyhow::anyhow!("cannot connect to {peer}: {e}")
            }
        })?;
    let ticket = pve_data(login).await.map_err(|e| anyhow::anyhow!("login at the peer failed: {e}"))?;
    let auth = format!("PVEAuthCookie={}", ticket["ticket"].as_str().unwrap_or_default());
    let csrf = ticket["CSRFPreventionToken"].as_str().unwrap_or_default().to_string();
    log.line("Login succeeded.").await;

    let api_version = pve_data(client.get(format!("{peer}/api2/json/cluster/config/apiversion")).header("Cookie", &auth).send().await?).await?;
    log.line(format!("check cluster join API version: peer has {api_version}")).await;

    let link0 = req.links.get(&0).ok_or_else(|| anyhow::anyhow!("link0 is required"))?;
    let me = Candidate {
        name: state.node.to_string(),
        nodeid: req.nodeid,
        votes: req.votes,
        links: req.links.clone(),
        api: create::api_url(state.listen, link0),
        fingerprint: state.fingerprint.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        gossip_port: state.liveness.port,
        guests: req.guests.clone(),
    };
    log.line(format!("Request addition of this node ('{}') to the cluster", me.name)).await;
    let mut form: Vec<(String, String)> = vec![
        ("apiversion".into(), "1".into()),
        ("votes".into(), me.votes.to_string()),
        ("api".into(), me.api.clone()),
        ("fingerprint".into(), me.fingerprint.clone()),
        ("version".into(), me.version.clone()),
        ("gossip_port".into(), me.gossip_port.to_string()),
    ];
    if !me.guests.is_empty() {
        form.push(("guests".into(), me.guests.iter().map(Vmid::to_string).collect::<Vec<_>>().join(",")));
    }
    if let Some(id) = me.nodeid {
        form.push(("nodeid".into(), id.to_string()));
    }
    for (n, link) in &me.links {
        form.push((format!("link{n}"), link.address.to_string()));
    }
    let admission = client
        .post(format!("{peer}/api2/json/cluster/config/nodes/{}", me.name))
        .header("Cookie", &auth)
        .header("CSRFPreventionToken", &csrf)
        .form(&form)
        .send()
        .await?;
    let admission: Admission = serde_json::from_value(pve_data(admission).await.map_err(|e| anyhow::anyhow!("the peer refused: {e}"))?)?;
    log.line(format!("The peer admits this node as node id {} of cluster '{}'", admission.nodeid, admission.clustername)).await;

    if let Err(err) = enroll_remotely(&state, &req, &me, &admission, &log).await {
        log.line("Join failed; dropping the partial cluster state on this node").await;
        state.cluster.abandon().await;
        return Err(err);
    }
    log.line(format!("Joined cluster '{}'. This node's web console and API sessions keep working.", admission.clustername)).await;
    Ok(())
}

async fn enroll_remotely(state: &AppState, req: &JoinRequest, me: &Candidate, admission: &Admission, log: &TaskLog) -> anyhow::Result<()> {
    state.cluster.tls().install(&admission.node_credentials)?;
    // The cluster's tree replaces this node's (the peer made sure it held no guests).
    sqlx::query("DELETE FROM config_kv").execute(&state.db).await?;
    state.cluster.start_member(admission.nodeid).await?;
    log.line("Waiting for the cluster to copy its configuration store to this node").await;
    let peer = NodeAddr { name: admission.peer_node.clone(), api: peer_url(&req.hostname), fingerprint: req.fingerprint.clone() };
    state.cluster.call::<_, Result<(), String>>(&peer, "join", &(me, admission.nodeid), JOIN_TIMEOUT).await?.map_err(|e| anyhow::anyhow!("{e}"))?;

    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    loop {
        if ClusterConfig::load(&state.db).await?.is_some_and(|c| c.node(&me.name).is_some()) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the cluster configuration did not arrive within {JOIN_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log.line("Configuration store received; taking the cluster's ticket keys").await;
    adopt_auth_keys(state).await?;
    let cert = tokio::fs::read_to_string(crate::pki::PkiPaths::new(&state.data_dir).node_cert).await?;
    state.cluster.write(Command::new(vec![Op::Put { key: node_cert_key(&me.name), value: Value::String(cert) }])).await?;
    Ok(())
}

/// Copy the cluster's ticket and CSRF keys into this node's `secrets` and use them from now on.
pub async fn adopt_auth_keys(state: &AppState) -> anyhow::Result<()> {
    let doc = corral_consensus::read(&state.db, KEY_AUTH_KEYS).await?.ok_or_else(|| anyhow::anyhow!("the cluster has no ticket keys"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut tx = state.db.begin_with("BEGIN IMMEDIATE").await?;
    for (name, value) in doc.as_object().into_iter().flatten() {
        let bytes = b64.decode(value.as_str().unwrap_or_default())?;
        sqlx::query("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let mut keys = AuthKeys::load(&state.db).await?;
    keys.previous = Some(Box::new(AuthKeys { previous: None, ..state.keys() }));
    state.set_keys(keys);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls() {
        assert_eq!(peer_url("10.0.0.1"), "https://10.0.0.1:8006");
        assert_eq!(peer_url("10.0.0.1:9000"), "https://10.0.0.1:9000");
        assert_eq!(peer_url("fd00::1"), "https://[fd00::1]:8006");
        assert_eq!(peer_url("[fd00::1]:9000"), "https://[fd00::1]:9000");
        assert_eq!(peer_url("pve1"), "https://pve1:8006");
    }

    #[test]
    fn versions_compare_on_major_minor() {
        assert_eq!(major_minor("0.1.7"), "0.1");
        assert_ne!(major_minor("0.2.0"), major_minor("0.1.9"));
    }
}
