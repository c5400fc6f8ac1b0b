//! Every fault the suite knows how to put a store in, with values carrying a [`Probe`] marker,
//! each error handed to the probe: create/write/restore conflicts, the states the crash suite
//! leaves behind (a dead rotation's pending value, then a competing stage, a write by hand, a
//! stale promote or rollback, a discard), promote without pending, missing secrets, oversize and
//! malformed values. Drives [`crate::store_cases::errors_never_contain_the_value`].

use rotation_core::{ErrorKind, RotationId, SecretStore, SecretValue, VersionId};

use crate::leak::Probe;
use crate::support::{create_raw, unique_path, val};

fn rid() -> RotationId {
    RotationId::generate()
}

/// A value holding the marker (inside `{"value": ..}` for JSON-object stores).
fn value(store: &dyn SecretStore, probe: &Probe, tag: &str) -> SecretValue {
    val(store, &format!("{}{tag}", probe.marker()))
}

/// Run every fault against `store`.
pub async fn every_fault(store: &dyn SecretStore, probe: &Probe) {
    conflicts(store, probe).await;
    after_a_crash(store, probe).await;
    missing_secret(store, probe).await;
    oversize(store, probe).await;
    malformed(store, probe).await;
}

/// Compare-and-swap losses of create, write and restore.
async fn conflicts(store: &dyn SecretStore, probe: &Probe) {
    let (path, v1) = create_raw(store, "leak-conflict", value(store, probe, "one")).await;
    let v = |tag| value(store, probe, tag);
    probe.fails(
        "create an existing secret",
        store.write_current(&path, &rid(), &v("create"), None).await,
    );
    let v2 = store
        .write_current(&path, &rid(), &v("two"), Some(&v1))
        .await
        .expect("write");
    let err = probe.fails(
        "stale write",
        store
            .write_current(&path, &rid(), &v("stale"), Some(&v1))
            .await,
    );
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    probe.fails("stale restore", store.restore(&path, &v1, &v1).await);
    let missing = VersionId::new("999999");
    probe.fails(
        "read a missing version",
        store.read_version(&path, &missing).await,
    );
    probe.maybe(
        "restore a missing version",
        store.restore(&path, &missing, &v2).await,
    );
}

/// What the crash suite leaves and does next: a dead rotation's pending value, a second stage
/// (with another value for the same id, and for another id), a write by hand, the dead
/// rotation's stale promote, a stale rollback, promote after discard.
async fn after_a_crash(store: &dyn SecretStore, probe: &Probe) {
    let (path, v1) = create_raw(store, "leak-crash", value(store, probe, "old")).await;
    let v = |tag| value(store, probe, tag);
    let dead = rid();
    store
        .stage(&path, &dead, &v("dead"))
        .await
        .expect("stage the value of the rotation that crashes");
    probe.maybe(
        "stage again with another value",
        store.stage(&path, &dead, &v("again")).await,
    );
    let other = rid();
    let staged = probe.maybe(
        "stage while another rotation's value is pending",
        store.stage(&path, &other, &v("other")).await,
    );
    assert!(
        staged.is_some() || store.capabilities().single_pending,
        "only single-pending stores refuse a second pending value"
    );
    let foreign = store
        .write_current(&path, &rid(), &v("foreign"), Some(&v1))
        .await
        .expect("write by hand");
    for id in std::iter::once(&dead).chain(staged.as_ref().map(|_| &other)) {
        let err = probe.fails(
            "promote after a write by hand",
            store.promote(&path, id, &v1).await,
        );
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    }
    probe.fails(
        "write against the version before the write by hand",
        store
            .write_current(&path, &rid(), &v("late"), Some(&v1))
            .await,
    );
    probe.fails(
        "roll back against a stale version",
        store.restore(&path, &v1, &v1).await,
    );
    for id in [&dead, &other] {
        store.discard_pending(&path, id).await.expect("discard");
    }
    probe.fails(
        "promote a discarded rotation",
        store.promote(&path, &dead, &foreign).await,
    );
    probe.fails(
        "promote without pending",
        store.promote(&path, &rid(), &foreign).await,
    );
}

/// Operations carrying a value (or a version) on a secret that does not exist.
async fn missing_secret(store: &dyn SecretStore, probe: &Probe) {
    let path = unique_path("leak-missing");
    let some = VersionId::new("1");
    let v = |tag| value(store, probe, tag);
    probe.fails("read a missing secret", store.read_current(&path).await);
    probe.fails(
        "stage on a missing secret",
        store.stage(&path, &rid(), &v("stage")).await,
    );
    probe.fails(
        "write against a version of a missing secret",
        store
            .write_current(&path, &rid(), &v("write"), Some(&some))
            .await,
    );
    probe.fails(
        "promote on a missing secret",
        store.promote(&path, &rid(), &some).await,
    );
    probe.fails(
        "restore on a missing secret",
        store.restore(&path, &some, &some).await,
    );
    probe.fails("list a missing secret", store.list_versions(&path).await);
}

/// A value one marker longer than the store accepts (stores that do not enforce their limit
/// may take it; an error they do return is checked).
async fn oversize(store: &dyn SecretStore, probe: &Probe) {
    let max = store.capabilities().max_value_bytes;
    if max > 64 << 20 {
        return;
    }
    let big = val(
        store,
        &probe.marker().repeat(max / probe.marker().len() + 1),
    );
    assert!(big.len() > max);
    let fresh = unique_path("leak-oversize-new");
    probe.maybe(
        "create with an oversize value",
        store.write_current(&fresh, &rid(), &big, None).await,
    );
    let (path, v1) = create_raw(store, "leak-oversize", value(store, probe, "small")).await;
    let id = rid();
    if probe
        .maybe(
            "stage an oversize value",
            store.stage(&path, &id, &big).await,
        )
        .is_some()
    {
        store.discard_pending(&path, &id).await.expect("discard");
    }
    probe.maybe(
        "write an oversize value",
        store.write_current(&path, &rid(), &big, Some(&v1)).await,
    );
}

/// Values of the wrong shape: not UTF-8 for text stores, not a JSON object for object stores.
async fn malformed(store: &dyn SecretStore, probe: &Probe) {
    let caps = store.capabilities();
    let m = probe.marker();
    let mut bad = Vec::new();
    if !caps.binary {
        let mut bytes = m.as_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, 0x80]);
        bad.push(("not UTF-8", SecretValue::new(bytes)));
    }
    if caps.json_objects {
        bad.push((
            "a JSON array",
            SecretValue::from(format!(r#"["{m}"]"#).as_str()),
        ));
        bad.push((
            "a JSON string",
            SecretValue::from(format!(r#""{m}""#).as_str()),
        ));
        bad.push((
            "not JSON",
            SecretValue::from(format!(r#"{{"value":"{m}"#).as_str()),
        ));
    }
    for (shape, wrong) in bad {
        let fresh = unique_path("leak-malformed-new");
        probe.fails(
            &format!("create with a value that is {shape}"),
            store.write_current(&fresh, &rid(), &wrong, None).await,
        );
        let (path, v1) = create_raw(store, "leak-malformed", value(store, probe, "ok")).await;
        probe.fails(
            &format!("stage a value that is {shape}"),
            store.stage(&path, &rid(), &wrong).await,
        );
        probe.fails(
            &format!("write a value that is {shape}"),
            store.write_current(&path, &rid(), &wrong, Some(&v1)).await,
        );
    }
}
