//! `corral qm …`: the node's side of PVE's `qm` for guests on this node, through the local
//! daemon's API. Options are passed as PVE names them (`--memory 512 --scsi0 nfs1:4`).

use std::path::Path;

use serde_json::Value;

use super::local_api::LocalApi;

#[derive(clap::Subcommand)]
pub enum QmCommand {
    /// Create a guest on this node: `qm create 100 --name web --memory 1024 --scsi0 nfs1:4 --net0 virtio,bridge=vmbr0`.
    Create {
        vmid: u32,
        /// PVE options as `--key value` pairs.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    /// Start a guest.
    Start { vmid: u32 },
    /// Stop a guest at once (like pulling the plug).
    Stop { vmid: u32 },
    /// Ask the guest to power off (ACPI); `--timeout` seconds, `--forceStop 1` to stop it after.
    Shutdown {
        vmid: u32,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    /// Shut the guest down and start it again.
    Reboot { vmid: u32 },
    /// The guest's state (`status: running`).
    Status { vmid: u32 },
    /// The guests on this node.
    List,
    /// The guest's configuration.
    Config { vmid: u32 },
    /// Change options: `qm set 100 --memory 2048 --delete description`.
    Set {
        vmid: u32,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
    /// Move the guest to another node (`--online` for a running guest on shared storage).
    Migrate {
        vmid: u32,
        target: String,
        #[arg(long)]
        online: bool,
    },
    /// Remove the guest and its disks.
    Destroy { vmid: u32 },
}

/// `--key value` pairs as form parameters.
pub(super) fn pairs(options: &[String]) -> anyhow::Result<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut rest = options.iter();
    while let Some(key) = rest.next() {
        let name = key.strip_prefix("--").ok_or_else(|| anyhow::anyhow!("expected --option, got '{key}'"))?;
        let value = rest.next().ok_or_else(|| anyhow::anyhow!("--{name} needs a value"))?;
        out.push((name, value.clone()));
    }
    Ok(out)
}

async fn task(api: &LocalApi, path: &str, form: &[(&str, String)]) -> anyhow::Result<()> {
    let upid = api.post(path, form).await?;
    api.follow_task(upid.as_str().unwrap_or_default()).await
}

pub async fn run(data_dir: &Path, command: QmCommand) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    let vm = |vmid: u32| format!("/nodes/localhost/qemu/{vmid}");
    match command {
        QmCommand::Create { vmid, options } => {
            let mut form = pairs(&options)?;
            form.push(("vmid", vmid.to_string()));
            task(&api, "/nodes/localhost/qemu", &form).await
        }
        QmCommand::Start { vmid } => task(&api, &format!("{}/status/start", vm(vmid)), &[]).await,
        QmCommand::Stop { vmid } => task(&api, &format!("{}/status/stop", vm(vmid)), &[]).await,
        QmCommand::Shutdown { vmid, options } => task(&api, &format!("{}/status/shutdown", vm(vmid)), &pairs(&options)?).await,
        QmCommand::Reboot { vmid } => task(&api, &format!("{}/status/reboot", vm(vmid)), &[]).await,
        QmCommand::Status { vmid } => {
            let current = api.get(&format!("{}/status/current", vm(vmid))).await?;
            println!("status: {}", text(&current["status"]));
            Ok(())
        }
        QmCommand::List => {
            let list = api.get("/nodes/localhost/qemu").await?;
            println!("{:>10} {:<20} {:<10} {:>10} {:>10}", "VMID", "NAME", "STATUS", "MEM(MB)", "CPUS");
            for g in list.as_array().into_iter().flatten() {
                println!("{:>10} {:<20} {:<10} {:>10} {:>10}", g["vmid"], text(&g["name"]), text(&g["status"]), g["maxmem"].as_u64().unwrap_or(0) >> 20, g["cpus"]);
            }
            Ok(())
        }
        QmCommand::Config { vmid } => {
            let config = api.get(&format!("{}/config", vm(vmid))).await?;
            for (key, value) in config.as_object().into_iter().flatten().filter(|(k, _)| *k != "digest") {
                println!("{key}: {}", text(value));
            }
            Ok(())
        }
        QmCommand::Set { vmid, options } => {
            api.put(&format!("{}/config", vm(vmid)), &pairs(&options)?).await?;
            Ok(())
        }
        QmCommand::Migrate { vmid, target, online } => {
            let mut form = vec![("target", target)];
            if online {
                form.push(("online", "1".into()));
            }
            task(&api, &format!("{}/migrate", vm(vmid)), &form).await
        }
        QmCommand::Destroy { vmid } => {
            let upid = api.delete(&vm(vmid)).await?;
            api.follow_task(upid.as_str().unwrap_or_default()).await
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(String::from).unwrap_or_else(|| v.to_string())
}
