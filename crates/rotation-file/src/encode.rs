//! Secret path -> directory name encoding.
//!
//! A secret path becomes exactly one directory name: bytes in `[A-Za-z0-9._-]` are kept, every
//! other byte (and a leading `.`, so that names never start with a dot and `.`/`..` cannot
//! occur) is written as `%XX` with upper-case hex. The encoding is injective, so two paths never
//! share a directory.

use rotation_core::{Error, Result, SecretPath};

use crate::store::MAX_PATH_BYTES;

/// Longest directory name most file systems accept (`NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;

/// The directory name of `path`, or `InvalidValue` for an empty or too long path.
pub(crate) fn encode_path(path: &SecretPath) -> Result<String> {
    let raw = path.as_str().as_bytes();
    if raw.is_empty() {
        return Err(Error::invalid_value("file store: secret path is empty"));
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(Error::invalid_value(format!(
            "file store: secret path is {} bytes, at most {MAX_PATH_BYTES} are allowed",
            raw.len()
        )));
    }
    let mut out = String::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_NAME_BYTES {
        return Err(Error::invalid_value(format!(
            "file store: secret path {path} encodes to a {}-byte directory name, at most \
             {MAX_NAME_BYTES} are allowed",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation_core::ErrorKind;

    fn enc(s: &str) -> Result<String> {
        encode_path(&SecretPath::new(s))
    }

    #[test]
    fn keeps_safe_bytes_and_escapes_the_rest() {
        assert_eq!(enc("demo/api-key").unwrap(), "demo%2Fapi-key");
        assert_eq!(enc("A.b_c-9").unwrap(), "A.b_c-9");
        assert_eq!(enc("a b%").unwrap(), "a%20b%25");
        assert_eq!(enc("ü").unwrap(), "%C3%BC");
        assert_eq!(enc("../x").unwrap(), "%2E.%2Fx");
    }

    #[test]
    fn leading_dot_is_escaped() {
        assert_eq!(enc(".").unwrap(), "%2E");
        assert_eq!(enc("..").unwrap(), "%2E.");
        assert_eq!(enc(".hidden").unwrap(), "%2Ehidden");
    }

    #[test]
    fn distinct_paths_get_distinct_names() {
        assert_ne!(enc("a/b").unwrap(), enc("a%2Fb").unwrap());
        assert_ne!(enc("a/b").unwrap(), enc("a_b").unwrap());
    }

    #[test]
    fn rejects_empty_and_too_long_paths() {
        assert_eq!(enc("").unwrap_err().kind(), ErrorKind::InvalidValue);
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        assert_eq!(enc(&long).unwrap_err().kind(), ErrorKind::InvalidValue);
        let wide = "/".repeat(100);
        assert_eq!(enc(&wide).unwrap_err().kind(), ErrorKind::InvalidValue);
        assert!(enc(&"a".repeat(MAX_NAME_BYTES)).is_ok());
    }
}
