//! Test-only helpers for tests that need a real OpenBao (Vault API compatible) server or a moto
//! server (AWS Secrets Manager).
//!
//! - [`Bao`]: the shared dev server that `cargo xtask ci` starts for the whole test run, found
//!   through `VAULT_ADDR`, `VAULT_TOKEN` and `ROTATION_TEST_BAO` (the `bao` binary). Each test
//!   takes its own mount ([`unique`] + [`Bao::enable_kv2`]) so tests never see each other's data.
//! - [`RaftBao`]: a private server with persistent raft storage that a test may stop and restart
//!   (outage and crash-recovery tests). Dev mode cannot do this: it keeps everything in memory.
//! - [`Moto`]: the shared moto server that `cargo xtask ci` starts, found through
//!   `ROTATION_TEST_MOTO` (the endpoint URL; `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   `AWS_REGION` are set to test values). Give every secret a [`unique`] name.
//! - [`PrivateMoto`]: a moto server of one test, for IAM enforcement (global to a server).
//!
//! There is no skipping: without the variables the helpers panic, so a plain `cargo test` fails
//! loudly instead of silently testing nothing. See `docs/testing.md`.
//!
//! Everything here panics on failure (with the CLI's stderr), as test helpers should.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod private_moto;
pub use private_moto::{AccessKey, PrivateMoto};

const HOW_TO_RUN: &str = "run the tests through `cargo xtask ci`, which starts OpenBao and \
                          moto (see docs/testing.md)";
/// Upper bound for every wait on a server (start, unseal, leadership, mount ready).
const TIMEOUT: Duration = Duration::from_secs(30);

/// An OpenBao server and the means to drive it with its own CLI.
#[derive(Clone, Debug)]
pub struct Bao {
    /// Base URL, e.g. `http://127.0.0.1:8200`.
    pub addr: String,
    /// A token with root privileges.
    pub token: String,
    /// Path of the `bao` binary.
    pub bin: PathBuf,
}

impl Bao {
    /// The dev server started by `cargo xtask ci`.
    ///
    /// # Panics
    /// If `VAULT_ADDR`, `VAULT_TOKEN` or `ROTATION_TEST_BAO` is missing or empty: run the tests
    /// through `cargo xtask ci`.
    pub fn from_env() -> Bao {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Bao {
        let var = |name: &str| {
            get(name)
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| panic!("{name} is not set: {HOW_TO_RUN}"))
        };
        Bao {
            addr: var("VAULT_ADDR"),
            token: var("VAULT_TOKEN"),
            bin: PathBuf::from(var("ROTATION_TEST_BAO")),
        }
    }

    /// Runs `bao ARGS` against this server and returns its output, whatever the exit status.
    ///
    /// Only `VAULT_ADDR` and `VAULT_TOKEN` reach the CLI (all other `VAULT_*`/`BAO_*` variables
    /// are removed) and `HOME` is a private directory, so nothing reads or writes
    /// `~/.vault-token` or `~/.vault`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", self.bin.display()))
    }

    /// Like [`Bao::cli`], with `stdin` fed to the command (for arguments given as `-`).
    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", self.bin.display()));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin.as_bytes())
            .expect("write to bao's stdin");
        child.wait_with_output().expect("wait for bao")
    }

    /// Runs `bao ARGS` and returns its stdout.
    ///
    /// # Panics
    /// If the command fails; the message carries its stderr.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        checked(args, self.cli(args))
    }

    /// Enables a KV v2 engine at `mount` and waits until it serves requests.
    pub fn enable_kv2(&self, mount: &str) {
        self.cli_ok(&["secrets", "enable", &format!("-path={mount}"), "kv-v2"]);
        // Vault's KV v2 can answer "Upgrading from non-versioned to versioned data" for a
        // moment after the mount (not seen with OpenBao 2.7, but cheap to rule out): its
        // config endpoint only works once the mount is ready.
        let config = format!("{mount}/config");
        wait_for(&format!("KV v2 mount {mount} to serve"), || {
            self.cli(&["read", &config]).status.success()
        });
    }

    /// Enables a KV v1 (unversioned) engine at `mount`.
    pub fn enable_kv1(&self, mount: &str) {
        self.cli_ok(&[
            "secrets",
            "enable",
            &format!("-path={mount}"),
            "-version=1",
            "kv",
        ]);
    }

    /// Sets a KV v2 mount's `max_versions` and/or `cas_required` (`bao write MOUNT/config`).
    pub fn kv_config(&self, mount: &str, max_versions: Option<u32>, cas_required: Option<bool>) {
        let mut args = vec!["write".to_owned(), format!("{mount}/config")];
        args.extend(max_versions.map(|n| format!("max_versions={n}")));
        args.extend(cas_required.map(|b| format!("cas_required={b}")));
        if args.len() > 2 {
            self.cli_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    /// Writes the ACL policy `policy_name` from HCL and returns a new token that has it (plus
    /// the `default` policy).
    pub fn create_token(&self, policy_name: &str, policy_hcl: &str) -> String {
        let args = ["policy", "write", policy_name, "-"];
        checked(&args, self.cli_stdin(&args, policy_hcl));
        let json = self.cli_ok(&[
            "token",
            "create",
            &format!("-policy={policy_name}"),
            "-format=json",
        ]);
        let parsed: Value = serde_json::from_str(&json)
            .unwrap_or_else(|err| panic!("`bao token create` printed no JSON ({err}): {json}"));
        parsed["auth"]["client_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no .auth.client_token in {json}"))
            .to_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        clean_env(&mut cmd);
        cmd.env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", &self.token);
        cmd
    }
}

/// The moto server (AWS Secrets Manager emulator) started by `cargo xtask ci`.
///
/// The AWS SDK reads the test credentials and region from the environment xtask sets; point it
/// at [`Moto::endpoint`] (`endpoint_url`). moto differs from AWS in places: see
/// `docs/testing.md`.
#[derive(Clone, Debug)]
pub struct Moto {
    /// Base URL, e.g. `http://127.0.0.1:5000`.
    pub endpoint: String,
}

impl Moto {
    /// The server started by `cargo xtask ci`.
    ///
    /// # Panics
    /// If `ROTATION_TEST_MOTO` is missing or empty: run the tests through `cargo xtask ci`.
    pub fn from_env() -> Moto {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Moto {
        let endpoint = get("ROTATION_TEST_MOTO")
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| panic!("ROTATION_TEST_MOTO is not set: {HOW_TO_RUN}"));
        Moto { endpoint }
    }

    /// Deletes everything on the server (`POST /moto-api/reset`).
    ///
    /// The server is shared by every test of the run, including the ones running in parallel
    /// in the same binary: prefer [`unique`] names and reset only where nothing else can be
    /// using the server.
    ///
    /// # Panics
    /// If the endpoint is not `http://HOST:PORT` or the server does not answer 200.
    pub fn reset(&self) {
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .unwrap_or_else(|| {
                panic!(
                    "ROTATION_TEST_MOTO must be http://HOST:PORT, not {}",
                    self.endpoint
                )
            });
        let (code, response) = http(authority, "POST", "/moto-api/reset")
            .unwrap_or_else(|err| panic!("POST {}/moto-api/reset failed: {err}", self.endpoint));
        assert_eq!(
            code, 200,
            "POST {}/moto-api/reset answered:\n{response}",
            self.endpoint
        );
    }
}

/// A name no other test (in this or any other test process) uses, e.g. `kv-1234-7-56789`:
/// `prefix`, process id, a per-process counter and the clock. Use path-safe prefixes.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() % 1_000_000_000);
    format!("{prefix}-{}-{n}-{micros}", std::process::id())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, release).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A private OpenBao server with raft storage in a temporary directory, which a test may stop
/// and restart: data survives, like a real server's. `secret/` is a KV v2 mount.
///
/// Dropping it kills the server and removes its storage.
pub struct RaftBao {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub addr: String,
    /// The root token from `bao operator init`.
    pub root_token: String,
    bao: Bao,
    unseal_key: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    // Dropped after `drop` has killed the server.
    _dir: tempfile::TempDir,
}

impl RaftBao {
    /// Starts, initialises (one unseal key) and unseals a new server, waits for raft
    /// leadership and enables `secret/` as KV v2.
    ///
    /// # Panics
    /// If `ROTATION_TEST_BAO` is missing (run the tests through `cargo xtask ci`) or the server
    /// does not come up within 30 s (the message carries the end of its log).
    pub fn start() -> RaftBao {
        let bin = std::env::var_os("ROTATION_TEST_BAO")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("ROTATION_TEST_BAO is not set: {HOW_TO_RUN}"));
        let dir = tempfile::Builder::new()
            .prefix("rotation-raft-bao-")
            .tempdir()
            .expect("create a temporary directory");
        let data = dir.path().join("raft");
        std::fs::create_dir(&data).expect("create the raft directory");
        let port = free_port();
        let cluster_port = std::iter::repeat_with(free_port)
            .find(|&p| p != port)
            .expect("a second free port");
        let config = dir.path().join("server.hcl");
        std::fs::write(&config, raft_config(&data, port, cluster_port))
            .expect("write the server config");

        let addr = format!("http://127.0.0.1:{port}");
        let mut server = RaftBao {
            bao: Bao {
                addr: addr.clone(),
                token: String::new(),
                bin,
            },
            addr,
            root_token: String::new(),
            unseal_key: String::new(),
            port,
            config,
            log: dir.path().join("server.log"),
            child: None,
            _dir: dir,
        };
        server.spawn();
        server.wait_health("to listen", |_| true);

        let json = server.bao.cli_ok(&[
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ]);
        let init: Value = serde_json::from_str(&json)
            .unwrap_or_else(|err| panic!("`bao operator init` printed no JSON ({err}): {json}"));
        let field = |value: &Value| {
            value
                .as_str()
                .unwrap_or_else(|| panic!("unexpected `bao operator init` output: {json}"))
                .to_owned()
        };
        server.unseal_key = field(&init["unseal_keys_b64"][0]);
        server.root_token = field(&init["root_token"]);
        server.bao.token = server.root_token.clone();

        server.unseal_and_wait_active();
        server.bao.enable_kv2("secret");
        server
    }

    /// The server as a [`Bao`] (root token), for [`Bao::cli`] and the other helpers.
    pub fn bao(&self) -> &Bao {
        &self.bao
    }

    /// Kills the server (SIGKILL, like a crash) and waits for it to exit. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, starts it again on the same storage and address, unseals
    /// it with the saved key and waits until `secret/` serves requests.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.unseal_and_wait_active();
        wait_for("secret/ to serve after the restart", || {
            self.bao.cli(&["read", "secret/config"]).status.success()
        });
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        let mut cmd = Command::new(&self.bao.bin);
        cmd.arg("server")
            .arg(format!("-config={}", self.config.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        clean_env(&mut cmd);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", self.bao.bin.display())),
        );
    }

    fn unseal_and_wait_active(&mut self) {
        // 503 = sealed; any answer means the listener is up.
        self.wait_health("to listen", |_| true);
        let key = self.unseal_key.clone();
        self.bao.cli_ok(&["operator", "unseal", &key]);
        // 200 = initialised, unsealed and active (raft leadership taken).
        self.wait_health("to become active", |code| code == 200);
    }

    fn wait_health(&mut self, what: &str, accept: impl Fn(u16) -> bool) {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("OpenBao exited ({status}); log tail:\n{}", tail(&self.log));
            }
            if health_status(self.port).is_ok_and(&accept) {
                return;
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "OpenBao at {} did not {what} within {TIMEOUT:?}; log tail:\n{}",
                    self.addr,
                    tail(&self.log)
                );
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RaftBao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `performance_multiplier = 1`: with the default (5) the new single-node cluster waits 5-10 s
/// for its first raft election during `bao operator init`; with 1 it takes about 1 s.
/// (OpenBao has no `disable_mlock`: it warns about the unknown field.)
fn raft_config(data: &Path, port: u16, cluster_port: u16) -> String {
    format!(
        r#"storage "raft" {{
  path                   = "{data}"
  node_id                = "n1"
  performance_multiplier = 1
}}

listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}

api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
"#,
        data = data.display()
    )
}

fn checked(args: &[&str], output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`bao {}` failed ({}):\n{}{stdout}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        sleep(Duration::from_millis(50));
    }
}

/// Removes every `VAULT_*`/`BAO_*` variable (`BAO_ADDR` would even win over `VAULT_ADDR`) and
/// points `HOME` at a private directory (no `~/.vault-token`, no `~/.vault` config).
fn clean_env(cmd: &mut Command) {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    let home = HOME.get_or_init(|| {
        let home = std::env::temp_dir().join("rotation-testkit-home");
        std::fs::create_dir_all(&home).expect("create the CLI's private HOME");
        home
    });
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("VAULT_") || name.starts_with("BAO_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HOME", home);
}

/// `GET /v1/sys/health` on 127.0.0.1:`port`; returns the status code.
fn health_status(port: u16) -> std::io::Result<u16> {
    http(&format!("127.0.0.1:{port}"), "GET", "/v1/sys/health").map(|(code, _)| code)
}

/// `METHOD path` without a body over plain HTTP/1.0 (the server closes the connection after
/// the response); returns the status code and the whole response as text.
fn http(authority: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{authority} resolves to nothing")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:.80}")))?;
    Ok((code, text))
}

fn tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut file| file.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "VAULT_TOKEN is not set: run the tests through `cargo xtask ci`")]
    fn missing_variable_panics() {
        Bao::from_lookup(|name| (name != "VAULT_TOKEN").then(|| "x".to_owned()));
    }

    #[test]
    #[should_panic(expected = "ROTATION_TEST_MOTO is not set: run the tests through `cargo xtask")]
    fn missing_moto_panics() {
        Moto::from_lookup(|_| None);
    }

    /// Needs the server: `cargo xtask test -p rotation-testkit`.
    #[test]
    fn moto_reset_answers() {
        let moto = Moto::from_env();
        moto.reset();
        moto.reset();
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique("kv"), unique("kv"));
    }
}
