//! Periodic samples of this node's status, kept for one hour (what the Summary graph shows and
//! `GET /nodes/{node}/rrddata?timeframe=hour` returns), and the latest full status.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use corral_api_types::node::{NodeStatus, RrdSample};
use tokio::sync::broadcast;

use crate::auth::unix_now;
use crate::events::Event;
use crate::host::proc_stats;

pub const HISTORY: Duration = Duration::from_secs(3600);

pub struct NodeStats {
    interval: Duration,
    /// Read once: the CPU model and count do not change while the daemon runs.
    cpuinfo: corral_api_types::node::CpuInfo,
    inner: Mutex<Inner>,
}

struct Inner {
    history: VecDeque<RrdSample>,
    last_cpu: proc_stats::CpuTimes,
    cpu: f64,
    wait: f64,
}

impl NodeStats {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            cpuinfo: proc_stats::read_cpuinfo(),
            inner: Mutex::new(Inner { history: VecDeque::new(), last_cpu: proc_stats::read_cpu_times(), cpu: 0.0, wait: 0.0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take one sample now and remember it.
    pub fn sample(&self) -> RrdSample {
        let now_cpu = proc_stats::read_cpu_times();
        let (mem, _) = proc_stats::read_memory();
        let load = proc_stats::read_loadavg();
        let maxcpu = self.cpuinfo.cpus;
        let mut inner = self.lock();
        let (cpu, wait) = proc_stats::utilisation(inner.last_cpu, now_cpu);
        inner.last_cpu = now_cpu;
        inner.cpu = cpu;
        inner.wait = wait;
        let sample = RrdSample { time: unix_now(), cpu, maxcpu, loadavg: load[0], memused: mem.used, memtotal: mem.total };
        inner.history.push_back(sample);
        let keep = (HISTORY.as_secs() / self.interval.as_secs().max(1)) as usize + 1;
        while inner.history.len() > keep {
            inner.history.pop_front();
        }
        sample
    }

    pub fn history(&self) -> Vec<RrdSample> {
        self.lock().history.iter().copied().collect()
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

    /// Sample forever at the configured interval, announcing each sample.
    pub async fn run(self: std::sync::Arc<Self>, node: String, events: broadcast::Sender<Event>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the daemon sampled at start already
        loop {
            ticker.tick().await;
            let sample = self.sample();
            let _ = events.send(Event::NodeSample { node: node.clone(), sample });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_to_an_hour() {
        let stats = NodeStats::new(Duration::from_secs(1800));
        for _ in 0..5 {
            stats.sample();
        }
        assert_eq!(stats.history().len(), 3);
        assert!(stats.history().iter().all(|s| s.memtotal > 0 && s.maxcpu > 0));
    }
}
