//! CPU, memory, load, uptime and root filesystem usage from `/proc` and `statvfs`.

use std::fs;

use corral_api_types::node::{CpuInfo, MemInfo, RootFs};

/// Cumulative CPU jiffies from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub busy: u64,
    pub iowait: u64,
    pub total: u64,
}

pub fn parse_cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    if fields.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let idle = fields[3];
    let iowait = fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().take(8).sum();
    Some(CpuTimes { busy: total - idle - iowait, iowait, total })
}

pub fn read_cpu_times() -> CpuTimes {
    fs::read_to_string("/proc/stat").ok().and_then(|s| parse_cpu_times(&s)).unwrap_or_default()
}

/// Utilisation (busy, iowait) between two readings, each 0..1.
pub fn utilisation(before: CpuTimes, after: CpuTimes) -> (f64, f64) {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return (0.0, 0.0);
    }
    let busy = after.busy.saturating_sub(before.busy) as f64 / total as f64;
    let wait = after.iowait.saturating_sub(before.iowait) as f64 / total as f64;
    (busy.clamp(0.0, 1.0), wait.clamp(0.0, 1.0))
}

pub fn parse_meminfo(text: &str) -> (MemInfo, MemInfo) {
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok()))
            .unwrap_or(0)
            * 1024
    };
    let total = kib("MemTotal:");
    let available = kib("MemAvailable:");
    let swap_total = kib("SwapTotal:");
    let swap_free = kib("SwapFree:");
    (
        MemInfo { total, used: total.saturating_sub(available), free: available },
        MemInfo { total: swap_total, used: swap_total.saturating_sub(swap_free), free: swap_free },
    )
}

pub fn read_memory() -> (MemInfo, MemInfo) {
    parse_meminfo(&fs::read_to_string("/proc/meminfo").unwrap_or_default())
}

pub fn read_loadavg() -> [f64; 3] {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0));
    [it.next().unwrap_or(0.0), it.next().unwrap_or(0.0), it.next().unwrap_or(0.0)]
}

pub fn read_uptime() -> u64 {
    fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse::<f64>().ok()))
        .map(|f| f as u64)
        .unwrap_or(0)
}

pub fn read_cpuinfo() -> CpuInfo {
    let text = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = text.lines().filter(|l| l.starts_with("processor")).count().max(1) as u32;
    let model = text
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let mut sockets: Vec<&str> =
        text.lines().filter_map(|l| l.strip_prefix("physical id").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim())).collect();
    sockets.sort_unstable();
    sockets.dedup();
    let sockets = (sockets.len() as u32).max(1);
    CpuInfo { cpus, model, sockets, cores: (cpus / sockets).max(1) }
}

pub fn read_kernel_version() -> String {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = fs::read_to_string("/proc/sys/kernel/version").unwrap_or_default();
    format!("Linux {} {}", release.trim(), version.trim())
}

pub fn read_rootfs() -> RootFs {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a valid NUL-terminated string and `st` is a properly sized out-buffer.
    let rc = unsafe { libc::statvfs(c"/".as_ptr(), &mut st) };
    if rc != 0 {
        return RootFs::default();
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bfree as u64 * frsize;
    let avail = st.f_bavail as u64 * frsize;
    RootFs { total, used: total.saturating_sub(free), avail, free }
}

/// Bytes received and sent, summed over the host's interfaces except loopback and guests'
/// taps (a guest's traffic is the guest's graph; through a bridge it is counted there once).
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    text.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| {
            let name = name.trim();
            name != "lo" && !name.starts_with("tap")
        })
        .filter_map(|(_, counters)| {
            let fields: Vec<u64> = counters.split_whitespace().filter_map(|f| f.parse().ok()).collect();
            Some((*fields.first()?, *fields.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

pub fn read_net_bytes() -> (u64, u64) {
    parse_net_dev(&fs::read_to_string("/proc/net/dev").unwrap_or_default())
}

/// One interface's (received, sent) bytes, from sysfs.
pub fn read_interface_bytes(iface: &str) -> Option<(u64, u64)> {
    let read = |what: &str| fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{what}")).ok()?.trim().parse().ok();
    Some((read("rx_bytes")?, read("tx_bytes")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_traffic_leaves_out_loopback_and_taps() {
        let text = "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 500 5 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\ntap100i0: 7 1 0 0 0 0 0 0 9 1 0 0 0 0 0 0\n vmbr0: 30 1 0 0 0 0 0 0 40 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (1030, 2040));
        assert_eq!(parse_net_dev(""), (0, 0));
    }

    #[test]
    fn cpu_utilisation_from_two_readings() {
        let a = parse_cpu_times("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4").unwrap();
        let b = parse_cpu_times("cpu  150 0 150 850 50 0 0 0 0 0").unwrap();
        let (busy, wait) = utilisation(a, b);
        assert!((busy - 0.5).abs() < 1e-9, "{busy}");
        assert!((wait - 0.25).abs() < 1e-9, "{wait}");
        assert_eq!(utilisation(a, a), (0.0, 0.0));
    }

    #[test]
    fn meminfo_uses_available() {
        let (mem, swap) = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
        assert_eq!((mem.total, mem.used, mem.free), (1_024_000, 614_400, 409_600));
        assert_eq!(swap.total, 0);
    }
}
