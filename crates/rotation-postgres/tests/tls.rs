//! TLS modes against private servers: without TLS on the server, and with a certificate for
//! `127.0.0.1` from a throwaway CA (rcgen).

mod common;

use std::path::PathBuf;

use common::{Server, ctx, password, text_without};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rotation_core::{ConnectionSpec, ErrorKind, SecretValue, Target, TlsMode, Verifier};
use rotation_postgres::{PostgresTarget, PostgresVerifier};
use rotation_testkit::postgres::PostgresOptions;

/// A CA's PEM and a leaf (certificate, key) for `names`, signed by it.
fn pki(names: &[&str]) -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: two CAs of one name make a wrong CA look like a bad signature.
    ca.distinguished_name
        .push(DnType::CommonName, rotation_testkit::unique("test-ca"));
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    leaf.is_ca = IsCa::ExplicitNoCa;
    let leaf_key = KeyPair::generate().expect("key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::new(ca, ca_key))
        .expect("leaf");
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all as PEM: (CA,
/// server certificate, server key, client certificate, client key).
fn pki_with_client() -> [String; 5] {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, rotation_testkit::unique("test-ca"));
    let ca_key = KeyPair::generate().expect("key");
    let ca_pem = ca.self_signed(&ca_key).expect("CA").pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let mut params = CertificateParams::new(names).expect("params");
        params.is_ca = IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("leaf");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".to_owned()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    [ca_pem, server_cert, server_key, client_cert, client_key]
}

/// A server with TLS on (certificate for 127.0.0.1 only) and the path of its CA's PEM.
fn tls_server() -> (Server, PathBuf) {
    let (ca, cert, key) = pki(&["127.0.0.1"]);
    let server = Server::start_with(
        PostgresOptions::default()
            .file("server.crt", cert)
            .file("server.key", key)
            .setting("ssl", "on")
            .setting("ssl_cert_file", "{dir}/server.crt")
            .setting("ssl_key_file", "{dir}/server.key"),
    );
    let ca_path = server.pg.dir().join("ca.pem");
    std::fs::write(&ca_path, ca).expect("write the CA");
    (server, ca_path)
}

fn spec(server: &Server, host: &str, mode: TlsMode, ca: Option<PathBuf>) -> ConnectionSpec {
    ConnectionSpec {
        host: Some(host.to_owned()),
        tls_mode: Some(mode),
        ca,
        ..server.spec()
    }
}

/// A verifier that passes only on a TLS session (or only on a plain one).
fn verifier(spec: ConnectionSpec, expect_tls: bool) -> PostgresVerifier {
    PostgresVerifier::builder("pg-tls")
        .connection(spec)
        .query(Some(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()".to_owned(),
        ))
        .expect(Some(if expect_tls { "t" } else { "f" }.to_owned()))
        .build()
        .expect("build")
}

async fn user(server: &Server) -> (SecretValue, SecretValue) {
    let pw = password("pw");
    let (_, doc) = server.create_role("tls", &pw, "");
    (pw, doc)
}

#[tokio::test]
async fn disable_works_and_verify_full_needs_tls_on_the_server() {
    let server = Server::start();
    let (pw, doc) = user(&server).await;
    let c = ctx(&doc, &[&pw]);
    verifier(spec(&server, "127.0.0.1", TlsMode::Disable, None), false)
        .verify(&c, &pw)
        .await
        .expect("disable: a plain session");
    verifier(spec(&server, "127.0.0.1", TlsMode::Prefer, None), false)
        .verify(&c, &pw)
        .await
        .expect("prefer: plain when the server has no TLS");

    let (ca, _, _) = pki(&["127.0.0.1"]);
    let ca_path = server.pg.dir().join("ca.pem");
    std::fs::write(&ca_path, ca).expect("write the CA");
    let full = spec(&server, "127.0.0.1", TlsMode::VerifyFull, Some(ca_path));
    let err = verifier(full.clone(), true)
        .verify(&c, &pw)
        .await
        .expect_err("the server has no TLS");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = text_without(&err, &[&pw]);
    assert!(text.contains("tls mode verify-full"), "{text}");
    assert!(text.contains("server does not support TLS"), "{text}");

    let target = PostgresTarget::builder("pg")
        .connection(full)
        .admin(Some(server.admin()))
        .build()
        .expect("build");
    let new = password("new");
    let err = target
        .apply(&ctx(&doc, &[&new, &pw]), &new)
        .await
        .expect_err("the server has no TLS");
    assert_eq!(err.kind(), ErrorKind::Target, "{err}");
    let text = text_without(&err, &[&pw, &new]);
    assert!(text.contains("target pg: TLS with 127.0.0.1:"), "{text}");
    assert!(text.contains("server does not support TLS"), "{text}");
}

#[tokio::test]
async fn certificates_are_checked_as_each_mode_says() {
    let (server, ca) = tls_server();
    let (pw, doc) = user(&server).await;
    let c = ctx(&doc, &[&pw]);
    let (wrong_ca, _, _) = pki(&["127.0.0.1"]);
    let wrong = server.pg.dir().join("wrong-ca.pem");
    std::fs::write(&wrong, wrong_ca).expect("write");

    verifier(
        spec(&server, "127.0.0.1", TlsMode::VerifyFull, Some(ca.clone())),
        true,
    )
    .verify(&c, &pw)
    .await
    .expect("verify-full with the right CA");
    let err = verifier(
        spec(
            &server,
            "127.0.0.1",
            TlsMode::VerifyFull,
            Some(wrong.clone()),
        ),
        true,
    )
    .verify(&c, &pw)
    .await
    .expect_err("verify-full with another CA");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = text_without(&err, &[&pw]);
    assert!(text.contains("invalid peer certificate"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    let err = verifier(
        spec(&server, "127.0.0.1", TlsMode::VerifyCa, Some(wrong.clone())),
        true,
    )
    .verify(&c, &pw)
    .await
    .expect_err("verify-ca checks the chain too");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // The certificate names 127.0.0.1 only: "localhost" passes verify-ca, not verify-full.
    verifier(
        spec(&server, "localhost", TlsMode::VerifyCa, Some(ca.clone())),
        true,
    )
    .verify(&c, &pw)
    .await
    .expect("verify-ca ignores the name");
    let err = verifier(
        spec(&server, "localhost", TlsMode::VerifyFull, Some(ca.clone())),
        true,
    )
    .verify(&c, &pw)
    .await
    .expect_err("verify-full checks the name");
    assert!(err.to_string().contains("not valid for name"), "{err}");

    // require and prefer encrypt without checking; disable stays plain.
    for mode in [TlsMode::Require, TlsMode::Prefer] {
        verifier(spec(&server, "localhost", mode, Some(wrong.clone())), true)
            .verify(&c, &pw)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    }
    verifier(spec(&server, "127.0.0.1", TlsMode::Disable, None), false)
        .verify(&c, &pw)
        .await
        .expect("disable");

    // The target over verify-full (the admin connection inherits the TLS settings).
    let target = PostgresTarget::builder("pg")
        .connection(spec(&server, "127.0.0.1", TlsMode::VerifyFull, Some(ca)))
        .admin(Some(server.admin()))
        .build()
        .expect("build");
    let new = password("new");
    target
        .apply(&ctx(&doc, &[&new, &pw]), &new)
        .await
        .expect("apply over TLS");
    let user: serde_json::Value = serde_json::from_slice(doc.expose()).expect("json");
    assert!(
        server
            .logs_in(user["username"].as_str().expect("name"), &new)
            .await
    );
}

#[tokio::test]
async fn a_server_that_wants_a_client_certificate_gets_one() {
    let [ca, server_cert, server_key, client_cert, client_key] = pki_with_client();
    // TCP logins need TLS with a certificate from the CA, and the password.
    let hba = "local all all scram-sha-256\n\
               hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-ca\n";
    let server = Server::start_with(
        PostgresOptions::default()
            .file("server.crt", server_cert)
            .file("server.key", server_key)
            .file("ca.crt", ca.clone())
            .file("pg_hba.conf", hba)
            .setting("ssl", "on")
            .setting("ssl_cert_file", "{dir}/server.crt")
            .setting("ssl_key_file", "{dir}/server.key")
            .setting("ssl_ca_file", "{dir}/ca.crt")
            .setting("hba_file", "{dir}/pg_hba.conf"),
    );
    let dir = server.pg.dir();
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("client.crt"),
        dir.join("client.key"),
    );
    std::fs::write(&ca_path, ca).expect("write");
    std::fs::write(&cert_path, client_cert).expect("write");
    std::fs::write(&key_path, client_key).expect("write");
    let (pw, doc) = user(&server).await;
    let c = ctx(&doc, &[&pw]);
    let full = spec(&server, "127.0.0.1", TlsMode::VerifyFull, Some(ca_path));

    let err = verifier(full.clone(), true)
        .verify(&c, &pw)
        .await
        .expect_err("no client certificate");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = text_without(&err, &[&pw]);
    assert!(
        text.contains("connection requires a valid client certificate (SQLSTATE 28000)"),
        "the server says why: {text}"
    );

    let with_cert = ConnectionSpec {
        client_cert: Some(cert_path),
        client_key: Some(key_path),
        ..full
    };
    verifier(with_cert, true)
        .verify(&c, &pw)
        .await
        .expect("with the client certificate");
}

#[test]
fn check_reports_an_unreadable_ca() {
    let target = PostgresTarget::builder("pg")
        .connection(ConnectionSpec {
            host: Some("127.0.0.1".into()),
            ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..ConnectionSpec::default()
        })
        .build()
        .expect("build");
    let err = target.check().expect_err("no such file");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
