//! Facts about the machine the node runs on, read from `/proc` and the kernel. Read-only; no
//! state of its own.

pub mod network;
pub mod proc_stats;
