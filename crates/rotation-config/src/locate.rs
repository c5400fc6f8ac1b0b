//! Turning byte spans of the TOML source into line numbers for error messages.

use std::ops::Range;

/// An error message with the span of the table it concerns and, optionally, the key inside it.
#[derive(Debug)]
pub struct Located {
    /// Span of the table (or value) in the source.
    pub span: Option<Range<usize>>,
    /// Key inside the table whose line should be reported, if present in the source.
    pub key: Option<String>,
    /// Message naming the dotted field.
    pub message: String,
}

impl Located {
    /// An error about `key` inside the table at `span`.
    pub fn at(span: Range<usize>, key: &str, message: impl Into<String>) -> Self {
        Self {
            span: Some(span),
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// 1-based line of byte `offset`.
    pub fn line_of(source: &str, offset: usize) -> usize {
        source[..offset.min(source.len())].matches('\n').count() + 1
    }

    /// The line of the key if it appears in the table, else the table's first line.
    ///
    /// The search runs from the table's start to the next table header (spans of `[table]`
    /// values may cover the header only).
    pub fn line(&self, source: &str) -> Option<usize> {
        let span = self.span.clone()?;
        let start = span.start.min(source.len());
        if let Some(key) = &self.key {
            let mut offset = start;
            for (i, line) in source[start..].split_inclusive('\n').enumerate() {
                let trimmed = line.trim_start();
                if i > 0 && trimmed.starts_with('[') && offset >= span.end {
                    break;
                }
                if let Some(rest) = trimmed.strip_prefix(key.as_str())
                    && rest.trim_start().starts_with('=')
                {
                    return Some(Self::line_of(source, offset));
                }
                offset += line.len();
            }
        }
        Some(Self::line_of(source, start))
    }
}
