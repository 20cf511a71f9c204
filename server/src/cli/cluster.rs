//! `corral cluster …`: the node's side of `pvecm` (create, join, status, join-info, delnode,
//! expected), done through the
//! local daemon's API so the CLI and the GUI take the same path.

use std::path::Path;

use corral_api_types::cluster_config::{EncodedJoinInfo, JoinInfo};
use serde_json::Value;

use super::local_api::LocalApi;

/// What this node brings to a cluster it creates or joins.
#[derive(clap::Args)]
pub struct MemberArgs {
    /// This node's address on cluster link 0 (default: its listen or first non-loopback address).
    #[arg(long)]
    link0: Option<String>,
    /// This node's address on cluster link 1.
    #[arg(long)]
    link1: Option<String>,
    /// This node's id in the cluster (default: the lowest free one).
    #[arg(long)]
    nodeid: Option<u64>,
    /// This node's quorum votes (default 1).
    #[arg(long)]
    votes: Option<u32>,
}

impl MemberArgs {
    fn form(self) -> Vec<(String, String)> {
        let links = [("link0", self.link0), ("link1", self.link1)].into_iter().filter_map(|(k, a)| Some((k.to_string(), a?)));
        let rest = [("nodeid", self.nodeid.map(|v| v.to_string())), ("votes", self.votes.map(|v| v.to_string()))];
        links.chain(rest.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?)))).collect()
    }
}

/// POST a task-starting form and print the task's log until it ends.
async fn run_task(api: &LocalApi, path: &str, form: Vec<(String, String)>) -> anyhow::Result<()> {
    let form: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let upid = api.post(path, &form).await?;
    let upid = upid.as_str().unwrap_or_default().to_string();
    println!("task {upid}");
    api.follow_task(&upid).await
}

pub async fn create(data_dir: &Path, name: String, member: MemberArgs) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    let mut form = vec![("clustername".to_string(), name)];
    form.extend(member.form());
    run_task(&api, "/cluster/config", form).await
}

/// Like `pvecm status`: cluster information, quorum information, membership.
pub async fn status(data_dir: &Path) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    let entries = api.get("/cluster/status").await?;
    let entries = entries.as_array().cloned().unwrap_or_default();
    let Some(cluster) = entries.iter().find(|e| e["type"] == "cluster") else {
        println!("Standalone node - no cluster defined");
        return Ok(());
    };
    let nodes: Vec<&Value> = entries.iter().filter(|e| e["type"] == "node").collect();
    let config_nodes = api.get("/cluster/config/nodes").await?;
    let votes_of = |name: &str| {
        config_nodes.as_array().into_iter().flatten().find(|n| n["name"] == name).and_then(|n| n["quorum_votes"].as_str().and_then(|v| v.parse::<u32>().ok())).unwrap_or(1)
    };
    let all: u32 = nodes.iter().map(|n| votes_of(n["name"].as_str().unwrap_or_default())).sum();
    let expected = cluster["expected_votes"].as_u64().map(|v| v as u32).unwrap_or(all);
    let total: u32 = nodes.iter().filter(|n| n["online"] == 1).map(|n| votes_of(n["name"].as_str().unwrap_or_default())).sum();
    println!("Cluster information");
    println!("-------------------");
    println!("Name:             {}", cluster["name"].as_str().unwrap_or_default());
    println!("Config Version:   {}", cluster["version"]);
    println!("Nodes:            {}", cluster["nodes"]);
    println!();
    println!("Quorum information");
    println!("------------------");
    println!("Expected votes:   {expected}");
    println!("Total votes:      {total}");
    println!("Quorum:           {}", expected / 2 + 1);
    println!("Flags:            {}", if cluster["quorate"] == 1 { "Quorate" } else { "NOT quorate" });
    println!();
    println!("Membership information");
    println!("----------------------");
    let gossip = api.get("/cluster/gossip").await.unwrap_or_default();
    let member = |name: &str| gossip["members"].as_array().and_then(|m| m.iter().find(|m| m["node"] == name).cloned()).unwrap_or_default();
    println!("{:>8} {:>6} {:<8} {:>9} {:<12} Name", "Nodeid", "Votes", "Online", "Latency", "SSH");
    for n in nodes {
        let name = n["name"].as_str().unwrap_or_default();
        let local = n["local"] == 1;
        let online = if n["online"] == 1 { "yes" } else { "no" };
        let m = member(name);
        let latency = m["latency_ms"].as_f64().map(|l| format!("{l:.2} ms")).unwrap_or_else(|| "-".into());
        let ssh = match (local, m["ssh"].as_i64()) {
            (true, _) => "-",
            (false, Some(1)) => "ok",
            (false, Some(_)) => "unreachable",
            (false, None) => "not checked",
        };
        let suffix = if local { " (local)" } else { "" };
        println!("{:>8} {:>6} {:<8} {latency:>9} {ssh:<12} {name}{suffix}", n["nodeid"].as_i64().unwrap_or(0), votes_of(name), online);
    }
    Ok(())
}

/// The encoded Join Information, as the GUI's *Copy Information* gives it.
pub async fn join_info(data_dir: &Path) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    let info: JoinInfo = serde_json::from_value(api.get("/cluster/config/join").await?)?;
    let encoded = EncodedJoinInfo::from_join_info(&info).ok_or_else(|| anyhow::anyhow!("this node is not in the cluster's node list"))?;
    println!("{}", encoded.encode());
    Ok(())
}

/// Remove a node from the cluster (like `pvecm delnode`); power it off first.
pub async fn delnode(data_dir: &Path, name: &str) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    api.delete(&format!("/cluster/config/nodes/{name}")).await?;
    println!("node '{name}' removed from the cluster");
    Ok(())
}

/// Join this node to a cluster (like `pvecm add`): `peer` is the peer's address or the encoded
/// Join Information; asks for the peer's root password on a terminal, or reads it as one line
/// from stdin; prints the task log.
pub async fn join(data_dir: &Path, peer: String, fingerprint: Option<String>, member: MemberArgs) -> anyhow::Result<()> {
    let (hostname, fingerprint) = match EncodedJoinInfo::decode(&peer) {
        Some(info) => (info.ip_address, fingerprint.unwrap_or(info.fingerprint)),
        None => {
            let fp = fingerprint.ok_or_else(|| anyhow::anyhow!("--fingerprint is required unless the argument is the encoded Join Information"))?;
            (peer, fp)
        }
    };
    let api = LocalApi::connect(data_dir).await?;
    let password = read_peer_password(&hostname)?;
    let mut form = vec![("hostname".to_string(), hostname), ("fingerprint".to_string(), fingerprint), ("password".to_string(), password)];
    form.extend(member.form());
    run_task(&api, "/cluster/config/join", form).await
}

fn read_peer_password(peer: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(format!("Please enter superuser (root) password for '{peer}': "))?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Force expected votes (like `pvecm expected`), through the local daemon.
pub async fn expected(data_dir: &Path, votes: u32) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    let text = api.post("/cluster/config/expected", &[("expected", votes.to_string())]).await?;
    println!("{}", text.as_str().unwrap_or_default());
    Ok(())
}
