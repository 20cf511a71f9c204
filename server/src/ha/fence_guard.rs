//! The fence guard: a small process beside the daemon (`corral fence-guard`) that kills this
//! node's HA guests the moment the agent lease runs out — also when the daemon itself hangs,
//! crashes or is stopped. The daemon tells it, after every renewal, until when the lease is
//! held (on `CLOCK_MONOTONIC`, which both processes share) and which guests it covers; past
//! that moment the guard SIGKILLs any of them it finds running, again and again, until a new
//! deadline arrives. It outlives daemon restarts (its own session, like QEMU) and the next
//! daemon reconnects to it.
//!
//! Plain blocking std code, no runtime: it must keep working when everything else is stuck.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral_qemu::spec::RunDir;
use serde::{Deserialize, Serialize};

/// How often the guard looks at the clock.
const TICK: Duration = Duration::from_millis(50);
/// A daemon message is one short JSON line.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orders {
    /// `CLOCK_MONOTONIC` nanoseconds after which the guests must not run; `None`: no lease,
    /// nothing to guard.
    pub deadline_ns: Option<u64>,
    pub vmids: Vec<u32>,
}

pub fn socket_path(run: &Path) -> PathBuf {
    run.join("fence-guard.sock")
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An `Instant` (also `CLOCK_MONOTONIC` on Linux) as nanoseconds another process can compare.
/// Rounds towards earlier, the safe side for a kill deadline.
pub fn instant_ns(at: Instant) -> u64 {
    let now_ns = monotonic_ns();
    let now = Instant::now();
    match at.checked_duration_since(now) {
        Some(ahead) => now_ns + ahead.as_nanos() as u64,
        None => now_ns.saturating_sub(now.duration_since(at).as_nanos() as u64),
    }
}

/// The guard's main loop (`corral fence-guard --run <dir>`). Never returns on its own.
pub fn run(run_dir: &Path) -> anyhow::Result<()> {
    let qemu_run = RunDir(run_dir.join("qemu"));
    let socket = socket_path(run_dir);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    listener.set_nonblocking(true)?;
    let mut orders = Orders::default();
    let mut clients: Vec<BufReader<UnixStream>> = Vec::new();
    eprintln!("fence guard {} watching {}", std::process::id(), run_dir.display());
    loop {
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                clients.push(BufReader::new(stream));
            }
        }
        clients.retain_mut(|client| read_orders(client, &mut orders));
        if orders.deadline_ns.is_some_and(|d| monotonic_ns() >= d) {
            for vmid in &orders.vmids {
                if let Some(pid) = corral_qemu::process::kill_now(&qemu_run, *vmid) {
                    eprintln!("fence guard: agent lease ran out; killed VM {vmid} (QEMU pid {pid})");
                }
            }
        }
        std::thread::sleep(TICK);
    }
}

/// Take every complete line the client sent; false once it has gone.
fn read_orders(client: &mut BufReader<UnixStream>, orders: &mut Orders) -> bool {
    loop {
        let mut line = String::new();
        match Read::by_ref(client).take(MAX_LINE as u64).read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) if !line.ends_with('\n') => return false,
            Ok(_) => match serde_json::from_str::<Orders>(&line) {
                Ok(new) => *orders = new,
                Err(_) => return false,
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// The daemon's end: sends orders, starting the guard when there is none.
pub struct GuardClient {
    run_dir: PathBuf,
    stream: std::sync::Mutex<Option<UnixStream>>,
    last: std::sync::Mutex<Option<Orders>>,
}

impl GuardClient {
    pub fn new(run_dir: PathBuf) -> Self {
        Self { run_dir, stream: std::sync::Mutex::new(None), last: std::sync::Mutex::new(None) }
    }

    /// Send new orders if they differ from the last ones. Errors are logged: the daemon's own
    /// enforcement still stands behind the guard.
    pub fn order(&self, orders: Orders) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() == Some(&orders) {
            return;
        }
        match self.send(&orders) {
            Ok(()) => *last = Some(orders),
            Err(err) => tracing::warn!(%err, "fence guard unreachable"),
        }
    }

    fn send(&self, orders: &Orders) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(orders)?;
        line.push('\n');
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stream.as_mut() {
            if s.write_all(line.as_bytes()).is_ok() {
                return Ok(());
            }
        }
        let mut s = self.connect()?;
        s.write_all(line.as_bytes())?;
        *stream = Some(s);
        Ok(())
    }

    fn connect(&self) -> anyhow::Result<UnixStream> {
        let socket = socket_path(&self.run_dir);
        if let Ok(s) = UnixStream::connect(&socket) {
            s.set_write_timeout(Some(Duration::from_millis(200)))?;
            return Ok(s);
        }
        self.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Ok(s) = UnixStream::connect(&socket) {
                s.set_write_timeout(Some(Duration::from_millis(200)))?;
                return Ok(s);
            }
            anyhow::ensure!(Instant::now() < deadline, "the fence guard did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn spawn(&self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe()?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.run_dir.join("fence-guard.log"))?;
        let mut command = std::process::Command::new(exe);
        command.arg("fence-guard").arg("--run").arg(&self.run_dir).stdin(std::process::Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // Its own session: a signal to the daemon's process group does not reach it.
        // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = command.spawn()?;
        // Reap it if it ever ends while this daemon runs.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_map_onto_the_monotonic_clock() {
        let now = Instant::now();
        let ns = instant_ns(now + Duration::from_secs(5));
        let mono = monotonic_ns();
        assert!(ns > mono + 4_900_000_000 && ns <= mono + 5_000_000_000, "{ns} vs {mono}");
    }
}
