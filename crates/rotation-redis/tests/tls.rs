//! TLS (`rediss`) against a private Redis serving TLS with a throwaway CA, its certificate
//! valid for `localhost` only and client certificates required: what each sslmode accepts.

mod common;

use std::path::PathBuf;

use common::{create_user, ctx};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rotation_core::{ConnectionSpec, ErrorKind, SecretValue, Target, TlsMode, Verifier};
use rotation_redis::{RedisTarget, RedisVerifier};
use rotation_testkit::redis::PrivateRedis;

/// A CA, and PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        let cert = ca.self_signed(&key).expect("self-signed");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("write");
        Pki {
            dir,
            issuer: Issuer::new(ca, key),
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf for `names` (`server` or client use); its certificate and key files.
    fn leaf(&self, tag: &str, names: &[&str], server: bool) -> (PathBuf, PathBuf) {
        let mut leaf =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.distinguished_name.push(DnType::CommonName, tag);
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = leaf.signed_by(&key, &self.issuer).expect("sign");
        let (c, k) = (
            self.dir.path().join(format!("{tag}.pem")),
            self.dir.path().join(format!("{tag}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (c, k)
    }
}

struct Setup {
    redis: PrivateRedis,
    pki: Pki,
    client: (PathBuf, PathBuf),
}

fn setup() -> Setup {
    let pki = Pki::new("rotation-redis test CA");
    let (cert, key) = pki.leaf("server", &["localhost"], true);
    let client = pki.leaf("client", &["rotation-client"], false);
    let redis = PrivateRedis::start_tls(&cert, &key, &pki.ca());
    Setup { redis, pki, client }
}

impl Setup {
    fn spec(&self, host: &str, mode: TlsMode, ca: Option<PathBuf>) -> ConnectionSpec {
        ConnectionSpec {
            host: Some(host.into()),
            port: self.redis.tls_port,
            tls_mode: Some(mode),
            ca,
            client_cert: Some(self.client.0.clone()),
            client_key: Some(self.client.1.clone()),
            dbname: None,
        }
    }

    async fn verify(&self, spec: ConnectionSpec) -> rotation_core::Result<()> {
        let (_, doc) = create_user(&self.redis, "tls-pw-1", &["+@all"]);
        RedisVerifier::builder("redis-tls")
            .connection(spec)
            .build()
            .expect("build")
            .verify(&ctx(&doc, &[]), &SecretValue::from("tls-pw-1"))
            .await
    }
}

#[tokio::test]
async fn each_mode_checks_what_it_says() {
    let s = setup();
    let ca = Some(s.pki.ca());
    s.verify(s.spec("localhost", TlsMode::VerifyFull, ca.clone()))
        .await
        .expect("verify-full: the name and the chain match");
    let err = s
        .verify(s.spec("127.0.0.1", TlsMode::VerifyFull, ca.clone()))
        .await
        .expect_err("verify-full: 127.0.0.1 is not in the certificate");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    assert!(err.to_string().contains("verify-full"), "{err}");
    s.verify(s.spec("127.0.0.1", TlsMode::VerifyCa, ca.clone()))
        .await
        .expect("verify-ca: the chain is enough");
    let other = Pki::new("another CA");
    let err = s
        .verify(s.spec("127.0.0.1", TlsMode::VerifyCa, Some(other.ca())))
        .await
        .expect_err("verify-ca: an unknown issuer");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    s.verify(s.spec("127.0.0.1", TlsMode::Require, None))
        .await
        .expect("require: any certificate");
}

#[tokio::test]
async fn the_server_wants_the_client_certificate() {
    let s = setup();
    let spec = ConnectionSpec {
        client_cert: None,
        client_key: None,
        ..s.spec("localhost", TlsMode::VerifyFull, Some(s.pki.ca()))
    };
    let err = s.verify(spec).await.expect_err("no client certificate");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
}

#[tokio::test]
async fn the_target_works_over_tls() {
    let s = setup();
    let (user, doc) = create_user(&s.redis, "old-tls-1", &["+@all"]);
    let target = RedisTarget::builder("redis-tls")
        .connection(s.spec("localhost", TlsMode::VerifyFull, Some(s.pki.ca())))
        .admin(Some(common::admin(&s.redis, &s.redis.admin_password)))
        .build()
        .expect("build");
    target
        .apply(
            &ctx(&doc, &["new-tls-1", "old-tls-1"]),
            &SecretValue::from("new-tls-1"),
        )
        .await
        .expect("apply over TLS");
    assert!(s.redis.logs_in(&user, "new-tls-1"));
    assert!(!s.redis.logs_in(&user, "old-tls-1"));
}
