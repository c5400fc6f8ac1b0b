//! The real `rotation-server` binary on 127.0.0.1 with a file store and SQLite: rotations via
//! the API, authentication and roles on every `/v1` route, malformed requests, an emergency
//! that rotates three secrets and notifies a local webhook receiver, metrics, the OpenAPI
//! document against the routes, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const READER: &str = "reader-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(webhook: &str) -> String {
    let hash = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let secrets: String = ["a", "b", "c"]
        .iter()
        .map(|s| {
            format!(
                "[[secrets]]\nid = \"{s}\"\nstore = \"local\"\npath = \"app/{s}\"\npolicy = \"manual\"\ncreate_if_missing = true\n\n"
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
    )
}

fn start(config: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rotation.toml"), config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rotation-server"))
        .arg("--config")
        .arg(dir.path().join("rotation.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rotation-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
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

async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.parse().expect("method"), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
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
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_end_to_end() {
    let (hook, seen) = receiver().await;
    let server = start(&config(&hook));
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
    let (_, history) = call(
        &http,
        "GET",
        &url("/v1/secrets/a/history"),
        Some(READER),
        None,
    )
    .await;
    assert!(
        history.as_array().is_some_and(|h| h.len() >= 2),
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
    let leak = json!({"indicator": "leaked_credential", "severity": "critical", "secret_ids": ["a", "b", "c"]});
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
    assert_eq!(ROUTES.len(), 8, "every /v1 route is checked for auth above");

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
