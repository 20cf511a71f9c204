//! PVE conventions of the API: envelope, shapes, bad input, node alias.

mod common;

use common::{json, Node};

#[tokio::test]
async fn standalone_cluster_status_has_one_local_node() {
    let node = Node::start();
    let t = node.login().await;
    let (status, body) = node.get(&t, "/cluster/status").await;
    assert_eq!(status, 200);
    let entries = body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let n = &entries[0];
    assert_eq!((n["type"].as_str(), n["name"].as_str(), n["id"].as_str()), (Some("node"), Some("testnode"), Some("node/testnode")));
    // PVE booleans are integers.
    assert_eq!((n["nodeid"].as_i64(), n["online"].as_i64(), n["local"].as_i64()), (Some(0), Some(1), Some(1)));
}

#[tokio::test]
async fn node_status_answers_for_its_name_and_localhost() {
    let node = Node::start();
    let t = node.login().await;
    for name in ["testnode", "localhost"] {
        let (status, body) = node.get(&t, &format!("/nodes/{name}/status")).await;
        assert_eq!(status, 200);
        let d = &body["data"];
        assert!(d["memory"]["total"].as_u64().unwrap() > 0);
        assert!(d["cpuinfo"]["cpus"].as_u64().unwrap() >= 1);
        assert_eq!(d["loadavg"].as_array().unwrap().len(), 3);
        assert!(d["loadavg"][0].is_string(), "PVE sends load averages as strings");
        assert!(d["uptime"].as_u64().unwrap() > 0);
    }
    let (status, body) = node.get(&t, "/nodes/elsewhere/status").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["node"], "no such cluster node 'elsewhere'");
}

#[tokio::test]
async fn network_lists_loopback_with_cidr() {
    let node = Node::start();
    let t = node.login().await;
    let (status, body) = node.get(&t, "/nodes/localhost/network").await;
    assert_eq!(status, 200);
    let lo = body["data"].as_array().unwrap().iter().find(|i| i["iface"] == "lo").expect("lo listed").clone();
    assert_eq!(lo["cidr"], "127.0.0.1/8");
    assert_eq!(lo["active"], 1);
}

#[tokio::test]
async fn resources_and_rrddata() {
    let node = Node::start();
    let t = node.login().await;
    let (_, body) = node.get(&t, "/cluster/resources?type=node").await;
    assert_eq!(body["data"][0]["status"], "online");
    let (_, body) = node.get(&t, "/cluster/resources?type=vm").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (status, body) = node.get(&t, "/nodes/localhost/rrddata?timeframe=hour&cf=AVERAGE").await;
    assert_eq!(status, 200);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 70);
    assert!(common::fresh_row(rows, "memtotal").is_some_and(|r| r["memtotal"].as_f64() > Some(0.0)), "{rows:?}");
}

#[tokio::test]
async fn bad_input_gets_pve_style_errors() {
    let node = Node::start();
    let t = node.login().await;
    let c = node.client();
    let get = |path: &str| c.get(node.api(path)).header("Cookie", t.cookie()).send();

    let (status, body) = json(get("/cluster/log?max=abc").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Parameter verification failed.\n");
    assert_eq!(body["errors"]["max"], "type check ('integer') failed - got 'abc'");

    let (status, body) = json(get("/cluster/log?max=0&verbose=1").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["max"], "value must have a minimum value of 1");
    assert!(body["errors"]["verbose"].as_str().unwrap().contains("not defined in schema"));

    let (status, body) = json(get("/nodes/localhost/rrddata").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["timeframe"], "property is missing and it is not optional");

    let (status, body) = json(get("/nodes/localhost/rrddata?timeframe=century").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["timeframe"].as_str().unwrap().contains("enumeration"));

    let (status, body) = json(get("/cluster/resources?type=vm&type=").await.unwrap()).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = json(get("/no/such/path").await.unwrap()).await;
    assert_eq!(status, 501);
    assert_eq!(body["message"], "Method 'GET /api2/json/no/such/path' not implemented\n");

    let token_url = node.api("/access/users/root@pam/token/x1");
    let post = |body: reqwest::Body, ct: &'static str| {
        c.post(&token_url).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).header("Content-Type", ct).body(body).send()
    };
    let (status, body) = json(post("{not json".into(), "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().starts_with("malformed JSON body"));
    let (status, body) = json(post(r#"{"privsep":"maybe","expire":[1]}"#.into(), "application/json").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["expire"].is_string(), "{body}");
    let (status, body) = json(post("privsep=True".into(), "application/x-www-form-urlencoded").await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"]["privsep"], "type check ('boolean') failed - got 'True'");
    let huge = format!("comment={}", "a".repeat(200 * 1024));
    let (status, _) = json(post(huge.into(), "application/x-www-form-urlencoded").await.unwrap()).await;
    assert_eq!(status, 413);
    // The server closes a connection whose oversize body it did not read; continue on a new one.
    let c = node.client();
    let get = |path: &str| c.get(node.api(path)).header("Cookie", t.cookie()).send();
    let (status, body) = json(c.post(node.api("/access/users/not-a-user/token/x")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["userid"].is_string());
    // Nothing was half-written by the refused requests.
    let (_, body) = json(get("/access/users/root@pam/token").await.unwrap()).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    // And the daemon is still fine.
    assert_eq!(get("/version").await.unwrap().status(), 200);
}

#[tokio::test]
async fn live_events_stream_node_samples() {
    let node = Node::start();
    let t = node.login().await;
    let mut resp = node.client().get(node.api("/events")).header("Cookie", t.cookie()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !seen.contains("event: node-sample") {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("a sample within 30 s").unwrap().expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(r#""node":"testnode""#), "{seen}");
}
