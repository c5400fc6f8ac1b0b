//! Why the server refused a password statement, from its error and the statement's warnings.
//!
//! MariaDB answers a failed `ALTER USER` with ERROR 1396 ("Operation ALTER USER failed for
//! 'u'@'%'") whatever the cause, and puts the cause in the statement's diagnostics (`SHOW
//! WARNINGS`), checked on 10.11:
//!
//! - a password validation plugin (`simple_password_check`, `password_reuse_check`,
//!   `cracklib_password_check`) with `strict_password_validation=ON` (the default) refuses
//!   every pre-hashed password, since it cannot check a hash: `1290 The MariaDB server is
//!   running with the --strict-password-validation option so it cannot execute this
//!   statement`. `SET PASSWORD = '*hash'` answers that 1290 itself;
//! - a user that does not exist: `1410 You are not allowed to create a user with GRANT`;
//! - a plaintext password the plugin finds weak: `1819 Your password does not satisfy the
//!   current policy requirements (simple_password_check)` (this crate never sends one, but
//!   the text is quoted whatever the cause).
//!
//! A read-only server (`read_only=ON`, a replica) answers `1290 ... --read-only option ...`.

/// ER_OPTION_PREVENTS_STATEMENT: `--strict-password-validation` or `--read-only`.
const OPTION_PREVENTS: u16 = 1290;
/// ER_CANNOT_USER: "Operation ALTER USER failed for ...", the cause in the warnings.
pub const CANNOT_USER: u16 = 1396;
/// ER_CANT_CREATE_USER_WITH_GRANT: what MariaDB's warnings say for a missing user.
const NO_SUCH_USER: u16 = 1410;

/// Why a password statement failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A password validation plugin with `strict_password_validation=ON`: no hash accepted.
    StrictValidation,
    /// The server is read-only.
    ReadOnly,
    /// The account does not exist.
    NoSuchUser,
    /// Anything else (the server's text says what).
    Other,
}

/// The cause of an error `code` with `text` whose statement left the error-level warnings
/// `causes` (code, message).
pub fn classify(code: u16, text: &str, causes: &[(u16, String)]) -> Refusal {
    let mut all = causes
        .iter()
        .map(|(code, message)| (*code, message.as_str()))
        .chain([(code, text)]);
    if all.clone().any(|(code, message)| {
        code == OPTION_PREVENTS && message.contains("strict-password-validation")
    }) {
        Refusal::StrictValidation
    } else if all
        .clone()
        .any(|(code, message)| code == OPTION_PREVENTS && message.contains("read-only"))
    {
        Refusal::ReadOnly
    } else if code == CANNOT_USER && all.all(|(code, _)| matches!(code, CANNOT_USER | NO_SUCH_USER))
    {
        Refusal::NoSuchUser
    } else {
        Refusal::Other
    }
}

/// The server's `text` followed by the causes it left in the warnings (other than a repeat of
/// the error itself): `ERROR 1396 (HY000): Operation ALTER USER failed for 'u'@'%' (cause:
/// 1290 The MariaDB server is running with ...)`.
pub fn with_causes(code: u16, text: &str, causes: &[(u16, String)]) -> String {
    let extra: Vec<String> = causes
        .iter()
        .filter(|(c, _)| *c != code)
        .map(|(c, message)| format!("{c} {message}"))
        .collect();
    if extra.is_empty() {
        text.to_owned()
    } else {
        format!("{text} (cause: {})", extra.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: &str = "The MariaDB server is running with the --strict-password-validation \
                          option so it cannot execute this statement";

    #[test]
    fn the_cause_decides_not_the_1396() {
        let alter = "ERROR 1396 (HY000): Operation ALTER USER failed for 'u'@'%'";
        assert_eq!(
            classify(
                1396,
                alter,
                &[(1290, STRICT.to_owned()), (1396, "x".into())]
            ),
            Refusal::StrictValidation
        );
        assert_eq!(classify(1290, STRICT, &[]), Refusal::StrictValidation);
        assert_eq!(
            classify(
                1290,
                "The MariaDB server is running with the --read-only option so it cannot \
                 execute this statement",
                &[]
            ),
            Refusal::ReadOnly
        );
        assert_eq!(
            classify(1396, alter, &[(1410, "You are not allowed".into())]),
            Refusal::NoSuchUser
        );
        assert_eq!(classify(1396, alter, &[]), Refusal::NoSuchUser);
        assert_eq!(
            classify(1396, alter, &[(1819, "does not satisfy".into())]),
            Refusal::Other
        );
        assert_eq!(
            with_causes(1396, alter, &[(1290, STRICT.into()), (1396, "x".into())]),
            format!("{alter} (cause: 1290 {STRICT})")
        );
        assert_eq!(with_causes(1290, STRICT, &[(1290, STRICT.into())]), STRICT);
    }
}
