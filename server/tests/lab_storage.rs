//! Shared NFS storage on three lab nodes against a real NFS server (rpcbind + NFS-Ganesha on the
//! lab's storage node): scan, add through the API and the CLI, status and usage on every node,
//! a volume made on one node and seen on another, and a server that dies: every node shows the
//! storage unavailable while its API keeps answering, and available again when it returns.

mod common;

use std::time::Duration;

use common::cluster::wait_data;
use common::lab::{self, Lab};
use common::{Endpoint, Ticket};

fn quorate_with(d: &serde_json::Value, online: usize) -> bool {
    let list = d.as_array().unwrap();
    list.iter().any(|e| e["type"] == "cluster" && e["quorate"] == 1) && list.iter().filter(|e| e["online"] == 1).count() == online
}

/// `storage/<node>/<id>` entries of `/cluster/resources` with their status.
fn storage_states(d: &serde_json::Value, id: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = d
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["storage"] == id)
        .map(|r| (r["node"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

fn all(state: &str) -> Vec<(String, String)> {
    ["n1", "n2", "n3"].iter().map(|n| (n.to_string(), state.to_string())).collect()
}

/// total bytes of the filesystem under `path`, as the server's FSSTAT reports it.
fn fs_total(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_blocks as u64 * st.f_frsize as u64
}

async fn on_every_node(lab: &Lab, t: &Ticket, what: &str, path: &str, cond: impl Fn(&serde_json::Value) -> bool + Copy) {
    for node in &lab.nodes {
        wait_data(node, t, path, &format!("{what} on {}", node.addr), cond).await;
    }
}

/// An unrelated call answers while storage is in trouble (a client deadline catches a hang).
async fn answers(node: &Endpoint, t: &Ticket) {
    let resp = node.client().get(node.api("/cluster/status")).header("Cookie", t.cookie()).timeout(Duration::from_secs(5)).send().await;
    assert_eq!(resp.map(|r| r.status().as_u16()).ok(), Some(200), "{} did not answer /cluster/status", node.addr);
}

#[tokio::test]
async fn nfs_storage_is_shared_by_every_node_and_survives_a_dead_server() {
    if !lab::available() {
        return;
    }
    let lab = Lab::up("nfs", "10.77.16", 3);
    lab.sh(&["cluster"]);
    let server = lab.nfs_up();
    let t = lab.nodes[0].login().await;
    on_every_node(&lab, &t, "three nodes quorate", "/cluster/status", |d| quorate_with(d, 3)).await;
    let (n1, n2, n3) = (lab.node("n1"), lab.node("n2"), lab.node("n3"));

    // Scan from n2 (PVE's Export combo), then add from n1; a bad export is refused, nothing saved.
    let (status, body) = n2.get(&t, &format!("/nodes/n2/scan/nfs?server={server}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], serde_json::json!([{"path": "/export", "options": "(everyone)"}]));
    let (status, body) = n1.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", &server), ("export", "/not-exported")]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("create storage failed: storage 'nfs1' is not online"), "{body}");
    let (status, body) = n1.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", &server), ("export", "/export"), ("content", "images,iso")]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = n3.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", &server), ("export", "/export")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("create storage failed: storage ID 'nfs1' already defined\n")));

    // Available on every node, with the server's figures.
    on_every_node(&lab, &t, "nfs1 available everywhere", "/cluster/resources?type=storage", |d| storage_states(d, "nfs1") == all("available")).await;
    let total = fs_total(&lab.export_dir());
    for (i, node) in lab.nodes.iter().enumerate() {
        let (_, status) = node.get(&t, &format!("/nodes/n{}/storage/nfs1/status", i + 1)).await;
        let s = &status["data"];
        assert_eq!((s["active"].as_i64(), s["shared"].as_i64(), s["type"].as_str()), (Some(1), Some(1), Some("nfs")), "{status}");
        assert_eq!(s["total"].as_u64(), Some(total), "n{}: total as the server's filesystem", i + 1);
        assert!(s["used"].as_u64().unwrap() > 0 && s["avail"].as_u64().unwrap() > 0, "{status}");
    }
    assert!(lab.export_dir().join("images").is_dir() && lab.export_dir().join("template/iso").is_dir(), "PVE's directory layout on the server");

    // A volume made on n2 is listed on n3 and lies where PVE puts it.
    let (status, body) = n2.post(&t, "/nodes/n2/storage/nfs1/content", &[("vmid", "100"), ("filename", "vm-100-disk-0.qcow2"), ("size", "4G")]).await;
    assert_eq!((status, body["data"].as_str()), (200, Some("nfs1:100/vm-100-disk-0.qcow2")), "{body}");
    let (_, content) = n3.get(&t, "/nodes/n3/storage/nfs1/content?vmid=100").await;
    let volume = &content["data"][0];
    assert_eq!((volume["volid"].as_str(), volume["format"].as_str(), volume["size"].as_u64()), (Some("nfs1:100/vm-100-disk-0.qcow2"), Some("qcow2"), Some(4 << 30)), "{content}");
    let header = std::fs::read(lab.export_dir().join("images/100/vm-100-disk-0.qcow2")).unwrap();
    assert_eq!(&header[..4], b"QFI\xfb", "a qcow2 image on the server");

    // The CLI on n3 adds a second storage on the same export; status and list read it.
    let out = lab.run(&["corral", "n3", "storage", "add", "nfs", "nfs2", "--server", &server, "--export", "/export", "--content", "images"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    on_every_node(&lab, &t, "nfs2 available everywhere", "/cluster/resources?type=storage", |d| storage_states(d, "nfs2") == all("available")).await;
    let listing = lab.sh(&["corral", "n1", "storage", "list", "nfs2"]);
    assert!(listing.contains("nfs2:100/vm-100-disk-0.qcow2"), "{listing}");
    let scan = lab.sh(&["corral", "n1", "storage", "scan", "nfs", &server]);
    assert!(scan.contains("/export"), "{scan}");

    // The server dies (power loss: silence, not refusals): unavailable everywhere, APIs answer.
    lab.sh(&["nfs", "poweroff"]);
    on_every_node(&lab, &t, "nfs1 unknown everywhere", "/cluster/resources?type=storage", |d| storage_states(d, "nfs1") == all("unknown")).await;
    for (i, node) in lab.nodes.iter().enumerate() {
        answers(node, &t).await;
        let (_, status) = node.get(&t, &format!("/nodes/n{}/storage/nfs1/status", i + 1)).await;
        assert_eq!(status["data"]["active"], 0, "{status}");
        let (code, body) = node.get(&t, &format!("/nodes/n{}/storage/nfs1/content", i + 1)).await;
        assert_eq!(code, 500, "a dead storage fails the call instead of hanging it: {body}");
        assert!(body["message"].as_str().unwrap().contains("is not online"), "{body}");
    }
    let storage_status = lab.sh(&["corral", "n2", "storage", "status"]);
    assert!(storage_status.lines().any(|l| l.starts_with("nfs1") && l.contains("inactive")), "{storage_status}");
    // Nor does it hold up a daemon's shutdown: n3 stops gracefully (a clean exit removes its
    // run-state file; `lab.sh stop` would SIGKILL after 10 s) and starts again.
    let run_state = lab.node("n3").dir.join("run/serve.json");
    assert!(run_state.exists());
    lab.sh(&["stop", "n3"]);
    assert!(!run_state.exists(), "n3 did not finish a graceful shutdown:\n{}", lab.log_tail("n3"));
    lab.sh(&["start", "n3"]);
    answers(lab.node("n3"), &t).await;

    // It returns by itself.
    lab.sh(&["nfs", "poweron"]);
    on_every_node(&lab, &t, "nfs1 available again", "/cluster/resources?type=storage", |d| storage_states(d, "nfs1") == all("available")).await;
    let (status, body) = n1.delete(&t, "/nodes/n1/storage/nfs1/content/nfs1:100/vm-100-disk-0.qcow2").await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n1.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
    assert!(!lab.export_dir().join("images/100").exists(), "the volume and its directory are gone");
    let (status, _) = n2.delete(&t, "/storage/nfs2").await;
    assert_eq!(status, 200);
    on_every_node(&lab, &t, "nfs2 gone", "/cluster/resources?type=storage", |d| storage_states(d, "nfs2").is_empty()).await;
}
