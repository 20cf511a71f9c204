//! `corral ssh <node> -- <command>`: run a command as root on another node of the cluster, over
//! SSH with the node's cluster key and strict host-key checking against the replicated keys.

use std::path::Path;
use std::process::ExitCode;

use crate::cluster::ssh::{self, SshPaths};
use crate::cluster::ClusterConfig;
use crate::{daemon, db};

fn paths(data_dir: &Path) -> SshPaths {
    let run: Option<daemon::RunState> = std::fs::read(daemon::run_state_path(data_dir)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    run.and_then(|r| r.ssh).unwrap_or_else(|| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        SshPaths::new(Path::new(&home).join(".ssh"), "/etc/ssh/ssh_host_ed25519_key.pub".into(), data_dir)
    })
}

pub async fn run(data_dir: &Path, node: &str, command: &[String]) -> anyhow::Result<ExitCode> {
    let db = db::open(&daemon::database_path(data_dir)).await?;
    let config = ClusterConfig::load(&db).await?.ok_or_else(|| anyhow::anyhow!("this node is not in a cluster"))?;
    let address = ssh::address_of(&config, node).ok_or_else(|| anyhow::anyhow!("no node '{node}' in the cluster"))?;
    let session = ssh::connect(&paths(data_dir), &address).await.map_err(|e| anyhow::anyhow!("ssh to {node} ({address}): {}", ssh::ssh_error_text(&e)))?;
    let status = if command.is_empty() {
        anyhow::bail!("nothing to run: corral ssh {node} -- <command>");
    } else {
        session.raw_command(command.join(" ")).status().await?
    };
    let _ = session.close().await;
    Ok(ExitCode::from(status.code().unwrap_or(255).clamp(0, 255) as u8))
}
