//! Periodic samples of this node's status: each one goes into the node's graph
//! (`rrd_store`, what `GET /nodes/{node}/rrddata` answers) and out as the live `node-sample`
//! event; the latest full status for `GET /nodes/{node}/status`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral_api_types::node::NodeStatus;
use corral_api_types::rrd::NodeRrdRow;
use tokio::sync::broadcast;

use crate::auth::unix_now;
use crate::events::Event;
use crate::host::proc_stats;
use crate::rrd_store::RrdStore;

pub struct NodeStats {
    interval: Duration,
    /// Read once: the CPU model and count do not change while the daemon runs.
    cpuinfo: corral_api_types::node::CpuInfo,
    inner: Mutex<Inner>,
}

struct Inner {
    last_cpu: proc_stats::CpuTimes,
    /// When the network counters were read last, and what they said.
    last_net: (Instant, (u64, u64)),
    cpu: f64,
    wait: f64,
}

impl NodeStats {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            cpuinfo: proc_stats::read_cpuinfo(),
            inner: Mutex::new(Inner { last_cpu: proc_stats::read_cpu_times(), last_net: (Instant::now(), proc_stats::read_net_bytes()), cpu: 0.0, wait: 0.0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one sample now: usage since the previous one.
    pub fn sample(&self) -> NodeRrdRow {
        let now_cpu = proc_stats::read_cpu_times();
        let now_net = (Instant::now(), proc_stats::read_net_bytes());
        let (mem, swap) = proc_stats::read_memory();
        let load = proc_stats::read_loadavg();
        let root = proc_stats::read_rootfs();
        let mut inner = self.lock();
        let (cpu, wait) = proc_stats::utilisation(inner.last_cpu, now_cpu);
        let (netin, netout) = rates(inner.last_net, now_net);
        inner.last_cpu = now_cpu;
        inner.last_net = now_net;
        inner.cpu = cpu;
        inner.wait = wait;
        let n = |v: u64| Some(v as f64);
        NodeRrdRow {
            time: unix_now(),
            cpu: Some(cpu),
            maxcpu: Some(f64::from(self.cpuinfo.cpus)),
            iowait: Some(wait),
            loadavg: Some(load[0]),
            memtotal: n(mem.total),
            memused: n(mem.used),
            swaptotal: n(swap.total),
            swapused: n(swap.used),
            roottotal: n(root.total),
            rootused: n(root.used),
            netin,
            netout,
        }
    }

    pub fn status(&self) -> NodeStatus {
        let (cpu, wait) = {
            let inner = self.lock();
            (inner.cpu, inner.wait)
        };
        let (memory, swap) = proc_stats::read_memory();
        let load = proc_stats::read_loadavg();
        NodeStatus {
            cpu,
            wait,
            cpuinfo: self.cpuinfo.clone(),
            memory,
            swap,
            rootfs: proc_stats::read_rootfs(),
            loadavg: load.map(|l| format!("{l:.2}")),
            uptime: proc_stats::read_uptime(),
            kversion: proc_stats::read_kernel_version(),
            pveversion: format!("corral/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Sample forever at the configured interval, recording and announcing each sample.
    pub async fn run(self: Arc<Self>, node: String, rrd: Arc<RrdStore>, events: broadcast::Sender<Event>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the daemon sampled at start already
        loop {
            ticker.tick().await;
            let sample = self.sample();
            rrd.record(crate::rrd_store::NODE, &sample);
            let _ = events.send(Event::NodeSample { node: node.clone(), sample });
        }
    }
}

/// Bytes per second received and sent between two readings of the counters (none when the
/// counters went backwards: an interface went away).
pub fn rates(before: (Instant, (u64, u64)), after: (Instant, (u64, u64))) -> (Option<f64>, Option<f64>) {
    let secs = after.0.saturating_duration_since(before.0).as_secs_f64();
    let rate = |a: u64, b: u64| (secs > 0.0 && b >= a).then(|| (b - a) as f64 / secs);
    (rate(before.1 .0, after.1 .0), rate(before.1 .1, after.1 .1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_knows_every_figure_of_the_host() {
        let stats = NodeStats::new(Duration::from_secs(1));
        let row = stats.sample();
        assert!(row.memtotal.unwrap() > 0.0 && row.maxcpu.unwrap() >= 1.0 && row.roottotal.unwrap() > 0.0);
        assert!((0.0..=1.0).contains(&row.cpu.unwrap()));
    }

    #[test]
    fn rates_per_second_and_none_for_counters_that_went_back() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(rates((t0, (100, 0)), (t1, (300, 50))), (Some(100.0), Some(25.0)));
        assert_eq!(rates((t0, (300, 0)), (t1, (100, 0))), (None, Some(0.0)));
        assert_eq!(rates((t0, (0, 0)), (t0, (10, 10))), (None, None));
    }
}
