//! `rotation run [--watch]` and `rotation recover`.

use std::io::IsTerminal;

use indicatif::ProgressBar;
use rotation_core::{RecoveryAction, RecoveryReport, RotationResult, Scheduler};
use rotation_runtime::Bind;

use crate::app::Context;
use crate::cli::{OutputFormat, RunArgs};
use crate::exit::{CliError, FAILED, OK};
use crate::output::emit;

/// `rotation recover`.
pub async fn recover(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let rt = ctx.runtime(cfg, Bind::All).await?;
    let reports = rt.engine().recover(rt.bindings()).await?;
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

/// How long a command waits for its webhook deliveries before it exits.
pub(crate) const NOTIFY_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// `rotation run [--watch]`: the core scheduler pass ([`rotation_core::Scheduler`]), once or
/// every tick.
pub async fn run(ctx: &Context, args: RunArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let rt = ctx.runtime(cfg, Bind::All).await?;
    let scheduler = rt
        .scheduler()
        .concurrency(usize::from(args.concurrency))
        .build();
    let mut all_ok = true;
    let mut first = true;
    loop {
        // A failing pass (state database busy, store down) is reported and, with --watch,
        // retried at the next tick instead of ending the daemon. The first pass also looks for
        // orphaned pending values in every store; later ticks resolve what the journal still
        // shows unfinished (a rotation skipped because its dead holder's lease was live).
        match scheduler.recover(std::mem::take(&mut first)).await {
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
        let results = match pass(ctx, &scheduler, args.watch).await {
            Ok(results) => results,
            Err(err) if args.watch => {
                all_ok = false;
                tracing::error!(error = %err, "scheduler pass failed");
                Vec::new()
            }
            Err(err) => return Err(err.into()),
        };
        all_ok &= results.iter().all(|r| r.success);
        rt.notify_results(&results);
        if let Err(err) = rotation_runtime::reminders::send(&rt, chrono::Utc::now()).await {
            tracing::warn!(error = %err, "cannot send reminders");
        }
        if !args.watch {
            emit(ctx.output(), &results, |rs| {
                if rs.is_empty() {
                    println!("ok     nothing due");
                }
                rs.iter().for_each(crate::commands::rotate::print_result);
            });
            rt.flush_notifications(NOTIFY_WITHIN).await;
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
            _ = shutdown() => {
                rt.flush_notifications(NOTIFY_WITHIN).await;
                return Ok(if all_ok { OK } else { FAILED });
            }
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

/// Rotate every due secret (with a progress bar on a terminal): passes until nothing more is
/// due, or one pass with `--watch` (the next tick takes the rest).
async fn pass(
    ctx: &Context,
    scheduler: &Scheduler,
    watch: bool,
) -> rotation_core::Result<Vec<RotationResult>> {
    let show = ctx.output() == OutputFormat::Text && std::io::stdout().is_terminal();
    if watch {
        let pass = scheduler.pass().await?;
        let bar = (show && pass.started() > 1).then(|| ProgressBar::new(pass.started() as u64));
        let results = pass.finish(|_| bar.iter().for_each(|b| b.inc(1))).await;
        bar.iter().for_each(ProgressBar::finish_and_clear);
        return results;
    }
    let bar = show.then(ProgressBar::no_length);
    let results = scheduler
        .run_due(|_| bar.iter().for_each(|b| b.inc(1)))
        .await;
    bar.iter().for_each(ProgressBar::finish_and_clear);
    results
}
