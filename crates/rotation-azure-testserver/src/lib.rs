//! A protocol-faithful Azure Key Vault **secrets** data-plane server for tests.
//!
//! No Key Vault emulator can be installed in CI, so the Azure store is tested against this
//! server instead. Its status codes, headers and bodies follow real recordings of the service
//! (see `shared/fixtures/azure-keyvault`; `tests/fidelity.rs` replays every one of them).
//! It serves HTTPS with a throwaway CA ([`KeyVaultServer::ca_pem`]), answers the bearer
//! challenge like the service, and lets tests inject faults (RBAC denial, throttling, a
//! concurrent writer) and inspect state directly.
//!
//! Clients must not insist that the challenge's resource (`https://vault.azure.net`) match
//! the vault host, since `127.0.0.1` is no subdomain of it: with the Azure SDK for Rust, set
//! `SecretClientOptions::verify_challenge_resource` to `Some(false)`.
//!
//! Intentional deviations from the real service: soft delete, recovery and purge complete
//! synchronously; backups use this server's own blob format; certificate-backed secrets
//! and PFX to PEM conversion are not implemented.
#![forbid(unsafe_code)]

mod backup;
mod body;
mod bundle;
mod errors;
mod model;
mod ops;
mod paging;
mod rbac;
mod routes;
mod server;
mod state;
mod tls;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use state::{Config, Shared};

/// One version of a secret, as tests see it through [`KeyVaultServer::versions`].
#[derive(Debug, Clone)]
pub struct VersionView {
    /// The version id: 32 lowercase hex characters.
    pub version: String,
    /// The secret value of this version.
    pub value: String,
    /// `attributes.enabled`.
    pub enabled: bool,
    /// The version's tags (empty when none were set).
    pub tags: BTreeMap<String, String>,
    /// The version's `contentType`, if set.
    pub content_type: Option<String>,
    /// `attributes.created`, Unix seconds.
    pub created: i64,
    /// `attributes.exp`, Unix seconds, if set.
    pub expires: Option<i64>,
}

/// One HTTP request the server saw, in arrival order.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The request path, e.g. `/secrets/name/`.
    pub path: String,
    /// The raw query string without `?` (empty when there was none).
    pub query: String,
    /// The status code the server answered with.
    pub status: u16,
    /// Whether the request carried an accepted bearer token.
    pub authorized: bool,
    /// When the request arrived.
    pub at: Instant,
}

/// A running Key Vault test server; it stops when dropped.
pub struct KeyVaultServer {
    shared: Arc<Shared>,
    ca_pem: String,
    handle: axum_server::Handle,
    thread: Option<JoinHandle<()>>,
}

/// Configures a [`KeyVaultServer`] before it starts.
#[derive(Debug, Clone)]
pub struct KeyVaultServerBuilder {
    page_size: usize,
    empty_pages: bool,
    token: Option<String>,
    recoverable_days: i64,
}

impl Default for KeyVaultServerBuilder {
    fn default() -> Self {
        Self {
            page_size: 25,
            empty_pages: false,
            token: None,
            recoverable_days: 90,
        }
    }
}

impl KeyVaultServerBuilder {
    /// Items per list page when the request has no `maxresults` (default 25, the service's).
    pub fn page_size(mut self, n: usize) -> Self {
        assert!(n >= 1, "page_size must be at least 1");
        self.page_size = n;
        self
    }

    /// Interleave empty pages (`"value": []` with a non-null `nextLink`) into list responses
    /// without `maxresults`, as the real service does (default off).
    pub fn empty_pages(mut self, on: bool) -> Self {
        self.empty_pages = on;
        self
    }

    /// Accept only `Bearer <token>`; by default any non-empty bearer token is accepted.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Soft-delete retention in days (default 90, `Recoverable+Purgeable`; values below 90
    /// report `CustomizedRecoverable+Purgeable`).
    pub fn recoverable_days(mut self, days: i64) -> Self {
        assert!((7..=90).contains(&days), "recoverable_days must be 7..=90");
        self.recoverable_days = days;
        self
    }

    /// Binds `127.0.0.1:0`, starts serving on a thread of its own and returns once the port
    /// is bound. Panics if the server cannot start (a test setup failure).
    pub fn start(self) -> KeyVaultServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let pki = tls::generate().expect("generate the test CA and leaf certificate");
        let cfg = Config {
            url: format!("https://127.0.0.1:{port}"),
            token: self.token,
            page_size: self.page_size,
            empty_pages: self.empty_pages,
            recoverable_days: self.recoverable_days,
            tenant: uuid::Uuid::new_v4().to_string(),
        };
        let shared = Arc::new(Shared::new(cfg));
        let handle = axum_server::Handle::new();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let (shared, handle) = (shared.clone(), handle.clone());
            let (cert, key) = (pki.leaf_pem.clone(), pki.key_pem.clone());
            std::thread::Builder::new()
                .name(format!("keyvault-testserver-{port}"))
                .spawn(move || server::run(listener, cert, key, shared, handle, ready_tx))
                .expect("spawn the server thread")
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("Key Vault test server failed to start: {e}"),
            Err(_) => panic!("Key Vault test server thread exited during start"),
        }
        KeyVaultServer {
            shared,
            ca_pem: pki.ca_pem,
            handle,
            thread: Some(thread),
        }
    }
}

impl KeyVaultServer {
    /// A builder with the defaults (page size 25, no empty pages, any token, 90 days).
    pub fn builder() -> KeyVaultServerBuilder {
        KeyVaultServerBuilder::default()
    }

    /// Starts a server with the defaults; same as `builder().start()`.
    pub fn start() -> KeyVaultServer {
        Self::builder().start()
    }

    /// The vault URL, `https://127.0.0.1:PORT` without a trailing slash; ids in bodies use it.
    pub fn url(&self) -> String {
        self.shared.cfg.url.clone()
    }

    /// PEM of the throwaway CA that signed the server's leaf certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Creates a new version with `value` only, like `PUT /secrets/{name}`; returns its id.
    /// Panics if `name` is invalid or soft-deleted.
    pub fn put(&self, name: &str, value: &str) -> String {
        self.put_tagged(name, value, &[])
    }

    /// Like [`KeyVaultServer::put`], with tags.
    pub fn put_tagged(&self, name: &str, value: &str, tags: &[(&str, &str)]) -> String {
        let tags = tag_map(tags);
        self.shared.with_state(|s| s.put(name, value, tags))
    }

    /// Sets `attributes.enabled` of one version, like a PATCH. Panics if there is no such version.
    pub fn set_enabled(&self, name: &str, version: &str, enabled: bool) {
        self.shared
            .with_state(|s| s.set_enabled(name, version, enabled));
    }

    /// Soft-deletes a live secret, like `DELETE /secrets/{name}` (visible in deletedsecrets
    /// at once). Panics if there is no live secret of that name.
    pub fn soft_delete(&self, name: &str) {
        self.shared.with_state(|s| s.soft_delete(name));
    }

    /// All versions of a live secret, oldest first (empty if there is none).
    pub fn versions(&self, name: &str) -> Vec<VersionView> {
        self.shared.with_state(|s| s.versions(name))
    }

    /// Answers later requests of `operation` with the RBAC 403 (`ForbiddenByRbac`).
    /// Operations: `get`, `set`, `update`, `list`, `delete`, `recover`, `purge`, `backup`,
    /// `restore`. Panics on any other name.
    pub fn deny(&self, operation: &str) {
        let op = rbac::Op::parse(operation)
            .unwrap_or_else(|| panic!("unknown Key Vault operation {operation:?}"));
        self.shared.with_state(|s| s.denied.insert(op));
    }

    /// Lifts every [`deny`](Self::deny).
    pub fn allow_all(&self) {
        self.shared.with_state(|s| s.denied.clear());
    }

    /// The next `requests` authenticated requests get `429` with `Retry-After` (whole
    /// seconds, rounded up).
    pub fn throttle(&self, requests: usize, retry_after: Duration) {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        self.shared
            .with_state(|s| s.throttle = (requests > 0).then_some((requests, secs)));
    }

    /// Race injection: after the next authenticated GET of the latest version of `name` has
    /// been answered from the old state, a new version with `value` is created before the
    /// server handles any further request.
    pub fn write_after_next_get(&self, name: &str, value: &str) {
        self.write_after_next_get_tagged(name, value, &[]);
    }

    /// Like [`KeyVaultServer::write_after_next_get`], with tags on the racing version (e.g. a
    /// rotation id, to imitate a retried write of the client's own landing late).
    pub fn write_after_next_get_tagged(&self, name: &str, value: &str, tags: &[(&str, &str)]) {
        let armed = (name.to_ascii_lowercase(), value.to_owned(), tag_map(tags));
        self.shared.with_state(|s| s.race = Some(armed));
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.with_state(|s| s.records.clone())
    }
}

fn tag_map(tags: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Drop for KeyVaultServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been reported; nothing to add here.
            let _ = thread.join();
        }
    }
}

/// A default server shared by every test of the process, started on first use.
pub fn shared() -> &'static KeyVaultServer {
    static SERVER: OnceLock<KeyVaultServer> = OnceLock::new();
    SERVER.get_or_init(KeyVaultServer::start)
}
