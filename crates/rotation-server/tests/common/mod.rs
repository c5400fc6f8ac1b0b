//! Shared by the server tests: start the real binary on 127.0.0.1:0, call it, stop it.
#![allow(dead_code)] // each test binary uses a part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `rotation-server`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary with `config` written into a new directory.
pub fn start(config: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rotation.toml"), config).expect("config");
    start_in(dir)
}

pub fn start_in(dir: tempfile::TempDir) -> Server {
    let config = dir.path().join("rotation.toml");
    spawn(&config, dir)
}

/// Start the binary on `config`; `dir` is kept alive with the server.
pub fn spawn(config: &std::path::Path, dir: tempfile::TempDir) -> Server {
    spawn_on(config, dir, "127.0.0.1:0")
}

/// [`spawn`] listening on `listen`; the base URL is on 127.0.0.1 whatever the address bound.
pub fn spawn_on(config: &std::path::Path, dir: tempfile::TempDir, listen: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rotation-server"))
        .env("ROTATION_LOG", "debug")
        .arg("--config")
        .arg(config)
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("server.log")).expect("log file"))
        .spawn()
        .expect("spawn rotation-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()));
    Server {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

/// One request; the body as JSON (or as a JSON string when it is not JSON).
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.parse().expect("method"), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Send `signal` (`HUP`, `TERM`) to the server.
pub fn signal(server: &Server, signal: &str) {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill")
            .success()
    );
}

/// The server's log so far.
pub fn log(server: &Server) -> String {
    std::fs::read_to_string(server._dir.path().join("server.log")).unwrap_or_default()
}

/// SIGTERM, then the exit code (None: still running after 10 s).
pub fn sigterm(server: &mut Server) -> Option<i32> {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Reads `stream` until the server closes it (end of stream or reset) and returns how long
/// after `opened` that was; panics if it is still open `bound` after `opened`.
pub async fn closed_within<S>(
    stream: &mut S,
    opened: std::time::Instant,
    bound: Duration,
) -> Duration
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::from_std(opened + bound);
    match tokio::time::timeout_at(deadline, stream.read_to_end(&mut seen)).await {
        Ok(_) => opened.elapsed(),
        Err(_) => panic!(
            "still open {bound:?} after it was opened (it answered {:?})",
            String::from_utf8_lossy(&seen)
        ),
    }
}
