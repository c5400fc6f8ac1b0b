//! The scheduler loop: every tick, first resolve interrupted rotations the journal still shows
//! (one a restart skipped because the dead holder's lease was live is finished once it
//! expires), then start the due rotations (bounded by the shared permits), unless emergency
//! rotations are waiting, which go first. A permit is taken *before* a secret
//! is claimed, so no secret looks busy while it only waits, and nothing queued starts after
//! shutdown began.

use std::sync::atomic::Ordering;

use rotation_core::{RecoveryAction, RotateRequest, RotationId};
use tokio::sync::watch;

use crate::state::App;

/// Most schedules taken in one pass.
const BATCH: usize = 10_000;

/// Run passes every `tick` until `stop` turns true. Rotations it started keep running (they are
/// drained by the caller).
pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = recover(&app) => {}
            _ = stop.changed() => return,
        }
        if app.emergencies.load(Ordering::SeqCst) == 0 {
            tokio::select! {
                _ = pass(&app) => {}
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(app.settings.tick) => {}
            // A dropped sender (launch failed) is a stop as well.
            _ = stop.changed() => return,
        }
    }
}

/// Resolve what the journal shows unfinished and nobody alive holds (one indexed query when
/// there is nothing). Rotations running here or under a live lease are skipped quietly.
async fn recover(app: &App) {
    match app.engine.recover_interrupted(&app.bindings).await {
        Ok(reports) => {
            let recovered = reports.iter().filter(|r| r.action.is_recovery()).count();
            app.metrics.add_recoveries(recovered as u64);
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

async fn pass(app: &App) {
    let due = match app.state.due_schedules(chrono::Utc::now(), BATCH).await {
        Ok(due) => due,
        Err(err) => {
            tracing::error!(error = %err, "scheduler: cannot read due schedules");
            return;
        }
    };
    for record in due {
        if !app.secrets.contains_key(&record.secret) {
            if let Err(err) = app.state.delete_schedule(&record.secret).await {
                tracing::warn!(secret = %record.secret, error = %err, "cannot remove an orphaned schedule");
            }
            continue;
        }
        let Ok(permit) = app.permits.clone().acquire_owned().await else {
            return;
        };
        if app.emergencies.load(Ordering::SeqCst) > 0 || app.stopping.load(Ordering::SeqCst) {
            return; // emergencies first; nothing new during shutdown
        }
        // The engine uses its own id for scheduled runs; this one only marks the claim.
        let marker = RotationId::generate();
        let Ok(claim) = app.claim(&record.secret, &marker) else {
            continue; // running already (an API rotation)
        };
        let app = app.clone();
        tokio::spawn(async move {
            if let Some(r) = app
                .run(claim, RotateRequest::default(), true, Some(permit))
                .await
            {
                tracing::info!(secret = %r.secret, rotation = %r.rotation_id, status = r.status.as_str(), "scheduled rotation finished");
            }
        });
    }
}
