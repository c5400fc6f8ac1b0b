//! Key Vault behaviour beyond the shared contract, against the in-process test server: a
//! concurrent writer between the check and the write, soft-deleted and disabled secrets, paging
//! over many versions (with the service's empty pages), throttling with `Retry-After`, RBAC
//! denials, bad tokens, carried-over tags and content types, and expiry.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rotation_azure::store::{TAG_PREVIOUS, TAG_ROTATION, TAG_STATUS};
use rotation_azure::{AzureStore, StaticTokenCredential};
use rotation_azure_testserver::KeyVaultServer;
use rotation_conformance::support::{ScriptedVerifier, binding};
use rotation_core::{
    Engine, ErrorKind, RotateRequest, RotationId, RotationStrategy, SecretPath, SecretStore,
    SecretValue, VersionState,
};
use rotation_testkit::unique;

/// Stage a new value for `name` with a fresh rotation id; the error it must fail with.
async fn stage_fails(store: &AzureStore, name: &str) -> rotation_core::Error {
    store
        .stage(
            &SecretPath::new(name),
            &RotationId::generate(),
            &SecretValue::from("new"),
        )
        .await
        .unwrap_err()
}

async fn rotate(
    store: Arc<dyn SecretStore>,
    name: &str,
    strategy: RotationStrategy,
) -> rotation_core::RotationResult {
    let b = binding(
        store,
        SecretPath::new(name),
        strategy,
        true,
        ScriptedVerifier::passing(),
    );
    Engine::builder()
        .build()
        .rotate(&b, RotateRequest::default())
        .await
}

fn value_of(server: &KeyVaultServer, name: &str) -> String {
    server
        .versions(name)
        .last()
        .expect("a version")
        .value
        .clone()
}

#[tokio::test]
async fn a_writer_between_the_check_and_the_write_is_a_conflict_and_keeps_its_value() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    for strategy in [RotationStrategy::Staged, RotationStrategy::Immediate] {
        let name = unique("race");
        server.put(&name, "old");
        let path = SecretPath::new(&name);
        let rid = RotationId::generate();
        let start = store.read_current(&path).await.expect("read");
        // Fires on the store's own check of the latest version, right before it writes.
        let err = if strategy == RotationStrategy::Staged {
            store
                .stage(&path, &rid, &SecretValue::from("new"))
                .await
                .expect("stage");
            server.write_after_next_get(&name, "theirs");
            store
                .promote(&path, &rid, &start.version)
                .await
                .unwrap_err()
        } else {
            server.write_after_next_get(&name, "theirs");
            store
                .write_current(&path, &rid, &SecretValue::from("new"), Some(&start.version))
                .await
                .unwrap_err()
        };
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(err.message().contains("concurrent writer"), "{err}");
        let versions = server.versions(&name);
        assert_eq!(
            value_of(server, &name),
            "theirs",
            "{strategy:?}: their value is current"
        );
        let ours: Vec<_> = versions
            .iter()
            .filter(|v| {
                v.tags
                    .get(TAG_STATUS)
                    .is_some_and(|s| s.starts_with("conflict"))
            })
            .collect();
        assert_eq!(ours.len(), 1, "{strategy:?}: our write is retired");
        assert!(!ours[0].enabled);
        let current = store
            .read_current(&SecretPath::new(&name))
            .await
            .expect("read");
        assert_eq!(current.value.expose(), b"theirs");
    }
}

#[tokio::test]
async fn a_competing_write_during_verification_is_a_conflict() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("competing");
    server.put(&name, "old");
    let (entered, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let b = binding(
        store.clone(),
        SecretPath::new(&name),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::holding(entered.clone(), release.clone()),
    );
    let task = tokio::spawn(async move {
        Engine::builder()
            .build()
            .rotate(&b, RotateRequest::default())
            .await
    });
    entered.notified().await;
    server.put(&name, "by-hand");
    release.notify_one();
    let r = task.await.expect("join");
    assert_eq!(r.error_kind, Some(ErrorKind::Conflict), "{r:?}");
    assert_eq!(value_of(server, &name), "by-hand");
    assert_eq!(server.versions(&name).len(), 2, "nothing written over it");
    let comp = server.versions(&format!("{name}-rotation-pending"));
    assert!(
        comp.iter().all(|v| !v.enabled),
        "the pending value is retired"
    );
}

#[tokio::test]
async fn a_soft_deleted_secret_is_a_clear_error_not_a_new_secret() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("deleted");
    server.put(&name, "old");
    server.soft_delete(&name);
    let path = SecretPath::new(&name);
    let err = store.read_current(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    assert!(err.message().contains("deleted but recoverable"), "{err}");
    assert!(err.message().contains("recover"), "{err}");
    let err = store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("x"),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.message().contains("deleted but recoverable"), "{err}");
    let r = rotate(store.clone(), &name, RotationStrategy::Staged).await;
    assert!(!r.success);
    assert!(server.versions(&name).is_empty(), "nothing created");
}

#[tokio::test]
async fn a_disabled_current_version_is_reported_as_disabled() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("disabled");
    let v = server.put(&name, "old");
    server.set_enabled(&name, &v, false);
    let err = store
        .read_current(&SecretPath::new(&name))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    assert!(err.message().contains("disabled"), "{err}");
    assert!(!err.message().contains("permission"), "{err}");
    let r = rotate(store.clone(), &name, RotationStrategy::Staged).await;
    assert!(!r.success);
    assert_eq!(server.versions(&name).len(), 1, "nothing written");
}

#[tokio::test]
async fn paging_follows_next_link_over_many_versions_and_empty_pages() {
    for empty_pages in [false, true] {
        let server = KeyVaultServer::builder().empty_pages(empty_pages).start();
        let store = common::store(&server);
        let name = unique("paging");
        let mut created = Vec::new();
        for i in 0..60 {
            created.push(server.put(&name, &format!("v{i}")));
        }
        let listed = store
            .list_versions(&SecretPath::new(&name))
            .await
            .expect("list");
        assert_eq!(listed.len(), 60, "empty_pages={empty_pages}");
        for v in &created {
            assert!(listed.iter().any(|l| l.version.as_str() == v), "{v} listed");
        }
        let pages = server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/versions") && r.status == 200)
            .count();
        assert!(pages >= 3, "followed nextLink over {pages} pages");
        // A rotation after 60 versions finds the concurrent-writer check clean.
        let r = rotate(store.clone(), &name, RotationStrategy::Staged).await;
        assert!(r.success, "{r:?}");
    }
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let server = KeyVaultServer::start();
    let store = common::store(&server);
    let name = unique("throttled");
    server.put(&name, "old");
    store
        .read_current(&SecretPath::new(&name))
        .await
        .expect("warm up the challenge");
    server.throttle(1, Duration::from_secs(1));
    let read = store
        .read_current(&SecretPath::new(&name))
        .await
        .expect("read after a 429");
    assert_eq!(read.value.expose(), b"old");
    let log = server.requests();
    let throttled = log.iter().rposition(|r| r.status == 429).expect("a 429");
    let retry = &log[throttled + 1];
    assert_eq!(retry.status, 200);
    let gap = retry.at.duration_since(log[throttled].at);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: waited {gap:?}"
    );

    let impatient = common::builder(&server)
        .max_retries(0)
        .build()
        .expect("store");
    server.throttle(1, Duration::from_secs(1));
    let err = impatient
        .read_current(&SecretPath::new(&name))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    assert!(err.message().contains("throttled"), "{err}");
}

#[tokio::test]
async fn a_missing_permission_names_it_and_changes_nothing() {
    let server = KeyVaultServer::start();
    let store = common::store(&server);
    let name = unique("denied");
    server.put(&name, "old");
    server.deny("set");
    let r = rotate(store.clone(), &name, RotationStrategy::Staged).await;
    assert_eq!(r.error_kind, Some(ErrorKind::PermissionDenied), "{r:?}");
    let err = store
        .write_current(
            &SecretPath::new(&name),
            &RotationId::generate(),
            &SecretValue::from("x"),
            store
                .read_current(&SecretPath::new(&name))
                .await
                .ok()
                .map(|c| c.version)
                .as_ref(),
        )
        .await
        .unwrap_err();
    assert!(err.message().contains("setSecret"), "{err}");
    assert!(err.message().contains("'set' permission"), "{err}");
    assert_eq!(server.versions(&name).len(), 1);
    assert_eq!(value_of(&server, &name), "old");
}

#[tokio::test]
async fn a_refused_token_is_unauthenticated() {
    let server = KeyVaultServer::builder().token("the-right-one").start();
    let store = common::builder(&server)
        .credential(Arc::new(StaticTokenCredential::new(
            "a-wrong-one",
            Duration::from_secs(60),
        )))
        .build()
        .expect("store");
    let err = store
        .read_current(&SecretPath::new("anything"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
}

#[tokio::test]
async fn rotation_tags_and_expiry_are_set_on_written_versions() {
    let server = rotation_azure_testserver::shared();
    let name = unique("carried");
    let store = common::builder(server)
        .expires_after(Duration::from_secs(90 * 86_400))
        .build()
        .map(Arc::new)
        .expect("store");
    let path = SecretPath::new(&name);
    let first = store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from("old"),
            None,
        )
        .await
        .expect("create");
    assert_eq!(first.as_str().len(), 32);
    let r = rotate(store.clone(), &name, RotationStrategy::Staged).await;
    assert!(r.success, "{r:?}");
    let versions = server.versions(&name);
    let latest = versions.last().expect("latest");
    assert_eq!(
        latest.tags.get(TAG_PREVIOUS).map(String::as_str),
        Some(first.as_str())
    );
    assert!(latest.tags.contains_key(TAG_ROTATION));
    let exp = latest.expires.expect("exp set");
    let in_days = (exp - latest.created) / 86_400;
    assert!((89..=90).contains(&in_days), "exp in {in_days} days");
    let listed = store.list_versions(&path).await.expect("list");
    assert_eq!(listed[0].state, VersionState::Current);
}

#[tokio::test]
async fn names_outside_key_vaults_alphabet_are_refused_before_any_request() {
    let server = KeyVaultServer::start();
    let store = common::store(&server);
    let err = store
        .read_current(&SecretPath::new("db_password"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(server.requests().is_empty());
    // '/' maps to '-'.
    server.put("team-db", "v");
    let read = store
        .read_current(&SecretPath::new("team/db"))
        .await
        .expect("read");
    assert_eq!(read.value.expose(), b"v");
}

#[tokio::test]
async fn errors_and_debug_output_never_carry_values() {
    let server = KeyVaultServer::start();
    let store = common::store(&server);
    let name = unique("leak");
    let secret = "s3cr3t-VALUE-never-printed";
    server.put(&name, secret);
    let path = SecretPath::new(&name);
    let current = store.read_current(&path).await.expect("read");
    let mut printed = vec![format!("{store:?}"), format!("{current:?}")];
    server.deny("set");
    let err = store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from(secret),
            Some(&current.version),
        )
        .await
        .unwrap_err();
    printed.push(format!("{err} {err:?}"));
    server.allow_all();
    let big = "x".repeat(30_000);
    let err = store
        .write_current(
            &path,
            &RotationId::generate(),
            &SecretValue::from(big.as_str()),
            Some(&current.version),
        )
        .await
        .unwrap_err();
    printed.push(format!("{err} {err:?}"));
    for p in printed {
        assert!(!p.contains(secret), "value leaked: {p}");
        assert!(!p.contains(&big[..100]), "value leaked");
    }
}

#[tokio::test]
async fn a_late_duplicate_of_our_own_write_is_not_a_concurrent_writer() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("duplicate");
    server.put(&name, "old");
    let path = SecretPath::new(&name);
    let start = store.read_current(&path).await.expect("read");
    let rid = RotationId::generate();
    // Our own earlier attempt (a PUT that timed out) lands right after the check.
    server.write_after_next_get_tagged(&name, "new", &[(TAG_ROTATION, rid.as_str())]);
    let v = store
        .write_current(&path, &rid, &SecretValue::from("new"), Some(&start.version))
        .await
        .expect("our duplicate is not a conflict");
    let current = store.read_current(&path).await.expect("read");
    assert_eq!((current.version, current.value.expose()), (v, &b"new"[..]));
}

#[tokio::test]
async fn an_interrupted_conflict_repair_is_finished_by_the_next_read() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("repair");
    server.put(&name, "old");
    let theirs = server.put(&name, "theirs");
    // What a crash right after marking leaves: ours on top, marked as having overwritten theirs.
    let marked = format!("conflict:{theirs}");
    let rid = RotationId::generate();
    server.put_tagged(
        &name,
        "ours",
        &[(TAG_ROTATION, rid.as_str()), (TAG_STATUS, marked.as_str())],
    );
    let path = SecretPath::new(&name);
    let current = store.read_current(&path).await.expect("read");
    assert_eq!(current.value.expose(), b"theirs");
    let versions = store.list_versions(&path).await.expect("list");
    assert!(
        versions
            .iter()
            .all(|v| v.rotation_id.as_ref() != Some(&rid)),
        "our write does not count as landed"
    );
    let ours = server.versions(&name);
    assert!(!ours[2].enabled, "ours is disabled");
    assert_eq!(ours.len(), 4, "repaired once");
}

#[tokio::test]
async fn too_many_user_tags_fail_before_the_target_changes() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("tags");
    let tags: Vec<(String, String)> = (0..13).map(|i| (format!("t{i}"), "x".to_owned())).collect();
    let refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    server.put_tagged(&name, "old", &refs);
    let err = stage_fails(&store, &name).await;
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    assert!(
        err.message().contains("13 tags") && err.message().contains("15"),
        "{err}"
    );
    assert!(
        server
            .versions(&format!("{name}-rotation-pending"))
            .is_empty()
    );
}

#[tokio::test]
async fn a_foreign_secret_with_the_companion_name_is_never_written() {
    let server = rotation_azure_testserver::shared();
    let store = common::store(server);
    let name = unique("foreign");
    server.put(&name, "old");
    let comp = format!("{name}-rotation-pending");
    let v = server.put(&comp, "someone else's");
    server.set_enabled(&comp, &v, false);
    let err = stage_fails(&store, &name).await;
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.message().contains("not the rotation companion"),
        "{err}"
    );
    assert_eq!(server.versions(&comp).len(), 1);
}
