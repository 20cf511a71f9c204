//! Graphs as PVE's `rrddata` answers them, kept across a daemon restart: every timeframe with
//! its row count and spacing, AVERAGE and MAX, the node's, a storage's; a minute measured before
//! a restart is still there after it.

mod common;

use std::time::{Duration, Instant};

use common::{Node, Options, Ticket};

const TIMEFRAMES: [(&str, usize, i64); 6] = [("hour", 70, 60), ("day", 70, 1800), ("week", 70, 10_800), ("month", 70, 43_200), ("year", 70, 604_800), ("decade", 130, 2_419_200)];

async fn rows(node: &common::Endpoint, t: &Ticket, path: &str) -> Vec<serde_json::Value> {
    let (status, body) = node.get(t, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].as_array().unwrap().clone()
}

/// The hour's newest row that is complete (its minute is over) and has a CPU value: waits for
/// the first minute boundary after start, so up to a minute and a bit.
async fn a_complete_minute(node: &common::Endpoint, t: &Ticket) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let hour = rows(node, t, "/nodes/localhost/rrddata?timeframe=hour").await;
        let newest = hour.last().unwrap()["time"].as_i64().unwrap();
        if let Some(row) = hour.iter().rev().find(|r| r["time"].as_i64() < Some(newest) && r["cpu"].is_number()) {
            return row.clone();
        }
        assert!(Instant::now() < deadline, "no complete minute in the hour graph: {hour:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn every_timeframe_answers_as_pve_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts = Options::named("graphs", "127.0.22.1:0");
    let mut node = Node::spawn(&data, &opts);
    let t = node.login().await;

    for (timeframe, count, resolution) in TIMEFRAMES {
        for cf in ["AVERAGE", "MAX"] {
            let list = rows(&node, &t, &format!("/nodes/localhost/rrddata?timeframe={timeframe}&cf={cf}")).await;
            assert_eq!(list.len(), count, "{timeframe} {cf}");
            let times: Vec<i64> = list.iter().map(|r| r["time"].as_i64().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] == resolution), "{timeframe}: rows {resolution} s apart");
            let newest = common::fresh_row(&list, "memtotal").unwrap_or_else(|| panic!("{timeframe} {cf}: no fresh row in {list:?}"));
            assert!(newest["memtotal"].as_f64().unwrap() > 0.0 && newest["maxcpu"].as_f64().unwrap() >= 1.0, "{timeframe} {cf}: {newest}");
            // What is not known is left out, as PVE does: the oldest rows predate this node.
            assert!(list[0].get("cpu").is_none(), "{timeframe} {cf}: {}", list[0]);
        }
    }
    let storage = common::cluster::wait_data(&node, &t, "/nodes/localhost/storage/local/rrddata?timeframe=hour", "the local storage's size", |d| {
        d.as_array().and_then(|l| common::fresh_row(l, "total")).is_some_and(|r| r["total"].as_f64().unwrap_or(0.0) > 0.0 && r["used"].is_number())
    })
    .await;
    assert_eq!(storage.as_array().unwrap().len(), 70);

    let before = a_complete_minute(&node, &t).await;
    assert!(node.terminate().success());
    let node = Node::spawn(&data, &opts);
    let hour = rows(&node, &t, "/nodes/localhost/rrddata?timeframe=hour").await;
    let after = hour.iter().find(|r| r["time"] == before["time"]).expect("the minute is still in the hour's window");
    assert_eq!(after, &before, "the minute measured before the restart comes back unchanged");
    for (timeframe, _, _) in TIMEFRAMES {
        let list = rows(&node, &t, &format!("/nodes/localhost/rrddata?timeframe={timeframe}&cf=MAX")).await;
        assert!(list.iter().any(|r| r["cpu"].is_number()), "{timeframe} after the restart");
    }

    let (status, body) = node.get(&t, "/nodes/localhost/rrddata?timeframe=hour&cf=MIN").await;
    assert_eq!(status, 400);
    assert!(body["errors"]["cf"].as_str().unwrap().contains("enumeration"), "{body}");
    let (status, _) = node.get(&t, "/nodes/localhost/storage/nosuch/rrddata?timeframe=hour").await;
    assert_ne!(status, 200);
}
