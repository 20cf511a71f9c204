//! Running guests on this node: a guest's record resolved into a [`VmSpec`] (volumes to files
//! and `nfs://` URLs), started and stopped through [`corral_qemu`], and watched: a QEMU that
//! exits on its own is noticed at once (pidfd) and written to the cluster log. At daemon start
//! every guest whose QEMU still runs is taken up again: QEMU outlives corral.
//!
//! Must not render HTTP answers; the API maps [`corral_qemu::QemuError`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use corral_api_types::rrd::GuestRrdRow;
use corral_api_types::Vmid;
use corral_qemu::spec::{Bus, Disk, Nic, RunDir, VmSpec};
use corral_qemu::{process, QemuError};
use corral_storage::VolumeId;

use crate::events::Event;
use crate::guests::{self, GuestRecord};
use crate::state::AppState;

pub struct VmRuntime {
    pub run: RunDir,
    /// Guests this daemon watches, with the pid it watches (to tell a restart from a death).
    watched: Mutex<BTreeMap<u32, u32>>,
    /// QEMU pids asked to end (stop, shutdown, reboot, migrated away): their exit is not news.
    /// The watcher of that pid takes it out again.
    expected_exits: Mutex<std::collections::BTreeSet<u32>>,
    /// The last CPU reading per guest (when, CPU seconds), for usage between two readings.
    cpu: Mutex<BTreeMap<u32, (std::time::Instant, f64)>>,
    /// The last reading of each guest's tap counters (when, received, sent; the host's view).
    net: Mutex<BTreeMap<u32, (std::time::Instant, (u64, u64))>>,
    /// Each guest's latest sample (its graph's history is in the node's `RrdStore`).
    latest: Mutex<BTreeMap<u32, GuestRrdRow>>,
}

impl VmRuntime {
    pub fn new(run: RunDir) -> Self {
        Self { run, watched: Mutex::default(), expected_exits: Mutex::default(), cpu: Mutex::default(), net: Mutex::default(), latest: Mutex::default() }
    }

    /// The guest's CPU use as of its latest sample (a fraction of its vCPUs).
    pub fn cpu(&self, vmid: Vmid) -> f64 {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(&vmid.get()).and_then(|r| r.cpu).unwrap_or(0.0)
    }

    /// The guest's network bytes per second since the previous reading, seen from the guest:
    /// what its taps sent is what it received.
    fn net_rates(&self, vmid: Vmid, taps: &[String]) -> (Option<f64>, Option<f64>) {
        let mut total = (0, 0);
        for tap in taps {
            let Some((rx, tx)) = crate::host::proc_stats::read_interface_bytes(tap) else { return (None, None) };
            total = (total.0 + tx, total.1 + rx);
        }
        let now = (std::time::Instant::now(), total);
        match self.net.lock().unwrap_or_else(|p| p.into_inner()).insert(vmid.get(), now) {
            Some(before) => crate::node_stats::rates(before, now),
            None => (None, None),
        }
    }

    /// CPU use since the previous reading, as a fraction of the guest's vCPUs (0 the first time).
    /// Only the sampler reads it: every reading moves the baseline.
    fn cpu_fraction(&self, vmid: Vmid, pid: u32, cpus: u32) -> f64 {
        let Some(now) = process::stats(pid).map(|s| s.cpu_seconds) else { return 0.0 };
        let at = std::time::Instant::now();
        let before = self.cpu.lock().unwrap_or_else(|p| p.into_inner()).insert(vmid.get(), (at, now));
        match before {
            Some((then, used)) if at > then && now >= used => ((now - used) / at.duration_since(then).as_secs_f64() / f64::from(cpus.max(1))).clamp(0.0, 1.0),
            _ => 0.0,
        }
    }

    pub fn pid(&self, vmid: Vmid) -> Option<u32> {
        process::running_pid(&self.run, vmid.get())
    }

    pub fn is_running(&self, vmid: Vmid) -> bool {
        self.pid(vmid).is_some()
    }

    /// The guest's QEMU is about to be asked to end: its exit is expected. Marked before the
    /// request, so the watcher (which may see the exit before the request returns) knows.
    pub fn expect_exit(&self, vmid: Vmid) {
        if let Some(pid) = self.pid(vmid) {
            self.expected_exits.lock().unwrap_or_else(|p| p.into_inner()).insert(pid);
        }
    }

    /// Whether `pid`'s exit was asked for (and forget it either way).
    fn exit_was_expected(&self, pid: u32) -> bool {
        self.expected_exits.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid)
    }
}

/// PVE's default `kvm: 1`.
fn wants_kvm(record: &GuestRecord) -> bool {
    record.config.get("kvm").is_none_or(|v| v != "0")
}

/// Resolve the record into what QEMU needs: every disk's file, every NIC's bridge.
pub async fn spec_of(state: &AppState, vmid: Vmid, record: &GuestRecord) -> Result<VmSpec, String> {
    let get = |key: &str, default: u64| record.config.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(default);
    let mut disks = Vec::new();
    let mut nics = Vec::new();
    for (key, value) in &record.config {
        if Bus::parse(key).is_some() && guests::is_disk_key(key) {
            let volid = value.split(',').next().unwrap_or_default();
            if volid == "none" || value.contains("media=cdrom") {
                continue;
            }
            let volume = VolumeId::parse(volid).map_err(|e| e.to_string())?;
            let config = crate::storage::get(&state.db, volume.storage.as_str()).await.map_err(|e| e.to_string())?;
            if config.disable || !config.applies_to(state.node.as_str()) {
                return Err(format!("storage '{}' is not available on node '{}'", volume.storage, state.node));
            }
            let backend = state.storage.registry.backend(&config);
            backend.info(&volume.name).await.map_err(|e| format!("{key}: {e}"))?;
            let file = state.storage.registry.location(&config, &volume.name);
            disks.push(Disk { key: key.clone(), file, format: volume.name.format() });
        } else if let Some(n) = key.strip_prefix("net").filter(|n| n.parse::<u8>().is_ok()) {
            let opts = parse_net(value).map_err(|why| format!("net{n}: {why}"))?;
            nics.push(Nic { key: key.clone(), model: opts.0, mac: opts.1, bridge: opts.2 });
        }
    }
    Ok(VmSpec {
        vmid: vmid.get(),
        name: record.name(vmid).replace(' ', "-"),
        memory_mib: get("memory", 512),
        sockets: get("sockets", 1) as u32,
        cores: get("cores", 1) as u32,
        kvm: wants_kvm(record),
        disks,
        nics,
        serial: record.config.get("serial0").is_some_and(|v| v == "socket"),
        args: record.config.get("args").map(|a| a.split_whitespace().map(String::from).collect()).unwrap_or_default(),
        incoming: None,
    })
}

/// `virtio=BC:24:11:…,bridge=vmbr0` (or `model=virtio,macaddr=…,bridge=…`): model, MAC, bridge.
pub fn parse_net(value: &str) -> Result<(String, String, String), String> {
    let (mut model, mut mac, mut bridge) = (None, None, None);
    for part in value.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "virtio" | "e1000" | "rtl8139" => {
                model = Some(k.to_string());
                if !v.is_empty() {
                    mac = Some(v.to_string());
                }
            }
            "model" => model = Some(v.to_string()),
            "macaddr" => mac = Some(v.to_string()),
            "bridge" => bridge = Some(v.to_string()),
            "firewall" | "link_down" | "rate" | "tag" | "mtu" | "queues" => {}
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let model = model.ok_or("no model (virtio, e1000, rtl8139)")?;
    let mac = mac.ok_or("no MAC address")?;
    let bridge = bridge.ok_or("no bridge")?;
    Ok((model, mac, bridge))
}

/// Start the guest and watch it.
pub async fn start(state: &AppState, vmid: Vmid, record: &GuestRecord) -> Result<u32, QemuError> {
    let spec = spec_of(state, vmid, record).await.map_err(QemuError::Start)?;
    let pid = process::start(&spec, &state.vms.run).await?;
    watch(state, vmid, pid);
    let _ = state.events.send(Event::Resources);
    Ok(pid)
}

/// Start the guest waiting for an incoming live migration; the socket it listens on.
pub async fn start_incoming(state: &AppState, vmid: Vmid, record: &GuestRecord) -> Result<std::path::PathBuf, QemuError> {
    let mut spec = spec_of(state, vmid, record).await.map_err(QemuError::Start)?;
    let socket = state.vms.run.migrate_in(vmid.get());
    let _ = std::fs::remove_file(&socket);
    spec.incoming = Some(format!("unix:{}", socket.display()));
    let pid = process::start(&spec, &state.vms.run).await?;
    watch(state, vmid, pid);
    Ok(socket)
}

pub async fn stop(state: &AppState, vmid: Vmid) -> Result<(), QemuError> {
    state.vms.expect_exit(vmid);
    let result = process::stop(&state.vms.run, vmid.get()).await;
    let _ = state.events.send(Event::Resources);
    result
}

pub async fn shutdown(state: &AppState, vmid: Vmid, timeout: std::time::Duration) -> Result<(), QemuError> {
    state.vms.expect_exit(vmid);
    let result = process::shutdown(&state.vms.run, vmid.get(), timeout).await;
    if let (Err(_), Some(pid)) = (&result, state.vms.pid(vmid)) {
        // The guest did not go: a later exit of this QEMU would be news again.
        state.vms.exit_was_expected(pid);
    }
    let _ = state.events.send(Event::Resources);
    result
}

/// Notice the guest's QEMU ending; unless someone stopped it, say so in the cluster log.
fn watch(state: &AppState, vmid: Vmid, pid: u32) {
    {
        let mut watched = state.vms.watched.lock().unwrap_or_else(|p| p.into_inner());
        if watched.get(&vmid.get()) == Some(&pid) {
            return;
        }
        watched.insert(vmid.get(), pid);
    }
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = process::exited(pid).await {
            tracing::warn!(%vmid, %err, "cannot watch QEMU");
            return;
        }
        let current = {
            let mut watched = state.vms.watched.lock().unwrap_or_else(|p| p.into_inner());
            if watched.get(&vmid.get()) == Some(&pid) {
                watched.remove(&vmid.get());
            }
            watched.get(&vmid.get()).copied()
        };
        let on_purpose = state.vms.exit_was_expected(pid);
        if current.is_none() && !on_purpose {
            tracing::warn!(%vmid, pid, "QEMU exited");
            crate::cluster_log::append(&state, crate::cluster_log::PRI_WARNING, "qemu", "root@pam", &format!("VM {vmid} stopped: its QEMU process (pid {pid}) exited")).await;
        }
        let _ = state.events.send(Event::Resources);
    });
}

/// Publish which guests run here (gossip, for the other nodes' resource lists) and tell consoles
/// when that changes; a QEMU that ends is seen by its watcher, this covers everything else.
pub async fn publish(state: AppState) {
    let mut last: Option<Vec<u32>> = None;
    loop {
        if let Ok(list) = guests::list(&state.db).await {
            let running: Vec<u32> = list.into_iter().filter(|(v, r)| r.node == state.node.as_str() && state.vms.is_running(*v)).map(|(v, _)| v.get()).collect();
            if last.as_ref() != Some(&running) {
                state.liveness.set_running(running.clone());
                if last.is_some() {
                    let _ = state.events.send(Event::Resources);
                }
                last = Some(running);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// At the first daemon start after the host booted (its boot id differs from the one the daemon
/// saw last), start this node's guests marked `onboot: 1`, as PVE's pve-guests does at boot.
/// Restarting the daemon alone starts nothing. (HA-managed guests will be left to HA.)
pub async fn start_onboot(state: &AppState) {
    let seen = state.data_dir.join("run").join("boot-id");
    let Ok(boot_id) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") else { return };
    if std::fs::read_to_string(&seen).is_ok_and(|s| s == boot_id) {
        return;
    }
    if let Err(err) = std::fs::create_dir_all(seen.parent().unwrap_or(&state.data_dir)).and_then(|_| crate::atomic_write::write(&seen, boot_id.as_bytes(), 0o644)) {
        tracing::warn!(%err, "cannot record the boot id; onboot guests are not started");
        return;
    }
    let Ok(list) = guests::list(&state.db).await else { return };
    for (vmid, record) in list.into_iter().filter(|(_, r)| r.node == state.node.as_str() && r.config.get("onboot").is_some_and(|v| v == "1")) {
        // HA starts its own guests (only with the agent lease); onboot is not for them.
        if state.vms.is_running(vmid) || crate::ha::manages(&state.db, vmid).await {
            continue;
        }
        match start(state, vmid, &record).await {
            Ok(pid) => tracing::info!(%vmid, pid, "started at boot (onboot)"),
            Err(err) => {
                tracing::warn!(%vmid, %err, "onboot start failed");
                crate::cluster_log::append(state, crate::cluster_log::PRI_WARNING, "qemu", "root@pam", &format!("VM {vmid}: start at boot failed: {err}")).await;
            }
        }
    }
}

/// Every `interval`, a sample of each guest of this node into its graph (a stopped guest's
/// samples say 0 CPU and memory in use).
pub async fn sample(state: AppState, interval: std::time::Duration) {
    loop {
        if let Ok(list) = guests::list(&state.db).await {
            for (vmid, record) in list.into_iter().filter(|(_, r)| r.node == state.node.as_str()) {
                let pid = state.vms.pid(vmid);
                let taps: Vec<String> = record.config.keys().filter(|k| k.starts_with("net")).map(|k| corral_qemu::spec::tap_name(vmid.get(), k)).collect();
                let (netin, netout) = if pid.is_some() { state.vms.net_rates(vmid, &taps) } else { (None, None) };
                let row = GuestRrdRow {
                    time: crate::auth::unix_now(),
                    cpu: Some(pid.map_or(0.0, |p| state.vms.cpu_fraction(vmid, p, record.cpus()))),
                    maxcpu: Some(f64::from(record.cpus())),
                    mem: Some(pid.and_then(process::stats).map_or(0, |s| s.rss) as f64),
                    maxmem: Some(record.memory_bytes() as f64),
                    disk: Some(0.0),
                    maxdisk: Some(record.boot_disk_bytes() as f64),
                    diskread: None,
                    diskwrite: None,
                    netin,
                    netout,
                };
                state.rrd.record(&crate::rrd_store::guest_key(vmid.get()), &row);
                state.vms.latest.lock().unwrap_or_else(|p| p.into_inner()).insert(vmid.get(), row);
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// At daemon start: watch every guest of this node whose QEMU still runs.
pub async fn reattach(state: &AppState) {
    let Ok(list) = guests::list(&state.db).await else { return };
    for (vmid, record) in list.into_iter().filter(|(_, r)| r.node == state.node.as_str()) {
        if let Some(pid) = state.vms.pid(vmid) {
            tracing::info!(%vmid, pid, "guest still running; watching it again");
            watch(state, vmid, pid);
        }
        let _ = record;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nets_as_pve_writes_them() {
        assert_eq!(
            super::parse_net("virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1").unwrap(),
            ("virtio".into(), "BC:24:11:00:00:01".into(), "vmbr0".into())
        );
        assert!(super::parse_net("virtio=BC:24:11:00:00:01").is_err());
        assert!(super::parse_net("virtio=BC:24:11:00:00:01,bridge=vmbr0,evil=1").is_err());
    }
}
