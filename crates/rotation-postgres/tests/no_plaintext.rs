//! With every statement logged, a rotation through the target (apply, rollback, revoke) and
//! the verifier leaves neither the new nor the old password in the server's log: the server
//! only ever sees a SCRAM verifier.

mod common;

use common::{Server, ctx, password, with_password};
use rotation_core::{Target, Verifier};

#[tokio::test]
async fn the_server_log_never_holds_a_password() {
    let server = Server::start();
    let old = password("old");
    let (role, doc) = server.create_role("app", &old, "");
    let new = password("new");
    let target = server.target();
    let c = ctx(&with_password(&doc, &new), &[&new, &old]);
    target.apply(&c, &new).await.expect("apply");
    server
        .verifier(None, None)
        .verify(&c, &new)
        .await
        .expect("verify");
    let back = ctx(&with_password(&doc, &old), &[&new, &old]);
    target.apply(&back, &old).await.expect("rollback");
    target.apply(&c, &new).await.expect("apply again");
    target.revoke(&back, &old).await.expect("revoke");
    assert!(server.logs_in(&role, &new).await);

    let log = server.pg.log();
    // The log is real: it holds our statements (so the check below can fail).
    assert!(
        log.contains(&format!(
            "ALTER ROLE \"{role}\" PASSWORD 'SCRAM-SHA-256$4096:"
        )),
        "the statement log does not show the ALTER ROLE:\n{log}"
    );
    assert!(log.contains("pg_terminate_backend"), "{log}");
    for (what, value) in [("new", &new), ("old", &old)] {
        let raw = value.expose_str().expect("utf-8");
        assert!(
            !log.contains(raw),
            "the {what} password is in the server log:\n{log}"
        );
    }
    // And the server stores a SCRAM verifier.
    let stored = server.pg.sql(&format!(
        "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '{role}'"
    ));
    assert_eq!(stored, "SCRAM-SHA-256$");
}
