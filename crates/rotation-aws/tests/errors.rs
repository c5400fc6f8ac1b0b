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

/// A throwaway CA (PEM) and a leaf certificate for 127.0.0.1 signed by it, with its key.
fn pki() -> (
    String,
    tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).expect("ca").pem();
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    leaf.is_ca = IsCa::ExplicitNoCa;
    let cert = leaf
        .signed_by(&leaf_key, &Issuer::new(ca, ca_key))
        .expect("leaf");
    let key =
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    (ca_pem, cert.der().clone(), key)
}

/// A TLS listener serving `cert`: to a client that trusts it, every request is answered with
/// Secrets Manager's ResourceNotFoundException.
async fn tls_listener(
    cert: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    key: tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
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
                // A client that does not trust the certificate aborts the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    request.extend_from_slice(&buf[..n]);
                    if complete(&request) {
                        break;
                    }
                }
                let body = r#"{"__type":"ResourceNotFoundException","message":"no such secret"}"#;
                let reply = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// Whether `request` holds its headers and the whole body `Content-Length` announces.
fn complete(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_with_what_to_do() {
    let (_, cert, key) = pki();
    let port = tls_listener(cert, key).await;
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
    assert!(text.contains("invalid peer certificate"), "{text}");
    assert!(text.contains("`stores.sm.ca_bundle`"), "{text}");
}

#[tokio::test]
async fn ca_bundle_makes_a_private_ca_trusted() {
    let (ca_pem, cert, key) = pki();
    let port = tls_listener(cert, key).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, ca_pem).expect("write");
    let store = AwsStore::builder()
        .name("sm")
        .endpoint_url(format!("https://127.0.0.1:{port}"))
        .region("us-east-1")
        .max_attempts(1)
        .ca_bundle(&bundle)
        .build()
        .expect("store");
    // The handshake succeeds: the listener's answer comes through.
    let err = read_error(&store).await;
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("no such secret"), "{err}");
}

#[test]
fn a_ca_bundle_that_is_not_pem_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(
        &bundle,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let err = AwsStore::builder().ca_bundle(&bundle).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert_eq!(err.field(), Some("ca_bundle"), "{err}");
    let missing = AwsStore::builder()
        .ca_bundle(dir.path().join("missing.pem"))
        .build()
        .unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}
