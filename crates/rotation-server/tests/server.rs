//! The real `rotation-server` binary on 127.0.0.1 with a file store and SQLite: rotations via
//! the API, authentication and roles on every `/v1` route, malformed requests, an emergency
//! that rotates three secrets and notifies a local webhook receiver, metrics, the OpenAPI
//! document against the routes, SIGTERM, and TLS (handshake and header timeouts included).

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{call, closed_within, sigterm, spawn, start, start_in};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const READER: &str = "reader-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

fn config(webhook: &str, revoked: &std::path::Path) -> String {
    let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let secrets: String = ["a", "b", "c"]
        .iter()
        .map(|s| {
            let target = if *s == "a" { "target = \"app\"\n" } else { "" };
            format!(
                "[[secrets]]\nid = \"{s}\"\nstore = \"local\"\npath = \"app/{s}\"\npolicy = \"manual\"\ncreate_if_missing = true\n{target}\n"
            )
        })
        .collect();
    format!(
        r#"
[stores.local]
kind = "file"
root = "store"

[verifiers.ok]
kind = "command"
command = ["sh", "-c", "cat >/dev/null"]

[targets.app]
kind = "command"
command = ["sh", "-c", "cat >/dev/null"]
revoke = ["sh", "-c", "cat > '{revoked}'"]

[policies.manual]
interval = "0"
verifiers = ["ok"]
notify = {{ on_success = true, on_failure = true, on_rollback = true }}

[server]
tick = "200ms"
body_limit = 2048
shutdown_timeout = "5s"

[[server.tokens]]
name = "dashboard"
role = "reader"
sha256 = "{reader}"

[[server.tokens]]
name = "oncall"
role = "operator"
sha256 = "{operator}"

[[server.webhooks]]
url = "{webhook}"
format = "json"

{secrets}"#,
        reader = hash(READER),
        operator = hash(OPERATOR),
        revoked = revoked.display(),
    )
}

/// A local webhook receiver collecting JSON bodies.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Every `/v1` route with the role it needs.
const ROUTES: &[(&str, &str, bool)] = &[
    ("GET", "/v1/secrets", false),
    ("GET", "/v1/secrets/a", false),
    ("POST", "/v1/secrets/a/rotate", true),
    ("GET", "/v1/secrets/a/history", false),
    ("POST", "/v1/secrets/a/schedule/pause", true),
    (
        "GET",
        "/v1/rotations/00000000-0000-4000-8000-000000000000",
        false,
    ),
    ("GET", "/v1/stats", false),
    ("POST", "/v1/emergency", true),
    ("POST", "/v1/secrets/a/rollback", true),
    ("POST", "/v1/secrets/a/verify", true),
    ("GET", "/v1/audit/verify", false),
    ("POST", "/v1/reload", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_end_to_end() {
    let (hook, seen) = receiver().await;
    let scratch = tempfile::tempdir().expect("scratch");
    let revoked = scratch.path().join("revoked");
    let server = start(&config(&hook, &revoked));
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);

    for (method, path, operator) in ROUTES {
        let (status, body) = call(&http, method, &url(path), None, None).await;
        assert_eq!(status, 401, "{method} {path} without a token");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        let (status, _) = call(&http, method, &url(path), Some("not-a-token"), None).await;
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        if *operator {
            let (status, body) = call(&http, method, &url(path), Some(READER), None).await;
            assert_eq!(status, 403, "{method} {path} with a reader token: {body}");
            assert_eq!(body["error"]["code"], "forbidden");
        }
    }

    // The scheme is case-insensitive.
    let lower = http
        .get(url("/v1/stats"))
        .header("authorization", format!("bearer {READER}"))
        .send()
        .await
        .expect("send");
    assert_eq!(lower.status().as_u16(), 200);
    // Nothing ran yet: no success rate rather than 0 (docs/output.md).
    let stats: Value = lower.json().await.expect("json");
    assert!(stats["success_rate"].is_null(), "{stats}");

    // Rotate and wait; then the rotation, the secret and the stats tell.
    let (status, r) = call(
        &http,
        "POST",
        &url("/v1/secrets/a/rotate?wait=true"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "success", "{r}");
    let rid = r["rotation_id"].as_str().expect("id").to_owned();
    let (status, rot) = call(
        &http,
        "GET",
        &url(&format!("/v1/rotations/{rid}")),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(
        (status, rot["finished"].clone()),
        (200, json!(true)),
        "{rot}"
    );
    let (_, secret) = call(&http, "GET", &url("/v1/secrets/a"), Some(READER), None).await;
    assert_eq!(secret["schedule"]["rotation_count"], 1, "{secret}");
    // The field names of docs/output.md, shared with the CLI.
    assert_eq!(secret["secret"], "a", "{secret}");
    assert!(secret.get("id").is_none(), "{secret}");
    assert!(
        r.get("finished_at").is_some() && r.get("completed_at").is_none(),
        "{r}"
    );
    let last = secret["schedule"]["last_rotation"]
        .as_str()
        .expect("last_rotation");
    assert!(last.ends_with('Z'), "RFC 3339 in UTC like the CLI: {last}");
    let (_, stats) = call(&http, "GET", &url("/v1/stats"), Some(READER), None).await;
    assert_eq!(stats["success_rate"], 1.0, "{stats}");
    let (_, history) = call(
        &http,
        "GET",
        &url("/v1/secrets/a/history"),
        Some(READER),
        None,
    )
    .await;
    assert!(
        history["events"].as_array().is_some_and(|h| h.len() >= 2),
        "{history}"
    );

    // 202 with an id that can be followed.
    let (status, acc) = call(
        &http,
        "POST",
        &url("/v1/secrets/b/rotate"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 202, "{acc}");
    let status_url = acc["status_url"].as_str().expect("status url").to_owned();
    let mut finished = false;
    for _ in 0..50 {
        let (_, rot) = call(&http, "GET", &url(&status_url), Some(READER), None).await;
        if rot["finished"] == json!(true) {
            assert_eq!(rot["status"], "success", "{rot}");
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(finished, "the 202 rotation finished");

    // Bad requests: JSON errors, nothing changed.
    let (_, before) = call(&http, "GET", &url("/v1/stats"), Some(READER), None).await;
    let bad = http
        .post(url("/v1/emergency"))
        .bearer_auth(OPERATOR)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(
        bad.json::<Value>().await.expect("json")["error"]["code"],
        "bad_request"
    );
    let wrong_type = http
        .post(url("/v1/emergency"))
        .bearer_auth(OPERATOR)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_type.status().as_u16(), 415);
    assert!(wrong_type.json::<Value>().await.expect("json")["error"].is_object());
    let huge = json!({"indicator": "manual", "severity": "high", "secret_ids": ["a"], "description": "x".repeat(5000)});
    let (status, body) = call(
        &http,
        "POST",
        &url("/v1/emergency"),
        Some(OPERATOR),
        Some(huge),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let unknown = json!({"indicator": "leaked_credential", "severity": "critical", "secret_ids": ["a", "nope"]});
    let (status, body) = call(
        &http,
        "POST",
        &url("/v1/emergency"),
        Some(OPERATOR),
        Some(unknown),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(&http, "GET", &url("/v1/secrets/nope"), Some(READER), None).await;
    assert_eq!(status, 404);
    let (_, after) = call(&http, "GET", &url("/v1/stats"), Some(READER), None).await;
    assert_eq!(before, after, "bad requests changed nothing");

    // A low-severity probe is recorded only; a leak rotates all three and notifies.
    let probe = json!({"indicator": "failed_auth_spike", "severity": "low", "secret_ids": ["a"]});
    let (status, report) = call(
        &http,
        "POST",
        &url("/v1/emergency"),
        Some(OPERATOR),
        Some(probe),
    )
    .await;
    assert_eq!(
        (status, report["acted"].clone()),
        (202, json!(false)),
        "{report}"
    );
    let store = rotation_file::FileStore::builder(server._dir.path().join("store"))
        .read_only()
        .build()
        .expect("store");
    let path = rotation_core::SecretPath::new("app/a");
    let before_leak = rotation_core::SecretStore::read_current(&store, &path)
        .await
        .expect("a");
    let leak = json!({"indicator": "leaked_credential", "severity": "critical", "secret_ids": ["a", "b", "c", "a"]});
    let (status, report) = call(
        &http,
        "POST",
        &url("/v1/emergency"),
        Some(OPERATOR),
        Some(leak),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r["status"] == "success"), "{report}");
    let of = |id: &str| results.iter().find(|r| r["secret"] == id).expect("result");
    assert_eq!(of("a")["revoked"], true, "{report}");
    let got = std::fs::read(&revoked).expect("the revoke command ran");
    assert_eq!(
        got,
        before_leak.value.expose(),
        "the old credential was revoked"
    );
    assert_eq!(of("b")["revoked"], false);
    assert!(
        of("b")["revoke_error"]
            .as_str()
            .is_some_and(|e| e.contains("no target")),
        "{report}"
    );
    let mut notified = false;
    for _ in 0..50 {
        let got = seen.lock().unwrap().clone();
        let emergencies = got.iter().filter(|e| e["kind"] == "emergency").count();
        let succeeded = got.iter().filter(|e| e["kind"] == "succeeded").count();
        if emergencies == 2 && succeeded >= 5 {
            notified = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        notified,
        "webhook got the events: {:?}",
        seen.lock().unwrap()
    );

    // Operational endpoints.
    let metrics = http
        .get(url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("rotation_rotations_total"), "{metrics}");
    assert!(metrics.contains("rotation_emergencies_total"), "{metrics}");
    let (status, _) = call(&http, "GET", &url("/healthz"), None, None).await;
    assert_eq!(status, 200);
    let (status, ready) = call(&http, "GET", &url("/readyz"), None, None).await;
    assert_eq!(status, 200, "{ready}");

    // The OpenAPI document lists exactly the routes.
    let (status, doc) = call(&http, "GET", &url("/openapi.json"), None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let view = &doc["components"]["schemas"]["SecretView"]["properties"];
    assert!(
        view.get("secret").is_some() && view.get("id").is_none(),
        "{view}"
    );
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .expect("ops")
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<String> = [
        "GET /v1/secrets",
        "GET /v1/secrets/{id}",
        "POST /v1/secrets/{id}/rotate",
        "GET /v1/secrets/{id}/history",
        "POST /v1/secrets/{id}/schedule/{action}",
        "GET /v1/rotations/{id}",
        "GET /v1/stats",
        "POST /v1/emergency",
        "POST /v1/secrets/{id}/rollback",
        "POST /v1/secrets/{id}/verify",
        "GET /v1/audit/verify",
        "POST /v1/reload",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    expected.sort();
    assert_eq!(documented, expected);
    assert_eq!(
        ROUTES.len(),
        12,
        "every /v1 route is checked for auth above"
    );

    // No value anywhere: logs (debug level), webhook bodies, API answers, metrics.
    let mut seen_text =
        std::fs::read_to_string(server._dir.path().join("server.log")).expect("log");
    seen_text.push_str(&format!("{:?}", seen.lock().unwrap()));
    for path in [
        "/v1/secrets",
        "/v1/secrets/a/history",
        "/v1/stats",
        "/metrics",
    ] {
        let (_, body) = call(&http, "GET", &url(path), Some(READER), None).await;
        seen_text.push_str(&body.to_string());
    }
    for id in ["a", "b", "c"] {
        let p = rotation_core::SecretPath::new(format!("app/{id}"));
        for v in rotation_core::SecretStore::list_versions(&store, &p)
            .await
            .expect("versions")
        {
            let value = rotation_core::SecretStore::read_version(&store, &p, &v.version)
                .await
                .expect("value");
            let text = String::from_utf8_lossy(value.value.expose()).into_owned();
            assert!(!seen_text.contains(&text), "a value of {id} leaked");
        }
    }

    // SIGTERM: a clean exit.
    let pid = server.child.id();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut server = server;
    let mut code = None;
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().expect("wait") {
            code = status.code();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(code, Some(0), "exited cleanly after SIGTERM");
}

/// A server with one manually rotated secret `db` (value `the-old-value` in a file store) whose
/// verifier sleeps 20 s, `extra` config appended to the secret (`target = ...`) and `tables`
/// (more sections); a rotation is started through the API and cut off by SIGTERM inside the
/// verifier. Returns the store, the secret's path, the directory, the rotation id and the
/// stopped server (which owns the directory: dropping it deletes it).
async fn cut_off_rotation(
    lease_ttl: &str,
    tables: &str,
    extra: &str,
) -> (
    rotation_file::FileStore,
    rotation_core::SecretPath,
    std::path::PathBuf,
    String,
    common::Server,
) {
    let operator_hash = hex::encode(Sha256::digest(OPERATOR.as_bytes()));
    let config = format!(
        r#"
[state]
lease_ttl = "{lease_ttl}"

[stores.local]
kind = "file"
root = "store"

[verifiers.slow]
kind = "command"
command = ["sh", "-c", "cat >/dev/null; sleep 20"]
timeout = "60s"

[policies.manual]
interval = "0"
verifiers = ["slow"]

{tables}

[[server.tokens]]
name = "oncall"
role = "operator"
sha256 = "{operator_hash}"

[[secrets]]
id = "db"
store = "local"
path = "app/db"
policy = "manual"
{extra}
"#
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let keep = dir.path().to_owned();
    std::fs::write(
        dir.path().join("rotation.toml"),
        config.replace("{dir}", &keep.display().to_string()),
    )
    .expect("config");
    let store = rotation_file::FileStore::builder(dir.path().join("store"))
        .build()
        .expect("store");
    let path = rotation_core::SecretPath::new("app/db");
    rotation_core::SecretStore::write_current(
        &store,
        &path,
        &rotation_core::RotationId::generate(),
        &rotation_core::SecretValue::from("the-old-value"),
        None,
    )
    .await
    .expect("seed");
    let mut server = start_in(dir);
    let http = reqwest::Client::new();
    let (status, acc) = call(
        &http,
        "POST",
        &format!("{}/v1/secrets/db/rotate", server.base),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 202, "{acc}");
    let rid = acc["rotation_id"].as_str().expect("id").to_owned();
    let (status, busy) = call(
        &http,
        "POST",
        &format!("{}/v1/secrets/db/rotate", server.base),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(
        (status, busy["error"]["code"].clone()),
        (409, json!("conflict")),
        "one at a time: {busy}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await; // inside the verifier now
    let started = std::time::Instant::now();
    assert_eq!(sigterm(&mut server), Some(0), "clean exit after SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "bounded by shutdown_timeout"
    );
    (store, path, keep, rid, server)
}

/// The old value is current and nothing is left pending.
async fn assert_rolled_back(store: &rotation_file::FileStore, path: &rotation_core::SecretPath) {
    let current = rotation_core::SecretStore::read_current(store, path)
        .await
        .expect("read");
    assert_eq!(current.value.expose(), b"the-old-value");
    let versions = rotation_core::SecretStore::list_versions(store, path)
        .await
        .expect("list");
    assert!(
        versions
            .iter()
            .all(|v| v.state != rotation_core::VersionState::Pending),
        "no pending value left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_verifier_is_resolved_by_recovery() {
    let (store, path, keep, rid, _stopped) =
        cut_off_rotation("2s", "[server]\nshutdown_timeout = \"1s\"", "").await;
    // Restart once the lease has expired: recovery resolves the cut-off rotation.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut server = spawn(
        &keep.join("rotation.toml"),
        tempfile::tempdir().expect("tmp"),
    );
    let (status, rot) = call(
        &reqwest::Client::new(),
        "GET",
        &format!("{}/v1/rotations/{rid}", server.base),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rot}");
    assert_eq!(rot["finished"], true, "recovery finished it: {rot}");
    assert_ne!(
        rot["status"], "success",
        "an unverified credential is never a success: {rot}"
    );
    assert_rolled_back(&store, &path).await;
    assert_eq!(sigterm(&mut server), Some(0));
}

/// A plain `systemctl restart`: SIGTERM cuts a rotation off and the server is back before the
/// dead lease expires. Start-up recovery must skip it (the lease is live), and the scheduler's
/// tick must come back to it once the lease expires, counting one recovery, not a skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_within_the_lease_recovers_the_cut_off_rotation_once_the_lease_expires() {
    let target = "cat > {dir}/target.tmp && mv {dir}/target.tmp {dir}/target.txt";
    let tables = format!(
        "[server]\nshutdown_timeout = \"1s\"\ntick = \"200ms\"\n\n[targets.app]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {target:?}]\n"
    );
    let (store, path, keep, rid, _stopped) =
        cut_off_rotation("3s", &tables, "target = \"app\"").await;
    let target_value = || std::fs::read(keep.join("target.txt")).ok();
    assert!(
        target_value().is_some(),
        "the target was given the new value"
    );

    // Back at once: the dead lease is still live.
    let mut server = spawn(
        &keep.join("rotation.toml"),
        tempfile::tempdir().expect("tmp"),
    );
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let rot = loop {
        let (status, rot) = call(
            &http,
            "GET",
            &format!("{}/v1/rotations/{rid}", server.base),
            Some(OPERATOR),
            None,
        )
        .await;
        assert_eq!(status, 200, "{rot}");
        if rot["finished"] == true {
            break rot;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recovered while the server ran: {rot}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(rot["status"], "success", "{rot}");
    assert_rolled_back(&store, &path).await;
    assert_eq!(
        target_value().as_deref(),
        Some(&b"the-old-value"[..]),
        "the target holds the store's current value again"
    );
    // The journal shows the record done (audit pending) a moment before the tick that resolved
    // it counts the recovery: wait for the count, then check it stays at one.
    let recoveries = || async {
        let text = http
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| l.strip_prefix("rotation_recoveries_total "))
            .map(str::to_owned)
    };
    let counted = std::time::Instant::now();
    while recoveries().await.as_deref() != Some("1") && counted.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await; // a few more ticks
    assert_eq!(
        recoveries().await.as_deref(),
        Some("1"),
        "one recovery counted, the start-up skip not"
    );
    assert_eq!(sigterm(&mut server), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_the_api_with_the_configured_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    leaf.is_ca = IsCa::ExplicitNoCa;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("server.pem"), leaf_cert.pem()).expect("cert");
    let key_path = dir.path().join("server.key");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("key");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&key_path).expect("meta").permissions(),
        0o600,
    );
    std::fs::set_permissions(
        &key_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let reader_hash = hex::encode(Sha256::digest(READER.as_bytes()));
    let config = format!(
        "[stores.local]\nkind = \"file\"\nroot = \"store\"\n\n[policies.manual]\ninterval = \"0\"\nrequire_verification = false\n\n[server]\nrequest_timeout = \"1s\"\ntls_cert = \"server.pem\"\ntls_key = \"server.key\"\n\n[[server.tokens]]\nname = \"r\"\nrole = \"reader\"\nsha256 = \"{reader_hash}\"\n\n[[secrets]]\nid = \"a\"\nstore = \"local\"\npath = \"a\"\npolicy = \"manual\"\ncreate_if_missing = true\n"
    );
    std::fs::write(dir.path().join("rotation.toml"), config).expect("config");
    let mut server = start_in(dir);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let bound = Duration::from_secs(4); // request_timeout + margin
    // A connection that never starts its handshake, and one that stalls in its headers after
    // the handshake (which offers h2 and gets HTTP/1.1), are closed.
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let silent_opened = std::time::Instant::now();
    let silent =
        tokio::spawn(async move { closed_within(&mut silent, silent_opened, bound).await });
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).expect("root");
    let mut client = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut stalled = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(
            "localhost".try_into().expect("name"),
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        )
        .await
        .expect("handshake");
    assert_eq!(stalled.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    tokio::io::AsyncWriteExt::write_all(&mut stalled, b"GET /v1/secrets HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let stalled_opened = std::time::Instant::now();
    let stalled =
        tokio::spawn(async move { closed_within(&mut stalled, stalled_opened, bound).await });
    let https = server.base.replace("http://", "https://");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).expect("ca"))
        .build()
        .expect("client");
    let (status, list) = call(
        &http,
        "GET",
        &format!("{https}/v1/secrets"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["secret"], "a");
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "no plain HTTP on a TLS listener"
    );
    silent.await.expect("silent connection closed");
    stalled.await.expect("stalled connection closed");
    assert_eq!(sigterm(&mut server), Some(0));
}
