//! The HA API on a real two-node cluster, without guests running: a change made on one node
//! is pushed to an open event stream on the other; rules are edited with their digest; removing
//! a resource purges it from the rules (unless `purge=0`).

mod common;

use std::time::Duration;

use common::cluster::{create, join, wait_data};
use common::{Node, Options};

#[tokio::test]
async fn ha_changes_are_pushed_to_every_node_and_rules_follow_their_resources() {
    let n1 = Node::start_with(Options::named("h1", "127.0.17.1:0"));
    let t = n1.login().await;
    let (status, body) = n1.post(&t, "/nodes/h1/qemu", &[("vmid", "100"), ("name", "quiet")]).await;
    assert_eq!(status, 200, "{body}");
    n1.wait_task(&t, body["data"].as_str().unwrap()).await;
    create(&n1, &t, "hapi", "127.0.17.1").await;
    let n2 = Node::start_with(Options::named("h2", "127.0.17.2:0"));
    let t2 = n2.login().await;
    let (exit, log) = join(&n2, &t2, &n1, &n1.fingerprint, common::ROOT_PASSWORD, "127.0.17.2").await;
    assert_eq!(exit, "OK", "{log:?}");
    let t2 = n2.login().await;

    // A page open on h2 hears of a resource added through h1.
    let mut stream = n2.client().get(n2.api("/events")).header("Cookie", t2.cookie()).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "vm:100"), ("state", "stopped")]).await;
    assert_eq!(status, 200, "{body}");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains("event: ha") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an ha event within 30 s").unwrap().expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(stream);

    // A rule, changed with its digest; a stale digest and bad input change nothing.
    let (status, body) = n1.post(&t, "/cluster/ha/rules", &[("rule", "prefer-h1"), ("type", "node-affinity"), ("resources", "vm:100"), ("nodes", "h1:2,h2:1"), ("comment", "first")]).await;
    assert_eq!(status, 200, "{body}");
    let (_, rule) = n1.get(&t, "/cluster/ha/rules/prefer-h1").await;
    let digest = rule["data"]["digest"].as_str().unwrap().to_string();
    let (status, body) = n1.put(&t, "/cluster/ha/rules/prefer-h1", &[("nodes", "h1:x")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["nodes"].as_str().unwrap().contains("invalid priority"), "{body}");
    let (status, body) = n1.put(&t, "/cluster/ha/rules/prefer-h1", &[("nodes", "h2:3"), ("digest", "0000")]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("detected modified configuration"), "{body}");
    let (status, body) = n1.put(&t, "/cluster/ha/rules/prefer-h1", &[("nodes", "h2:3"), ("strict", "1"), ("delete", "comment"), ("digest", &digest)]).await;
    assert_eq!(status, 200, "{body}");
    let rule = wait_data(&n2, &t2, "/cluster/ha/rules/prefer-h1", "the changed rule on h2", |d| d["nodes"] == "h2:3").await;
    assert_eq!((rule["strict"].as_u64(), rule["resources"].as_str()), (Some(1), Some("vm:100")), "{rule}");
    assert!(rule.get("comment").is_none(), "{rule}");
    let (status, body) = n1.put(&t, "/cluster/ha/rules/nope", &[("strict", "0")]).await;
    assert_eq!((status, body["message"].as_str()), (500, Some("no such ha rule 'nope'\n")), "{body}");

    // Removing the resource with purge=0 leaves the rule; the default purges it, and the rule
    // left without resources goes too.
    let (status, body) = n1.delete(&t, "/cluster/ha/resources/vm:100?purge=0").await;
    assert_eq!(status, 200, "{body}");
    let (_, rules) = n1.get(&t, "/cluster/ha/rules").await;
    assert_eq!(rules["data"].as_array().unwrap().len(), 1, "{rules}");
    let (status, body) = n1.post(&t, "/cluster/ha/resources", &[("sid", "100"), ("state", "stopped")]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = n1.delete(&t, "/cluster/ha/resources/vm:100").await;
    assert_eq!(status, 200, "{body}");
    let (_, rules) = n1.get(&t, "/cluster/ha/rules").await;
    assert_eq!(rules["data"], serde_json::json!([]), "{rules}");
    let (_, current) = n1.get(&t, "/nodes/h1/qemu/100/status/current").await;
    assert_eq!(current["data"]["ha"], serde_json::json!({ "managed": 0 }));
}
