//! Errors that say what failed, where and why, against the in-process Key Vault test server:
//! nothing listening, a certificate the client does not trust, a refused token. Each names the
//! operation and secret, carries the transport's own cause and gives the next step.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rotation_azure::{AzureStore, StaticTokenCredential};
use rotation_azure_testserver::KeyVaultServer;
use rotation_core::{ErrorKind, SecretPath, SecretStore};

async fn read_error(store: &AzureStore) -> rotation_core::Error {
    store
        .read_current(&SecretPath::new("db-password"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn nothing_listening_names_the_cause_and_what_to_check() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port(); // the listener is dropped: nothing listens there now
    let server = KeyVaultServer::builder().start();
    let store = common::builder(&server)
        .vault_url(format!("https://127.0.0.1:{port}/"))
        .build()
        .expect("store");
    let err = read_error(&store).await;
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    let text = err.to_string();
    assert!(text.contains("get secret db-password"), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("check `vault_url`"), "{text}");
}

#[tokio::test]
async fn an_untrusted_certificate_says_so_and_points_at_ca_cert() {
    let server = KeyVaultServer::builder().start();
    // Not the test CA: the server's certificate is unknown to the client.
    let store = AzureStore::builder()
        .vault_url(server.url())
        .credential(Arc::new(StaticTokenCredential::new(
            "test-token",
            Duration::from_secs(3600),
        )))
        .verify_challenge_resource(false)
        .timeout(Duration::from_secs(10))
        .retry_backoff(Duration::from_millis(10))
        .build()
        .expect("store");
    let err = read_error(&store).await;
    let text = err.to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(text.contains("`ca_cert`"), "{text}");
}

#[tokio::test]
async fn a_refused_token_says_which_operation_was_refused() {
    let server = KeyVaultServer::builder().token("the-right-one").start();
    let store = common::builder(&server)
        .credential(Arc::new(StaticTokenCredential::new(
            "a-wrong-one",
            Duration::from_secs(60),
        )))
        .build()
        .expect("store");
    let err = read_error(&store).await;
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    let text = err.to_string();
    assert!(text.contains("get secret db-password"), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(
        !text.contains("a-wrong-one"),
        "the token never appears: {text}"
    );
}
