//! Two secret ids on one stored secret are refused, naming both.

use super::{check, config, load_config, secret};

const FILE: &str = "[stores.local]\nkind = \"file\"\nroot = \"store\"\n\
                    [stores.other]\nkind = \"file\"\nroot = \"other\"\n";
#[cfg(all(feature = "aws", feature = "azure"))]
const VAULT: &str = "[stores.bao]\nkind = \"vault\"\naddress = \"http://127.0.0.1:8200\"\n\
                     token_file = \"token\"\n";
#[cfg(all(feature = "aws", feature = "azure"))]
const AWS: &str = "[stores.sm]\nkind = \"aws\"\nregion = \"eu-west-1\"\n\
                   endpoint_url = \"http://127.0.0.1:5000\"\n";

#[test]
fn two_ids_on_one_store_path_are_refused_naming_both() {
    let secrets = secret("first", "local", "app/key") + &secret("second", "local", "app/key");
    let config = config(FILE, &secrets);
    let err = load_config(&config).unwrap_err();
    let text = err.to_string();
    // The second secret's `path` line.
    let id_line = config
        .lines()
        .position(|l| l == "id = \"second\"")
        .expect("second id");
    let path_line = id_line + 3;
    assert_eq!(err.line, Some(path_line), "{text}");
    assert_eq!(
        err.field.as_deref(),
        Some("secrets[1] (id \"second\").path"),
        "{text}"
    );
    assert!(
        err.message
            .contains("\"app/key\" in store \"local\" is already the path of secret \"first\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("rotation.toml:{path_line}: ")),
        "{text}"
    );
}

#[cfg(all(feature = "aws", feature = "azure"))] // names AWS and Azure stores
#[test]
fn every_store_kind_refuses_a_shared_path() {
    for (stores, store, one, two) in [
        (VAULT, "bao", "app/key", "/app/key/"),
        (AWS, "sm", "prod/db", "prod/db"),
    ] {
        let secrets = secret("a", store, one) + &secret("b", store, two);
        let err = check(stores, &secrets).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("secrets[1] (id \"b\").path"),
            "{err}"
        );
        assert!(err.message.contains("secret \"a\""), "{err}");
        assert!(
            err.message.contains(&format!("{two:?} in store {store:?}")),
            "{err}"
        );
    }
}

#[test]
fn distinct_paths_or_stores_are_accepted() {
    let secrets = secret("a", "local", "app/key")
        + &secret("b", "local", "app/key2")
        + &secret("c", "other", "app/key");
    check(FILE, &secrets).expect("distinct");
    // The file store keeps paths byte for byte: these are two directories.
    let secrets = secret("a", "local", "app/key") + &secret("b", "local", "/app/key");
    check(FILE, &secrets).expect("distinct for the file store");
}

#[cfg(all(feature = "aws", feature = "azure"))] // names AWS and Azure stores
#[test]
fn azure_also_refuses_distinct_paths_with_one_key_vault_name() {
    const AZURE: &str =
        "[stores.kv]\nkind = \"azure\"\nvault_url = \"https://x.vault.azure.net\"\n";
    let same = secret("a", "kv", "team/db") + &secret("b", "kv", "team/db");
    let err = check(AZURE, &same).unwrap_err();
    assert!(
        err.message
            .contains("\"team/db\" in store \"kv\" is already the path of secret \"a\""),
        "{err}"
    );
    let colliding = secret("a", "kv", "team/db") + &secret("b", "kv", "Team-DB");
    let err = check(AZURE, &colliding).unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("secrets[1] (id \"b\").path"),
        "{err}"
    );
    assert!(
        err.message.starts_with("names the same Key Vault secret"),
        "{err}"
    );
    assert!(err.message.contains("as secret \"a\""), "{err}");
}
