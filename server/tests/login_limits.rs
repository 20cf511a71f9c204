//! Login limits against a real daemon: a burst of parallel wrong passwords from one address
//! evaluates only a handful and leaves the daemon's peak memory small; a guesser spread over
//! many addresses is throttled per user; a login costs no write to the replicated store.

mod common;

use std::time::Duration;

use common::{eventually, json, Node, Options, ROOT_PASSWORD};

fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap();
    kib / 1024
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_evaluates_a_handful_and_stays_small() {
    let node = Node::start_with(Options::named("burst", "127.0.23.1:0"));
    let _ = node.login().await; // one argon2 work area has been used: the baseline includes it
    let before = peak_rss_mib(node.child.id());
    let c = node.client_from(Some("127.0.23.9"));
    let attempts = (0..40).map(|_| {
        let c = c.clone();
        let url = node.api("/access/ticket");
        async move { c.post(url).form(&[("username", "root@pam"), ("password", "wrong")]).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(evaluated + refused, 40, "{statuses:?}");
    assert!((1..=5).contains(&evaluated), "only the first five may be checked: {statuses:?}");
    let grown = peak_rss_mib(node.child.id()).saturating_sub(before);
    // argon2 takes 19 MiB per check; forty at once would have taken ~760 MiB.
    assert!(grown < 100, "peak RSS grew by {grown} MiB");
}

#[tokio::test]
async fn a_guesser_on_many_addresses_is_throttled_per_user() {
    let node = Node::start_with(Options::named("peruser", "127.0.24.1:0"));
    for source in 1..=5 {
        let c = node.client_from(Some(&format!("127.0.24.{}", 10 + source)));
        for _ in 0..4 {
            let resp = c.post(node.api("/access/ticket")).form(&[("username", "alice@pve"), ("password", "guess")]).send().await.unwrap();
            assert_eq!(resp.status(), 401);
        }
    }
    let fresh = node.client_from(Some("127.0.24.30"));
    let (status, body) = json(fresh.post(node.api("/access/ticket")).form(&[("username", "alice@pve"), ("password", "guess")]).send().await.unwrap()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["message"].as_str().unwrap().contains("for this user"), "{body}");
    // Other users are not affected.
    let resp = fresh.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// Raft log entries that wrote this node's published cluster log.
async fn cluster_log_writes(node: &Node) -> i64 {
    node.db_scalar("SELECT COUNT(*) FROM raft_log WHERE entry LIKE '%clusterlog/%'").await
}

#[tokio::test]
async fn a_login_costs_no_store_write() {
    let node = Node::start_with(Options::named("quiet", "127.0.25.1:0"));
    let t = node.login().await;
    node.task_ok(&t, node.post(&t, "/cluster/config", &[("clustername", "quiet")]).await).await;
    // Creating the cluster logged entries; they are published once.
    eventually("the cluster's creation in the store's cluster log", Duration::from_secs(30), || async { cluster_log_writes(&node).await > 0 }).await;
    let before = cluster_log_writes(&node).await;
    for _ in 0..10 {
        node.login().await;
    }
    let (_, log) = node.get(&t, "/cluster/log?max=50").await;
    let logins = log["data"].as_array().unwrap().iter().filter(|e| e["msg"] == "successful auth for user 'root@pam'").count();
    assert!(logins >= 11, "the logins are in the cluster log: {log}");
    // At most one coalesced publication (the periodic one) may have fallen into this window.
    assert!(cluster_log_writes(&node).await - before <= 1);
}
