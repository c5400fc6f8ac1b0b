//! The HTTP verifier against a small axum server of the test that accepts one bearer token,
//! one basic-auth login and one API key header, answers 401 with what it got otherwise (as
//! careless servers do: the error must redact it), and redirects `/redirect`; and over TLS
//! with a throwaway CA.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use reqwest::{Method, Url};
use rotation_core::{ErrorKind, RotationId, SecretId, SecretValue, Verifier, VerifyContext};
use rotation_http::{HttpVerifier, Placement};

const TOKEN: &str = "good-token-8412";
const PASSWORD: &str = "good-pass-5521";
const KEY: &str = "good-key-3390";

fn check(headers: &HeaderMap, name: &str, want: &str) -> (StatusCode, String) {
    match headers.get(name) {
        Some(v) if v == want => (StatusCode::OK, "welcome".to_owned()),
        got => (
            StatusCode::UNAUTHORIZED,
            format!("bad credential, you sent {got:?}; try again"),
        ),
    }
}

fn app() -> Router {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("app:{PASSWORD}"))
    );
    Router::new()
        .route(
            "/bearer",
            get(|h: HeaderMap| async move { check(&h, "authorization", &format!("Bearer {TOKEN}")) }),
        )
        .route(
            "/basic",
            get(move |h: HeaderMap| {
                let basic = basic.clone();
                async move { check(&h, "authorization", &basic) }
            }),
        )
        .route(
            "/key",
            post(|h: HeaderMap| async move { check(&h, "x-api-key", KEY) }),
        )
        .route(
            "/json",
            get(|h: HeaderMap| async move {
                let got = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                (
                    StatusCode::FORBIDDEN,
                    serde_json::json!({"error": "denied", "got": got}).to_string(),
                )
            }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [("location", "/bearer")], "moved") }),
        )
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app()).await });
    addr
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).expect("URL")
}

fn ctx(related: &[&str]) -> VerifyContext {
    VerifyContext::new(SecretId::new("api"), Some(RotationId::generate()))
        .with_related_values(related.iter().map(|v| SecretValue::from(*v)))
}

#[tokio::test]
async fn a_bearer_token_passes_and_a_wrong_one_is_refused_without_echo() {
    let addr = serve().await;
    let v = HttpVerifier::builder("api-check")
        .url(url(addr, "/bearer?tenant=secret-query"))
        .build()
        .expect("build");
    v.verify(&ctx(&[TOKEN]), &SecretValue::from(TOKEN))
        .await
        .expect("the right token");
    let err = v
        .verify(
            &ctx(&[TOKEN, "wrong-token-77"]),
            &SecretValue::from("wrong-token-77"),
        )
        .await
        .expect_err("a wrong token");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let text = err.to_string();
    assert!(text.contains("verifier api-check"), "{text}");
    assert!(
        text.contains(&format!("GET http://{addr}/bearer ")),
        "{text}"
    );
    assert!(!text.contains("secret-query"), "no query in errors: {text}");
    assert!(text.contains("401"), "{text}");
    assert!(
        text.contains("bad credential, you sent"),
        "the body: {text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        !text.contains("wrong-token-77") && !text.contains(TOKEN),
        "{text}"
    );
}

#[tokio::test]
async fn basic_auth_takes_the_user_from_the_config_or_the_document() {
    let addr = serve().await;
    let from_config = HttpVerifier::builder("basic")
        .url(url(addr, "/basic"))
        .credential(Placement::Basic {
            username: Some("app".into()),
        })
        .build()
        .expect("build");
    from_config
        .verify(&ctx(&[]), &SecretValue::from(PASSWORD))
        .await
        .expect("app:password");
    let from_doc = HttpVerifier::builder("basic")
        .url(url(addr, "/basic"))
        .credential(Placement::Basic { username: None })
        .build()
        .expect("build");
    let doc = SecretValue::from_string(
        serde_json::json!({"username": "app", "password": PASSWORD}).to_string(),
    );
    from_doc
        .verify(
            &ctx(&[]).with_document(Some(doc)),
            &SecretValue::from(PASSWORD),
        )
        .await
        .expect("the document's user");
    let err = from_config
        .verify(&ctx(&[]), &SecretValue::from("not-the-pass-1"))
        .await
        .expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::Verification, "{err}");
    let sent = base64::engine::general_purpose::STANDARD.encode("app:not-the-pass-1");
    assert!(
        !err.to_string().contains(&sent),
        "the encoded login is redacted: {err}"
    );
    let err = from_doc
        .verify(&ctx(&[]), &SecretValue::from(PASSWORD))
        .await
        .expect_err("no user name anywhere");
    assert!(err.to_string().contains("username"), "{err}");
}

#[tokio::test]
async fn a_header_of_its_own_with_another_method() {
    let addr = serve().await;
    let v = HttpVerifier::builder("key")
        .url(url(addr, "/key"))
        .method(Method::POST)
        .credential(Placement::Header("X-Api-Key".into()))
        .build()
        .expect("build");
    v.verify(&ctx(&[]), &SecretValue::from(KEY))
        .await
        .expect("the key");
    let err = v
        .verify(&ctx(&[KEY]), &SecretValue::from("old-key-1"))
        .await
        .expect_err("another key");
    assert!(err.to_string().contains("POST "), "{err}");
    assert!(!err.to_string().contains("old-key-1"), "{err}");
    let err = v
        .verify(&ctx(&[]), &SecretValue::from("line\nbreak"))
        .await
        .expect_err("not a header value");
    assert_eq!(err.kind(), ErrorKind::Verification);
    assert!(!err.to_string().contains("break"), "{err}");
}

#[tokio::test]
async fn redirects_are_not_followed_and_statuses_are_configurable() {
    let addr = serve().await;
    let v = HttpVerifier::builder("redir")
        .url(url(addr, "/redirect"))
        .build()
        .expect("build");
    let err = v
        .verify(&ctx(&[]), &SecretValue::from(TOKEN))
        .await
        .expect_err("302 is not 200, and /bearer is not reached");
    assert!(err.to_string().contains("answered 302"), "{err}");
    let v = HttpVerifier::builder("redir")
        .url(url(addr, "/redirect"))
        .expect_status(vec![301, 302])
        .build()
        .expect("build");
    v.verify(&ctx(&[]), &SecretValue::from(TOKEN))
        .await
        .expect("302 expected");
}

#[tokio::test]
async fn no_answer_is_temporary() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let err = HttpVerifier::builder("down")
        .url(url(addr, "/bearer?q=hidden"))
        .build()
        .expect("build")
        .verify(&ctx(&[]), &SecretValue::from(TOKEN))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
    let text = err.to_string();
    assert!(text.contains("verifier down"), "{text}");
    assert!(
        text.to_lowercase().contains("connection refused"),
        "the cause: {text}"
    );
    assert!(!text.contains("hidden"), "{text}");
}

#[test]
fn bad_settings_name_the_field() {
    let base = || HttpVerifier::builder("v").url(Url::parse("http://127.0.0.1/").expect("URL"));
    let field = |b: rotation_http::HttpVerifierBuilder| {
        b.build().expect_err("invalid").field().map(str::to_owned)
    };
    assert_eq!(field(HttpVerifier::builder("v")).as_deref(), Some("url"));
    assert_eq!(
        field(HttpVerifier::builder("v").url(Url::parse("ftp://h/").expect("URL"))).as_deref(),
        Some("url")
    );
    assert_eq!(
        field(base().expect_status(vec![])).as_deref(),
        Some("expect_status")
    );
    assert_eq!(
        field(base().expect_status(vec![42])).as_deref(),
        Some("expect_status")
    );
    assert_eq!(
        field(base().credential(Placement::Header("bad header".into()))).as_deref(),
        Some("credential")
    );
    assert_eq!(
        field(base().ca(Some("/nonexistent/ca.pem".into()))).as_deref(),
        Some("ca")
    );
}

mod tls {
    //! HTTPS with a throwaway CA: trusted with `ca`, not without.

    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// The CA's PEM, and a server on 127.0.0.1 with a leaf it signed.
    async fn serve_tls() -> (String, SocketAddr) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "rotation-http test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("key");
        let ca_cert = ca.self_signed(&ca_key).expect("self-signed");
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let cert = leaf.signed_by(&key, &issuer).expect("sign");
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            cert.pem().into_bytes(),
            key.serialize_pem().into_bytes(),
        )
        .await
        .expect("TLS config");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = axum_server::from_tcp_rustls(listener, config);
        tokio::spawn(async move { server.serve(app().into_make_service()).await });
        (ca_cert.pem(), addr)
    }

    #[tokio::test]
    async fn the_configured_ca_is_trusted() {
        let (ca_pem, addr) = serve_tls().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_pem).expect("write");
        let https = Url::parse(&format!("https://{addr}/bearer")).expect("URL");
        HttpVerifier::builder("tls")
            .url(https.clone())
            .ca(Some(ca))
            .build()
            .expect("build")
            .verify(&ctx(&[]), &SecretValue::from(TOKEN))
            .await
            .expect("trusted through ca");
        let err = HttpVerifier::builder("tls")
            .url(https)
            .build()
            .expect("build")
            .verify(&ctx(&[]), &SecretValue::from(TOKEN))
            .await
            .expect_err("an unknown CA");
        assert_eq!(err.kind(), ErrorKind::Temporary, "{err}");
        assert!(err.to_string().contains("set ca"), "the hint: {err}");
    }
}

#[tokio::test]
async fn a_json_echo_of_the_value_is_redacted_too() {
    let addr = serve().await;
    let candidate = r#"quo"te\back-9911"#;
    let err = HttpVerifier::builder("json")
        .url(url(addr, "/json"))
        .build()
        .expect("build")
        .verify(&ctx(&[]), &SecretValue::from(candidate))
        .await
        .expect_err("403");
    let text = err.to_string();
    assert!(text.contains("answered 403"), "{text}");
    assert!(text.contains("denied"), "{text}");
    assert!(
        !text.contains("back-9911"),
        "the escaped echo is redacted: {text}"
    );
}
