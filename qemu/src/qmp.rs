//! A QMP client: one connection per conversation (QEMU serves one QMP client at a time), the
//! capabilities handshake, commands answered in order, asynchronous events skipped. Every read
//! is bounded in size and every conversation in time by the caller's deadline.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::{QemuError, Result};

/// Longest QMP message corral reads (a `query-*` answer is a few KiB).
const MAX_LINE: usize = 1024 * 1024;

pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Qmp {
    /// Connect and negotiate capabilities.
    pub async fn connect(socket: &Path) -> Result<Self> {
        let stream = UnixStream::connect(socket).await.map_err(|e| QemuError::Qmp(format!("connect {}: {e}", socket.display())))?;
        let (read, write) = stream.into_split();
        let mut qmp = Self { reader: BufReader::new(read), writer: write };
        let greeting = qmp.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(QemuError::Qmp(format!("unexpected greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    async fn read_message(&mut self) -> Result<Value> {
        let mut line = Vec::new();
        let mut limited = tokio::io::AsyncReadExt::take(&mut self.reader, MAX_LINE as u64 + 1);
        let n = limited.read_until(b'\n', &mut line).await.map_err(|e| QemuError::Qmp(format!("read: {e}")))?;
        if n == 0 {
            return Err(QemuError::Qmp("QMP connection closed".into()));
        }
        if line.len() > MAX_LINE {
            return Err(QemuError::Qmp(format!("QMP message over {MAX_LINE} bytes")));
        }
        serde_json::from_slice(&line).map_err(|e| QemuError::Qmp(format!("malformed QMP message: {e}")))
    }

    /// Run a command; its `return` value, or its `error` as [`QemuError::Command`].
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut request = json!({ "execute": command });
        if let Some(args) = arguments {
            request["arguments"] = args;
        }
        let mut text = serde_json::to_vec(&request).expect("JSON values serialise");
        text.push(b'\n');
        self.writer.write_all(&text).await.map_err(|e| QemuError::Qmp(format!("write: {e}")))?;
        loop {
            let message = self.read_message().await?;
            if message.get("event").is_some() {
                continue;
            }
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let desc = error.get("desc").and_then(Value::as_str).unwrap_or("unknown error");
                return Err(QemuError::Command { command: command.to_string(), message: desc.to_string() });
            }
            return Err(QemuError::Qmp(format!("unexpected QMP answer: {message}")));
        }
    }
}

/// One command in a fresh conversation, under `deadline`. `quit` may close the socket before
/// answering; that counts as done.
pub async fn command(socket: &Path, deadline: Duration, name: &str, arguments: Option<Value>) -> Result<Value> {
    let work = async {
        let mut qmp = Qmp::connect(socket).await?;
        match qmp.execute(name, arguments).await {
            Err(QemuError::Qmp(why)) if name == "quit" && why.contains("closed") => Ok(Value::Null),
            other => other,
        }
    };
    tokio::time::timeout(deadline, work).await.map_err(|_| QemuError::Timeout { what: format!("QMP '{name}'"), after: deadline })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::UnixListener;

    /// A fake monitor that answers with the given lines after each request it reads.
    async fn fake(dir: &Path, script: Vec<&'static str>) -> std::path::PathBuf {
        let path = dir.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.unwrap();
            for answer in script {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        path
    }

    #[tokio::test]
    async fn events_are_skipped_and_errors_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake(
            dir.path(),
            vec![
                "{\"return\": {}}\n",
                "{\"event\": \"RESUME\"}\n{\"return\": {\"status\": \"running\", \"running\": true}}\n",
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such device\"}}\n",
            ],
        )
        .await;
        let mut qmp = Qmp::connect(&path).await.unwrap();
        let status = qmp.execute("query-status", None).await.unwrap();
        assert_eq!(status["status"], "running");
        let err = qmp.execute("device_del", Some(json!({"id": "x"}))).await.unwrap_err();
        assert!(matches!(err, QemuError::Command { ref message, .. } if message == "no such device"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_monitor_runs_into_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let err = command(&path, Duration::from_millis(200), "query-status", None).await.unwrap_err();
        assert!(matches!(err, QemuError::Timeout { .. }), "{err}");
    }
}
