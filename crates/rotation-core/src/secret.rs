//! Secret values (redacting, zeroized on drop) and the identifiers that name secrets, versions
//! and rotations.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A secret value: bytes that are zeroized on drop and never printed.
///
/// `Debug` and `Display` print `[REDACTED]`; there is no `Serialize`. Reach the bytes with
/// [`SecretValue::expose`] only where they must cross a boundary (a store write, a verifier's
/// stdin).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wrap bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Wrap a string.
    pub fn from_string(value: String) -> Self {
        Self::new(value.into_bytes())
    }

    /// The raw bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as UTF-8, or an error that does not quote it.
    pub fn expose_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.0)
            .map_err(|_| Error::invalid_value("secret value is not valid UTF-8"))
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes().to_vec())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wrap a string.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// The configured identifier of a secret (`[[secrets]] id`), stable across stores.
    SecretId
);
string_id!(
    /// Where a secret lives inside its store (a KV path, an AWS secret id, a file-store path).
    SecretPath
);
string_id!(
    /// A store's own version identifier (Vault version number, AWS VersionId, file counter).
    ///
    /// Never derived from the value.
    VersionId
);

/// The identifier of one rotation attempt: a UUID v4, used as the idempotency key of every step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RotationId(String);

impl RotationId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Parse an id, accepting only `[0-9a-zA-Z-]` (ids end up in file names and API tokens).
    pub fn parse(value: &str) -> Result<Self> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(Error::invalid_value(format!(
                "invalid rotation id {value:?}"
            )))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RotationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_redacted_in_debug_and_display() {
        let v = SecretValue::from("hunter2");
        assert!(!format!("{v:?}").contains("hunter2"));
        assert!(!format!("{v}").contains("hunter2"));
    }

    #[test]
    fn rotation_id_rejects_path_characters() {
        assert!(RotationId::parse("../etc").is_err());
        assert!(RotationId::parse(RotationId::generate().as_str()).is_ok());
    }
}
