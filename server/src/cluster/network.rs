//! Raft's transport to peers. Node-to-node HTTPS with mutual TLS arrives with joining; until a
//! second node exists, every peer is unreachable, which Raft treats as a down node.

use corral_consensus::{NodeAddr, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};

pub struct PeerNetwork;

pub struct PeerClient {
    target: NodeAddr,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;
    async fn new_client(&mut self, _target: u64, node: &NodeAddr) -> PeerClient {
        PeerClient { target: node.clone() }
    }
}

impl PeerClient {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<u64, NodeAddr, E> {
        RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!("no transport to {} yet", self.target))))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(&mut self, _: AppendEntriesRequest<TypeConfig>, _: RPCOption) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _: InstallSnapshotRequest<TypeConfig>,
        _: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>> {
        Err(self.unreachable())
    }

    async fn vote(&mut self, _: VoteRequest<u64>, _: RPCOption) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        Err(self.unreachable())
    }
}
