//! Command line: `corral serve | passwd | status | cluster | storage | qm | ssh`. Each subcommand works without a terminal so
//! install scripts, labs and CI can drive it.

mod cluster;
mod ha;
mod local_api;
mod passwd;
mod qm;
mod ssh;
mod status;
mod storage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use corral_api_types::NodeName;

use crate::daemon;

pub const DEFAULT_DATA_DIR: &str = "/var/lib/corral";

#[derive(Parser)]
#[command(name = "corral", version, about = "corral cluster manager node: daemon and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct DataDirArg {
    /// Where the node keeps its database, certificates and state.
    #[arg(long, env = "CORRAL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node daemon: HTTPS API and web console.
    Serve {
        #[command(flatten)]
        data: DataDirArg,
        /// Address and port to serve HTTPS on (port 0 picks a free port).
        #[arg(long, env = "CORRAL_LISTEN", default_value = "0.0.0.0:8006")]
        listen: SocketAddr,
        /// This node's name (default: the host name up to its first dot).
        #[arg(long, env = "CORRAL_NODE_NAME")]
        node_name: Option<String>,
        /// Directory holding the console bundle (`pkg/`); default: `site` beside the binary.
        #[arg(long, env = "CORRAL_SITE_ROOT")]
        site_root: Option<PathBuf>,
        /// UDP port for cluster gossip on the link 0 address (0: the API's port number).
        #[arg(long, env = "CORRAL_GOSSIP_PORT", default_value_t = crate::cluster::liveness::DEFAULT_GOSSIP_PORT)]
        gossip_port: u16,
        /// The root user's .ssh directory: corral's node key lives there and cluster keys are
        /// written into its authorized_keys (default: $HOME/.ssh).
        #[arg(long, env = "CORRAL_SSH_DIR")]
        ssh_dir: Option<PathBuf>,
        /// Public half of this node's sshd host key, published for the other nodes' known_hosts.
        #[arg(long, env = "CORRAL_SSH_HOST_KEY", default_value = "/etc/ssh/ssh_host_ed25519_key.pub")]
        ssh_host_key: PathBuf,
        /// Seconds between node status samples.
        #[arg(long, default_value_t = 10)]
        stats_interval: u64,
        /// Delay before answering a failed login, in milliseconds.
        #[arg(long, default_value_t = 3000, hide = true)]
        auth_fail_delay_ms: u64,
        /// Seconds each pair of ticket signing keys signs before the next takes over (PVE: a day).
        #[arg(long, default_value_t = crate::auth::key_rotation::DEFAULT_EVERY.as_secs(), hide = true)]
        key_rotation_secs: u64,
        #[command(flatten)]
        ha: HaArgs,
    },
    /// Set a user's password (default root@pam). Reads it from the terminal, or from stdin.
    Passwd {
        #[command(flatten)]
        data: DataDirArg,
        /// The user, as user@realm.
        #[arg(default_value = "root@pam")]
        user: String,
    },
    /// Show this node's name, certificate fingerprint and whether the daemon runs.
    Status {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Run a command as root on another cluster node over SSH (strict host keys from the cluster).
    Ssh {
        #[command(flatten)]
        data: DataDirArg,
        /// The node's name.
        node: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Guests on this node through the local daemon (like `qm`).
    Qm {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        command: qm::QmCommand,
    },
    /// Storage management through the local daemon (like `pvesm`).
    Storage {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        command: storage::StorageCommand,
    },
    /// High availability through the local daemon (like `ha-manager`).
    Ha {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        command: ha::HaCommand,
    },
    /// The fence guard the daemon starts beside itself (not for people).
    #[command(hide = true)]
    FenceGuard {
        /// The node's run directory (`<data dir>/run`).
        #[arg(long)]
        run: PathBuf,
    },
    /// Cluster management through the local daemon (like `pvecm`).
    Cluster {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Create a new cluster with this node as its first member; prints the task log.
    Create {
        /// Cluster name: letters, digits and inner hyphens, at most 15 characters.
        name: String,
        #[command(flatten)]
        member: cluster::MemberArgs,
    },
    /// Join this node to an existing cluster (like `pvecm add`). The peer's root password is
    /// asked on the terminal, or read as one line from stdin.
    Join {
        /// The peer's address (`ip` or `ip:port`), or the encoded Join Information copied from
        /// the cluster (it carries the address and the fingerprint).
        peer: String,
        /// SHA-256 fingerprint of the peer's certificate (taken from the Join Information if given).
        #[arg(long)]
        fingerprint: Option<String>,
        #[command(flatten)]
        member: cluster::MemberArgs,
    },
    /// Cluster, quorum and membership information (like `pvecm status`).
    Status,
    /// Print the encoded Join Information to paste on a joining node.
    JoinInfo,
    /// Force expected votes on a node without quorum (like `pvecm expected`). UNSAFE: this node
    /// alone becomes the configuration store in a new cluster epoch; the other nodes discard
    /// what they have and resync from it when they come back.
    Expected {
        /// The expected votes (at most the votes of all configured nodes).
        votes: u32,
    },
    /// Remove a node from the cluster (power it off first; it must not come back as it was).
    Delnode {
        /// The node's name.
        node: String,
    },
}

fn default_node_name() -> anyhow::Result<NodeName> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        anyhow::bail!("cannot read the host name; pass --node-name");
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let full = String::from_utf8_lossy(&buf[..end]).into_owned();
    let short = full.split('.').next().unwrap_or_default();
    NodeName::parse(short).map_err(|e| anyhow::anyhow!("host name '{full}' is not a valid node name ({e}); pass --node-name"))
}

fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

fn init_logging() {
    // openraft logs an error or warning for every retry towards an unreachable peer (several a
    // second); corral logs the change of reachability instead (cluster::network).
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORRAL_LOG").unwrap_or_else(|_| crate::DEFAULT_LOG_FILTER.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn serve(
    data: DataDirArg,
    listen: SocketAddr,
    node_name: Option<String>,
    site_root: Option<PathBuf>,
    gossip_port: u16,
    (ssh_dir, ssh_host_key): (PathBuf, PathBuf),
    (stats_interval, auth_fail_delay_ms, key_rotation_secs): (u64, u64, u64),
    ha: HaArgs,
) -> anyhow::Result<()> {
    let ha_watchdog = ha.watchdog();
    let ha = ha.settings().map_err(|e| anyhow::anyhow!("HA settings: {e}"))?;
    let node = match node_name {
        Some(n) => NodeName::parse(&n).map_err(|e| anyhow::anyhow!("--node-name: {e}"))?,
        None => default_node_name()?,
    };
    daemon::serve(daemon::ServeConfig {
        data_dir: data.data_dir,
        listen,
        node,
        site_root: site_root.unwrap_or_else(default_site_root),
        auth_fail_delay: Duration::from_millis(auth_fail_delay_ms),
        stats_interval: Duration::from_secs(stats_interval.max(1)),
        key_rotation: Duration::from_secs(key_rotation_secs.max(1)),
        gossip_port,
        ssh_dir,
        ssh_host_key,
        ha,
        ha_watchdog,
    })
    .await
}

/// HA timing (see ARCHITECTURE.md, "Failover timeline"). The defaults recover a dead node's
/// guests in about 7 s; longer leases ride out longer network outages at the cost of slower
/// failover.
#[derive(clap::Args, Debug, Clone)]
struct HaArgs {
    /// Between two HA manager rounds, in milliseconds.
    #[arg(long, env = "CORRAL_HA_ROUND_MS", default_value_t = 500)]
    ha_round_ms: u64,
    /// Length of the HA manager and agent leases, in milliseconds.
    #[arg(long, env = "CORRAL_HA_LEASE_MS", default_value_t = 6000)]
    ha_lease_ms: u64,
    /// A lease is renewed once it is this old, in milliseconds.
    #[arg(long, env = "CORRAL_HA_RENEW_MS", default_value_t = 1000)]
    ha_renew_ms: u64,
    /// The node stops its HA guests when this little of its unrenewed lease is left (ms).
    #[arg(long, env = "CORRAL_HA_SELF_FENCE_MS", default_value_t = 1000)]
    ha_self_fence_ms: u64,
    /// The fence guard kills them when this little is left, should the daemon hang (ms).
    #[arg(long, env = "CORRAL_HA_GUARD_MS", default_value_t = 500)]
    ha_guard_ms: u64,
    /// The watchdog device the fence guard arms while this node holds HA guests: `auto`
    /// (/dev/watchdog where it exists), `off`, or a path.
    #[arg(long, env = "CORRAL_HA_WATCHDOG", default_value = "auto")]
    ha_watchdog: String,
}

impl HaArgs {
    fn watchdog(&self) -> Option<PathBuf> {
        match self.ha_watchdog.as_str() {
            "off" => None,
            "auto" => Some(PathBuf::from("/dev/watchdog")).filter(|p| p.exists()),
            path => Some(PathBuf::from(path)),
        }
    }

    fn settings(&self) -> Result<crate::ha::HaSettings, String> {
        let ms = Duration::from_millis;
        crate::ha::HaSettings { round: ms(self.ha_round_ms), lease: ms(self.ha_lease_ms), renew: ms(self.ha_renew_ms), self_fence: ms(self.ha_self_fence_ms), guard: ms(self.ha_guard_ms) }.validate()
    }
}

async fn run_cluster(data_dir: &std::path::Path, command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Create { name, member } => cluster::create(data_dir, name, member).await,
        ClusterCommand::Join { peer, fingerprint, member } => cluster::join(data_dir, peer, fingerprint, member).await,
        ClusterCommand::Status => cluster::status(data_dir).await,
        ClusterCommand::JoinInfo => cluster::join_info(data_dir).await,
        ClusterCommand::Delnode { node } => cluster::delnode(data_dir, &node).await,
        ClusterCommand::Expected { votes } => cluster::expected(data_dir, votes).await,
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            match cli.command {
                Command::Serve { data, listen, node_name, site_root, gossip_port, ssh_dir, ssh_host_key, stats_interval, auth_fail_delay_ms, key_rotation_secs, ha } => {
                    let ssh_dir = ssh_dir.unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".ssh"));
                    let timings = (stats_interval, auth_fail_delay_ms, key_rotation_secs);
                    serve(data, listen, node_name, site_root, gossip_port, (ssh_dir, ssh_host_key), timings, ha).await.map(|_| ExitCode::SUCCESS)
                }
                Command::Passwd { data, user } => passwd::run(&data.data_dir, &user).await.map(|_| ExitCode::SUCCESS),
                Command::Status { data } => status::run(&data.data_dir).await,
                Command::Ssh { data, node, command } => ssh::run(&data.data_dir, &node, &command).await,
                Command::Qm { data, command } => qm::run(&data.data_dir, command).await.map(|_| ExitCode::SUCCESS),
                Command::Storage { data, command } => storage::run(&data.data_dir, command).await.map(|_| ExitCode::SUCCESS),
                Command::Ha { data, command } => ha::run(&data.data_dir, command).await.map(|_| ExitCode::SUCCESS),
                Command::FenceGuard { run } => crate::ha::fence_guard::run(&run).map(|_| ExitCode::SUCCESS),
                Command::Cluster { data, command } => run_cluster(&data.data_dir, command).await.map(|_| ExitCode::SUCCESS),
            }
        })
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("corral: {err:#}");
            ExitCode::FAILURE
        }
    }
}
