//! A load harness for zero-downtime measurements (ADR 0016, point 5): clients that keep
//! logging in to a real server with whatever credential the store holds at that moment, while
//! rotations run, and count the logins that fail.
//!
//! Two kinds of client run side by side:
//! - *reconnecting* clients loop without pausing: read the store's current document, log in
//!   on a fresh connection with its `username` and password field, run the check, close;
//! - *pooled* sessions hold one connection opened with the store's then-current credential,
//!   check it every few milliseconds and, when their maximum lifetime expires, reconnect with
//!   the store's credential of that moment (what a connection pool with `max_lifetime` does).
//!   A held session whose check fails has died: that counts as a failure too.
//!
//! A refused login is retried at once (reconnecting) or after a short pause (pooled), as a
//! real client would, and every attempt counts. [`Load::stop`] returns a [`Report`]: the counts
//! per kind and the first failure messages, with the password that was used replaced by
//! `[REDACTED]` (a server's error should not carry it, but the harness does not rely on that).
//!
//! The servers are reached through a [`Login`] ([`PostgresLogin`], [`MariadbLogin`],
//! [`RedisLogin`]); none of them is the code under test (the targets and verifiers).

mod mariadb;
mod postgres;
mod redis;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{SecretPath, SecretStore, SecretValue};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

pub use mariadb::MariadbLogin;
pub use postgres::PostgresLogin;
pub use redis::RedisLogin;

/// How many distinct failure messages a [`Report`] keeps.
const KEPT_FAILURES: usize = 8;

/// Opens sessions on one server. Errors are the server's or the network's words, for people;
/// they must never contain the password.
#[async_trait]
pub trait Login: Send + Sync {
    /// The server, for reports (`postgres 127.0.0.1:5432`).
    fn describe(&self) -> String;

    /// A fresh connection logged in as `username` with `password`, or why not.
    async fn login(
        &self,
        username: &str,
        password: &SecretValue,
    ) -> Result<Box<dyn Session>, String>;
}

/// One open session.
#[async_trait]
pub trait Session: Send {
    /// Whether it still works: a round trip (`SELECT 1`, `PING`) whose answer is checked.
    async fn check(&mut self) -> Result<(), String>;

    /// Ends it politely (errors are ignored: the session is done either way).
    async fn close(self: Box<Self>);
}

/// Sizes and timings of a [`Load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Reconnecting clients (default 8).
    pub reconnecting: usize,
    /// Pooled sessions (default 8).
    pub pooled: usize,
    /// A pooled session's maximum lifetime (default 2 s); the first lifetimes are staggered
    /// over it so that the sessions do not all reconnect at once.
    pub max_lifetime: Duration,
    /// How often a pooled session runs its check (default 20 ms).
    pub check_every: Duration,
    /// A pooled session's pause after a refused login (default 10 ms).
    pub retry_pause: Duration,
    /// Bound on one login or check (default 5 s): a hang counts as a failure.
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            reconnecting: 8,
            pooled: 8,
            max_lifetime: Duration::from_secs(2),
            check_every: Duration::from_millis(20),
            retry_pause: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The counts of one kind of client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindReport {
    /// Login attempts.
    pub logins: u64,
    /// Logins that failed (refused, or an error or timeout on the way).
    pub refused: u64,
    /// Checks run on open sessions.
    pub checks: u64,
    /// Checks that failed: the session had died.
    pub died: u64,
}

impl KindReport {
    /// Refused logins and dead sessions.
    pub fn failures(&self) -> u64 {
        self.refused + self.died
    }
}

/// What a [`Load`] saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The reconnecting clients.
    pub reconnecting: KindReport,
    /// The pooled sessions.
    pub pooled: KindReport,
    /// Reads of the store that failed (a harness problem, not a failed login).
    pub store_errors: u64,
    /// The first distinct failure messages (`reconnecting: login as app: <server's words>`),
    /// never a password.
    pub first_failures: Vec<String>,
}

impl Report {
    /// Login attempts of both kinds.
    pub fn logins(&self) -> u64 {
        self.reconnecting.logins + self.pooled.logins
    }

    /// Failures of both kinds (refused logins and dead sessions).
    pub fn failures(&self) -> u64 {
        self.reconnecting.failures() + self.pooled.failures()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, p) = (&self.reconnecting, &self.pooled);
        write!(
            f,
            "logins {} (reconnecting {}, pooled {}), failures {} (reconnecting {} refused + {} \
             died, pooled {} refused + {} died), store errors {}",
            self.logins(),
            r.logins,
            p.logins,
            self.failures(),
            r.refused,
            r.died,
            p.refused,
            p.died,
            self.store_errors
        )
    }
}

/// Running clients; [`Load::stop`] ends them.
///
/// They run on a runtime of their own (two worker threads): a client busy computing a login
/// (PostgreSQL's SCRAM is heavy in a debug build) blocks its worker thread, and must not
/// starve the runtime of the rotation it measures. The operating system shares the cores.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Load {
    /// [`Load::start_with`] the default options (8 reconnecting clients, 8 pooled sessions
    /// living 2 s).
    pub fn start(
        login: Arc<dyn Login>,
        store: Arc<dyn SecretStore>,
        path: SecretPath,
        field: &str,
    ) -> Load {
        Self::start_with(LoadOptions::default(), login, store, path, field)
    }

    /// Spawns the clients on their own runtime. Each reads the document at `path` in `store`
    /// and logs in with its `username` and its `field` (the password).
    ///
    /// # Panics
    /// If the runtime cannot be built.
    pub fn start_with(
        options: LoadOptions,
        login: Arc<dyn Login>,
        store: Arc<dyn SecretStore>,
        path: SecretPath,
        field: &str,
    ) -> Load {
        let shared = Arc::new(Shared {
            login,
            store,
            path,
            field: field.to_owned(),
            options,
            stopping: AtomicBool::new(false),
            reconnecting: Counters::default(),
            pooled: Counters::default(),
            store_errors: AtomicU64::new(0),
            first_failures: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("load-client")
            .enable_all()
            .build()
            .expect("build the load's runtime");
        let mut tasks = Vec::new();
        for _ in 0..shared.options.reconnecting {
            tasks.push(runtime.spawn(reconnecting(Arc::clone(&shared))));
        }
        let n = shared.options.pooled;
        for i in 0..n {
            // Staggered: session i first lives (i + 1) / n of the maximum lifetime.
            let first = shared
                .options
                .max_lifetime
                .mul_f64((i + 1) as f64 / n as f64);
            tasks.push(runtime.spawn(pooled(Arc::clone(&shared), first)));
        }
        Load {
            shared,
            tasks,
            runtime: Some(runtime),
        }
    }

    /// The counts so far (the clients keep running).
    pub fn report(&self) -> Report {
        self.shared.report()
    }

    /// Stops every client (each finishes its login or check in flight) and reports.
    ///
    /// # Panics
    /// If a client task panicked.
    pub async fn stop(mut self) -> Report {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for task in std::mem::take(&mut self.tasks) {
            task.await.expect("a load client panicked");
        }
        self.shared.report()
    }
}

impl Drop for Load {
    /// Ends the clients (also when a test panics before [`Load::stop`]) without blocking:
    /// dropping a runtime inside another one's task would panic.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A credential read from the store.
struct Credential {
    username: String,
    password: SecretValue,
}

#[derive(Default)]
struct Counters {
    logins: AtomicU64,
    refused: AtomicU64,
    checks: AtomicU64,
    died: AtomicU64,
}

impl Counters {
    fn report(&self) -> KindReport {
        KindReport {
            logins: self.logins.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            checks: self.checks.load(Ordering::SeqCst),
            died: self.died.load(Ordering::SeqCst),
        }
    }
}

struct Shared {
    login: Arc<dyn Login>,
    store: Arc<dyn SecretStore>,
    path: SecretPath,
    field: String,
    options: LoadOptions,
    stopping: AtomicBool,
    reconnecting: Counters,
    pooled: Counters,
    store_errors: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn report(&self) -> Report {
        Report {
            reconnecting: self.reconnecting.report(),
            pooled: self.pooled.report(),
            store_errors: self.store_errors.load(Ordering::SeqCst),
            first_failures: self.first_failures.lock().expect("failures lock").clone(),
        }
    }

    /// The store's current credential, or `None` (counted, and kept as a failure message).
    async fn credential(&self) -> Option<Credential> {
        let read = async {
            let doc = self
                .store
                .read_current(&self.path)
                .await
                .map_err(|e| e.to_string())?
                .value;
            let field =
                |name: &str| rotation_core::field::extract(&doc, name).map_err(|e| e.to_string());
            let username = field("username")?
                .expose_str()
                .map_err(|e| e.to_string())?
                .to_owned();
            Ok::<_, String>(Credential {
                username,
                password: field(&self.field)?,
            })
        };
        match read.await {
            Ok(credential) => Some(credential),
            Err(err) => {
                self.store_errors.fetch_add(1, Ordering::SeqCst);
                self.keep(format!("store: {err}"));
                None
            }
        }
    }

    /// A login with `credential`, counted in `counters`.
    async fn login(
        &self,
        kind: &str,
        counters: &Counters,
        credential: &Credential,
    ) -> Option<Box<dyn Session>> {
        counters.logins.fetch_add(1, Ordering::SeqCst);
        let attempt = self.login.login(&credential.username, &credential.password);
        let outcome = match tokio::time::timeout(self.options.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", self.options.timeout)),
        };
        match outcome {
            Ok(session) => Some(session),
            Err(err) => {
                counters.refused.fetch_add(1, Ordering::SeqCst);
                let err = redact(&err, &credential.password);
                self.keep(format!("{kind}: login as {}: {err}", credential.username));
                None
            }
        }
    }

    /// The check on `session`, counted in `counters`; false: the session died.
    async fn check(
        &self,
        kind: &str,
        counters: &Counters,
        credential: &Credential,
        session: &mut Box<dyn Session>,
    ) -> bool {
        counters.checks.fetch_add(1, Ordering::SeqCst);
        let outcome = match tokio::time::timeout(self.options.timeout, session.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", self.options.timeout)),
        };
        match outcome {
            Ok(()) => true,
            Err(err) => {
                counters.died.fetch_add(1, Ordering::SeqCst);
                let err = redact(&err, &credential.password);
                self.keep(format!(
                    "{kind}: session of {} died: {err}",
                    credential.username
                ));
                false
            }
        }
    }

    /// Keeps `message` unless it is already kept or enough are.
    fn keep(&self, message: String) {
        let mut kept = self.first_failures.lock().expect("failures lock");
        if kept.len() < KEPT_FAILURES && !kept.contains(&message) {
            kept.push(message);
        }
    }
}

/// `message` with every occurrence of `password` replaced.
fn redact(message: &str, password: &SecretValue) -> String {
    match password.expose_str() {
        Ok(pw) if !pw.is_empty() => message.replace(pw, "[REDACTED]"),
        _ => message.to_owned(),
    }
}

/// One reconnecting client: read, log in, check, close, at once again.
async fn reconnecting(shared: Arc<Shared>) {
    let counters = &shared.reconnecting;
    while !shared.stopping() {
        let Some(credential) = shared.credential().await else {
            sleep(shared.options.retry_pause).await;
            continue;
        };
        if let Some(mut session) = shared.login("reconnecting", counters, &credential).await {
            shared
                .check("reconnecting", counters, &credential, &mut session)
                .await;
            session.close().await;
        }
        // Logins are network round trips, but a refusal can come back fast: let the other
        // tasks (and the rotation) run.
        tokio::task::yield_now().await;
    }
}

/// One pooled session: hold a connection for its lifetime, checking it, then reconnect with
/// the store's credential of that moment.
async fn pooled(shared: Arc<Shared>, first_lifetime: Duration) {
    let counters = &shared.pooled;
    let mut lifetime = first_lifetime;
    while !shared.stopping() {
        let Some(credential) = shared.credential().await else {
            sleep(shared.options.retry_pause).await;
            continue;
        };
        let Some(mut session) = shared.login("pooled", counters, &credential).await else {
            sleep(shared.options.retry_pause).await;
            continue;
        };
        let expires = Instant::now() + lifetime;
        lifetime = shared.options.max_lifetime;
        while !shared.stopping() && Instant::now() < expires {
            sleep(shared.options.check_every).await;
            if !shared
                .check("pooled", counters, &credential, &mut session)
                .await
            {
                break;
            }
        }
        session.close().await;
    }
}
