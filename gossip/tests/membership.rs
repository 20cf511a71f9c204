//! Real UDP sockets on loopback: members find each other, see a dead one go down, come back,
//! and ignore forged, foreign and replayed datagrams.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_gossip::{Gossip, GossipConfig, NodeStatus};
use tokio::net::UdpSocket;

const AUTHKEY: [u8; 256] = [7; 256];

async fn member(name: &str, authkey: &[u8]) -> Gossip {
    Gossip::start(GossipConfig {
        node: name.into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        authkey: authkey.to_vec(),
        status: NodeStatus { version: format!("{name}-version"), load: 0.5, uptime: 1, epoch: 0, storages: Vec::new(), running: Vec::new(), cpu: 0.0, maxcpu: 1, mem: 0, maxmem: 0 },
    })
    .await
    .unwrap()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Poll `cond` until it holds; panic with `what` after a generous deadline.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn connect(all: &[(&str, &Gossip)]) {
    let peers: Vec<(String, SocketAddr)> = all.iter().map(|(n, g)| (n.to_string(), g.local_addr())).collect();
    for (_, g) in all {
        g.set_peers(peers.clone());
    }
}

#[tokio::test]
async fn members_meet_measure_and_see_a_dead_one_go_down() {
    let (a, b, c) = (member("a", &AUTHKEY).await, member("b", &AUTHKEY).await, member("c", &AUTHKEY).await);
    connect(&[("a", &a), ("b", &b), ("c", &c)]);
    wait_for("everyone alive", || a.alive() == names(&["b", "c"]) && b.alive() == names(&["a", "c"]) && c.alive() == names(&["a", "b"])).await;
    wait_for("round trips and status measured", || a.peers().iter().all(|p| p.rtt_us.is_some() && p.status.is_some())).await;
    let seen_b = a.peers().into_iter().find(|p| p.node == "b").unwrap();
    assert_eq!(seen_b.status.unwrap().version, "b-version");

    drop(c); // power cut: the socket is gone, nothing says goodbye
    wait_for("c seen down by a and b", || a.alive() == names(&["b"]) && b.alive() == names(&["a"])).await;

    // c starts again on the same address: a new generation, welcomed back.
    let addr_c = a.peers().into_iter().find(|p| p.node == "c").unwrap().addr;
    let c = Gossip::start(GossipConfig { node: "c".into(), bind: addr_c, authkey: AUTHKEY.to_vec(), status: NodeStatus::default() }).await.unwrap();
    connect(&[("a", &a), ("b", &b), ("c", &c)]);
    wait_for("c alive again everywhere", || a.alive() == names(&["b", "c"]) && b.alive() == names(&["a", "c"]) && c.alive() == names(&["a", "b"])).await;
    assert_eq!(a.counters().dropped(), 0, "{:?}", a.counters());
}

#[tokio::test]
async fn another_clusters_member_is_never_seen() {
    let (a, b) = (member("a", &AUTHKEY).await, member("b", &AUTHKEY).await);
    let stranger = member("x", &[9u8; 256]).await;
    connect(&[("a", &a), ("b", &b), ("x", &stranger)]);
    wait_for("a and b alive", || a.alive() == names(&["b"]) && b.alive() == names(&["a"])).await;
    wait_for("the stranger's datagrams counted as unauthentic", || a.counters().dropped_unauthentic > 0).await;
    assert!(!a.alive().contains("x") && !b.alive().contains("x"));
    assert!(stranger.alive().is_empty());
}

/// Forwards what `from` sends to `to`, keeping a copy: a wiretap on the link.
async fn wiretap(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let captured = Arc::new(Mutex::new(Vec::new()));
    let keep = captured.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((len, _)) = socket.recv_from(&mut buf).await {
            keep.lock().unwrap().push(buf[..len].to_vec());
            let _ = socket.send_to(&buf[..len], to).await;
        }
    });
    (addr, captured)
}

#[tokio::test]
async fn forged_and_replayed_datagrams_change_nothing() {
    let (a, b, c) = (member("a", &AUTHKEY).await, member("b", &AUTHKEY).await, member("c", &AUTHKEY).await);
    let (tap, captured) = wiretap(a.local_addr()).await;
    let peers = |tap_a: bool| -> Vec<(String, SocketAddr)> {
        vec![("a".into(), if tap_a { tap } else { a.local_addr() }), ("b".into(), b.local_addr()), ("c".into(), c.local_addr())]
    };
    a.set_peers(peers(false));
    b.set_peers(peers(false));
    c.set_peers(peers(true)); // c's traffic to a goes through the wiretap
    wait_for("everyone alive", || a.alive() == names(&["b", "c"]) && b.alive() == names(&["a", "c"])).await;
    wait_for("some of c's datagrams captured", || captured.lock().unwrap().len() >= 5).await;

    drop(c);
    wait_for("c down", || a.alive() == names(&["b"]) && b.alive() == names(&["a"])).await;

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let recorded: Vec<Vec<u8>> = captured.lock().unwrap().clone();
    let before = a.counters();
    for datagram in &recorded {
        attacker.send_to(datagram, a.local_addr()).await.unwrap();
    }
    let mut flipped = recorded[0].clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    attacker.send_to(&flipped, a.local_addr()).await.unwrap();
    attacker.send_to(b"not even close", a.local_addr()).await.unwrap();

    wait_for("every injected datagram dropped and counted", || {
        let now = a.counters();
        now.dropped_replayed - before.dropped_replayed == recorded.len() as u64
            && now.dropped_unauthentic - before.dropped_unauthentic == 1
            && now.dropped_malformed - before.dropped_malformed == 1
    })
    .await;
    assert_eq!(a.alive(), names(&["b"]), "replayed datagrams must not bring c back");
    assert_eq!(b.alive(), names(&["a"]));
}
