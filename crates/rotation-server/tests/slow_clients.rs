//! The real `rotation-server` binary against clients that stall or send too much: half-sent
//! requests, a silent connection, a dribbler and an idle keep-alive connection are closed within
//! `request_timeout` while the API keeps answering; oversized headers and request targets get
//! the API's JSON error.

mod common;

use std::time::{Duration, Instant};

use common::{closed_within, sigterm, start};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The configured `request_timeout`.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How much later than `TIMEOUT` a connection may close (slow CI machines).
const MARGIN: Duration = Duration::from_secs(3);

fn config() -> String {
    format!(
        r#"
[stores.local]
kind = "file"
root = "store"

[policies.manual]
interval = "0"
require_verification = false

[server]
request_timeout = "{}s"

[[secrets]]
id = "a"
store = "local"
path = "a"
policy = "manual"
create_if_missing = true
"#,
        TIMEOUT.as_secs()
    )
}

/// Beginnings of requests that never finish their headers.
const PARTIAL: &[&str] = &[
    "GE",
    "GET /v1/secrets HTTP/1.1\r\n",
    "GET /v1/secrets HTTP/1.1\r\nHost: x\r\nX-Half: abc",
    "POST /v1/emergency HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
    "P",
];

async fn healthz(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_connections_are_closed_within_the_request_timeout() {
    let mut server = start(&config());
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let opened = Instant::now();
        let partial = PARTIAL[i % PARTIAL.len()];
        stream.write_all(partial.as_bytes()).await.expect("write");
        checks.spawn(async move {
            let after = closed_within(&mut stream, opened, TIMEOUT + MARGIN).await;
            (format!("{partial:?}"), after)
        });
    }
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let opened = Instant::now();
    checks.spawn(async move {
        let after = closed_within(&mut silent, opened, TIMEOUT + MARGIN).await;
        ("nothing".to_owned(), after)
    });
    // One byte every 100 ms: the timeout runs from the start of the headers, not per byte.
    let mut dribbler = TcpStream::connect(&addr).await.expect("connect");
    let opened = Instant::now();
    checks.spawn(async move {
        let (mut rx, mut tx) = dribbler.split();
        let dribble = async {
            for b in b"GET /healthz HTTP/1.1\r\nX-Slow: "
                .iter()
                .chain([b'a'; 100].iter())
            {
                if tx.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let (after, ()) = tokio::join!(closed_within(&mut rx, opened, TIMEOUT + MARGIN), dribble);
        ("one byte at a time".to_owned(), after)
    });
    // A finished request, then an idle keep-alive connection.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.expect("read");
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    let opened = Instant::now();
    checks.spawn(async move {
        let after = closed_within(&mut idle, opened, TIMEOUT + MARGIN).await;
        ("idle keep-alive".to_owned(), after)
    });

    // The API answers while all of them hang.
    let http = reqwest::Client::new();
    assert_eq!(healthz(&http, &server.base).await, 200, "during");
    let mut closed = 0;
    while let Some(check) = checks.join_next().await {
        let (what, after) = check.expect("check");
        // Held until the timeout, not refused: the server's clock starts after the connect.
        assert!(
            after >= TIMEOUT - Duration::from_millis(100),
            "{what}: closed after {after:?}"
        );
        closed += 1;
    }
    assert_eq!(closed, 53);
    assert_eq!(
        healthz(&reqwest::Client::new(), &server.base).await,
        200,
        "after"
    );
    assert_eq!(sigterm(&mut server), Some(0));
}

/// Status, content type and JSON body of a GET with extra `headers`.
async fn get(base: &str, path: &str, headers: &[(String, String)]) -> (u16, String, Value) {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_the_json_error() {
    let mut server = start(&config());
    let base = server.base.clone();
    let big = |n: usize| vec![("x-big".to_owned(), "a".repeat(n))];
    for path in ["/healthz", "/v1/secrets"] {
        let (status, content_type, body) = get(&base, path, &big(100 * 1024)).await;
        assert_eq!(status, 431, "{path}: {body}");
        assert_eq!(content_type, "application/json", "{path}");
        assert_eq!(body["error"]["code"], "headers_too_large", "{path}: {body}");
    }
    let many: Vec<_> = (0..150)
        .map(|i| (format!("x-h{i}"), "v".to_owned()))
        .collect();
    let (status, content_type, body) = get(&base, "/healthz", &many).await;
    assert_eq!(
        (status, content_type.as_str()),
        (431, "application/json"),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "headers_too_large");
    let long = format!("/healthz?q={}", "a".repeat(20 * 1024));
    let (status, content_type, body) = get(&base, &long, &[]).await;
    assert_eq!(
        (status, content_type.as_str()),
        (414, "application/json"),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "uri_too_long");
    // Below the limits nothing changes.
    let (status, _, body) = get(&base, "/healthz", &big(20 * 1024)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sigterm(&mut server), Some(0));
}
