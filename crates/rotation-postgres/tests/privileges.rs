//! What the server refuses, and how the target says so: an admin without CREATEROLE, a
//! superuser role changed by a non-superuser, a session another role may not end, a missing
//! role, a password policy (passwordcheck) refusal.

mod common;

use common::{Server, ctx, password, text_without, with_password};
use rotation_core::{ErrorKind, SecretValue, Target};
use rotation_testkit::postgres::PostgresOptions;

#[tokio::test]
async fn missing_privileges_name_what_to_grant() {
    let server = Server::start();
    let user_pw = password("user");
    let (role, doc) = server.create_role("app", &user_pw, "");
    let weak_pw = password("weak");
    let (weak, _) = server.create_role("weak", &weak_pw, "");
    let target = server.target_with(Some(server.admin_as(&weak, &weak_pw)));
    let new = password("new");
    let c = ctx(&with_password(&doc, &new), &[&new, &user_pw]);
    let err = target.apply(&c, &new).await.expect_err("no CREATEROLE");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &user_pw, &weak_pw]);
    assert!(text.contains("CREATEROLE"), "{text}");
    assert!(text.contains("42501"), "{text}");
    assert!(
        text.contains("permission denied"),
        "the server's own text: {text}"
    );
    assert!(text.contains(&role), "{text}");
    assert!(server.logs_in(&role, &user_pw).await, "nothing changed");

    // A CREATEROLE admin may not change a superuser's password.
    let mid_pw = password("mid");
    let (mid, _) = server.create_role("mid", &mid_pw, "CREATEROLE");
    let boss_pw = password("boss");
    let (_, boss_doc) = server.create_role("boss", &boss_pw, "SUPERUSER");
    let target = server.target_with(Some(server.admin_as(&mid, &mid_pw)));
    let err = target
        .apply(
            &ctx(&with_password(&boss_doc, &new), &[&new, &boss_pw]),
            &new,
        )
        .await
        .expect_err("a superuser role");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &boss_pw, &mid_pw]);
    assert!(text.contains("is a superuser"), "{text}");
    // ...but it may change an ordinary role's.
    target.apply(&c, &new).await.expect("CREATEROLE suffices");
    assert!(server.logs_in(&role, &new).await);

    // Ending another role's sessions needs pg_signal_backend (or the role's membership).
    let open = server.connect(&role, &new).await.expect("a session");
    let old_ctx = ctx(&with_password(&doc, &user_pw), &[&new, &user_pw]);
    let weak_target = server.target_with(Some(server.admin_as(&weak, &weak_pw)));
    let err = weak_target
        .revoke(&old_ctx, &user_pw)
        .await
        .expect_err("may not end the session");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &user_pw, &weak_pw]);
    assert!(text.contains("pg_signal_backend"), "{text}");
    assert!(text.contains("42501"), "{text}");
    assert!(!open.is_closed());
    server
        .target()
        .revoke(&old_ctx, &user_pw)
        .await
        .expect("as the superuser");
    common::wait_until_closed(&open).await;
}

#[tokio::test]
async fn a_missing_role_and_a_refused_admin_are_named() {
    let server = Server::start();
    let ghost = rotation_testkit::unique("ghost");
    let new = password("new");
    let doc = rotation_core::SecretValue::from_string(server.pg.document(&ghost, "unused"));
    let err = server
        .target()
        .apply(&ctx(&with_password(&doc, &new), &[&new]), &new)
        .await
        .expect_err("no such role");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new]);
    let expected = format!(
        "target pg: role \"{ghost}\" does not exist on 127.0.0.1:{}",
        server.pg.port
    );
    assert!(text.contains(&expected), "{text}");

    let wrong = password("wrong-admin");
    let target = server.target_with(Some(
        server.admin_as(rotation_testkit::postgres::ADMIN, &wrong),
    ));
    let err = target
        .apply(&ctx(&with_password(&doc, &new), &[&new]), &new)
        .await
        .expect_err("admin refused");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &wrong]);
    assert!(text.contains("admin secret pg-admin"), "{text}");
    assert!(text.contains("28P01"), "{text}");
    assert!(text.contains("check the admin secret"), "{text}");
}

#[tokio::test]
async fn a_password_policy_refusal_quotes_the_server() {
    // passwordcheck cannot see a pre-hashed password's text, but still refuses one equal to
    // the user name (it checks the verifier against it).
    let server = Server::start_with(
        PostgresOptions::default().setting("shared_preload_libraries", "passwordcheck"),
    );
    let pw = password("pw");
    let (role, doc) = server.create_role("app", &pw, "");
    let same = rotation_core::SecretValue::from_string(role.clone());
    let err = server
        .target()
        .apply(&ctx(&with_password(&doc, &same), &[&same, &pw]), &same)
        .await
        .expect_err("the policy refuses it");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = err.to_string();
    assert!(text.contains("password must not equal user name"), "{text}");
    assert!(text.contains("22023"), "{text}");
    assert!(server.logs_in(&role, &pw).await, "nothing changed");
}

/// In admin mode a secret alone may not name a superuser or the admin itself (its writer would
/// read the new password from the store); pinning `username` in the config allows it.
#[tokio::test]
async fn a_secret_alone_may_not_choose_a_superuser_or_the_admin() {
    let server = Server::start();
    let boss_pw = password("boss");
    let (boss, boss_doc) = server.create_role("boss", &boss_pw, "SUPERUSER");
    let new = password("new");
    let c = ctx(&with_password(&boss_doc, &new), &[&new, &boss_pw]);
    let err = server
        .target()
        .apply(&c, &new)
        .await
        .expect_err("a superuser named by the secret");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&new, &boss_pw]);
    assert!(
        text.contains("is a superuser") && text.contains("username"),
        "{text}"
    );
    assert!(server.logs_in(&boss, &boss_pw).await, "nothing changed");

    let admin_doc = with_password(&SecretValue::from_string(server.pg.admin_document()), &new);
    let err = server
        .target()
        .apply(&ctx(&admin_doc, &[&new]), &new)
        .await
        .expect_err("the admin itself");
    assert!(err.to_string().contains("the admin's own role"), "{err}");

    let pinned = rotation_postgres::PostgresTarget::builder("pg")
        .connection(server.spec())
        .admin(Some(server.admin()))
        .username(Some(boss.clone()))
        .build()
        .expect("target");
    pinned.apply(&c, &new).await.expect("pinned in the config");
    assert!(server.logs_in(&boss, &new).await);
    assert!(!server.logs_in(&boss, &boss_pw).await);
}
