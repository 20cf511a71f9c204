//! Joining real daemons into one cluster through the API: success, forwarding through a
//! follower, and the refusals that must leave both sides unchanged.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{create, join, wait_data, wait_status};
use common::{Node, Options, Ticket, ROOT_PASSWORD};

/// Poll a local condition (a file, say) until it holds; panic with `what` after 30 s.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(data: &serde_json::Value) -> Vec<String> {
    data.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn three_nodes_join_and_share_one_configuration() {
    let n1 = Node::start_with(Options::named("n1", "127.0.1.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "demo", "127.0.1.1").await;

    let n2 = Node::start_with(Options::named("n2", "127.0.1.2:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.1.2").await;
    assert_eq!(exit, "OK", "{log:?}");
    assert!(log.iter().any(|l| l.contains("admits this node as node id 2")), "{log:?}");

    // n3 joins through n2, a follower: the membership change and the write go to the leader.
    let n3 = Node::start_with(Options::named("n3", "127.0.1.3:0"));
    let t3 = n3.login().await;
    let (exit, log) = join(&n3, &t3, &n2, &n2.fingerprint, common::ROOT_PASSWORD, "127.0.1.3").await;
    assert_eq!(exit, "OK", "{log:?}");

    // Committed on a majority when the join ends; the third member may apply it a moment later.
    for node in [&n1, &n2, &n3] {
        let data = wait_data(node, &t1, "/cluster/config/nodes", "all three members", |d| d.as_array().is_some_and(|l| l.len() == 3)).await;
        assert_eq!(names(&data), ["n1", "n2", "n3"], "on {}", node.addr);
        let ids: Vec<&str> = data.as_array().unwrap().iter().map(|n| n["nodeid"].as_str().unwrap()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        wait_status(node, &t1, 3, 1).await;
    }
    let (_, body) = n2.get(&t1, "/cluster/resources?type=node").await;
    let states: Vec<(&str, &str)> = body["data"].as_array().unwrap().iter().map(|r| (r["node"].as_str().unwrap(), r["status"].as_str().unwrap())).collect();
    assert_eq!(states, [("n1", "online"), ("n2", "online"), ("n3", "online")]);
    let (_, body) = n3.get(&t1, "/cluster/config/join").await;
    let info: corral_api_types::cluster_config::JoinInfo = serde_json::from_value(body["data"].clone()).unwrap();
    let encoded = corral_api_types::cluster_config::EncodedJoinInfo::from_join_info(&info).unwrap();
    assert_eq!(encoded.ip_address, n3.addr.to_string(), "join information names the node's API port");
    // A ticket from n1 is valid on n3 (the joiners took the cluster's keys).
    let (status, body) = n3.get(&t1, "/cluster/status").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["version"], 3, "config version counts the two joins");
    // An API token made on n1 works on n3; deleted through n2, it stops working on n1.
    let (status, token) = n1.post(&t1, "/access/users/root@pam/token/everywhere", &[("privsep", "0")]).await;
    assert_eq!(status, 200, "{token}");
    let header = format!("PVEAPIToken=root@pam!everywhere={}", token["data"]["value"].as_str().unwrap());
    let with_token = |node: &Node| node.client().get(node.api("/cluster/status")).header("Authorization", header.clone()).send();
    // Committed on a majority at once; n3 may be the member that applies it a moment later.
    wait_data(&n3, &t1, "/access/users/root@pam/token", "the token replicated to n3", |d| {
        d.as_array().is_some_and(|l| l.iter().any(|t| t["tokenid"] == "everywhere"))
    })
    .await;
    assert_eq!(with_token(&n3).await.unwrap().status(), 200);
    let list = wait_data(&n2, &t1, "/access/users/root@pam/token", "the token replicated to n2", |d| d.as_array().is_some_and(|l| !l.is_empty())).await;
    assert_eq!(list[0]["tokenid"], "everywhere");
    let resp = n2.client().delete(n2.api("/access/users/root@pam/token/everywhere")).header("Cookie", t1.cookie()).header("CSRFPreventionToken", &t1.csrf).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    wait_data(&n1, &t1, "/access/users/root@pam/token", "the deletion replicated to n1", |d| d.as_array().is_some_and(|l| l.is_empty())).await;
    assert_eq!(with_token(&n1).await.unwrap().status(), 401);

    // One API for all nodes: n1 answers for n3 by forwarding (n3's own task list proves it).
    let (status, body) = n1.get(&t1, "/nodes/n3/tasks").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["type"], "clusterjoin");
    assert_eq!(body["data"][0]["node"], "n3");
    let (status, body) = n1.get(&t1, "/nodes/n3/rrddata").await;
    assert_eq!(status, 400, "errors come back as they are");
    assert!(body["errors"]["timeframe"].is_string());
    // A remote node's graph has points: n3 measured them, n1 forwards the question.
    let (status, body) = n1.get(&t1, "/nodes/n3/rrddata?timeframe=hour&cf=MAX").await;
    assert_eq!(status, 200, "{body}");
    assert!(common::fresh_row(body["data"].as_array().unwrap(), "memtotal").is_some_and(|r| r["memtotal"].as_f64() > Some(0.0)), "{body}");
    // Forwarding reads no body for a caller who may not make the call, and no body over the
    // API's limit for one who may.
    let (status, limited) = n1.post(&t1, "/access/users/root@pam/token/limited", &[]).await;
    assert_eq!(status, 200, "{limited}");
    let limited = format!("PVEAPIToken=root@pam!limited={}", limited["data"]["value"].as_str().unwrap());
    let big = "x=".to_string() + &"y".repeat(100 << 10); // over the limit: read first, it would be a 413
    let line = n1.status_line("POST", "/nodes/n3/qemu/100/status/start", &[("Authorization", &limited), ("Content-Type", "application/x-www-form-urlencoded")], &big).await;
    assert_eq!(line, "HTTP/1.1 403 Permission check failed (/vms/100, VM.Audit)");
    let line = n1
        .status_line("POST", "/nodes/n3/qemu/100/status/start", &[("Cookie", &t1.cookie()), ("CSRFPreventionToken", &t1.csrf), ("Content-Type", "application/x-www-form-urlencoded")], &big)
        .await;
    assert_eq!(line, "HTTP/1.1 413 request body too large (limit 65536 bytes)");
    let (status, _) = n2.get(&t1, "/nodes/nowhere/status").await;
    assert_eq!(status, 400);
    let loop_line = n1.status_line("GET", "/nodes/n2/status", &[("Cookie", &t1.cookie()), ("PVEDisableProxy", "1")], "").await;
    assert_eq!(loop_line, "HTTP/1.1 500 proxy loop detected");
    let (_, log) = n1.get(&t1, "/cluster/log").await;
    let msgs: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["msg"].as_str().unwrap()).collect();
    assert!(msgs.contains(&"adding node n2 to cluster"), "{msgs:?}");
}

#[tokio::test]
async fn refused_joins_change_nothing_on_either_side() {
    let n1 = Node::start_with(Options::named("r1", "127.0.2.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "refuse", "127.0.2.1").await;
    let joiner = Node::start_with(Options::named("r2", "127.0.2.2:0"));
    let tj = joiner.login().await;

    let wrong_fp = n1.fingerprint.replace(&n1.fingerprint[..2], if &n1.fingerprint[..2] == "00" { "01" } else { "00" });
    let (exit, log) = join(&joiner, &tj, &n1, &wrong_fp, common::ROOT_PASSWORD, "127.0.2.2").await;
    assert!(exit.contains("not verified, abort!"), "{exit} {log:?}");

    let (exit, _) = join(&joiner, &tj, &n1, &n1.fingerprint, "wrong-password", "127.0.2.2").await;
    assert!(exit.contains("authentication failure"), "{exit}");

    // A node named like an existing member.
    let twin = Node::start_with(Options::named("r1", "127.0.2.3:0"));
    let tt = twin.login().await;
    let (exit, _) = join(&twin, &tt, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.2.3").await;
    assert!(exit.contains("can't add existing node 'r1'"), "{exit}");

    // Nothing changed: the cluster still has one node, the joiner is still standalone.
    let (_, body) = n1.get(&t1, "/cluster/config/nodes").await;
    assert_eq!(names(&body["data"]), ["r1"]);
    let (_, body) = joiner.get(&tj, "/cluster/status").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["type"], "node");

    // After the refusals the same joiner can still join for real.
    let (exit, log) = join(&joiner, &tj, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.2.2").await;
    assert_eq!(exit, "OK", "{log:?}");

    // A member cannot join again, and a bad fingerprint is a parameter error.
    let form = [("hostname", "127.0.2.1"), ("password", "x"), ("fingerprint", n1.fingerprint.as_str())];
    let (status, body) = joiner.post(&tj, "/cluster/config/join", &form).await;
    assert_eq!(status, 500);
    assert!(body["message"].as_str().unwrap().contains("already part of cluster 'refuse'"));
    let (status, body) = twin.post(&tt, "/cluster/config/join", &[("hostname", "127.0.2.1"), ("password", "x"), ("fingerprint", "AB:CD")]).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["fingerprint"].is_string());
}

#[tokio::test]
async fn a_peer_without_quorum_refuses_joiners() {
    let n1 = Node::start_with(Options::named("q1", "127.0.3.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "quorum", "127.0.3.1").await;
    let mut n2 = Node::start_with(Options::named("q2", "127.0.3.2:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.3.2").await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_status(&n1, &t1, 2, 1).await;

    n2.child.kill().unwrap();
    n2.child.wait().unwrap();
    wait_status(&n1, &t1, 1, 0).await;

    let n3 = Node::start_with(Options::named("q3", "127.0.3.3:0"));
    let t3 = n3.login().await;
    let (exit, _) = join(&n3, &t3, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.3.3").await;
    assert!(exit.contains("cluster not ready - no quorum?"), "{exit}");
    let (_, body) = n3.get(&t3, "/cluster/status").await;
    assert_eq!(body["data"][0]["type"], "node", "the refused joiner stays standalone");

    // Without quorum, reads still work and writes fail the way PVE's do.
    let (status, body) = n1.get(&t1, "/cluster/config/nodes").await;
    assert_eq!((status, names(&body["data"])), (200, vec!["q1".to_string(), "q2".to_string()]));
    let line = n1.status_line("DELETE", "/cluster/config/nodes/q2", &[("Cookie", &t1.cookie()), ("CSRFPreventionToken", &t1.csrf)], "").await;
    assert_eq!(line, "HTTP/1.1 500 cluster not ready - no quorum?");
}

#[tokio::test]
async fn delnode_removes_a_powered_off_member_and_quorum_follows() {
    let n1 = Node::start_with(Options::named("d1", "127.0.4.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "del", "127.0.4.1").await;
    let n2 = Node::start_with(Options::named("d2", "127.0.4.2:0"));
    let mut n3 = Node::start_with(Options::named("d3", "127.0.4.3:0"));
    for (joiner, ip) in [(&n2, "127.0.4.2"), (&n3, "127.0.4.3")] {
        let tj = joiner.login().await;
        let (exit, log) = join(joiner, &tj, &n1, &n1.fingerprint, common::ROOT_PASSWORD, ip).await;
        assert_eq!(exit, "OK", "{log:?}");
    }
    wait_status(&n1, &t1, 3, 1).await;
    // Every node's root key reaches every node's authorized_keys.
    let authorized = |node: &Node| std::fs::read_to_string(node.dir.join("ssh-home/authorized_keys")).unwrap_or_default();
    wait_until("d3's key on d1", || ["root@d1", "root@d2", "root@d3"].iter().all(|k| authorized(&n1).contains(k))).await;

    let (status, body) = json_delete(&n2, &t1, "/cluster/config/nodes/d2").await;
    assert_eq!((status, body["message"].as_str()), (500, Some("Cannot delete myself from cluster!\n")));
    let (status, _) = json_delete(&n2, &t1, "/cluster/config/nodes/nobody").await;
    assert_eq!(status, 500);

    n3.child.kill().unwrap();
    n3.child.wait().unwrap();
    // Removed through a follower, so the membership change is forwarded to the leader.
    let out = common::corral().args(["cluster", "--data-dir"]).arg(&n2.dir).args(["delnode", "d3"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The removal replaced the signing keys (d3 holds the old ones): tickets signed before are
    // void on every node; log in again.
    for node in [&n1, &n2] {
        common::eventually("a ticket signed before the removal refused", Duration::from_secs(30), || async { node.get(&t1, "/cluster/status").await.0 == 401 }).await;
    }
    let t1 = n1.login().await;
    for node in [&n1, &n2] {
        let (_, body) = node.get(&t1, "/cluster/config/nodes").await;
        assert_eq!(names(&body["data"]), ["d1", "d2"]);
        wait_status(node, &t1, 2, 1).await;
    }
    let (_, body) = n1.get(&t1, "/cluster/status").await;
    assert_eq!(body["data"][0]["nodes"], 2);
    wait_until("d3's key gone from d1 and d2", || !authorized(&n1).contains("root@d3") && !authorized(&n2).contains("root@d3")).await;
    assert!(authorized(&n2).contains("root@d1"));
    // The node that ran the removal logged it, and the cluster log carries it to the others.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, log) = n1.get(&t1, "/cluster/log").await;
        let entry = log["data"].as_array().unwrap().iter().find(|e| e["msg"] == "deleting node d3 from cluster").cloned();
        if let Some(entry) = entry {
            assert_eq!(entry["node"], "d2");
            break;
        }
        assert!(Instant::now() < deadline, "the entry never reached d1: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn json_delete(node: &Node, t: &Ticket, path: &str) -> (u16, serde_json::Value) {
    let req = node.client().delete(node.api(path)).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf);
    common::json(req.send().await.unwrap()).await
}

#[tokio::test]
async fn two_nodes_joining_at_once_both_get_in() {
    let n1 = Node::start_with(Options::named("c1", "127.0.10.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "pair", "127.0.10.1").await;
    let n2 = Node::start_with(Options::named("c2", "127.0.10.2:0"));
    let n3 = Node::start_with(Options::named("c3", "127.0.10.3:0"));
    let (t2, t3) = (n2.login().await, n3.login().await);
    let fingerprint = n1.fingerprint.clone();
    let ((exit2, log2), (exit3, log3)) = tokio::join!(
        join(&n2, &t2, &n1, &fingerprint, common::ROOT_PASSWORD, "127.0.10.2"),
        join(&n3, &t3, &n1, &fingerprint, common::ROOT_PASSWORD, "127.0.10.3"),
    );
    assert_eq!(exit2, "OK", "{log2:?}");
    assert_eq!(exit3, "OK", "{log3:?}");
    for node in [&n1, &n2, &n3] {
        wait_status(node, &t1, 3, 1).await;
        let (_, body) = node.get(&t1, "/cluster/config/nodes").await;
        let mut got = names(&body["data"]);
        got.sort();
        assert_eq!(got, ["c1", "c2", "c3"], "listed by node id, which the joiners got in either order");
        let ids: std::collections::BTreeSet<&str> = body["data"].as_array().unwrap().iter().map(|n| n["nodeid"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 3, "distinct node ids: {body}");
    }
}

/// A join that fails after the store was copied (injected on the joiner just before it would
/// become a voter) leaves the cluster as it was: no voter that is not there (a one-node cluster
/// keeps its quorum and takes writes at once), no configuration entry; the joiner is
/// standalone again with its own sessions, and can join for real afterwards.
#[tokio::test]
async fn a_join_that_fails_in_phase_two_leaves_nothing_behind() {
    let n1 = Node::start_with(Options::named("f1", "127.0.26.1:0"));
    let t1 = n1.login().await;
    create(&n1, &t1, "failing", "127.0.26.1").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut n2 = Node::spawn(&data, &Options { fail_at: Some("join-before-finish"), ..Options::named("f2", "127.0.26.2:0") });
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, ROOT_PASSWORD, "127.0.26.2").await;
    assert!(exit.contains("injected failure"), "{exit}: {log:?}");

    let (status, body) = n1.post(&t1, "/access/users/root@pam/token/after-failed-join", &[("privsep", "0")]).await;
    assert_eq!(status, 200, "the cluster kept its quorum: {body}");
    let (_, nodes) = n1.get(&t1, "/cluster/config/nodes").await;
    assert_eq!(names(&nodes["data"]), ["f1"]);
    let (status, body) = n2.get(&t2, "/cluster/status").await;
    assert_eq!(status, 200, "the joiner's own session still works: {body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "the joiner is standalone again: {body}");

    assert!(n2.terminate().success());
    let n2 = Node::spawn(&data, &Options::named("f2", "127.0.26.2:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, ROOT_PASSWORD, "127.0.26.2").await;
    assert_eq!(exit, "OK", "{log:?}");
    wait_status(&n1, &t1, 2, 1).await;
}
