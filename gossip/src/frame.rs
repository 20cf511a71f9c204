//! What travels inside a sealed datagram: either a SWIM message for foca, or one of corral's
//! own status probes, which measure the round trip to a peer and carry each side's status.

use serde::{Deserialize, Serialize};

use crate::NodeStatus;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    /// Bytes for `Foca::handle_data`.
    Swim(Vec<u8>),
    Probe { from: String, id: u64, status: NodeStatus },
    Reply { from: String, id: u64, status: NodeStatus },
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("frames always serialise")
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}
