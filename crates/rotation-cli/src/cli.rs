//! Command-line surface (clap derive). `main` parses this and dispatches to `commands`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::help;

/// Rotate secrets safely: staged promotion with compare-and-swap, verification, automatic
/// rollback and a tamper-evident audit log.
#[derive(Debug, Parser)]
#[command(
    name = "rotation",
    version,
    about,
    propagate_version = true,
    after_long_help = help::ROOT
)]
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
    /// Config file [default: the nearest rotation.toml in the current directory or a parent,
    /// else $ROTATION_CONFIG]. `init` writes it.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format on stdout (field names: docs/output.md).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No output on success; failures still go to stderr and exit codes are unchanged.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); beats $ROTATION_LOG and
    /// $RUST_LOG, which apply without it.
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
    #[command(after_long_help = help::INIT)]
    Init(InitArgs),
    /// Rotate secrets now.
    #[command(after_long_help = help::ROTATE)]
    Rotate(RotateArgs),
    /// Show each secret's current version, last rotation and next due time.
    #[command(after_long_help = help::STATUS)]
    Status(IdsArgs),
    /// Show rotation statistics from the audit log.
    #[command(after_long_help = help::STATS)]
    Stats(StatsArgs),
    /// Run a secret's verifiers against its current value.
    #[command(after_long_help = help::VERIFY)]
    Verify(IdArg),
    /// Make a secret's previous version current again and re-apply it to its target.
    #[command(after_long_help = help::ROLLBACK)]
    Rollback(IdArg),
    /// List a secret's versions and audit records.
    #[command(after_long_help = help::HISTORY)]
    History(IdArg),
    /// Audit log commands.
    #[command(subcommand, after_long_help = help::AUDIT)]
    Audit(AuditCommand),
    /// Config commands.
    #[command(subcommand, after_long_help = help::CONFIG)]
    Config(ConfigCommand),
    /// Process due rotations once (or keep going with --watch), after recovering interrupted ones.
    #[command(after_long_help = help::RUN)]
    Run(RunArgs),
    /// Resolve interrupted rotations and orphaned pending values.
    #[command(after_long_help = help::RECOVER)]
    Recover,
    /// Persistent schedules.
    #[command(subcommand, after_long_help = help::SCHEDULE)]
    Schedule(ScheduleCommand),
    /// Print shell completions.
    #[command(after_long_help = help::COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Write the man pages into DIR (`cargo xtask man` runs this).
    #[command(hide = true)]
    Manpages(ManpagesArgs),
}

/// `manpages` (hidden).
#[derive(Debug, Args)]
pub struct ManpagesArgs {
    /// Directory to write `rotation.1`, `rotation-rotate.1`, ... into (created if missing).
    pub dir: PathBuf,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Keep running: check for due rotations every --tick until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Time between checks (needs --watch).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, requires = "watch")]
    pub tick: std::time::Duration,
    /// Secrets rotated at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// `schedule ...`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List persisted schedules.
    #[command(after_long_help = help::SCHEDULE)]
    List,
    /// Rotate this secret automatically again.
    #[command(after_long_help = help::SCHEDULE)]
    Enable(IdArg),
    /// Never rotate this secret automatically.
    #[command(after_long_help = help::SCHEDULE)]
    Disable(IdArg),
    /// Skip this secret until resumed.
    #[command(after_long_help = help::SCHEDULE)]
    Pause(IdArg),
    /// Undo pause and quarantine.
    #[command(after_long_help = help::SCHEDULE)]
    Resume(IdArg),
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write rotation.toml into [default: the current directory]; or give the
    /// file itself with the global --config.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Overwrite an existing rotation.toml.
    #[arg(long)]
    pub force: bool,
}

/// `rotate`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["ids", "all"]).required(true)))]
pub struct RotateArgs {
    /// Secret ids (or --all).
    #[arg(conflicts_with = "all")]
    pub ids: Vec<String>,
    /// Rotate every configured secret.
    #[arg(long)]
    pub all: bool,
    /// Read the new value from stdin (one secret only; one trailing newline is removed). On a
    /// terminal it is asked for twice, without echo.
    #[arg(long, conflicts_with_all = ["all", "dry_run"])]
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
    #[command(after_long_help = help::AUDIT_VERIFY)]
    Verify,
    /// Record the breaks of a broken chain and continue it, so writing commands run again.
    #[command(after_long_help = help::AUDIT_REPAIR)]
    Repair(RepairArgs),
}

/// `audit repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config without changing anything.
    #[command(after_long_help = help::CONFIG_CHECK)]
    Check,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell.
    pub shell: clap_complete::Shell,
}
