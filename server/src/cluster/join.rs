//! Joining a cluster (PVE task `clusterjoin`) and admitting a joiner, in two phases:
//!
//! 1. The joiner logs in to the peer as `root@pam` (password typed by the admin; the peer pinned
//!    by the pasted fingerprint) and asks `POST /cluster/config/nodes/{name}`. The peer checks
//!    everything and changes nothing; it answers with the node id and the cluster authkey.
//!    The answer also carries the joiner's cluster certificate, issued under the cluster CA.
//!    With them comes an admission grant: single use, valid for [`GRANT_TTL`], bound to the
//!    joiner's name, node id and that certificate. Nothing else is stored.
//! 2. The joiner starts an empty Raft member and calls the peer's node-to-node `join` over
//!    mutual TLS with that certificate and the grant (a node-channel call from a certificate
//!    with no grant and no place in the configuration is refused before its body is read, so a
//!    node removed with `delnode` cannot come back with its old certificate). The peer records
//!    the joiner (with its certificate's fingerprint) in the configuration and has the leader
//!    add it as a *learner* and copy the store to it. The joiner takes the cluster's ticket keys
//!    and publishes its certificate, and only then asks `join-finish`: the leader makes it a
//!    voter, the one step that changes quorum, taken when nothing can fail after it.
//!
//! A refusal in phase 1 leaves both sides as they were. A failure in phase 2 leaves nothing
//! behind: the peer undoes its own steps when one of them fails, and the joiner, failing
//! later, asks `join-abort` (the peer removes the learner and the configuration entry) before
//! it drops what it started — so a failed join never adds a voter that is not there.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use corral_api_types::cluster_config::LinkSpec;
use corral_api_types::Vmid;
use corral_consensus::{Command, NodeAddr, Op};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{node_cert_key, ClusterConfig, ClusterNode, KEY_AUTHKEY, KEY_AUTH_KEYS, KEY_CA_CERT, KEY_CA_KEY};
use super::peer_client::{pinned_client, pve_data};
use super::{create, ClusterError};
use crate::cluster_log;
use crate::state::AppState;
use crate::tasks::TaskLog;

/// Most nodes one cluster takes (PVE's documentation's long-standing figure).
pub const MAX_NODES: usize = 32;
/// Phase 2 includes copying the whole store to the joiner.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(90);

/// How long an admission grant stays valid: phase 2 follows phase 1 at once.
pub const GRANT_TTL: Duration = Duration::from_secs(120);
/// Grants one peer holds at most (expired ones are dropped first).
const MAX_GRANTS: usize = 64;

/// The admission grants this node handed out in phase 1, by the fingerprint of the
/// certificate issued with each.
#[derive(Default)]
pub struct Grants(Mutex<HashMap<String, Grant>>);

struct Grant {
    /// SHA-256 of the token: the token itself is the joiner's secret.
    token: [u8; 32],
    name: String,
    nodeid: u64,
    expires: Instant,
}

fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new grant for `name` as node `nodeid` holding the certificate `cert_fingerprint`.
    pub fn issue(&self, name: &str, nodeid: u64, cert_fingerprint: &str) -> Result<String, ClusterError> {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| ClusterError::Store("no randomness".into()))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut grants = self.lock();
        let now = Instant::now();
        grants.retain(|_, g| g.expires > now);
        if grants.len() >= MAX_GRANTS {
            return Err(ClusterError::Refused("too many joins under way; try again in a few minutes".into()));
        }
        grants.insert(cert_fingerprint.to_string(), Grant { token: sha256(&token), name: name.to_string(), nodeid, expires: now + GRANT_TTL });
        Ok(token)
    }

    /// Whether a live grant waits for this certificate (asked before a call's body is read).
    pub fn expects(&self, cert_fingerprint: &str) -> bool {
        self.lock().get(cert_fingerprint).is_some_and(|g| g.expires > Instant::now())
    }

    /// Use the grant of this certificate, once: it is gone afterwards, matched or not.
    pub fn redeem(&self, cert_fingerprint: &str, token: &str, name: &str, nodeid: u64) -> Result<(), ClusterError> {
        let grant = self.lock().remove(cert_fingerprint);
        // Digests are compared, not tokens: how long a comparison takes tells nothing of the token.
        let valid = grant.is_some_and(|g| g.expires > Instant::now() && g.token == sha256(token) && g.name == name && g.nodeid == nodeid);
        if valid {
            Ok(())
        } else {
            Err(ClusterError::Refused("no valid admission grant for this node (join again with the root password)".into()))
        }
    }
}

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
    /// The admission grant phase 2 must present (see [`Grants`]).
    pub grant: String,
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
    let cert_fingerprint = crate::pki::fingerprint_of_pem(&node_credentials.cert).map_err(|e| ClusterError::Store(format!("{e:#}")))?;
    let grant = state.join_grants.issue(&who.name, nodeid, &cert_fingerprint)?;
    Ok(Admission {
        nodeid,
        clustername: config.name,
        corosync_authkey: text(corral_consensus::read(&state.db, KEY_AUTHKEY).await?),
        peer_node: state.node.to_string(),
        node_credentials,
        grant,
    })
}

/// Phase 2 on the peer: admit again (the cluster may have changed), record the joiner with
/// `node_cert` (the fingerprint of the cluster certificate it called with) and have it added
/// as a learner, which copies the store to it. It becomes a voter at [`finish`].
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
    if let Err(err) = state.cluster.add_learner(nodeid, addr).await {
        undo(state, &who.name, nodeid).await;
        return Err(err);
    }
    Ok(())
}

/// `join-finish`, from the joiner itself once it has the store, the keys and its certificate
/// published: make it a voter.
pub async fn finish(state: &AppState, name: &str, nodeid: u64) -> Result<(), ClusterError> {
    state.cluster.promote(nodeid).await?;
    cluster_log::append(state, cluster_log::PRI_INFO, "corral", "root@pam", &format!("adding node {name} to cluster")).await;
    Ok(())
}

/// Take a joiner that did not make it out of the Raft membership (learner or voter) and out of
/// the configuration, so the cluster is as it was before the join.
pub async fn undo(state: &AppState, name: &str, nodeid: u64) {
    if let Err(err) = state.cluster.remove_node(nodeid).await {
        tracing::warn!(%err, node = name, "could not take the failed joiner out of the Raft membership");
    }
    let result = super::config::update(&state.db, &state.cluster, |config| {
        config.nodes.retain(|n| !(n.name == name && n.nodeid == nodeid));
        Ok(vec![Op::Delete { key: node_cert_key(name) }])
    })
    .await;
    if let Err(err) = result {
        tracing::warn!(%err, node = name, "could not take the failed joiner out of the configuration");
    }
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
    // What the removed node holds stops working: new signing keys without the old ones (it
    // could mint tickets with them), a new gossip key (it could speak gossip with the old).
    let raw_keys = corral_consensus::read(&state.db, KEY_AUTH_KEYS).await?;
    let keys = raw_keys.as_ref().and_then(crate::auth::keys::KeyDocument::from_value).ok_or_else(|| ClusterError::Store("the cluster's signing keys are unreadable".into()))?;
    let revoked = serde_json::to_value(keys.revoked(crate::auth::unix_now())).map_err(|e| ClusterError::Store(e.to_string()))?;
    let authkey = base64::engine::general_purpose::STANDARD.encode(super::create::new_authkey());
    super::config::update(&state.db, &state.cluster, |config| {
        config.nodes.retain(|n| n.name != name);
        // Its root key leaves every node's authorized_keys with it.
        Ok(vec![
            Op::Delete { key: node_cert_key(name) },
            Op::Delete { key: super::ssh::store_key(name) },
            Op::Put { key: KEY_AUTH_KEYS.into(), value: revoked.clone() },
            Op::Put { key: KEY_AUTHKEY.into(), value: Value::String(authkey.clone()) },
        ])
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
        log.line("Join failed; asking the cluster to forget this node, then dropping the partial cluster state here").await;
        let peer = NodeAddr { name: admission.peer_node.clone(), api: peer_url(&req.hostname), fingerprint: req.fingerprint.clone() };
        match state.cluster.call::<_, Result<(), String>>(&peer, "join-abort", &(me.name.clone(), admission.nodeid), ABORT_TIMEOUT).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => log.line(format!("The cluster could not forget this node: {why} (remove it with delnode)")).await,
            Err(why) => log.line(format!("The cluster could not be asked to forget this node: {why:#} (remove it with delnode if it is listed)")).await,
        }
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
    state.cluster.call::<_, Result<(), String>>(&peer, "join", &(me, admission.nodeid, &admission.grant), JOIN_TIMEOUT).await?.map_err(|e| anyhow::anyhow!("{e}"))?;

    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    loop {
        if ClusterConfig::load(&state.db).await?.is_some_and(|c| c.node(&me.name).is_some()) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the cluster configuration did not arrive within {JOIN_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log.line("Configuration store received; publishing this node's certificate").await;
    let cert = tokio::fs::read_to_string(crate::pki::PkiPaths::new(&state.data_dir).node_cert).await?;
    state.cluster.write(Command::new(vec![Op::Put { key: node_cert_key(&me.name), value: Value::String(cert) }])).await?;
    fail_point("join-before-finish")?;
    log.line("Becoming a voting member").await;
    state.cluster.call::<_, Result<(), String>>(&peer, "join-finish", &(me.name.clone(), admission.nodeid), JOIN_TIMEOUT).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    // Last: until here this node's own tickets stay valid, so a failed join leaves them so.
    log.line("Taking the cluster's ticket keys").await;
    adopt_auth_keys(state).await?;
    Ok(())
}

/// How long the joiner waits for the cluster to forget it after a failure.
const ABORT_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure injected by tests (`CORRAL_FAIL_AT=<point>` in the daemon's environment): the
/// only way to make the steps after the store copy fail on demand against real daemons.
fn fail_point(point: &str) -> anyhow::Result<()> {
    match std::env::var("CORRAL_FAIL_AT") {
        Ok(p) if p == point => anyhow::bail!("injected failure at {point}"),
        _ => Ok(()),
    }
}

/// Take the cluster's signing keys as this node's and use them from now on; tickets this node
/// signed before stay valid (in memory) until the next rotation.
pub async fn adopt_auth_keys(state: &AppState) -> anyhow::Result<()> {
    let raw = corral_consensus::read(&state.db, KEY_AUTH_KEYS).await?.ok_or_else(|| anyhow::anyhow!("the cluster has no ticket keys"))?;
    let doc = crate::auth::keys::KeyDocument::from_value(&raw).ok_or_else(|| anyhow::anyhow!("the cluster's ticket keys are unreadable"))?;
    doc.store(&state.db).await?;
    state.set_keys(doc.keys().carrying(state.keys()));
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
