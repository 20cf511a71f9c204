//! How the CLI talks to its own node's daemon: HTTPS to the address in the run-state file,
//! trusting only the node's CA, as `root@pam` with a ticket minted from the node's key (whoever
//! can read the data dir is root here, as PVE's `pvecm` runs as root).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use corral_api_types::Userid;
use serde_json::Value;

use crate::auth::{csrf, ticket, unix_now, AuthKeys};
use crate::cluster::peer_client::pve_data;
use crate::daemon::{database_path, run_state_path, RunState};
use crate::{db, pki};

pub struct LocalApi {
    client: reqwest::Client,
    base: String,
    ticket: String,
    csrf: String,
}

impl LocalApi {
    pub async fn connect(data_dir: &Path) -> anyhow::Result<Self> {
        let run: RunState = serde_json::from_slice(&std::fs::read(run_state_path(data_dir)).context("the daemon is not running (no run state)")?)?;
        let mut addr = run.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let ca = std::fs::read(pki::PkiPaths::new(data_dir).ca_cert).context("reading the node CA")?;
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .timeout(Duration::from_secs(30))
            .build()?;
        let keys = AuthKeys::load(&db::open(&database_path(data_dir)).await?).await?;
        let root = Userid::parse("root@pam").expect("constant userid");
        let now = unix_now();
        Ok(Self { client, base: format!("https://{addr}/api2/json"), ticket: ticket::issue(&keys, &root, now), csrf: csrf::issue(&keys, &root, now) })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.client.get(format!("{}{path}", self.base)).header("Cookie", format!("PVEAuthCookie={}", self.ticket)).send().await?;
        pve_data(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, String)]) -> anyhow::Result<Value> {
        self.write(reqwest::Method::POST, path, form).await
    }

    pub async fn put(&self, path: &str, form: &[(&str, String)]) -> anyhow::Result<Value> {
        self.write(reqwest::Method::PUT, path, form).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.write(reqwest::Method::DELETE, path, &[]).await
    }

    /// A write with the ticket and its CSRF token.
    async fn write(&self, method: reqwest::Method, path: &str, form: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Cookie", format!("PVEAuthCookie={}", self.ticket))
            .header("CSRFPreventionToken", &self.csrf);
        if method != reqwest::Method::DELETE {
            request = request.form(form);
        }
        pve_data(request.send().await?).await
    }

    /// Print a task's log as it grows; `Ok` if it ended with `TASK OK`.
    pub async fn follow_task(&self, upid: &str) -> anyhow::Result<()> {
        let node = upid.split(':').nth(1).unwrap_or("localhost");
        let mut printed = 0usize;
        loop {
            let status = self.get(&format!("/nodes/{node}/tasks/{upid}/status")).await?;
            let log = self.get(&format!("/nodes/{node}/tasks/{upid}/log?start={printed}&limit=100000")).await?;
            for line in log.as_array().into_iter().flatten() {
                println!("{}", line["t"].as_str().unwrap_or_default());
                printed += 1;
            }
            if status["status"] == "stopped" {
                let exit = status["exitstatus"].as_str().unwrap_or_default();
                anyhow::ensure!(exit == "OK", "task failed: {exit}");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
