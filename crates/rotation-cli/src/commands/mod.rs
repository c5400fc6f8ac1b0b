//! One module per group of subcommands; each exposes `run` returning an exit code.

mod audit;
mod config_cmd;
mod init;
mod inspect;
mod maintain;
mod rotate;
mod run;
mod schedule;

use crate::app::Context;
use crate::cli::{AuditCommand, Cli, Command, ConfigCommand};
use crate::exit::CliError;

/// Run the parsed command; a failed write to stdout is folded into its outcome
/// ([`crate::output::finish`]).
pub async fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let ctx = Context { global: cli.global };
    let result = match cli.command {
        Command::Init(args) => init::run(&ctx, args).await,
        Command::Rotate(args) => rotate::run(&ctx, args).await,
        Command::Status(args) => inspect::status(&ctx, args).await,
        Command::Stats(args) => inspect::stats(&ctx, args).await,
        Command::History(args) => inspect::history(&ctx, args).await,
        Command::Verify(args) => maintain::verify(&ctx, args).await,
        Command::Rollback(args) => maintain::rollback(&ctx, args).await,
        Command::Audit(AuditCommand::Verify) => audit::verify(&ctx).await,
        Command::Audit(AuditCommand::Repair(args)) => audit::repair(&ctx, args).await,
        Command::Config(ConfigCommand::Check) => config_cmd::check(&ctx).await,
        Command::Run(args) => run::run(&ctx, args).await,
        Command::Recover => run::recover(&ctx).await,
        Command::Schedule(cmd) => schedule::run(&ctx, cmd).await,
        Command::Completions(args) => config_cmd::completions(args),
        Command::Manpages(args) => manpages(&args.dir),
    };
    crate::output::finish(result)
}

/// `rotation manpages DIR` (what `cargo xtask man` runs).
fn manpages(dir: &std::path::Path) -> Result<u8, CliError> {
    let written = crate::help::write_man_pages(dir).map_err(|e| {
        CliError::failed(format!("cannot write man pages to {}: {e}", dir.display()))
    })?;
    crate::output::write_stdout(
        format!("wrote {} man pages to {}\n", written.len(), dir.display()).as_bytes(),
    );
    Ok(crate::exit::OK)
}
