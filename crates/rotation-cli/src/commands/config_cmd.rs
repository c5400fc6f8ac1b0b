//! `rotation config check` and `rotation completions`.

use std::collections::HashSet;

use clap::CommandFactory;
use rotation_config::SecretEntry;
use rotation_core::{Target, Verifier};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{Cli, CompletionsArgs};
use crate::exit::{CliError, OK};
use crate::output::{Report, emit, line, write_stdout};

#[derive(Debug, Serialize)]
struct Summary {
    config: String,
    valid: bool,
    stores: Vec<String>,
    secrets: Vec<String>,
    audit_log: String,
}

impl Report for Summary {
    fn text(&self, out: &mut String) {
        line(
            out,
            format!(
                "ok     {}: {} store(s), {} secret(s)",
                self.config,
                self.stores.len(),
                self.secrets.len()
            ),
        );
    }
    /// The configured secret ids.
    fn names(&self) -> Vec<String> {
        self.secrets.clone()
    }
}

/// Validate the config; exit 2 on any error, nothing is created. Offline: no store is
/// contacted (`rotate --dry-run` reads the stores and runs their advisory checks).
pub async fn check(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    check_programs(ctx, &cfg.secrets.iter().collect::<Vec<_>>())?;
    let summary = Summary {
        config: ctx.config_path()?.display().to_string(),
        valid: true,
        stores: cfg
            .stores
            .iter()
            .map(|(n, s)| format!("{n} ({})", s.kind()))
            .collect(),
        secrets: cfg.secrets.iter().map(|s| s.id.to_string()).collect(),
        audit_log: cfg.audit_path.display().to_string(),
    };
    emit(ctx, &summary);
    Ok(OK)
}

/// The static checks of every verifier and target `entries` use (each once; e.g. the program
/// exists and is executable). The first failure is a config error (exit 2) naming the field.
pub(crate) fn check_programs(ctx: &Context, entries: &[&SecretEntry]) -> Result<(), CliError> {
    let file = ctx.config_path()?;
    let fail = |e: rotation_core::Error| CliError::usage(format!("{}: {e}", file.display()));
    let mut seen = HashSet::new();
    for entry in entries {
        for v in &entry.verifiers {
            if seen.insert(("verifier", Verifier::name(v.as_ref()))) {
                Verifier::check(v.as_ref()).map_err(fail)?;
            }
        }
        if let Some(t) = &entry.target
            && seen.insert(("target", Target::name(t.as_ref())))
        {
            Target::check(t.as_ref()).map_err(fail)?;
        }
    }
    Ok(())
}

/// Print completions for `shell` (the script whatever `-o` says). clap_complete panics when
/// its writer fails, so it writes into memory and the bytes go through the checked writer.
pub fn completions(args: CompletionsArgs) -> Result<u8, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rotation", &mut script);
    write_stdout(&script);
    Ok(OK)
}
