//! Test harness: start the real `corral` binary on a temporary data dir and a free loopback
//! port, and talk to it over HTTPS, trusting only the node's own CA.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod cluster;
pub mod lab;

pub const ROOT_PASSWORD: &str = "test-root-pw";

/// Where a node's API answers, and its data dir (for its CA): enough to talk to it.
pub struct Endpoint {
    pub addr: SocketAddr,
    pub fingerprint: String,
    pub dir: PathBuf,
}

/// A daemon this test started (and kills when dropped).
pub struct Node {
    pub child: Child,
    endpoint: Endpoint,
    _tmp: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Node {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

pub struct Options {
    pub root_password: Option<&'static str>,
    pub listen: &'static str,
    pub node_name: &'static str,
    /// A failure to inject (`CORRAL_FAIL_AT`), for tests of what a failed step leaves behind.
    pub fail_at: Option<&'static str>,
    /// `--key-rotation-secs` (default: PVE's day).
    pub key_rotation_secs: Option<u64>,
}

impl Options {
    pub fn named(node_name: &'static str, listen: &'static str) -> Self {
        Self { node_name, listen, ..Self::default() }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self { root_password: Some(ROOT_PASSWORD), listen: "127.0.0.1:0", node_name: "testnode", fail_at: None, key_rotation_secs: None }
    }
}

pub fn corral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corral"))
}

impl Node {
    pub fn start() -> Node {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut node = Self::spawn(&dir, &opts);
        node._tmp = Some(tmp);
        node
    }

    /// Start on an existing data dir (restart).
    pub fn spawn(dir: &Path, opts: &Options) -> Node {
        let mut cmd = corral();
        cmd.args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--listen", opts.listen, "--node-name", opts.node_name, "--auth-fail-delay-ms", "20", "--stats-interval", "1", "--gossip-port", "0"])
            .arg("--ssh-dir")
            .arg(dir.join("ssh-home"))
            .env("CORRAL_LOG", std::env::var("CORRAL_TEST_LOG").unwrap_or_else(|_| "warn,openraft=off".into()))
            .arg("--site-root")
            .arg(dir.join("no-site"))
            .env_remove("CORRAL_ROOT_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(pw) = opts.root_password {
            cmd.env("CORRAL_ROOT_PASSWORD", pw);
        }
        if let Some(secs) = opts.key_rotation_secs {
            cmd.args(["--key-rotation-secs", &secs.to_string()]);
        }
        match opts.fail_at {
            Some(point) => cmd.env("CORRAL_FAIL_AT", point),
            None => cmd.env_remove("CORRAL_FAIL_AT"),
        };
        let mut child = cmd.spawn().expect("spawn corral");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("corral did not report listening within 60 s"));
            if let Some(rest) = line.split("listening on https://").nth(1) {
                let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
                let fingerprint = rest.split("fingerprint ").nth(1).unwrap().trim_end_matches(')').to_string();
                return Node { child, endpoint: Endpoint { addr, fingerprint, dir: dir.to_path_buf() }, _tmp: None };
            }
        }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

}

/// Wait until `cond` holds, asking again every 100 ms; panic with `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    while !cond().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Endpoint {
    /// One value from the node's database, read from outside (read-only), for what the API
    /// does not show: the Raft log, the node's own secrets, the store's raw documents.
    pub async fn db_scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        let url = format!("sqlite://{}?mode=ro", self.dir.join("corral.db").display());
        let db = sqlx::SqlitePool::connect(&url).await.unwrap();
        let value = sqlx::query_scalar(sql).fetch_one(&db).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        db.close().await;
        value
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.addr, path)
    }

    pub fn api(&self, path: &str) -> String {
        self.url(&format!("/api2/json{path}"))
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("pki/ca.pem")).expect("ca.pem")
    }

    /// An HTTPS client that trusts only this node's CA.
    pub fn client(&self) -> reqwest::Client {
        self.client_from(None)
    }

    pub fn client_from(&self, local: Option<&str>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).unwrap();
        let mut b = reqwest::Client::builder().tls_built_in_root_certs(false).add_root_certificate(ca).cookie_store(true).redirect(reqwest::redirect::Policy::none());
        if let Some(ip) = local {
            b = b.local_address(Some(ip.parse().unwrap()));
        }
        b.build().unwrap()
    }

    pub async fn login(&self) -> Ticket {
        let resp = self
            .client()
            .post(self.api("/access/ticket"))
            .form(&[("username", "root@pam"), ("password", ROOT_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        Ticket {
            ticket: body["data"]["ticket"].as_str().unwrap().to_string(),
            csrf: body["data"]["CSRFPreventionToken"].as_str().unwrap().to_string(),
        }
    }

    /// GET an API path with a ticket; status and parsed body.
    pub async fn get(&self, t: &Ticket, path: &str) -> (u16, serde_json::Value) {
        json(self.client().get(self.api(path)).header("Cookie", t.cookie()).send().await.unwrap()).await
    }

    /// POST form parameters with a ticket and its CSRF token.
    pub async fn post(&self, t: &Ticket, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let req = self.client().post(self.api(path)).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).form(form);
        json(req.send().await.unwrap()).await
    }

    /// PUT form parameters with a ticket and its CSRF token.
    pub async fn put(&self, t: &Ticket, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let req = self.client().put(self.api(path)).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf).form(form);
        json(req.send().await.unwrap()).await
    }

    /// DELETE an API path with a ticket and its CSRF token.
    pub async fn delete(&self, t: &Ticket, path: &str) -> (u16, serde_json::Value) {
        let req = self.client().delete(self.api(path)).header("Cookie", t.cookie()).header("CSRFPreventionToken", &t.csrf);
        json(req.send().await.unwrap()).await
    }

    /// Follow a task until it stops (60 s at most); its exit status and log lines.
    pub async fn wait_task(&self, t: &Ticket, upid: &str) -> (String, Vec<String>) {
        let node = upid.split(':').nth(1).unwrap().to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(t, &format!("/nodes/{node}/tasks/{upid}/status")).await;
            assert_eq!(status, 200, "{body}");
            if body["data"]["status"] == "stopped" {
                let exit = body["data"]["exitstatus"].as_str().unwrap().to_string();
                let (_, log) = self.get(t, &format!("/nodes/{node}/tasks/{upid}/log?limit=1000")).await;
                let lines = log["data"].as_array().unwrap().iter().map(|l| l["t"].as_str().unwrap().to_string()).collect();
                return (exit, lines);
            }
            assert!(std::time::Instant::now() < deadline, "task {upid} still running after 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A task-starting call's answer: assert it started and ended OK; the task's log.
    pub async fn task_ok(&self, t: &Ticket, answer: (u16, serde_json::Value)) -> Vec<String> {
        let (status, body) = answer;
        assert_eq!(status, 200, "{body}");
        let (exit, log) = self.wait_task(t, body["data"].as_str().unwrap()).await;
        assert_eq!(exit, "OK", "{log:?}");
        log
    }

    /// The raw HTTP/1.1 status line of a request (reqwest hides custom reason phrases).
    pub async fn status_line(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile_certs(&self.ca_pem()) {
            roots.add(cert).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let mut req = format!("{method} /api2/json{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n", self.addr, body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).lines().next().unwrap_or_default().to_string()
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem).map(|c| c.unwrap()).collect()
}


impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Ticket {
    pub ticket: String,
    pub csrf: String,
}

impl Ticket {
    pub fn cookie(&self) -> String {
        format!("PVEAuthCookie={}", self.ticket)
    }
}

pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// The newest graph row that knows `field`, if it is one of the last two: the row of the minute
/// just begun is empty until its first sample (a second in tests), as in PVE's own `rrddata`.
pub fn fresh_row<'a>(rows: &'a [serde_json::Value], field: &str) -> Option<&'a serde_json::Value> {
    rows.iter().rev().take(2).find(|r| r[field].is_number())
}
