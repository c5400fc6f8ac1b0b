//! `rotation`: the command-line tool. `main` only parses, sets up logging and dispatches.
#![forbid(unsafe_code)]

mod app;
mod cli;
mod commands;
mod exit;
mod fault;
mod help;
mod output;
mod prompt;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, LogFormat};

fn init_logging(verbose: u8, format: LogFormat) {
    use rotation_runtime::logging::{self, Verbosity};
    let format = match format {
        LogFormat::Text => logging::LogFormat::Text,
        LogFormat::Json => logging::LogFormat::Json,
    };
    let verbosity = Verbosity {
        default: tracing::Level::WARN,
        verbose,
    };
    logging::init(verbosity, format);
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.global.verbose, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::stderr_line(&format!("error: cannot start the async runtime: {e}"));
            return exit::code(exit::FAILED);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => exit::code(code),
        Err(err) => {
            output::stderr_line(&format!("error: {}", err.message));
            exit::code(err.code)
        }
    }
}
