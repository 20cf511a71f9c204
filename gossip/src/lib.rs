//! Liveness for corral: SWIM membership (the `foca` crate) over UDP on each node's link address.
//! Gossip says who is alive; the Raft store says what is true — nothing here decides
//! configuration, it only reports which peers answer, how fast, and their small status.
//!
//! Layering: depends on no other corral crate. `seal` protects datagrams, `identity` names a
//! member, `frame` is the datagram content, `agent` runs the socket and foca.

mod agent;
mod frame;
pub mod identity;
pub mod seal;

pub use frame::Frame;
pub use agent::{CounterSnapshot, Gossip, GossipConfig, NodeStatus, PeerView, StorageUsage, UNDECIDED_FOR};
