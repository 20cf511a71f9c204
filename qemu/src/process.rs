//! QEMU processes: started daemonized (so they outlive the daemon, like PVE's), found again by
//! their pid file, recognised by their command line (a reused pid is not our guest), watched
//! for exit through a pidfd, stopped through QMP with SIGKILL as the last resort.

use std::path::Path;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use crate::spec::{command_line, tap_name, RunDir, VmSpec};
use crate::{qmp, QemuError, Result};

/// How long QEMU may take to daemonize (it opens disks, NFS included, before it forks).
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a QMP conversation may take.
pub const QMP_DEADLINE: Duration = Duration::from_secs(5);
/// PVE's message when a guest wants KVM and the host has none.
pub const KVM_MISSING: &str = "KVM virtualisation configured, but not available. Either disable in VM configuration or enable in BIOS.";

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// Start the guest; its pid once QEMU has daemonized.
pub async fn start(spec: &VmSpec, run: &RunDir) -> Result<u32> {
    if spec.kvm && !Path::new("/dev/kvm").exists() {
        return Err(QemuError::Start(KVM_MISSING.into()));
    }
    for nic in &spec.nics {
        if !Path::new("/sys/class/net").join(&nic.bridge).join("bridge").exists() {
            return Err(QemuError::Start(format!("bridge '{}' does not exist", nic.bridge)));
        }
    }
    if running_pid(run, spec.vmid).is_some() {
        return Err(QemuError::Start(format!("VM {} already running", spec.vmid)));
    }
    tokio::fs::create_dir_all(&run.0).await.map_err(|e| QemuError::Io(format!("creating {}: {e}", run.0.display())))?;
    for stale in [run.pid_file(spec.vmid), run.qmp(spec.vmid), run.serial(spec.vmid)] {
        let _ = tokio::fs::remove_file(stale).await;
    }
    let errors = std::fs::File::create(run.error_log(spec.vmid)).map_err(|e| QemuError::Io(format!("creating the error log: {e}")))?;
    let mut child = tokio::process::Command::new(QEMU_BINARY)
        .args(command_line(spec, run))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(errors)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| QemuError::Start(format!("cannot run {QEMU_BINARY}: {e}")))?;
    let status = tokio::time::timeout(START_DEADLINE, child.wait())
        .await
        .map_err(|_| QemuError::Timeout { what: "starting QEMU".into(), after: START_DEADLINE })?
        .map_err(|e| QemuError::Start(e.to_string()))?;
    if !status.success() {
        let text = std::fs::read_to_string(run.error_log(spec.vmid)).unwrap_or_default();
        let last = text.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("QEMU exited").to_string();
        return Err(QemuError::Start(last.trim_start_matches("qemu-system-x86_64: ").to_string()));
    }
    let pid = running_pid(run, spec.vmid).ok_or_else(|| QemuError::Start("QEMU daemonized but its pid file names no running guest".into()))?;
    for nic in &spec.nics {
        let tap = tap_name(spec.vmid, &nic.key);
        let out = tokio::process::Command::new("ip").args(["link", "set", "dev", &tap, "master", &nic.bridge, "up"]).output().await;
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            let _ = kill(pid);
            return Err(QemuError::Start(format!("cannot plug {tap} into bridge '{}'", nic.bridge)));
        }
    }
    Ok(pid)
}

/// The guest's QEMU process, if it runs: the pid file's pid, alive (not a zombie), and a QEMU
/// started with this very pid file.
pub fn running_pid(run: &RunDir, vmid: u32) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(run.pid_file(vmid)).ok()?.trim().parse().ok()?;
    is_our_qemu(pid, &run.pid_file(vmid)).then_some(pid)
}

fn is_our_qemu(pid: u32, pid_file: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args.windows(2).any(|w| w[0] == b"-pidfile" && w[1] == pid_file.as_os_str().as_encoded_bytes());
    ours && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// SIGKILL the guest's QEMU at once (fencing: no time for QMP). The pid it had, if it ran.
pub fn kill_now(run: &RunDir, vmid: u32) -> Option<u32> {
    let pid = running_pid(run, vmid)?;
    kill(pid).ok().map(|()| pid)
}

fn kill(pid: u32) -> std::io::Result<()> {
    // SAFETY: plain kill(2) on a pid we verified to be our QEMU.
    if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Resolves when `pid` has exited (a pidfd turns readable), whoever its parent is.
pub async fn exited(pid: u32) -> Result<()> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0 as libc::c_uint) } as i32;
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) { Ok(()) } else { Err(QemuError::Io(format!("pidfd_open: {err}"))) };
    }
    // SAFETY: fd was just returned by pidfd_open and nothing else owns it.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: the AsyncFd owns the pidfd; nothing else registers or closes it.
    let watch = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.map_err(|e| QemuError::Io(format!("watching pid {pid}: {e}")))?;
    let _ = watch.readable().await.map_err(|e| QemuError::Io(e.to_string()))?;
    Ok(())
}

async fn wait_gone(run: &RunDir, vmid: u32, pid: u32, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    tokio::time::timeout_at(deadline, exited(pid)).await.is_ok() || running_pid(run, vmid).is_none()
}

/// Stop hard (PVE's `stop`): QMP `quit`, SIGKILL if QEMU does not go within a few seconds.
pub async fn stop(run: &RunDir, vmid: u32) -> Result<()> {
    let Some(pid) = running_pid(run, vmid) else { return Ok(()) };
    let asked = qmp::command(&run.qmp(vmid), QMP_DEADLINE, "quit", None).await;
    if asked.is_ok() && wait_gone(run, vmid, pid, Duration::from_secs(5)).await {
        return Ok(());
    }
    if running_pid(run, vmid).is_some() {
        kill(pid).map_err(|e| QemuError::Io(format!("killing QEMU {pid}: {e}")))?;
        wait_gone(run, vmid, pid, Duration::from_secs(5)).await;
    }
    Ok(())
}

/// Ask the guest to power off (ACPI); Ok once it has, `Timeout` if it did not within `timeout`.
pub async fn shutdown(run: &RunDir, vmid: u32, timeout: Duration) -> Result<()> {
    let Some(pid) = running_pid(run, vmid) else { return Ok(()) };
    qmp::command(&run.qmp(vmid), QMP_DEADLINE, "system_powerdown", None).await?;
    if wait_gone(run, vmid, pid, timeout).await {
        Ok(())
    } else {
        Err(QemuError::Timeout { what: format!("VM {vmid} shutdown"), after: timeout })
    }
}

/// What `/proc` says of a running QEMU: seconds running, CPU seconds used, resident bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub uptime: u64,
    pub cpu_seconds: f64,
    pub rss: u64,
}

pub fn stats(pid: u32) -> Option<ProcessStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15, starttime 22 (1-based).
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let boot_uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let started = ticks(22)? as f64 / hz;
    let rss_pages: u64 = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    Some(ProcessStats {
        uptime: (boot_uptime - started).max(0.0) as u64,
        cpu_seconds: (ticks(14)? + ticks(15)?) as f64 / hz,
        rss: rss_pages * page,
    })
}
