//! The fence guard process on its own: it arms a watchdog device while it guards a lease,
//! feeds it, and disarms it (magic close) when the lease is gone. A plain file stands in for
//! `/dev/watchdog` (which this machine has not); the guard's feeding rule is unit-tested in
//! `fence_guard.rs`.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_guard_arms_feeds_and_disarms_the_watchdog_with_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("qemu")).unwrap();
    let dog = dir.path().join("watchdog");
    std::fs::write(&dog, b"").unwrap();
    let _guard = Guard(common::corral().args(["fence-guard", "--run"]).arg(&run).spawn().unwrap());
    let socket = run.join("fence-guard.sock");
    wait_until("the guard listens", || UnixStream::connect(&socket).is_ok());
    let mut to_guard = UnixStream::connect(&socket).unwrap();
    let read = || std::fs::read(&dog).unwrap();

    // No lease: the device is left alone.
    writeln!(to_guard, r#"{{"deadline_ns":null,"vmids":[100],"watchdog":"{}","watchdog_timeout_s":2}}"#, dog.display()).unwrap();
    // A lease a minute long: armed and fed.
    let deadline = monotonic_ns() + 60_000_000_000;
    writeln!(to_guard, r#"{{"deadline_ns":{deadline},"vmids":[100],"watchdog":"{}","watchdog_timeout_s":2}}"#, dog.display()).unwrap();
    wait_until("the guard feeds the watchdog", || read().len() >= 3);
    assert!(read().iter().all(|b| *b == b'k'), "{:?}", String::from_utf8_lossy(&read()));

    // The lease released: the magic close.
    writeln!(to_guard, r#"{{"deadline_ns":null,"vmids":[],"watchdog":"{}","watchdog_timeout_s":2}}"#, dog.display()).unwrap();
    wait_until("the guard disarms the watchdog", || read().ends_with(b"V"));
    assert_eq!(read().iter().filter(|b| **b == b'V').count(), 1);
}
