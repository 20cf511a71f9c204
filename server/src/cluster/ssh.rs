//! SSH between nodes. Each node publishes its root public key and its sshd host key in the
//! replicated store (`ssh/<node>`); every node writes all root keys into a managed block of the
//! `authorized_keys` its sshd reads, and all host keys into a known_hosts file that only corral
//! uses, so connections to peers are checked strictly against what the peers published.
//! Commands run through the openssh crate over one multiplexed master connection per peer.
//!
//! Must not trust anything that did not come through the store: no TOFU, no `accept-new`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use corral_consensus::{Command, Op};
use openssh::{KnownHosts, Session, SessionBuilder};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use super::ClusterConfig;
use crate::state::AppState;

const BEGIN: &str = "# corral cluster keys: managed by corral, do not edit between these lines";
const END: &str = "# end of corral cluster keys";
/// How often keys are published/written and peers' SSH checked.
const SYNC_INTERVAL: Duration = Duration::from_secs(2);
const CHECK_EVERY: u32 = 5;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where this node's SSH material lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshPaths {
    /// The root user's `.ssh`: its key pair `id_ed25519` and the `authorized_keys` sshd reads.
    pub dir: PathBuf,
    /// The public half of this node's sshd host key.
    pub host_key: PathBuf,
    /// corral's own known_hosts and the control sockets, under the data dir.
    pub state: PathBuf,
}

impl SshPaths {
    pub fn new(dir: PathBuf, host_key: PathBuf, data_dir: &Path) -> Self {
        Self { dir, host_key, state: data_dir.join("ssh") }
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.state.join("known_hosts")
    }
    fn control_dir(&self) -> PathBuf {
        self.state.join("ctl")
    }
}

/// What a node publishes at `ssh/<node>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedKeys {
    /// `ssh-ed25519 AAAA… root@node`
    pub root: String,
    /// The sshd host key, if this node runs one.
    #[serde(default)]
    pub host: Option<String>,
}

pub fn store_key(node: &str) -> String {
    format!("ssh/{node}")
}

/// The node's client key, made on first use.
pub async fn ensure_key(paths: &SshPaths, node: &str) -> anyhow::Result<String> {
    let key = paths.key();
    if !key.exists() {
        std::fs::create_dir_all(&paths.dir)?;
        std::fs::set_permissions(&paths.dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let out = tokio::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("root@{node}"))
            .arg("-f")
            .arg(&key)
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("running ssh-keygen: {e} (is openssh-client installed?)"))?;
        anyhow::ensure!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(std::fs::read_to_string(key.with_extension("pub"))?.trim().to_string())
}

fn host_key(paths: &SshPaths) -> Option<String> {
    let text = std::fs::read_to_string(&paths.host_key).ok()?;
    // Without the comment: known_hosts wants "type base64".
    let mut parts = text.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

async fn published(db: &SqlitePool) -> sqlx::Result<BTreeMap<String, PublishedKeys>> {
    let entries = corral_consensus::read_prefix(db, "ssh/").await?;
    Ok(entries.into_iter().filter_map(|(k, v)| Some((k.strip_prefix("ssh/")?.to_string(), serde_json::from_value(v).ok()?))).collect())
}

/// Replace corral's block in `path` (`authorized_keys`, `known_hosts`), keeping every other
/// line as it is.
pub fn write_managed_block(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = without_managed_block(&old);
    out.push_str(BEGIN);
    out.push('\n');
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    write_private(path, &out)
}

/// Every line of `text` outside corral's block. A block is a start marker up to its end
/// marker; a start marker without an end marker after it (a hand edit, a torn file) is dropped
/// alone, so the lines after it — the admin's own keys — are kept.
fn without_managed_block(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == BEGIN {
            match lines[i + 1..].iter().position(|l| *l == END) {
                Some(end) => i += end + 2,
                None => i += 1,
            }
            continue;
        }
        if lines[i] != END {
            out.push_str(lines[i]);
            out.push('\n');
        }
        i += 1;
    }
    out
}

/// Write `text` (mode 0600, atomically) unless the file already says exactly that: this runs
/// every couple of seconds.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic_write::write(path, text.as_bytes(), 0o600)
}

/// known_hosts lines: every node's link addresses and name, with its published host key.
fn known_hosts(config: &ClusterConfig, keys: &BTreeMap<String, PublishedKeys>) -> String {
    let mut out = String::new();
    for node in &config.nodes {
        let Some(host) = keys.get(&node.name).and_then(|k| k.host.clone()) else { continue };
        let mut names: Vec<String> = node.links.values().map(|l| l.address.to_string()).collect();
        names.push(node.name.clone());
        out.push_str(&format!("{} {host}\n", names.join(",")));
    }
    out
}

/// One SSH session per peer, reused (multiplexed) while it stays healthy.
#[derive(Default)]
pub struct SshPeers {
    sessions: tokio::sync::Mutex<BTreeMap<String, std::sync::Arc<Session>>>,
    /// Per peer: Ok, or why SSH to it failed at the last check.
    reachable: Mutex<BTreeMap<String, Result<(), String>>>,
}

impl SshPeers {
    pub fn status(&self) -> BTreeMap<String, Result<(), String>> {
        self.reachable.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, node: &str, result: Result<(), String>) {
        self.reachable.lock().unwrap_or_else(|p| p.into_inner()).insert(node.to_string(), result);
    }
}

impl SshPeers {
    /// Run `command` (a shell command line) on `node` over its reused session; its output.
    /// For the daemon's own work on peers (later: storage checks, guest migration).
    pub async fn run(&self, paths: &SshPaths, config: &ClusterConfig, node: &str, command: &str) -> Result<std::process::Output, String> {
        let session = self.session(paths, config, node).await?;
        // The command runs outside the lock: commands to several peers (or one) go in parallel.
        session.raw_command(command).output().await.map_err(|e| ssh_error_text(&e))
    }

    /// The reused session to `node`, opened (again) if it is not alive.
    async fn session(&self, paths: &SshPaths, config: &ClusterConfig, node: &str) -> Result<std::sync::Arc<Session>, String> {
        let address = address_of(config, node).ok_or_else(|| format!("no node '{node}' with a link 0 address"))?;
        let mut sessions = self.sessions.lock().await;
        match sessions.get(node) {
            Some(s) if s.check().await.is_ok() => Ok(s.clone()),
            _ => {
                let s = std::sync::Arc::new(connect(paths, &address).await.map_err(|e| ssh_error_text(&e))?);
                sessions.insert(node.to_string(), s.clone());
                Ok(s)
            }
        }
    }

    /// Forward the local unix socket `local` to the unix socket `remote` on `node` (the
    /// authenticated channel a live migration's stream takes, as PVE's SSH tunnel).
    pub async fn forward_unix(&self, paths: &SshPaths, config: &ClusterConfig, node: &str, local: &std::path::Path, remote: &std::path::Path) -> Result<(), String> {
        let session = self.session(paths, config, node).await?;
        let _ = std::fs::remove_file(local);
        session
            .request_port_forward(openssh::ForwardType::Local, openssh::Socket::UnixSocket { path: local.into() }, openssh::Socket::UnixSocket { path: remote.into() })
            .await
            .map_err(|e| ssh_error_text(&e))
    }

    pub async fn close_forward(&self, paths: &SshPaths, config: &ClusterConfig, node: &str, local: &std::path::Path, remote: &std::path::Path) {
        if let Ok(session) = self.session(paths, config, node).await {
            let _ = session
                .close_port_forward(openssh::ForwardType::Local, openssh::Socket::UnixSocket { path: local.into() }, openssh::Socket::UnixSocket { path: remote.into() })
                .await;
        }
        let _ = std::fs::remove_file(local);
    }
}

/// Open a strictly checked, multiplexed session to `address` as root.
pub async fn connect(paths: &SshPaths, address: &str) -> Result<Session, openssh::Error> {
    let _ = std::fs::create_dir_all(paths.control_dir());
    let mut builder = SessionBuilder::default();
    builder
        .config_file("/dev/null")
        .user("root".into())
        .keyfile(paths.key())
        .user_known_hosts_file(paths.known_hosts())
        .known_hosts_check(KnownHosts::Strict)
        .control_directory(paths.control_dir())
        .connect_timeout(CONNECT_TIMEOUT)
        .server_alive_interval(Duration::from_secs(5));
    builder.connect_mux(address).await
}

/// The address to reach `node` at over SSH: its link 0 address.
pub fn address_of(config: &ClusterConfig, node: &str) -> Option<String> {
    Some(config.node(node)?.links.get(&0)?.address.to_string())
}

async fn check_peer(state: &AppState, config: &ClusterConfig, node: &str) -> Result<(), String> {
    let output = tokio::time::timeout(CONNECT_TIMEOUT * 2, state.ssh_peers.run(&state.ssh, config, node, "true"))
        .await
        .map_err(|_| "timed out".to_string())??;
    if !output.status.success() {
        return Err(format!("`true` exited with {}", output.status));
    }
    Ok(())
}

/// The error with its causes, on one line (ssh's own words are in the innermost one).
pub fn ssh_error_text(err: &openssh::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(cause.to_string().trim());
        source = cause.source();
    }
    if text.contains("Host key verification failed") {
        // ssh's multi-line banner says the same at length.
        return "host key verification failed: the host answering differs from the key the node published".into();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Keep keys published and written, and check every peer's SSH now and then.
pub async fn run(state: AppState) {
    let mut ticker = tokio::time::interval(SYNC_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u32 = 0;
    let mut errors = crate::changed_error::ChangedError::default();
    loop {
        ticker.tick().await;
        errors.note("ssh keys", sync(&state, round % CHECK_EVERY == 0).await);
        round = round.wrapping_add(1);
    }
}

async fn sync(state: &AppState, check: bool) -> anyhow::Result<()> {
    let Some(config) = ClusterConfig::load(&state.db).await? else { return Ok(()) };
    let me = state.node.as_str();
    if config.node(me).is_none() {
        return Ok(());
    }
    let mine = PublishedKeys { root: ensure_key(&state.ssh, me).await?, host: host_key(&state.ssh) };
    let keys = published(&state.db).await?;
    if keys.get(me) != Some(&mine) && state.sees_quorum(&config).await {
        let value = serde_json::to_value(&mine)?;
        state.cluster.write(Command::new(vec![Op::Put { key: store_key(me), value }])).await?;
    }
    let members: Vec<String> = config.nodes.iter().filter_map(|n| keys.get(&n.name).map(|k| k.root.clone())).collect();
    let hosts = known_hosts(&config, &keys);
    let paths = state.ssh.clone();
    // File I/O and fsync off the async runtime.
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        write_managed_block(&paths.dir.join("authorized_keys"), &members)?;
        write_private(&paths.known_hosts(), &hosts)?;
        // The same host keys for the admin's own `ssh root@<node>` (as PVE's pvecm updatecerts does).
        write_managed_block(&paths.dir.join("known_hosts"), &hosts.lines().map(str::to_string).collect::<Vec<_>>())
    })
    .await??;
    if check {
        let peers: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).filter(|n| n != me).collect();
        for peer in peers {
            let result = check_peer(state, &config, &peer).await;
            state.ssh_peers.record(&peer, result);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_block_is_replaced_and_other_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        std::fs::write(&path, "ssh-ed25519 AAAAown admin@laptop\n").unwrap();
        write_managed_block(&path, &["ssh-ed25519 AAAA1 root@n1".into()]).unwrap();
        write_managed_block(&path, &["ssh-ed25519 AAAA1 root@n1".into(), "ssh-ed25519 AAAA2 root@n2".into()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("ssh-ed25519 AAAAown admin@laptop\n{BEGIN}\nssh-ed25519 AAAA1 root@n1\nssh-ed25519 AAAA2 root@n2\n{END}\n"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_start_marker_without_its_end_never_drops_the_admins_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        std::fs::write(&path, format!("ssh-ed25519 AAAAfirst a@x\n{BEGIN}\nssh-ed25519 AAAAold root@n9\nssh-ed25519 AAAAown admin@laptop\n")).unwrap();
        write_managed_block(&path, &["ssh-ed25519 AAAA1 root@n1".into()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("AAAAfirst a@x\n") && text.contains("AAAAown admin@laptop\n"), "{text}");
        assert_eq!(text.matches(BEGIN).count(), 1);
        assert!(text.ends_with(&format!("{BEGIN}\nssh-ed25519 AAAA1 root@n1\n{END}\n")), "{text}");
        // A stray end marker is dropped too; a complete old block is replaced.
        assert_eq!(without_managed_block(&format!("a\n{END}\nb\n{BEGIN}\nold\n{END}\nc\n")), "a\nb\nc\n");
    }
}
