//! The verifier against a private server: the right password passes, a wrong one fails with
//! the server's own message, an unexpected answer fails, a closed port is temporary.

mod common;

use common::{Server, ctx, password, text_without, with_password};
use rotation_core::{ConnectionSpec, ErrorKind, Verifier};
use rotation_postgres::PostgresVerifier;

#[tokio::test]
async fn checks_the_login_and_the_answer() {
    let server = Server::start();
    let right = password("right");
    let (role, doc) = server.create_role("reader", &right, "");
    let c = ctx(&doc, &[&right]);
    server
        .verifier(None, None)
        .verify(&c, &right)
        .await
        .expect("the right password passes");
    server
        .verifier(Some("SELECT current_user"), Some(&role))
        .verify(&c, &right)
        .await
        .expect("a custom query with its answer passes");

    let wrong = password("wrong");
    let err = server
        .verifier(None, None)
        .verify(
            &ctx(&with_password(&doc, &wrong), &[&wrong, &right]),
            &wrong,
        )
        .await
        .expect_err("a wrong password fails");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = text_without(&err, &[&wrong, &right]);
    assert!(text.contains("verifier pg-login"), "{text}");
    assert!(
        text.contains(&format!(
            "password authentication failed for user \"{role}\""
        )),
        "{text}"
    );
    assert!(text.contains("28P01"), "{text}");

    let err = server
        .verifier(Some("SELECT 2"), None)
        .verify(&c, &right)
        .await
        .expect_err("an unexpected answer fails");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = text_without(&err, &[&right]);
    assert!(text.contains("answered \"2\", expected \"1\""), "{text}");

    // An answer that holds the password is never quoted.
    let echo = format!("SELECT 'x' || '{}'", right.expose_str().expect("utf-8"));
    let err = server
        .verifier(Some(&echo), None)
        .verify(&c, &right)
        .await
        .expect_err("not the expected answer");
    let text = text_without(&err, &[&right]);
    assert!(text.contains("not shown"), "{text}");

    let err = server
        .verifier(Some("SELECT 1 FROM no_such_table"), None)
        .verify(&c, &right)
        .await
        .expect_err("a failing query fails");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("42P01"), "{err}");
}

#[tokio::test]
async fn a_closed_port_is_temporary() {
    let server = Server::start();
    let pw = password("pw");
    let (_, doc) = server.create_role("reader", &pw, "");
    let port = rotation_testkit::free_port();
    let verifier = PostgresVerifier::builder("pg-closed")
        .connection(ConnectionSpec {
            port: Some(port),
            ..server.spec()
        })
        .build()
        .expect("build");
    let err = verifier
        .verify(&ctx(&doc, &[&pw]), &pw)
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    let text = text_without(&err, &[&pw]);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}
