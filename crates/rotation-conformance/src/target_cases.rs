//! Cases every built-in database target passes against its real server, through a
//! [`TargetHarness`]: apply changes the password (the new one logs in on a fresh connection,
//! the old one is refused), re-applying is idempotent, rollback restores the previous
//! password exactly, revoke leaves only the current password valid, and a wrong admin
//! password, a missing user and an unreachable server fail with an error that names the
//! target and never contains a value.
//!
//! With a store and the engine around the real target,
//! [`crash_with_the_target_at_every_step`] kills a staged and an immediate rotation at every
//! journal record (the conformance crash injection), recovers, and checks on the real server
//! that the store's current password logs in and the other one does not, and that a second
//! recovery changes nothing.
//!
//! Run them with `rotation_conformance::target_conformance_tests!(make)`, where `make` yields
//! a fresh harness (it may `.await`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    Engine, ErrorKind, MemoryStateStore, MemoryStore, RotateRequest, RotationId, RotationStrategy,
    SecretId, SecretStore, SecretValue, StateStore, Target, VerifyContext,
};
use tokio::sync::Notify;

use crate::crash_cases::{CrashPoint, CrashingJournal};
use crate::support::{ManualClock, MemoryAudit, ScriptedVerifier, binding, create_raw};

/// A real server and the targets under test (see the module docs).
#[async_trait]
pub trait TargetHarness: Send + Sync {
    /// The target under test, connected as its admin (or single-user, as the harness says).
    fn target(&self) -> Arc<dyn Target>;
    /// The same target with an admin credential the server refuses.
    fn target_with_wrong_admin(&self) -> Arc<dyn Target>;
    /// The same target pointed at a port nothing listens on.
    fn unreachable_target(&self) -> Arc<dyn Target>;
    /// A new user (unique name) whose password is `password`; its secret document (AWS's
    /// database secret keys, `password` included).
    async fn create_user(&self, password: &SecretValue) -> SecretValue;
    /// The document of a user that does not exist on the server.
    fn missing_user(&self) -> SecretValue;
    /// Whether the user of `document` logs in with `password` on a fresh connection. The
    /// harness proves once that a wrong password is refused before trusting a `true`.
    async fn logs_in(&self, document: &SecretValue, password: &SecretValue) -> bool;
    /// A session logged in as the user of `document` with `password`, open for as long as the
    /// returned value lives (revoke must end it).
    async fn hold_session(
        &self,
        document: &SecretValue,
        password: &SecretValue,
    ) -> Box<dyn std::any::Any + Send>;
}

/// A fresh random password.
fn password(tag: &str) -> SecretValue {
    SecretValue::from_string(format!("{tag}-{}", crate::support::random_suffix()))
}

/// `document` with its `password` set to `value`.
pub fn with_password(document: &SecretValue, value: &SecretValue) -> SecretValue {
    rotation_core::field::replace(Some(document), "password", value).expect("a JSON document")
}

fn ctx(document: &SecretValue, related: &[&SecretValue]) -> VerifyContext {
    VerifyContext::new(SecretId::new("conformance"), Some(RotationId::generate()))
        .with_related_values(related.iter().map(|v| (*v).clone()))
        .with_document(Some(document.clone()))
}

fn assert_no_value(err: &rotation_core::Error, values: &[&SecretValue]) {
    let text = format!("{err} {err:?}");
    for v in values {
        let raw = String::from_utf8_lossy(v.expose());
        assert!(!text.contains(&*raw), "the error contains a value: {text}");
    }
}

/// Apply: the new password logs in, the old one no longer does.
pub async fn apply_changes_the_password(h: &dyn TargetHarness) {
    let old = password("old");
    let doc = h.create_user(&old).await;
    assert!(h.logs_in(&doc, &old).await, "the user logs in before");
    let new = password("new");
    let doc_new = with_password(&doc, &new);
    h.target()
        .apply(&ctx(&doc_new, &[&new, &old]), &new)
        .await
        .expect("apply");
    assert!(h.logs_in(&doc, &new).await, "the new password logs in");
    assert!(!h.logs_in(&doc, &old).await, "the old password is refused");
}

/// Applying the same value twice is the same as once.
pub async fn reapply_is_idempotent(h: &dyn TargetHarness) {
    let old = password("old");
    let doc = h.create_user(&old).await;
    let new = password("new");
    let doc_new = with_password(&doc, &new);
    let c = ctx(&doc_new, &[&new, &old]);
    h.target().apply(&c, &new).await.expect("apply");
    h.target().apply(&c, &new).await.expect("apply again");
    assert!(h.logs_in(&doc, &new).await);
    assert!(!h.logs_in(&doc, &old).await);
}

/// Rollback re-applies the previous value: exactly that one logs in again.
pub async fn rollback_restores_the_previous_password(h: &dyn TargetHarness) {
    let old = password("old");
    let doc = h.create_user(&old).await;
    let new = password("new");
    h.target()
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect("apply");
    // The engine's revert: the store's current (old) value, with the rotation's values.
    h.target()
        .apply(&ctx(&with_password(&doc, &old), &[&new, &old]), &old)
        .await
        .expect("revert");
    assert!(
        h.logs_in(&doc, &old).await,
        "the old password logs in again"
    );
    assert!(
        !h.logs_in(&doc, &new).await,
        "the rolled-back one is refused"
    );
}

/// Revoke (after a rotation): the old password stays refused, the current one works, and
/// revoking twice is fine.
pub async fn revoke_leaves_only_the_current_password(h: &dyn TargetHarness) {
    let target = h.target();
    if !target.can_revoke() {
        return;
    }
    let old = password("old");
    let doc = h.create_user(&old).await;
    // A client logged in with the old password: changing the password does not end it.
    let _held = h.hold_session(&doc, &old).await;
    let new = password("new");
    target
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect("apply");
    let c = ctx(&with_password(&doc, &old), &[&new, &old]);
    let before = target.sessions(&c).await.expect("sessions");
    if let Some(sessions) = &before {
        assert!(
            !sessions.is_empty(),
            "the session opened with the old password is listed"
        );
    }
    target.revoke(&c, &old).await.expect("revoke");
    target.revoke(&c, &old).await.expect("revoke again");
    assert!(h.logs_in(&doc, &new).await, "the current password works");
    assert!(!h.logs_in(&doc, &old).await, "the revoked one is refused");
    // Sessions end asynchronously on some servers: give them a moment.
    let mut left = None;
    for _ in 0..50 {
        left = target.sessions(&c).await.expect("sessions");
        if left.as_ref().is_none_or(Vec::is_empty) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        left.as_ref().is_none_or(Vec::is_empty),
        "revoke ends the sessions of the user: {left:?}"
    );
    assert!(
        before.is_some(),
        "a target that can revoke lists the sessions it ends"
    );
}

/// A refused admin login fails as a target error naming the target, nothing changed.
pub async fn wrong_admin_password_fails_clearly(h: &dyn TargetHarness) {
    let old = password("old");
    let doc = h.create_user(&old).await;
    let new = password("new");
    let target = h.target_with_wrong_admin();
    let err = target
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect_err("the admin is refused");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains(target.name()), "{err}");
    assert_no_value(&err, &[&old, &new]);
    assert!(h.logs_in(&doc, &old).await, "nothing changed");
}

/// A user the server does not have fails as a target error naming the user.
pub async fn missing_user_fails_clearly(h: &dyn TargetHarness) {
    let doc = h.missing_user();
    let new = password("new");
    let target = h.target();
    let err = target
        .apply(&ctx(&with_password(&doc, &new), &[&new]), &new)
        .await
        .expect_err("no such user");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains(target.name()), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(doc.expose()).expect("a JSON document");
    let user = doc["username"].as_str().expect("a username");
    assert!(err.to_string().contains(user), "names the user: {err}");
    assert_no_value(&err, &[&new]);
}

/// A closed port fails as a temporary error naming the target and the address.
pub async fn unreachable_server_is_temporary(h: &dyn TargetHarness) {
    let old = password("old");
    let doc = h.create_user(&old).await;
    let new = password("new");
    let target = h.unreachable_target();
    let err = target
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    assert!(err.to_string().contains(target.name()), "{err}");
    assert!(
        err.to_string().contains("127.0.0.1:"),
        "names the address: {err}"
    );
    assert_no_value(&err, &[&old, &new]);
}

/// Kill a rotation through the real target at every journal record (before and after it), of
/// the success path and of the rollback path (failing verifier), for `strategy`; recover once
/// the dead holder's lease expired; the store's current password is the one the server
/// accepts, the other is refused, and a second recovery changes nothing. Returns the kill
/// points exercised.
pub async fn crash_with_the_target_at_every_step(
    h: &dyn TargetHarness,
    strategy: RotationStrategy,
) -> usize {
    let mut points = 0;
    for verifies in [true, false] {
        let mut k = 1;
        loop {
            let mut reached = 0;
            for point in [CrashPoint::BeforeRecord(k), CrashPoint::AfterRecord(k)] {
                reached += usize::from(crash_with_target(h, strategy, verifies, point).await);
            }
            if reached == 0 {
                break;
            }
            points += reached;
            k += 1;
        }
    }
    println!("target {strategy}: {points} kill points exercised against the real server");
    assert!(points > 0);
    points
}

async fn crash_with_target(
    h: &dyn TargetHarness,
    strategy: RotationStrategy,
    verifies: bool,
    point: CrashPoint,
) -> bool {
    let old = password("old");
    let doc = h.create_user(&old).await;
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    let (path, _) = create_raw(&*store, "target-crash", doc.clone()).await;
    let state = Arc::new(MemoryStateStore::new());
    let audit = MemoryAudit::new();
    let clock = ManualClock::new();
    let crashed = Arc::new(Notify::new());
    let journal = Arc::new(CrashingJournal::new(state.clone(), point, crashed.clone()));
    let verifier = if verifies {
        ScriptedVerifier::passing()
    } else {
        ScriptedVerifier::failing()
    };
    let mut b = binding(store.clone(), path.clone(), strategy, true, verifier);
    b.field = Some("password".to_owned());
    b.target = Some(h.target());
    let ttl = Duration::from_secs(30);
    let doomed = Engine::builder()
        .state(state.clone())
        .journal(journal.clone())
        .audit(audit.clone())
        .clock(clock.clone())
        .lease_ttl(ttl)
        .holder("doomed")
        .build();
    let new = password("new");
    let request = RotateRequest {
        value: Some(new.clone()),
        ..Default::default()
    };
    let label = format!("{strategy} verifies={verifies} {point:?}");
    tokio::select! {
        result = doomed.rotate(&b, request) => {
            assert_eq!(result.success, verifies, "{label}: {result:?}");
            return false;
        }
        _ = crashed.notified() => {}
    }
    drop(doomed);
    clock.advance(chrono::Duration::from_std(ttl * 2).expect("ttl"));
    let survivor = Engine::builder()
        .state(state.clone())
        .audit(audit.clone())
        .clock(clock.clone())
        .holder("survivor")
        .build();
    let bindings = [(b.id.clone(), b.clone())].into_iter().collect();
    survivor.recover(&bindings).await.expect("recover");

    let current = store.read_current(&path).await.expect("read").value;
    let current = rotation_core::field::extract(&current, "password").expect("password");
    let other = if current.expose() == new.expose() {
        &old
    } else {
        assert_eq!(
            current.expose(),
            old.expose(),
            "{label}: neither value is current"
        );
        &new
    };
    assert!(
        h.logs_in(&doc, &current).await,
        "{label}: the store's current password does not log in"
    );
    assert!(
        !h.logs_in(&doc, other).await,
        "{label}: the password that is not current still logs in"
    );
    assert!(
        state.unfinished().await.expect("unfinished").is_empty(),
        "{label}: still unfinished"
    );
    audit.assert_every_rotation_has_an_outcome(&label);
    let again = survivor.recover(&bindings).await.expect("recover again");
    assert!(
        again.is_empty(),
        "{label}: second recovery acted: {again:?}"
    );
    assert!(
        h.logs_in(&doc, &current).await,
        "{label}: changed by the second recovery"
    );
    let _ = journal.seen();
    true
}
