//! Storage on a standalone node through the API and the CLI: the default `local` storage, a
//! directory storage with PVE's layout and volume names, bad input refused with nothing
//! written, a storage that holds a guest's disk kept. (NFS on three nodes: `lab_storage.rs`.)

mod common;

use common::cluster::wait_data;
use common::{corral, Node, Options, Ticket};

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["data"].as_array().unwrap().iter().map(|s| s["storage"].as_str().unwrap().to_string()).collect()
}

async fn wait_active(node: &Node, t: &Ticket, on: &str, storage: &str) -> serde_json::Value {
    wait_data(node, t, &format!("/nodes/{on}/storage/{storage}/status"), &format!("{storage} active"), |d| d["active"] == 1).await
}

#[tokio::test]
async fn local_and_directory_storages_hold_volumes_in_pve_layout() {
    let n = Node::start_with(Options::named("st1", "127.0.14.1:0"));
    let t = n.login().await;

    // Every node starts with `local`: a directory under its data dir, active once checked.
    let (_, list) = n.get(&t, "/storage").await;
    assert_eq!(ids(&list), ["local"]);
    let local = &list["data"][0];
    assert_eq!((local["type"].as_str(), local["content"].as_str()), (Some("dir"), Some("backup,images,iso,vztmpl")));
    assert_eq!(local["path"].as_str(), Some(n.dir.join("local").to_str().unwrap()));
    let status = wait_active(&n, &t, "st1", "local").await;
    assert!(status["total"].as_u64().unwrap() > 0 && status["avail"].as_u64().unwrap() > 0, "{status}");
    wait_data(&n, &t, "/cluster/resources?type=storage", "local in the resources", |d| {
        d.as_array().unwrap().iter().any(|r| r["id"] == "storage/st1/local" && r["status"] == "available" && r["shared"] == 0)
    })
    .await;

    // A directory storage: volumes in images/<vmid>/, named and sized as PVE does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vmstore");
    let (status, body) = n.post(&t, "/storage", &[("storage", "store1"), ("type", "dir"), ("path", path.to_str().unwrap()), ("content", "iso,images")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["data"]["storage"].as_str(), body["data"]["type"].as_str()), (Some("store1"), Some("dir")));
    wait_active(&n, &t, "st1", "store1").await;
    assert!(path.join("images").is_dir() && path.join("template/iso").is_dir(), "content directories made");
    let (status, body) = n.post(&t, "/nodes/st1/storage/store1/content", &[("vmid", "100"), ("filename", "vm-100-disk-0.qcow2"), ("size", "1G")]).await;
    assert_eq!((status, body["data"].as_str()), (200, Some("store1:100/vm-100-disk-0.qcow2")), "{body}");
    let (status, body) = n.post(&t, "/nodes/st1/storage/store1/content", &[("vmid", "100"), ("filename", "vm-100-disk-1.raw"), ("size", "512M")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(path.join("images/100/vm-100-disk-0.qcow2").is_file());
    let (_, content) = n.get(&t, "/nodes/st1/storage/store1/content").await;
    let volumes: Vec<(String, String, u64)> = content["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["volid"].as_str().unwrap().into(), v["format"].as_str().unwrap().into(), v["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        volumes,
        [("store1:100/vm-100-disk-0.qcow2".into(), "qcow2".into(), 1 << 30), ("store1:100/vm-100-disk-1.raw".into(), "raw".into(), 512 << 20)]
    );
    let (status, info) = n.get(&t, "/nodes/st1/storage/store1/content/store1:100/vm-100-disk-0.qcow2").await;
    assert_eq!((status, info["data"]["size"].as_u64(), info["data"]["format"].as_str()), (200, Some(1 << 30), Some("qcow2")), "{info}");

    // A guest whose disk lives there keeps the storage (and the volume) from being removed.
    let (status, body) = n.post(&t, "/nodes/st1/qemu", &[("vmid", "100"), ("scsi0", "store1:100/vm-100-disk-0.qcow2,size=1G")]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
    let (status, body) = n.delete(&t, "/storage/store1").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("still used by guests (VMID 100)"), "{body}");
    let (status, body) = n.delete(&t, "/nodes/st1/storage/store1/content/store1:100/vm-100-disk-0.qcow2").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("used by VM 100"), "{body}");
    let (status, body) = n.post(&t, "/nodes/st1/qemu", &[("vmid", "101"), ("virtio0", "store1:100/vm-100-disk-1.raw")]).await;
    assert_eq!(status, 400, "another guest's volume: {body}");
    assert!(body["errors"]["virtio0"].as_str().unwrap().contains("does not belong to VM 101"), "{body}");
    let (status, body) = n.post(&t, "/nodes/st1/qemu", &[("vmid", "101"), ("virtio0", "store1:101/vm-101-disk-0.raw")]).await;
    assert_eq!(status, 400, "a volume that does not exist: {body}");

    // Removing a volume is a task; the guest's directory goes with its last volume.
    let (status, body) = n.delete(&t, "/nodes/st1/storage/store1/content/store1:100/vm-100-disk-1.raw").await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
    assert!(!path.join("images/100/vm-100-disk-1.raw").exists());
    let (status, body) = n.delete(&t, "/nodes/st1/qemu/100").await;
    assert_eq!(status, 200, "{body}");
    n.wait_task(&t, body["data"].as_str().unwrap()).await;
    let (status, body) = n.delete(&t, "/storage/store1").await;
    assert_eq!(status, 200, "{body}");
    let (_, list) = n.get(&t, "/storage").await;
    assert_eq!(ids(&list), ["local"]);
}

#[tokio::test]
async fn bad_storage_input_is_refused_and_nothing_is_written() {
    let n = Node::start_with(Options::named("st2", "127.0.14.2:0"));
    let t = n.login().await;
    let (_, before) = n.get(&t, "/storage").await;

    let (status, body) = n.post(&t, "/storage", &[("storage", "1bad"), ("type", "nfs"), ("server", "10.0.0.1"), ("export", "/x")]).await;
    assert_eq!((status, body["errors"]["storage"].as_str()), (400, Some("storage ID '1bad' contains illegal characters")), "{body}");
    let (status, body) = n.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("export", "relative"), ("content", "images,disks"), ("options", "vers=4.2")]).await;
    assert_eq!(status, 400, "{body}");
    for param in ["server", "export", "content", "options"] {
        assert!(body["errors"][param].is_string(), "{param} named: {body}");
    }
    let (status, body) = n.post(&t, "/storage", &[("storage", "x1"), ("type", "lvm")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["type"].is_string(), "{body}");
    let (status, body) = n.post(&t, "/storage", &[("storage", "local"), ("type", "dir"), ("path", "/tmp/x")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("create storage failed: storage ID 'local' already defined\n")), "{body}");

    // An NFS server that does not answer: PVE's "not online", and nothing is saved.
    let (status, body) = n.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", "127.0.14.99"), ("export", "/export")]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("create storage failed: storage 'nfs1' is not online"), "{body}");
    let (status, body) = n.get(&t, "/nodes/st2/scan/nfs?server=127.0.14.99").await;
    assert_eq!(status, 500, "{body}");
    let (status, body) = n.get(&t, "/nodes/st2/scan/nfs?server=bad%20name").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["server"].is_string());

    // Volumes: names outside the layout, wrong owners, sizes, unknown storages.
    let (status, body) = n.get(&t, "/nodes/st2/storage/local/content/local:100/..%2F..%2Fcorral.db").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["volume"].is_string(), "{body}");
    let (status, body) = n.post(&t, "/nodes/st2/storage/local/content", &[("vmid", "100"), ("filename", "../vm-100-disk-0.raw"), ("size", "1G")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["filename"].is_string(), "{body}");
    let (status, body) = n.post(&t, "/nodes/st2/storage/local/content", &[("vmid", "100"), ("filename", "vm-101-disk-0.raw"), ("size", "1G")]).await;
    assert_eq!((status, body["errors"]["filename"].as_str()), (400, Some("illegal name 'vm-101-disk-0.raw' - should be 'vm-100-*'")), "{body}");
    let (status, body) = n.post(&t, "/nodes/st2/storage/local/content", &[("vmid", "100"), ("filename", "vm-100-disk-0.raw"), ("size", "lots")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["size"].is_string(), "{body}");
    let (status, body) = n.get(&t, "/nodes/st2/storage/nope/status").await;
    assert_eq!((status, body["errors"]["storage"].as_str()), (400, Some("No such storage.")), "{body}");
    let (status, body) = n.put(&t, "/storage/local", &[("path", "/elsewhere")]).await;
    assert_eq!((status, body["errors"]["path"].as_str()), (400, Some("can't change value of fixed parameter 'path'")), "{body}");
    let (status, body) = n.put(&t, "/storage/local", &[("content", "iso"), ("digest", "0000000000000000000000000000000000000000")]).await;
    assert_eq!(status, 500, "a stale digest is refused: {body}");

    let (_, after) = n.get(&t, "/storage").await;
    assert_eq!(before, after, "nothing was written");
    assert!(!n.dir.join("local/images/100").exists());
}

fn cli(node: &Node, args: &[&str]) -> (bool, String) {
    let out = corral().args(["storage", "--data-dir"]).arg(&node.dir).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_storage_cli_works_like_pvesm() {
    let n = Node::start_with(Options::named("st3", "127.0.14.3:0"));
    let t = n.login().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (ok, out) = cli(&n, &["add", "dir", "store2", "--path", path.to_str().unwrap(), "--content", "images"]);
    assert!(ok, "{out}");
    wait_active(&n, &t, "st3", "store2").await;
    let (ok, out) = cli(&n, &["status"]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l.starts_with("store2") && l.contains("dir") && l.contains("active")), "{out}");
    let (ok, out) = cli(&n, &["alloc", "store2", "200", "vm-200-disk-0.qcow2", "2G"]);
    assert!(ok && out.contains("successfully created 'store2:200/vm-200-disk-0.qcow2'"), "{out}");
    let (ok, out) = cli(&n, &["list", "store2"]);
    assert!(ok && out.lines().any(|l| l.starts_with("store2:200/vm-200-disk-0.qcow2") && l.contains(&(2u64 << 30).to_string())), "{out}");
    let (ok, out) = cli(&n, &["free", "store2:200/vm-200-disk-0.qcow2"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&n, &["add", "nfs", "bad1", "--server", "127.0.14.99", "--export", "/export"]);
    assert!(!ok && out.contains("not online"), "{out}");
    let (ok, out) = cli(&n, &["remove", "store2"]);
    assert!(ok, "{out}");
    let (_, list) = n.get(&t, "/storage").await;
    assert_eq!(ids(&list), ["local"]);
}
