//! Printing results as text or JSON on stdout.

use serde::Serialize;

use crate::cli::OutputFormat;

/// Print `value` as pretty JSON, or run `text` to print it for humans.
pub fn emit<T: Serialize>(format: OutputFormat, value: &T, text: impl FnOnce(&T)) {
    match format {
        OutputFormat::Json => match serde_json::to_string_pretty(value) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: cannot serialise output: {e}"),
        },
        OutputFormat::Text => text(value),
    }
}

/// `Option` as text, `-` for none.
pub fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
