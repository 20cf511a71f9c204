//! Create Cluster and Join Information on a real daemon.

mod common;

use common::{json, Node, Options};
use corral_api_types::cluster_config::EncodedJoinInfo;

#[tokio::test]
async fn a_standalone_node_has_no_join_information() {
    let node = Node::start();
    let t = node.login().await;
    let line = node.status_line("GET", "/cluster/config/join", &[("Cookie", &t.cookie())], "").await;
    assert_eq!(line, "HTTP/1.1 424 node is not in a cluster, no join info available!");
    let (status, body) = node.get(&t, "/cluster/config/nodes").await;
    assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 0));
    let (_, body) = node.get(&t, "/cluster/config/apiversion").await;
    assert_eq!(body["data"], 1);
}

#[tokio::test]
async fn create_cluster_runs_a_task_and_yields_join_information() {
    let mut node = Node::start();
    let t = node.login().await;
    let (_, token) = node.post(&t, "/access/users/root@pam/token/before", &[("privsep", "0")]).await;
    let token_header = format!("PVEAPIToken=root@pam!before={}", token["data"]["value"].as_str().unwrap());
    let (status, body) = node.post(&t, "/cluster/config", &[("clustername", "demo"), ("link0", "127.0.0.1")]).await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_string();
    assert!(upid.starts_with("UPID:testnode:") && upid.contains(":clustercreate:demo:root@pam:"), "{upid}");
    let (exit, log) = node.wait_task(&t, &upid).await;
    assert_eq!(exit, "OK", "{log:?}");
    assert_eq!(log.last().unwrap(), "TASK OK");
    assert!(log.iter().any(|l| l.contains("2048-bit cluster authkey")), "{log:?}");

    let (_, body) = node.get(&t, "/cluster/status").await;
    let entries = body["data"].as_array().unwrap();
    let cluster = entries.iter().find(|e| e["type"] == "cluster").expect("cluster entry");
    assert_eq!((cluster["name"].as_str(), cluster["quorate"].as_i64(), cluster["nodes"].as_i64(), cluster["version"].as_i64()), (Some("demo"), Some(1), Some(1), Some(1)));
    let me = entries.iter().find(|e| e["type"] == "node").unwrap();
    assert_eq!((me["nodeid"].as_i64(), me["ip"].as_str(), me["online"].as_i64()), (Some(1), Some("127.0.0.1"), Some(1)));

    let resp = node.client().get(node.api("/version")).header("Authorization", &token_header).send().await.unwrap();
    assert_eq!(resp.status(), 200, "a token made before Create Cluster moved into the cluster store");

    let (_, body) = node.get(&t, "/cluster/config/nodes").await;
    assert_eq!(body["data"], serde_json::json!([{"node": "testnode", "name": "testnode", "nodeid": "1", "quorum_votes": "1", "ring0_addr": "127.0.0.1"}]));

    let (status, body) = node.get(&t, "/cluster/config/join").await;
    assert_eq!(status, 200);
    let info: corral_api_types::cluster_config::JoinInfo = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(info.preferred_node, "testnode");
    assert_eq!(info.totem["cluster_name"], "demo");
    let encoded = EncodedJoinInfo::from_join_info(&info).unwrap();
    assert_eq!(encoded.ip_address, node.addr.to_string(), "a node off port 8006 names its port");
    assert_eq!(encoded.fingerprint, node.fingerprint);
    assert_eq!(EncodedJoinInfo::decode(&encoded.encode()), Some(encoded));

    // The task is listed, and the cluster log says what happened.
    let (_, body) = node.get(&t, "/nodes/localhost/tasks").await;
    assert_eq!(body["data"][0]["upid"], upid.as_str());
    assert_eq!(body["data"][0]["status"], "OK");
    let (_, body) = node.get(&t, "/cluster/tasks").await;
    assert_eq!(body["data"][0]["type"], "clustercreate");
    let (_, body) = node.get(&t, "/cluster/log").await;
    assert!(body["data"].as_array().unwrap().iter().any(|e| e["msg"] == "created cluster 'demo'"));

    // A second create is refused before any task starts.
    let (status, body) = node.post(&t, "/cluster/config", &[("clustername", "other")]).await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "this node is already part of cluster 'demo'\n");

    // The cluster, its store and its Raft come back after a restart.
    assert!(node.terminate().success());
    let again = Node::spawn(&node.dir, &Options::default());
    let (_, body) = again.get(&t, "/cluster/status").await;
    assert_eq!(body["data"][0]["name"], "demo");
    assert_eq!(body["data"][0]["quorate"], 1);
    let (status, _) = again.get(&t, "/cluster/config/join").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn create_cluster_refuses_bad_input_without_changing_anything() {
    let node = Node::start();
    let t = node.login().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("clustername", "bad_name")], "clustername"),
        (&[("clustername", "much-too-long-name")], "clustername"),
        (&[], "clustername"),
        (&[("clustername", "demo"), ("link0", "10.0.0.300")], "link0"),
        (&[("clustername", "demo"), ("link0", "127.0.0.1"), ("link1", "127.0.0.1")], "link1"),
        (&[("clustername", "demo"), ("nodeid", "0")], "nodeid"),
        (&[("clustername", "demo"), ("link9", "127.0.0.1")], "link9"),
    ];
    for (form, param) in cases {
        let (status, body) = node.post(&t, "/cluster/config", form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert!(body["errors"][param].is_string(), "{form:?}: {body}");
    }
    let (status, body) = node.post(&t, "/cluster/config", &[("clustername", "demo"), ("link0", "192.0.2.77")]).await;
    assert_eq!(status, 500);
    assert!(body["message"].as_str().unwrap().contains("not found on local node"), "{body}");

    // Only root@pam itself may create a cluster, not even its tokens.
    let (_, token) = node.post(&t, "/access/users/root@pam/token/admin", &[("privsep", "0")]).await;
    let header = format!("PVEAPIToken=root@pam!admin={}", token["data"]["value"].as_str().unwrap());
    let resp = node.client().post(node.api("/cluster/config")).header("Authorization", header).form(&[("clustername", "demo")]).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Permission check failed (user != root@pam)\n");

    let (_, body) = node.get(&t, "/cluster/status").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "still standalone");
    assert_eq!(body["data"][0]["type"], "node");
}

/// A storage error stops openraft for good; the daemon restarts its store and writes work
/// again once the database is usable.
#[tokio::test]
async fn the_store_recovers_after_the_database_was_locked_too_long() {
    use sqlx::Connection;
    let node = Node::start_with(Options::named("lock", "127.0.11.1:0"));
    let t = node.login().await;
    let (status, body) = node.post(&t, "/cluster/config", &[("clustername", "locked"), ("link0", "127.0.11.1")]).await;
    assert_eq!(status, 200, "{body}");
    let (exit, _) = node.wait_task(&t, body["data"].as_str().unwrap()).await;
    assert_eq!(exit, "OK");

    // Another process holds the write lock longer than the daemon's 5 s busy timeout.
    let url = format!("sqlite://{}", node.dir.join("corral.db").display());
    let mut intruder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut intruder).await.unwrap();
    let (status, _) = node.post(&t, "/access/users/root@pam/token/while-locked", &[("privsep", "0")]).await;
    assert_eq!(status, 500, "no write while the database is locked");
    sqlx::query("ROLLBACK").execute(&mut intruder).await.unwrap();
    drop(intruder);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = node.post(&t, "/access/users/root@pam/token/after-unlock", &[("privsep", "0")]).await;
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the store never came back: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The restart is in the cluster log, where an admin looks.
    let (_, log) = node.get(&t, "/cluster/log").await;
    assert!(
        log["data"].as_array().unwrap().iter().any(|e| e["msg"].as_str().unwrap().starts_with("configuration store stopped on an error")),
        "{log}"
    );
}

/// An unreadable vote is a storage error, not "no vote": reading it as none would let the node
/// vote twice in one term.
#[tokio::test]
async fn an_unreadable_vote_stops_the_store_instead_of_forgetting_it() {
    use sqlx::Connection;
    let mut node = Node::start_with(Options::named("vote", "127.0.11.2:0"));
    let t = node.login().await;
    node.task_ok(&t, node.post(&t, "/cluster/config", &[("clustername", "voted"), ("link0", "127.0.11.2")]).await).await;
    assert!(node.terminate().success());
    let url = format!("sqlite://{}", node.dir.join("corral.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE raft_meta SET value = '{not a vote' WHERE name = 'vote'").execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    let node = Node::spawn(&node.dir.clone(), &Options::named("vote", "127.0.11.2:0"));
    let (status, _) = node.post(&t, "/access/users/root@pam/token/after", &[("privsep", "0")]).await;
    assert_ne!(status, 200, "a store whose vote cannot be read takes no writes");
    let (_, log) = node.get(&t, "/cluster/log").await;
    let stopped = |log: &serde_json::Value| log["data"].as_array().unwrap().iter().any(|e| e["msg"].as_str().unwrap().contains("configuration store"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut log = log;
    while !stopped(&log) {
        assert!(std::time::Instant::now() < deadline, "the broken store was never reported: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        log = node.get(&t, "/cluster/log").await.1;
    }
}
