//! Running guests with real QEMU (TCG) on a standalone node: create with a new disk, start,
//! live status, QEMU outliving a daemon restart and staying controllable, a QEMU that dies
//! reported stopped with a cluster log entry, destroy refused while running and taking the
//! guest's disk with it.

mod common;

use common::cluster::wait_data;
use common::{Node, Options};


fn qemu_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
}

#[tokio::test]
async fn a_guest_runs_survives_a_daemon_restart_and_is_seen_dying() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts = Options::named("vm1", "127.0.15.1:0");
    let mut n = Node::spawn(&data, &opts);
    let t = n.login().await;

    let created = n.post(&t, "/nodes/vm1/qemu", &[("vmid", "100"), ("name", "tiny"), ("memory", "128"), ("kvm", "0"), ("scsi0", "local:1,format=qcow2"), ("serial0", "socket")]).await;
    let log = n.task_ok(&t, created).await;
    assert!(log.iter().any(|l| l.contains("scsi0: allocated local:100/vm-100-disk-0.qcow2")), "{log:?}");
    let (_, config) = n.get(&t, "/nodes/vm1/qemu/100/config").await;
    assert_eq!(config["data"]["scsi0"], "local:100/vm-100-disk-0.qcow2,size=1G");
    let disk = data.join("local/images/100/vm-100-disk-0.qcow2");
    assert!(disk.is_file());

    n.task_ok(&t, n.post(&t, "/nodes/vm1/qemu/100/status/start", &[]).await).await;
    let (_, current) = n.get(&t, "/nodes/vm1/qemu/100/status/current").await;
    let c = &current["data"];
    assert_eq!((c["status"].as_str(), c["qmpstatus"].as_str()), (Some("running"), Some("running")), "{current}");
    let pid = c["pid"].as_u64().expect("a running guest has a pid");
    assert!(qemu_alive(pid));
    assert!(c["mem"].as_u64().unwrap() > 0 && c["maxmem"].as_u64() == Some(128 << 20), "{current}");
    assert_eq!(c["maxdisk"].as_u64(), Some(1 << 30), "the boot disk's size: {current}");
    let (status, body) = n.post(&t, "/nodes/vm1/qemu/100/status/start", &[]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("VM 100 already running\n")));
    wait_data(&n, &t, "/cluster/resources?type=vm", "guest running in the resources", |d| d[0]["status"] == "running").await;
    wait_data(&n, &t, "/nodes/vm1/qemu/100/rrddata?timeframe=hour&cf=AVERAGE", "a sample of the running guest", |d| {
        d.as_array().unwrap().iter().any(|s| s["mem"].as_f64().unwrap_or(0.0) > 0.0 && s["maxmem"].as_f64() == Some((128u64 << 20) as f64))
    })
    .await;

    // The daemon restarts; QEMU keeps running and is controllable afterwards.
    assert!(n.terminate().success());
    assert!(qemu_alive(pid), "QEMU outlives the daemon");
    let n = Node::spawn(&data, &opts);
    let (_, current) = n.get(&t, "/nodes/vm1/qemu/100/status/current").await;
    assert_eq!((current["data"]["status"].as_str(), current["data"]["pid"].as_u64()), (Some("running"), Some(pid)), "{current}");
    let (status, body) = n.delete(&t, "/nodes/vm1/qemu/100").await;
    assert_eq!((status, body["message"].as_str()), (500, Some("VM 100 is running - destroy failed\n")));
    n.task_ok(&t, n.post(&t, "/nodes/vm1/qemu/100/status/stop", &[]).await).await;
    assert!(!qemu_alive(pid));
    let (_, current) = n.get(&t, "/nodes/vm1/qemu/100/status/current").await;
    assert_eq!(current["data"]["status"], "stopped");

    // A QEMU that dies (not stopped by corral) is reported stopped, with a cluster log entry.
    n.task_ok(&t, n.post(&t, "/nodes/vm1/qemu/100/status/start", &[]).await).await;
    let (_, current) = n.get(&t, "/nodes/vm1/qemu/100/status/current").await;
    let pid = current["data"]["pid"].as_u64().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_data(&n, &t, "/nodes/vm1/qemu/100/status/current", "stopped after its QEMU died", |d| d["status"] == "stopped").await;
    wait_data(&n, &t, "/cluster/log?max=20", "the death in the cluster log", |d| {
        d.as_array().unwrap().iter().any(|e| e["msg"].as_str().is_some_and(|m| m.contains("VM 100 stopped: its QEMU process")))
    })
    .await;

    // PVE's `vmid` task filter: this guest's tasks only.
    let (_, tasks) = n.get(&t, "/nodes/vm1/tasks?vmid=100&source=all&limit=100").await;
    let kinds: Vec<&str> = tasks["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"qmstart") && kinds.contains(&"qmstop") && kinds.contains(&"qmcreate"), "{kinds:?}");
    assert!(tasks["data"].as_array().unwrap().iter().all(|e| e["id"] == "100"), "{tasks}");

    // Destroy takes the guest's own disk with it, and with destroy-unreferenced-disks also an
    // image of its VMID that no configuration names.
    let (status, body) = n.post(&t, "/nodes/vm1/storage/local/content", &[("vmid", "100"), ("filename", "vm-100-disk-7.raw"), ("size", "1M")]).await;
    assert_eq!(status, 200, "{body}");
    let log = n.task_ok(&t, n.delete(&t, "/nodes/vm1/qemu/100?destroy-unreferenced-disks=1").await).await;
    assert!(log.iter().any(|l| l.contains("removed local:100/vm-100-disk-0.qcow2")), "{log:?}");
    assert!(log.iter().any(|l| l == "removed unreferenced disk local:100/vm-100-disk-7.raw"), "{log:?}");
    assert!(!disk.exists() && !data.join("local/images/100").exists());
}

#[tokio::test]
async fn bad_guest_input_is_refused_before_anything_is_made() {
    let n = Node::start_with(Options::named("vm2", "127.0.15.2:0"));
    let t = n.login().await;
    for (key, value, why) in [
        ("scsi0", "local:0", "size must be more than 0"),
        ("scsi0", "nope:4", "storage 'nope' does not exist"),
        ("virtio0", "local:4,format=exe", "enumeration"),
        ("net0", "virtio", "missing bridge"),
        ("net0", "virtio,bridge=vmbr0,evil=1", "unknown option 'evil'"),
        ("net0", "pcnet,bridge=vmbr0", "unknown option 'pcnet'"),
        ("net0", "virtio=zz:zz,bridge=vmbr0", "invalid MAC address"),
    ] {
        let (status, body) = n.post(&t, "/nodes/vm2/qemu", &[("vmid", "100"), (key, value)]).await;
        assert_eq!(status, 400, "{key}={value}: {body}");
        assert!(body["errors"][key].as_str().is_some_and(|e| e.contains(why)), "{key}={value}: {body}");
    }
    let (_, list) = n.get(&t, "/nodes/vm2/qemu").await;
    assert_eq!(list["data"], serde_json::json!([]));
    assert!(!n.dir.join("local/images/100").exists(), "no volume was allocated");

    // A create that fails half-way removes the volumes it made: the second disk cannot be
    // made (its guest directory is taken by a file), so the first one goes again.
    let trap = tempfile::tempdir().unwrap();
    let (status, body) = n.post(&t, "/storage", &[("storage", "trap"), ("type", "dir"), ("path", trap.path().to_str().unwrap())]).await;
    assert_eq!(status, 200, "{body}");
    wait_data(&n, &t, "/nodes/vm2/storage/trap/status", "trap active", |d| d["active"] == 1).await;
    std::fs::write(trap.path().join("images/102"), "not a directory").unwrap();
    let (status, body) = n.post(&t, "/nodes/vm2/qemu", &[("vmid", "102"), ("scsi0", "local:1"), ("scsi1", "trap:1")]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = n.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_ne!(exit, "OK", "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("removing local:102/vm-102-disk-0.raw again: done")), "{log:?}");
    assert!(!n.dir.join("local/images/102/vm-102-disk-0.raw").exists());
    let (status, _) = n.get(&t, "/nodes/vm2/qemu/102/config").await;
    assert_eq!(status, 500, "no guest was recorded");

    // A guest whose disk has vanished does not start, and says which disk.
    let created = n.post(&t, "/nodes/vm2/qemu", &[("vmid", "103"), ("memory", "64"), ("kvm", "0"), ("scsi0", "local:1")]).await;
    n.task_ok(&t, created).await;
    std::fs::remove_file(n.dir.join("local/images/103/vm-103-disk-0.raw")).unwrap();
    let (status, body) = n.post(&t, "/nodes/vm2/qemu/103/status/start", &[]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, _) = n.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "scsi0: volume 'local:103/vm-103-disk-0.raw' does not exist");

    // A guest on a bridge this node lacks does not start, and says why.
    let (status, body) = n.post(&t, "/nodes/vm2/qemu", &[("vmid", "101"), ("kvm", "0"), ("memory", "64"), ("net0", "virtio,bridge=nosuchbr0")]).await;
    assert_eq!(status, 200, "{body}");
    n.wait_task(&t, body["data"].as_str().unwrap()).await;
    let (_, config) = n.get(&t, "/nodes/vm2/qemu/101/config").await;
    assert!(config["data"]["net0"].as_str().unwrap().starts_with("virtio=BC:24:11:"), "a MAC was made up: {config}");
    let (status, body) = n.post(&t, "/nodes/vm2/qemu/101/status/start", &[]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, _) = n.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "bridge 'nosuchbr0' does not exist");
}

fn qm(node: &Node, args: &[&str]) -> (bool, String) {
    let out = common::corral().args(["qm", "--data-dir"]).arg(&node.dir).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_qm_cli_and_config_changes() {
    let n = Node::start_with(Options::named("vm3", "127.0.15.3:0"));
    let t = n.login().await;
    let (ok, out) = qm(&n, &["create", "200", "--name", "cli-vm", "--memory", "64", "--kvm", "0", "--scsi0", "local:1"]);
    assert!(ok, "{out}");
    let (ok, out) = qm(&n, &["config", "200"]);
    assert!(ok && out.lines().any(|l| l == "memory: 64") && out.lines().any(|l| l == "scsi0: local:200/vm-200-disk-0.raw,size=1G"), "{out}");

    // A stale digest is refused; a removed disk becomes unused0, as in PVE.
    let (status, body) = n.put(&t, "/nodes/vm3/qemu/200/config", &[("memory", "80"), ("digest", "0000000000000000000000000000000000000000")]).await;
    assert_eq!(status, 500, "{body}");
    let (ok, out) = qm(&n, &["set", "200", "--memory", "96", "--delete", "scsi0"]);
    assert!(ok, "{out}");
    let (_, config) = n.get(&t, "/nodes/vm3/qemu/200/config").await;
    assert_eq!((config["data"]["memory"].as_u64(), config["data"]["unused0"].as_str()), (Some(96), Some("local:200/vm-200-disk-0.raw")), "{config}");
    assert!(config["data"].get("scsi0").is_none());
    let (status, body) = n.put(&t, "/nodes/vm3/qemu/200/config", &[("delete", "vmid")]).await;
    assert_eq!(status, 400, "{body}");

    let (ok, out) = qm(&n, &["start", "200"]);
    assert!(ok && out.contains("TASK OK"), "{out}");
    let (ok, out) = qm(&n, &["status", "200"]);
    assert_eq!((ok, out.trim()), (true, "status: running"));
    let (ok, out) = qm(&n, &["list"]);
    assert!(ok && out.lines().any(|l| l.contains("200") && l.contains("cli-vm") && l.contains("running") && l.contains("96")), "{out}");
    let (ok, out) = qm(&n, &["stop", "200"]);
    assert!(ok, "{out}");
    let (ok, out) = qm(&n, &["destroy", "200"]);
    assert!(ok && out.contains("unused0: removed local:200/vm-200-disk-0.raw"), "{out}");
    let (ok, out) = qm(&n, &["status", "200"]);
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn onboot_guests_start_when_the_host_booted_not_when_the_daemon_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts = Options::named("vm4", "127.0.15.4:0");
    let mut n = Node::spawn(&data, &opts);
    let t = n.login().await;
    n.task_ok(&t, n.post(&t, "/nodes/vm4/qemu", &[("vmid", "300"), ("memory", "64"), ("kvm", "0"), ("onboot", "1")]).await).await;
    n.task_ok(&t, n.post(&t, "/nodes/vm4/qemu", &[("vmid", "301"), ("memory", "64"), ("kvm", "0")]).await).await;

    // A daemon restart on the same boot starts nothing.
    assert!(n.terminate().success());
    let mut n = Node::spawn(&data, &opts);
    let (_, current) = n.get(&t, "/nodes/vm4/qemu/300/status/current").await;
    assert_eq!(current["data"]["status"], "stopped");

    // The first start after a boot (the host's boot id differs from the one recorded) does.
    assert!(n.terminate().success());
    std::fs::write(data.join("run/boot-id"), "an-earlier-boot\n").unwrap();
    let n = Node::spawn(&data, &opts);
    wait_data(&n, &t, "/nodes/vm4/qemu/300/status/current", "the onboot guest running", |d| d["status"] == "running").await;
    let (_, other) = n.get(&t, "/nodes/vm4/qemu/301/status/current").await;
    assert_eq!(other["data"]["status"], "stopped", "a guest without onboot stays off");
    n.task_ok(&t, n.post(&t, "/nodes/vm4/qemu/300/status/stop", &[]).await).await;
}

/// The test guest (lab/mkguest.sh; scripts/bootstrap.sh --test builds it into the cache).
fn guest_args() -> String {
    let cache = std::env::var("CORRAL_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/corral"));
    let dir = cache.join("guest");
    assert!(dir.join("vmlinuz").is_file(), "no test guest in {} (scripts/bootstrap.sh --test builds it)", dir.display());
    format!("-kernel {0}/vmlinuz -initrd {0}/initrd.gz -append console=ttyS0", dir.display())
}

async fn wait_for_text(path: &std::path::Path, what: &str, times: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(path).unwrap_or_default().matches(what).count() < times {
        assert!(std::time::Instant::now() < deadline, "no {what:?} in {}", path.display());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_linux_guest_reboots_and_shuts_down_through_acpi() {
    let n = Node::start_with(Options::named("vm5", "127.0.15.5:0"));
    let t = n.login().await;
    let args = guest_args();
    let created = n.post(&t, "/nodes/vm5/qemu", &[("vmid", "500"), ("memory", "128"), ("kvm", "0"), ("serial0", "socket"), ("args", &args), ("start", "1")]).await;
    n.task_ok(&t, created).await;
    let serial = n.dir.join("run/qemu/500.serial.log");
    wait_for_text(&serial, "GUEST-READY", 1).await;
    let (_, before) = n.get(&t, "/nodes/vm5/qemu/500/status/current").await;

    // Reboot: powered off through ACPI, then started again (a new QEMU, a new boot).
    let log = n.task_ok(&t, n.post(&t, "/nodes/vm5/qemu/500/status/reboot", &[]).await).await;
    assert!(log.iter().any(|l| l.contains("started again")), "{log:?}");
    wait_for_text(&serial, "GUEST-READY", 1).await;
    let (_, after) = n.get(&t, "/nodes/vm5/qemu/500/status/current").await;
    assert_ne!(before["data"]["pid"], after["data"]["pid"], "a new QEMU after the reboot");

    // Reset: the same QEMU, the guest boots again (its serial log goes on in the same file).
    n.task_ok(&t, n.post(&t, "/nodes/vm5/qemu/500/status/reset", &[]).await).await;
    wait_for_text(&serial, "GUEST-READY", 2).await;
    let (_, reset) = n.get(&t, "/nodes/vm5/qemu/500/status/current").await;
    assert_eq!(reset["data"]["pid"], after["data"]["pid"], "a reset keeps the QEMU process");

    // Shutdown: the guest powers itself off; corral reports it stopped, nothing was killed.
    n.task_ok(&t, n.post(&t, "/nodes/vm5/qemu/500/status/shutdown", &[("timeout", "60")]).await).await;
    assert!(std::fs::read_to_string(&serial).unwrap().contains("ACPI power button: powering off"));
    let (_, current) = n.get(&t, "/nodes/vm5/qemu/500/status/current").await;
    assert_eq!(current["data"]["status"], "stopped");
    let (_, clog) = n.get(&t, "/cluster/log?max=20").await;
    assert!(!clog.to_string().contains("VM 500 stopped: its QEMU process"), "a requested shutdown is not reported as a crash: {clog}");
}
