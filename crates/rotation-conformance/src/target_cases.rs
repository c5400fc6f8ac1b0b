//! Cases every built-in database target passes against its real server, through a
//! [`TargetHarness`]: apply changes the password (the new one logs in on a fresh connection,
//! the old one is refused), re-applying is idempotent, rollback restores the previous
//! password exactly, revoke leaves only the current password valid, and a wrong admin
//! password, a missing user and an unreachable server fail with an error that names the
//! target and never contains a value.
//!
//! Run them with `rotation_conformance::target_conformance_tests!(make)`, where `make` yields
//! a fresh harness (it may `.await`).

use std::sync::Arc;

use async_trait::async_trait;
use rotation_core::{ErrorKind, RotationId, SecretId, SecretValue, Target, VerifyContext};

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
    let new = password("new");
    target
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect("apply");
    let c = ctx(&with_password(&doc, &old), &[&new, &old]);
    target.revoke(&c, &old).await.expect("revoke");
    target.revoke(&c, &old).await.expect("revoke again");
    assert!(h.logs_in(&doc, &new).await, "the current password works");
    assert!(!h.logs_in(&doc, &old).await, "the revoked one is refused");
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
