//! QEMU guests: [`spec`] turns a guest's resolved configuration into a QEMU command line,
//! [`process`] starts QEMU daemonized (it outlives corral), finds it again, watches it and
//! stops it, [`qmp`] talks to its monitor. Every wait has a deadline.
//!
//! Must not speak HTTP, read the configuration store or know about storages: the server
//! resolves volumes to files and URLs before it hands a [`spec::VmSpec`] over.

pub mod process;
pub mod qmp;
pub mod spec;

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{0}")]
    Start(String),
    #[error("QMP: {0}")]
    Qmp(String),
    #[error("QMP command '{command}' failed - {message}")]
    Command { command: String, message: String },
    #[error("{what} timed out after {} s", .after.as_secs_f32())]
    Timeout { what: String, after: Duration },
    #[error("{0}")]
    Io(String),
}

pub type Result<T, E = QemuError> = std::result::Result<T, E>;
