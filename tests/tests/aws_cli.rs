//! The `rotation` binary against AWS Secrets Manager (moto) when credentials are refused,
//! missing or come from a profile: refused keys and a missing permission (a private moto with
//! IAM enforcement on, never the shared one), an SSO profile without a login, a
//! `credential_process` profile, no credentials at all; `rotate --dry-run` marks a failed check
//! as failed and exits non-zero; `config check` contacts no store. Each child gets its own
//! `HOME`, profile files and no inherited `AWS_*` variable.

use std::path::Path;
use std::process::{Command, Output};

use rotation_e2e::{Sandbox, describe, run_command};
use rotation_testkit::PrivateMoto;

const SECRET: &str = "prod/app/db";
const VALUE: &str = "the-current-value-7f3a";

fn config(endpoint: &str) -> String {
    format!(
        r#"
[stores.sm]
kind = "aws"
endpoint_url = "{endpoint}"
region = "us-east-1"
max_attempts = 1
timeout = "10s"

[verifiers.check]
kind = "command"
command = ["true"]

[policies.default]
interval = "30d"
verifiers = ["check"]

[[secrets]]
id = "db"
store = "sm"
path = "{SECRET}"
policy = "default"
"#
    )
}

/// `rotation <args>` with a clean AWS environment: empty profile files in the sandbox, no
/// instance metadata lookups, then `env`.
fn command(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = sandbox.command(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    let dir = sandbox.path();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    for file in ["aws-config", "aws-credentials"] {
        if !dir.join(file).exists() {
            std::fs::write(dir.join(file), "").expect("profile file");
        }
    }
    cmd.env("HOME", &home)
        .env("AWS_CONFIG_FILE", dir.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn dry_run(sandbox: &Sandbox, env: &[(&str, &str)]) -> (Output, String) {
    let out = run_command(command(sandbox, &["rotate", "--dry-run", "db"], env), None);
    let text = describe(&out);
    assert!(!text.contains(VALUE), "the value leaked: {text}");
    (out, text)
}

fn keys<'a>(id: &'a str, secret: &'a str) -> [(&'static str, &'a str); 2] {
    [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)]
}

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
const ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}"#;

#[test]
fn refused_credentials_and_missing_permissions_say_what_to_do() {
    let moto = PrivateMoto::start();
    moto.create_secret(SECRET, VALUE);
    let nothing = moto.user("nothing-allowed", None);
    let reader = moto.user("reader", Some(READ_ONLY));
    moto.enforce_auth();
    let sandbox = Sandbox::new(&config(&moto.endpoint));

    // Keys this account does not know.
    let (out, text) = dry_run(&sandbox, &keys("AKIAUNKNOWNKEY000000", "wrong"));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[!!] read current"), "{text}");
    assert!(
        text.contains("aws store \"sm\": GetSecretValue on prod/app/db"),
        "{text}"
    );
    assert!(text.contains("InvalidClientTokenId"), "{text}");
    assert!(text.contains("the security token is invalid"), "{text}");
    assert!(text.contains("aws configure"), "{text}");
    assert!(
        !text.contains("Unknown"),
        "the XML error body is read: {text}"
    );

    // A user without any secretsmanager permission.
    let (out, text) = dry_run(&sandbox, &keys(&nothing.id, &nothing.secret));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("access denied (AccessDenied"), "{text}");
    assert!(
        text.contains("grant the caller the IAM permission secretsmanager:GetSecretValue on the secret prod/app/db"),
        "{text}"
    );
    assert!(
        !text.contains(&nothing.secret),
        "the secret key leaked: {text}"
    );

    // May read but not describe: the advisory check fails, and says so.
    let (out, text) = dry_run(&sandbox, &keys(&reader.id, &reader.secret));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[ok] read current"), "{text}");
    assert!(text.contains("[!!] advisory: could not check"), "{text}");
    assert!(text.contains("secretsmanager:DescribeSecret"), "{text}");
}

#[test]
fn a_credential_process_profile_is_used() {
    let moto = PrivateMoto::start();
    moto.create_secret(SECRET, VALUE);
    let user = moto.user("from-process", Some(ALL));
    moto.enforce_auth();
    let sandbox = Sandbox::new(&config(&moto.endpoint));
    let script = sandbox.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}'\n",
            user.id, user.secret
        ),
    )
    .expect("script");
    make_executable(&script);
    std::fs::write(
        sandbox.path().join("aws-config"),
        format!(
            "[profile proc]\ncredential_process = {}\nregion = us-east-1\n",
            script.display()
        ),
    )
    .expect("profile");
    let (out, text) = dry_run(&sandbox, &[("AWS_PROFILE", "proc")]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("[ok] read current"), "{text}");
}

#[test]
fn an_sso_profile_without_a_login_names_aws_sso_login() {
    // No request reaches the endpoint: the SSO token cache is empty.
    let sandbox = Sandbox::new(&config("http://127.0.0.1:9"));
    std::fs::write(
        sandbox.path().join("aws-config"),
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
         sso_role_name = Admin\nregion = us-east-1\n\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
         sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n",
    )
    .expect("profile");
    let (out, text) = dry_run(&sandbox, &[("AWS_PROFILE", "dev")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[!!] read current"), "{text}");
    assert!(
        text.contains("the SSO session of profile dev is missing or expired"),
        "{text}"
    );
    assert!(text.contains("`aws sso login --profile dev`"), "{text}");
    // The whole chain, down to the token cache file that is missing.
    assert!(text.contains(".aws/sso/cache/"), "{text}");
    assert!(!text.contains("cargo feature"), "{text}");

    // A cached token that expired and cannot be refreshed (no refresh token): the same advice.
    let cache = sandbox.path().join("home/.aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    std::fs::write(
        // The cache file of session `corp` is named by the SHA-1 of the session name.
        cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        r#"{"accessToken": "sso-access-token-9b2e", "expiresAt": "2020-01-01T00:00:00Z",
            "region": "us-east-1", "startUrl": "https://corp.awsapps.com/start"}"#,
    )
    .expect("cached token");
    let (out, text) = dry_run(&sandbox, &[("AWS_PROFILE", "dev")]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("expired"), "{text}");
    assert!(text.contains("`aws sso login --profile dev`"), "{text}");
    assert!(
        !text.contains("sso-access-token-9b2e"),
        "the token leaked: {text}"
    );
}

#[test]
fn no_credentials_at_all_explains_the_chain() {
    let sandbox = Sandbox::new(&config("http://127.0.0.1:9"));
    let (out, text) = dry_run(&sandbox, &[]);
    assert_eq!(out.status.code(), Some(2), "a config problem: {text}");
    assert!(text.contains("no usable credentials"), "{text}");
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    assert!(text.contains("`aws configure`"), "{text}");
    assert!(text.contains("aws sso login --profile"), "{text}");
}

#[test]
fn config_check_contacts_no_store() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let sandbox = Sandbox::new(&config(&endpoint));
    let out = run_command(
        command(&sandbox, &["config", "check"], &keys("AKIATEST", "test")),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        listener.accept().is_err(),
        "config check connected to the store: {}",
        describe(&out)
    );
    // The same listener does see the dry run (so the check above can fail).
    let child = command(
        &sandbox,
        &["rotate", "--dry-run", "db"],
        &keys("AKIATEST", "test"),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn");
    let started = std::time::Instant::now();
    let connected = loop {
        if listener.accept().is_ok() {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(listener);
    let _ = child.wait_with_output();
    assert!(connected, "the dry run never connected");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// At `-vvv` and with `RUST_LOG=trace` the SDK would log each request's body (the new value in
/// PutSecretValue): neither the old nor the new value reaches stderr or stdout.
#[test]
fn trace_logging_of_an_aws_rotation_leaks_no_value() {
    let moto = PrivateMoto::start();
    moto.create_secret(SECRET, VALUE);
    let sandbox = Sandbox::new(&config(&moto.endpoint));
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("RUST_LOG", "trace"),
    ];
    let mut old = VALUE;
    for (args, new) in [
        (
            &["-vvv", "rotate", "db", "--value-stdin"][..],
            "first-new-value-9c1e",
        ),
        (
            &["rotate", "db", "--value-stdin"][..],
            "second-new-value-4b7d",
        ),
    ] {
        let out = run_command(command(&sandbox, args, &env), Some(new.as_bytes()));
        let text = describe(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("TRACE"), "trace logging on: {text}");
        assert!(!text.contains(old), "the old value leaked: {text}");
        assert!(!text.contains(new), "the new value leaked: {text}");
        old = new;
    }
}
