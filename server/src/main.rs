#![recursion_limit = "256"]
//! `corral`: the node daemon and its command line.

/// Log filter without `CORRAL_LOG`: openraft's per-retry complaints about an unreachable peer
/// are left out (corral logs reachability changes itself).
pub const DEFAULT_LOG_FILTER: &str = "info,openraft=error,openraft::replication=off";

mod api;
mod atomic_write;
mod auth;
mod changed_error;
mod cli;
mod cluster;
mod cluster_log;
mod console;
mod daemon;
mod db;
mod events;
mod guests;
mod ha;
mod host;
mod https;
mod node_stats;
mod pki;
mod rrd_store;
mod state;
mod storage;
mod task_list;
mod tasks;
mod vm_runtime;

fn main() -> std::process::ExitCode {
    keep_large_allocations_out_of_the_heap();
    cli::main()
}

/// Each password check allocates argon2's 19 MiB work area. glibc raises its mmap threshold after
/// the first such block is freed and then keeps later ones in the heap for good, so an idle
/// daemon that served a few logins would sit on ~100 MiB. A fixed threshold returns them.
fn keep_large_allocations_out_of_the_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
