//! Test-only helpers for tests that need a real OpenBao (Vault API compatible) server or a moto
//! server (AWS Secrets Manager).
//!
//! - [`Bao`]: the shared dev server that `cargo xtask ci` starts for the whole test run, found
//!   through `VAULT_ADDR`, `VAULT_TOKEN` and `ROTATION_TEST_BAO` (the `bao` binary). Each test
//!   takes its own mount ([`unique`] + [`Bao::enable_kv2`]) so tests never see each other's data.
//! - [`RaftBao`]: a private server with persistent raft storage that a test may stop and restart
//!   (outage and crash-recovery tests). Dev mode cannot do this: it keeps everything in memory.
//! - [`TlsBao`]: a private dev server behind TLS with its own CA (`bao server -dev -dev-tls`),
//!   for tests of untrusted and trusted certificates.
//! - [`TokenReview`]: a minimal Kubernetes TokenReview endpoint for OpenBao's kubernetes auth
//!   method (no cluster runs here): it accepts one service account token and refuses the rest.
//! - [`Moto`]: the shared moto server that `cargo xtask ci` starts, found through
//!   `ROTATION_TEST_MOTO` (the endpoint URL; `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   `AWS_REGION` are set to test values). Give every secret a [`unique`] name.
//! - [`PrivateMoto`]: a moto server of one test, for IAM enforcement (global to a server).
//! - [`postgres::PrivatePostgres`]: a PostgreSQL server of one test with SCRAM passwords (the
//!   shared server trusts every login).
//! - [`redis::PrivateRedis`]: a Redis server of one test with an ACL file.
//! - [`mariadb::PrivateMariadb`]: a MariaDB server of one test with the general log on (the
//!   shared server on 127.0.0.1:3306 must not be reconfigured).
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub mod mariadb;
pub mod postgres;
mod private_moto;
pub mod redis;
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

/// A private OpenBao dev server listening with TLS only, on a certificate signed by a CA it
/// made itself (`-dev-tls`): a client that does not trust [`TlsBao::ca_file`] must refuse it.
/// The root token is `root`. Dropping it kills the server and removes its files.
pub struct TlsBao {
    /// Base URL, e.g. `https://127.0.0.1:40123`.
    pub addr: String,
    /// The CA certificate (PEM) that signed the server's certificate.
    pub ca_file: PathBuf,
    bao: Bao,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsBao {
    /// Starts the server and waits until it answers `bao status` over TLS.
    ///
    /// # Panics
    /// If `ROTATION_TEST_BAO` is missing or the server does not come up within 30 s.
    pub fn start() -> TlsBao {
        let bin = std::env::var_os("ROTATION_TEST_BAO")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("ROTATION_TEST_BAO is not set: {HOW_TO_RUN}"));
        let dir = tempfile::Builder::new()
            .prefix("rotation-tls-bao-")
            .tempdir()
            .expect("create a temporary directory");
        // The dev server also takes port + 1 for its cluster listener.
        let port = std::iter::repeat_with(free_port)
            .find(|&p| p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
            .expect("two free ports");
        let log = dir.path().join("server.log");
        let log_file = File::create(&log).expect("create the server log");
        let mut cmd = Command::new(&bin);
        cmd.args([
            "server",
            "-dev",
            "-dev-tls",
            "-dev-root-token-id=root",
            "-dev-no-store-token",
        ])
        .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone the log handle"))
        .stderr(log_file);
        clean_env(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
        let addr = format!("https://127.0.0.1:{port}");
        let mut server = TlsBao {
            bao: Bao {
                addr: addr.clone(),
                token: "root".to_owned(),
                bin,
            },
            addr,
            ca_file: dir.path().join("vault-ca.pem"),
            child,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("OpenBao exited ({status}); log tail:\n{}", tail(&log));
            }
            if server.ca_file.is_file() && server.cli(&["status"]).status.success() {
                return server;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "OpenBao at {} did not start within {TIMEOUT:?}; log tail:\n{}",
                server.addr,
                tail(&log)
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Runs `bao ARGS` against this server (root token, trusting its CA).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.bao
            .command(args)
            .env("VAULT_CACERT", &self.ca_file)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", self.bao.bin.display()))
    }
}

impl Drop for TlsBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A certificate (without its key, which was thrown away) to give OpenBao's kubernetes auth as
/// `kubernetes_ca_cert`: it insists on one when `disable_local_ca_jwt = true`, and uses it only
/// for an `https://` `kubernetes_host` (the [`TokenReview`] stub is plain HTTP).
pub const UNUSED_CA_PEM: &str = r"-----BEGIN CERTIFICATE-----
MIIBtjCCAV2gAwIBAgIUVZx/+t1hPPCv1kuv829Pd3YWiQEwCgYIKoZIzj0EAwIw
MDEuMCwGA1UEAwwlcm90YXRpb24tdGVzdGtpdCB1bnVzZWQga3ViZXJuZXRlcyBD
QTAgFw0yNjEyMDMxMzQxNDZaGA8yMTI2MTEwOTEzNDE0NlowMDEuMCwGA1UEAwwl
cm90YXRpb24tdGVzdGtpdCB1bnVzZWQga3ViZXJuZXRlcyBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABGn/ufqCqZ8VrjeyeHJ/ERlgUsw1U4AeJdzi1OxgzFQk
ulrpe/Q2/ZmKcIxNrEL1lv/Q2kglTgEnwM4rtQnIWISjUzBRMB0GA1UdDgQWBBRg
PYjk6MxOOd8ORqseQCrYGtjibzAfBgNVHSMEGDAWgBRgPYjk6MxOOd8ORqseQCrY
GtjibzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIFUvJj8OFIv/
H/ReFLRd2LgHIPyrpLZUc/3z6YbQZE9WAiB+uBRlnwWDZp90K06fZX2tkmXojZj4
ZHMjLz3nUrP6Jg==
-----END CERTIFICATE-----";

/// A minimal Kubernetes TokenReview endpoint (`POST /apis/authentication.k8s.io/v1/tokenreviews`)
/// on 127.0.0.1, for OpenBao's kubernetes auth method. It answers `authenticated: true` with the
/// service account user `system:serviceaccount:<namespace>:<name>` for the one token it was
/// made for ([`TokenReview::token`]), `authenticated: false` for any other token. Runs on its
/// own thread until dropped.
pub struct TokenReview {
    /// Base URL to give as `kubernetes_host`, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    token: String,
    reviews: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenReview {
    /// Starts the endpoint for a new service account token of `namespace`/`name`.
    pub fn start(namespace: &str, name: &str) -> TokenReview {
        let token = service_account_jwt(namespace, name, &unique("sig"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let (stop, reviews) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let thread = {
            let (stop, reviews, token) = (stop.clone(), reviews.clone(), token.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(mut conn) = conn {
                        let _ = review(&mut conn, &token, &user, &reviews);
                    }
                }
            })
        };
        TokenReview {
            url: format!("http://127.0.0.1:{port}"),
            token,
            reviews,
            stop,
            port,
            thread: Some(thread),
        }
    }

    /// The one service account token this endpoint accepts (a JWT with the service account
    /// claims; its signature means nothing: the endpoint decides).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A token of the same service account that this endpoint refuses.
    pub fn refused_token(&self) -> String {
        let parts: Vec<&str> = self.token.rsplitn(2, '.').collect();
        format!("{}.{}", parts[1], b64url(b"not the signature"))
    }

    /// How many reviews were asked for so far.
    pub fn reviews(&self) -> u64 {
        self.reviews.load(Ordering::SeqCst)
    }
}

impl Drop for TokenReview {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A JWT with the claims of a Kubernetes service account token, `signature` as its last part.
fn service_account_jwt(namespace: &str, name: &str, signature: &str) -> String {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
    let claims = serde_json::json!({
        "iss": "kubernetes/serviceaccount",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": format!("uid-{name}"),
    });
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(signature.as_bytes())
    )
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Answers one TokenReview request on `conn` (HTTP/1.1, one request per connection).
fn review(
    conn: &mut TcpStream,
    token: &str,
    user: &str,
    reviews: &AtomicU64,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let path_ok = head.starts_with("POST /apis/authentication.k8s.io/v1/tokenreviews ");
    let (code, body) = if path_ok {
        reviews.fetch_add(1, Ordering::SeqCst);
        let request: Value = serde_json::from_slice(&data[head_end..]).unwrap_or(Value::Null);
        let status = if request["spec"]["token"].as_str() == Some(token) {
            let namespace = user.split(':').nth(2).unwrap_or_default();
            serde_json::json!({
                "authenticated": true,
                "user": {
                    "username": user,
                    "uid": format!("uid-{}", user.rsplit(':').next().unwrap_or_default()),
                    "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{namespace}")],
                },
            })
        } else {
            serde_json::json!({ "authenticated": false, "error": "invalid bearer token" })
        };
        let answer = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "status": status,
        });
        ("201 Created", answer.to_string())
    } else {
        ("404 Not Found", "{}".to_owned())
    };
    write!(
        conn,
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
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
