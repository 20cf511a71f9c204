//! `corral ha …`: PVE's `ha-manager` through the local daemon's API.

use std::path::Path;

use serde_json::Value;

use super::local_api::LocalApi;
use super::qm::pairs;

#[derive(clap::Subcommand)]
pub enum HaCommand {
    /// Put a guest under HA: `ha add vm:100 --state started --max_restart 1`.
    Add {
        sid: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    /// Change a resource: `ha set vm:100 --state stopped`.
    Set {
        sid: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    /// Take a guest out of HA (the guest itself is left as it is).
    Remove { sid: String },
    /// Quorum, master, every LRM and every service, one line each.
    Status,
    /// The resources' configuration.
    Config,
    /// Live-migrate an HA guest to another node.
    Migrate { sid: String, node: String },
    /// Stop an HA guest, move it, start it there.
    Relocate { sid: String, node: String },
    /// Move every HA guest away from a node (and back when disabled).
    NodeMaintenance {
        #[arg(value_parser = ["enable", "disable"])]
        action: String,
        node: String,
    },
    /// Node-affinity rules: `ha rules add prefer-n1 --resources vm:100 --nodes n1:2,n2:1`.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    List,
    Add {
        rule: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    Remove { rule: String },
}

pub async fn run(data_dir: &Path, command: HaCommand) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    match command {
        HaCommand::Add { sid, options } => {
            let mut form = pairs(&options)?;
            form.push(("sid", sid));
            api.post("/cluster/ha/resources", &form).await?;
        }
        HaCommand::Set { sid, options } => {
            api.put(&format!("/cluster/ha/resources/{sid}"), &pairs(&options)?).await?;
        }
        HaCommand::Remove { sid } => {
            api.delete(&format!("/cluster/ha/resources/{sid}")).await?;
        }
        HaCommand::Status => {
            let rows = api.get("/cluster/ha/status/current").await?;
            for row in rows.as_array().into_iter().flatten() {
                println!("{} {}", row["type"].as_str().unwrap_or_default(), row["status"].as_str().unwrap_or_default());
            }
        }
        HaCommand::Config => {
            let rows = api.get("/cluster/ha/resources").await?;
            for row in rows.as_array().into_iter().flatten() {
                println!("{}", row["sid"].as_str().unwrap_or_default());
                if let Value::Object(map) = row {
                    for (k, v) in map.iter().filter(|(k, _)| !["sid", "digest", "type"].contains(&k.as_str())) {
                        println!("\t{k} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                    }
                }
            }
        }
        HaCommand::Migrate { sid, node } => {
            api.post(&format!("/cluster/ha/resources/{sid}/migrate"), &[("node", node)]).await?;
        }
        HaCommand::Relocate { sid, node } => {
            api.post(&format!("/cluster/ha/resources/{sid}/relocate"), &[("node", node)]).await?;
        }
        HaCommand::NodeMaintenance { action, node } => {
            let enable = if action == "enable" { "1" } else { "0" };
            api.put(&format!("/cluster/ha/maintenance/{node}"), &[("enable", enable.to_string())]).await?;
        }
        HaCommand::Rules { command } => match command {
            RulesCommand::List => {
                let rows = api.get("/cluster/ha/rules").await?;
                for row in rows.as_array().into_iter().flatten() {
                    println!("{} {} resources {} nodes {} strict {}", row["type"].as_str().unwrap_or_default(), row["rule"].as_str().unwrap_or_default(), row["resources"].as_str().unwrap_or_default(), row["nodes"].as_str().unwrap_or_default(), row["strict"]);
                }
            }
            RulesCommand::Add { rule, options } => {
                let mut form = pairs(&options)?;
                form.push(("rule", rule));
                if !form.iter().any(|(k, _)| *k == "type") {
                    form.push(("type", "node-affinity".into()));
                }
                api.post("/cluster/ha/rules", &form).await?;
            }
            RulesCommand::Remove { rule } => {
                api.delete(&format!("/cluster/ha/rules/{rule}")).await?;
            }
        },
    }
    Ok(())
}
