//! The Redis target beyond the conformance suite, against a private server: ACL SAVE writes
//! hashes (never the plaintext) to the ACL file, passwords the rotation does not know stay,
//! a missing permission names what to grant, sessions are listed and revoke ends them.

mod common;

use common::{SELF_SERVICE, create_user, ctx, document, target};
use rotation_core::{ErrorKind, SecretValue, Target};
use rotation_redis::{RedisTarget, password_hash};
use rotation_testkit::redis::PrivateRedis;

#[tokio::test]
async fn acl_save_writes_the_new_hash_and_never_the_plaintext() {
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-plain-7431", &["+@all"]);
    let t = RedisTarget::builder("redis-save")
        .connection(common::spec(redis.port))
        .admin(Some(common::admin(&redis, &redis.admin_password)))
        .acl_save(true)
        .build()
        .expect("build");
    let new = "new-plain-9182";
    t.apply(
        &ctx(&doc, &[new, "old-plain-7431"]),
        &SecretValue::from(new),
    )
    .await
    .expect("apply");
    let acl = redis.acl_text();
    let line = acl
        .lines()
        .find(|l| l.starts_with(&format!("user {user} ")))
        .unwrap_or_else(|| panic!("the user is in the ACL file:\n{acl}"));
    assert!(
        line.contains(&format!("#{}", password_hash(&SecretValue::from(new)))),
        "the new hash is saved: {line}"
    );
    assert!(
        !line.contains(&password_hash(&SecretValue::from("old-plain-7431"))),
        "the old hash is gone: {line}"
    );
    assert!(!acl.contains(new), "no plaintext in the ACL file");
    assert!(
        !acl.contains("old-plain-7431"),
        "no plaintext in the ACL file"
    );
    assert!(redis.logs_in(&user, new));
}

#[tokio::test]
async fn acl_save_without_its_permission_names_it() {
    // Single-user mode: the user may change its passwords but not save the ACL file.
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-x-1", SELF_SERVICE);
    let t = RedisTarget::builder("redis-nosave")
        .connection(common::spec(redis.port))
        .acl_save(true)
        .build()
        .expect("build");
    let err = t
        .apply(
            &ctx(&doc, &["new-x-1", "old-x-1"]),
            &SecretValue::from("new-x-1"),
        )
        .await
        .expect_err("no +acl|save");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains("+acl|save"), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("ACL SETUSER {user} +acl|save")),
        "{err}"
    );
}

#[tokio::test]
async fn passwords_the_rotation_does_not_know_stay() {
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-k-1", &["+@all"]);
    redis.admin(&["ACL", "SETUSER", &user, ">other-app-password"]);
    target(&redis, false)
        .apply(
            &ctx(&doc, &["new-k-1", "old-k-1"]),
            &SecretValue::from("new-k-1"),
        )
        .await
        .expect("apply");
    assert!(redis.logs_in(&user, "new-k-1"));
    assert!(!redis.logs_in(&user, "old-k-1"));
    assert!(
        redis.logs_in(&user, "other-app-password"),
        "an unrelated password stays"
    );
}

#[tokio::test]
async fn both_passwords_work_between_add_and_remove() {
    // dual_write: apply with only the new value known keeps the old one.
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-d-1", &["+@all"]);
    let t = target(&redis, false);
    assert!(t.holds_two_credentials());
    t.apply(&ctx(&doc, &["new-d-1"]), &SecretValue::from("new-d-1"))
        .await
        .expect("apply");
    assert!(redis.logs_in(&user, "new-d-1"));
    assert!(redis.logs_in(&user, "old-d-1"), "not a related value: kept");
}

#[tokio::test]
async fn single_user_without_setuser_names_the_permission() {
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-n-1", &["+ping", "+acl|getuser", "+acl|whoami"]);
    let err = target(&redis, true)
        .apply(
            &ctx(&doc, &["new-n-1", "old-n-1"]),
            &SecretValue::from("new-n-1"),
        )
        .await
        .expect_err("NOPERM");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = err.to_string();
    assert!(text.contains("NOPERM"), "the server's text: {text}");
    assert!(
        text.contains(&format!("ACL SETUSER {user} +acl|setuser")),
        "{text}"
    );
    assert!(text.contains("target redis-test"), "{text}");
    assert!(
        !text.contains("new-n-1") && !text.contains("old-n-1"),
        "{text}"
    );
    assert!(redis.logs_in(&user, "old-n-1"), "nothing changed");
}

#[tokio::test]
async fn an_admin_without_permission_is_told_what_to_grant() {
    let redis = PrivateRedis::start();
    let (_, doc) = create_user(&redis, "old-a-1", &["+@all"]);
    let (weak, _) = create_user(&redis, "weak-admin-pw", &["+ping"]);
    let t = RedisTarget::builder("redis-weak")
        .connection(common::spec(redis.port))
        .admin(Some(std::sync::Arc::new(common::FixedAdmin::new(
            serde_json::json!({"username": weak, "password": "weak-admin-pw"}).to_string(),
        ))))
        .build()
        .expect("build");
    let err = t
        .apply(
            &ctx(&doc, &["new-a-1", "old-a-1"]),
            &SecretValue::from("new-a-1"),
        )
        .await
        .expect_err("NOPERM");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("ACL SETUSER {weak} +acl|getuser")),
        "{err}"
    );
}

#[tokio::test]
async fn missing_user_is_named() {
    let redis = PrivateRedis::start();
    let doc = document(redis.port, "rt_nobody_here", "x");
    let err = target(&redis, false)
        .apply(&ctx(&doc, &["new-m-1"]), &SecretValue::from("new-m-1"))
        .await
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::Target);
    assert!(
        err.to_string()
            .contains("user rt_nobody_here does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn sessions_lists_the_user_and_revoke_ends_them() {
    let redis = PrivateRedis::start();
    let (user, doc) = create_user(&redis, "old-s-1", &["+@all"]);
    let mut held = redis.open_session(&user, "old-s-1").expect("log in");
    assert_eq!(held.call(&["PING"]).as_deref(), Ok("PONG"));
    for single_user in [false, true] {
        let t = target(&redis, single_user);
        let sessions = t
            .sessions(&ctx(&doc, &["old-s-1"]))
            .await
            .expect("sessions")
            .expect("Redis can tell");
        assert_eq!(
            sessions.len(),
            1,
            "the held session (single-user mode leaves out its own): {sessions:?}"
        );
        assert_eq!(sessions[0].user, user);
        assert!(
            sessions[0]
                .client
                .as_deref()
                .is_some_and(|c| c.starts_with("127.0.0.1:")),
            "{sessions:?}"
        );
    }
    let t = target(&redis, false);
    t.apply(
        &ctx(
            &document(redis.port, &user, "new-s-1"),
            &["new-s-1", "old-s-1"],
        ),
        &SecretValue::from("new-s-1"),
    )
    .await
    .expect("apply");
    assert_eq!(
        held.call(&["PING"]).as_deref(),
        Ok("PONG"),
        "a changed password does not end a session"
    );
    t.revoke(
        &ctx(&doc, &["new-s-1", "old-s-1"]),
        &SecretValue::from("old-s-1"),
    )
    .await
    .expect("revoke");
    assert!(held.call(&["PING"]).is_err(), "revoke ended the session");
    let sessions = t
        .sessions(&ctx(&doc, &["new-s-1"]))
        .await
        .expect("sessions")
        .expect("Redis can tell");
    assert!(sessions.is_empty(), "{sessions:?}");
}

#[tokio::test]
async fn the_default_user_is_the_admin_and_acl_save_needs_an_acl_file() {
    let redis = PrivateRedis::start_without_acl_file();
    let (user, doc) = create_user(&redis, "old-f-1", &["+@all"]);
    // An admin document without a username: the default user.
    let admin = std::sync::Arc::new(common::FixedAdmin::new(
        serde_json::json!({"password": redis.admin_password}).to_string(),
    ));
    let plain = RedisTarget::builder("redis-default")
        .connection(common::spec(redis.port))
        .admin(Some(admin.clone()))
        .build()
        .expect("build");
    plain
        .apply(
            &ctx(&doc, &["new-f-1", "old-f-1"]),
            &SecretValue::from("new-f-1"),
        )
        .await
        .expect("apply as the default user");
    assert!(redis.logs_in(&user, "new-f-1"));
    let saving = RedisTarget::builder("redis-default")
        .connection(common::spec(redis.port))
        .admin(Some(admin))
        .acl_save(true)
        .build()
        .expect("build");
    let err = saving
        .apply(
            &ctx(&doc, &["newer-f-1", "new-f-1"]),
            &SecretValue::from("newer-f-1"),
        )
        .await
        .expect_err("no ACL file to save to");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains("aclfile"), "{err}");
    assert!(err.to_string().contains("changed in memory"), "{err}");
}
