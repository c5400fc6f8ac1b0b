//! Printing results on stdout as text, JSON, YAML or names, without ever panicking.
//!
//! Every byte for stdout goes through [`write_stdout`]. A closed pipe (`rotation history x |
//! head -1`) ends the output quietly and the command keeps its own exit code; any other write
//! error (a full disk) is remembered and turned into `error: cannot write output: ...` with exit
//! 1 by [`finish`]. After the first failure nothing more is written.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rotation_config::SecretEntry;
use rotation_core::Cadence;
use serde::Serialize;

use crate::app::Context;
use crate::cli::OutputFormat;
use crate::exit::{CliError, FAILED};

/// The first write to stdout that failed.
#[derive(Debug)]
struct WriteFailure {
    broken_pipe: bool,
    message: String,
}

static FAILURE: OnceLock<WriteFailure> = OnceLock::new();

/// Write `bytes` to stdout and flush; a failure is remembered (see the module docs).
pub fn write_stdout(bytes: &[u8]) {
    if FAILURE.get().is_some() || bytes.is_empty() {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        let _ = FAILURE.set(WriteFailure {
            broken_pipe: e.kind() == io::ErrorKind::BrokenPipe,
            message: e.to_string(),
        });
    }
}

/// One line on stderr; a stderr that cannot be written is ignored (there is nowhere left to
/// report it).
pub fn stderr_line(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The command's outcome, with a failed write to stdout folded in: a broken pipe changes
/// nothing; another write error is exit 1 (or the command's code if higher) with a message.
pub fn finish(result: Result<u8, CliError>) -> Result<u8, CliError> {
    match (result, FAILURE.get()) {
        (Ok(code), Some(f)) if !f.broken_pipe => Err(CliError {
            code: code.max(FAILED),
            message: format!("cannot write output: {}", f.message),
        }),
        (result, _) => result,
    }
}

/// A command's result: serialised for `-o json|yaml`, rendered for people, named for
/// `-o name`.
pub trait Report: Serialize {
    /// Text output (lines ending in `\n`).
    fn text(&self, out: &mut String);
    /// One identifier per line for `-o name` (see docs/output.md for which per command).
    fn names(&self) -> Vec<String>;
    /// What went wrong, printed on stderr under `--quiet` (empty: success).
    fn failures(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Print `value` in the chosen format; under `--quiet` only its failures, on stderr.
pub fn emit<T: Report + ?Sized>(ctx: &Context, value: &T) {
    if ctx.global.quiet {
        for f in value.failures() {
            stderr_line(&format!("error: {f}"));
        }
        return;
    }
    let rendered = match ctx.output() {
        OutputFormat::Text => {
            let mut s = String::new();
            value.text(&mut s);
            Ok(s)
        }
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map(|j| j + "\n")
            .map_err(|e| e.to_string()),
        OutputFormat::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
        OutputFormat::Name => Ok(names(value.names())),
    };
    match rendered {
        Ok(s) => write_stdout(s.as_bytes()),
        Err(e) => serialise_failed(&e),
    }
}

/// Print one item of a stream (`run --watch`): a JSON line, a YAML document, names or text.
pub fn emit_item<T: Report>(ctx: &Context, value: &T) {
    let rendered = match ctx.output() {
        _ if ctx.global.quiet => return emit(ctx, value),
        OutputFormat::Json => serde_json::to_string(value)
            .map(|j| j + "\n")
            .map_err(|e| e.to_string()),
        OutputFormat::Yaml => serde_yaml_ng::to_string(value)
            .map(|y| format!("---\n{y}"))
            .map_err(|e| e.to_string()),
        OutputFormat::Text | OutputFormat::Name => return emit(ctx, value),
    };
    match rendered {
        Ok(s) => write_stdout(s.as_bytes()),
        Err(e) => serialise_failed(&e),
    }
}

/// Text lines only in text format and without `--quiet` (progress notes beside a result).
pub fn note(ctx: &Context, text: &str) {
    if ctx.output() == OutputFormat::Text && !ctx.global.quiet {
        write_stdout(text.as_bytes());
    }
}

fn serialise_failed(e: &str) {
    let _ = FAILURE.set(WriteFailure {
        broken_pipe: false,
        message: format!("cannot serialise: {e}"),
    });
}

fn names(names: Vec<String>) -> String {
    names.into_iter().map(|n| n + "\n").collect()
}

impl<T: Report> Report for Vec<T> {
    fn text(&self, out: &mut String) {
        self.iter().for_each(|r| r.text(out));
    }
    fn names(&self) -> Vec<String> {
        self.iter().flat_map(Report::names).collect()
    }
    fn failures(&self) -> Vec<String> {
        self.iter().flat_map(Report::failures).collect()
    }
}

/// Append one line.
pub fn line(out: &mut String, text: impl std::fmt::Display) {
    let _ = writeln!(out, "{text}");
}

/// `Option` as text, `-` for none.
pub fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The JSON word of a unit enum (`rolled_back`, `current`): the same word in every format.
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "-".to_owned(),
    }
}

/// A text table whose column widths come from its content; the last column is not padded.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns by header; a header starting with `>` is right-aligned (the `>` is not shown).
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            headers: headers.iter().map(|h| h.trim_start_matches('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Render header and rows.
    pub fn render(&self, out: &mut String) {
        let width = |i: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([self.headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for cells in std::iter::once(&headers).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let last = i + 1 == cells.len();
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    text.push_str("  ");
                }
                if self.right[i] {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if !last {
                        text.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            line(out, text.trim_end());
        }
    }
}

/// The zone of `entry`'s policy for times in text output: its `timezone` (which applies to
/// cron and window), UTC when it has none.
pub fn zone(entry: &SecretEntry) -> Tz {
    match entry.timing.cadence() {
        Cadence::Cron { tz, .. } => *tz,
        _ => entry.timing.window().map_or(Tz::UTC, |w| w.tz()),
    }
}

/// `2026-12-03 14:05:00 CET (in 29d)`: to the second in `tz`, with the time relative to now.
pub fn when(t: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "{} ({})",
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
        relative(t, Utc::now())
    )
}

/// [`when`] of an optional time, `-` for none.
pub fn when_opt(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map_or_else(|| "-".to_owned(), |t| when(t, tz))
}

/// `in 29d`, `3h ago`, `now`: the largest whole unit (d, h, m, s) between `t` and `now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let abs = secs.unsigned_abs();
    let amount = match abs {
        0 => return "now".to_owned(),
        1..60 => format!("{abs}s"),
        60..3600 => format!("{}m", abs / 60),
        3600..86_400 => format!("{}h", abs / 3600),
        _ => format!("{}d", abs / 86_400),
    };
    if secs > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let now = Utc::now();
        let at = |d: TimeDelta| relative(now + d, now);
        assert_eq!(at(TimeDelta::zero()), "now");
        assert_eq!(at(TimeDelta::seconds(5)), "in 5s");
        assert_eq!(at(TimeDelta::seconds(-90)), "1m ago");
        assert_eq!(at(TimeDelta::hours(-3)), "3h ago");
        assert_eq!(at(TimeDelta::days(30) - TimeDelta::seconds(1)), "in 29d");
    }

    #[test]
    fn columns_fit_the_longest_cell() {
        let mut t = Table::new(&["ID", ">N", "LAST"]);
        t.row(vec!["a-very-long-secret-id".into(), "7".into(), "x".into()]);
        t.row(vec!["b".into(), "1234".into(), String::new()]);
        let mut out = String::new();
        t.render(&mut out);
        assert_eq!(
            out,
            "ID                        N  LAST\n\
             a-very-long-secret-id     7  x\n\
             b                      1234\n"
        );
    }

    #[test]
    fn times_are_shown_in_the_zone_without_fractions() {
        let t = DateTime::parse_from_rfc3339("2026-07-01T01:30:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert!(when(t, berlin).starts_with("2026-07-01 03:30:00 CEST ("));
        assert!(when(t, Tz::UTC).starts_with("2026-07-01 01:30:00 UTC ("));
    }
}
