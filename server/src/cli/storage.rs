//! `corral storage …`: the node's side of `pvesm` (add, scan, status, list, alloc, free,
//! remove), done through the local daemon's API like the GUI.

use std::path::Path;

use serde_json::Value;

use super::local_api::LocalApi;

#[derive(clap::Subcommand)]
pub enum StorageCommand {
    /// Add a storage for the whole cluster (like `pvesm add`); an NFS server must be reachable.
    Add {
        #[command(subcommand)]
        kind: AddKind,
    },
    /// List what an NFS server exports (like `pvesm scan nfs`).
    Scan {
        #[command(subcommand)]
        kind: ScanKind,
    },
    /// Every storage as this node sees it: type, status, usage (like `pvesm status`).
    Status,
    /// The volumes on a storage (like `pvesm list`).
    List {
        storage: String,
        /// Only volumes of this guest.
        #[arg(long)]
        vmid: Option<u32>,
        /// Only this content type (images, iso, vztmpl, backup, snippets, import).
        #[arg(long)]
        content: Option<String>,
    },
    /// Allocate a disk image (like `pvesm alloc`): STORAGE VMID FILENAME SIZE (4G, 512M).
    Alloc { storage: String, vmid: u32, filename: String, size: String },
    /// Remove a volume (like `pvesm free`), e.g. nfs1:100/vm-100-disk-0.qcow2.
    Free { volume: String },
    /// Remove a storage from the configuration (its data stays where it is).
    Remove { storage: String },
}

#[derive(clap::Subcommand)]
pub enum AddKind {
    /// An NFS export.
    Nfs {
        storage: String,
        #[arg(long)]
        server: String,
        #[arg(long)]
        export: String,
        /// Comma list: images, iso, vztmpl, backup, rootdir, snippets, import (default images).
        #[arg(long)]
        content: Option<String>,
        /// Only these nodes may use it (comma list; default all).
        #[arg(long)]
        nodes: Option<String>,
        /// Mount options, e.g. vers=3.
        #[arg(long)]
        options: Option<String>,
        /// Add it disabled.
        #[arg(long)]
        disable: bool,
    },
    /// A directory on every node (or on --nodes).
    Dir {
        storage: String,
        #[arg(long)]
        path: String,
        #[arg(long)]
        content: Option<String>,
        #[arg(long)]
        nodes: Option<String>,
        /// The directory is shared by other means (all nodes see the same files).
        #[arg(long)]
        shared: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum ScanKind {
    /// Exports of an NFS server.
    Nfs { server: String },
}

pub async fn run(data_dir: &Path, command: StorageCommand) -> anyhow::Result<()> {
    let api = LocalApi::connect(data_dir).await?;
    match command {
        StorageCommand::Add { kind } => add(&api, kind).await,
        StorageCommand::Scan { kind: ScanKind::Nfs { server } } => {
            let exports = api.get(&format!("/nodes/localhost/scan/nfs?server={}", encode(&server))).await?;
            for e in exports.as_array().into_iter().flatten() {
                println!("{:<40} {}", text(&e["path"]), text(&e["options"]));
            }
            Ok(())
        }
        StorageCommand::Status => status(&api).await,
        StorageCommand::List { storage, vmid, content } => {
            let mut query = Vec::new();
            if let Some(v) = vmid {
                query.push(format!("vmid={v}"));
            }
            if let Some(c) = content {
                query.push(format!("content={}", encode(&c)));
            }
            let path = format!("/nodes/localhost/storage/{}/content?{}", encode(&storage), query.join("&"));
            let volumes = api.get(&path).await?;
            println!("{:<48} {:<8} {:<8} {:>14} {:>8}", "Volid", "Format", "Type", "Size", "VMID");
            for v in volumes.as_array().into_iter().flatten() {
                println!("{:<48} {:<8} {:<8} {:>14} {:>8}", text(&v["volid"]), text(&v["format"]), text(&v["content"]), v["size"], v.get("vmid").map(|v| v.to_string()).unwrap_or_default());
            }
            Ok(())
        }
        StorageCommand::Alloc { storage, vmid, filename, size } => {
            let form = [("vmid", vmid.to_string()), ("filename", filename), ("size", size)];
            let volid = api.post(&format!("/nodes/localhost/storage/{}/content", encode(&storage)), &form).await?;
            println!("successfully created '{}'", text(&volid));
            Ok(())
        }
        StorageCommand::Free { volume } => {
            let (storage, _) = volume.split_once(':').ok_or_else(|| anyhow::anyhow!("expected STORAGE:VOLUME, e.g. nfs1:100/vm-100-disk-0.qcow2"))?;
            let upid = api.delete(&format!("/nodes/localhost/storage/{}/content/{}", encode(storage), encode(&volume))).await?;
            api.follow_task(upid.as_str().unwrap_or_default()).await
        }
        StorageCommand::Remove { storage } => {
            api.delete(&format!("/storage/{}", encode(&storage))).await?;
            println!("removed storage '{storage}'");
            Ok(())
        }
    }
}

async fn add(api: &LocalApi, kind: AddKind) -> anyhow::Result<()> {
    let mut form: Vec<(&str, String)> = Vec::new();
    let (id, optional) = match kind {
        AddKind::Nfs { storage, server, export, content, nodes, options, disable } => {
            form.extend([("type", "nfs".to_string()), ("server", server), ("export", export)]);
            if disable {
                form.push(("disable", "1".into()));
            }
            (storage, [("content", content), ("nodes", nodes), ("options", options)])
        }
        AddKind::Dir { storage, path, content, nodes, shared } => {
            form.extend([("type", "dir".to_string()), ("path", path)]);
            if shared {
                form.push(("shared", "1".into()));
            }
            (storage, [("content", content), ("nodes", nodes), ("options", None)])
        }
    };
    form.push(("storage", id.clone()));
    form.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    api.post("/storage", &form).await?;
    println!("added storage '{id}'");
    Ok(())
}

async fn status(api: &LocalApi) -> anyhow::Result<()> {
    let list = api.get("/nodes/localhost/storage").await?;
    println!("{:<16} {:<6} {:<10} {:>16} {:>16} {:>16} {:>8}", "Name", "Type", "Status", "Total", "Used", "Available", "%");
    for s in list.as_array().into_iter().flatten() {
        let state = match (s["enabled"].as_i64(), s["active"].as_i64()) {
            (Some(0), _) => "disabled",
            (_, Some(1)) => "active",
            _ => "inactive",
        };
        let total = s["total"].as_u64().unwrap_or(0);
        let used = s["used"].as_u64().unwrap_or(0);
        let percent = if total > 0 { format!("{:.2}%", used as f64 * 100.0 / total as f64) } else { "0.00%".into() };
        println!("{:<16} {:<6} {:<10} {:>16} {:>16} {:>16} {:>8}", text(&s["storage"]), text(&s["type"]), state, total / 1024, used / 1024, s["avail"].as_u64().unwrap_or(0) / 1024, percent);
        if let Some(err) = s["error"].as_str() {
            println!("    {err}");
        }
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().map(String::from).unwrap_or_else(|| v.to_string())
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
