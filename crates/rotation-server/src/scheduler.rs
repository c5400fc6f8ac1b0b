//! The daemon's scheduler loop over the core pass ([`rotation_core::Scheduler`]): every tick,
//! first resolve interrupted rotations the journal still shows (one a restart skipped because
//! the dead holder's lease was live is finished once it expires), then start the due rotations
//! with the permits the API and emergencies share. Pending emergencies hold scheduled work back,
//! and nothing new starts once shutdown began.

use std::sync::Arc;

use rotation_core::{PassObserver, RecoveryAction};
use tokio::sync::watch;

use crate::state::{App, Generation};

/// Run passes every `tick` until `stop` turns true. Rotations it started keep running (they are
/// drained by the caller).
pub(crate) async fn run(app: App, mut stop: watch::Receiver<bool>) {
    let mut generation = app.current();
    let mut scheduler = build(&app, &generation);
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
        tokio::select! {
            _ = recover(&app, &scheduler) => {}
            _ = stop.changed() => return,
        }
        if !app.holds_scheduled_work() {
            tokio::select! {
                passed = scheduler.pass() => if let Err(err) = passed {
                    tracing::error!(error = %err, "scheduler: pass failed");
                },
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
