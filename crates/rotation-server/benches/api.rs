//! `cargo xtask bench` (server part): requests/s and latency percentiles of
//! `GET /v1/secrets/{id}` with 100,000 configured secrets (schedules in SQLite) while 20 of them
//! rotate every second, against `GET /healthz` in the same process as the baseline; and the
//! resident memory the server holds per configured secret.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rotation_core::ScheduleRecord;
use sha2::{Digest, Sha256};

const SECRETS: usize = 100_000;
const ROTATING: usize = 20;
const CLIENTS: usize = 16;
const RUN: Duration = Duration::from_secs(5);
const TOKEN: &str = "bench-reader-token-0123456789";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or_default()
}

fn config() -> String {
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let mut c = format!(
        "[stores.local]\nkind = \"file\"\nroot = \"store\"\n\n\
         [policies.manual]\ninterval = \"0\"\nrequire_verification = false\n\n\
         [policies.busy]\ninterval = \"1s\"\nrequire_verification = false\n\n\
         [server]\ntick = \"200ms\"\nconcurrency = 4\n\n\
         [[server.tokens]]\nname = \"bench\"\nrole = \"reader\"\nsha256 = \"{hash}\"\n\n"
    );
    for i in 0..SECRETS {
        let policy = if i < ROTATING { "busy" } else { "manual" };
        let _ = write!(
            c,
            "[[secrets]]\nid = \"s{i:06}\"\nstore = \"local\"\npath = \"s/{i:06}\"\npolicy = \"{policy}\"\ncreate_if_missing = true\n"
        );
    }
    c
}

/// `CLIENTS` concurrent clients for `RUN`: (requests/s, p50, p99).
async fn load(url: impl Fn(usize) -> String + Send + Sync + 'static) -> (f64, Duration, Duration) {
    let url = Arc::new(url);
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = c;
            while start.elapsed() < RUN {
                let t = Instant::now();
                let resp = client
                    .get(url(n))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("request");
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await.expect("body");
                lat.push(t.elapsed());
                n = n.wrapping_mul(7919).wrapping_add(13) % SECRETS;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / secs, pct(0.50), pct(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rss_before = rss_kib();
    let path = dir.path().join("rotation.toml");
    std::fs::write(&path, config()).expect("config");
    let t = Instant::now();
    let cfg = rotation_config::load(&path).expect("config");
    let parse = t.elapsed();
    // Schedules as reconcile would write them, in one transaction (reconcile then skips them).
    let now = chrono::Utc::now();
    let records: Vec<ScheduleRecord> = cfg
        .secrets
        .iter()
        .map(|e| {
            let spec = format!("policy={} {}", e.policy.name(), e.timing.fingerprint());
            ScheduleRecord::new(
                e.id.clone(),
                e.policy.name(),
                &spec,
                e.timing.next_after(&e.id, now),
            )
        })
        .collect();
    let state = rotation_state_sqlite::SqliteStateStore::open(&cfg.state_path).expect("state");
    state.bulk_insert_schedules(&records).expect("bulk insert");
    drop(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let t = Instant::now();
    let settings = rotation_server::Settings {
        config: cfg,
        config_path: path,
    };
    let server = tokio::spawn(rotation_server::launch(settings, listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let startup = t.elapsed();
    let rss_serving = rss_kib();
    tokio::time::sleep(Duration::from_secs(2)).await; // let the busy secrets start rotating

    let b = base.clone();
    let (base_rps, base_p50, base_p99) = load(move |_| format!("{b}/healthz")).await;
    let b = base.clone();
    let (rps, p50, p99) = load(move |n| format!("{b}/v1/secrets/s{n:06}")).await;
    let stats: serde_json::Value = client
        .get(format!("{base}/v1/stats"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let _ = stop.send(());
    server.await.expect("join").expect("server");

    println!(
        "rotation-server, {SECRETS} secrets ({ROTATING} rotating every second), {CLIENTS} clients x {RUN:?}, 2 cores"
    );
    println!("  config parse {parse:.1?}, start-up (open, reconcile, recovery) {startup:.1?}");
    println!(
        "  GET /healthz (baseline)      {base_rps:>8.0} req/s  p50 {base_p50:>8.2?}  p99 {base_p99:>8.2?}"
    );
    println!("  GET /v1/secrets/{{id}}         {rps:>8.0} req/s  p50 {p50:>8.2?}  p99 {p99:>8.2?}");
    println!(
        "  ratio secrets/healthz: throughput x{:.2}, p99 x{:.2}",
        rps / base_rps,
        p99.as_secs_f64() / base_p99.as_secs_f64()
    );
    println!(
        "  rotations finished during the run: {} (successful {})",
        stats["total_rotations"], stats["successful_rotations"]
    );
    println!(
        "  resident memory: {} MiB serving, {:.0} bytes per configured secret (config, binding, schedule view)",
        rss_serving / 1024,
        (rss_serving.saturating_sub(rss_before) as f64 * 1024.0) / SECRETS as f64
    );
}
