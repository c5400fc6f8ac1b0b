//! Read-only views: `status`, `stats` and `history`.

use chrono::{DateTime, Utc};
use rotation_core::{AuditAction, AuditEvent, RotationStatus, StateStore, VersionInfo};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{IdArg, IdsArgs, StatsArgs};
use crate::exit::{CliError, FAILED, OK};
use crate::output::{emit, opt};
use rotation_config::{Resolved, SecretEntry};

/// One row of `status`.
#[derive(Debug, Serialize)]
struct StatusRow {
    secret: String,
    store: String,
    path: String,
    policy: String,
    strategy: String,
    current_version: Option<String>,
    previous_version: Option<String>,
    schedule: &'static str,
    enabled: bool,
    paused: bool,
    quarantined: bool,
    consecutive_failures: u32,
    rotation_count: u64,
    last_rotation: Option<DateTime<Utc>>,
    last_status: Option<RotationStatus>,
    last_success: Option<DateTime<Utc>>,
    next_due: Option<DateTime<Utc>>,
    lease_holder: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

async fn status_row(
    cfg: &Resolved,
    entry: &SecretEntry,
    state: &dyn StateStore,
) -> Result<StatusRow, CliError> {
    let record = state.schedule(&entry.id).await?;
    let lease = state
        .lease(&entry.id)
        .await?
        .filter(|l| l.expires_at > Utc::now());
    let mut row = StatusRow {
        secret: entry.id.to_string(),
        store: entry.store.clone(),
        path: entry.path.to_string(),
        policy: entry.policy.name().to_owned(),
        strategy: entry.policy.strategy().to_string(),
        current_version: None,
        previous_version: None,
        schedule: record
            .as_ref()
            .map_or("manual", rotation_core::ScheduleRecord::state_word),
        enabled: record.as_ref().is_none_or(|r| r.enabled),
        paused: record.as_ref().is_some_and(|r| r.paused),
        quarantined: record.as_ref().is_some_and(|r| r.quarantined),
        consecutive_failures: record.as_ref().map_or(0, |r| r.consecutive_failures),
        rotation_count: record.as_ref().map_or(0, |r| r.rotation_count),
        last_rotation: record.as_ref().and_then(|r| r.last_rotation),
        last_status: record.as_ref().and_then(|r| r.last_status),
        last_success: record.as_ref().and_then(|r| r.last_success),
        next_due: record.as_ref().and_then(|r| r.next_rotation),
        lease_holder: lease.as_ref().map(|l| l.holder.clone()),
        lease_expires_at: lease.map(|l| l.expires_at),
        error: None,
    };
    let versions = match cfg.bind_one(entry, rotation_config::Access::ReadOnly) {
        Ok(b) => b.store.list_versions(&b.path).await,
        Err(e) => Err(e),
    };
    match versions {
        Ok(v) => {
            let find = |s| {
                v.iter()
                    .find(|i: &&VersionInfo| i.state == s)
                    .map(|i| i.version.to_string())
            };
            row.current_version = find(rotation_core::VersionState::Current);
            row.previous_version = find(rotation_core::VersionState::Previous);
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    Ok(row)
}

/// `rotation status`.
pub async fn status(ctx: &Context, args: IdsArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let entries = ctx.select(&cfg, &args.ids)?;
    let state = ctx.reconciled_state(&cfg).await?;
    let mut rows = Vec::new();
    for entry in entries {
        rows.push(status_row(&cfg, entry, &*state).await?);
    }
    emit(ctx.output(), &rows, |rows| {
        println!(
            "{:<24} {:>8} {:>8} {:<12} {:<12} {:<26} ERROR",
            "SECRET", "CURRENT", "PREVIOUS", "SCHEDULE", "LAST", "NEXT DUE"
        );
        for r in rows {
            println!(
                "{:<24} {:>8} {:>8} {:<12} {:<12} {:<26} {}",
                r.secret,
                opt(r.current_version.as_ref()),
                opt(r.previous_version.as_ref()),
                r.schedule,
                opt(r.last_status),
                opt(r.next_due.map(|t| t.to_rfc3339())),
                r.error.as_deref().unwrap_or("")
            );
        }
    });
    Ok(if rows.iter().any(|r| r.error.is_some()) {
        FAILED
    } else {
        OK
    })
}

/// `rotation stats [--reset]`.
pub async fn stats(ctx: &Context, args: StatsArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let state = ctx.reconciled_state(&cfg).await?;
    if args.reset {
        // The sink first: a broken audit chain refuses the reset before the counts change.
        let sink = ctx.audit(&cfg).await?;
        state.reset_counts().await?;
        let event = AuditEvent::new(Utc::now(), AuditAction::StatsReset);
        rotation_core::AuditSink::record(&*sink, &event).await?;
    }
    let stats = rotation_runtime::statistics(&cfg, state).await?;
    emit(ctx.output(), &stats, |s| {
        println!("total_rotations      {}", s.total_rotations);
        println!("successful_rotations {}", s.successful_rotations);
        println!("failed_rotations     {}", s.failed_rotations);
        println!("rollbacks            {}", s.rollbacks);
        println!("success_rate         {:.1}%", s.success_rate * 100.0);
        println!("active_schedules     {}", s.active_schedules);
        println!("total_schedules      {}", s.total_schedules);
        println!("active_rotations     {}", s.active_rotations);
    });
    Ok(OK)
}

/// `rotation history <ID>`.
#[derive(Debug, Serialize)]
struct History {
    secret: String,
    versions: Vec<VersionInfo>,
    events: Vec<AuditEvent>,
}

/// `rotation history <ID>`.
pub async fn history(ctx: &Context, args: IdArg) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let entry = ctx.select(&cfg, std::slice::from_ref(&args.id))?[0];
    let binding = cfg.bind_one(entry, rotation_config::Access::ReadOnly)?;
    let versions = binding.store.list_versions(&binding.path).await?;
    let events: Vec<AuditEvent> = ctx
        .audit_events(&cfg)
        .await?
        .into_iter()
        .filter(|e| e.secret.as_ref() == Some(&entry.id))
        .collect();
    let history = History {
        secret: entry.id.to_string(),
        versions,
        events,
    };
    emit(ctx.output(), &history, |h| {
        println!("versions of {} (newest first):", h.secret);
        for v in &h.versions {
            println!(
                "  {:>6} {:<10} {} {}",
                v.version,
                format!("{:?}", v.state).to_lowercase(),
                opt(v.created_at.map(|t| t.to_rfc3339())),
                opt(v.rotation_id.as_ref())
            );
        }
        println!("audit records:");
        for e in &h.events {
            println!(
                "  {} {:<15} {} {} -> {}{}",
                e.at.to_rfc3339(),
                format!("{:?}", e.action),
                opt(e.rotation_id.as_ref()),
                opt(e.old_version.as_ref()),
                opt(e.new_version.as_ref()),
                e.error
                    .as_ref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            );
        }
    });
    Ok(OK)
}
