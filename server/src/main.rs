//! `corral`: the node daemon and its command line.

mod api;
mod auth;
mod cli;
mod cluster_log;
mod console;
mod daemon;
mod db;
mod events;
mod host;
mod node_stats;
mod pki;
mod state;

fn main() -> std::process::ExitCode {
    cli::main()
}
