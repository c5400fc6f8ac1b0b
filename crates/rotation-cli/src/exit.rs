//! Stable exit codes and the error type that carries one.

use std::fmt;
use std::process::ExitCode;

/// 0: everything succeeded.
pub const OK: u8 = 0;
/// 1: a rotation (or verification, rollback, audit check) failed.
pub const FAILED: u8 = 1;
/// 2: usage or configuration error; nothing was changed.
pub const USAGE: u8 = 2;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: u8,
    /// Message (never contains a secret value).
    pub message: String,
}

impl CliError {
    /// Usage or configuration error (exit 2).
    pub fn usage(message: impl fmt::Display) -> Self {
        Self {
            code: USAGE,
            message: message.to_string(),
        }
    }
    /// Operational failure (exit 1).
    pub fn failed(message: impl fmt::Display) -> Self {
        Self {
            code: FAILED,
            message: message.to_string(),
        }
    }
}

impl From<rotation_core::Error> for CliError {
    fn from(err: rotation_core::Error) -> Self {
        let code = if err.kind() == rotation_core::ErrorKind::InvalidConfig {
            USAGE
        } else {
            FAILED
        };
        Self {
            code,
            message: err.to_string(),
        }
    }
}

impl From<rotation_config::ConfigError> for CliError {
    fn from(err: rotation_config::ConfigError) -> Self {
        Self::usage(err)
    }
}

/// Turn a code into an [`ExitCode`].
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
