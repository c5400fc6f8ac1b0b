//! `rotation config check` and `rotation completions`.

use std::collections::HashSet;

use clap::CommandFactory;
use rotation_config::SecretEntry;
use rotation_core::{Target, Verifier};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{Cli, CompletionsArgs};
use crate::exit::{CliError, OK};
use crate::output::emit;

#[derive(Debug, Serialize)]
struct Summary {
    config: String,
    valid: bool,
    stores: Vec<String>,
    secrets: Vec<String>,
    audit_log: String,
    /// Warnings from the stores (e.g. AWS-native rotation enabled); they do not fail the check.
    advisories: Vec<String>,
}

/// Validate the config; exit 2 on any error, nothing is created. Reachable stores are asked
/// for advisories (read-only).
pub async fn check(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    check_programs(ctx, &cfg.secrets.iter().collect::<Vec<_>>())?;
    let mut advisories = Vec::new();
    for entry in &cfg.secrets {
        let Ok(binding) = cfg.bind_one(entry, rotation_config::Access::ReadOnly) else {
            continue;
        };
        match binding.store.advisories(&binding.path).await {
            Ok(found) => advisories.extend(found.into_iter().map(|a| format!("{}: {a}", entry.id))),
            Err(e) if e.kind() == rotation_core::ErrorKind::NotFound => {}
            Err(e) => advisories.push(format!("{}: could not check the store: {e}", entry.id)),
        }
    }
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
        advisories,
    };
    emit(ctx.output(), &summary, |s| {
        println!(
            "ok     {}: {} store(s), {} secret(s)",
            s.config,
            s.stores.len(),
            s.secrets.len()
        );
        for a in &s.advisories {
            println!("warn   {a}");
        }
    });
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

/// Print completions for `shell`.
pub fn completions(args: CompletionsArgs) -> Result<u8, CliError> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "rotation",
        &mut std::io::stdout(),
    );
    Ok(OK)
}
