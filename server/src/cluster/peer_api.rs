//! The daemon calling another member's `/api2/json` as root, over the mutual-TLS node channel
//! (migration asks the target to receive a guest). The ticket is minted with the cluster's
//! shared keys, as request forwarding does.

use std::time::Duration;

use corral_api_types::Userid;
use serde_json::Value;

use crate::auth::{csrf, ticket, unix_now, AuthKeys};
use crate::cluster::{ClusterConfig, ClusterHandle};

/// What a call to a peer needs: the configuration (where the peer is), the node channel, and
/// the cluster's ticket keys.
pub struct Peers<'a> {
    pub db: &'a sqlx::SqlitePool,
    pub cluster: &'a ClusterHandle,
    pub keys: AuthKeys,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `method` `path` (below `/api2/json`) on `node` with form parameters; the answer's `data`.
pub async fn call(peers: &Peers<'_>, node: &str, method: reqwest::Method, path: &str, form: &[(&str, String)]) -> Result<Value, String> {
    let config = ClusterConfig::load(peers.db).await.map_err(|e| e.to_string())?.ok_or("this node is not in a cluster")?;
    let target = config.node(node).ok_or_else(|| format!("no such cluster node '{node}'"))?;
    let client = peers.cluster.tls().client(&target.name, target.cert_pin()).map_err(|e| e.to_string())?;
    let root = Userid::parse("root@pam").expect("constant userid");
    let (keys, now) = (&peers.keys, unix_now());
    let mut request = client
        .request(method.clone(), format!("{}/api2/json{path}", target.api))
        .timeout(CALL_TIMEOUT)
        .header(reqwest::header::COOKIE, format!("PVEAuthCookie={}", ticket::issue(keys, &root, now)))
        .header("CSRFPreventionToken", csrf::issue(keys, &root, now));
    if method != reqwest::Method::GET {
        request = request.form(form);
    }
    let response = request.send().await.map_err(|e| format!("node '{node}': {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("node '{node}': {e}"))?;
    if status.is_success() {
        Ok(body["data"].clone())
    } else {
        Err(body["message"].as_str().unwrap_or("error").trim_end().to_string())
    }
}

/// Wait for a task on another node to end; its log lines if it ended OK.
pub async fn wait_task(peers: &Peers<'_>, node: &str, upid: &str, within: Duration) -> Result<Vec<String>, String> {
    let deadline = tokio::time::Instant::now() + within;
    let encoded = percent_encoding::utf8_percent_encode(upid, percent_encoding::NON_ALPHANUMERIC).to_string();
    loop {
        let status = call(peers, node, reqwest::Method::GET, &format!("/nodes/{node}/tasks/{encoded}/status"), &[]).await?;
        if status["status"] == "stopped" {
            let log = call(peers, node, reqwest::Method::GET, &format!("/nodes/{node}/tasks/{encoded}/log?limit=500"), &[]).await?;
            let lines = log.as_array().map(|l| l.iter().filter_map(|e| e["t"].as_str().map(String::from)).collect()).unwrap_or_default();
            return match status["exitstatus"].as_str() {
                Some("OK") => Ok(lines),
                other => Err(other.unwrap_or("task failed").to_string()),
            };
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("task {upid} on '{node}' still running after {} s", within.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
