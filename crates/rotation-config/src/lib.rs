//! The TOML configuration shared by `rotation` and `rotation-server`: parsing, cross-reference
//! validation with file/line/field errors, resolution into engine bindings, and reconciling the
//! configured secrets into persisted schedules ([`schedules`]).
#![forbid(unsafe_code)]

mod azure;
mod locate;
mod resolve;
pub mod schedules;
pub mod server;
mod spec;
mod vault;

pub use resolve::{Access, Resolved, SecretEntry, StoreConfig};
pub use server::{ApiToken, Role, ServerConfig, WebhookConfig};
pub use spec::ConfigFile;

use std::path::{Path, PathBuf};

use locate::Located;

/// Where the config comes from when `--config` and `ROTATION_CONFIG` are absent.
pub const DEFAULT_PATH: &str = "rotation.toml";

/// A config error: file, line and dotted field, then the reason.
#[derive(Debug)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Message that names the field.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Read, parse and validate `path`. Nothing is created or changed.
pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: None,
        message: format!("cannot read config: {e}"),
    })?;
    let file: ConfigFile = toml::from_str(&source).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: e.span().map(|s| Located::line_of(&source, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    resolve::resolve(file, &base).map_err(|located| ConfigError {
        file: path.to_owned(),
        line: located.line(&source),
        message: located.message,
    })
}
