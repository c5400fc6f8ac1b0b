//! The real `rotation-server` binary, for what operators meet: plain HTTP refused on a public
//! address unless allowed, 401 and 422 answers that say what is wrong, the rollback, verify
//! and audit-verify endpoints, versions and paged history, and reloading the config by SIGHUP
//! and `POST /v1/reload` (a broken config refused, a rotation in flight kept).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{call, log, signal, sigterm, spawn_on, start, start_in};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const READER: &str = "reader-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const NEW_READER: &str = "new-reader-token-0123456789";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn token(name: &str, role: &str, token: &str) -> String {
    format!(
        "[[server.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n\n",
        hash(token)
    )
}

fn secret(id: &str, policy: &str) -> String {
    format!(
        "[[secrets]]\nid = \"{id}\"\nstore = \"local\"\npath = \"app/{id}\"\npolicy = \"{policy}\"\ncreate_if_missing = true\n\n"
    )
}

/// Policies: `checked` (verifier passes), `refused` (verifier fails once the file
/// `REFUSE_FLAG` names exists), `unchecked` (none), `slow` (verifier takes 3 s), `often`
/// (scheduled every second).
fn config(server: &str, tokens: &str, secrets: &str) -> String {
    format!(
        r#"
[stores.local]
kind = "file"
root = "store"

[verifiers.ok]
kind = "command"
command = ["sh", "-c", "cat >/dev/null"]

[verifiers.no]
kind = "command"
command = ["sh", "-c", "cat >/dev/null; if [ -e 'REFUSE_FLAG' ]; then echo refused >&2; exit 1; fi"]

[verifiers.slow]
kind = "command"
command = ["sh", "-c", "cat >/dev/null; sleep 3"]

[policies.checked]
interval = "0"
verifiers = ["ok"]

[policies.refused]
interval = "0"
verifiers = ["no"]

[policies.unchecked]
interval = "0"
require_verification = false

[policies.slow]
interval = "0"
verifiers = ["slow"]

[policies.often]
interval = "1s"
require_verification = false

[server]
tick = "200ms"
{server}

{tokens}{secrets}"#
    )
}

fn base_tokens() -> String {
    token("dashboard", "reader", READER) + &token("oncall", "operator", OPERATOR)
}

#[test]
fn plain_http_on_a_public_address_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rotation.toml");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rotation-server"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::write(
        &path,
        config(
            "listen = \"0.0.0.0:0\"",
            &base_tokens(),
            &secret("a", "unchecked"),
        ),
    )
    .expect("config");
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("server.listen: 0.0.0.0:0 is not a loopback address")
            && stderr.contains("server.allow_insecure_listen = true"),
        "{stderr}"
    );
    assert!(
        !dir.path().join(".rotation").exists(),
        "refused before anything was opened"
    );
    // A public --listen on a loopback config is refused too, and says where it came from.
    std::fs::write(&path, config("", &base_tokens(), &secret("a", "unchecked"))).expect("config");
    let (code, stderr) = run(&["--listen", "[::]:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("(from --listen)"), "{stderr}");

    // Allowed: it serves, and warns.
    std::fs::write(
        &path,
        config(
            "allow_insecure_listen = true",
            &base_tokens(),
            &secret("a", "unchecked"),
        ),
    )
    .expect("config");
    let mut server = spawn_on(&path, dir, "0.0.0.0:0");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (status, _) = rt.block_on(call(
        &reqwest::Client::new(),
        "GET",
        &format!("{}/v1/secrets", server.base),
        Some(READER),
        None,
    ));
    assert_eq!(status, 200);
    let text = log(&server);
    assert!(
        text.contains("WARN") && text.contains("plain HTTP on a non-loopback address"),
        "{text}"
    );
    assert_eq!(sigterm(&mut server), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_what_is_wrong_without_telling_which_tokens_exist() {
    let server = start(&config("", &base_tokens(), &secret("a", "unchecked")));
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);

    let missing = http.get(url("/v1/secrets")).send().await.expect("send");
    assert_eq!(missing.status().as_u16(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"rotation\""
    );
    let body: Value = missing.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("a bearer token is required")),
        "{body}"
    );
    let basic = http
        .get(url("/v1/secrets"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .expect("send");
    let body: Value = basic.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("a bearer token is required")),
        "{body}"
    );
    // A wrong token, and a reader token with one character changed: the same answer.
    let mut near = READER.to_owned();
    near.pop();
    near.push('X');
    for wrong in ["not-a-token", near.as_str()] {
        let resp = http
            .get(url("/v1/secrets"))
            .bearer_auth(wrong)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"rotation\", error=\"invalid_token\""
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            body["error"]["message"], "the bearer token is not valid",
            "{body}"
        );
    }

    // Bodies that do not match the schema name the field.
    let emergency = url("/v1/emergency");
    for (body, expected) in [
        (
            json!({"indicator": "manual", "severity": "high", "secret_ids": ["a", "a", 3]}),
            "secret_ids[2]: invalid type: integer `3`, expected a string",
        ),
        (
            json!({"indicator": "manual", "secret_ids": ["a"]}),
            "missing field `severity`",
        ),
        (
            json!({"indicator": "manual", "severity": "loud", "secret_ids": ["a"]}),
            "severity: unknown variant `loud`",
        ),
        (
            json!({"indicator": "manual", "severity": "high", "secret_ids": ["a"], "reason": "x"}),
            "unknown field `reason`",
        ),
    ] {
        let (status, answer) = call(&http, "POST", &emergency, Some(OPERATOR), Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_body");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{expected}: {answer}"
        );
    }
    let malformed = http
        .post(&emergency)
        .bearer_auth(OPERATOR)
        .header("content-type", "application/json")
        .body("{\"indicator\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status().as_u16(), 400);
    let body: Value = malformed.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid JSON") && m.contains("line 1")),
        "{body}"
    );
    // Query parameters too.
    for (query, expected) in [
        ("?wait=maybe", "wait"),
        ("?limit=many", "limit"),
        ("?limit=0", "limit: must be between 1 and 1000"),
        ("?cursor=xyz", "cursor"),
    ] {
        let path = if query.contains("wait") {
            "/v1/secrets/a/rotate"
        } else {
            "/v1/secrets/a/history"
        };
        let method = if query.contains("wait") {
            "POST"
        } else {
            "GET"
        };
        let (status, answer) = call(
            &http,
            method,
            &url(&format!("{path}{query}")),
            Some(OPERATOR),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{query}: {answer}"
        );
    }
}

async fn rotate(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let (status, r) = call(
        http,
        "POST",
        &format!("{base}/v1/secrets/{id}/rotate?wait=true"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(
        (status, r["status"].clone()),
        (200, json!("success")),
        "{r}"
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_verify_audit_versions_and_paged_history() {
    let secrets = secret("a", "checked") + &secret("b", "unchecked") + &secret("c", "refused");
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("refuse");
    let text = config("", &base_tokens(), &secrets).replace("REFUSE_FLAG", &flag.to_string_lossy());
    std::fs::write(dir.path().join("rotation.toml"), text).expect("config");
    let server = start_in(dir);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let first = rotate(&http, &base, "a").await;
    let second = rotate(&http, &base, "a").await;
    rotate(&http, &base, "c").await;
    std::fs::write(&flag, "").expect("flag");
    let store = rotation_file::FileStore::builder(server._dir.path().join("store"))
        .read_only()
        .build()
        .expect("store");
    let path = rotation_core::SecretPath::new("app/a");

    // Versions: ids and roles from the store, never a value.
    let (status, one) = call(&http, "GET", &url("/v1/secrets/a"), Some(READER), None).await;
    assert_eq!(status, 200, "{one}");
    let versions = one["versions"].as_array().expect("versions").clone();
    let listed = rotation_core::SecretStore::list_versions(&store, &path)
        .await
        .expect("list");
    assert_eq!(versions.len(), listed.len(), "{one}");
    let current: Vec<&Value> = versions.iter().filter(|v| v["current"] == true).collect();
    assert_eq!(current.len(), 1, "{one}");
    assert_eq!(
        current[0]["version"], second["new_version"],
        "{one} {second}"
    );
    assert_eq!(current[0]["state"], "current");
    assert!(current[0]["created_at"].is_string(), "{one}");
    let value = rotation_core::SecretStore::read_current(&store, &path)
        .await
        .expect("current");
    assert!(
        !one.to_string()
            .contains(&String::from_utf8_lossy(value.value.expose()).into_owned())
    );
    let (_, list) = call(&http, "GET", &url("/v1/secrets"), Some(READER), None).await;
    assert!(
        list[0].get("versions").is_none(),
        "the list reads no store: {list}"
    );

    // Operator only.
    for action in ["rollback", "verify"] {
        let (status, _) = call(
            &http,
            "POST",
            &url(&format!("/v1/secrets/a/{action}")),
            Some(READER),
            None,
        )
        .await;
        assert_eq!(status, 403, "{action} with a reader token");
    }

    // Verify: passes, fails with the verifier's reason, or has nothing to run.
    let (status, v) = call(
        &http,
        "POST",
        &url("/v1/secrets/a/verify"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].clone(), v["version"].clone()),
        (json!(true), second["new_version"].clone()),
        "{v}"
    );
    let (status, v) = call(
        &http,
        "POST",
        &url("/v1/secrets/c/verify"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], false, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("refused")),
        "{v}"
    );
    let (status, v) = call(
        &http,
        "POST",
        &url("/v1/secrets/b/verify"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["field"], "secrets.b.verifiers", "{v}");
    let (status, _) = call(
        &http,
        "POST",
        &url("/v1/secrets/nope/verify"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Rollback: the previous version is current again, under the CLI's names.
    let (status, r) = call(
        &http,
        "POST",
        &url("/v1/secrets/a/rollback"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["old_version"], second["new_version"], "{r}");
    assert_eq!(r["new_version"], first["new_version"], "{r}");
    let now = rotation_core::SecretStore::read_current(&store, &path)
        .await
        .expect("current");
    assert_eq!(
        Some(now.version.to_string()),
        r["new_version"].as_str().map(str::to_owned)
    );
    let (_, rot) = call(
        &http,
        "GET",
        &url(&format!(
            "/v1/rotations/{}",
            r["rotation_id"].as_str().expect("id")
        )),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(rot["status"], "rolled_back", "{rot}");
    let (status, none) = call(
        &http,
        "POST",
        &url("/v1/secrets/b/rollback"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 409, "b has no previous version: {none}");

    // History pages, newest first, together the whole history of `a`.
    let (status, all) = call(
        &http,
        "GET",
        &url("/v1/secrets/a/history?limit=1000"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 200, "{all}");
    assert!(all["next_cursor"].is_null(), "{all}");
    let all = all["events"].as_array().expect("events").clone();
    let audit_path = server._dir.path().join(".rotation/audit.jsonl");
    let lines = std::fs::read_to_string(&audit_path).expect("audit log");
    let of_a = lines
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).expect("line")["event"]["secret"] == "a")
        .count();
    assert_eq!(all.len(), of_a);
    assert!(all.len() >= 6, "{all:?}");
    assert!(
        all[0]["at"].as_str() >= all[all.len() - 1]["at"].as_str(),
        "newest first"
    );
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..all.len() {
        let q = cursor
            .as_ref()
            .map_or_else(String::new, |c| format!("&cursor={c}"));
        let (status, page) = call(
            &http,
            "GET",
            &url(&format!("/v1/secrets/a/history?limit=2{q}")),
            Some(READER),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events");
        assert!(events.len() <= 2 && !events.is_empty(), "{page}");
        paged.extend(events.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all, "the pages add up to the history");

    // Audit verify (any token): every record, the chain head. Nothing else writes meanwhile
    // (manual policies), and a verification is not audited itself.
    let (status, check) = call(&http, "GET", &url("/v1/audit/verify"), Some(READER), None).await;
    assert_eq!(status, 200, "{check}");
    let lines_now = std::fs::read_to_string(&audit_path).expect("audit log");
    let last: Value =
        serde_json::from_str(lines_now.lines().last().expect("a line")).expect("json");
    assert_eq!(check["valid"], true, "{check}");
    assert_eq!(check["records"], lines_now.lines().count(), "{check}");
    assert_eq!(check["head_hash"], last["hash"], "{check} {last}");
    // An edited record breaks the chain: reported, not hidden.
    let tampered = lines_now.replacen("\"status\":\"success\"", "\"status\":\"failed\"", 1);
    assert_ne!(tampered, lines_now);
    std::fs::write(&audit_path, tampered).expect("tamper");
    let (status, check) = call(&http, "GET", &url("/v1/audit/verify"), Some(READER), None).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["valid"], false, "{check}");
    assert!(
        check["error"]
            .as_str()
            .is_some_and(|e| e.contains("audit line")),
        "{check}"
    );
    // The CLI's fields: the lines read are still counted, the break is listed, no head.
    assert_eq!(check["records"], lines_now.lines().count(), "{check}");
    assert_eq!(check["first_seq"], 1, "{check}");
    assert!(check["head_hash"].is_null(), "{check}");
    assert_eq!(check["breaks"].as_array().map(Vec::len), Some(1), "{check}");
    assert_eq!(check["breaks"][0]["kind"], "content", "{check}");
}

/// A running server notices an audit chain broken after its start: writers answer 409, the
/// scheduler holds, views go on; `rotation audit repair` and a reload release them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_broken_while_running_holds_writers_until_repaired() {
    let secrets = secret("a", "unchecked") + &secret("tick", "often");
    let server = start(&config("", &base_tokens(), &secrets));
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let audit_path = server._dir.path().join(".rotation/audit.jsonl");
    let lines = || {
        std::fs::read_to_string(&audit_path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    rotate(&http, &base, "a").await;
    eventually("the scheduled secret rotates", || async { lines() >= 8 }).await;

    // Edit the first record (a rotation of `a`), then any check notices it.
    let text = std::fs::read_to_string(&audit_path).expect("audit log");
    let first = text.lines().next().expect("a line").to_owned();
    let edited = first.replacen("\"secret\":\"a\"", "\"secret\":\"b\"", 1);
    assert_ne!(edited, first);
    std::fs::write(&audit_path, text.replacen(&first, &edited, 1)).expect("tamper");
    let (status, check) = call(&http, "GET", &url("/v1/audit/verify"), Some(READER), None).await;
    assert_eq!(
        (status, check["valid"].clone()),
        (200, json!(false)),
        "{check}"
    );

    // Writers: 409 naming the log, the break and the repair command.
    for (method, path, body) in [
        ("POST", "/v1/secrets/a/rotate", None),
        ("POST", "/v1/secrets/a/rollback", None),
        ("POST", "/v1/secrets/a/verify", None),
        ("POST", "/v1/secrets/a/schedule/pause", None),
        (
            "POST",
            "/v1/emergency",
            Some(
                json!({"secret_ids": ["a"], "indicator": "leaked_credential", "severity": "high"}),
            ),
        ),
        ("POST", "/v1/reload", None),
    ] {
        let (status, refused) = call(&http, method, &url(path), Some(OPERATOR), body).await;
        assert_eq!(status, 409, "{path}: {refused}");
        assert_eq!(
            refused["error"]["code"], "audit_chain_broken",
            "{path}: {refused}"
        );
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("audit line 1") && message.contains("rotation audit repair"),
            "{path}: {message}"
        );
    }
    // The scheduler holds: `tick` is due every second, nothing is appended.
    let held = lines();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        lines(),
        held,
        "no scheduled rotation while the chain is broken"
    );
    let (_, metrics) = call(&http, "GET", &url("/metrics"), Some(READER), None).await;
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("rotation_audit_chain_broken 1")),
        "{metrics}"
    );
    // Views go on: the history of `a` leaves the edited record out and says why.
    let (status, history) = call(
        &http,
        "GET",
        &url("/v1/secrets/a/history"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 200, "{history}");
    assert!(
        history["chain_error"]
            .as_str()
            .is_some_and(|e| e.contains("audit line 1")),
        "{history}"
    );

    // Repaired (what `rotation audit repair` does), then a reload releases the writers.
    let sink = rotation_file::JsonlAuditSink::open(&audit_path).expect("sink");
    rotation_core::AuditSink::repair(&sink, chrono::Utc::now())
        .await
        .expect("repair")
        .expect("a break to record");
    let (status, report) = call(&http, "POST", &url("/v1/reload"), Some(OPERATOR), None).await;
    assert_eq!(status, 200, "{report}");
    rotate(&http, &base, "a").await;
    let released = lines();
    eventually("scheduled rotations resume", || async {
        lines() > released + 4
    })
    .await;
    let (_, check) = call(&http, "GET", &url("/v1/audit/verify"), Some(READER), None).await;
    assert_eq!(check["valid"], true, "{check}");
    assert_eq!(
        check["repairs"].as_array().map(Vec::len),
        Some(1),
        "{check}"
    );
}

/// Wait until `probe` holds (checked every 100 ms, at most 10 s).
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 10 s: {what}");
}

async fn ids(http: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let (_, list) = call(
        http,
        "GET",
        &format!("{base}/v1/secrets"),
        Some(token),
        None,
    )
    .await;
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s["secret"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_post_reload_apply_a_new_config_and_keep_the_running_one_when_broken() {
    let first = secret("a", "unchecked") + &secret("slow", "slow");
    let server = start(&config("", &base_tokens(), &first));
    let config_path = server._dir.path().join("rotation.toml");
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let (status, _) = call(&http, "GET", &url("/v1/secrets"), Some(NEW_READER), None).await;
    assert_eq!(status, 401, "not configured yet");

    // A rotation in flight under the first config (its verifier takes 3 s).
    let (status, slow) = call(
        &http,
        "POST",
        &url("/v1/secrets/slow/rotate"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 202, "{slow}");

    // SIGHUP: a new secret and a new token take effect.
    let tokens = base_tokens() + &token("new", "reader", NEW_READER);
    let second = first.clone() + &secret("n", "unchecked") + &secret("tick", "often");
    std::fs::write(&config_path, config("", &tokens, &second)).expect("config");
    signal(&server, "HUP");
    eventually("the new secret is served", || async {
        ids(&http, &base, READER).await.contains(&"n".to_owned())
    })
    .await;
    assert_eq!(
        ids(&http, &base, NEW_READER).await,
        ["a", "slow", "n", "tick"]
    );
    let (_, n) = call(&http, "GET", &url("/v1/secrets/n"), Some(NEW_READER), None).await;
    assert_eq!(n["schedule"]["state"], "manual", "reconciled: {n}");
    rotate(&http, &base, "n").await;
    eventually("the new secret is scheduled", || async {
        let (_, t) = call(&http, "GET", &url("/v1/secrets/tick"), Some(READER), None).await;
        t["schedule"]["rotation_count"].as_u64() >= Some(1)
    })
    .await;

    // The rotation claimed under the first config still blocks a second one, and finishes.
    let (status, busy) = call(
        &http,
        "POST",
        &url("/v1/secrets/slow/rotate"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 409, "{busy}");
    assert!(
        busy["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(slow["rotation_id"].as_str().expect("id"))),
        "{busy} {slow}"
    );
    let status_url = url(slow["status_url"].as_str().expect("status url"));
    eventually("the rotation in flight finishes", || async {
        let (_, rot) = call(&http, "GET", &status_url, Some(READER), None).await;
        rot["finished"] == true
    })
    .await;
    let (_, rot) = call(&http, "GET", &status_url, Some(READER), None).await;
    assert_eq!(rot["status"], "success", "{rot}");

    // A broken config (SIGHUP): refused, logged with the field, the running one kept.
    let broken = config(
        "",
        &(tokens.clone()
            + "[[server.tokens]]\nname = \"bad\"\nrole = \"reader\"\nsha256 = \"xyz\"\n\n"),
        &first,
    );
    std::fs::write(&config_path, &broken).expect("config");
    signal(&server, "HUP");
    eventually("the refusal is logged", || async {
        log(&server).contains("config reload refused")
    })
    .await;
    assert!(
        log(&server).contains("server.tokens[3].sha256"),
        "{}",
        log(&server)
    );
    assert_eq!(
        ids(&http, &base, NEW_READER).await,
        ["a", "slow", "n", "tick"]
    );

    // POST /v1/reload: the same refusal, with the field; operator only.
    let (status, _) = call(&http, "POST", &url("/v1/reload"), Some(READER), None).await;
    assert_eq!(status, 403);
    let (status, refused) = call(&http, "POST", &url("/v1/reload"), Some(OPERATOR), None).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["field"], "server.tokens[3].sha256",
        "{refused}"
    );
    assert!(
        !refused
            .to_string()
            .contains(&*config_path.to_string_lossy()),
        "no server path in the answer: {refused}"
    );
    // A restart-only field is refused too.
    std::fs::write(&config_path, config("body_limit = 4096", &tokens, &second)).expect("config");
    let (status, refused) = call(&http, "POST", &url("/v1/reload"), Some(OPERATOR), None).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "server.body_limit", "{refused}");
    assert_eq!(
        ids(&http, &base, NEW_READER).await,
        ["a", "slow", "n", "tick"]
    );

    // Removing the secret and the token: they stop.
    std::fs::write(&config_path, config("", &base_tokens(), &first)).expect("config");
    let (status, report) = call(&http, "POST", &url("/v1/reload"), Some(OPERATOR), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["removed"], json!(["n", "tick"]), "{report}");
    assert_eq!(
        (report["secrets"].clone(), report["tokens"].clone()),
        (json!(2), json!(2))
    );
    let (status, gone) = call(&http, "GET", &url("/v1/secrets"), Some(NEW_READER), None).await;
    assert_eq!(status, 401, "{gone}");
    assert_eq!(gone["error"]["message"], "the bearer token is not valid");
    let (status, _) = call(&http, "GET", &url("/v1/secrets/n"), Some(READER), None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &http,
        "POST",
        &url("/v1/secrets/n/rotate"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(ids(&http, &base, READER).await, ["a", "slow"]);
    // The removed secret is no longer scheduled (one already running may still finish).
    let audit = server._dir.path().join(".rotation/audit.jsonl");
    let ticks = || {
        std::fs::read_to_string(&audit)
            .expect("audit log")
            .lines()
            .filter(|l| l.contains("\"secret\":\"tick\""))
            .count()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ticks();
    assert!(before > 0, "it rotated while configured");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ticks(), before, "no rotation of a removed secret");
    let mut server = server;
    assert_eq!(sigterm(&mut server), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_longer_than_the_request_timeout_answers_202_and_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("slow");
    let target = format!(
        "[targets.app]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; if [ -e '{}' ]; then sleep 3; fi\"]\n\n",
        flag.display()
    );
    let secrets = secret("a", "unchecked").replace(
        "create_if_missing = true\n",
        "create_if_missing = true\ntarget = \"app\"\n",
    );
    let text = target + &config("request_timeout = \"2s\"", &base_tokens(), &secrets);
    std::fs::write(dir.path().join("rotation.toml"), text).expect("config");
    let server = start_in(dir);
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);
    let first = rotate(&http, &server.base, "a").await;
    rotate(&http, &server.base, "a").await;
    std::fs::write(&flag, "").expect("flag");

    let (status, accepted) = call(
        &http,
        "POST",
        &url("/v1/secrets/a/rollback"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let status_url = accepted["status_url"]
        .as_str()
        .expect("status url")
        .to_owned();
    assert!(status_url.starts_with("/v1/rotations/"), "{accepted}");
    let (status, busy) = call(
        &http,
        "POST",
        &url("/v1/secrets/a/rotate"),
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, 409, "the rollback holds the secret: {busy}");
    eventually("the rollback finishes", || async {
        let (_, rot) = call(&http, "GET", &url(&status_url), Some(READER), None).await;
        rot["finished"] == true
    })
    .await;
    let (_, rot) = call(&http, "GET", &url(&status_url), Some(READER), None).await;
    assert_eq!(rot["status"], "rolled_back", "{rot}");
    let (_, one) = call(&http, "GET", &url("/v1/secrets/a"), Some(READER), None).await;
    let current: Vec<&Value> = one["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{one}");
    assert_eq!(current[0]["version"], first["new_version"], "{one} {first}");
}
