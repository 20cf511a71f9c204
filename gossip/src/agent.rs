//! The running gossip member: one UDP socket on the node's link address, one foca instance
//! deciding who is alive (SWIM with suspicion), and corral's status probes measuring the round
//! trip to every configured peer. Everything in and out is sealed ([`crate::seal`]); whatever
//! does not open is dropped and counted, and never reaches foca.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foca::{AccumulatingRuntime, Foca, OwnedNotification, PostcardCodec, Timer};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::frame::Frame;
use crate::identity::Member;
use crate::seal::{OpenError, Opener, SealKey, Sealer, OVERHEAD};

/// Small per-node facts every peer learns through the status probes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub version: String,
    /// One-minute load average.
    pub load: f64,
    /// Seconds since the host booted.
    pub uptime: u64,
    /// The node's cluster epoch (see `corral cluster expected`).
    pub epoch: u64,
    /// The node's own view of the storages it uses, as of its last check.
    pub storages: Vec<StorageUsage>,
    /// VMIDs of the guests running on the node.
    pub running: Vec<u32>,
    /// CPU use (0..1 of all CPUs) as of the node's last sample, its CPU count, memory used and total.
    pub cpu: f64,
    pub maxcpu: u32,
    pub mem: u64,
    pub maxmem: u64,
}

/// One storage as a node last found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageUsage {
    pub id: String,
    pub active: bool,
    pub total: u64,
    pub used: u64,
    pub avail: u64,
}

pub struct GossipConfig {
    pub node: String,
    pub bind: SocketAddr,
    /// The cluster's authkey; only its derived datagram key is kept.
    pub authkey: Vec<u8>,
    pub status: NodeStatus,
}

/// What this node knows of one configured peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub node: String,
    pub addr: SocketAddr,
    /// SWIM's verdict: the peer answers, directly or through another member.
    pub alive: bool,
    /// Whether `alive: false` is a verdict: false while this member has known the peer for too
    /// short a time to have heard it ([`UNDECIDED_FOR`]), e.g. right after a start or a join.
    pub known: bool,
    /// Median round trip of the last status probes, in microseconds.
    pub rtt_us: Option<u64>,
    pub status: Option<NodeStatus>,
}

/// Datagram accounting; the `dropped_*` counters are what an attacker or a misconfigured
/// neighbour would move.
#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
    dropped_malformed: AtomicU64,
    dropped_unauthentic: AtomicU64,
    dropped_stale: AtomicU64,
    dropped_replayed: AtomicU64,
    dropped_invalid: AtomicU64,
}

/// The counters as the API reports them (`GET /cluster/gossip`).
pub type CounterSnapshot = corral_api_types::cluster::GossipCounters;

#[derive(Default)]
struct PeerState {
    addr: Option<SocketAddr>,
    alive: bool,
    /// When this member was first told to talk to the peer.
    configured_at: Option<Instant>,
    rtt: RttWindow,
    status: Option<NodeStatus>,
}

/// The last round trips to a peer; the latency shown is their median, so a few answers
/// delayed by a busy CPU (the probe is answered by a userspace task) do not move it.
#[derive(Default)]
struct RttWindow(std::collections::VecDeque<u64>);

impl RttWindow {
    const SAMPLES: usize = 9;

    fn push(&mut self, sample_us: u64) {
        if self.0.len() == Self::SAMPLES {
            self.0.pop_front();
        }
        self.0.push_back(sample_us);
    }

    fn median(&self) -> Option<u64> {
        let mut sorted: Vec<u64> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }
}

#[derive(Default)]
struct Shared {
    /// Configured peers (from the replicated node list), by name.
    peers: Mutex<BTreeMap<String, PeerState>>,
    counters: Counters,
}

impl Shared {
    fn peers(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PeerState>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Command {
    SetPeers(Vec<(String, SocketAddr)>),
    SetStatus(NodeStatus),
    SetKey(Vec<u8>),
}

/// How long datagrams sealed under a replaced key are still taken.
pub const KEY_GRACE: Duration = Duration::from_secs(10);

/// Handle to the running member; dropping it stops the member.
pub struct Gossip {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gossip {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// SWIM timing for a LAN: a dead peer is suspected within about one probe period and declared
/// down `SUSPECT_TO_DOWN` later; every live peer refutes a false suspicion well within that.
const PROBE_PERIOD: Duration = Duration::from_millis(500);
const PROBE_RTT: Duration = Duration::from_millis(200);
const SUSPECT_TO_DOWN: Duration = Duration::from_millis(1000);
/// How often status probes go out, and configured peers not seen alive are announced to.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
const MAX_DATAGRAM: usize = 1400;
/// How long a configured peer that has not answered is "not known yet" rather than down: a live
/// peer is greeted at once, answers within a probe period, and is announced to again each
/// status interval; this covers both with room for one lost datagram.
pub const UNDECIDED_FOR: Duration = Duration::from_millis(3000);

fn swim_config() -> foca::Config {
    let mut config = foca::Config::simple();
    config.probe_period = PROBE_PERIOD;
    config.probe_rtt = PROBE_RTT;
    config.suspect_to_down_after = SUSPECT_TO_DOWN;
    config.max_transmissions = NonZeroU8::new(8).expect("non-zero");
    // Room for sealing and the frame tag around foca's bytes.
    config.max_packet_size = NonZeroUsize::new(MAX_DATAGRAM - OVERHEAD - 8).expect("non-zero");
    config.notify_down_members = true;
    config.periodic_announce = Some(foca::PeriodicParams { frequency: Duration::from_secs(10), num_members: NonZeroUsize::new(1).expect("non-zero") });
    config.periodic_gossip = Some(foca::PeriodicParams { frequency: Duration::from_millis(200), num_members: NonZeroUsize::new(3).expect("non-zero") });
    config
}

impl Gossip {
    pub async fn start(config: GossipConfig) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(config.bind).await?;
        let local_addr = socket.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (commands, command_rx) = mpsc::unbounded_channel();
        let generation = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1);
        let me = Member { node: config.node.clone(), addr: local_addr, generation };
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).expect("system randomness");
        let foca = Foca::new(me, swim_config(), rand::rngs::StdRng::from_seed(seed), PostcardCodec);
        let member = Agent {
            name: config.node,
            socket,
            key: SealKey::derive(&config.authkey),
            previous_key: None,
            sealer: Sealer::default(),
            opener: Opener::default(),
            foca,
            runtime: AccumulatingRuntime::new(),
            shared: shared.clone(),
            status: config.status,
            configured: BTreeMap::new(),
            alive: HashMap::new(),
            probes: HashMap::new(),
            next_probe: 1,
        };
        let task = tokio::spawn(member.run(command_rx));
        Ok(Self { shared, commands, local_addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The peers this node should be talking to (every other configured node).
    pub fn set_peers(&self, peers: Vec<(String, SocketAddr)>) {
        let _ = self.commands.send(Command::SetPeers(peers));
    }

    pub fn set_status(&self, status: NodeStatus) {
        let _ = self.commands.send(Command::SetStatus(status));
    }

    /// Seal with a key derived from a new authkey from now on; datagrams under the old one are
    /// still taken for [`KEY_GRACE`].
    pub fn set_key(&self, authkey: Vec<u8>) {
        let _ = self.commands.send(Command::SetKey(authkey));
    }

    pub fn peers(&self) -> Vec<PeerView> {
        self.shared
            .peers()
            .iter()
            .filter_map(|(name, p)| {
                let known = p.alive || p.configured_at.is_some_and(|at| at.elapsed() >= UNDECIDED_FOR);
                Some(PeerView { node: name.clone(), addr: p.addr?, alive: p.alive, known, rtt_us: p.rtt.median(), status: p.status.clone() })
            })
            .collect()
    }

    /// Names of the configured peers SWIM holds alive (not including this node).
    pub fn alive(&self) -> BTreeSet<String> {
        self.shared.peers().iter().filter(|(_, p)| p.alive).map(|(n, _)| n.clone()).collect()
    }

    pub fn counters(&self) -> CounterSnapshot {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            received: get(&c.received),
            sent: get(&c.sent),
            dropped_malformed: get(&c.dropped_malformed),
            dropped_unauthentic: get(&c.dropped_unauthentic),
            dropped_stale: get(&c.dropped_stale),
            dropped_replayed: get(&c.dropped_replayed),
            dropped_invalid: get(&c.dropped_invalid),
        }
    }
}

type Swim = Foca<Member, PostcardCodec, rand::rngs::StdRng, foca::NoCustomBroadcast>;

struct Agent {
    name: String,
    socket: UdpSocket,
    key: SealKey,
    /// The key replaced last, and until when datagrams under it are taken.
    previous_key: Option<(SealKey, Instant)>,
    sealer: Sealer,
    opener: Opener,
    foca: Swim,
    runtime: AccumulatingRuntime<Member>,
    shared: Arc<Shared>,
    status: NodeStatus,
    configured: BTreeMap<String, SocketAddr>,
    /// Members SWIM currently holds alive, by node name (configured or not).
    alive: HashMap<String, Member>,
    /// Outstanding status probes: id → (peer, sent at).
    probes: HashMap<u64, (String, Instant)>,
    next_probe: u64,
}

impl Agent {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let (timer_tx, mut timers) = mpsc::unbounded_channel::<Timer<Member>>();
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; 65536];
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.receive(&buf[..len], from).await,
                    Err(err) => tracing::debug!(%err, "gossip receive failed"),
                },
                Some(timer) = timers.recv() => {
                    if let Err(err) = self.foca.handle_timer(timer, &mut self.runtime) {
                        tracing::debug!(%err, "gossip timer");
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::SetPeers(peers)) => {
                        // New peers are asked for their status at once: a node starting up
                        // waits for its peers' statuses before it starts its store.
                        let new = self.set_peers(peers);
                        self.probe(new).await;
                    }
                    Some(Command::SetStatus(status)) => self.status = status,
                    Some(Command::SetKey(authkey)) => {
                        let old = std::mem::replace(&mut self.key, SealKey::derive(&authkey));
                        self.previous_key = Some((old, Instant::now() + KEY_GRACE));
                    }
                    None => return,
                },
                _ = status_tick.tick() => self.tick().await,
            }
            self.drain(&timer_tx).await;
        }
    }

    /// Take the configured peers; the ones new to this member.
    fn set_peers(&mut self, peers: Vec<(String, SocketAddr)>) -> Vec<(String, SocketAddr)> {
        let configured: BTreeMap<String, SocketAddr> = peers.into_iter().filter(|(n, _)| *n != self.name).collect();
        let new: Vec<(String, SocketAddr)> = configured.iter().filter(|(n, _)| !self.configured.contains_key(*n)).map(|(n, a)| (n.clone(), *a)).collect();
        // A node that just joined is greeted at once rather than at the next tick.
        for (name, addr) in &new {
            let _ = self.foca.announce(Member { node: name.clone(), addr: *addr, generation: 0 }, &mut self.runtime);
        }
        self.configured = configured;
        let mut table = self.shared.peers();
        table.retain(|name, _| self.configured.contains_key(name));
        for (name, addr) in &self.configured {
            let entry = table.entry(name.clone()).or_default();
            entry.configured_at.get_or_insert_with(Instant::now);
            entry.addr = Some(*addr);
            entry.alive = self.alive.contains_key(name);
        }
        new
    }

    /// Each second: probe every configured peer for its status and round trip, and announce
    /// ourselves to the ones SWIM does not hold alive (never met, restarted, partitioned away).
    async fn tick(&mut self) {
        let now = Instant::now();
        self.probes.retain(|_, (_, sent)| now.duration_since(*sent) < Duration::from_secs(10));
        let peers: Vec<(String, SocketAddr)> = self.configured.iter().map(|(n, a)| (n.clone(), *a)).collect();
        self.probe(peers.clone()).await;
        for (name, addr) in peers {
            if !self.alive.contains_key(&name) {
                let _ = self.foca.announce(Member { node: name, addr, generation: 0 }, &mut self.runtime);
            }
        }
    }

    /// Send each of `peers` a status probe (its reply carries its status and a round trip).
    async fn probe(&mut self, peers: Vec<(String, SocketAddr)>) {
        let now = Instant::now();
        for (name, addr) in peers {
            let id = self.next_probe;
            self.next_probe += 1;
            self.probes.insert(id, (name, now));
            let probe = Frame::Probe { from: self.name.clone(), id, status: self.status.clone() };
            self.send(addr, &probe).await;
        }
    }

    async fn receive(&mut self, datagram: &[u8], from: SocketAddr) {
        let counters = &self.shared.counters;
        let mut opened = self.opener.open(&self.key, datagram);
        if matches!(opened, Err(OpenError::Unauthentic)) {
            // Sealed under the key just replaced: taken for a short while, so members switching
            // keys a moment apart do not lose each other.
            if let Some((old, until)) = &self.previous_key {
                if Instant::now() < *until {
                    opened = self.opener.open(old, datagram);
                }
            }
        }
        let plain = match opened {
            Ok(plain) => plain,
            Err(err) => {
                let counter = match err {
                    OpenError::Malformed => &counters.dropped_malformed,
                    OpenError::Unauthentic => &counters.dropped_unauthentic,
                    OpenError::Stale => &counters.dropped_stale,
                    OpenError::Replayed => &counters.dropped_replayed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, %err, "gossip datagram dropped");
                return;
            }
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        match Frame::decode(&plain) {
            Some(Frame::Swim(bytes)) => {
                if let Err(err) = self.foca.handle_data(&bytes, &mut self.runtime) {
                    counters.dropped_invalid.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, %err, "gossip message refused");
                }
            }
            Some(Frame::Probe { from: peer, id, status }) => {
                self.record_status(&peer, status, None);
                let reply = Frame::Reply { from: self.name.clone(), id, status: self.status.clone() };
                self.send(from, &reply).await;
            }
            Some(Frame::Reply { from: peer, id, status }) => {
                let rtt = match self.probes.remove(&id) {
                    Some((name, sent)) if name == peer => Some(sent.elapsed()),
                    _ => None,
                };
                self.record_status(&peer, status, rtt);
            }
            None => {
                counters.dropped_invalid.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn record_status(&self, peer: &str, status: NodeStatus, rtt: Option<Duration>) {
        let mut table = self.shared.peers();
        let Some(entry) = table.get_mut(peer) else { return };
        entry.status = Some(status);
        if let Some(rtt) = rtt {
            entry.rtt.push(rtt.as_micros() as u64);
        }
    }

    async fn send(&self, to: SocketAddr, frame: &Frame) {
        let datagram = self.sealer.seal(&self.key, &frame.encode());
        if datagram.len() > MAX_DATAGRAM {
            tracing::warn!(len = datagram.len(), "gossip datagram too large, not sent");
            return;
        }
        if self.socket.send_to(&datagram, to).await.is_ok() {
            self.shared.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Carry out what foca asked for: datagrams, timers, membership changes.
    async fn drain(&mut self, timers: &mpsc::UnboundedSender<Timer<Member>>) {
        while let Some((to, data)) = self.runtime.to_send() {
            self.send(to.addr, &Frame::Swim(data.to_vec())).await;
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            let timers = timers.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = timers.send(timer);
            });
        }
        while let Some(notification) = self.runtime.to_notify() {
            self.notice(notification);
        }
    }

    fn notice(&mut self, notification: OwnedNotification<Member>) {
        match notification {
            OwnedNotification::MemberUp(m) => {
                tracing::info!(node = %m.node, addr = %m.addr, "gossip: member up");
                self.set_alive(&m.node, true);
                self.alive.insert(m.node.clone(), m);
            }
            OwnedNotification::MemberDown(m) => {
                tracing::info!(node = %m.node, "gossip: member down");
                if self.alive.get(&m.node).is_some_and(|known| known.generation <= m.generation) {
                    self.alive.remove(&m.node);
                    self.set_alive(&m.node, false);
                }
            }
            OwnedNotification::Rename(_, new) => {
                if self.alive.contains_key(&new.node) {
                    self.alive.insert(new.node.clone(), new);
                }
            }
            OwnedNotification::Rejoin(me) => tracing::info!(generation = me.generation, "gossip: rejoined after being declared down"),
            OwnedNotification::Defunct => tracing::warn!("gossip: declared down and cannot rejoin"),
            OwnedNotification::Active | OwnedNotification::Idle => {}
        }
    }

    fn set_alive(&self, node: &str, alive: bool) {
        if let Some(entry) = self.shared.peers().get_mut(node) {
            entry.alive = alive;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RttWindow;

    #[test]
    fn latency_is_the_median_of_recent_probes() {
        let mut w = RttWindow::default();
        assert_eq!(w.median(), None);
        for us in [80, 90, 85, 2400, 88, 3100, 82, 86, 84] {
            w.push(us);
        }
        assert_eq!(w.median(), Some(86), "two slow answers out of nine do not move it");
        for _ in 0..9 {
            w.push(2500);
        }
        assert_eq!(w.median(), Some(2500), "a link that really got slow shows as slow");
    }
}
