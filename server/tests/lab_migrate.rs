//! Guests moving between lab nodes on shared NFS storage (Ganesha on the lab's storage node),
//! with real QEMU (TCG): a running guest migrates live through the SSH tunnel and keeps
//! running on the target (one QEMU, found in /proc, not asked of corral), a stopped guest moves
//! by owner change, and what cannot move is refused with the reason.

mod common;

use common::cluster::wait_data;
use common::lab::{self, Lab};


/// QEMU processes of guest `vmid` in a lab node's network namespace, read from /proc.
fn qemu_pids(lab_name: &str, node: &str, vmid: u32) -> Vec<u32> {
    let out = std::process::Command::new("ip").args(["netns", "pids", &format!("t-{lab_name}-{node}")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = state.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
            alive && cmdline.split(|b| *b == 0).any(|a| a.ends_with(format!("/{vmid}.pid").as_bytes()))
        })
        .collect()
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn guests_migrate_live_and_offline_on_shared_storage() {
    if !lab::available() {
        return;
    }
    let lab = Lab::up("mig", "10.77.17", 2);
    lab.sh(&["cluster"]);
    let server = lab.nfs_up();
    let (n1, n2) = (lab.node("n1"), lab.node("n2"));
    let t = n1.login().await;
    for node in &lab.nodes {
        wait_data(node, &t, "/cluster/status", "both nodes online", |d| d.as_array().unwrap().iter().filter(|e| e["online"] == 1).count() == 2).await;
    }
    // The migration stream goes through SSH, whose trust the nodes set up after the join.
    let ssh_ok = |d: &serde_json::Value, peer: &str| d["members"].as_array().unwrap().iter().any(|m| m["node"] == peer && m["ssh"] == 1);
    wait_data(n1, &t, "/cluster/gossip", "SSH from n1 to n2", |d| ssh_ok(d, "n2")).await;
    wait_data(n2, &t, "/cluster/gossip", "SSH from n2 to n1", |d| ssh_ok(d, "n1")).await;
    let (status, body) = n1.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", &server), ("export", "/export")]).await;
    assert_eq!(status, 200, "{body}");
    for (i, node) in lab.nodes.iter().enumerate() {
        wait_data(node, &t, &format!("/nodes/n{}/storage/nfs1/status", i + 1), "nfs1 active", |d| d["active"] == 1).await;
    }

    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu", &[("vmid", "100"), ("name", "mover"), ("memory", "128"), ("kvm", "0"), ("scsi0", "nfs1:1,format=qcow2")]).await).await;
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/100/status/start", &[]).await).await;
    assert_eq!(qemu_pids("mig", "n1", 100).len(), 1);

    // What may not move, and why.
    let (_, pre) = n1.get(&t, "/nodes/n1/qemu/100/migrate").await;
    assert_eq!((pre["data"]["running"].as_i64(), pre["data"]["allowed_nodes"].clone()), (Some(1), serde_json::json!(["n2"])), "{pre}");
    let (status, body) = n1.post(&t, "/nodes/n1/qemu/100/migrate", &[("target", "n2")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("can't migrate running VM without --online\n")));
    let (status, body) = n1.post(&t, "/nodes/n1/qemu/100/migrate", &[("target", "n1"), ("online", "1")]).await;
    assert_eq!(status, 400, "{body}");

    // Live: the guest runs on n2 afterwards, once, and its configuration moved with it.
    let log = n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/100/migrate", &[("target", "n2"), ("online", "1")]).await).await;
    assert!(log.iter().any(|l| l.starts_with("migration completed:")), "{log:?}");
    assert!(qemu_pids("mig", "n1", 100).is_empty(), "the source QEMU is gone");
    assert_eq!(qemu_pids("mig", "n2", 100).len(), 1, "exactly one QEMU, on the target");
    let (_, current) = n2.get(&t, "/nodes/n2/qemu/100/status/current").await;
    assert_eq!((current["data"]["status"].as_str(), current["data"]["qmpstatus"].as_str()), (Some("running"), Some("running")), "{current}");
    let (status, _) = n1.get(&t, "/nodes/n1/qemu/100/config").await;
    assert_eq!(status, 500, "the configuration left n1");
    let (_, config) = n2.get(&t, "/nodes/n2/qemu/100/config").await;
    assert!(config["data"].get("lock").is_none(), "unlocked: {config}");
    wait_data(n1, &t, "/cluster/resources?type=vm", "n1 sees it running on n2", |d| d[0]["node"] == "n2" && d[0]["status"] == "running").await;

    // Offline: stop it on n2, move it back by owner change, start it on n1.
    n2.task_ok(&t, n2.post(&t, "/nodes/n2/qemu/100/status/stop", &[]).await).await;
    let log = n2.task_ok(&t, n2.post(&t, "/nodes/n2/qemu/100/migrate", &[("target", "n1")]).await).await;
    assert!(log.iter().any(|l| l.contains("is now on node 'n1'")), "{log:?}");
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/100/status/start", &[]).await).await;
    assert_eq!(qemu_pids("mig", "n1", 100).len(), 1);
    assert!(qemu_pids("mig", "n2", 100).is_empty());

    // A guest that runs Linux (a counter on its serial console) moves live and never stops:
    // the counter goes on from where it was on the target, and it does not boot again there.
    let guest_dir = lab.state_dir().join("guest");
    std::fs::create_dir_all(&guest_dir).unwrap();
    let cache = std::env::var("CORRAL_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/corral"));
    for file in ["vmlinuz", "initrd.gz"] {
        std::fs::copy(cache.join("guest").join(file), guest_dir.join(file)).expect("the test guest (scripts/bootstrap.sh --test builds it with lab/mkguest.sh)");
    }
    let args = format!("-kernel {0}/vmlinuz -initrd {0}/initrd.gz -append console=ttyS0", guest_dir.display());
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu", &[("vmid", "102"), ("name", "counter"), ("memory", "128"), ("kvm", "0"), ("serial0", "socket"), ("args", &args)]).await).await;
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/102/status/start", &[]).await).await;
    let serial = |node: &str| std::fs::read_to_string(lab.state_dir().join(format!("{node}/data/run/qemu/102.serial.log"))).unwrap_or_default();
    let ticks = |text: &str| -> Vec<u64> { text.lines().filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok()).collect() };
    wait_until("the guest counts on n1", || ticks(&serial("n1")).len() >= 10).await;
    let log = n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/102/migrate", &[("target", "n2"), ("online", "1")]).await).await;
    let summary = log.iter().find(|l| l.starts_with("migration completed:")).cloned().unwrap_or_default();
    let before = *ticks(&serial("n1")).last().unwrap();
    wait_until("the guest counts on n2", || ticks(&serial("n2")).len() >= 5).await;
    let after = ticks(&serial("n2"));
    assert!(after[0] >= before && after[0] <= before + 5, "the counter continued ({before} on n1, then {after:?} on n2; {summary})");
    assert!(!serial("n2").contains("GUEST-READY"), "the guest did not boot again on n2");
    assert!(after.windows(2).all(|w| w[1] == w[0] + 1), "no tick lost or repeated on n2: {after:?}");
    assert!(qemu_pids("mig", "n1", 102).is_empty() && qemu_pids("mig", "n2", 102).len() == 1);
    n2.task_ok(&t, n2.post(&t, "/nodes/n2/qemu/102/status/stop", &[]).await).await;

    // A live migration that cannot reach the target (its sshd is down) leaves the guest running
    // on n1, its configuration there and unlocked, and nothing on n2.
    assert_eq!(qemu_pids("mig", "n1", 100).len(), 1);
    lab.sh(&["sshd", "n2", "stop"]);
    let (status, body) = n1.post(&t, "/nodes/n1/qemu/100/migrate", &[("target", "n2"), ("online", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n1.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_ne!(exit, "OK", "{log:?}");
    assert!(log.iter().any(|l| l == "VM 100 keeps running on node 'n1'"), "{log:?}");
    assert_eq!(qemu_pids("mig", "n1", 100).len(), 1, "still running on the source");
    assert!(qemu_pids("mig", "n2", 100).is_empty(), "the receiving QEMU was stopped");
    let (_, config) = n1.get(&t, "/nodes/n1/qemu/100/config").await;
    assert!(config["data"].get("lock").is_none(), "{config}");
    lab.sh(&["sshd", "n2", "start"]);

    // A guest with a disk on n1's local storage stays where it is.
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu", &[("vmid", "101"), ("memory", "64"), ("kvm", "0"), ("virtio0", "local:1")]).await).await;
    let (status, body) = n1.post(&t, "/nodes/n1/qemu/101/migrate", &[("target", "n2")]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("local disks virtio0 (local:101/vm-101-disk-0.raw)"), "{body}");
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu/100/status/stop", &[]).await).await;

    // Nor does anything go to a node that is down: the preconditions say why.
    lab.sh(&["poweroff", "n2"]);
    wait_data(n1, &t, "/cluster/status", "n2 offline", |d| d.as_array().unwrap().iter().any(|e| e["name"] == "n2" && e["online"] == 0)).await;
    let (_, pre) = n1.get(&t, "/nodes/n1/qemu/100/migrate").await;
    assert_eq!(pre["data"]["not_allowed_nodes"]["n2"]["reason"], "node is offline", "{pre}");
    let (status, body) = n1.post(&t, "/nodes/n1/qemu/100/migrate", &[("target", "n2")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("can't migrate VM 100 to node 'n2': node is offline\n")));
}
