//! A one-node Raft on the SQLite store: initialise, write, read back, restart, write again.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use corral_consensus::{Command, ConfigStateMachine, NodeAddr, Raft, RaftLogStore, TypeConfig, Op};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use serde_json::json;

/// A single node never talks to peers.
struct NoPeers;

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;
    async fn new_client(&mut self, _target: u64, _node: &NodeAddr) -> NoPeers {
        NoPeers
    }
}

fn unreachable<E: std::error::Error>() -> RPCError<u64, NodeAddr, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other("no peers")))
}

impl RaftNetwork<TypeConfig> for NoPeers {
    async fn append_entries(&mut self, _: AppendEntriesRequest<TypeConfig>, _: RPCOption) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(unreachable())
    }
    async fn install_snapshot(
        &mut self,
        _: InstallSnapshotRequest<TypeConfig>,
        _: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>> {
        Err(unreachable())
    }
    async fn vote(&mut self, _: VoteRequest<u64>, _: RPCOption) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(unreachable())
    }
}

async fn start(db: &sqlx::SqlitePool) -> Raft {
    let config = Arc::new(openraft::Config { cluster_name: "test".into(), ..Default::default() }.validate().unwrap());
    Raft::new(1, config, NoPeers, RaftLogStore::new(db.clone()), ConfigStateMachine::new(db.clone())).await.unwrap()
}

/// A fresh store in `dir` with a one-node Raft that has become leader.
async fn one_node_leader(dir: &std::path::Path) -> (sqlx::SqlitePool, Raft) {
    let db = common::database(dir).await;
    let raft = start(&db).await;
    let me = NodeAddr { name: "n1".into(), api: "https://127.0.0.1:8006".into(), fingerprint: String::new() };
    raft.initialize(BTreeMap::from([(1, me)])).await.unwrap();
    raft.wait(Some(Duration::from_secs(10))).current_leader(1, "leader").await.unwrap();
    (db, raft)
}

#[tokio::test]
async fn writes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, raft) = one_node_leader(dir.path()).await;
    raft.client_write(Command::put("cluster/config", json!({"name": "demo"}))).await.unwrap();
    assert_eq!(corral_consensus::read(&db, "cluster/config").await.unwrap(), Some(json!({"name": "demo"})));
    raft.shutdown().await.unwrap();

    let raft = start(&db).await;
    raft.wait(Some(Duration::from_secs(10))).current_leader(1, "leader again").await.unwrap();
    let written = raft.client_write(Command::put("cluster/version", json!(2))).await.unwrap();
    assert!(written.data.index > 1);
    assert_eq!(corral_consensus::read(&db, "cluster/config").await.unwrap(), Some(json!({"name": "demo"})));
    let all = corral_consensus::read_prefix(&db, "cluster/").await.unwrap();
    assert_eq!(all.len(), 2);
    raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn guarded_commands_apply_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, raft) = one_node_leader(dir.path()).await;
    let claim = |expect: Option<serde_json::Value>, holder: &str| {
        Command::new(vec![
            Op::Expect { key: "leases/x".into(), value: expect },
            Op::Put { key: "leases/x".into(), value: json!({ "holder": holder }) },
            Op::Put { key: format!("seen/{holder}"), value: json!(true) },
        ])
    };
    assert!(raft.client_write(claim(None, "a")).await.unwrap().data.applied, "absent as expected");
    let lost = raft.client_write(claim(None, "b")).await.unwrap().data;
    assert!(!lost.applied, "b expected the lease to be free");
    assert_eq!(corral_consensus::read(&db, "leases/x").await.unwrap(), Some(json!({ "holder": "a" })));
    assert_eq!(corral_consensus::read(&db, "seen/b").await.unwrap(), None, "nothing of a refused command applies");
    assert!(raft.client_write(claim(Some(json!({ "holder": "a" })), "b")).await.unwrap().data.applied, "b took it over knowing a held it");
    assert_eq!(corral_consensus::read(&db, "leases/x").await.unwrap(), Some(json!({ "holder": "b" })));
    raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retried_request_gets_its_first_result_and_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, raft) = one_node_leader(dir.path()).await;
    let claim = |request: &str| Command {
        request: Some(request.to_string()),
        ..Command::new(vec![Op::Expect { key: "vm/100".into(), value: None }, Op::Put { key: "vm/100".into(), value: json!("mine") }])
    };
    let first = raft.client_write(claim("req-1")).await.unwrap().data;
    assert!(first.applied);
    // The same request again (its answer was lost, the writer retried): the first result, not
    // "not applied" because of its own earlier write.
    let retry = raft.client_write(claim("req-1")).await.unwrap().data;
    assert_eq!(retry, first);
    // Another request with the same guard is refused as before.
    assert!(!raft.client_write(claim("req-2")).await.unwrap().data.applied);
    // Only the latest requests are remembered.
    for i in 0..corral_consensus::RECENT_REQUESTS {
        let mut put = Command::put("counter", json!(i));
        put.request = Some(format!("fill-{i}"));
        raft.client_write(put).await.unwrap();
    }
    let recent = corral_consensus::read(&db, corral_consensus::KEY_RECENT_REQUESTS).await.unwrap().unwrap();
    assert_eq!(recent.as_array().unwrap().len(), corral_consensus::RECENT_REQUESTS);
    assert!(!recent.to_string().contains("req-1"), "the oldest were dropped");
    raft.shutdown().await.unwrap();
}
