//! The MariaDB target and verifier beyond the conformance suite: no plaintext in the general
//! log (private server), single-user apply and rollback, revoke ending sessions, the verifier's
//! answers, the grant hint, TLS modes. Shared server: 127.0.0.1:3306.

mod common;

use std::sync::Arc;

use common::{PORT, Users, admin, connect, ctx, document, logs_in, password, plain, root_admin};
use mysql_async::prelude::Queryable;
use rotation_core::{
    ConnectionSpec, CredentialSource, ErrorKind, SecretValue, Target, TlsMode, Verifier,
};
use rotation_mysql::{MysqlTarget, MysqlVerifier, sql};
use rotation_testkit::mariadb::PrivateMariadb;

fn target(spec: ConnectionSpec, admin: Option<Arc<dyn CredentialSource>>) -> MysqlTarget {
    MysqlTarget::builder("db")
        .connection(spec)
        .admin(admin)
        .build()
        .expect("build")
}

fn verifier(spec: ConnectionSpec, query: Option<&str>, expect: Option<&str>) -> MysqlVerifier {
    MysqlVerifier::builder("db-login")
        .connection(spec)
        .query(query.map(str::to_owned))
        .expect(expect.map(str::to_owned))
        .build()
        .expect("build")
}

fn text(v: &SecretValue) -> &str {
    v.expose_str().expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_general_log_never_holds_a_password() {
    let db = PrivateMariadb::start();
    let (old, new) = (password("old"), password("new"));
    let user = format!("rt_{}", common::random());
    // Created from the hash too: the test's own set-up must not write `old` to the log.
    db.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY PASSWORD '{}'",
        sql::native_hash(old.expose()).as_str()
    ));
    let doc = document(&user, db.port, &old);
    let spec = ConnectionSpec {
        port: Some(db.port),
        ..plain()
    };
    let as_admin = target(
        spec.clone(),
        Some(admin("private-admin", &db.admin_user, &db.admin_password)),
    );
    as_admin
        .apply(&ctx(&document(&user, db.port, &new), &[&new, &old]), &new)
        .await
        .expect("apply as the admin");
    assert!(
        logs_in(db.port, &user, &new).await,
        "the new password logs in"
    );
    assert!(
        !logs_in(db.port, &user, &old).await,
        "the old one is refused"
    );
    // Back through the single-user path (SET PASSWORD), as a rollback would without an admin.
    target(spec, None)
        .apply(&ctx(&doc, &[&new, &old]), &old)
        .await
        .expect("apply as the user");
    assert!(
        logs_in(db.port, &user, &old).await,
        "the old password is back"
    );

    let log = db.general_log();
    assert!(
        log.contains("ALTER USER") && log.contains("SET PASSWORD"),
        "the general log records the statements (else this test proves nothing):\n{log}"
    );
    for (name, value) in [("new", &new), ("old", &old)] {
        assert!(
            !log.contains(text(value)),
            "the {name} password is in the general log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_user_apply_and_rollback() {
    let users = Users::default();
    let (old, new) = (password("old"), password("new"));
    let user = users.create(&old, &[]).await;
    let t = target(plain(), None);
    let related = [&new, &old];
    t.apply(&ctx(&document(&user, PORT, &new), &related), &new)
        .await
        .expect("apply");
    assert!(logs_in(PORT, &user, &new).await);
    assert!(!logs_in(PORT, &user, &old).await);
    // The engine's revert: the store's (old) value and document.
    t.apply(&ctx(&document(&user, PORT, &old), &related), &old)
        .await
        .expect("rollback");
    assert!(logs_in(PORT, &user, &old).await);
    assert!(!logs_in(PORT, &user, &new).await);
    // None of the known passwords works: a target error naming the user, no value.
    let stranger = password("stranger");
    let err = t
        .apply(
            &ctx(&document(&user, PORT, &stranger), &[&stranger, &new]),
            &stranger,
        )
        .await
        .expect_err("no known password logs in");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("'{user}'")) && msg.contains("127.0.0.1:3306"),
        "{msg}"
    );
    assert!(
        !msg.contains(text(&stranger)) && !msg.contains(text(&new)),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_ends_the_users_sessions() {
    let users = Users::default();
    let (old, new) = (password("old"), password("new"));
    let user = users.create(&old, &[]).await;
    let mut session = connect(PORT, &user, text(&old)).await.expect("log in");
    let t = target(plain(), Some(root_admin()));
    t.apply(&ctx(&document(&user, PORT, &new), &[&new, &old]), &new)
        .await
        .expect("apply");
    let c = ctx(&document(&user, PORT, &old), &[&new, &old]);
    session
        .query_drop("SELECT 1")
        .await
        .expect("a changed password does not end a session");
    let listed = t.sessions(&c).await.expect("sessions").expect("known");
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [session.id().to_string()],
        "{listed:?}"
    );
    assert!(
        listed[0].user == user
            && listed[0]
                .client
                .as_deref()
                .is_some_and(|h| h.starts_with("127.0.0.1"))
    );
    t.revoke(&c, &old).await.expect("revoke");
    assert!(
        session.query_drop("SELECT 1").await.is_err(),
        "the session was ended"
    );
    assert_eq!(t.sessions(&c).await.expect("sessions"), Some(Vec::new()));
    t.revoke(&c, &old)
        .await
        .expect("revoke again: nothing to end");
    // Single-user mode ends them too (a user may end its own sessions).
    let mut again = connect(PORT, &user, text(&new)).await.expect("log in");
    target(plain(), None)
        .revoke(&c, &old)
        .await
        .expect("revoke as the user");
    assert!(again.query_drop("SELECT 1").await.is_err(), "ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_passes_and_fails_with_the_servers_text() {
    let users = Users::default();
    let good = password("good");
    let user = users.create(&good, &[]).await;
    let doc = document(&user, PORT, &good);
    verifier(plain(), None, None)
        .verify(&ctx(&doc, &[]), &good)
        .await
        .expect("SELECT 1 answers 1");
    verifier(
        plain(),
        Some("SELECT CURRENT_USER()"),
        Some(&format!("{user}@%")),
    )
    .verify(&ctx(&doc, &[]), &good)
    .await
    .expect("a query of its own");

    let wrong = password("wrong");
    let err = verifier(plain(), None, None)
        .verify(&ctx(&doc, &[&wrong]), &wrong)
        .await
        .expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("verifier db-login: "), "{msg}");
    assert!(
        msg.contains("Access denied for user") && msg.contains("28000"),
        "{msg}"
    );
    assert!(!msg.contains(text(&wrong)), "{msg}");

    let err = verifier(plain(), Some("SELECT 2"), None)
        .verify(&ctx(&doc, &[]), &good)
        .await
        .expect_err("wrong answer");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(
        err.to_string().contains("answered \"2\", expected \"1\""),
        "{err}"
    );

    let err = verifier(plain(), Some("SELECT * FROM no_such_table"), None)
        .verify(&ctx(&doc, &[]), &good)
        .await
        .expect_err("a failing query");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(
        err.to_string().contains("ERROR 1046"),
        "the server's text: {err}"
    );

    let closed = ConnectionSpec {
        port: Some(rotation_testkit::free_port()),
        ..plain()
    };
    let err = verifier(closed, None, None)
        .verify(&ctx(&doc, &[]), &good)
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_without_the_privilege_gets_the_grant_hint() {
    let users = Users::default();
    let admin_pw = password("admin");
    let weak = users.create(&admin_pw, &[]).await;
    let old = password("old");
    let user = users.create(&old, &[]).await;
    let new = password("new");
    let t = target(plain(), Some(admin("weak-admin", &weak, text(&admin_pw))));
    let err = t
        .apply(&ctx(&document(&user, PORT, &new), &[&new, &old]), &new)
        .await
        .expect_err("no CREATE USER");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("ERROR 1227"), "{msg}");
    assert!(msg.contains(&format!("'{user}'@'%'")), "{msg}");
    assert!(msg.contains("GRANT CREATE USER ON *.* TO"), "{msg}");
    assert!(logs_in(PORT, &user, &old).await, "nothing changed");
    // Revoke needs PROCESS to see the user's sessions: said, not silently skipped.
    let err = t
        .revoke(&ctx(&document(&user, PORT, &old), &[&old]), &old)
        .await
        .expect_err("no PROCESS");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains("grant it PROCESS"), "{err}");
    // A refused admin login names the admin secret.
    let t = target(
        plain(),
        Some(admin("weak-admin", &weak, "not-its-password")),
    );
    let err = t
        .apply(&ctx(&document(&user, PORT, &new), &[&new, &old]), &new)
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(err.to_string().contains("admin secret weak-admin"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_against_a_server_without_tls() {
    let users = Users::default();
    let (old, new) = (password("old"), password("new"));
    let user = users.create(&old, &[]).await;
    let with = |mode| ConnectionSpec {
        host: Some(common::HOST.to_owned()),
        tls_mode: Some(mode),
        ..ConnectionSpec::default()
    };
    // disable and prefer work (prefer falls back to plain: the server offers no TLS).
    verifier(with(TlsMode::Disable), None, None)
        .verify(&ctx(&document(&user, PORT, &old), &[]), &old)
        .await
        .expect("disable");
    verifier(with(TlsMode::Prefer), None, None)
        .verify(&ctx(&document(&user, PORT, &old), &[]), &old)
        .await
        .expect("prefer");
    // verify-full (the default) is refused before any password is sent.
    let err = verifier(ConnectionSpec::default(), None, None)
        .verify(&ctx(&document(&user, PORT, &old), &[]), &old)
        .await
        .expect_err("no TLS on the server");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("does not offer TLS"), "{err}");
    for mode in [TlsMode::VerifyFull, TlsMode::Require] {
        let err = target(with(mode), Some(root_admin()))
            .apply(&ctx(&document(&user, PORT, &new), &[&new, &old]), &new)
            .await
            .expect_err("no TLS on the server");
        assert_eq!(err.kind(), ErrorKind::Target, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("target db: 127.0.0.1:3306: the server does not offer TLS"),
            "{msg}"
        );
    }
    assert!(logs_in(PORT, &user, &old).await, "nothing changed");
}

#[test]
fn the_builders_name_bad_fields() {
    let err = MysqlTarget::builder("db")
        .user_hosts(vec!["%".into(), "a'b".into()])
        .build()
        .expect_err("a quote");
    assert_eq!(err.field(), Some("user_hosts"), "{err}");
    let err = MysqlTarget::builder("db")
        .user_hosts(Vec::new())
        .build()
        .expect_err("none");
    assert_eq!(err.field(), Some("user_hosts"), "{err}");
    let err = MysqlTarget::builder("db")
        .username(Some("x y".into()))
        .build()
        .expect_err("a space");
    assert_eq!(err.field(), Some("username"), "{err}");
    let err = MysqlTarget::builder("db")
        .user_hosts(vec!["10.0.0.1".into()])
        .build()
        .expect_err("host parts without an admin");
    assert_eq!(err.field(), Some("user_hosts"), "{err}");
    let err = MysqlVerifier::builder("v")
        .query(Some(" ".into()))
        .build()
        .expect_err("empty query");
    assert_eq!(err.field(), Some("query"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_configured_host_part_is_changed() {
    let users = Users::default();
    let (old, new) = (password("old"), password("new"));
    let user = users.create(&old, &[]).await;
    let pw = text(&old);
    users.track(format!("'{user}'@'10.9.8.7'"));
    common::root_sql(&format!(
        "CREATE USER '{user}'@'10.9.8.7' IDENTIFIED BY '{pw}'"
    ))
    .await;
    let t = MysqlTarget::builder("db")
        .connection(plain())
        .admin(Some(root_admin()))
        .user_hosts(vec!["%".into(), "10.9.8.7".into()])
        .build()
        .expect("build");
    t.apply(&ctx(&document(&user, PORT, &new), &[&new, &old]), &new)
        .await
        .expect("apply");
    let changed = common::root_query(&format!(
        "SELECT COUNT(*) FROM mysql.user WHERE User = '{user}' AND authentication_string = '{}'",
        sql::native_hash(new.expose()).as_str()
    ))
    .await;
    assert_eq!(changed, "2", "both accounts have the new password");
    // A host part that does not exist: the error names that account.
    let t = MysqlTarget::builder("db")
        .connection(plain())
        .admin(Some(root_admin()))
        .user_hosts(vec!["%".into(), "10.1.1.1".into()])
        .build()
        .expect("build");
    let err = t
        .apply(&ctx(&document(&user, PORT, &old), &[&new, &old]), &old)
        .await
        .expect_err("no such account");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "the user '{user}'@'10.1.1.1' does not exist on 127.0.0.1:3306"
        )),
        "{err}"
    );
}
