//! A server-side password policy against the target's hashed statements, on private MariaDB
//! servers with the validation plugins MariaDB ships (`simple_password_check`,
//! `password_reuse_check`):
//!
//! - `strict_password_validation=ON` (the default): every hash is refused; the error names the
//!   target, the server, the account, quotes the server and says what to change; the old
//!   password still logs in, the new one does not, and the engine's revert (re-applying the old
//!   value) succeeds;
//! - `strict_password_validation=OFF`: hashes are accepted unchecked (a weak one and a reused
//!   one too), so a rotation and its rollback apply;
//! - a read-only server: the error says to point the target at the primary.

mod common;

use std::sync::Arc;

use common::{admin, connect, ctx, document, logs_in, plain, random};
use mysql_async::prelude::Queryable;
use rotation_core::{ConnectionSpec, CredentialSource, Error, ErrorKind, SecretValue, Target};
use rotation_mysql::{MysqlTarget, sql};
use rotation_testkit::mariadb::PrivateMariadb;

/// A private server with both validation plugins MariaDB 10.11 ships in its server package,
/// and `more` options.
fn with_plugins(more: &[&str]) -> PrivateMariadb {
    let options: Vec<String> = [
        "--plugin-load-add=simple_password_check",
        "--plugin-load-add=password_reuse_check",
    ]
    .iter()
    .chain(more)
    .map(|o| (*o).to_owned())
    .collect();
    let db = PrivateMariadb::start_with(&options);
    assert_eq!(
        db.sql(
            "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_STATUS = 'ACTIVE' \
             AND PLUGIN_NAME IN ('simple_password_check', 'password_reuse_check')"
        )
        .trim(),
        "2",
        "both plugins are active"
    );
    db
}

/// A password `simple_password_check` accepts (8+ characters, upper and lower case, a digit,
/// another character), unique.
fn strong(tag: &str) -> SecretValue {
    SecretValue::from_string(format!("Pw1-{tag}-{}", random()))
}

fn text(v: &SecretValue) -> &str {
    v.expose_str().expect("UTF-8")
}

/// `user`@'%' with `password`, created as root. In plaintext: with a validation plugin and
/// strict validation a hash is refused (the private server's log is the test's own).
fn create_user(db: &PrivateMariadb, password: &SecretValue) -> String {
    let user = format!("rt_{}", random());
    db.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
        text(password)
    ));
    user
}

fn spec(db: &PrivateMariadb) -> ConnectionSpec {
    ConnectionSpec {
        port: Some(db.port),
        ..plain()
    }
}

fn target(db: &PrivateMariadb, admin: Option<Arc<dyn CredentialSource>>) -> MysqlTarget {
    MysqlTarget::builder("db")
        .connection(spec(db))
        .admin(admin)
        .build()
        .expect("build")
}

fn db_admin(db: &PrivateMariadb) -> Option<Arc<dyn CredentialSource>> {
    Some(admin("private-admin", &db.admin_user, &db.admin_password))
}

/// The refusal is a target error naming the target, server and account, quoting the server
/// and saying what to change, without a value or hash.
fn assert_strict_refusal(err: &Error, port: u16, account: &str, values: &[&SecretValue]) {
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let msg = err.to_string();
    for part in [
        "target db: ",
        &format!("127.0.0.1:{port} refused the new password of {account}"),
        "1290",
        "The MariaDB server is running with the --strict-password-validation option so it \
         cannot execute this statement",
        "nothing was changed",
        "set strict_password_validation=OFF on the server",
        "make the secret's generator meet the server's password policy",
    ] {
        assert!(msg.contains(part), "{part:?} missing in: {msg}");
    }
    for value in values {
        assert!(!msg.contains(text(value)), "a value in: {msg}");
        assert!(
            !msg.contains(sql::native_hash(value.expose()).as_str()),
            "a hash in: {msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_validation_refuses_the_hash_and_the_old_password_stays() {
    let db = with_plugins(&[]);
    assert_eq!(
        db.sql("SELECT @@strict_password_validation").trim(),
        "1",
        "strict validation is MariaDB's default"
    );
    let (old, new) = (strong("old"), strong("new"));
    let user = create_user(&db, &old);
    let related = [&new, &old];
    let new_doc = document(&user, db.port, &new);
    let old_doc = document(&user, db.port, &old);

    for (mode, admin, account) in [
        ("admin", db_admin(&db), format!("'{user}'@'%'")),
        ("single-user", None, format!("'{user}' (its own password)")),
    ] {
        let t = target(&db, admin);
        let err = t
            .apply(&ctx(&new_doc, &related), &new)
            .await
            .expect_err("a validation plugin with strict validation refuses a hash");
        println!("{mode}: {err}");
        assert_strict_refusal(&err, db.port, &account, &related);
        // The result says nothing changed: the server agrees.
        assert!(
            logs_in(db.port, &user, &old).await,
            "{mode}: old still works"
        );
        assert!(!logs_in(db.port, &user, &new).await, "{mode}: new refused");
        // The engine's revert re-applies the old value: the server holds it, so it succeeds.
        t.apply(&ctx(&old_doc, &related), &old)
            .await
            .unwrap_or_else(|e| panic!("{mode}: the revert to the password in place: {e}"));
        assert!(
            logs_in(db.port, &user, &old).await,
            "{mode}: old after revert"
        );
        assert!(
            !logs_in(db.port, &user, &new).await,
            "{mode}: new after revert"
        );
    }
    db.sql(&format!("DROP USER '{user}'@'%'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_validation_off_accepts_the_hash_unchecked() {
    let db = with_plugins(&["--strict-password-validation=OFF"]);
    assert_eq!(db.sql("SELECT @@strict_password_validation").trim(), "0");
    let (old, new) = (strong("old"), strong("new"));
    let user = create_user(&db, &old);
    let related = [&new, &old];
    let as_admin = target(&db, db_admin(&db));
    as_admin
        .apply(&ctx(&document(&user, db.port, &new), &related), &new)
        .await
        .expect("the hash is accepted with strict validation off");
    assert!(logs_in(db.port, &user, &new).await, "new works");
    assert!(!logs_in(db.port, &user, &old).await, "old refused");
    // The rollback sets a password the user had before: password_reuse_check refuses that in
    // plaintext, a hash passes.
    target(&db, None)
        .apply(&ctx(&document(&user, db.port, &old), &related), &old)
        .await
        .expect("the rollback (single-user) to the reused password");
    assert!(logs_in(db.port, &user, &old).await, "old is back");
    assert!(!logs_in(db.port, &user, &new).await, "new refused");
    // The trade-off: the plugin checks no hash, a weak password gets through. The generator
    // must meet the policy itself.
    let weak = SecretValue::from_string("weak".to_owned());
    as_admin
        .apply(
            &ctx(&document(&user, db.port, &weak), &[&weak, &old]),
            &weak,
        )
        .await
        .expect("a weak password's hash is not checked");
    assert!(logs_in(db.port, &user, &weak).await, "the weak one works");
    // The reuse check is live: the old password (created in plaintext) is refused as
    // plaintext, the reason in the statement's warnings.
    let mut conn = connect(db.port, &db.admin_user, &db.admin_password)
        .await
        .expect("the admin logs in");
    conn.query_drop(format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY '{}'",
        text(&old)
    ))
    .await
    .expect_err("password_reuse_check refuses a plaintext reuse");
    let warnings: Vec<(String, u32, String)> =
        conn.query("SHOW WARNINGS").await.expect("SHOW WARNINGS");
    assert!(
        warnings
            .iter()
            .any(|(_, code, message)| *code == 1819 && message.contains("password_reuse_check")),
        "{warnings:?}"
    );
    let _ = conn.disconnect().await;
    db.sql(&format!("DROP USER '{user}'@'%'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_server_names_the_primary() {
    let db = PrivateMariadb::start();
    let (old, new) = (strong("old"), strong("new"));
    let user = create_user(&db, &old);
    db.sql("SET GLOBAL read_only = ON");
    // The user itself has no READ_ONLY ADMIN (the private admin has ALL PRIVILEGES, which
    // includes it).
    let err = target(&db, None)
        .apply(&ctx(&document(&user, db.port, &new), &[&new, &old]), &new)
        .await
        .expect_err("a read-only server refuses the change");
    println!("read-only: {err}");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let msg = err.to_string();
    for part in [
        format!("target db: 127.0.0.1:{} is read-only", db.port),
        "--read-only option".to_owned(),
        "point the target at the primary server".to_owned(),
    ] {
        assert!(msg.contains(&part), "{part:?} missing in: {msg}");
    }
    assert!(logs_in(db.port, &user, &old).await, "old still works");
    assert!(!logs_in(db.port, &user, &new).await, "new refused");
    db.sql("SET GLOBAL read_only = OFF");
    db.sql(&format!("DROP USER '{user}'@'%'"));
}
