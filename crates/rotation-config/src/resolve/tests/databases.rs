//! Database and HTTP verifiers and targets: settings checked with the field named, and a
//! database secret rotating its `password` field.

use super::{config, load_config};

const FILE: &str = "[stores.local]\nkind = \"file\"\nroot = \"store\"\n";

fn field_of(extra: &str) -> Option<String> {
    load_config(&config(&format!("{FILE}{extra}"), ""))
        .unwrap_err()
        .field
}

#[test]
fn database_settings_are_checked_naming_the_field() {
    assert_eq!(
        field_of("[targets.pg]\nkind = \"postgres\"\ntls = \"sometimes\"\n").as_deref(),
        Some("targets.pg.tls")
    );
    assert_eq!(
        field_of("[targets.pg]\nkind = \"postgres\"\nadmin_secret = \"nope\"\n").as_deref(),
        Some("targets.pg.admin_secret")
    );
    assert_eq!(
        field_of("[verifiers.pg]\nkind = \"postgres\"\nadmin_secret = \"x\"\n").as_deref(),
        Some("verifiers.pg.admin_secret")
    );
    assert_eq!(
        field_of("[targets.pg]\nkind = \"postgres\"\nacl_save = true\n").as_deref(),
        Some("targets.pg.acl_save")
    );
    assert_eq!(
        field_of("[targets.pg]\nkind = \"postgres\"\nclient_cert = \"c.pem\"\n").as_deref(),
        Some("targets.pg.client_key")
    );
    assert_eq!(
        field_of("[targets.web]\nkind = \"http\"\nurl = \"https://x.example/\"\n").as_deref(),
        Some("targets.web.kind")
    );
    assert_eq!(
        field_of("[verifiers.r]\nkind = \"redis\"\ntimeout = \"0s\"\n").as_deref(),
        Some("verifiers.r.timeout")
    );
}

#[cfg(feature = "http")]
#[test]
fn plain_http_is_refused_except_to_loopback() {
    assert_eq!(
        field_of("[verifiers.w]\nkind = \"http\"\nurl = \"http://api.example/me\"\n").as_deref(),
        Some("verifiers.w.url")
    );
    assert!(
        load_config(&config(
            &format!("{FILE}[verifiers.w]\nkind = \"http\"\nurl = \"http://127.0.0.1:8080/me\"\n"),
            ""
        ))
        .is_ok()
    );
}

#[cfg(feature = "redis")]
#[test]
fn an_admin_secret_cannot_be_rotated_by_the_target_it_logs_in_to() {
    let secrets = "[[secrets]]\nid = \"adm\"\nstore = \"local\"\npath = \"db/adm\"\npolicy = \"p\"\n\
                   target = \"r\"\n";
    let err = load_config(&config(
        &format!("{FILE}[targets.r]\nkind = \"redis\"\nadmin_secret = \"adm\"\nhost = \"h\"\n"),
        secrets,
    ))
    .unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("secrets[0] (id \"adm\").target"),
        "{err}"
    );
    assert!(err.message.contains("single-user"), "{err}");
}

#[cfg(feature = "mysql")]
#[test]
fn engine_builder_errors_name_the_field_once() {
    assert_eq!(
        field_of(
            "[targets.db]\nkind = \"mysql\"\nadmin_secret = \"a\"\nuser_hosts = [\"a'b\"]\n\
             [[secrets]]\nid = \"a\"\nstore = \"local\"\npath = \"db/a\"\npolicy = \"p\"\n"
        )
        .as_deref(),
        Some("targets.db.user_hosts")
    );
}

#[cfg(all(feature = "redis", feature = "http"))]
#[test]
fn a_database_secret_rotates_its_password_field_and_so_does_an_admin_secret() {
    use super::secret;
    use crate::load;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rotation.toml");
    let text = config(
        &format!(
            "{FILE}[targets.pg]\nkind = \"redis\"\nadmin_secret = \"pg-admin\"\nhost = \"127.0.0.1\"\n\
             [verifiers.web]\nkind = \"http\"\nurl = \"https://api.example/me\"\ncredential = \"basic\"\n"
        ),
        &(secret("app-db", "local", "db/app")
            + "target = \"pg\"\n"
            + &secret("pg-admin", "local", "db/admin")
            + &secret("api", "local", "api/key")
            + "field = \"token\"\nverifiers = [\"web\"]\n"),
    );
    std::fs::write(&file, text).expect("config");
    let cfg = load(&file).expect("valid");
    assert_eq!(
        cfg.secret("app-db").expect("app-db").field.as_deref(),
        Some("password")
    );
    assert_eq!(
        cfg.secret("pg-admin").expect("admin").field.as_deref(),
        Some("password"),
        "an admin secret is a database secret too"
    );
    assert_eq!(
        cfg.secret("api").expect("api").field.as_deref(),
        Some("token")
    );
}
