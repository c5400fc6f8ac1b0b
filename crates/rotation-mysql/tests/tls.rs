//! TLS against a private MariaDB that has it (the shared one has none): every mode, the CA,
//! the host name check, and a client certificate for a `REQUIRE X509` user. The server's
//! certificate names `localhost` only, so `verify-full` to `127.0.0.1` must fail while
//! `verify-ca` passes.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{admin, ctx, document, logs_in, password};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rotation_core::{ConnectionSpec, ErrorKind, SecretValue, Target, TlsMode, Verifier};
use rotation_mysql::{MysqlTarget, MysqlVerifier, sql};
use rotation_testkit::mariadb::PrivateMariadb;

/// Whether the session runs over TLS, as the verifier's query ("1" / "0").
const TLS_IN_USE: &str = "SELECT VARIABLE_VALUE LIKE 'TLSv1%' FROM \
                          information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'";

/// The files of a throwaway PKI.
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    _dir: tempfile::TempDir,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    names: Vec<String>,
    purpose: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (String, String) {
    let mut params = CertificateParams::new(names).expect("params");
    params.is_ca = IsCa::ExplicitNoCa;
    params
        .distinguished_name
        .push(DnType::CommonName, "rotation-mysql test");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("leaf");
    (cert.pem(), key.serialize_pem())
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (ca_pem, issuer) = ca("rotation-mysql test CA");
    let (other_pem, _) = ca("another CA");
    let (server_pem, server_key) = leaf(
        vec!["localhost".to_owned()],
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    );
    let (client_pem, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, &issuer);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write a PEM");
        path
    };
    Pki {
        ca: write("ca.pem", &ca_pem),
        other_ca: write("other-ca.pem", &other_pem),
        server_cert: write("server.pem", &server_pem),
        server_key: write("server-key.pem", &server_key),
        client_cert: write("client.pem", &client_pem),
        client_key: write("client-key.pem", &client_key),
        _dir: dir,
    }
}

fn server(pki: &Pki) -> PrivateMariadb {
    PrivateMariadb::start_with(&[
        format!("--ssl-ca={}", pki.ca.display()),
        format!("--ssl-cert={}", pki.server_cert.display()),
        format!("--ssl-key={}", pki.server_key.display()),
    ])
}

fn spec(db: &PrivateMariadb, mode: TlsMode, host: &str, ca: Option<&PathBuf>) -> ConnectionSpec {
    ConnectionSpec {
        host: Some(host.to_owned()),
        port: Some(db.port),
        tls_mode: Some(mode),
        ca: ca.cloned(),
        ..ConnectionSpec::default()
    }
}

fn verifier(spec: ConnectionSpec, expect: &str) -> MysqlVerifier {
    MysqlVerifier::builder("tls")
        .connection(spec)
        .query(Some(TLS_IN_USE.to_owned()))
        .expect(Some(expect.to_owned()))
        .build()
        .expect("build")
}

/// A user of `db` with a fresh password (created from its hash); its name and password.
fn user(db: &PrivateMariadb, require: &str) -> (String, SecretValue) {
    let pw = password("tls");
    let name = format!("rt_{}", common::random());
    db.sql(&format!(
        "CREATE USER '{name}'@'%' IDENTIFIED BY PASSWORD '{}' {require}",
        sql::native_hash(pw.expose()).as_str()
    ));
    (name, pw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tls_mode_on_a_server_with_tls() {
    let pki = pki();
    let db = server(&pki);
    let (name, pw) = user(&db, "");
    let doc = document(&name, db.port, &pw);
    let c = ctx(&doc, &[]);
    let passing = [
        (TlsMode::Require, "127.0.0.1", None, "1"),
        (TlsMode::Prefer, "127.0.0.1", None, "1"),
        (TlsMode::VerifyCa, "127.0.0.1", Some(&pki.ca), "1"),
        (TlsMode::VerifyFull, "localhost", Some(&pki.ca), "1"),
        (TlsMode::Disable, "127.0.0.1", None, "0"),
    ];
    for (mode, host, ca, tls) in passing {
        verifier(spec(&db, mode, host, ca), tls)
            .verify(&c, &pw)
            .await
            .unwrap_or_else(|e| panic!("{mode:?} to {host}: {e}"));
    }
    let failing = [
        // The certificate names localhost, not 127.0.0.1.
        (TlsMode::VerifyFull, "127.0.0.1", Some(&pki.ca)),
        (TlsMode::VerifyCa, "127.0.0.1", Some(&pki.other_ca)),
        // The built-in roots do not know the test CA.
        (TlsMode::VerifyFull, "localhost", None),
    ];
    for (mode, host, ca) in failing {
        let err = verifier(spec(&db, mode, host, ca), "1")
            .verify(&c, &pw)
            .await
            .expect_err("the certificate is not accepted");
        assert_eq!(
            err.kind(),
            ErrorKind::Verification,
            "{mode:?} {host}: {err}"
        );
        assert!(
            err.to_string().contains("TLS handshake failed"),
            "{mode:?} {host}: {err}"
        );
    }

    // The target over verify-full: the admin logs in over TLS and changes the password.
    let new = password("new");
    let target = MysqlTarget::builder("tls")
        .connection(spec(&db, TlsMode::VerifyFull, "localhost", Some(&pki.ca)))
        .admin(Some(admin(
            "private-admin",
            &db.admin_user,
            &db.admin_password,
        )))
        .build()
        .expect("build");
    target
        .apply(&ctx(&document(&name, db.port, &new), &[&new, &pw]), &new)
        .await
        .expect("apply over TLS");
    assert!(logs_in(db.port, &name, &new).await);
    assert!(!logs_in(db.port, &name, &pw).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented() {
    let pki = pki();
    let db = server(&pki);
    let (name, pw) = user(&db, "REQUIRE X509");
    let c = ctx(&document(&name, db.port, &pw), &[]);
    let base = spec(&db, TlsMode::VerifyFull, "localhost", Some(&pki.ca));
    let err = verifier(base.clone(), "1")
        .verify(&c, &pw)
        .await
        .expect_err("no client certificate");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("Access denied"), "{err}");
    let with_cert = ConnectionSpec {
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
        ..base.clone()
    };
    let v = verifier(with_cert, "1");
    v.check().expect("the files exist");
    v.verify(&c, &pw)
        .await
        .expect("the certificate is accepted");

    let half = ConnectionSpec {
        client_cert: Some(pki.client_cert.clone()),
        ..base
    };
    let target: Arc<dyn Target> = Arc::new(
        MysqlTarget::builder("tls")
            .connection(half)
            .build()
            .expect("build"),
    );
    let err = target.check().expect_err("a certificate without its key");
    assert_eq!(err.field(), Some("targets.tls.client_key"), "{err}");
}
