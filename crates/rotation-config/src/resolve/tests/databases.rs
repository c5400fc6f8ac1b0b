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

#[cfg(all(feature = "redis", feature = "http"))]
#[test]
fn a_database_secret_rotates_its_password_field_and_reads_its_admin_from_the_store() {
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
    assert_eq!(cfg.secret("pg-admin").expect("admin").field, None);
    assert_eq!(
        cfg.secret("api").expect("api").field.as_deref(),
        Some("token")
    );
}
