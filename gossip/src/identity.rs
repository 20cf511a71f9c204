//! Who a gossip member is: the node's name (unique in the cluster), where its gossip socket
//! listens, and a generation that grows with every start so a restarted node wins over the
//! memory of its previous life.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    pub node: String,
    pub addr: SocketAddr,
    pub generation: u64,
}

impl foca::Identity for Member {
    type Addr = String;

    /// A node declared down (a partition healed, a long pause) comes back as its next
    /// generation instead of staying out of the cluster.
    fn renew(&self) -> Option<Self> {
        Some(Self { generation: self.generation + 1, ..self.clone() })
    }

    fn addr(&self) -> String {
        self.node.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}
