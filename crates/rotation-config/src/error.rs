//! Config errors: [`FieldError`] while resolving (the dotted field and the reason), and
//! [`ConfigError`] for the user, with the file and the line found from that field.

use std::path::PathBuf;

/// A bad value: the dotted path of its field (`policies.p.max_retries`,
/// `secrets[0] (id "db").path`, `stores.vault.approle.secret_id_file`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the field; the line is found from it.
    pub field: String,
    /// The reason, without the field.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A core error (a builder's or a spec's) about a field under `prefix` (empty when the
    /// core names the full path; `stores.<name>.` for a store builder, whose fields are its
    /// own). An error that names no field is reported on `table`.
    pub fn from_core(prefix: &str, table: &str, error: &rotation_core::Error) -> Self {
        let full = error.message();
        match error.field() {
            Some(field) => Self {
                field: format!("{prefix}{field}"),
                // Core's message is `field: reason`; the field is known, so only it is dropped.
                message: full
                    .strip_prefix(field)
                    .and_then(|rest| rest.strip_prefix(": "))
                    .unwrap_or(full)
                    .to_owned(),
            },
            None => Self::new(table, full),
        }
    }
}

/// A config error as shown to the user: `file:line: field: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(self))]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted field, when the error is about one (not for an unreadable or malformed file).
    pub field: Option<String>,
    /// The reason, without the field.
    pub message: String,
}

fn render(e: &ConfigError) -> String {
    let mut out = e.file.display().to_string();
    if let Some(line) = e.line {
        out += &format!(":{line}");
    }
    if let Some(field) = &e.field {
        out += &format!(": {field}");
    }
    out + &format!(": {}", e.message)
}

#[cfg(test)]
mod tests {
    use rotation_core::Error;

    use super::FieldError;

    #[test]
    fn a_core_config_error_keeps_its_field_and_reason_apart() {
        let e = FieldError::from_core("stores.sm.", "stores.sm", &Error::config("timeout", "bad"));
        assert_eq!(e, FieldError::new("stores.sm.timeout", "bad"));
        assert_eq!(e.to_string(), "stores.sm.timeout: bad");
    }

    #[test]
    fn a_core_error_without_a_field_is_about_the_table() {
        let e = FieldError::from_core("stores.sm.", "stores.sm", &Error::internal("boom"));
        assert_eq!(e, FieldError::new("stores.sm", "boom"));
        // Context before the field: the field is kept, the message whole.
        let e = Error::config("path", "bad").context("azure");
        let e = FieldError::from_core("", "x", &e);
        assert_eq!(e, FieldError::new("path", "azure: path: bad"));
    }
}
