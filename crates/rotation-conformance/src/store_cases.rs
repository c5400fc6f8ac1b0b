//! Store contract cases: each is a plain async function over `&dyn SecretStore`.

use rotation_core::{ErrorKind, RotationId, SecretStore, SecretValue, VersionId, VersionState};

use crate::support::{create, text, unique_path, val};

fn rid() -> RotationId {
    RotationId::generate()
}

async fn current(
    store: &dyn SecretStore,
    path: &rotation_core::SecretPath,
) -> (VersionId, Vec<u8>) {
    let c = store.read_current(path).await.expect("read current");
    (c.version, text(store, &c.value))
}

/// Create, read back, list.
pub async fn round_trip(store: &dyn SecretStore) {
    let (path, v1) = create(store, "round-trip", "first-value").await;
    assert_eq!(
        current(store, &path).await,
        (v1.clone(), b"first-value".to_vec())
    );
    let versions = store.list_versions(&path).await.expect("list");
    assert_eq!(versions[0].version, v1);
    assert_eq!(versions[0].state, VersionState::Current);
    assert!(
        store
            .read_previous(&path)
            .await
            .expect("previous")
            .is_none()
    );
}

/// Creating an existing secret is a conflict.
pub async fn create_twice_conflicts(store: &dyn SecretStore) {
    let (path, _) = create(store, "create-twice", "a").await;
    let err = store
        .write_current(&path, &rid(), &val(store, "b"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(current(store, &path).await.1, b"a");
}

/// A write against a stale version fails and changes nothing.
pub async fn stale_write_conflicts_and_changes_nothing(store: &dyn SecretStore) {
    let (path, v1) = create(store, "stale-write", "a").await;
    let v2 = store
        .write_current(&path, &rid(), &val(store, "b"), Some(&v1))
        .await
        .expect("write");
    assert_ne!(v1, v2);
    let err = store
        .write_current(&path, &rid(), &val(store, "c"), Some(&v1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(current(store, &path).await, (v2, b"b".to_vec()));
}

/// Staging twice with one rotation id yields one pending version, invisible to readers.
pub async fn stage_is_idempotent_and_invisible(store: &dyn SecretStore) {
    let (path, v1) = create(store, "stage-idem", "old").await;
    let id = rid();
    let p1 = store
        .stage(&path, &id, &val(store, "new"))
        .await
        .expect("stage");
    let p2 = store
        .stage(&path, &id, &val(store, "other"))
        .await
        .expect("stage again");
    assert_eq!(p1, p2);
    assert_eq!(current(store, &path).await, (v1, b"old".to_vec()));
    let pending = store
        .read_pending(&path, &id)
        .await
        .expect("pending")
        .expect("some");
    assert_eq!(
        (pending.version, text(store, &pending.value)),
        (p1, b"new".to_vec())
    );
    assert!(
        store
            .read_pending(&path, &rid())
            .await
            .expect("other id")
            .is_none()
    );
}

/// Of two rotations started from the same version, only the first promote wins. Stores with a
/// single pending slot refuse the second stage while the first is pending, and the stale promote
/// is tried after the first one finished.
pub async fn promote_is_compare_and_swap(store: &dyn SecretStore) {
    let (path, v1) = create(store, "promote-cas", "old").await;
    let single = store.capabilities().single_pending;
    let (a, b) = (rid(), rid());
    store
        .stage(&path, &a, &val(store, "from-a"))
        .await
        .expect("stage a");
    if single {
        let err = store
            .stage(&path, &b, &val(store, "from-b"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InProgress, "{err}");
    } else {
        store
            .stage(&path, &b, &val(store, "from-b"))
            .await
            .expect("stage b");
    }
    let va = store.promote(&path, &a, &v1).await.expect("promote a");
    if single {
        store
            .stage(&path, &b, &val(store, "from-b"))
            .await
            .expect("stage b after a");
    }
    let err = store.promote(&path, &b, &v1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(current(store, &path).await, (va, b"from-a".to_vec()));
    let prev = store
        .read_previous(&path)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(
        (prev.version, text(store, &prev.value)),
        (v1, b"old".to_vec())
    );
    store.discard_pending(&path, &b).await.expect("discard b");
    assert!(
        store
            .read_pending(&path, &b)
            .await
            .expect("pending b")
            .is_none()
    );
}

/// Promoting the same rotation twice returns the same version.
pub async fn promote_is_idempotent(store: &dyn SecretStore) {
    let (path, v1) = create(store, "promote-idem", "old").await;
    let id = rid();
    store
        .stage(&path, &id, &val(store, "new"))
        .await
        .expect("stage");
    let first = store.promote(&path, &id, &v1).await.expect("promote");
    let again = store.promote(&path, &id, &v1).await.expect("promote again");
    assert_eq!(first, again);
    assert_eq!(current(store, &path).await.1, b"new");
}

/// Promote needs a pending value.
pub async fn promote_without_pending_is_not_found(store: &dyn SecretStore) {
    let (path, v1) = create(store, "promote-none", "old").await;
    let err = store.promote(&path, &rid(), &v1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// Discarding twice (or nothing) is fine, and a discarded value cannot be promoted.
pub async fn discard_is_idempotent(store: &dyn SecretStore) {
    let (path, v1) = create(store, "discard", "old").await;
    let id = rid();
    store
        .stage(&path, &id, &val(store, "new"))
        .await
        .expect("stage");
    store.discard_pending(&path, &id).await.expect("discard");
    store
        .discard_pending(&path, &id)
        .await
        .expect("discard again");
    store
        .discard_pending(&path, &rid())
        .await
        .expect("discard unknown");
    assert_eq!(
        store.promote(&path, &id, &v1).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(current(store, &path).await, (v1, b"old".to_vec()));
}

/// Restore brings back the exact bytes, under CAS.
pub async fn restore_is_cas_and_byte_identical(store: &dyn SecretStore) {
    let old: Vec<u8> = (0u8..=255).collect();
    let path = unique_path("restore");
    let caps = store.capabilities();
    let old_value = if caps.binary {
        SecretValue::new(old.clone())
    } else {
        val(store, "old\u{e9}\n\t value")
    };
    let v1 = store
        .write_current(&path, &rid(), &old_value, None)
        .await
        .expect("create");
    let v2 = store
        .write_current(&path, &rid(), &val(store, "new"), Some(&v1))
        .await
        .expect("write");
    let err = store.restore(&path, &v1, &v1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let v3 = store.restore(&path, &v1, &v2).await.expect("restore");
    let (now, bytes) = current(store, &path).await;
    assert_eq!(now, v3);
    assert_eq!(bytes, text(store, &old_value));
}

/// Versions are listed newest first with their roles.
pub async fn list_versions_reports_states(store: &dyn SecretStore) {
    let (path, v1) = create(store, "list", "one").await;
    let v2 = store
        .write_current(&path, &rid(), &val(store, "two"), Some(&v1))
        .await
        .expect("write");
    let id = rid();
    let p = store
        .stage(&path, &id, &val(store, "three"))
        .await
        .expect("stage");
    let versions = store.list_versions(&path).await.expect("list");
    let state_of = |v: &VersionId| versions.iter().find(|i| &i.version == v).map(|i| i.state);
    assert_eq!(state_of(&v2), Some(VersionState::Current));
    assert_eq!(state_of(&v1), Some(VersionState::Previous));
    assert_eq!(state_of(&p), Some(VersionState::Pending));
    let pending = versions
        .iter()
        .find(|i| i.version == p)
        .expect("pending listed");
    assert_eq!(pending.rotation_id.as_ref(), Some(&id));
}

/// Every read of a missing secret is `NotFound`, and staging does not create it.
pub async fn missing_secret_is_not_found(store: &dyn SecretStore) {
    let path = unique_path("missing");
    assert_eq!(
        store.read_current(&path).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store
            .stage(&path, &rid(), &val(store, "x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.read_current(&path).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.list_versions(&path).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// Large and unicode values survive byte for byte.
pub async fn large_and_unicode_values(store: &dyn SecretStore) {
    let unicode = "pässwörd-密码-🔑-\u{0}-end";
    let (path, v1) = create(store, "unicode", unicode).await;
    assert_eq!(current(store, &path).await.1, unicode.as_bytes());
    let size = (store.capabilities().max_value_bytes / 2).min(256 * 1024);
    let big: String = (0..size)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let id = rid();
    store
        .stage(&path, &id, &val(store, big.as_str()))
        .await
        .expect("stage big");
    store.promote(&path, &id, &v1).await.expect("promote big");
    assert_eq!(current(store, &path).await.1, big.as_bytes());
}

/// `read_version` finds pending and committed versions.
pub async fn read_version_returns_pending_and_committed(store: &dyn SecretStore) {
    let (path, v1) = create(store, "read-version", "one").await;
    let p = store
        .stage(&path, &rid(), &val(store, "two"))
        .await
        .expect("stage");
    assert_eq!(
        text(
            store,
            &store.read_version(&path, &v1).await.expect("v1").value
        ),
        b"one"
    );
    assert_eq!(
        text(
            store,
            &store.read_version(&path, &p).await.expect("pending").value
        ),
        b"two"
    );
    let missing = VersionId::new("999999");
    assert_eq!(
        store
            .read_version(&path, &missing)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

/// A retried write of the same rotation returns the version it wrote and writes nothing.
pub async fn write_current_is_idempotent_per_rotation_id(store: &dyn SecretStore) {
    let (path, v1) = create(store, "write-idem", "old").await;
    let id = rid();
    let v2 = store
        .write_current(&path, &id, &val(store, "new"), Some(&v1))
        .await
        .expect("write");
    let again = store
        .write_current(&path, &id, &val(store, "new"), Some(&v1))
        .await
        .expect("retried write");
    assert_eq!(again, v2);
    assert_eq!(store.list_versions(&path).await.expect("list").len(), 2);
}

/// Restore is an undo: it is idempotent, and the undone version does not become "previous".
pub async fn restore_is_an_undo(store: &dyn SecretStore) {
    let (path, v1) = create(store, "restore-undo", "one").await;
    let v2 = store
        .write_current(&path, &rid(), &val(store, "two"), Some(&v1))
        .await
        .expect("two");
    let v3 = store
        .write_current(&path, &rid(), &val(store, "three"), Some(&v2))
        .await
        .expect("three");
    let restored = store.restore(&path, &v2, &v3).await.expect("restore");
    let again = store.restore(&path, &v2, &v3).await.expect("restore again");
    assert_eq!(restored, again);
    assert_eq!(current(store, &path).await.1, b"two");
    // The previous version is what preceded "two" ("one"), or unknown: never the undone "three".
    if let Some(previous) = store.read_previous(&path).await.expect("previous") {
        assert_eq!(
            text(store, &previous.value),
            b"one",
            "the undone value is not previous"
        );
    }
}

/// No error the suite can provoke (conflicts, the crash suite's leftovers, missing secrets,
/// oversize and malformed values; see [`crate::store_faults`]) shows the value: not in its
/// message, its `Debug` or its sources, not raw, hex or base64 encoded.
pub async fn errors_never_contain_the_value(store: &dyn SecretStore) {
    let probe = crate::leak::Probe::new();
    crate::store_faults::every_fault(store, &probe).await;
    println!("{}: {} errors checked", store.kind(), probe.checked());
    assert!(probe.checked() >= 15, "too few faults: {}", probe.checked());
}
