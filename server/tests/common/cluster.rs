//! Cluster steps shared by the multi-node tests: create, join, wait for a membership view.

use std::time::{Duration, Instant};

use super::{Node, Ticket};

pub async fn create(node: &Node, t: &Ticket, name: &str, link0: &str) {
    let (status, body) = node.post(t, "/cluster/config", &[("clustername", name), ("link0", link0)]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, log) = node.wait_task(t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK", "{log:?}");
}

/// Ask `joiner` to join `peer`'s cluster; the task's exit status and log.
pub async fn join(joiner: &Node, t: &Ticket, peer: &Node, fingerprint: &str, password: &str, link0: &str) -> (String, Vec<String>) {
    let hostname = peer.addr.to_string();
    let form = [("hostname", hostname.as_str()), ("password", password), ("fingerprint", fingerprint), ("link0", link0)];
    let (status, body) = joiner.post(t, "/cluster/config/join", &form).await;
    assert_eq!(status, 200, "{body}");
    joiner.wait_task(t, body["data"].as_str().unwrap()).await
}

/// Wait until `node` reports `online` nodes online and the given quorum state.
pub async fn wait_status(node: &super::Endpoint, t: &Ticket, online: usize, quorate: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = node.get(t, "/cluster/status").await;
        let entries = body["data"].as_array().cloned().unwrap_or_default();
        let up = entries.iter().filter(|e| e["type"] == "node" && e["online"] == 1).count();
        let q = entries.iter().find(|e| e["type"] == "cluster").map(|c| c["quorate"].as_i64().unwrap_or(-1));
        if up == online && q == Some(quorate) {
            return;
        }
        assert!(Instant::now() < deadline, "{} never reached {online} online / quorate {quorate}: {body}", node.addr);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}


/// Start one daemon per `(name, ip)`, create a cluster on the first and join the others to it;
/// returns the nodes and a ticket from the first (valid on all of them).
pub async fn cluster_of(members: &[(&'static str, &'static str)]) -> (Vec<Node>, Ticket) {
    let listen = |ip: &str| -> &'static str { Box::leak(format!("{ip}:0").into_boxed_str()) };
    let first = Node::start_with(super::Options::named(members[0].0, listen(members[0].1)));
    let t = first.login().await;
    create(&first, &t, "lab", members[0].1).await;
    let mut nodes = vec![first];
    for (name, ip) in &members[1..] {
        let node = Node::start_with(super::Options::named(name, listen(ip)));
        let tj = node.login().await;
        let (exit, log) = join(&node, &tj, &nodes[0], &nodes[0].fingerprint.clone(), super::ROOT_PASSWORD, ip).await;
        assert_eq!(exit, "OK", "{log:?}");
        nodes.push(node);
    }
    for node in &nodes {
        wait_status(node, &t, members.len(), 1).await;
    }
    (nodes, t)
}

/// Ask `node` for `path` until `cond` holds on the answer's `data`; panic with `what` (and the
/// last answer) after a generous deadline.
pub async fn wait_data(node: &super::Endpoint, t: &Ticket, path: &str, what: &str, mut cond: impl FnMut(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = node.get(t, path).await;
        if cond(&body["data"]) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "{} never showed {what}: {body}", node.addr);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
