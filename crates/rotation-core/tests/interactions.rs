//! Exact call sequences of the real [`Engine`] against mocked collaborators (feature `mock`):
//! what it calls, with which arguments, in which order, and what it never calls. Behaviour
//! against real stores is the conformance suites' business; these pin down the orchestration.

use std::sync::Arc;
use std::time::Duration;

use mockall::Sequence;
use mockall::predicate::eq;
use rotation_core::machine::{RotationState, Step};
use rotation_core::mock::{
    MockAuditSink, MockJournal, MockSecretStore, MockStateStore, MockTarget, MockVerifier,
};
use rotation_core::{
    AuditAction, Capabilities, Engine, EngineBuilder, Error, ErrorKind, GeneratorSpec, Lease,
    RotateRequest, RotationId, RotationPolicy, RotationResult, RotationStatus, RotationStrategy,
    SecretBinding, SecretPath, SecretValue, VersionId, VersionedSecret,
};

const PATH: &str = "app/key";

fn version(id: &str) -> VersionId {
    VersionId::new(id)
}

fn is(value: &SecretValue, expected: &str) -> bool {
    value.expose() == expected.as_bytes()
}

/// A store mock answering the calls whose order does not matter (kind, capabilities).
fn store() -> MockSecretStore {
    let mut store = MockSecretStore::new();
    store.expect_kind().return_const("mock");
    store.expect_capabilities().return_const(Capabilities {
        binary: true,
        max_value_bytes: 1024,
        json_objects: false,
        single_pending: false,
    });
    store
}

/// `read_current` once, in `seq`, answering version `at` with the value `old`.
fn reads_current(store: &mut MockSecretStore, seq: &mut Sequence, at: &'static str) {
    store
        .expect_read_current()
        .with(eq(SecretPath::new(PATH)))
        .times(1)
        .in_sequence(seq)
        .returning(move |_| {
            Ok(VersionedSecret {
                version: version(at),
                value: SecretValue::from("old"),
            })
        });
}

fn verifier(seq: &mut Sequence, passes: bool) -> MockVerifier {
    let mut v = MockVerifier::new();
    v.expect_name().return_const("check".to_owned());
    v.expect_verify()
        .withf(|_, value| is(value, "new"))
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _| {
            if passes {
                Ok(())
            } else {
                Err(Error::new(ErrorKind::Verification, "rejected"))
            }
        });
    v
}

fn target() -> MockTarget {
    let mut t = MockTarget::new();
    t.expect_name().return_const("app".to_owned());
    t
}

/// `target.apply(value)` once, in `seq`.
fn applies(t: &mut MockTarget, seq: &mut Sequence, value: &'static str) {
    t.expect_apply()
        .withf(move |_, v| is(v, value))
        .times(1)
        .in_sequence(seq)
        .returning(|_, _| Ok(()));
}

fn binding(
    store: MockSecretStore,
    strategy: RotationStrategy,
    verifier: MockVerifier,
    target: Option<MockTarget>,
) -> SecretBinding {
    let policy = RotationPolicy::builder("p")
        .strategy(strategy)
        .verifiers(["check"])
        .auto_rollback(true)
        .build()
        .unwrap();
    SecretBinding {
        id: "s".into(),
        store: Arc::new(store),
        path: SecretPath::new(PATH),
        field: None,
        policy: Arc::new(policy),
        generator: GeneratorSpec::default_random().build("g").unwrap(),
        verifiers: vec![Arc::new(verifier)],
        target: target.map(|t| Arc::new(t) as _),
        create_if_missing: false,
        timing: None,
    }
}

/// No retries: every expected call happens exactly once.
fn builder() -> EngineBuilder {
    Engine::builder().step_retries(1, Duration::from_millis(1))
}

async fn rotate(
    engine: &Engine,
    binding: &SecretBinding,
    rid: &RotationId,
    revoke_old: bool,
) -> RotationResult {
    let request = RotateRequest {
        value: Some(SecretValue::from("new")),
        rotation_id: Some(rid.clone()),
        revoke_old,
        ..Default::default()
    };
    engine.rotate(binding, request).await
}

#[tokio::test]
async fn a_failed_verification_never_promotes_and_discards_the_pending_value() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let mut s = store();
    reads_current(&mut s, &mut seq, "v1");
    let staged = rid.clone();
    s.expect_stage()
        .withf(move |p, r, v| p.as_str() == PATH && *r == staged && is(v, "new"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    let v = verifier(&mut seq, false);
    s.expect_promote().never();
    s.expect_write_current().never();
    s.expect_restore().never();
    s.expect_discard_pending()
        .with(eq(SecretPath::new(PATH)), eq(rid.clone()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let b = binding(s, RotationStrategy::Staged, v, None);
    let result = rotate(&builder().build(), &b, &rid, false).await;
    assert_eq!(result.status, RotationStatus::RolledBack, "{result:?}");
    assert!(!result.verification_passed);
}

#[tokio::test]
async fn promote_compares_against_the_version_read_at_the_start() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let mut s = store();
    reads_current(&mut s, &mut seq, "v7");
    s.expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v8")));
    let v = verifier(&mut seq, true);
    let promoted = rid.clone();
    s.expect_promote()
        .withf(move |p, r, expected| {
            p.as_str() == PATH && *r == promoted && *expected == version("v7")
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v8")));
    // Cleanup after promotion.
    s.expect_discard_pending()
        .with(eq(SecretPath::new(PATH)), eq(rid.clone()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let b = binding(s, RotationStrategy::Staged, v, None);
    let result = rotate(&builder().build(), &b, &rid, false).await;
    assert_eq!(result.status, RotationStatus::Success, "{result:?}");
    assert_eq!(result.old_version, Some(version("v7")));
    assert_eq!(result.new_version, Some(version("v8")));
}

/// Staged: forward `Stage, ApplyTarget`, undo `RevertTarget, DiscardPending` (reverse order);
/// the revert gives the target the store's value read at that moment.
#[tokio::test]
async fn staged_rollback_reverts_the_target_before_discarding_the_pending_value() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut s, mut t) = (store(), target());
    reads_current(&mut s, &mut seq, "v1");
    s.expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    applies(&mut t, &mut seq, "new");
    let v = verifier(&mut seq, false);
    reads_current(&mut s, &mut seq, "v1");
    applies(&mut t, &mut seq, "old");
    s.expect_discard_pending()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    s.expect_promote().never();
    t.expect_revoke().never();

    let b = binding(s, RotationStrategy::Staged, v, Some(t));
    let result = rotate(&builder().build(), &b, &rid, false).await;
    assert_eq!(result.status, RotationStatus::RolledBack, "{result:?}");
    assert!(result.rollback_performed);
}

/// Immediate: forward `WriteCurrent, ApplyTarget`, undo `RestoreStore, RevertTarget`. Not the
/// reverse: the machine restores the store first because the revert gives the target the
/// store's current value, which must already be the restored one.
#[tokio::test]
async fn immediate_rollback_restores_the_store_then_gives_the_target_its_value() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut s, mut t) = (store(), target());
    reads_current(&mut s, &mut seq, "v1");
    s.expect_write_current()
        .withf(|_, _, v, expected| is(v, "new") && *expected == Some(version("v1")))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(version("v2")));
    applies(&mut t, &mut seq, "new");
    let v = verifier(&mut seq, false);
    s.expect_restore()
        .with(
            eq(SecretPath::new(PATH)),
            eq(version("v1")),
            eq(version("v2")),
        )
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v3")));
    reads_current(&mut s, &mut seq, "v3");
    applies(&mut t, &mut seq, "old");
    s.expect_discard_pending().never();

    let b = binding(s, RotationStrategy::Immediate, v, Some(t));
    let result = rotate(&builder().build(), &b, &rid, false).await;
    assert_eq!(result.status, RotationStatus::RolledBack, "{result:?}");
}

#[tokio::test]
async fn the_old_credential_is_revoked_only_after_promotion() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut s, mut t) = (store(), target());
    reads_current(&mut s, &mut seq, "v1");
    s.expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    applies(&mut t, &mut seq, "new");
    let v = verifier(&mut seq, true);
    s.expect_promote()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    s.expect_discard_pending()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    t.expect_revoke()
        .withf(|_, old| is(old, "old"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));

    let b = binding(s, RotationStrategy::Staged, v, Some(t));
    let result = rotate(&builder().build(), &b, &rid, true).await;
    assert_eq!(result.status, RotationStatus::Success, "{result:?}");
    assert!(result.revoked);
}

#[tokio::test]
async fn a_failed_promotion_revokes_nothing() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut s, mut t) = (store(), target());
    reads_current(&mut s, &mut seq, "v1");
    s.expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    applies(&mut t, &mut seq, "new");
    let v = verifier(&mut seq, true);
    s.expect_promote()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(Error::conflict("another writer won")));
    reads_current(&mut s, &mut seq, "v1");
    applies(&mut t, &mut seq, "old");
    s.expect_discard_pending()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    t.expect_revoke().never();
    s.expect_restore().never();

    let b = binding(s, RotationStrategy::Staged, v, Some(t));
    let result = rotate(&builder().build(), &b, &rid, true).await;
    assert_eq!(result.error_kind, Some(ErrorKind::Conflict), "{result:?}");
    assert!(!result.success && !result.revoked);
}

/// `state.record` of the intent `step` once, in `seq`.
fn journals(state: &mut MockStateStore, seq: &mut Sequence, step: Step, audit_pending: bool) {
    state
        .expect_record()
        .withf(move |s: &RotationState| s.step == step && s.audit_pending == audit_pending)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
}

fn audits(audit: &mut MockAuditSink, seq: &mut Sequence, action: AuditAction) {
    audit
        .expect_record()
        .withf(move |e| e.action == action)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
}

/// Under the lease: each intent is journaled before its step runs, the journal record precedes
/// the `started` audit record, and the terminal audit record precedes closing the journal record.
#[tokio::test]
async fn every_step_is_journaled_before_it_runs_and_audited_around_the_journal() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut s, mut state, mut audit) = (store(), MockStateStore::new(), MockAuditSink::new());
    state
        .expect_acquire_lease()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|secret, holder, ttl, now| {
            Ok(Some(Lease {
                secret: secret.clone(),
                holder: holder.to_owned(),
                token: 1,
                expires_at: now + ttl,
            }))
        });
    state
        .expect_unfinished_of()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Vec::new()));
    journals(&mut state, &mut seq, Step::ReadCurrent, false);
    audits(&mut audit, &mut seq, AuditAction::Started);
    reads_current(&mut s, &mut seq, "v1");
    journals(&mut state, &mut seq, Step::Stage, false);
    s.expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    journals(&mut state, &mut seq, Step::Verify, false);
    let v = verifier(&mut seq, true);
    journals(&mut state, &mut seq, Step::Promote, false);
    s.expect_promote()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(version("v2")));
    journals(&mut state, &mut seq, Step::Cleanup, false);
    s.expect_discard_pending()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    journals(&mut state, &mut seq, Step::Done, true);
    state
        .expect_add_outcome()
        .with(eq(RotationStatus::Success))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    audits(&mut audit, &mut seq, AuditAction::Succeeded);
    journals(&mut state, &mut seq, Step::Done, false);
    state
        .expect_release_lease()
        .withf(|l| l.token == 1)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));

    let b = binding(s, RotationStrategy::Staged, v, None);
    let engine = builder()
        .state(Arc::new(state))
        .audit(Arc::new(audit))
        .build();
    let result = rotate(&engine, &b, &rid, false).await;
    assert_eq!(result.status, RotationStatus::Success, "{result:?}");
}

/// Fail closed: when the `started` record cannot be written, the journal record is closed and
/// the store is never touched.
#[tokio::test]
async fn an_unaudited_rotation_never_reaches_the_store() {
    let rid = RotationId::generate();
    let mut seq = Sequence::new();
    let (mut journal, mut audit) = (MockJournal::new(), MockAuditSink::new());
    journal
        .expect_record()
        .withf(|s| s.step == Step::ReadCurrent)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    audit
        .expect_record()
        .withf(|e| e.action == AuditAction::Started)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(Error::new(ErrorKind::Io, "audit disk full")));
    journal
        .expect_record()
        .withf(|s| s.step == Step::Done && s.outcome == Some(RotationStatus::Failed))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    // No expectation on any store read or write: a call would panic.
    let mut v = MockVerifier::new();
    v.expect_verify().never();

    let b = binding(store(), RotationStrategy::Staged, v, None);
    let engine = builder()
        .journal(Arc::new(journal))
        .audit(Arc::new(audit))
        .build();
    let result = rotate(&engine, &b, &rid, false).await;
    assert_eq!(result.error_kind, Some(ErrorKind::Io), "{result:?}");
}
