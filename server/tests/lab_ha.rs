//! HA on the 3-node lab with NFS and real QEMU: the seed's scenario driven by the API. A
//! watcher reads every node's QEMU processes from /proc (not from corral) every 100 ms and
//! records whether VM 100 ever ran on two nodes at once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::wait_data;
use common::lab::{self, Lab};

fn qemu_runs(lab_name: &str, node: &str, vmid: u32) -> bool {
    let out = std::process::Command::new("ip").args(["netns", "pids", &format!("t-{lab_name}-{node}")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse::<u32>().ok()).any(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = state.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
        alive && cmdline.split(|b| *b == 0).any(|a| a.ends_with(format!("/{vmid}.pid").as_bytes()))
    })
}

/// Samples where VM `vmid` runs every 100 ms; remembers any moment it ran twice.
struct Watcher {
    stop: Arc<AtomicBool>,
    now: Arc<Mutex<Vec<String>>>,
    doubles: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Watcher {
    fn start(lab_name: &'static str, nodes: Vec<String>, vmid: u32) -> Watcher {
        let w = Watcher { stop: Arc::default(), now: Arc::default(), doubles: Arc::default() };
        let (stop, now, doubles) = (w.stop.clone(), w.now.clone(), w.doubles.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let on: Vec<String> = nodes.iter().filter(|n| qemu_runs(lab_name, n, vmid)).cloned().collect();
                if on.len() > 1 {
                    doubles.lock().unwrap().push(on.clone());
                }
                *now.lock().unwrap() = on;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        w
    }

    fn on(&self) -> Vec<String> {
        self.now.lock().unwrap().clone()
    }

    async fn wait_on(&self, what: &str, cond: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let on = self.on();
            if cond(&on) {
                return on;
            }
            assert!(Instant::now() < deadline, "timed out waiting until {what} (runs on {on:?})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn doubles(&self) -> Vec<Vec<String>> {
        self.doubles.lock().unwrap().clone()
    }

    /// Start counting afresh: a live migration's receiving QEMU exists beside the source's by
    /// design (it runs the guest only after the hand-over), so a migration is not a double run.
    fn forget_migration(&self) {
        self.doubles.lock().unwrap().clear();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether a `/cluster/log` answer has a line containing `text`.
fn logged(log: &serde_json::Value, text: &str) -> bool {
    log.as_array().unwrap().iter().any(|e| e["msg"].as_str().unwrap_or_default().contains(text))
}

fn row<'a>(rows: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    rows.as_array()?.iter().find(|r| r["id"] == id)
}

#[tokio::test]
async fn the_seed_scenario_recovers_the_guest_and_never_runs_it_twice() {
    if !lab::available() {
        return;
    }
    let (lab, t, watcher) = ha_lab("ha", "10.77.18").await;
    let n1 = lab.node("n1");
    // Bad input: nothing is written.
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "vm:101")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("resource 'vm:101' does not exist in cluster\n")));
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "101"), ("max_restart", "11")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["max_restart"].is_string(), "{body}");
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "vm:100")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("resource ID 'vm:100' already defined\n")));
    let rows = wait_data(n1, &t, "/cluster/ha/status/current", "vm:100 started on n1", |d| row(d, "service:vm:100").is_some_and(|r| r["status"] == "vm:100 (n1, started)")).await;
    assert_eq!(row(&rows, "quorum").unwrap()["status"], "OK");
    assert!(row(&rows, "master").unwrap()["status"].as_str().unwrap().contains("(active, "), "{rows}");
    let (_, resources) = n1.get(&t, "/cluster/resources?type=vm").await;
    assert_eq!(resources["data"][0]["hastate"], "started", "{resources}");
    assert!(row(&rows, "lrm:n1").unwrap()["status"].as_str().unwrap().starts_with("n1 (active, watchdog active, "), "{rows}");

    // Node 1 loses power: the guest runs again on another node.
    lab.sh(&["poweroff", "n1"]);
    let lost = Instant::now();
    let on = watcher.wait_on("the guest is recovered on n2 or n3", |on| on.len() == 1 && on[0] != "n1").await;
    let second = on[0].clone();
    eprintln!("n1 power loss → VM 100 runs on {second} after {:.1} s", lost.elapsed().as_secs_f64());
    let survivor = if second == "n2" { "n3" } else { "n2" }.to_string();
    let s = lab.node(&survivor);
    // Both lines reach the survivor's cluster log (another node's entries arrive in batches).
    let recovered = format!("recover service 'vm:100' from fenced node 'n1' to node '{second}'");
    wait_data(s, &t, "/cluster/log?max=100", "fencing and the recovery in the cluster log", |d| {
        logged(d, "fencing: acknowledged - got agent lock for node 'n1'") && logged(d, &recovered)
    })
    .await;

    // The node running it loses power: no quorum on the survivor, HA does nothing.
    lab.sh(&["poweroff", &second]);
    let no_quorum = format!("No quorum on node '{survivor}'!");
    wait_data(s, &t, "/cluster/ha/status/current", "no quorum", |d| row(d, "quorum").is_some_and(|r| r["status"] == no_quorum.as_str())).await;
    assert!(watcher.on().is_empty(), "nothing runs the guest without quorum");

    // `expected 1` on the survivor: HA recovers the guest there.
    lab.sh(&["corral", &survivor, "cluster", "expected", "1"]);
    watcher.wait_on("the guest runs on the survivor", |on| on == [survivor.clone()]).await;

    // Nodes 1 and 2 return: the cluster is whole again and the guest stays where it is.
    lab.sh(&["poweron", "n1"]);
    lab.sh(&["poweron", &second]);
    wait_data(s, &t, "/cluster/status", "all nodes online again", |d| d.as_array().unwrap().iter().filter(|e| e["online"] == 1).count() == 3).await;
    for node in ["n1", second.as_str()] {
        let id = format!("lrm:{node}");
        wait_data(s, &t, "/cluster/ha/status/current", "the returned LRMs report idle", |d| row(d, &id).is_some_and(|r| r["status"].as_str().unwrap_or_default().starts_with(&format!("{node} (idle, ")))).await;
    }
    let rows = wait_data(s, &t, "/cluster/ha/status/current", "vm:100 on the survivor", |d| row(d, "service:vm:100").is_some_and(|r| r["node"] == survivor.as_str())).await;
    assert_eq!(row(&rows, "service:vm:100").unwrap()["state"], "started", "{rows}");
    assert_eq!(watcher.on(), std::slice::from_ref(&survivor), "the guest stays on the survivor");
    assert!(watcher.doubles().is_empty(), "VM 100 ran on two nodes at once: {:?}", watcher.doubles());
}

/// A cluster of three with NFS storage and VM 100 under HA, running on n1.
async fn ha_lab(name: &'static str, subnet: &str) -> (Lab, common::Ticket, Watcher) {
    let lab = Lab::up(name, subnet, 3);
    lab.sh(&["cluster"]);
    let server = lab.nfs_up();
    let n1 = lab.node("n1");
    let t = n1.login().await;
    for node in &lab.nodes {
        wait_data(node, &t, "/cluster/status", "all nodes online", |d| d.as_array().unwrap().iter().filter(|e| e["online"] == 1).count() == 3).await;
    }
    let (status, body) = n1.post(&t, "/storage", &[("storage", "nfs1"), ("type", "nfs"), ("server", &server), ("export", "/export")]).await;
    assert_eq!(status, 200, "{body}");
    for (i, node) in lab.nodes.iter().enumerate() {
        wait_data(node, &t, &format!("/nodes/n{}/storage/nfs1/status", i + 1), "nfs1 active", |d| d["active"] == 1).await;
    }
    n1.task_ok(&t, n1.post(&t, "/nodes/n1/qemu", &[("vmid", "100"), ("name", "ha-guest"), ("memory", "128"), ("kvm", "0"), ("scsi0", "nfs1:1,format=qcow2")]).await).await;
    let watcher = Watcher::start(name, vec!["n1".into(), "n2".into(), "n3".into()], 100);
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "100")]).await;
    assert_eq!(status, 200, "{body}");
    watcher.wait_on("HA starts the guest on n1", |on| on == ["n1"]).await;
    (lab, t, watcher)
}

#[tokio::test]
async fn an_isolated_node_stops_its_guest_before_the_majority_starts_it_and_a_hung_daemon_is_fenced_by_its_guard() {
    if !lab::available() {
        return;
    }
    let (lab, t, watcher) = ha_lab("hap", "10.77.19").await;
    // {n1} | {n2, n3}: n1 cannot renew its agent lease and stops the guest; the majority
    // recovers it only after n1's lease has expired by its own clocks.
    lab.sh(&["partition", "n1", "n2,n3"]);
    let on = watcher.wait_on("the majority runs the guest", |on| on.len() == 1 && on[0] != "n1").await;
    let holder = on[0].clone();
    let n2 = lab.node("n2");
    wait_data(n2, &t, "/cluster/log?max=100", "n1 fenced", |d| logged(d, "fencing: acknowledged - got agent lock for node 'n1'")).await;
    lab.sh(&["heal"]);
    wait_data(n2, &t, "/cluster/status", "all nodes online again", |d| d.as_array().unwrap().iter().filter(|e| e["online"] == 1).count() == 3).await;
    wait_data(lab.node("n1"), &t, "/cluster/ha/status/current", "n1 sees where the guest is", |d| row(d, "service:vm:100").is_some_and(|r| r["node"] == holder.as_str() && r["state"] == "started")).await;
    assert_eq!(watcher.on(), std::slice::from_ref(&holder));

    // The daemon of the node running the guest hangs: its fence guard kills the guest when the
    // lease runs out, and the others recover it.
    let pid: i32 = std::fs::read_to_string(lab.state_dir().join(format!("{holder}/corral.pid"))).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) with a pid read from the lab's pid file.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let on = watcher.wait_on("the guest runs elsewhere", |on| on.len() == 1 && on[0] != holder).await;
    let guard_log = std::fs::read_to_string(lab.state_dir().join(format!("{holder}/data/run/fence-guard.log"))).unwrap_or_default();
    assert!(guard_log.contains("agent lease ran out; killed VM 100"), "{guard_log}");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let rows = wait_data(n2, &t, "/cluster/ha/status/current", "the resumed node is idle", |d| row(d, &format!("lrm:{holder}")).is_some_and(|r| r["status"].as_str().unwrap_or_default().starts_with(&format!("{holder} (idle, ")))).await;
    assert_eq!(row(&rows, "service:vm:100").unwrap()["node"], on[0].as_str(), "{rows}");
    assert_eq!(watcher.on(), on, "the resumed daemon started nothing");

    assert!(watcher.doubles().is_empty(), "VM 100 ran on two nodes at once: {:?}", watcher.doubles());

    // Back through HA: a live migration to the idle node (its LRM must take its lease first).
    // While it streams, the target's receiving QEMU exists beside the source's by design (it
    // runs the guest only after the hand-over), so the watcher's count ends here.
    let (status, body) = n2.post(&t, "/cluster/ha/resources/vm:100/migrate", &[("node", &holder)]).await;
    assert_eq!((status, body["data"]["requested-node"].as_str()), (200, Some(holder.as_str())), "{body}");
    watcher.wait_on("the guest migrated back through HA", |on| on == std::slice::from_ref(&holder)).await;
    wait_data(n2, &t, "/cluster/ha/status/current", "vm:100 started on its new node", |d| row(d, "service:vm:100").is_some_and(|r| r["status"] == format!("vm:100 ({holder}, started)").as_str())).await;
    assert_eq!(watcher.on(), std::slice::from_ref(&holder), "one QEMU left, on the target");
}

/// The node that runs both the CRM and the guest loses power: another node becomes master and
/// recovers the guest, which never runs twice.
#[tokio::test]
async fn the_crm_node_as_first_victim_is_recovered_by_a_new_master() {
    if !lab::available() {
        return;
    }
    let (lab, t, watcher) = ha_lab("hacrm", "10.77.21").await;
    let n1 = lab.node("n1");
    let rows = wait_data(n1, &t, "/cluster/ha/status/current", "a master", |d| row(d, "master").is_some_and(|r| r["node"].is_string())).await;
    let master = row(&rows, "master").unwrap()["node"].as_str().unwrap().to_string();
    if master != "n1" {
        // Put the guest on the master's node, through HA.
        let (status, body) = n1.post(&t, "/cluster/ha/resources/vm:100/migrate", &[("node", &master)]).await;
        assert_eq!(status, 200, "{body}");
        watcher.wait_on("the guest on the master's node", |on| on == std::slice::from_ref(&master)).await;
        wait_data(n1, &t, "/cluster/ha/status/current", "vm:100 started there", |d| row(d, "service:vm:100").is_some_and(|r| r["status"] == format!("vm:100 ({master}, started)").as_str())).await;
        watcher.forget_migration();
    }
    lab.sh(&["poweroff", &master]);
    let on = watcher.wait_on("the guest recovered elsewhere", |on| on.len() == 1 && on[0] != master).await;
    let survivor = lab.node(&on[0]);
    let rows = wait_data(survivor, &t, "/cluster/ha/status/current", "a new master", |d| row(d, "master").is_some_and(|r| r["node"] != master.as_str() && r["status"].as_str().unwrap_or_default().contains("(active, "))).await;
    assert_eq!(row(&rows, "service:vm:100").unwrap()["node"], on[0].as_str(), "{rows}");
    // The new master may be the other node, whose entries reach the survivor in batches.
    wait_data(survivor, &t, "/cluster/log?max=100", "the fencing and the recovery in the log", |d| {
        logged(d, &format!("fencing: acknowledged - got agent lock for node '{master}'")) && logged(d, &format!("recover service 'vm:100' from fenced node '{master}'"))
    })
    .await;
    assert!(watcher.doubles().is_empty(), "VM 100 ran on two nodes at once: {:?}", watcher.doubles());
}
