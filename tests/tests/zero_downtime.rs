//! The load harness against the strategies that exist today (ADR 0016, point 5, first part):
//! on private PostgreSQL, MariaDB and Redis servers, clients keep logging in with whatever
//! credential the store holds while the engine rotates it in-process through the built-in
//! target, and the harness counts the failed logins.
//!
//! With `immediate` (store first, server second) and `staged` (server first, store second)
//! the store and the server disagree for a moment in every rotation, and clients that read
//! the store then are refused: this test proves the harness sees that. It also proves the
//! harness is quiet when nothing rotates (a failure-free baseline) and that its logins can be
//! refused at all (a wrong password is). The zero-downtime strategies (`dual_write`,
//! `blue_green`) are to show zero failures with the same harness.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rotation_core::{
    ConnectionSpec, CredentialSource, Engine, GeneratorSpec, MemoryStateStore, MemoryStore,
    RotateRequest, RotationId, RotationPolicy, RotationStrategy, SecretBinding, SecretId,
    SecretPath, SecretStore, SecretValue, StoreCredential, Target, TlsMode, Verifier,
};
use rotation_e2e::load::{Load, Login, MariadbLogin, PostgresLogin, RedisLogin, Report};
use rotation_testkit::mariadb::PrivateMariadb;
use rotation_testkit::postgres::PrivatePostgres;
use rotation_testkit::redis::PrivateRedis;
use serde_json::json;

/// Rotations per strategy: with 5, a MariaDB `immediate` run saw as few as 6 failed logins
/// (its window is one `ALTER USER`, a few milliseconds); 10 keep a wide margin above zero.
const ROTATIONS: usize = 10;
/// Between rotations: the load in its steady state.
const PAUSE: Duration = Duration::from_millis(150);
/// Bound on the wait for the load to run before the first rotation (16 PostgreSQL logins
/// cost a debug build about a second of SCRAM).
const WARM_UP: Duration = Duration::from_secs(15);
const HOST: &str = "127.0.0.1";

/// The built-in target logging in as the given admin (whose secret is in the test's store).
type TargetWithAdmin = Box<dyn Fn(Arc<dyn CredentialSource>) -> Arc<dyn Target>>;

/// One server under load: how clients log in, the built-in target and verifier, the user's
/// database secret and the admin's.
struct Setup {
    name: &'static str,
    login: Arc<dyn Login>,
    target: TargetWithAdmin,
    verifier: Arc<dyn Verifier>,
    username: String,
    document: serde_json::Value,
    admin_document: serde_json::Value,
}

/// Host and port pinned (the admin login needs a host from the config), TLS off.
fn spec(port: u16) -> ConnectionSpec {
    ConnectionSpec {
        host: Some(HOST.to_owned()),
        port: Some(port),
        tls_mode: Some(TlsMode::Disable),
        ..ConnectionSpec::default()
    }
}

/// A random password of letters and digits (safe in the tests' own statements).
fn password() -> String {
    format!("Pw1x{}", rotation_testkit::unique("").replace('-', "x"))
}

fn text(value: &serde_json::Value) -> SecretValue {
    SecretValue::from_string(value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_clients_see_failed_logins_with_immediate_and_staged() {
    let pg = PrivatePostgres::start();
    let username = rotation_testkit::unique("load");
    let pw = password();
    // A client-side SCRAM verifier: the password never reaches the statement log.
    let verifier = postgres_protocol::password::scram_sha_256(pw.as_bytes());
    pg.sql(&format!(
        "CREATE ROLE \"{username}\" LOGIN PASSWORD '{verifier}'"
    ));
    let port = pg.port;
    let setup = Setup {
        name: "postgres",
        login: Arc::new(PostgresLogin {
            host: HOST.to_owned(),
            port,
            dbname: "postgres".to_owned(),
        }),
        target: Box::new(move |admin| {
            Arc::new(
                rotation_postgres::PostgresTarget::builder("pg")
                    .connection(spec(port))
                    .admin(Some(admin))
                    .build()
                    .expect("build the target"),
            )
        }),
        verifier: Arc::new(
            rotation_postgres::PostgresVerifier::builder("pg-login")
                .connection(spec(port))
                .build()
                .expect("build the verifier"),
        ),
        document: json!({
            "engine": "postgres", "host": HOST, "port": port, "username": username,
            "password": pw, "dbname": "postgres",
        }),
        admin_document: serde_json::from_str(&pg.admin_document()).expect("admin JSON"),
        username,
    };
    run(setup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_clients_see_failed_logins_with_immediate_and_staged() {
    let db = PrivateMariadb::start();
    let username = format!("rt_load_{}", rotation_testkit::unique("").replace('-', "_"));
    let pw = password();
    db.sql(&format!(
        "CREATE USER '{username}'@'%' IDENTIFIED BY '{pw}'"
    ));
    let port = db.port;
    let setup = Setup {
        name: "mariadb",
        login: Arc::new(MariadbLogin {
            host: HOST.to_owned(),
            port,
        }),
        target: Box::new(move |admin| {
            Arc::new(
                rotation_mysql::MysqlTarget::builder("db")
                    .connection(spec(port))
                    .admin(Some(admin))
                    .build()
                    .expect("build the target"),
            )
        }),
        verifier: Arc::new(
            rotation_mysql::MysqlVerifier::builder("db-login")
                .connection(spec(port))
                .build()
                .expect("build the verifier"),
        ),
        document: json!({
            "engine": "mariadb", "host": HOST, "port": port, "username": username,
            "password": pw,
        }),
        admin_document: json!({"username": db.admin_user, "password": db.admin_password}),
        username,
    };
    run(setup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_clients_see_failed_logins_with_immediate_and_staged() {
    let redis = PrivateRedis::start();
    let username = format!("rt_load_{}", rotation_testkit::unique("").replace('-', "_"));
    let pw = password();
    redis.admin(&[
        "ACL",
        "SETUSER",
        &username,
        "on",
        &format!(">{pw}"),
        "resetchannels",
        "+ping",
    ]);
    let port = redis.port;
    let setup = Setup {
        name: "redis",
        login: Arc::new(RedisLogin {
            host: HOST.to_owned(),
            port,
        }),
        target: Box::new(move |admin| {
            Arc::new(
                rotation_redis::RedisTarget::builder("cache")
                    .connection(spec(port))
                    .admin(Some(admin))
                    .build()
                    .expect("build the target"),
            )
        }),
        verifier: Arc::new(
            rotation_redis::RedisVerifier::builder("cache-login")
                .connection(spec(port))
                .build()
                .expect("build the verifier"),
        ),
        document: json!({
            "engine": "redis", "host": HOST, "port": port, "username": username,
            "password": pw,
        }),
        admin_document: json!({"username": redis.admin_user, "password": redis.admin_password}),
        username,
    };
    run(setup).await;
}

/// The store, the engine and the binding of `setup`; the load during `ROTATIONS` rotations of
/// each strategy; the assertions.
async fn run(setup: Setup) {
    let name = setup.name;
    // Enough versions to keep every value the test wrote (checked against the reports).
    let store = Arc::new(MemoryStore::with_max_versions(64));
    let path = SecretPath::new(format!("db/{name}"));
    let admin_path = SecretPath::new(format!("admin/{name}"));
    for (p, doc) in [
        (&path, &setup.document),
        (&admin_path, &setup.admin_document),
    ] {
        store
            .write_current(p, &RotationId::generate(), &text(doc), None)
            .await
            .expect("seed the store");
    }
    let admin = Arc::new(StoreCredential {
        id: SecretId::new(format!("{name}-admin")),
        store: store.clone() as Arc<dyn SecretStore>,
        path: admin_path,
    });

    // The harness's logins can be refused at all: a wrong password is.
    let wrong = SecretValue::from("certainly-not-the-password");
    assert!(
        setup.login.login(&setup.username, &wrong).await.is_err(),
        "{name}: a wrong password logged in: the harness would prove nothing"
    );

    let engine = Engine::builder()
        .state(Arc::new(MemoryStateStore::new()))
        .build();
    let binding = SecretBinding {
        id: SecretId::new(format!("load-{name}")),
        store: store.clone(),
        path: path.clone(),
        field: Some("password".to_owned()),
        policy: Arc::new(
            RotationPolicy::builder("load")
                .verifiers(["login"])
                .build()
                .expect("policy"),
        ),
        generator: GeneratorSpec::default_random()
            .build("load")
            .expect("generator"),
        verifiers: vec![setup.verifier.clone()],
        target: Some((setup.target)(admin)),
        create_if_missing: false,
        timing: None,
    };

    let mut reports = Vec::new();
    for strategy in [RotationStrategy::Immediate, RotationStrategy::Staged] {
        let load = Load::start(setup.login.clone(), store.clone(), path.clone(), "password");
        let baseline = warm_up(&load).await;
        let mut took_ms = 0.0;
        for n in 1..=ROTATIONS {
            let request = RotateRequest {
                strategy: Some(strategy),
                ..RotateRequest::default()
            };
            let result = engine.rotate(&binding, request).await;
            assert!(
                result.success,
                "{name}: {strategy} rotation {n} failed: {:?} {:?}",
                result.error_kind, result.error
            );
            assert_eq!(
                result.strategy, strategy,
                "{name}: the strategy asked for ran"
            );
            took_ms += result.duration_ms;
            tokio::time::sleep(PAUSE).await;
        }
        let report = load.stop().await;
        println!(
            "{name} {strategy}: {report}; {ROTATIONS} rotations, {:.0} ms each on average",
            took_ms / ROTATIONS as f64
        );
        for failure in &report.first_failures {
            println!("  {failure}");
        }
        assert_eq!(
            baseline.failures(),
            0,
            "{name} {strategy}: before any rotation the harness must log in without failures: \
             {baseline}; {:?}",
            baseline.first_failures
        );
        assert_eq!(report.store_errors, 0, "{name}: {report}");
        assert!(
            report.reconnecting.logins > 0 && report.pooled.logins > report.pooled.refused,
            "{name} {strategy}: both kinds of client ran: {report}"
        );
        assert!(
            report.failures() > 0,
            "{name} {strategy}: {ROTATIONS} rotations and no failed login: the harness cannot \
             see the window it exists to measure ({report})"
        );
        reports.push(report);
    }

    // The store's final password logs in.
    let doc = store.read_current(&path).await.expect("read current").value;
    let password = rotation_core::field::extract(&doc, "password").expect("password field");
    let mut session = setup
        .login
        .login(&setup.username, &password)
        .await
        .unwrap_or_else(|e| panic!("{name}: the store's final password is refused: {e}"));
    session
        .check()
        .await
        .unwrap_or_else(|e| panic!("{name}: the final session does not work: {e}"));
    session.close().await;

    assert_no_password(&store, &path, &reports).await;
}

/// Waits until at least 8 checks of each kind passed (so as many logins); the report then.
async fn warm_up(load: &Load) -> Report {
    let start = std::time::Instant::now();
    loop {
        let report = load.report();
        if report.reconnecting.checks >= 8 && report.pooled.checks >= 8 {
            return report;
        }
        assert!(
            start.elapsed() < WARM_UP,
            "the load did not get going within {WARM_UP:?}: {report}; {:?}",
            report.first_failures
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// No value the secret ever held appears in a report.
async fn assert_no_password(store: &MemoryStore, path: &SecretPath, reports: &[Report]) {
    let mut passwords = HashSet::new();
    for info in store.list_versions(path).await.expect("list versions") {
        let version = store
            .read_version(path, &info.version)
            .await
            .expect("read a version");
        let pw = rotation_core::field::extract(&version.value, "password").expect("password");
        passwords.insert(pw.expose_str().expect("UTF-8").to_owned());
    }
    assert!(passwords.len() > 2 * ROTATIONS, "every version is kept");
    for report in reports {
        let text = format!("{report} {:?}", report.first_failures);
        for pw in &passwords {
            assert!(!text.contains(pw.as_str()), "a password in a report");
        }
    }
}
