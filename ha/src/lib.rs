//! corral's HA manager as pure logic: [`crm::Crm`] (one master decides where services run)
//! and [`lrm::Lrm`] (every node executes for its own services), both driven round by round
//! through the [`env::Env`] trait. Nothing here touches the OS, the network or a clock; the
//! daemon and the deterministic simulator ([`sim`]) provide the environment.

pub mod crm;
pub mod env;
pub mod lrm;
pub mod model;
pub mod select;
pub mod sim;

pub use env::{Component, Env, EnvError, Job, JobDone, JobKind, Level, NodeInfo};
pub use model::*;
