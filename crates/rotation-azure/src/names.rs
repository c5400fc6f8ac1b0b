//! Secret paths as Key Vault names, and the companion secret that holds pending values.
//!
//! Key Vault names are `[0-9a-zA-Z-]{1,127}` and case-insensitive. A path maps to a name by
//! replacing `/` with `-` (so `team/db-password` is `team-db-password`); any other character
//! outside the alphabet is refused with its position, never silently rewritten.

use rotation_core::{Error, Result, SecretPath};

/// Longest name Key Vault accepts.
pub const MAX_NAME: usize = 127;
/// Appended to a secret's name to name its companion (pending values).
pub const PENDING_SUFFIX: &str = "-rotation-pending";

/// The Key Vault name of `path`.
pub fn secret_name(path: &SecretPath) -> Result<String> {
    let raw = path.as_str();
    if raw.is_empty() {
        return Err(Error::config(
            "path",
            "azure: a secret name must not be empty",
        ));
    }
    let mut name = String::with_capacity(raw.len());
    for (i, c) in raw.chars().enumerate() {
        match c {
            '0'..='9' | 'a'..='z' | 'A'..='Z' | '-' => name.push(c),
            '/' => name.push('-'),
            other => {
                return Err(Error::config(
                    "path",
                    format!(
                        "azure: {raw:?} has {other:?} at position {}; Key Vault names allow only \
                         letters, digits and '-' ('/' is mapped to '-')",
                        i + 1
                    ),
                ));
            }
        }
    }
    // The companion must fit too, so the usable length is shorter than Key Vault's limit.
    let limit = MAX_NAME - PENDING_SUFFIX.len();
    if name.len() > limit {
        return Err(Error::config(
            "path",
            format!(
                "azure: {raw:?} maps to a {}-character name; at most {limit} are usable (Key Vault \
                 allows {MAX_NAME}, and the pending companion adds {PENDING_SUFFIX:?})",
                name.len()
            ),
        ));
    }
    if name.to_ascii_lowercase().ends_with(PENDING_SUFFIX) {
        return Err(Error::config(
            "path",
            format!("azure: {raw:?} ends with {PENDING_SUFFIX:?}, which names pending companions"),
        ));
    }
    Ok(name)
}

/// The companion secret of `name` (where pending values are staged).
pub fn companion(name: &str) -> String {
    format!("{name}{PENDING_SUFFIX}")
}

/// Whether `version` looks like a Key Vault version id (32 lowercase hex characters).
pub fn is_version_id(version: &str) -> bool {
    version.len() == 32
        && version
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: &str) -> Result<String> {
        secret_name(&SecretPath::new(p))
    }

    #[test]
    fn slashes_map_to_dashes_and_other_characters_are_refused() {
        assert_eq!(name("team/db-Password1").unwrap(), "team-db-Password1");
        let err = name("db_password").unwrap_err();
        assert!(err.message().contains("'_' at position 3"), "{err}");
        assert!(name("").is_err());
        assert!(name("pässword").is_err());
    }

    #[test]
    fn length_leaves_room_for_the_companion() {
        let limit = MAX_NAME - PENDING_SUFFIX.len();
        assert!(name(&"a".repeat(limit)).is_ok());
        let err = name(&"a".repeat(limit + 1)).unwrap_err();
        assert!(err.message().contains("at most 110"), "{err}");
        assert_eq!(companion(&"a".repeat(limit)).len(), MAX_NAME);
    }

    #[test]
    fn companions_cannot_be_rotated_themselves() {
        assert!(name("db-rotation-pending").is_err());
        assert!(name("db-Rotation-Pending").is_err());
    }

    #[test]
    fn version_ids_are_32_hex() {
        assert!(is_version_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_version_id("999999"));
        assert!(!is_version_id("0123456789ABCDEF0123456789abcdef"));
    }
}
