//! The fence guard: a small process beside the daemon (`corral fence-guard`) that kills this
//! node's HA guests the moment the agent lease runs out — also when the daemon itself hangs,
//! crashes or is stopped. The daemon tells it, after every renewal, until when the lease is
//! held (on `CLOCK_MONOTONIC`, which both processes share) and which guests it covers; past
//! that moment the guard SIGKILLs any of them it finds running, again and again, until a new
//! deadline arrives. It outlives daemon restarts (its own session, like QEMU) and the next
//! daemon reconnects to it.
//!
//! Where the host has a watchdog device (`/dev/watchdog`, or `--ha-watchdog PATH`), the guard
//! arms it while it guards a lease and keeps it fed only while that is safe (see [`may_pet`]):
//! should the guard itself stop — a kernel hang, the guard killed — the host resets before the
//! lease ends, so the guests cannot outlive it. With no lease it disarms the device (magic close).
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
    /// The watchdog device to arm while a deadline is set, and its timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<PathBuf>,
    #[serde(default)]
    pub watchdog_timeout_s: u32,
}

/// Whether the guard may feed the watchdog now: while the lease's deadline is further away than
/// the watchdog's own timeout (a guard that stops feeding here lets the host reset by the
/// deadline at the latest), or once none of the guarded guests runs (then a reset would protect
/// nothing).
pub fn may_pet(now_ns: u64, deadline_ns: u64, timeout: Duration, guests_running: impl FnOnce() -> bool) -> bool {
    now_ns.saturating_add(timeout.as_nanos() as u64) < deadline_ns || !guests_running()
}

/// An armed watchdog device. Dropping it without [`Watchdog::disarm`] leaves it armed.
struct Watchdog {
    file: std::fs::File,
}

/// `WDIOC_SETTIMEOUT` = `_IOWR('W', 6, int)`.
const WDIOC_SETTIMEOUT: u64 = 0xC004_5706;

impl Watchdog {
    fn arm(path: &Path, timeout_s: u32) -> std::io::Result<Watchdog> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        let mut timeout = timeout_s.max(1) as libc::c_int;
        // SAFETY: the ioctl writes one int we own; a device (or file) that does not know it
        // answers ENOTTY and keeps its own timeout.
        if unsafe { libc::ioctl(file.as_raw_fd(), WDIOC_SETTIMEOUT as _, &mut timeout) } != 0 {
            eprintln!("fence guard: {} keeps its own timeout ({})", path.display(), std::io::Error::last_os_error());
        }
        Ok(Watchdog { file })
    }

    fn pet(&mut self) {
        let _ = self.file.write_all(b"k");
    }

    /// The magic close: `V`, then close, so the device stops counting.
    fn disarm(mut self) {
        let _ = self.file.write_all(b"V");
    }
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
    let mut dog: Option<Watchdog> = None;
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
        tend_watchdog(&mut dog, &orders, &qemu_run);
        std::thread::sleep(TICK);
    }
}

/// Arm the watchdog while a lease is guarded, feed it while that is safe, disarm it without one.
fn tend_watchdog(dog: &mut Option<Watchdog>, orders: &Orders, qemu_run: &RunDir) {
    let (Some(deadline), Some(path)) = (orders.deadline_ns, &orders.watchdog) else {
        if let Some(armed) = dog.take() {
            armed.disarm();
            eprintln!("fence guard: no lease to guard; watchdog disarmed");
        }
        return;
    };
    if dog.is_none() {
        match Watchdog::arm(path, orders.watchdog_timeout_s) {
            Ok(armed) => {
                eprintln!("fence guard: watchdog {} armed ({} s)", path.display(), orders.watchdog_timeout_s);
                *dog = Some(armed);
            }
            Err(err) => eprintln!("fence guard: cannot arm watchdog {}: {err}", path.display()),
        }
    }
    if let Some(armed) = dog.as_mut() {
        let timeout = Duration::from_secs(u64::from(orders.watchdog_timeout_s.max(1)));
        if may_pet(monotonic_ns(), deadline, timeout, || orders.vmids.iter().any(|v| corral_qemu::process::running_pid(qemu_run, *v).is_some())) {
            armed.pet();
        }
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
    fn the_watchdog_is_fed_only_while_a_reset_would_come_too_late_to_matter() {
        let s = 1_000_000_000;
        let timeout = Duration::from_secs(2);
        // The deadline is far: feed it, without even looking at the guests.
        assert!(may_pet(10 * s, 20 * s, timeout, || panic!("no need to look")));
        // Within the watchdog's timeout of the deadline with a guest still running: stop
        // feeding, so the host resets by the deadline should the guard fail to kill it.
        assert!(!may_pet(18 * s, 20 * s, timeout, || true));
        assert!(!may_pet(25 * s, 20 * s, timeout, || true));
        // The guests are gone: nothing left to protect, keep the host up.
        assert!(may_pet(19 * s, 20 * s, timeout, || false));
    }

    #[test]
    fn instants_map_onto_the_monotonic_clock() {
        let now = Instant::now();
        let ns = instant_ns(now + Duration::from_secs(5));
        let mono = monotonic_ns();
        assert!(ns > mono + 4_900_000_000 && ns <= mono + 5_000_000_000, "{ns} vs {mono}");
    }
}
