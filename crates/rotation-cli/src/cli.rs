//! Command-line surface (clap derive). `main` parses this and dispatches to `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rotate secrets safely: staged promotion with compare-and-swap, verification, automatic
/// rollback and a tamper-evident audit log.
#[derive(Debug, Parser)]
#[command(name = "rotation", version, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Config file [default: ./rotation.toml].
    #[arg(long, short = 'c', global = true, env = "ROTATION_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format on stdout (field names: docs/output.md).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No output on success; failures still go to stderr and exit codes are unchanged.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Text,
    /// One JSON document.
    Json,
    /// One YAML document.
    Yaml,
    /// One identifier per line (secret ids, or rotation ids for rotation results).
    Name,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// JSON lines.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter config, a file store and one demo secret.
    Init(InitArgs),
    /// Rotate secrets now.
    Rotate(RotateArgs),
    /// Show each secret's current version, last rotation and next due time.
    Status(IdsArgs),
    /// Show rotation statistics from the audit log.
    Stats(StatsArgs),
    /// Run a secret's verifiers against its current value.
    Verify(IdArg),
    /// Make a secret's previous version current again and re-apply it to its target.
    Rollback(IdArg),
    /// List a secret's versions and audit records.
    History(IdArg),
    /// Audit log commands.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Config commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Process due rotations once (or keep going with --watch), after recovering interrupted ones.
    Run(RunArgs),
    /// Resolve interrupted rotations and orphaned pending values.
    Recover,
    /// Persistent schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Keep running: check for due rotations every --tick until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Time between checks with --watch.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub tick: std::time::Duration,
    /// Secrets rotated at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// `schedule ...`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List persisted schedules.
    List,
    /// Rotate this secret automatically again.
    Enable(IdArg),
    /// Never rotate this secret automatically.
    Disable(IdArg),
    /// Skip this secret until resumed.
    Pause(IdArg),
    /// Undo pause and quarantine.
    Resume(IdArg),
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to initialise.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite an existing rotation.toml.
    #[arg(long)]
    pub force: bool,
}

/// `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Secret ids.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ids: Vec<String>,
    /// Rotate every configured secret.
    #[arg(long)]
    pub all: bool,
    /// Read the new value from stdin (one secret only; one trailing newline is removed).
    #[arg(long)]
    pub value_stdin: bool,
    /// Print the plan and run read-only preflight checks; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Commands taking optional ids.
#[derive(Debug, Args)]
pub struct IdsArgs {
    /// Secret ids (default: all).
    pub ids: Vec<String>,
}

/// Commands taking one id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// Secret id.
    pub id: String,
}

/// `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Reset the counters (recorded in the audit log).
    #[arg(long)]
    pub reset: bool,
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the audit log.
    Verify,
}

/// `config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config without changing anything.
    Check,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell.
    pub shell: clap_complete::Shell,
}
