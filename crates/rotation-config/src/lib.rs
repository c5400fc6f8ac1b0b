//! The TOML configuration shared by `rotation` and `rotation-server`: parsing, cross-reference
//! validation with file/line/field errors, resolution into engine bindings, and reconciling the
//! configured secrets into persisted schedules ([`schedules`]).
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
mod error;
mod locate;
mod resolve;
pub mod schedules;
pub mod server;
mod spec;
#[cfg(feature = "vault")]
mod vault;
pub mod webhooks;

pub use error::{ConfigError, FieldError};
pub use resolve::{Access, Resolved, SecretEntry, StoreConfig};
pub use server::{ApiToken, Role, ServerConfig};
pub use spec::ConfigFile;
pub use webhooks::WebhookConfig;

use std::path::{Path, PathBuf};

/// Where the config comes from when `--config` and `ROTATION_CONFIG` are absent.
pub const DEFAULT_PATH: &str = "rotation.toml";

/// Read, parse and validate `path`. Nothing is created or changed.
pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        field: None,
        message: format!("cannot read config: {e}"),
    })?;
    let file: ConfigFile = toml::from_str(&source).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: e.span().map(|s| locate::line_of(&source, s.start)),
        field: None,
        message: e.message().trim().to_owned(),
    })?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    resolve::resolve(&file, &base).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: locate::line(&file, &source, &e.field),
        field: Some(e.field),
        message: e.message,
    })
}
