//! Leases through the API on a real three-node cluster: one holder at a time, renewals by the
//! holder only, and takeover once a dead holder's lease has run out.

mod common;

use common::cluster::{cluster_of, wait_data};

fn lease<'a>(d: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    d.as_array()?.iter().find(|l| l["name"] == name)
}

#[tokio::test]
async fn one_holder_at_a_time_and_takeover_after_the_holder_dies() {
    let (mut nodes, t) = cluster_of(&[("l1", "127.0.9.1"), ("l2", "127.0.9.2"), ("l3", "127.0.9.3")]).await;
    let (status, body) = nodes[0].post(&t, "/cluster/leases/long", &[("duration", "600")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["valid_ms"].as_u64().unwrap() <= 600_000);
    let (status, body) = nodes[0].post(&t, "/cluster/leases/short", &[("duration", "1")]).await;
    assert_eq!(status, 200, "{body}");

    // Another node cannot take a live lease; the holder renews (new version).
    let (status, body) = nodes[1].post(&t, "/cluster/leases/long", &[]).await;
    assert_eq!(status, 500);
    assert!(body["message"].as_str().unwrap().contains("is held by l1"), "{body}");
    let (status, _) = nodes[0].post(&t, "/cluster/leases/long", &[("duration", "600")]).await;
    assert_eq!(status, 200);
    let seen = wait_data(&nodes[2], &t, "/cluster/leases", "both leases, long renewed", |d| lease(d, "long").is_some_and(|l| l["version"] == 2) && lease(d, "short").is_some()).await;
    assert_eq!(lease(&seen, "long").unwrap()["holder"], "l1");
    // Bad input.
    let (status, body) = nodes[1].post(&t, "/cluster/leases/bad%20name", &[]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = nodes[1].post(&t, "/cluster/leases/x", &[("duration", "0")]).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = common::json(
        nodes[1].client().delete(nodes[1].api("/cluster/leases/long")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 500, "only the holder releases: {body}");

    // The holder loses power: its 10-minute lease stays taken, its 1-second lease passes to l2.
    nodes[0].child.kill().unwrap();
    nodes[0].child.wait().unwrap();
    let (status, _) = nodes[1].post(&t, "/cluster/leases/long", &[]).await;
    assert_eq!(status, 500, "a dead holder's lease is not free before it runs out");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = nodes[1].post(&t, "/cluster/leases/short", &[("duration", "5")]).await;
        if status == 200 {
            break;
        }
        assert!(body["message"].as_str().unwrap_or_default().contains("is held by l1"), "{body}");
        assert!(std::time::Instant::now() < deadline, "l2 never took the expired lease: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let seen = wait_data(&nodes[2], &t, "/cluster/leases", "short now held by l2", |d| lease(d, "short").is_some_and(|l| l["holder"] == "l2")).await;
    assert_eq!(lease(&seen, "long").unwrap()["holder"], "l1");
    // l3 cannot snatch it from l2 now; l2 releases it and l3 may take it.
    let (status, _) = nodes[2].post(&t, "/cluster/leases/short", &[]).await;
    assert_eq!(status, 500);
    let resp = nodes[1].client().delete(nodes[1].api("/cluster/leases/short")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = nodes[2].post(&t, "/cluster/leases/short", &[]).await;
    assert_eq!(status, 200, "{body}");

    // Taking is decided on committed state: right after a release commits through one node,
    // another node takes the lease at once, however far its own copy lags.
    for round in 0..20 {
        let (holder, taker) = if round % 2 == 0 { (&nodes[2], &nodes[1]) } else { (&nodes[1], &nodes[2]) };
        let resp = holder.client().delete(holder.api("/cluster/leases/short")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap();
        assert_eq!(resp.status(), 200, "round {round}: release");
        let (status, body) = taker.post(&t, "/cluster/leases/short", &[]).await;
        assert_eq!(status, 200, "round {round}: take right after the release: {body}");
    }
}

/// A lease released and taken again starts at version 1 once more; another node that saw the
/// first take long ago must count the new one from now, not call it expired at once.
#[tokio::test]
async fn a_lease_taken_again_after_release_is_not_mistaken_for_the_old_one() {
    let (nodes, t) = cluster_of(&[("a1", "127.0.16.1"), ("a2", "127.0.16.2"), ("a3", "127.0.16.3")]).await;
    let (status, body) = nodes[0].post(&t, "/cluster/leases/again", &[("duration", "1")]).await;
    assert_eq!(status, 200, "{body}");
    // a2 sees the first take run out by its own clock.
    wait_data(&nodes[1], &t, "/cluster/leases", "the first take expired on a2", |d| lease(d, "again").is_some_and(|l| l["version"] == 1 && l["expires_in_ms"] == 0)).await;
    let release = nodes[0].client().delete(nodes[0].api("/cluster/leases/again")).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).send().await.unwrap();
    assert_eq!(release.status(), 200);
    wait_data(&nodes[1], &t, "/cluster/leases", "the release on a2", |d| lease(d, "again").is_none()).await;
    let (status, body) = nodes[0].post(&t, "/cluster/leases/again", &[("duration", "1")]).await;
    assert_eq!(status, 200, "{body}");
    wait_data(&nodes[1], &t, "/cluster/leases", "the new take on a2", |d| lease(d, "again").is_some_and(|l| l["holder"] == "a1" && l["version"] == 1)).await;
    let (status, body) = nodes[1].post(&t, "/cluster/leases/again", &[]).await;
    assert_eq!(status, 500, "a2 must not take a lease a1 has just taken: {body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("is held by a1"), "{body}");
}
