//! Vault-specific behaviour against a real OpenBao: concurrent writers, missing permissions,
//! `max_versions`, `cas_required`, field rotation, KV v1 and deleted versions refused, size
//! limit, and an outage in the middle of a rotation resolved by recovery.

use std::collections::HashMap;
use std::sync::Arc;

use rotation_conformance::support::{ScriptedVerifier, binding};
use rotation_core::{
    Engine, ErrorKind, MemoryStateStore, RecoveryAction, RotateRequest, RotationId, RotationStatus,
    RotationStrategy, SecretPath, SecretStore, SecretValue, VersionState,
};
use rotation_testkit::{Bao, RaftBao, unique};
use rotation_vault::{Auth, VaultStore};
use serde_json::{Value, json};
use tokio::sync::Notify;

fn store_on(addr: &str, token: &str, mount: &str) -> Arc<VaultStore> {
    Arc::new(
        VaultStore::builder()
            .address(addr)
            .auth(Auth::Token(SecretValue::from(token)))
            .mount(mount)
            .build()
            .expect("store"),
    )
}

fn fresh() -> (Bao, String, Arc<VaultStore>) {
    let bao = Bao::from_env();
    let mount = unique("kv");
    bao.enable_kv2(&mount);
    let store = store_on(&bao.addr, &bao.token, &mount);
    (bao, mount, store)
}

fn doc(v: Value) -> SecretValue {
    SecretValue::new(serde_json::to_vec(&v).expect("json"))
}

async fn put(store: &VaultStore, path: &str, v: Value) {
    store
        .write_current(
            &SecretPath::new(path),
            &RotationId::generate(),
            &doc(v),
            None,
        )
        .await
        .expect("create");
}

async fn get(store: &VaultStore, path: &str) -> Value {
    serde_json::from_slice(
        store
            .read_current(&SecretPath::new(path))
            .await
            .expect("read")
            .value
            .expose(),
    )
    .expect("json")
}

fn field_binding(
    store: Arc<VaultStore>,
    path: &str,
    verifier: Arc<ScriptedVerifier>,
) -> rotation_core::SecretBinding {
    let mut b = binding(
        store,
        SecretPath::new(path),
        RotationStrategy::Staged,
        true,
        verifier,
    );
    b.field = Some("password".into());
    b
}

#[tokio::test]
async fn a_bao_kv_put_between_read_and_promote_wins_and_is_not_overwritten() {
    let (bao, mount, store) = fresh();
    put(
        &store,
        "app/db",
        json!({"username": "app", "password": "old"}),
    )
    .await;
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = field_binding(
        store.clone(),
        "app/db",
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let task = tokio::spawn(async move {
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
    });
    entered.notified().await;
    bao.cli_ok(&[
        "kv",
        "put",
        &format!("-mount={mount}"),
        "app/db",
        "username=app",
        "password=by-hand",
    ]);
    release.notify_one();
    let r = task.await.expect("join");
    assert_eq!(r.error_kind, Some(ErrorKind::Conflict), "{r:?}");
    assert!(!r.success);
    assert_eq!(get(&store, "app/db").await["password"], "by-hand");
    let versions = store
        .list_versions(&SecretPath::new("app/db"))
        .await
        .expect("list");
    assert!(
        versions.iter().all(|v| v.state != VersionState::Pending),
        "{versions:?}"
    );
}

#[tokio::test]
async fn a_token_without_update_gets_a_clear_permission_error_and_nothing_changes() {
    let (bao, mount, store) = fresh();
    put(&store, "app/db", json!({"password": "old"})).await;
    let policy = format!(
        "path \"{mount}/data/*\" {{ capabilities = [\"read\"] }}\npath \"{mount}/metadata/*\" {{ capabilities = [\"read\", \"list\"] }}"
    );
    let token = bao.create_token(&unique("ro"), &policy);
    let limited = store_on(&bao.addr, &token, &mount);
    let b = field_binding(limited, "app/db", ScriptedVerifier::passing());
    let r = Engine::builder()
        .build()
        .rotate(&b, RotateRequest::default())
        .await;
    assert_eq!(r.error_kind, Some(ErrorKind::PermissionDenied), "{r:?}");
    let e = r.error.expect("error");
    assert!(
        e.contains("permission denied") && e.contains("create/update"),
        "{e}"
    );
    assert!(!e.contains(&token), "the token never appears in errors");
    assert_eq!(get(&store, "app/db").await, json!({"password": "old"}));
    assert_eq!(
        store
            .list_versions(&SecretPath::new("app/db"))
            .await
            .expect("list")
            .len(),
        1
    );

    let bad = store_on(&bao.addr, "s.not-a-token", &mount);
    let err = bad
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
}

#[tokio::test]
async fn max_versions_two_and_cas_required_work() {
    let (bao, mount, store) = fresh();
    bao.kv_config(&mount, Some(2), Some(true));
    put(&store, "app/db", json!({"password": "v1"})).await;
    let b = field_binding(store.clone(), "app/db", ScriptedVerifier::passing());
    let engine = Engine::builder().build();
    for _ in 0..4 {
        let r = engine.rotate(&b, RotateRequest::default()).await;
        assert!(r.success, "{r:?}");
    }
    let path = SecretPath::new("app/db");
    let versions = store.list_versions(&path).await.expect("list");
    let live: Vec<_> = versions
        .iter()
        .filter(|v| v.state != VersionState::Pending)
        .collect();
    assert_eq!(live.len(), 2, "max_versions = 2: {versions:?}");
    let current = store.read_current(&path).await.expect("current");
    assert_eq!(current.version.as_str(), "5");
    let previous = store
        .read_previous(&path)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(previous.version.as_str(), "4");
    // Rollback restores version 4 byte for byte as version 6; version 3 is gone (max_versions).
    let restored = engine.rollback(&b).await.expect("rollback");
    assert_eq!(restored.to_version.as_str(), "6");
    assert_eq!(
        store.read_current(&path).await.expect("current").value,
        previous.value
    );
    assert!(
        store
            .read_previous(&path)
            .await
            .expect("previous")
            .is_none(),
        "version 3 was pruned by max_versions"
    );
}

#[tokio::test]
async fn only_the_configured_field_changes() {
    let (_bao, _mount, store) = fresh();
    put(
        &store,
        "app/db",
        json!({"username": "app", "password": "old", "host": "db.internal", "port": 5432}),
    )
    .await;
    let verifier = ScriptedVerifier::passing();
    let b = field_binding(store.clone(), "app/db", verifier.clone());
    assert!(
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
            .success
    );
    let now = get(&store, "app/db").await;
    assert_eq!(
        (
            now["username"].clone(),
            now["host"].clone(),
            now["port"].clone()
        ),
        (json!("app"), json!("db.internal"), json!(5432))
    );
    assert_ne!(now["password"], "old");
    assert_eq!(
        verifier.seen(),
        vec![now["password"].as_str().expect("str").as_bytes().to_vec()]
    );
}

#[tokio::test]
async fn kv1_mounts_deleted_versions_and_oversized_values_are_refused_clearly() {
    let bao = Bao::from_env();
    let v1 = unique("kv1");
    bao.enable_kv1(&v1);
    let store = store_on(&bao.addr, &bao.token, &v1);
    let err = store.read_current(&SecretPath::new("x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert!(
        err.to_string().contains("version 1") && err.to_string().contains("KV version 2"),
        "{err}"
    );

    let (bao, mount, store) = fresh();
    put(&store, "app/db", json!({"password": "old"})).await;
    bao.cli_ok(&["kv", "delete", &format!("-mount={mount}"), "app/db"]);
    let err = store
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deleted or destroyed"), "{err}");

    let big = doc(json!({"password": "x".repeat(600 * 1024)}));
    let err = store
        .write_current(
            &SecretPath::new("app/big"),
            &RotationId::generate(),
            &big,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    let err = store
        .write_current(
            &SecretPath::new("app/plain"),
            &RotationId::generate(),
            &SecretValue::from("not json"),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("field"), "{err}");
}

#[tokio::test]
async fn the_server_stops_mid_rotation_and_recovery_resolves_it_after_restart() {
    let mut raft = RaftBao::start();
    let store = store_on(&raft.addr, &raft.root_token, "secret");
    put(&store, "app/db", json!({"password": "old"})).await;
    let state = Arc::new(MemoryStateStore::new());
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let b = field_binding(
        store.clone(),
        "app/db",
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let engine = Engine::builder()
        .state(state.clone())
        .step_retries(2, std::time::Duration::from_millis(50))
        .build();
    let task = {
        let (engine, b) = (engine.clone(), b.clone());
        tokio::spawn(async move { engine.rotate(&b, RotateRequest::default()).await })
    };
    entered.notified().await;
    raft.stop();
    release.notify_one();
    let r = task.await.expect("join");
    assert!(!r.success, "{r:?}");
    assert_eq!(
        r.status,
        RotationStatus::Failed,
        "the undo could not reach the server either: {r:?}"
    );

    raft.restart();
    let store = store_on(&raft.addr, &raft.root_token, "secret");
    let mut b = b;
    b.store = store.clone();
    let bindings: HashMap<_, _> = [(b.id.clone(), b)].into();
    let reports = engine.recover(&bindings).await.expect("recover");
    assert!(
        reports
            .iter()
            .any(|r| r.action == RecoveryAction::DiscardedOrphan),
        "{reports:?}"
    );
    assert_eq!(get(&store, "app/db").await, json!({"password": "old"}));
    let versions = store
        .list_versions(&SecretPath::new("app/db"))
        .await
        .expect("list");
    assert!(
        versions.iter().all(|v| v.state != VersionState::Pending),
        "{versions:?}"
    );
    assert!(
        engine.recover(&bindings).await.expect("again").is_empty(),
        "recovery is idempotent"
    );
}

#[tokio::test]
async fn approle_login_works_and_a_bad_secret_id_is_unauthenticated() {
    let (bao, mount, store) = fresh();
    put(&store, "app/db", json!({"password": "old"})).await;
    let auth_path = unique("approle");
    let policy = unique("rw");
    bao.cli_ok(&["auth", "enable", &format!("-path={auth_path}"), "approle"]);
    let hcl = format!(
        "path \"{mount}/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\", \"list\"] }}"
    );
    bao.cli_stdin(&["policy", "write", &policy, "-"], &hcl);
    bao.cli_ok(&[
        "write",
        &format!("auth/{auth_path}/role/rotator"),
        &format!("token_policies={policy}"),
    ]);
    let role_id = bao.cli_ok(&[
        "read",
        "-field=role_id",
        &format!("auth/{auth_path}/role/rotator/role-id"),
    ]);
    let secret_id = bao.cli_ok(&[
        "write",
        "-f",
        "-field=secret_id",
        &format!("auth/{auth_path}/role/rotator/secret-id"),
    ]);
    let with = |secret: &str| {
        Arc::new(
            VaultStore::builder()
                .address(&bao.addr)
                .mount(&mount)
                .auth(Auth::AppRole {
                    mount: auth_path.clone(),
                    role_id: role_id.trim().to_owned(),
                    secret_id: SecretValue::from(secret),
                })
                .build()
                .expect("store"),
        )
    };
    let b = field_binding(
        with(secret_id.trim()),
        "app/db",
        ScriptedVerifier::passing(),
    );
    let r = Engine::builder()
        .build()
        .rotate(&b, RotateRequest::default())
        .await;
    assert!(r.success, "{r:?}");
    let err = with("wrong")
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(!err.to_string().contains(secret_id.trim()));
}

#[tokio::test]
async fn a_crash_between_the_data_write_and_its_note_is_recognised() {
    let (bao, mount, store) = fresh();
    put(&store, "app/db", json!({"password": "old"})).await;
    let path = SecretPath::new("app/db");
    let rid = RotationId::generate();
    let staged = store
        .stage(&path, &rid, &doc(json!({"password": "new"})))
        .await
        .expect("stage");
    assert!(staged.as_str().starts_with("pending/"));
    // The promote's CAS write lands, then the process dies before the note and the cleanup.
    bao.cli_ok(&[
        "kv",
        "put",
        &format!("-mount={mount}"),
        "-cas=1",
        "app/db",
        "password=new",
    ]);
    let versions = store.list_versions(&path).await.expect("list");
    let current = versions
        .iter()
        .find(|v| v.state == VersionState::Current)
        .expect("current");
    assert_eq!(
        current.rotation_id.as_ref(),
        Some(&rid),
        "attributed by the staged copy: {versions:?}"
    );
    // A retried promote recognises its own write instead of failing the CAS.
    let v = store
        .promote(&path, &rid, &rotation_core::VersionId::new("1"))
        .await
        .expect("retried promote");
    assert_eq!(v.as_str(), "2");
    assert_eq!(get(&store, "app/db").await, json!({"password": "new"}));
    assert!(
        store
            .read_pending(&path, &rid)
            .await
            .expect("pending")
            .is_none()
    );
}
