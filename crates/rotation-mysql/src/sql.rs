//! The SQL text this crate sends: account names as string literals, the password as a
//! client-side hash, and the statement that sets it for the server's flavor.
//!
//! Why a hash: MariaDB's general log (and MySQL's with `log_raw`) records a statement verbatim,
//! so `ALTER USER ... IDENTIFIED BY '<plaintext>'` would write the new password to disk.
//! `IDENTIFIED BY PASSWORD '*<hash>'` (MariaDB) and `IDENTIFIED WITH mysql_native_password AS
//! '*<hash>'` (MySQL) carry only the `mysql_native_password` hash, computed here. The hash
//! still allows offline guessing, and with a recorded handshake a login, so it is kept in
//! zeroized buffers, never logged, and scrubbed from server messages ([`scrub`]).
//!
//! Why literals: neither MariaDB 10.11 nor MySQL accept placeholders in `ALTER USER` or `SET
//! PASSWORD` (`PREPARE s FROM 'ALTER USER ?@? ...'` is a syntax error, checked on MariaDB
//! 10.11), so names are validated strictly ([`check_user`], [`check_host`]) and quoted.

use std::fmt::Write as _;

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// Longest user name MariaDB accepts (MySQL 8: 32).
const MAX_USER: usize = 80;
/// Longest host part (MariaDB and MySQL: 255).
const MAX_HOST: usize = 255;

/// Why a user name is refused, or `None` when it is fine: 1 to 80 ASCII letters, digits and
/// `_ - . $ + @`. Anything else (quotes, backslashes, spaces, control characters) is refused
/// rather than escaped: a rotation has no business with such names, and refusing them keeps the
/// quoting trivially right whatever the server's `sql_mode` (`NO_BACKSLASH_ESCAPES`).
pub fn check_user(user: &str) -> Option<String> {
    check_name(user, MAX_USER, "_-.$+@")
}

/// Why a host part is refused, or `None`: 1 to 255 ASCII letters, digits and `_ - . % : /`
/// (wildcards `%` `_`, IPv6 colons, netmasks).
pub fn check_host(host: &str) -> Option<String> {
    check_name(host, MAX_HOST, "_-.%:/")
}

fn check_name(name: &str, max: usize, extra: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if name.len() > max {
        return Some(format!("is longer than {max} characters"));
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        None
    } else {
        Some(format!(
            "may only hold ASCII letters, digits and {}",
            extra
                .chars()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

/// `name` as a single-quoted SQL string literal. Names are checked first, so there is nothing
/// to escape; a quote is still doubled (valid in every `sql_mode`) in case a caller forgets,
/// and a backslash doubled (it cannot pass the checks, and doubling is right without
/// `NO_BACKSLASH_ESCAPES`).
pub fn literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('\'');
    for c in name.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `'user'@'host'`.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", literal(user), literal(host))
}

/// The `mysql_native_password` hash of `password`: `*` and the upper-case hex of
/// SHA1(SHA1(password)), as the server's `PASSWORD()` computes it.
pub fn native_hash(password: &[u8]) -> Zeroizing<String> {
    // The inner digest is itself a login for mysql_native_password: wiped after use.
    let inner: Zeroizing<[u8; 20]> = Zeroizing::new(Sha1::digest(password).into());
    let outer = Sha1::digest(inner.as_slice());
    let mut hash = Zeroizing::new(String::with_capacity(41));
    hash.push('*');
    for byte in outer {
        let _ = write!(hash, "{byte:02X}");
    }
    hash
}

/// The server's flavor, from `SELECT VERSION()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (any version with `ALTER USER`, 10.2+): `IDENTIFIED BY PASSWORD '*hash'`.
    Mariadb,
    /// MySQL 5.7+ / 8: `IDENTIFIED WITH mysql_native_password AS '*hash'`.
    Mysql,
}

impl Flavor {
    /// The flavor a version string names (`10.11.19-MariaDB-0+deb12u1`, `8.0.36`).
    pub fn of_version(version: &str) -> Flavor {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::Mariadb
        } else {
            Flavor::Mysql
        }
    }
}

/// The statement an admin runs to set `account`'s password to `hash`.
///
/// MySQL: NOT TESTED HERE (no MySQL 8 server can be installed on this machine). The form is
/// MySQL's documented one; it switches the account to `mysql_native_password`, which MySQL 8.4
/// only has with `--mysql-native-password=ON` and MySQL 9 not at all (a server without the
/// plugin answers with an error, reported as is).
pub fn alter_user(flavor: Flavor, account: &str, hash: &str) -> Zeroizing<String> {
    Zeroizing::new(match flavor {
        Flavor::Mariadb => format!("ALTER USER {account} IDENTIFIED BY PASSWORD '{hash}'"),
        Flavor::Mysql => {
            format!("ALTER USER {account} IDENTIFIED WITH mysql_native_password AS '{hash}'")
        }
    })
}

/// The statement a user runs to set its own password to `hash`.
///
/// MariaDB: `SET PASSWORD = '*hash'` needs no privilege (checked on 10.11), while `ALTER USER
/// CURRENT_USER()` needs CREATE USER. MySQL: `SET PASSWORD` takes only plaintext there, so
/// `ALTER USER CURRENT_USER() IDENTIFIED WITH mysql_native_password AS '*hash'` (NOT TESTED
/// HERE; MySQL may ask for CREATE USER to change one's own plugin).
pub fn set_own_password(flavor: Flavor, hash: &str) -> Zeroizing<String> {
    Zeroizing::new(match flavor {
        Flavor::Mariadb => format!("SET PASSWORD = '{hash}'"),
        Flavor::Mysql => {
            format!("ALTER USER CURRENT_USER() IDENTIFIED WITH mysql_native_password AS '{hash}'")
        }
    })
}

/// `text` with every occurrence of each of `secrets` (non-empty) replaced by `[redacted]`:
/// a server's syntax error quotes the statement ("near '...'"), which holds the hash.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_servers_password_function() {
        // `SELECT PASSWORD('pw2')` on MariaDB 10.11.
        assert_eq!(
            native_hash(b"pw2").as_str(),
            "*B27918D2D9402882CEADA0EF687D35FBDC137D72"
        );
    }

    #[test]
    fn names_are_checked_strictly() {
        assert_eq!(check_user("app_rw-1.x"), None);
        assert_eq!(check_host("%"), None);
        assert_eq!(check_host("10.0.0.0/255.0.0.0"), None);
        assert_eq!(check_host("::1"), None);
        for bad in ["", "a'b", "a\\b", "a b", "a\nb", "é", "a`b", "a\"b"] {
            assert!(check_user(bad).is_some(), "{bad:?}");
            assert!(check_host(bad).is_some(), "{bad:?}");
        }
        assert!(check_user(&"u".repeat(81)).is_some());
        assert!(check_user("%").is_some(), "no wildcard in a user name");
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(account("app", "%"), "'app'@'%'");
        assert_eq!(literal("a'b\\c"), "'a''b\\\\c'");
    }

    #[test]
    fn statements_by_flavor() {
        assert_eq!(
            Flavor::of_version("10.11.19-MariaDB-0+deb12u1"),
            Flavor::Mariadb
        );
        assert_eq!(Flavor::of_version("8.0.36"), Flavor::Mysql);
        assert_eq!(
            alter_user(Flavor::Mariadb, "'u'@'%'", "*AB").as_str(),
            "ALTER USER 'u'@'%' IDENTIFIED BY PASSWORD '*AB'"
        );
        assert_eq!(
            alter_user(Flavor::Mysql, "'u'@'%'", "*AB").as_str(),
            "ALTER USER 'u'@'%' IDENTIFIED WITH mysql_native_password AS '*AB'"
        );
        assert_eq!(
            set_own_password(Flavor::Mariadb, "*AB").as_str(),
            "SET PASSWORD = '*AB'"
        );
    }

    #[test]
    fn scrub_removes_every_secret() {
        assert_eq!(
            scrub("near '*AB' and *AB", &["*AB", ""]),
            "near '[redacted]' and [redacted]"
        );
    }
}
