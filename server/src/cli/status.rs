//! `corral status`: the node's identity from its data dir and whether its daemon answers.
//! Exit status 0 when running, 3 when not (as `systemctl status`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::{run_state_path, RunState};
use crate::pki;

pub async fn run(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let cert = pki::PkiPaths::new(data_dir).node_cert;
    let Ok(pem) = std::fs::read_to_string(&cert) else {
        println!("data dir:    {}", data_dir.display());
        println!("state:       not initialised (run `corral serve` once)");
        return Ok(ExitCode::from(3));
    };
    let fingerprint = pki::fingerprint_of_pem(&pem)?;
    let run: Option<RunState> = std::fs::read(run_state_path(data_dir)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    println!("data dir:    {}", data_dir.display());
    println!("fingerprint: {fingerprint}");
    let Some(run) = run else {
        println!("daemon:      not running");
        return Ok(ExitCode::from(3));
    };
    println!("node:        {}", run.node);
    let mut probe = run.listen;
    if probe.ip().is_unspecified() {
        probe.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let answers = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(probe)).await.is_ok_and(|r| r.is_ok());
    if answers {
        println!("daemon:      running (pid {}) on https://{}", run.pid, run.listen);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("daemon:      not running (stale state from pid {})", run.pid);
        Ok(ExitCode::from(3))
    }
}
