//! `rotation run [--watch]` and `rotation recover`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::ProgressBar;
use rotation_core::{
    Engine, RecoveryAction, RecoveryReport, RotationResult, SecretBinding, SecretId, StateStore,
    Timing,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::app::Context;
use crate::cli::{OutputFormat, RunArgs};
use crate::exit::{CliError, FAILED, OK};
use crate::output::emit;

/// Most schedules taken from the state store in one pass.
const BATCH: usize = 10_000;

/// `rotation recover`.
pub async fn recover(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let bindings = cfg.bind()?;
    let (engine, _) = ctx.engine(&cfg).await?;
    let reports = engine.recover(&bindings).await?;
    emit(ctx.output(), &reports, |rs| print_reports(rs, true));
    Ok(
        if reports.iter().any(|r| r.action == RecoveryAction::Failed) {
            FAILED
        } else {
            OK
        },
    )
}

fn print_reports(reports: &[RecoveryReport], say_nothing: bool) {
    if reports.is_empty() && say_nothing {
        println!("ok     nothing to recover");
    }
    for r in reports {
        println!(
            "{:<7} {} rotation {} (interrupted at {}): {}",
            format!("{:?}", r.action).to_lowercase(),
            r.secret,
            r.rotation_id
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
            r.interrupted_at
                .map_or("-".to_owned(), |s| format!("{s:?}")),
            r.detail.as_deref().unwrap_or("")
        );
    }
}

/// `rotation run [--watch]`.
pub async fn run(ctx: &Context, args: RunArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let bindings = cfg.bind()?;
    let (engine, state) = ctx.engine(&cfg).await?;
    let timings: HashMap<SecretId, Arc<Timing>> = cfg
        .secrets
        .iter()
        .map(|e| (e.id.clone(), e.timing.clone()))
        .collect();
    let mut all_ok = true;
    let mut first = true;
    loop {
        // A failing pass (state database busy, store down) is reported and, with --watch,
        // retried at the next tick instead of ending the daemon. The first pass also looks for
        // orphaned pending values in every store; later ticks resolve what the journal still
        // shows unfinished (a rotation skipped because its dead holder's lease was live).
        let recovery = if std::mem::take(&mut first) {
            engine.recover(&bindings).await
        } else {
            engine.recover_interrupted(&bindings).await
        };
        match recovery {
            Ok(recovered) => {
                all_ok &= !recovered.iter().any(|r| r.action == RecoveryAction::Failed);
                if ctx.output() == OutputFormat::Text {
                    let acted: Vec<RecoveryReport> = recovered
                        .into_iter()
                        .filter(|r| !(args.watch && r.action == RecoveryAction::Skipped))
                        .collect();
                    print_reports(&acted, false);
                }
            }
            Err(err) => {
                all_ok = false;
                tracing::error!(error = %err, "recovery failed");
                if !args.watch {
                    return Err(err.into());
                }
            }
        }
        let results = match pass(ctx, &engine, &*state, &bindings, &timings, args.concurrency).await
        {
            Ok(results) => results,
            Err(err) if args.watch => {
                all_ok = false;
                tracing::error!(error = %err.message, "scheduler pass failed");
                Vec::new()
            }
            Err(err) => return Err(err),
        };
        all_ok &= results.iter().all(|r| r.success);
        if !args.watch {
            emit(ctx.output(), &results, |rs| {
                if rs.is_empty() {
                    println!("ok     nothing due");
                }
                rs.iter().for_each(crate::commands::rotate::print_result);
            });
            return Ok(if all_ok { OK } else { FAILED });
        }
        for r in &results {
            match ctx.output() {
                OutputFormat::Json => println!("{}", serde_json::to_string(r).unwrap_or_default()),
                OutputFormat::Text => crate::commands::rotate::print_result(r),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(args.tick) => {}
            _ = shutdown() => return Ok(if all_ok { OK } else { FAILED }),
        }
    }
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// One pass: rotate every due secret, at most `concurrency` at a time.
async fn pass(
    ctx: &Context,
    engine: &Engine,
    state: &dyn StateStore,
    bindings: &HashMap<SecretId, SecretBinding>,
    timings: &HashMap<SecretId, Arc<Timing>>,
    concurrency: u16,
) -> Result<Vec<RotationResult>, CliError> {
    let due = state.due_schedules(chrono::Utc::now(), BATCH).await?;
    let bar =
        (ctx.output() == OutputFormat::Text && due.len() > 1 && std::io::stdout().is_terminal())
            .then(|| ProgressBar::new(due.len() as u64));
    let permits = Arc::new(Semaphore::new(usize::from(concurrency)));
    let mut tasks = JoinSet::new();
    for record in due {
        let (Some(binding), Some(timing)) =
            (bindings.get(&record.secret), timings.get(&record.secret))
        else {
            match state.delete_schedule(&record.secret).await {
                Ok(_) => {
                    tracing::info!(secret = %record.secret, "schedule of a secret no longer configured removed")
                }
                Err(err) => {
                    tracing::warn!(secret = %record.secret, error = %err, "cannot remove an orphaned schedule")
                }
            }
            continue;
        };
        let (engine, binding, timing, permits) = (
            engine.clone(),
            binding.clone(),
            timing.clone(),
            permits.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            engine.rotate_if_due(&binding, timing).await
        });
    }
    // Drain every task even if one failed: dropping the set would abort rotations mid-step.
    let mut results = Vec::new();
    let mut panicked = None;
    while let Some(joined) = tasks.join_next().await {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        match joined {
            Ok(Some(result)) => results.push(result),
            Ok(None) => {}
            Err(e) => panicked = Some(e),
        }
    }
    if let Some(e) = panicked {
        return Err(CliError::failed(format!("a rotation task failed: {e}")));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results.sort_by(|a, b| a.secret.cmp(&b.secret));
    Ok(results)
}
