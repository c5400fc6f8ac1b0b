//! Error mapping: a failure inside a blocking database call becomes a
//! [`rotation_core::Error`] naming the operation and the database path. SQLite's BUSY and LOCKED
//! are [`ErrorKind::Temporary`]; I/O-level failures are [`ErrorKind::Io`]; the rest `Internal`.

use rotation_core::{Error, ErrorKind};
use rusqlite::ErrorCode;

/// What a blocking database operation can fail with.
#[derive(Debug)]
pub(crate) enum Failure {
    /// SQLite refused or failed.
    Sql(rusqlite::Error),
    /// Stored data could not be decoded or encoded (a bug or a damaged database).
    Internal(String),
    /// A domain error to hand back unchanged (lease conflict, bad ttl).
    Core(Error),
}

/// Result of a blocking database operation.
pub(crate) type DbResult<T> = std::result::Result<T, Failure>;

impl From<rusqlite::Error> for Failure {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sql(err)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Core(err)
    }
}

/// The kind of a SQLite error.
pub(crate) fn kind_of(err: &rusqlite::Error) -> ErrorKind {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ErrorKind::Temporary,
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied
            | ErrorCode::DatabaseCorrupt
            | ErrorCode::NotADatabase
            | ErrorCode::FileLockingProtocolFailed,
        ) => ErrorKind::Io,
        _ => ErrorKind::Internal,
    }
}

/// Turn a failure of `op` on the database at `path` into an engine error.
pub(crate) fn to_error(failure: Failure, op: &str, path: &str) -> Error {
    match failure {
        Failure::Sql(err) => Error::new(
            kind_of(&err),
            format!("{op} in state database {path}: {err}"),
        ),
        Failure::Internal(message) => {
            Error::internal(format!("{op} in state database {path}: {message}"))
        }
        Failure::Core(err) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(code: std::ffi::c_int) -> Failure {
        Failure::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn busy_and_locked_are_temporary() {
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            let err = to_error(sql(code), "acquire lease", "/tmp/s.db");
            assert_eq!(err.kind(), ErrorKind::Temporary);
            assert!(
                err.message()
                    .starts_with("acquire lease in state database /tmp/s.db: ")
            );
        }
    }

    #[test]
    fn io_failures_are_io_and_others_internal() {
        let err = to_error(sql(rusqlite::ffi::SQLITE_IOERR), "op", "p");
        assert_eq!(err.kind(), ErrorKind::Io);
        let err = to_error(sql(rusqlite::ffi::SQLITE_CONSTRAINT), "op", "p");
        assert_eq!(err.kind(), ErrorKind::Internal);
        let err = to_error(Failure::Internal("bad row".into()), "read", "p");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(err.message(), "read in state database p: bad row");
    }

    #[test]
    fn domain_errors_pass_through() {
        let err = to_error(Failure::Core(Error::conflict("lost")), "renew", "p");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.message(), "lost");
    }
}
