//! Notifications from the CLI: `rotate` and `run` send the policies' webhooks (the same
//! notifier as the server), and near-expiry reminders go out once per due time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use rotation_e2e::{Sandbox, describe, seed};
use serde_json::Value;

/// A local webhook receiver on 127.0.0.1 collecting JSON bodies (answers 200).
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bodies = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(v) = serde_json::from_slice(&body)
            {
                bodies.lock().expect("lock").push(v);
            }
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

fn config(hook: &str, verifier: &str, extra_policy: &str) -> String {
    format!(
        r#"
[stores.local]
kind = "file"
root = ".rotation/store"

[verifiers.check]
kind = "command"
command = ["sh", "-c", {verifier:?}]

[policies.default]
interval = "30d"
verifiers = ["check"]
notify = {{ on_success = true, on_failure = true, on_rollback = true }}
{extra_policy}

[[secrets]]
id = "s"
store = "local"
path = "app/key"
policy = "default"

[[webhooks]]
url = "{hook}"
"#
    )
}

fn kinds(seen: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|v| v["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn rotate_sends_the_policy_webhooks() {
    let (hook, seen) = receiver();
    let sandbox = Sandbox::new(&config(&hook, "true", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"first-value");
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // The command waits for its deliveries before it exits.
    assert_eq!(kinds(&seen), ["succeeded"]);
    let event = seen.lock().expect("lock")[0].clone();
    assert_eq!(event["secret"], "s");
    assert!(event["rotation_id"].is_string(), "{event}");

    let failing = Sandbox::new(&config(&hook, "exit 3", ""));
    seed(&failing.store(".rotation/store"), "app/key", b"first-value");
    let out = failing.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(kinds(&seen), ["succeeded", "rolled_back"]);
    let body = serde_json::to_string(&*seen.lock().expect("lock")).expect("json");
    assert!(!body.contains("first-value"), "no value in webhook bodies");
}

#[test]
fn run_reminds_once_per_due_time() {
    let (hook, seen) = receiver();
    // Due within 60 days from the first run on: every secret of a 30d policy is "due soon".
    let sandbox = Sandbox::new(&config(&hook, "true", "remind_before = \"60d\""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"first-value");
    let first = sandbox.run(&["run"], None);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let reminders = |seen: &Arc<Mutex<Vec<Value>>>| {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|v| v["kind"] == "reminder")
            .cloned()
            .collect::<Vec<_>>()
    };
    let sent = reminders(&seen);
    assert_eq!(sent.len(), 1, "one reminder: {:?}", kinds(&seen));
    assert_eq!(sent[0]["secret"], "s");
    let message = sent[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is due for rotation at"), "{message}");

    let status = sandbox.run(&["status", "-o", "json"], None);
    let rows: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(rows[0]["reminder"], "due_soon", "{}", describe(&status));
    let text = sandbox.run(&["status"], None);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("active (due_soon)"),
        "{}",
        describe(&text)
    );

    let second = sandbox.run(&["run"], None);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    assert_eq!(
        reminders(&seen).len(),
        1,
        "not repeated for the same due time"
    );
}

#[test]
fn a_bad_remind_before_is_refused_naming_the_field() {
    let sandbox = Sandbox::new(&config(
        "http://127.0.0.1:9/hook",
        "true",
        "remind_before = \"soon\"",
    ));
    let out = sandbox.run(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policies.default.remind_before"),
        "{stderr}"
    );
}
