//! Login, tickets, CSRF, API tokens and the console session, against the real daemon.

mod common;

use common::{json, Node, Options, ROOT_PASSWORD};
use serde_json::Value;

#[tokio::test]
async fn password_login_gives_a_ticket_that_reads_the_api() {
    let node = Node::start();
    let t = node.login().await;
    assert!(t.ticket.starts_with("PVE:root@pam:"), "{}", t.ticket);
    assert!(t.csrf.contains(':'));
    let c = node.client();
    let (status, body) = node.get(&t, "/version").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    // The ticket also works in the Authorization header, as PVE accepts it.
    let (status, body) = json(c.get(node.api("/nodes")).header("Authorization", t.cookie()).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["node"], "testnode");
    assert_eq!(body["data"][0]["ssl_fingerprint"], node.fingerprint.as_str());
}

#[tokio::test]
async fn without_credentials_the_api_says_no_ticket() {
    let node = Node::start();
    assert_eq!(node.status_line("GET", "/version", &[], "").await, "HTTP/1.1 401 No ticket");
    let bogus = "PVEAuthCookie=PVE:root@pam:00000000::AAAA";
    assert_eq!(
        node.status_line("GET", "/version", &[("Cookie", bogus)], "").await,
        "HTTP/1.1 401 permission denied - invalid PVE ticket"
    );
}

#[tokio::test]
async fn login_accepts_realm_field_and_json_bodies() {
    let node = Node::start();
    let c = node.client();
    let resp = c.post(node.api("/access/ticket")).form(&[("username", "root"), ("realm", "pam"), ("password", ROOT_PASSWORD)]).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, body["data"]["username"].as_str()), (200, Some("root@pam")));
    let resp = c.post(node.api("/access/ticket")).json(&serde_json::json!({"username": "root@pam", "password": ROOT_PASSWORD})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_valid_ticket_renews_itself_and_a_forged_one_does_not() {
    let node = Node::start();
    let t = node.login().await;
    let c = node.client();
    let resp = c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", t.ticket.as_str())]).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200);
    assert!(body["data"]["ticket"].as_str().unwrap().starts_with("PVE:root@pam:"));
    let forged = t.ticket.replace("root@pam", "admin@pve");
    let resp = c.post(node.api("/access/ticket")).form(&[("username", "admin@pve"), ("password", forged.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_throttled_per_source() {
    let node = Node::start();
    let status_line = node
        .status_line("POST", "/access/ticket", &[("Content-Type", "application/x-www-form-urlencoded")], "username=root%40pam&password=nope")
        .await;
    assert_eq!(status_line, "HTTP/1.1 401 authentication failure");
    let c = node.client();
    for _ in 0..4 {
        let resp = c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", "nope")]).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }
    // Five failures from 127.0.0.1: even the right password is refused from there now ...
    let resp = c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)]).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("too many failed logins"), "{body}");
    // ... while another source address still gets in.
    let other = node.client_from(Some("127.0.0.2"));
    let resp = other.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn writes_with_a_ticket_need_the_csrf_token() {
    let node = Node::start();
    let t = node.login().await;
    let c = node.client();
    let url = node.api("/access/users/root@pam/token/ci");
    let line = node.status_line("POST", "/access/users/root@pam/token/ci", &[("Cookie", &t.cookie())], "").await;
    assert_eq!(line, "HTTP/1.1 401 Permission check failed - invalid csrf token");
    let resp = c.post(&url).header("Cookie", t.cookie()).header("CSRFPreventionToken", "0000:bad").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = c.post(&url).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).form(&[("privsep", "0")]).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["full-tokenid"], "root@pam!ci");
}

async fn create_token(node: &Node, name: &str, privsep: &str) -> String {
    let t = node.login().await;
    let resp = node
        .client()
        .post(node.api(&format!("/access/users/root@pam/token/{name}")))
        .header("Cookie", t.cookie())
        .header("CSRFPreventionToken", &t.csrf)
        .form(&[("privsep", privsep), ("comment", "for tests")])
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200, "{body}");
    format!("PVEAPIToken=root@pam!{name}={}", body["data"]["value"].as_str().unwrap())
}

#[tokio::test]
async fn api_tokens_authenticate_without_csrf_and_respect_privilege_separation() {
    let node = Node::start();
    let c = node.client();
    let full = create_token(&node, "automation", "0").await;
    let (status, body) = json(c.get(node.api("/cluster/status")).header("Authorization", &full).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["type"], "node");
    // Token callers are not asked for a CSRF token, but a token may not mint tokens.
    let resp = c.post(node.api("/access/users/root@pam/token/other")).header("Authorization", &full).send().await.unwrap();
    assert_eq!(resp.status(), 403);

    let separated = create_token(&node, "limited", "1").await;
    let resp = c.get(node.api("/cluster/status")).header("Authorization", &separated).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Permission check failed (/, Sys.Audit)\n");

    let wrong = format!("{}x", &full[..full.len() - 1]);
    let resp = c.get(node.api("/version")).header("Authorization", wrong).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // The secret is shown once; the listing shows only metadata.
    let t = node.login().await;
    let (_, body) = node.get(&t, "/access/users/root@pam/token").await;
    let list = body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t.get("value").is_none()));
    assert_eq!(list[0]["privsep"], 0);
    assert_eq!(list[1]["privsep"], 1);
}

#[tokio::test]
async fn a_deleted_token_stops_working() {
    let node = Node::start();
    let full = create_token(&node, "temp", "0").await;
    let t = node.login().await;
    let c = node.client();
    let resp = c.delete(node.api("/access/users/root@pam/token/temp")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c.get(node.api("/version")).header("Authorization", &full).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn the_console_session_authenticates_pages_and_api_until_logout() {
    let node = Node::start();
    let c = node.client();
    let resp = c.get(node.url("/datacenter/summary")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/login?next=%2Fdatacenter%2Fsummary");

    let resp = c
        .post(node.api("/access/ticket"))
        .header("X-Corral-Console", "session")
        .form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)])
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, 200);
    let csrf = body["data"]["CSRFPreventionToken"].as_str().unwrap().to_string();

    // The cookie jar now holds only the session cookie, no ticket.
    let (status, body) = json(c.get(node.api("/cluster/resources")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["id"], "node/testnode");
    let resp = c.post(node.api("/access/users/root@pam/token/s1")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "session writes need the CSRF token");
    let resp = c.post(node.api("/access/users/root@pam/token/s1")).header("CSRFPreventionToken", &csrf).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let resp = c.get(node.url("/node/testnode/summary")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains(r#"<meta name="corral-user" content="root@pam""#), "page names its user");
    assert!(page.contains(r#"data-testid="tree-node-testnode""#), "tree lists the node in the first paint");

    let resp = c.delete(node.api("/access/session")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(c.get(node.api("/cluster/resources")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(node.url("/datacenter/summary")).send().await.unwrap().status(), 303);
}

#[tokio::test]
async fn successful_logins_are_in_the_cluster_log() {
    let node = Node::start();
    let t = node.login().await;
    let (status, body) = node.get(&t, "/cluster/log?max=10").await;
    assert_eq!(status, 200);
    let entries = body["data"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["msg"] == "successful auth for user 'root@pam'" && e["node"] == "testnode" && e["pri"] == 6), "{body}");
    assert!(entries.iter().all(|e| e["id"].as_str().unwrap().ends_with(":testnode")));
    let _: Value = body;
}

/// Everything an SSE stream sends until `until` holds on it (or 30 s pass).
async fn read_events(resp: reqwest::Response, until: impl Fn(&str) -> bool) -> String {
    let mut resp = resp;
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !until(&text) && std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(1), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    text
}

#[tokio::test]
async fn a_user_without_privileges_gets_none_in_cap_and_no_node_figures_in_events() {
    use std::io::Write;
    let node = Node::start();
    let mut child = common::corral().args(["passwd", "--data-dir"]).arg(&node.dir).arg("bob@pve").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"bobs-secret-pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let c = node.client();
    let (status, body) = json(c.post(node.api("/access/ticket")).form(&[("username", "bob@pve"), ("password", "bobs-secret-pw")]).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let cap = &body["data"]["cap"];
    assert!(cap.as_object().unwrap().values().all(|v| v.as_object().is_some_and(|m| m.is_empty())), "bob holds no privilege: {cap}");
    let bob = format!("PVEAuthCookie={}", body["data"]["ticket"].as_str().unwrap());
    let root = node.login().await;
    let (_, body) = json(c.post(node.api("/access/ticket")).form(&[("username", "root@pam"), ("password", common::ROOT_PASSWORD)]).send().await.unwrap()).await;
    assert_eq!(body["data"]["cap"]["nodes"]["Sys.Audit"], 1);

    // The same moment on both streams: root's carries node samples, bob's none.
    let bob_stream = c.get(node.api("/events")).header("Cookie", bob).send().await.unwrap();
    let root_stream = c.get(node.api("/events")).header("Cookie", root.cookie()).send().await.unwrap();
    let bob_seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let bob_reader = tokio::spawn({
        let seen = bob_seen.clone();
        async move {
            let mut stream = bob_stream;
            while let Ok(Some(chunk)) = stream.chunk().await {
                seen.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
            }
        }
    });
    let root_text = read_events(root_stream, |t| t.matches("event: node-sample").count() >= 2).await;
    assert!(root_text.matches("event: node-sample").count() >= 2, "{root_text}");
    // Bob's stream is open and answering (the keep-alive and the events he may see arrive).
    assert!(!bob_reader.is_finished(), "bob's stream ended: {}", bob_seen.lock().unwrap());
    bob_reader.abort();
    let bob_text = bob_seen.lock().unwrap().clone();
    assert!(!bob_text.contains("node-sample"), "bob saw node figures: {bob_text}");
}

/// The signing keys' document as this node keeps it (its `secrets` row), read from outside.
async fn key_document(node: &Node) -> serde_json::Value {
    let bytes: Vec<u8> = node.db_scalar("SELECT value FROM secrets WHERE name = 'auth-keys'").await;
    serde_json::from_slice(&bytes).unwrap()
}

async fn next_rotation(node: &Node, after: &serde_json::Value) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let doc = key_document(node).await;
        if doc["current"] != after["current"] {
            return doc;
        }
        assert!(std::time::Instant::now() < deadline, "the signing keys never rotated");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Keys rotate (PVE: daily; here every 5 s): a ticket signed before a rotation stays valid
/// after it (the previous pair verifies) and not after the next one.
#[tokio::test]
async fn signing_keys_rotate_and_the_previous_pair_still_verifies() {
    let node = Node::start_with(Options { key_rotation_secs: Some(5), ..Options::named("rotate", "127.0.27.1:0") });
    let t = node.login().await;
    let first = key_document(&node).await;
    let second = next_rotation(&node, &first).await;
    assert_eq!(second["previous"], first["current"], "the pair that signed becomes the previous one");
    let (status, _) = node.get(&t, "/cluster/status").await;
    assert_eq!(status, 200, "a ticket of the previous pair is valid");
    next_rotation(&node, &second).await;
    common::eventually("a ticket two rotations old refused", std::time::Duration::from_secs(10), || async { node.get(&t, "/cluster/status").await.0 == 401 }).await;
    let fresh = node.login().await;
    assert_eq!(node.get(&fresh, "/cluster/status").await.0, 200);
}
