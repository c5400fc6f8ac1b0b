//! Single-user mode (no admin secret): the role logs in with one of the rotation's values and
//! changes its own password; rollback and revoke work the same way.

mod common;

use common::{Server, ctx, password, text_without, with_password};
use rotation_core::{ErrorKind, Target};

#[tokio::test]
async fn applies_rolls_back_and_revokes_as_the_user_itself() {
    let server = Server::start();
    let old = password("old");
    let (role, doc) = server.create_role("solo", &old, "");
    let target = server.target_with(None);
    let new = password("new");
    let c = ctx(&with_password(&doc, &new), &[&new, &old]);

    target.apply(&c, &new).await.expect("apply as the user");
    assert!(server.logs_in(&role, &new).await, "the new password works");
    assert!(!server.logs_in(&role, &old).await, "the old one is refused");
    target.apply(&c, &new).await.expect("re-apply: already set");
    assert!(server.logs_in(&role, &new).await);

    // The engine's revert: the old value, with the rotation's values.
    let back = ctx(&with_password(&doc, &old), &[&new, &old]);
    target.apply(&back, &old).await.expect("rollback");
    assert!(
        server.logs_in(&role, &old).await,
        "the old password is back"
    );
    assert!(!server.logs_in(&role, &new).await, "the new one is refused");

    // Rotate again, then revoke: the user's other sessions end.
    target.apply(&c, &new).await.expect("apply");
    let open = server.connect(&role, &new).await.expect("a session");
    let sessions = target.sessions(&c).await.expect("sessions").expect("known");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].user, role);
    assert!(
        sessions[0]
            .client
            .as_deref()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{sessions:?}"
    );
    target.revoke(&back, &old).await.expect("revoke");
    common::wait_until_closed(&open).await;
    assert!(server.logs_in(&role, &new).await);
}

#[tokio::test]
async fn no_known_password_fails_clearly() {
    let server = Server::start();
    let actual = password("actual");
    let (role, doc) = server.create_role("solo", &actual, "");
    let target = server.target_with(None);
    let (new, old) = (password("new"), password("old"));
    let err = target
        .apply(&ctx(&with_password(&doc, &new), &[&new, &old]), &new)
        .await
        .expect_err("neither value logs in");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &old, &actual]);
    assert!(text.contains("target pg"), "{text}");
    assert!(text.contains(&format!("user \"{role}\"")), "{text}");
    assert!(text.contains("single-user mode"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(server.logs_in(&role, &actual).await, "nothing changed");
}
