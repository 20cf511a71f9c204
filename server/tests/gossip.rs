//! Gossip between real daemons: every node sees every other alive with its latency and
//! version; a node that loses power is seen offline by the others, who keep writing; datagrams
//! that are not the cluster's are dropped, counted, and change nothing.

mod common;

use common::cluster::{cluster_of, wait_data};
use corral_gossip::seal::{SealKey, Sealer};

fn member<'a>(data: &'a serde_json::Value, node: &str) -> &'a serde_json::Value {
    data["members"].as_array().unwrap().iter().find(|m| m["node"] == node).unwrap()
}

fn all_alive(data: &serde_json::Value) -> bool {
    data["members"].as_array().is_some_and(|m| m.len() == 3 && m.iter().all(|m| m["alive"] == 1 && (m["local"] == 1 || m["latency_ms"].is_number())))
}

#[tokio::test]
async fn gossip_reports_peers_drops_strangers_and_sees_power_loss() {
    let (mut nodes, t) = cluster_of(&[("g1", "127.0.7.1"), ("g2", "127.0.7.2"), ("g3", "127.0.7.3")]).await;
    let report = wait_data(&nodes[1], &t, "/cluster/gossip", "every member alive with a latency", all_alive).await;
    let g1 = member(&report, "g1");
    assert_eq!(g1["version"], env!("CARGO_PKG_VERSION"));
    assert!(g1["uptime"].as_u64().unwrap() > 0);
    let g1_gossip: std::net::SocketAddr = g1["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(g1_gossip.ip().to_string(), "127.0.7.1", "gossip listens on the link 0 address");
    let (_, resources) = nodes[1].get(&t, "/cluster/resources?type=node").await;
    assert!(resources["data"].as_array().unwrap().iter().all(|r| r["uptime"].as_u64().is_some()), "{resources}");
    // `GET /nodes` lists every member (proxmoxer's `nodes.get()`), each with its certificate and
    // the usage figures it publishes.
    let listed = wait_data(&nodes[1], &t, "/nodes", "every member with its usage", |d| {
        d.as_array().is_some_and(|l| l.len() == 3 && l.iter().all(|n| n["status"] == "online" && n["maxmem"].as_u64().unwrap_or(0) > 0 && n["maxcpu"].as_u64().unwrap_or(0) > 0))
    })
    .await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(names, ["g1", "g2", "g3"]);
    for (node, entry) in nodes.iter().zip(listed.as_array().unwrap()) {
        assert_eq!(entry["ssl_fingerprint"].as_str(), Some(node.fingerprint.as_str()));
    }

    // Garbage, another cluster's sealed datagrams, and a flipped bit: dropped and counted.
    let before = wait_data(&nodes[0], &t, "/cluster/gossip", "every member alive", all_alive).await["counters"].clone();
    let socket = std::net::UdpSocket::bind("127.0.7.9:0").unwrap();
    let stranger = SealKey::derive(&[42u8; 256]);
    let sealer = Sealer::default();
    socket.send_to(b"hello corral", g1_gossip).unwrap();
    for _ in 0..3 {
        socket.send_to(&sealer.seal(&stranger, b"\x01\x02whatever"), g1_gossip).unwrap();
    }
    let counted = |d: &serde_json::Value| {
        let c = &d["counters"];
        let grew = |k: &str, n: u64| c[k].as_u64().unwrap_or(0) >= before[k].as_u64().unwrap() + n;
        grew("dropped_malformed", 1) && grew("dropped_unauthentic", 3)
    };
    let after = wait_data(&nodes[0], &t, "/cluster/gossip", "the strangers' datagrams counted", counted).await;
    assert!(all_alive(&after), "membership unchanged: {after}");

    // Power loss of g1 (it may well be the Raft leader): g2 and g3 see it offline, and keep writing.
    nodes[0].child.kill().unwrap();
    nodes[0].child.wait().unwrap();
    for node in &nodes[1..] {
        wait_data(node, &t, "/cluster/status", "g1 offline, still quorate", |d| {
            let list = d.as_array().cloned().unwrap_or_default();
            let g1 = list.iter().find(|e| e["name"] == "g1");
            g1.is_some_and(|e| e["online"] == 0) && list.iter().any(|e| e["type"] == "cluster" && e["quorate"] == 1)
        })
        .await;
        wait_data(node, &t, "/cluster/resources?type=node", "g1 offline in the resource tree", |d| {
            d.as_array().is_some_and(|l| l.iter().any(|r| r["node"] == "g1" && r["status"] == "offline"))
        })
        .await;
        wait_data(node, &t, "/nodes", "g1 offline in the node list", |d| {
            d.as_array().is_some_and(|l| l.iter().any(|n| n["node"] == "g1" && n["status"] == "offline" && n.get("mem").is_none()))
        })
        .await;
    }
    let (status, body) = nodes[1].post(&t, "/access/users/root@pam/token/after-power-loss", &[("privsep", "0")]).await;
    assert_eq!(status, 200, "a write with two of three nodes: {body}");
    wait_data(&nodes[2], &t, "/access/users/root@pam/token", "the token written on g2", |d| {
        d.as_array().is_some_and(|l| l.iter().any(|t| t["tokenid"] == "after-power-loss"))
    })
    .await;
}
