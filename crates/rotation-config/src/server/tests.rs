//! Tests of the `[server]` section: defaults, field-naming errors, private token files.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::spec::{TokenSpec, WebhookSpec};

fn spec() -> ServerSpec {
    ServerSpec::default()
}

fn token(role: &str, sha256: Option<&str>, file: Option<&str>) -> TokenSpec {
    TokenSpec {
        name: "t".into(),
        role: role.into(),
        sha256: sha256.map(str::to_owned),
        file: file.map(PathBuf::from),
    }
}

fn err(s: ServerSpec, base: &Path) -> String {
    resolve(Some(&s), base).unwrap_err().to_string()
}

#[test]
fn defaults_without_a_section() {
    let c = resolve(None, Path::new(".")).expect("defaults");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!((c.concurrency, c.body_limit), (4, 65536));
    assert!(c.tokens.is_empty() && c.tls.is_none());
}

#[test]
fn bad_values_name_their_field() {
    let base = Path::new(".");
    let mut s = spec();
    s.tokens.push(token("admin", Some(&"0".repeat(64)), None));
    assert!(err(s, base).starts_with("server.tokens[0].role:"));
    let mut s = spec();
    s.tokens.push(token("reader", Some("abc"), None));
    assert!(err(s, base).starts_with("server.tokens[0].sha256: must be 64 hex"));
    let mut s = spec();
    s.tokens.push(token("reader", None, None));
    assert!(err(s, base).contains("exactly one of sha256 and file"));
    let mut s = spec();
    s.tick = Some("0s".into());
    assert!(err(s, base).starts_with("server.tick:"));
    let mut s = spec();
    s.listen = Some("everywhere".into());
    assert!(err(s, base).starts_with("server.listen:"));
    let mut s = spec();
    s.tls_cert = Some("c.pem".into());
    assert!(err(s, base).starts_with("server.tls_cert:"));
    let mut s = spec();
    s.webhooks.push(WebhookSpec {
        url: "ftp://x".into(),
        format: None,
        events: vec![],
        timeout: None,
        max_attempts: None,
    });
    assert!(err(s, base).starts_with("server.webhooks[0].url:"));
}

#[test]
fn token_files_must_be_private_and_only_their_hash_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tok");
    std::fs::write(&file, "a-long-enough-token-value\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut s = spec();
    s.tokens.push(token("operator", None, Some("tok")));
    assert!(err(s, dir.path()).contains("readable by group or others"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut s = spec();
    s.tokens.push(token("operator", None, Some("tok")));
    let c = resolve(Some(&s), dir.path()).expect("private file");
    let want: [u8; 32] = Sha256::digest(b"a-long-enough-token-value").into();
    assert_eq!(
        (c.tokens[0].sha256, c.tokens[0].role),
        (want, Role::Operator)
    );
    assert!(
        !format!("{:?}", c.tokens[0]).contains("sha256"),
        "Debug shows no hash"
    );
}

#[test]
fn plain_http_only_on_loopback_unless_allowed() {
    let base = Path::new(".");
    let plain = resolve(None, base).expect("defaults");
    for loopback in [
        "127.0.0.1:8080",
        "127.1.2.3:80",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:1",
    ] {
        let addr = loopback.parse().expect("addr");
        assert_eq!(plain.check_listen(&addr), Ok(false), "{loopback}");
    }
    for public in ["0.0.0.0:8080", "[::]:8080", "10.0.0.5:443"] {
        let addr = public.parse().expect("addr");
        let e = plain.check_listen(&addr).expect_err(public);
        assert_eq!(e.field, "server.listen");
        assert!(
            e.message.contains("server.allow_insecure_listen = true")
                && e.message.contains("server.tls_cert"),
            "{e}"
        );
    }
    let mut s = spec();
    s.allow_insecure_listen = Some(true);
    let allowed = resolve(Some(&s), base).expect("allowed");
    assert_eq!(
        allowed.check_listen(&"0.0.0.0:8080".parse().expect("addr")),
        Ok(true),
        "allowed, and the caller warns"
    );
}

#[test]
fn localhost_listens_on_the_ipv4_loopback() {
    assert_eq!(
        parse_listen("localhost:9000").map(|a| a.to_string()),
        Ok("127.0.0.1:9000".to_owned())
    );
    assert!(parse_listen("localhost:http").is_err());
    assert!(parse_listen("example.com:80").is_err());
    let mut s = spec();
    s.listen = Some("localhost:8081".into());
    let c = resolve(Some(&s), Path::new(".")).expect("localhost");
    assert_eq!(c.check_listen(&c.listen), Ok(false));
}
