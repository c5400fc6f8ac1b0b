//! `cargo xtask bench`: staged rotations per second and latency percentiles through the engine,
//! each next to a baseline run in the same process: the bare store calls a rotation needs
//! (read current, stage, promote) with no engine around them. The ratio is the engine's overhead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rotation_core::{
    AuditSink, Engine, GeneratorSpec, MemoryStore, RotateRequest, RotationId, RotationPolicy,
    SecretBinding, SecretPath, SecretStore, SecretValue, Verifier, VerifyContext,
};
use rotation_file::{FileStore, JsonlAuditSink};

/// A verifier that accepts everything (the benchmark measures the engine, not a verifier).
#[derive(Debug)]
struct Accept;

#[async_trait::async_trait]
impl Verifier for Accept {
    fn name(&self) -> &str {
        "accept"
    }
    async fn verify(&self, _: &VerifyContext, _: &SecretValue) -> rotation_core::Result<()> {
        Ok(())
    }
}

struct Summary {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn summarize(mut samples: Vec<Duration>, total: Duration) -> Summary {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Summary {
        per_sec: samples.len() as f64 / total.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
    }
}

/// Time `n` runs of `one`.
async fn measure<F, Fut>(n: usize, mut one: F) -> Summary
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        one().await;
        samples.push(t.elapsed());
    }
    summarize(samples, start.elapsed())
}

async fn baseline(store: &dyn SecretStore, path: &SecretPath, n: usize) -> Summary {
    let generator = GeneratorSpec::default_random()
        .build("bench")
        .expect("generator");
    measure(n, || async {
        let current = store.read_current(path).await.expect("read");
        let rid = RotationId::generate();
        store
            .stage(path, &rid, &generator.generate().expect("value"))
            .await
            .expect("stage");
        store
            .promote(path, &rid, &current.version)
            .await
            .expect("promote");
    })
    .await
}

async fn engine_run(engine: &Engine, binding: &SecretBinding, n: usize) -> Summary {
    measure(n, || async {
        let r = engine.rotate(binding, RotateRequest::default()).await;
        assert!(r.success, "{r:?}");
    })
    .await
}

/// Staged rotations against the OpenBao dev server `cargo xtask bench` starts, next to the
/// same store calls made without the engine.
async fn bench_vault() {
    let addr = std::env::var("VAULT_ADDR")
        .expect("VAULT_ADDR: run through `cargo xtask bench`, which starts OpenBao");
    let token = std::env::var("VAULT_TOKEN").expect("VAULT_TOKEN");
    let store: Arc<dyn SecretStore> = Arc::new(
        rotation_vault::VaultStore::builder()
            .address(addr)
            .auth(rotation_vault::Auth::Token(SecretValue::from_string(token)))
            .build()
            .expect("vault store"),
    );
    let path = SecretPath::new(format!("bench/vault-{}", std::process::id()));
    let doc = |v: &str| SecretValue::new(format!("{{\"password\":\"{v}\"}}").into_bytes());
    store
        .write_current(&path, &RotationId::generate(), &doc("seed"), None)
        .await
        .expect("seed");
    let mut b = binding(store.clone(), &path);
    b.field = Some("password".into());
    let engine = Engine::builder().build();
    let raw = |n: usize| {
        let (store, path) = (store.clone(), path.clone());
        async move {
            measure(n, || async {
                let current = store.read_current(&path).await.expect("read");
                let rid = RotationId::generate();
                store
                    .stage(&path, &rid, &doc(&rid.to_string()))
                    .await
                    .expect("stage");
                store
                    .promote(&path, &rid, &current.version)
                    .await
                    .expect("promote");
            })
            .await
        }
    };
    raw(20).await;
    engine_run(&engine, &b, 20).await;
    let base = raw(300).await;
    let eng = engine_run(&engine, &b, 300).await;
    report("vault (OpenBao dev, staged)", &base, &eng);
}

/// Staged rotations against moto: the engine with the AWS store, next to the minimal safe raw
/// SDK sequence (read current, check for a foreign AWSPENDING, put pending, move AWSCURRENT with
/// RemoveFromVersionId, remove AWSPENDING).
async fn bench_aws() {
    let endpoint = std::env::var("ROTATION_TEST_MOTO")
        .expect("ROTATION_TEST_MOTO: run through `cargo xtask bench`, which starts moto");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    let name = format!("bench-aws-{}", std::process::id());
    client
        .create_secret()
        .name(&name)
        .secret_string("seed")
        .send()
        .await
        .expect("create");
    let store: Arc<dyn SecretStore> = Arc::new(
        rotation_aws::AwsStore::builder()
            .endpoint_url(&endpoint)
            .region("us-east-1")
            .build()
            .expect("store"),
    );
    let b = binding(store.clone(), &SecretPath::new(&name));
    let engine = Engine::builder().build();
    let raw = |n: usize| {
        let (client, name) = (client.clone(), name.clone());
        async move {
            measure(n, || async {
                let current = client
                    .get_secret_value()
                    .secret_id(&name)
                    .version_stage("AWSCURRENT")
                    .send()
                    .await
                    .expect("get");
                let old = current.version_id().expect("version").to_owned();
                let desc = client
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .expect("describe");
                assert!(
                    desc.version_ids_to_stages()
                        .into_iter()
                        .flatten()
                        .all(|(_, s)| !s.iter().any(|s| s == "AWSPENDING"))
                );
                let token = format!("raw-{}", RotationId::generate());
                client
                    .put_secret_value()
                    .secret_id(&name)
                    .client_request_token(&token)
                    .secret_string(token.clone())
                    .version_stages("AWSPENDING")
                    .send()
                    .await
                    .expect("put");
                client
                    .update_secret_version_stage()
                    .secret_id(&name)
                    .version_stage("AWSCURRENT")
                    .move_to_version_id(&token)
                    .remove_from_version_id(&old)
                    .send()
                    .await
                    .expect("move current");
                client
                    .update_secret_version_stage()
                    .secret_id(&name)
                    .version_stage("AWSPENDING")
                    .remove_from_version_id(&token)
                    .send()
                    .await
                    .expect("remove pending");
            })
            .await
        }
    };
    raw(10).await;
    engine_run(&engine, &b, 10).await;
    let base = raw(150).await;
    let eng = engine_run(&engine, &b, 150).await;
    report("aws (moto, staged)", &base, &eng);
}

fn binding(store: Arc<dyn SecretStore>, path: &SecretPath) -> SecretBinding {
    SecretBinding {
        id: "bench".into(),
        store,
        path: path.clone(),
        field: None,
        policy: Arc::new(
            RotationPolicy::builder("bench")
                .verifiers(["accept"])
                .build()
                .expect("policy"),
        ),
        generator: GeneratorSpec::default_random()
            .build("bench")
            .expect("generator"),
        verifiers: vec![Arc::new(Accept)],
        target: None,
        create_if_missing: false,
        timing: None,
    }
}

fn report(name: &str, base: &Summary, eng: &Summary) {
    println!(
        "{name:<28} baseline {:>9.0}/s p50 {:>8.1?} p99 {:>8.1?} | engine {:>9.0}/s p50 {:>8.1?} p99 {:>8.1?} | overhead x{:.2}",
        base.per_sec,
        base.p50,
        base.p99,
        eng.per_sec,
        eng.p50,
        eng.p99,
        base.per_sec / eng.per_sec
    );
}

async fn bench_store(
    name: &str,
    store: Arc<dyn SecretStore>,
    audit: Option<Arc<dyn AuditSink>>,
    n: usize,
) {
    let path = SecretPath::new(format!("bench/{name}"));
    store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("seed"),
            None,
        )
        .await
        .expect("seed");
    let mut builder = Engine::builder();
    if let Some(a) = audit {
        builder = builder.audit(a);
    }
    let engine = builder.build();
    let b = binding(store.clone(), &path);
    // Warm up both paths, then interleave to share any drift.
    baseline(&*store, &path, n / 10).await;
    engine_run(&engine, &b, n / 10).await;
    let base = baseline(&*store, &path, n).await;
    let eng = engine_run(&engine, &b, n).await;
    report(name, &base, &eng);
}

/// 1,000,000 schedules in the SQLite state store: the due check with none due (through the
/// partial index), then one scheduler pass with 1% due, rotating secrets of the memory store.
async fn bench_sqlite_schedules() {
    use rotation_core::{ScheduleRecord, StateStore, TimingSpec};
    const N: usize = 1_000_000;
    const DUE: usize = N / 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(
        rotation_state_sqlite::SqliteStateStore::open(dir.path().join("state.db")).expect("state"),
    );
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::days(30);
    let earlier = now - chrono::Duration::seconds(1);
    let records: Vec<ScheduleRecord> = (0..N)
        .map(|i| {
            let next = if i % 100 == 0 { earlier } else { later };
            ScheduleRecord::new(
                rotation_core::SecretId::new(format!("s{i:07}")),
                "p",
                "bench",
                Some(next),
            )
        })
        .collect();
    let t = Instant::now();
    state.bulk_insert_schedules(&records).expect("bulk insert");
    let insert = t.elapsed();

    let checks = 200;
    let t = Instant::now();
    for _ in 0..checks {
        assert!(
            state
                .due_schedules(earlier - chrono::Duration::seconds(1), 10_000)
                .await
                .expect("due")
                .is_empty()
        );
    }
    let none_due = t.elapsed() / checks;
    let t = Instant::now();
    let due = state.due_schedules(now, DUE).await.expect("due");
    let fetch_due = t.elapsed();
    assert_eq!(due.len(), DUE);

    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder().state(state.clone()).build();
    let timing = Arc::new(
        TimingSpec {
            interval: Some("30d".into()),
            ..Default::default()
        }
        .build("p")
        .expect("timing"),
    );
    let mut bindings = std::collections::HashMap::with_capacity(DUE);
    for record in &due {
        let path = SecretPath::new(record.secret.as_str());
        store
            .write_current(
                &path,
                &RotationId::generate(),
                &SecretValue::from("seed"),
                None,
            )
            .await
            .expect("seed");
        let mut b = binding(store.clone(), &path);
        b.id = record.secret.clone();
        b.timing = Some(timing.clone());
        bindings.insert(b.id.clone(), b);
    }
    // Only the due secrets have bindings: the core pass would delete the schedules of the
    // others as no longer configured, so it reads exactly the due batch.
    let scheduler = rotation_core::Scheduler::builder(engine.clone(), Arc::new(bindings))
        .concurrency(4)
        .batch(DUE)
        .build();
    let t = Instant::now();
    let results = scheduler
        .pass()
        .await
        .expect("pass")
        .finish(|_| {})
        .await
        .expect("rotations");
    let ok = results.iter().filter(|r| r.success).count();
    let pass = t.elapsed();
    assert_eq!(ok, DUE);
    println!(
        "{:<28} bulk insert {insert:>8.1?} | due check, none due {none_due:>8.1?} (target < 10 ms)",
        "1M schedules in SQLite"
    );
    println!(
        "{:<28} fetch {DUE} due {fetch_due:>8.1?} | rotate them (memory store, concurrency 4) {pass:>8.1?} = {:.0}/s",
        "1M schedules, 1% due",
        DUE as f64 / pass.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench_vault());
    rt.block_on(bench_aws());
    rt.block_on(bench_sqlite_schedules());
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        bench_store("memory", Arc::new(MemoryStore::new()), None, 20_000).await;
        let file = Arc::new(
            FileStore::builder(dir.path().join("store"))
                .build()
                .expect("file store"),
        );
        bench_store("file", file.clone(), None, 500).await;
        let audit: Arc<dyn AuditSink> =
            Arc::new(JsonlAuditSink::open(dir.path().join("audit.jsonl")).expect("audit"));
        bench_store("file + jsonl audit", file, Some(audit), 500).await;
    });
}
