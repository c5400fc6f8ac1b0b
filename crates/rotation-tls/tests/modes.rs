//! What each mode's client config accepts, by in-memory handshakes against a rustls server
//! with a throwaway CA and a certificate for `localhost` only, and the file errors.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rotation_core::{ErrorKind, Tls, TlsMode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, ServerConfig, ServerConnection};

/// A CA and its PEM file in a temporary directory.
struct Ca {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("write");
        Ca {
            dir,
            issuer: Issuer::new(params, key),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A TLS server whose certificate (signed by this CA) is for `localhost` only.
    fn server(&self) -> Arc<ServerConfig> {
        let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
        .expect("server config");
        Arc::new(config)
    }
}

fn tls(mode: TlsMode, ca: Option<PathBuf>) -> Tls {
    Tls {
        mode,
        ca,
        ..Tls::default()
    }
}

fn config(tls: &Tls) -> Arc<ClientConfig> {
    rotation_tls::client_config("target t", tls)
        .expect("client config")
        .expect("TLS on")
}

/// A whole handshake in memory; the client's refusal, if any.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(), rustls::Error> {
    let name = ServerName::try_from(name.to_owned()).expect("name");
    let mut c = ClientConnection::new(client, name).expect("client");
    let mut s = ServerConnection::new(server).expect("server");
    for _ in 0..10 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).expect("client writes");
        }
        let mut rd = &wire[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server reads");
        }
        // A server-side failure shows up as the client's alert below.
        let _ = s.process_new_packets();
        wire.clear();
        while s.wants_write() {
            s.write_tls(&mut wire).expect("server writes");
        }
        let mut rd = &wire[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client reads");
        }
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn invalid_certificate(result: Result<(), rustls::Error>) -> CertificateError {
    match result {
        Err(rustls::Error::InvalidCertificate(e)) => e,
        other => panic!("expected a refused certificate, got {other:?}"),
    }
}

#[test]
fn disable_is_no_tls() {
    let none = rotation_tls::client_config("target t", &tls(TlsMode::Disable, None)).expect("ok");
    assert!(none.is_none());
}

#[test]
fn verify_full_checks_chain_and_name() {
    let (ca, other) = (Ca::new("ca"), Ca::new("other"));
    let full = config(&tls(TlsMode::VerifyFull, Some(ca.file())));
    handshake(full.clone(), ca.server(), "localhost").expect("right CA and name");
    let wrong_name = invalid_certificate(handshake(full.clone(), ca.server(), "127.0.0.1"));
    assert!(
        matches!(
            wrong_name,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{wrong_name:?}"
    );
    let wrong_ca = invalid_certificate(handshake(full, other.server(), "localhost"));
    assert_eq!(wrong_ca, CertificateError::UnknownIssuer);
}

#[test]
fn verify_ca_forgives_only_the_name() {
    let (ca, other) = (Ca::new("ca"), Ca::new("other"));
    let chain = config(&tls(TlsMode::VerifyCa, Some(ca.file())));
    handshake(chain.clone(), ca.server(), "localhost").expect("right CA and name");
    handshake(chain.clone(), ca.server(), "127.0.0.1").expect("name not checked");
    let wrong_ca = invalid_certificate(handshake(chain, other.server(), "127.0.0.1"));
    assert_eq!(wrong_ca, CertificateError::UnknownIssuer);
}

#[test]
fn require_and_prefer_take_any_certificate() {
    let other = Ca::new("other");
    for mode in [TlsMode::Require, TlsMode::Prefer] {
        handshake(config(&tls(mode, None)), other.server(), "127.0.0.1").expect("any");
    }
}

#[test]
fn file_errors_name_the_field_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let err = rotation_tls::check_files("target t", &tls(TlsMode::VerifyCa, Some(missing)))
        .expect_err("no CA file");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("target t: ca ") && text.contains("missing.pem"),
        "{text}"
    );

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let err = rotation_tls::client_config("target t", &tls(TlsMode::VerifyFull, Some(empty)))
        .expect_err("empty CA file");
    assert!(err.to_string().contains("holds no certificate"), "{err}");

    let lone_cert = Tls {
        client_cert: Some(dir.path().join("c.pem")),
        ..tls(TlsMode::Require, None)
    };
    let err = rotation_tls::check_files("target t", &lone_cert).expect_err("no key");
    assert!(
        err.to_string()
            .contains("client_cert and client_key go together"),
        "{err}"
    );
}

#[test]
fn a_bad_key_is_named_but_never_quoted() {
    let ca = Ca::new("ca");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not-a-key-s3cr3t-material").expect("write");
    let with_key = Tls {
        client_cert: Some(ca.file()),
        client_key: Some(key),
        ..tls(TlsMode::Require, None)
    };
    let err = rotation_tls::check_files("target t", &with_key).expect_err("bad key");
    let text = err.to_string();
    assert!(
        text.contains("client_key") && text.contains("key.pem"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
}
