//! `cargo xtask bench`: rotating 100 PostgreSQL users of a private server (SCRAM passwords),
//! staged, 8 at a time, each applied by the `postgres` target and checked by the `postgres`
//! verifier, next to the raw statements and logins the same work needs in the same process:
//! per user an admin login, the role check, `ALTER ROLE ... PASSWORD '<SCRAM verifier>'`, a
//! fresh login as the user and `SELECT 1`. Three interleaved repetitions, medians. The engine
//! runs with in-memory store, journal and audit, so the ratio is the target's, verifier's and
//! engine's overhead over the database work itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rotation_core::{
    ConnectionSpec, CredentialSource, Engine, GeneratorSpec, MemoryStateStore, MemoryStore,
    RotateRequest, RotationId, RotationPolicy, RotationStrategy, SecretBinding, SecretId,
    SecretPath, SecretStore, SecretValue, StoreCredential, TlsMode,
};
use rotation_postgres::{PostgresTarget, PostgresVerifier};
use rotation_testkit::postgres::{ADMIN, PrivatePostgres};
use tokio::sync::Semaphore;

const USERS: usize = 100;
const CONCURRENCY: usize = 8;
const REPETITIONS: usize = 3;

fn connection(pg: &PrivatePostgres) -> ConnectionSpec {
    ConnectionSpec {
        host: Some("127.0.0.1".into()),
        port: Some(pg.port),
        dbname: Some("postgres".into()),
        tls_mode: Some(TlsMode::Disable),
        ..ConnectionSpec::default()
    }
}

fn config(pg: &PrivatePostgres, user: &str, password: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(pg.port)
        .dbname("postgres")
        .user(user)
        .password(password);
    c
}

async fn login(c: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, conn) = c.connect(tokio_postgres::NoTls).await.expect("login");
    tokio::spawn(conn);
    client
}

/// The raw sequence for one user.
async fn raw_one(pg: &PrivatePostgres, user: &str, round: usize) {
    let admin = login(&config(pg, ADMIN, &pg.admin_password)).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
        .await
        .expect("role check");
    assert!(exists.is_some());
    let password = format!("raw-{round}-{user}-{}", rand_suffix());
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" PASSWORD '{verifier}'"))
        .await
        .expect("alter role");
    drop(admin);
    let client = login(&config(pg, user, &password)).await;
    let one: i32 = client
        .query_one("SELECT 1", &[])
        .await
        .expect("select")
        .get(0);
    assert_eq!(one, 1);
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

async fn raw(pg: &Arc<PrivatePostgres>, users: &[String], round: usize) -> Duration {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for user in users {
        let (pg, user, permits) = (pg.clone(), user.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _p = permits.acquire_owned().await.expect("permit");
            raw_one(&pg, &user, round).await;
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

async fn engine_run(engine: &Engine, bindings: &[SecretBinding]) -> Duration {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for b in bindings {
        let (engine, b, permits) = (engine.clone(), b.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _p = permits.acquire_owned().await.expect("permit");
            let r = engine.rotate(&b, RotateRequest::default()).await;
            assert!(r.success, "{r:?}");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let pg = Arc::new(PrivatePostgres::start());
    let users: Vec<String> = (0..USERS).map(|i| format!("bench_{i:03}")).collect();
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let admin_path = SecretPath::new("db/admin");
    store
        .write_current(
            &admin_path,
            &RotationId::generate(),
            &SecretValue::from_string(pg.admin_document()),
            None,
        )
        .await
        .expect("admin secret");
    let mut create = String::from("SET log_statement = 'none';");
    for u in &users {
        create += &format!("CREATE ROLE {u} LOGIN PASSWORD 'initial-{u}';");
    }
    pg.sql(&create);
    let admin: Arc<dyn CredentialSource> = Arc::new(StoreCredential {
        id: SecretId::new("pg-admin"),
        store: store.clone(),
        path: admin_path,
    });
    let target = Arc::new(
        PostgresTarget::builder("bench")
            .connection(connection(&pg))
            .admin(Some(admin))
            .build()
            .expect("target"),
    );
    let verifier = Arc::new(
        PostgresVerifier::builder("bench-login")
            .connection(connection(&pg))
            .build()
            .expect("verifier"),
    );
    let policy = Arc::new(
        RotationPolicy::builder("bench")
            .strategy(RotationStrategy::Staged)
            .verifiers(["bench-login"])
            .build()
            .expect("policy"),
    );
    let mut bindings = Vec::new();
    for u in &users {
        let path = SecretPath::new(format!("db/{u}"));
        store
            .write_current(
                &path,
                &RotationId::generate(),
                &SecretValue::from_string(pg.document(u, &format!("initial-{u}"))),
                None,
            )
            .await
            .expect("user secret");
        bindings.push(SecretBinding {
            id: SecretId::new(u.clone()),
            store: store.clone(),
            path,
            field: Some("password".into()),
            policy: policy.clone(),
            generator: GeneratorSpec::default_random()
                .build("default")
                .expect("generator"),
            verifiers: vec![verifier.clone()],
            target: Some(target.clone()),
            create_if_missing: false,
            timing: None,
        });
    }
    let engine = Engine::builder()
        .state(Arc::new(MemoryStateStore::new()))
        .build();

    // Warm-up (connections, the server's caches), then interleaved repetitions.
    raw(&pg, &users[..CONCURRENCY], 0).await;
    engine_run(&engine, &bindings[..CONCURRENCY]).await;
    let (mut raws, mut engines) = (Vec::new(), Vec::new());
    for round in 1..=REPETITIONS {
        raws.push(raw(&pg, &users, round).await);
        engines.push(engine_run(&engine, &bindings).await);
    }
    let (raw_t, engine_t) = (median(raws.clone()), median(engines.clone()));
    let per_sec = |d: Duration| USERS as f64 / d.as_secs_f64();
    println!(
        "postgres: {USERS} users, staged, concurrency {CONCURRENCY}, postgres target + verifier \
         (medians of {REPETITIONS}; raw {raws:?}, engine {engines:?})"
    );
    println!(
        "  raw statements and logins  {:>8.1} ms  {:>7.1} users/s",
        raw_t.as_secs_f64() * 1e3,
        per_sec(raw_t)
    );
    println!(
        "  engine (target, verifier)  {:>8.1} ms  {:>7.1} users/s",
        engine_t.as_secs_f64() * 1e3,
        per_sec(engine_t)
    );
    println!(
        "  ratio engine / raw         {:>8.2}  (goal <= 1.3)",
        engine_t.as_secs_f64() / raw_t.as_secs_f64()
    );
}
