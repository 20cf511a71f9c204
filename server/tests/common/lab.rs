//! The project's lab (`lab/lab.sh`) from tests: nodes in network namespaces, each with its own
//! address, reachable from the test through the lab's host leg; power cuts and partitions.

use std::path::PathBuf;
use std::process::Command;

use super::Endpoint;

pub struct Lab {
    name: String,
    subnet: String,
    state: PathBuf,
    pub nodes: Vec<Endpoint>,
}

/// The lab needs root (network namespaces, iptables). Elsewhere the lab tests say so and pass,
/// except in CI (`CI=true`), where a lab test that cannot run fails.
pub fn available() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the lab tests need root, and CI must run them");
        eprintln!("skipping: the lab needs root");
    }
    root
}

impl Lab {
    /// `count` nodes named n1…nN at `<subnet>.1…N`, port 8006, root password [`super::ROOT_PASSWORD`].
    pub fn up(name: &str, subnet: &str, count: usize) -> Lab {
        let mut lab = Lab { name: name.into(), subnet: subnet.into(), state: PathBuf::from(format!("/run/corral-lab/test-{name}")), nodes: Vec::new() };
        lab.sh(&["purge"]);
        lab.sh(&["up", &count.to_string()]);
        lab.nodes = (1..=count).map(|i| lab.endpoint(i)).collect();
        lab
    }

    fn endpoint(&self, i: usize) -> Endpoint {
        let fingerprint = self.sh(&["fingerprint", &format!("n{i}")]).trim().to_string();
        Endpoint { addr: format!("{}.{i}:8006", self.subnet).parse().unwrap(), fingerprint, dir: self.state.join(format!("n{i}/data")) }
    }

    /// Run `lab.sh args…`; its stdout. Panics (with its output) when it fails.
    pub fn sh(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "lab.sh {args:?} failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// Run `lab.sh args…` and hand back whatever happened.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let script = "../lab/lab.sh";
        Command::new(script)
            .args(args)
            .env("LAB", format!("t-{}", self.name))
            .env("SUBNET", &self.subnet)
            .env("STATE", &self.state)
            .env("CORRAL_BIN", env!("CARGO_BIN_EXE_corral"))
            .env("CORRAL_LAB_PASSWORD", super::ROOT_PASSWORD)
            .env("CORRAL_LOG", "info,openraft=error,openraft::replication=off")
            .output()
            .expect("run lab/lab.sh")
    }

    /// The lab's NFS server (`lab.sh nfs up`): its address; it exports [`Lab::export_dir`] as `/export`.
    pub fn nfs_up(&self) -> String {
        self.sh(&["nfs", "up"]);
        format!("{}.200", self.subnet)
    }

    /// The lab's state directory (visible inside every node).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state
    }

    pub fn export_dir(&self) -> PathBuf {
        self.state.join("nfs-export")
    }

    pub fn node(&self, name: &str) -> &Endpoint {
        let i: usize = name.trim_start_matches('n').parse().unwrap();
        &self.nodes[i - 1]
    }

    /// The tail of a node's daemon log, for failure messages.
    pub fn log_tail(&self, node: &str) -> String {
        let text = std::fs::read_to_string(self.state.join(format!("{node}/corral.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 1..=self.nodes.len() {
                eprintln!("--- n{i} log tail ---\n{}", self.log_tail(&format!("n{i}")));
            }
        }
        let script = "../lab/lab.sh";
        let _ = Command::new(script).arg("purge").env("LAB", format!("t-{}", self.name)).env("SUBNET", &self.subnet).env("STATE", &self.state).output();
    }
}
