//! What an operator meets against a real OpenBao: errors that name the method, the URL, the
//! cause and the next step (a closed port, a certificate the store does not trust, refused
//! tokens, a sealed server), the Vault CLI's environment (`BAO_*` over `VAULT_*`, CA file and
//! directory), and the JWT and Kubernetes logins (OpenBao's own auth methods; a key made here
//! for JWT, the testkit's TokenReview endpoint for Kubernetes).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rotation_conformance::support::{ScriptedVerifier, binding};
use rotation_core::{
    Engine, ErrorKind, RotateRequest, RotationId, RotationStrategy, SecretPath, SecretStore,
    SecretValue,
};
use rotation_testkit::{Bao, RaftBao, TlsBao, TokenReview, UNUSED_CA_PEM, unique};
use rotation_vault::{Auth, VaultStore, VaultStoreBuilder};
use serde_json::{Value, json};

fn store_on(addr: &str, token: &str, mount: &str) -> VaultStore {
    VaultStore::builder()
        .address(addr)
        .auth(Auth::Token(SecretValue::from(token)))
        .mount(mount)
        .build()
        .expect("store")
}

fn doc(v: Value) -> SecretValue {
    SecretValue::new(serde_json::to_vec(&v).expect("json"))
}

/// A port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Rotates `path`'s `password` field through the engine; panics unless it succeeds.
async fn rotate(store: Arc<VaultStore>, path: &str) {
    let mut b = binding(
        store,
        SecretPath::new(path),
        RotationStrategy::Staged,
        true,
        ScriptedVerifier::passing(),
    );
    b.field = Some("password".into());
    let r = Engine::builder()
        .build()
        .rotate(&b, RotateRequest::default())
        .await;
    assert!(r.success, "{r:?}");
}

/// A KV v2 mount with `app/db` = {"password": "old"}, and a policy name allowing all of it.
fn kv_with_policy(bao: &Bao) -> (String, String) {
    let mount = unique("kv");
    bao.enable_kv2(&mount);
    bao.cli_ok(&[
        "kv",
        "put",
        &format!("-mount={mount}"),
        "app/db",
        "password=old",
    ]);
    let policy = unique("rw");
    let hcl = format!(
        "path \"{mount}/*\" {{ capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\", \"list\"] }}\npath \"sys/internal/ui/mounts/*\" {{ capabilities = [\"read\"] }}"
    );
    let args = ["policy", "write", &policy, "-"];
    let out = bao.cli_stdin(&args, &hcl);
    assert!(out.status.success(), "{out:?}");
    (mount, policy)
}

#[tokio::test]
async fn a_closed_port_names_the_method_the_url_connection_refused_and_the_address() {
    let addr = format!("http://127.0.0.1:{}", closed_port());
    let store = store_on(&addr, "s.never-shown-token", "secret");
    let err = store
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(
        err.kind(),
        ErrorKind::Temporary,
        "a refused connection is retried: {msg}"
    );
    assert!(
        msg.to_lowercase().contains("connection refused"),
        "the OS cause: {msg}"
    );
    assert!(
        msg.contains(&format!("GET {addr}/v1/sys/internal/ui/mounts/secret")),
        "method and URL: {msg}"
    );
    assert!(
        msg.starts_with("vault: read current value secret/app/db: "),
        "store operation and secret: {msg}"
    );
    assert!(
        msg.contains("check `address` (or BAO_ADDR / VAULT_ADDR)"),
        "next step: {msg}"
    );
    assert!(!msg.contains("never-shown"), "no token: {msg}");
    assert!(!msg.contains("  "), "one space between words: {msg}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_with_the_ca_cert_hint_and_the_ca_makes_it_work() {
    let tls = TlsBao::start();
    let out = tls.cli(&["secrets", "enable", "-path=kv", "kv-v2"]);
    assert!(out.status.success(), "{out:?}");
    let err = store_on(&tls.addr, "root", "kv")
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("invalid peer certificate") && msg.contains("UnknownIssuer"),
        "the certificate problem: {msg}"
    );
    assert!(
        msg.contains("set `ca_cert`") && msg.contains("VAULT_CACERT"),
        "the hint: {msg}"
    );
    assert!(msg.contains(&tls.addr), "{msg}");

    // The CA as a file, as a directory, and from the environment (BAO_* over VAULT_*).
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(&tls.ca_file, dir.path().join("ca.pem")).expect("copy");
    std::fs::write(dir.path().join("README"), "not a certificate").expect("write");
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let ca_file = tls.ca_file.display().to_string();
    let ca_dir = dir.path().display().to_string();
    let env = |vars: &[(&str, &str)]| {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        VaultStoreBuilder::from_lookup(move |name| vars.get(name).cloned())
    };
    let builders = [
        (
            "ca_cert",
            VaultStore::builder()
                .address(&tls.addr)
                .ca_cert(&tls.ca_file),
        ),
        (
            "ca_path",
            VaultStore::builder().address(&tls.addr).ca_path(dir.path()),
        ),
        (
            "BAO_* over VAULT_*",
            env(&[
                ("BAO_ADDR", &tls.addr),
                ("VAULT_ADDR", &closed),
                ("BAO_CACERT", &ca_file),
            ]),
        ),
        (
            "VAULT_CAPATH",
            env(&[("VAULT_ADDR", &tls.addr), ("VAULT_CAPATH", &ca_dir)]),
        ),
        (
            "VAULT_SKIP_VERIFY",
            env(&[("VAULT_ADDR", &tls.addr), ("VAULT_SKIP_VERIFY", "true")]),
        ),
        (
            "explicit fields over the environment",
            env(&[
                ("VAULT_ADDR", &closed),
                ("VAULT_CACERT", "/nonexistent.pem"),
            ])
            .address(&tls.addr)
            .ca_path(dir.path()),
        ),
    ];
    for (what, builder) in builders {
        let store = builder
            .auth(Auth::Token(SecretValue::from("root")))
            .mount("kv")
            .build()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        store
            .write_current(
                &SecretPath::new("app/db"),
                &RotationId::generate(),
                &doc(json!({"password": "x"})),
                None,
            )
            .await
            .map(|_| ())
            .or_else(|e| {
                // The later cases find the secret the first one created.
                if e.kind() == ErrorKind::Conflict {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        store
            .read_current(&SecretPath::new("app/db"))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

#[test]
fn bad_tls_settings_from_the_environment_name_the_variable_or_field() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        VaultStoreBuilder::from_lookup(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .auth(Auth::Token(SecretValue::from("t")))
    };
    let e = env(&[("VAULT_ADDR", "https://x:1"), ("BAO_SKIP_VERIFY", "maybe")])
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("BAO_SKIP_VERIFY"), "{e}");
    let e = env(&[
        ("VAULT_ADDR", "https://x:1"),
        ("VAULT_CLIENT_CERT", "/c.pem"),
    ])
    .build()
    .unwrap_err();
    assert_eq!(e.field(), Some("client_key"), "{e}");
    let e = env(&[
        ("VAULT_ADDR", "https://x:1"),
        ("VAULT_CAPATH", "/nonexistent-dir"),
    ])
    .build()
    .unwrap_err();
    assert_eq!(e.field(), Some("ca_path"), "{e}");
    // Explicit settings win: a bad variable does not matter once the field is set.
    env(&[
        ("VAULT_ADDR", "https://x:1"),
        ("VAULT_SKIP_VERIFY", "maybe"),
    ])
    .skip_verify(false)
    .build()
    .expect("explicit skip_verify wins");
}

#[test]
fn the_token_comes_from_bao_token_then_vault_token_then_the_home_token_file() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join(".vault-token");
    std::fs::write(&file, "s.from-file").expect("write");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let home_s = home.path().display().to_string();
    let auth_of = |vars: Vec<(&'static str, String)>| {
        let b = VaultStoreBuilder::from_lookup(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        });
        format!("{b:?}")
    };
    let with_file = auth_of(vec![("HOME", home_s.clone())]);
    assert!(
        with_file.contains("TokenFile") && with_file.contains(".vault-token"),
        "{with_file}"
    );
    let with_var = auth_of(vec![
        ("HOME", home_s.clone()),
        ("VAULT_TOKEN", "s.v".into()),
    ]);
    assert!(with_var.contains("Token([REDACTED])"), "{with_var}");
    let none = auth_of(vec![("HOME", "/nonexistent-home".into())]);
    assert!(none.contains("auth: None"), "{none}");
    // BAO_TOKEN wins over VAULT_TOKEN: shown by which one a server accepts, below; here that
    // neither is printed.
    let both = auth_of(vec![
        ("BAO_TOKEN", "s.b".into()),
        ("VAULT_TOKEN", "s.v".into()),
    ]);
    assert!(!both.contains("s.b") && !both.contains("s.v"), "{both}");
}

#[tokio::test]
async fn bao_token_wins_over_vault_token_against_the_server() {
    let bao = Bao::from_env();
    let (mount, _) = kv_with_policy(&bao);
    let (addr, token) = (bao.addr.clone(), bao.token.clone());
    let store = VaultStoreBuilder::from_lookup(move |name| match name {
        "VAULT_ADDR" => Some(addr.clone()),
        "BAO_TOKEN" => Some(token.clone()),
        "VAULT_TOKEN" => Some("s.wrong".to_owned()),
        _ => None,
    })
    .mount(&mount)
    .build()
    .expect("store");
    store
        .read_current(&SecretPath::new("app/db"))
        .await
        .expect("BAO_TOKEN is used");
}

#[tokio::test]
async fn refused_tokens_name_the_status_and_the_next_step() {
    let bao = Bao::from_env();
    let (mount, _) = kv_with_policy(&bao);
    let err = store_on(&bao.addr, "s.not-a-valid-token", &mount)
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{msg}");
    assert!(
        msg.contains("403") && msg.contains("invalid or expired"),
        "{msg}"
    );
    assert!(
        msg.contains("`bao login`") && msg.contains("`jwt`"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}/v1/", bao.addr)), "{msg}");
    assert!(!msg.contains("not-a-valid-token"), "{msg}");

    let ro = format!("path \"{mount}/*\" {{ capabilities = [\"read\", \"list\"] }}");
    let token = bao.create_token(&unique("ro"), &ro);
    let store = store_on(&bao.addr, &token, &mount);
    let err = store
        .write_current(
            &SecretPath::new("app/new"),
            &RotationId::generate(),
            &doc(json!({"password": "x"})),
            None,
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{msg}");
    assert!(
        msg.contains(&format!(
            "POST {}/v1/{mount}/data/app/new answered 403",
            bao.addr
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "must grant the `create/update` capability on {mount}/data/app/new"
        )),
        "{msg}"
    );
    assert!(!msg.contains(&token), "{msg}");
    assert!(!msg.contains("  "), "one space between words: {msg}");
}

#[tokio::test]
async fn a_sealed_server_is_temporary_and_says_unseal() {
    let raft = RaftBao::start();
    let store = store_on(&raft.addr, &raft.root_token, "secret");
    raft.bao().cli_ok(&["operator", "seal"]);
    let err = store
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Temporary, "{msg}");
    assert!(
        msg.contains("503") && msg.contains("sealed") && msg.contains("operator unseal"),
        "{msg}"
    );
}

/// An ES256 key pair: the signer and the public key as SPKI PEM (for `jwt_validation_pubkeys`).
fn es256_key() -> (EcdsaKeyPair, String) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("parse key");
    // SubjectPublicKeyInfo of a P-256 key: fixed header (ecPublicKey, prime256v1) + the point.
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(key.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(spki)
    );
    (key, pem)
}

/// A signed ES256 JWT for `sub` with audience `aud`, valid from now for `valid_secs` (negative:
/// already expired).
fn jwt(key: &EcdsaKeyPair, sub: &str, aud: &str, valid_secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let header = json!({"alg": "ES256", "typ": "JWT"});
    let claims = json!({
        "sub": sub,
        "aud": aud,
        "iss": "rotation-tests",
        "iat": now - 600,
        "nbf": now - 600,
        "exp": now + valid_secs,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .expect("sign");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

#[tokio::test]
async fn jwt_login_rotates_relogs_in_from_the_file_and_an_expired_jwt_gets_the_login_hint() {
    let bao = Bao::from_env();
    let (mount, policy) = kv_with_policy(&bao);
    let auth_mount = unique("jwt");
    bao.cli_ok(&["auth", "enable", &format!("-path={auth_mount}"), "jwt"]);
    let (key, pem) = es256_key();
    let dir = tempfile::tempdir().expect("dir");
    let pem_file = dir.path().join("pub.pem");
    write_file(&pem_file, &pem);
    bao.cli_ok(&[
        "write",
        &format!("auth/{auth_mount}/config"),
        &format!("jwt_validation_pubkeys=@{}", pem_file.display()),
    ]);
    bao.cli_ok(&[
        "write",
        &format!("auth/{auth_mount}/role/rotator"),
        "role_type=jwt",
        "bound_audiences=rotation",
        "user_claim=sub",
        &format!("token_policies={policy}"),
    ]);
    let jwt_file = dir.path().join("jwt");
    write_file(&jwt_file, &jwt(&key, "rotator", "rotation", 300));
    let store = Arc::new(
        VaultStore::builder()
            .address(&bao.addr)
            .mount(&mount)
            .auth(Auth::Jwt {
                mount: auth_mount.clone(),
                role: "rotator".into(),
                jwt_file: jwt_file.clone(),
            })
            .build()
            .expect("store"),
    );
    rotate(store.clone(), "app/db").await;

    // The login token is revoked; the JWT file now holds an expired token. The next request
    // is refused, the one after logs in again from the file, which fails with the hint.
    bao.cli_ok(&[
        "token",
        "revoke",
        "-mode=path",
        &format!("auth/{auth_mount}/"),
    ]);
    let expired = jwt(&key, "rotator", "rotation", -60);
    write_file(&jwt_file, &expired);
    let path = SecretPath::new("app/db");
    let err = store.read_current(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    let err = store.read_current(&path).await.unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{msg}");
    assert!(
        msg.contains(&format!(
            "JWT login refused: POST {}/v1/auth/{auth_mount}/login",
            bao.addr
        )),
        "{msg}"
    );
    assert!(msg.contains("check `jwt.role`"), "{msg}");
    assert!(!msg.contains(&expired), "{msg}");

    // A fresh JWT in the same file: the store logs in again by itself.
    write_file(&jwt_file, &jwt(&key, "rotator", "rotation", 300));
    store.read_current(&path).await.expect("logged in again");

    // A JWT for another audience is refused the same way.
    write_file(&jwt_file, &jwt(&key, "rotator", "someone-else", 300));
    let other = VaultStore::builder()
        .address(&bao.addr)
        .mount(&mount)
        .auth(Auth::Jwt {
            mount: auth_mount,
            role: "rotator".into(),
            jwt_file,
        })
        .build()
        .expect("store");
    let err = other.read_current(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
}

#[tokio::test]
async fn kubernetes_login_against_a_token_review_endpoint_rotates_and_a_refused_token_is_clear() {
    let bao = Bao::from_env();
    let (mount, policy) = kv_with_policy(&bao);
    let review = TokenReview::start("apps", "rotator");
    let auth_mount = unique("k8s");
    bao.cli_ok(&[
        "auth",
        "enable",
        &format!("-path={auth_mount}"),
        "kubernetes",
    ]);
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    write_file(&ca, UNUSED_CA_PEM);
    bao.cli_ok(&[
        "write",
        &format!("auth/{auth_mount}/config"),
        &format!("kubernetes_host={}", review.url),
        "token_reviewer_jwt=reviewer",
        "disable_local_ca_jwt=true",
        &format!("kubernetes_ca_cert=@{}", ca.display()),
    ]);
    bao.cli_ok(&[
        "write",
        &format!("auth/{auth_mount}/role/rotator"),
        "bound_service_account_names=rotator",
        "bound_service_account_namespaces=apps",
        &format!("token_policies={policy}"),
    ]);
    let token_file = dir.path().join("token");
    let with = |token: &str| {
        write_file(&token_file, token);
        Arc::new(
            VaultStore::builder()
                .address(&bao.addr)
                .mount(&mount)
                .auth(Auth::Kubernetes {
                    mount: auth_mount.clone(),
                    role: "rotator".into(),
                    token_file: token_file.clone(),
                })
                .build()
                .expect("store"),
        )
    };
    rotate(with(review.token()), "app/db").await;
    assert!(review.reviews() >= 1, "OpenBao asked the endpoint");

    let refused = review.refused_token();
    let err = with(&refused)
        .read_current(&SecretPath::new("app/db"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{msg}");
    assert!(
        msg.contains(&format!(
            "Kubernetes login refused: POST {}/v1/auth/{auth_mount}/login",
            bao.addr
        )),
        "{msg}"
    );
    assert!(msg.contains("check `kubernetes.role`"), "{msg}");
    assert!(
        !msg.contains(&refused) && !msg.contains(review.token()),
        "{msg}"
    );
}
