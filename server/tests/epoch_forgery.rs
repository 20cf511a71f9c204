//! A forged cluster epoch in gossip does not wipe a node's store. Anyone holding the authkey (a
//! former member, a backup) can seal a status claiming a newer epoch for a member; the node
//! asks that member over the node channel, hears the real epoch and ignores the claim.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::cluster::{cluster_of, wait_status};
use common::Node;
use corral_gossip::seal::{SealKey, Sealer};
use corral_gossip::{Frame, NodeStatus};

async fn authkey(node: &Node) -> Vec<u8> {
    let text: String = node.db_scalar("SELECT value FROM config_kv WHERE key = 'priv/authkey'").await;
    let b64: String = serde_json::from_str(&text).unwrap();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[tokio::test]
async fn a_forged_epoch_in_gossip_does_not_wipe_the_store() {
    let (nodes, t1) = cluster_of(&[("e1", "127.0.28.1"), ("e2", "127.0.28.2")]).await;
    let n1 = &nodes[0];

    // The forger: e2's name, a claimed epoch of 99, sealed with the cluster's authkey, sent to
    // e1's gossip socket (the API's port number, UDP) over and over.
    let key = SealKey::derive(&authkey(n1).await);
    let sealer = Sealer::default();
    let socket = tokio::net::UdpSocket::bind("127.0.28.9:0").await.unwrap();
    let forged = |id| Frame::Probe { from: "e2".into(), id, status: NodeStatus { version: "0.1.0".into(), epoch: 99, ..Default::default() } };
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in 1.. {
        socket.send_to(&sealer.seal(&key, &forged(id).encode()), n1.addr).await.unwrap();
        let (_, log) = n1.get(&t1, "/cluster/log").await;
        let refused = log["data"].as_array().unwrap().iter().any(|e| e["msg"].as_str().unwrap().starts_with("ignored cluster epoch 99 claimed for e2"));
        if refused {
            break;
        }
        assert!(Instant::now() < deadline, "e1 never checked the claim: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // e1 kept its store and its cluster: both members, quorate, writes go through.
    wait_status(n1, &t1, 2, 1).await;
    let (status, body) = n1.post(&t1, "/access/users/root@pam/token/after-forgery", &[("privsep", "0")]).await;
    assert_eq!(status, 200, "{body}");
    let (_, nodes) = n1.get(&t1, "/cluster/config/nodes").await;
    assert_eq!(nodes["data"].as_array().unwrap().len(), 2);
}
