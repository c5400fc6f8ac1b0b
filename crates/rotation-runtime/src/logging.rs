//! Logging on stderr for both binaries: which filter applies (flags, `ROTATION_LOG`,
//! `RUST_LOG`, the default), when lines are coloured (`NO_COLOR`, a terminal) and the quieting
//! of the cloud SDKs' own warnings at the default levels.
//!
//! Precedence, first match wins:
//! 1. an explicit `-v` (`-v` info, `-vv` debug, `-vvv` trace): a flag given for this one
//!    invocation beats a setting left in the environment;
//! 2. `ROTATION_LOG`, then `RUST_LOG`: a full `tracing` filter (`rotation_core=debug,info`);
//! 3. the binary's default level (`warn` for `rotation`, `info` for `rotation-server`).
//!
//! Below debug (the default and `-v`), the AWS SDK's crates log at `error` only: without
//! credentials it prints about a kilobyte of IMDS warnings per command, which say nothing the
//! command's own error does not. An environment filter is taken as written.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::EnvFilter;

/// Crates whose warnings are noise at the default levels (see the module docs).
const QUIET: &[&str] = &["aws_config", "aws_smithy_runtime", "aws_smithy_http_client"];

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal unless `NO_COLOR` is set).
    Text,
    /// One JSON object per line (never coloured).
    Json,
}

/// How verbose a binary is by default and how many `-v` were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verbosity {
    /// The level without any flag or environment filter.
    pub default: Level,
    /// Number of `-v` flags (0: none given).
    pub verbose: u8,
}

/// Where the filter in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterSource {
    /// `-v` flags.
    Flags,
    /// This environment variable.
    Env(&'static str),
    /// The binary's default.
    Default,
}

/// The filter directives in force and where they came from; `env` looks a variable up
/// (`std::env::var` in [`init`], a map in tests).
pub fn filter_spec(
    verbosity: Verbosity,
    env: impl Fn(&str) -> Option<String>,
) -> (String, FilterSource) {
    if verbosity.verbose > 0 {
        let level = raise(verbosity.default, verbosity.verbose);
        return (with_quiet(level), FilterSource::Flags);
    }
    for name in ["ROTATION_LOG", "RUST_LOG"] {
        if let Some(spec) = env(name).filter(|s| !s.trim().is_empty()) {
            return (spec, FilterSource::Env(name));
        }
    }
    (with_quiet(verbosity.default), FilterSource::Default)
}

/// `level` raised by `steps` (warn + 1 = info), at most trace.
fn raise(level: Level, steps: u8) -> Level {
    const ORDER: [Level; 5] = [
        Level::ERROR,
        Level::WARN,
        Level::INFO,
        Level::DEBUG,
        Level::TRACE,
    ];
    let at = ORDER.iter().position(|l| *l == level).unwrap_or(1);
    ORDER[(at + usize::from(steps)).min(ORDER.len() - 1)]
}

/// Targets held at debug at most, added after any filter (a later directive for the same
/// target replaces an earlier one): their trace output can carry request bodies.
const NEVER_TRACE: [&str; 2] = [
    "aws_smithy_runtime=debug",
    "aws_smithy_runtime::client::orchestrator=debug",
];

fn with_quiet(level: Level) -> String {
    let mut spec = level.as_str().to_ascii_lowercase();
    if level < Level::DEBUG {
        // `Level` orders by verbosity: TRACE is the greatest, so "< DEBUG" is warn, info...
        for krate in QUIET {
            spec.push_str(&format!(",{krate}=error"));
        }
    }
    spec
}

/// Whether text lines get ANSI colours: only on a terminal, and never with `NO_COLOR` set to a
/// non-empty value (<https://no-color.org>).
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

/// Install the global subscriber (stderr). Call once, first thing in `main`. An invalid
/// environment filter falls back to the default level, with a warning saying so.
pub fn init(verbosity: Verbosity, format: LogFormat) {
    let env = |name: &str| std::env::var(name).ok();
    let (spec, source) = filter_spec(verbosity, env);
    let (mut filter, rejected) = match EnvFilter::try_new(&spec) {
        Ok(filter) => (filter, None),
        Err(e) => {
            let fallback = with_quiet(verbosity.default);
            (EnvFilter::new(fallback), Some(e.to_string()))
        }
    };
    // Whatever the filter says: at trace level the AWS SDK's orchestrator logs each request's
    // `Debug`, body included (a PutSecretValue body is the new value).
    for cap in NEVER_TRACE {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = format == LogFormat::Text
        && use_colour(std::io::stderr().is_terminal(), no_color.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A closed stderr must not turn a log line into a panic (exit 101).
        .log_internal_errors(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let (Some(error), FilterSource::Env(name)) = (rejected, source) {
        tracing::warn!(variable = name, %error, "invalid log filter ignored; using the default level");
    }
}

#[cfg(test)]
mod tests {
    use super::{FilterSource, Verbosity, filter_spec, use_colour};
    use tracing::Level;

    const CLI: Verbosity = Verbosity {
        default: Level::WARN,
        verbose: 0,
    };

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn default_level_quiets_the_aws_sdk() {
        let (spec, source) = filter_spec(CLI, env(&[]));
        assert_eq!(source, FilterSource::Default);
        assert_eq!(
            spec,
            "warn,aws_config=error,aws_smithy_runtime=error,aws_smithy_http_client=error"
        );
    }

    #[test]
    fn flags_set_the_level_and_beat_the_environment() {
        let vars = [("RUST_LOG", "error"), ("ROTATION_LOG", "error")];
        let v = |verbose| Verbosity { verbose, ..CLI };
        let (spec, source) = filter_spec(v(1), env(&vars));
        assert_eq!(source, FilterSource::Flags);
        assert!(spec.starts_with("info,aws_config=error"), "{spec}");
        assert_eq!(filter_spec(v(2), env(&vars)).0, "debug");
        assert_eq!(filter_spec(v(3), env(&vars)).0, "trace");
        assert_eq!(filter_spec(v(9), env(&vars)).0, "trace");
    }

    #[test]
    fn rotation_log_beats_rust_log_which_beats_the_default() {
        let both = [
            ("RUST_LOG", "debug"),
            ("ROTATION_LOG", "rotation_core=trace"),
        ];
        assert_eq!(
            filter_spec(CLI, env(&both)),
            (
                "rotation_core=trace".into(),
                FilterSource::Env("ROTATION_LOG")
            )
        );
        let rust = [("RUST_LOG", "debug"), ("ROTATION_LOG", " ")];
        assert_eq!(
            filter_spec(CLI, env(&rust)),
            ("debug".into(), FilterSource::Env("RUST_LOG"))
        );
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("")));
        assert!(!use_colour(true, Some("1")));
        assert!(!use_colour(false, None));
    }
}
