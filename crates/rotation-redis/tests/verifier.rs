//! The Redis verifier against a private server: the right password passes, a wrong one is a
//! verification error with the server's text even when the `default` user would answer, an
//! unexpected answer fails, a closed port is temporary; bad settings are config errors.

mod common;

use common::{create_user, ctx, spec};
use rotation_core::{ConnectionSpec, ErrorKind, SecretValue, TlsMode, Verifier};
use rotation_redis::RedisVerifier;
use rotation_testkit::redis::PrivateRedis;

fn verifier(port: u16) -> RedisVerifier {
    RedisVerifier::builder("redis-check")
        .connection(spec(port))
        .build()
        .expect("build")
}

#[tokio::test]
async fn the_right_password_passes_and_a_wrong_one_is_refused() {
    let redis = PrivateRedis::start();
    let (_, doc) = create_user(&redis, "right-pw-1", &["+@all"]);
    let v = verifier(redis.port);
    v.verify(
        &ctx(&doc, &["right-pw-1"]),
        &SecretValue::from("right-pw-1"),
    )
    .await
    .expect("the right password");
    let err = v
        .verify(
            &ctx(&doc, &["right-pw-1", "wrong-pw-1"]),
            &SecretValue::from("wrong-pw-1"),
        )
        .await
        .expect_err("a wrong password");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = err.to_string();
    assert!(text.contains("WRONGPASS"), "the server's text: {text}");
    assert!(text.contains("verifier redis-check"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", redis.port)),
        "{text}"
    );
    assert!(
        !text.contains("wrong-pw-1") && !text.contains("right-pw-1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_auth_fails_even_when_the_default_user_answers() {
    // The redis-cli trap: after a refused AUTH the connection is still the default user's,
    // which here has no password and may PING.
    let redis = PrivateRedis::start();
    redis.admin(&["ACL", "SETUSER", "default", "on", "nopass", "~*", "+@all"]);
    assert_eq!(
        redis.call_as(None, &["PING"]).as_deref(),
        Ok("PONG"),
        "the trap is set"
    );
    let (_, doc) = create_user(&redis, "trap-pw-1", &["+@all"]);
    let err = verifier(redis.port)
        .verify(&ctx(&doc, &[]), &SecretValue::from("not-trap-pw"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
}

#[tokio::test]
async fn the_answer_must_be_the_expected_one() {
    let redis = PrivateRedis::start();
    let (_, doc) = create_user(&redis, "echo-pw-1", &["+@all"]);
    let good = RedisVerifier::builder("redis-echo")
        .connection(spec(redis.port))
        .query(Some("ECHO  hello".into()))
        .expect(Some("hello".into()))
        .build()
        .expect("build");
    good.verify(&ctx(&doc, &[]), &SecretValue::from("echo-pw-1"))
        .await
        .expect("ECHO hello answers hello");
    let bad = RedisVerifier::builder("redis-echo")
        .connection(spec(redis.port))
        .query(Some("ECHO hello".into()))
        .expect(Some("bye".into()))
        .build()
        .expect("build");
    let err = bad
        .verify(&ctx(&doc, &[]), &SecretValue::from("echo-pw-1"))
        .await
        .expect_err("hello is not bye");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("\"hello\""), "{err}");
    // A command the user may not run is a refusal too.
    let (_, limited) = create_user(&redis, "ping-only-1", &["+ping"]);
    let err = good
        .verify(&ctx(&limited, &[]), &SecretValue::from("ping-only-1"))
        .await
        .expect_err("no +echo");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("NOPERM"), "{err}");
}

#[tokio::test]
async fn the_logical_database_is_selected() {
    let redis = PrivateRedis::start();
    let (_, doc) = create_user(&redis, "db-pw-1", &["+@all"]);
    let with_db = |db: &str| {
        RedisVerifier::builder("redis-db")
            .connection(ConnectionSpec {
                dbname: Some(db.into()),
                ..spec(redis.port)
            })
            .build()
            .expect("build")
    };
    with_db("3")
        .verify(&ctx(&doc, &[]), &SecretValue::from("db-pw-1"))
        .await
        .expect("database 3 exists");
    let err = with_db("999")
        .verify(&ctx(&doc, &[]), &SecretValue::from("db-pw-1"))
        .await
        .expect_err("out of range");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("SELECT 999"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_temporary() {
    let port = rotation_testkit::free_port();
    let doc = common::document(port, "anyone", "x");
    let err = verifier(port)
        .verify(&ctx(&doc, &[]), &SecretValue::from("secret-value-1"))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.to_string().contains("secret-value-1"));
}

#[test]
fn bad_settings_are_config_errors_naming_the_field() {
    let build = |spec: ConnectionSpec, query: Option<&str>| {
        RedisVerifier::builder("v")
            .connection(spec)
            .query(query.map(str::to_owned))
            .build()
            .expect_err("invalid")
    };
    let prefer = build(
        ConnectionSpec {
            tls_mode: Some(TlsMode::Prefer),
            ..ConnectionSpec::default()
        },
        None,
    );
    assert_eq!(prefer.kind(), ErrorKind::InvalidConfig);
    assert_eq!(prefer.field(), Some("tls"));
    let db = build(
        ConnectionSpec {
            dbname: Some("orders".into()),
            ..ConnectionSpec::default()
        },
        None,
    );
    assert_eq!(db.field(), Some("dbname"));
    assert_eq!(
        build(ConnectionSpec::default(), Some("auth x y")).field(),
        Some("query")
    );
    assert_eq!(
        build(ConnectionSpec::default(), Some("  ")).field(),
        Some("query")
    );
}

#[tokio::test]
async fn a_secret_asking_for_prefer_is_refused() {
    let doc = SecretValue::from_string(
        serde_json::json!({"host": "127.0.0.1", "username": "u", "password": "p", "sslmode": "prefer"})
            .to_string(),
    );
    let err = RedisVerifier::builder("redis-prefer")
        .build()
        .expect("build")
        .verify(&ctx(&doc, &[]), &SecretValue::from("p"))
        .await
        .expect_err("prefer cannot be honoured");
    assert!(err.to_string().contains("cannot fall back"), "{err}");
}
