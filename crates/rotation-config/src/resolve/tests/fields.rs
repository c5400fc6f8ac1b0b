//! Errors of each section carry their dotted field and the reason apart, and the line is the
//! one of the field's key (found from the field, not from the message).

use super::{config, load_config, secret};
use crate::ConfigError;

const FILE: &str = "[stores.local]\nkind = \"file\"\nroot = \"store\"\n";

/// The 1-based line of the first line of `config` that contains `needle`.
fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in config")
        + 1
}

/// Load `config`, expect an error about `field` on the line holding `needle`; its reason.
fn error_at(config: &str, field: &str, needle: &str) -> ConfigError {
    let err = load_config(config).unwrap_err();
    assert_eq!(err.field.as_deref(), Some(field), "{err}");
    assert_eq!(err.line, Some(line_of(config, needle)), "{err}");
    assert!(
        err.to_string().ends_with(&format!(
            "rotation.toml:{}: {field}: {}",
            line_of(config, needle),
            err.message
        )),
        "{err}"
    );
    assert!(!err.message.starts_with(field), "field apart: {err}");
    err
}

#[cfg(all(feature = "aws", feature = "azure"))] // names AWS and Azure stores
#[test]
fn store_errors_name_the_store_field() {
    let file = FILE.replace("root = \"store\"", "root = \"store\"\nmax_versions = 1");
    let err = error_at(
        &config(&file, ""),
        "stores.local.max_versions",
        "max_versions",
    );
    assert_eq!(err.message, "must be at least 2");
    // A builder's own field (core names it relative to the store) gets the store's path.
    let aws = "[stores.sm]\nkind = \"aws\"\nregion = \"eu-west-1\"\nmax_attempts = 0\n";
    let err = error_at(&config(aws, ""), "stores.sm.max_attempts", "max_attempts");
    assert_eq!(err.message, "must be at least 1");
    let aws = "[stores.sm]\nkind = \"aws\"\nca_bundle = \"no-such-ca.pem\"\n";
    let err = error_at(&config(aws, ""), "stores.sm.ca_bundle", "ca_bundle");
    assert!(err.message.contains("cannot read"), "{err}");
    assert!(err.message.contains("no-such-ca.pem"), "{err}");
    // A store name with a dot: the longest defined name wins.
    let dotted = "[stores.\"a.b\"]\nkind = \"file\"\nroot = \"\"\n";
    let config = config(&format!("{FILE}{dotted}"), "");
    error_at(&config, "stores.a.b.root", "root = \"\"");
}

#[test]
fn vault_approle_errors_point_at_the_approle_line() {
    let vault = "[stores.bao]\nkind = \"vault\"\naddress = \"http://127.0.0.1:8200\"\n\
                 approle = { role_id = \"r\", secret_id_env = \"ROTATION_TEST_UNSET_VAR\" }\n";
    let err = error_at(
        &config(vault, ""),
        "stores.bao.approle.secret_id_env",
        "approle = ",
    );
    assert!(err.message.contains("is not set"), "{err}");
}

#[test]
fn vault_takes_one_auth_method_and_one_ca_and_names_the_second() {
    let base = "[stores.bao]\nkind = \"vault\"\naddress = \"http://127.0.0.1:8200\"\n";
    let two_auths =
        format!("{base}token_file = \"t\"\njwt = {{ role = \"r\", jwt_file = \"/j\" }}\n");
    let err = error_at(&config(&two_auths, ""), "stores.bao.jwt", "jwt = ");
    assert!(err.message.contains("token_file and jwt"), "{err}");
    let two_cas = format!("{base}ca_cert = \"a.pem\"\nca_path = \"certs\"\n");
    let err = error_at(&config(&two_cas, ""), "stores.bao.ca_path", "ca_path = ");
    assert!(err.message.contains("not both"), "{err}");
    let empty_role = format!("{base}kubernetes = {{ role = \"\" }}\n");
    error_at(
        &config(&empty_role, ""),
        "stores.bao.kubernetes.role",
        "kubernetes = ",
    );
    let half_mtls = format!("{base}token_env = \"PATH\"\nclient_cert = \"c.pem\"\n");
    let err = load_config(&config(&half_mtls, "")).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("stores.bao.client_key"), "{err}");
}

#[test]
fn plugin_errors_name_the_plugin_field() {
    let plugins = "[verifiers.check]\nkind = \"command\"\ncommand = [\"true\"]\n\
                   [targets.app]\nkind = \"command\"\ncommand = [\"true\"]\ntimeout = \"0s\"\n";
    let err = error_at(
        &config(&format!("{FILE}{plugins}"), ""),
        "targets.app.timeout",
        "timeout = \"0s\"",
    );
    assert!(err.message.contains("\"0s\" is not a duration"), "{err}");
}

#[test]
fn policy_errors_name_the_policy_field() {
    let config = config(FILE, "").replace(
        "require_verification = false",
        "require_verification = false\nmax_retries = 11",
    );
    let err = error_at(&config, "policies.p.max_retries", "max_retries = 11");
    assert_eq!(err.message, "must be between 0 and 10, got 11");
    let config = config.replace("max_retries = 11", "verifiers = [\"nope\"]");
    let err = error_at(&config, "policies.p.verifiers", "verifiers = [\"nope\"]");
    assert_eq!(err.message, "unknown verifier \"nope\" (none is defined)");
}

#[test]
fn secret_errors_name_the_secret_field() {
    let secrets = secret("a", "local", "one") + &secret("b", "local", "two");
    let config = config(FILE, &secrets).replace(
        "path = \"two\"\npolicy = \"p\"",
        "path = \"two\"\npolicy = \"p\"\ntarget = \"nope\"",
    );
    let err = error_at(&config, "secrets[1] (id \"b\").target", "target = \"nope\"");
    assert_eq!(err.message, "unknown target \"nope\" (none is defined)");
}

#[test]
fn server_and_state_errors_name_their_field() {
    let server = "\n[server]\nconcurrency = 4\nlisten = \"everywhere\"\n";
    let config = config(FILE, "") + server;
    error_at(&config, "server.listen", "listen = ");
    // `[state]` is not spanned: the field is named without a line.
    let err = load_config(&format!("[state]\nlease_ttl = \"1ms\"\n{config}")).unwrap_err();
    assert_eq!(
        (err.field.as_deref(), err.line),
        (Some("state.lease_ttl"), None)
    );
}

#[test]
fn a_malformed_file_has_a_line_but_no_field() {
    let err = load_config("[stores.x]\nkind = \"aws\"\nregoin = \"eu\"\n").unwrap_err();
    // toml reports the span of the tagged table, so its header's line.
    assert_eq!((err.field.as_deref(), err.line), (None, Some(1)), "{err}");
    assert!(err.message.contains("unknown field `regoin`"), "{err}");
}

/// In a build without the AWS store (CI checks the Vault-only build), an AWS store is a config
/// error on its `kind` that says how to get one, not a parse error.
#[cfg(not(feature = "aws"))]
#[test]
fn a_store_left_out_of_the_build_is_named_with_its_feature() {
    let stores = "[stores.sm]\nkind = \"aws\"\nregion = \"us-east-1\"\n";
    let err = error_at(&config(stores, ""), "stores.sm.kind", "kind = \"aws\"");
    assert!(err.message.contains("`aws` cargo feature"), "{err}");
}
