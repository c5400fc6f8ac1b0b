//! The daemon's scheduler loop over the core pass ([`rotation_core::Scheduler`]): every tick,
//! first resolve interrupted rotations the journal still shows (one a restart skipped because
//! the dead holder's lease was live is finished once it expires), then start the due rotations
//! with the permits the API and emergencies share. Once a minute, near-expiry reminders are
//! sent and their gauge refreshed, and the audit chain is checked again: while it is broken,
//! recovery and scheduled work are held (as are the API's writers). Pending emergencies hold
//! scheduled work back, and nothing new starts once shutdown began.

use std::sync::Arc;

use rotation_core::{PassObserver, RecoveryAction};
use rotation_runtime::reminders;
use tokio::sync::watch;

use crate::state::{App, Generation};

/// Run passes every `tick` until `stop` turns true. Rotations it started keep running (they are
/// drained by the caller).
pub(crate) async fn run(app: App, mut stop: watch::Receiver<bool>) {
    let mut generation = app.current();
    let mut scheduler = build(&app, &generation);
    let mut last_reminders: Option<tokio::time::Instant> = None;
    let mut last_audit_check = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        // After a reload, passes go over the new bindings: removed secrets stop, new ones start.
        let now = app.current();
        if !Arc::ptr_eq(&now, &generation) {
            generation = now;
            scheduler = build(&app, &generation);
        }
        // The chain was checked at start; again every minute (edited or repaired since).
        if last_audit_check.elapsed() >= AUDIT_CHECK {
            last_audit_check = tokio::time::Instant::now();
            tokio::select! {
                _ = app.check_audit() => {}
                _ = stop.changed() => return,
            }
        }
        if app.audit_refusal().is_none() {
            tokio::select! {
                _ = recover(&app, &scheduler) => {}
                _ = stop.changed() => return,
            }
        }
        if !app.holds_scheduled_work() {
            tokio::select! {
                passed = scheduler.pass() => if let Err(err) = passed {
                    tracing::error!(error = %err, "scheduler: pass failed");
                },
                _ = stop.changed() => return,
            }
        }
        // After the pass, so a secret it just started is not reported overdue. Reminders list
        // every schedule: once a minute, not every tick.
        if last_reminders.is_none_or(|t| t.elapsed() >= REMINDER_SWEEP) {
            last_reminders = Some(tokio::time::Instant::now());
            tokio::select! {
                _ = reminders(&generation, &app) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(generation.settings().tick) => {}
            // A dropped sender (launch failed) is a stop as well.
            _ = stop.changed() => return,
        }
    }
}

/// How often the audit chain is checked again (each check reads the whole log).
const AUDIT_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the reminder sweep runs.
const REMINDER_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Send the reminders not sent yet and refresh the `rotation_reminders` gauge.
async fn reminders(generation: &Generation, app: &App) {
    match reminders::send(generation.runtime(), chrono::Utc::now()).await {
        Ok(sweep) => {
            let overdue = sweep.overdue();
            let soon = sweep.current.len() - overdue;
            app.metrics().set_reminders(overdue as i64, soon as i64);
        }
        Err(err) => tracing::error!(error = %err, "scheduler: reminder sweep failed"),
    }
}

/// The core pass over `generation`'s bindings, with the permits and hooks of the daemon.
fn build(app: &App, generation: &Generation) -> rotation_core::Scheduler {
    let held = app.clone();
    generation
        .runtime()
        .scheduler()
        .permits(app.permits().clone())
        .observer(app.clone() as Arc<dyn PassObserver>)
        .hold_while(move || held.holds_scheduled_work())
        .build()
}

/// Resolve what the journal shows unfinished and nobody alive holds (one indexed query when
/// there is nothing). Rotations running here or under a live lease are skipped quietly.
async fn recover(app: &App, scheduler: &rotation_core::Scheduler) {
    match scheduler.recover(false).await {
        Ok(reports) => {
            let recovered = reports.iter().filter(|r| r.action.is_recovery()).count();
            app.metrics().add_recoveries(recovered as u64);
            for r in reports {
                if r.action == RecoveryAction::Skipped {
                    tracing::debug!(secret = %r.secret, detail = r.detail.as_deref().unwrap_or(""), "recovery skipped");
                } else {
                    tracing::info!(secret = %r.secret, action = ?r.action, detail = r.detail.as_deref().unwrap_or(""), "recovery");
                }
            }
        }
        Err(err) => tracing::error!(error = %err, "scheduler: recovery pass failed"),
    }
}
