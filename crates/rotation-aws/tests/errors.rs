//! Errors that say what failed, where and why: nothing listening at the endpoint, and a TLS
//! listener whose certificate the client does not trust. Each names the store, the action and
//! secret, carries the SDK's cause chain and gives the next step. (Refused credentials need
//! moto's IAM enforcement, global to a server: `tests/tests/aws_cli.rs` runs those against a
//! private server.)

use std::sync::Arc;
use std::time::Duration;

use rotation_aws::AwsStore;
use rotation_core::{ErrorKind, SecretPath, SecretStore};

fn store(endpoint: &str) -> AwsStore {
    AwsStore::builder()
        .name("sm")
        .endpoint_url(endpoint)
        .region("us-east-1")
        .max_attempts(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("store")
}

async fn read_error(store: &AwsStore) -> rotation_core::Error {
    store
        .read_current(&SecretPath::new("prod/app/db"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn nothing_listening_says_connection_refused_and_names_the_endpoint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port(); // the listener is dropped: nothing listens there now
    let endpoint = format!("http://127.0.0.1:{port}");
    let err = read_error(&store(&endpoint)).await;
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    let text = err.to_string();
    assert!(text.contains("aws store \"sm\""), "{text}");
    assert!(text.contains("GetSecretValue on prod/app/db"), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(text.contains(&endpoint), "{text}");
    assert!(text.contains("`stores.sm.endpoint_url`"), "{text}");
    assert!(!text.ends_with(": other"), "{text}");
}

/// A TLS listener with a self-signed certificate: every handshake fails on the client side.
async fn untrusted_tls_listener() -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
        cert.signing_key.serialize_der().into(),
    );
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await; // the client aborts the handshake
            });
        }
    });
    port
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_with_what_to_do() {
    let port = untrusted_tls_listener().await;
    let endpoint = format!("https://127.0.0.1:{port}");
    let err = read_error(&store(&endpoint)).await;
    let text = err.to_string();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{text}");
    assert!(text.contains("GetSecretValue on prod/app/db"), "{text}");
    assert!(
        text.contains(&format!("the TLS certificate of {endpoint} is not trusted")),
        "{text}"
    );
    // rustls's own verdict is part of the chain.
    assert!(text.contains("certificate"), "{text}");
    assert!(text.contains("SSL_CERT_FILE"), "{text}");
}
