//! Read-only views: `status`, `stats` and `history`.

use chrono::{DateTime, Utc};
use rotation_core::{AuditAction, AuditEvent, RotationStatus, Statistics, VersionInfo};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{IdArg, IdsArgs, StatsArgs};
use crate::config::{Resolved, SecretEntry};
use crate::exit::{CliError, FAILED, OK};
use crate::output::{emit, opt};

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
    last_rotation: Option<DateTime<Utc>>,
    last_status: Option<RotationStatus>,
    last_success: Option<DateTime<Utc>>,
    next_due: Option<DateTime<Utc>>,
    manual_only: bool,
    error: Option<String>,
}

fn is_terminal(e: &AuditEvent) -> bool {
    matches!(
        e.action,
        AuditAction::Succeeded | AuditAction::Failed | AuditAction::RolledBack
    )
}

async fn status_row(cfg: &Resolved, entry: &SecretEntry, events: &[AuditEvent]) -> StatusRow {
    let mine = || {
        events
            .iter()
            .filter(|e| e.secret.as_ref() == Some(&entry.id) && is_terminal(e))
    };
    let last = mine().next_back();
    let last_success = mine()
        .rfind(|e| e.action == AuditAction::Succeeded)
        .map(|e| e.at);
    let interval = entry.policy.interval();
    let next_due = (!interval.is_zero()).then(|| {
        let since = last_success.unwrap_or_else(Utc::now);
        chrono::Duration::from_std(interval)
            .ok()
            .and_then(|d| since.checked_add_signed(d))
    });
    let mut row = StatusRow {
        secret: entry.id.to_string(),
        store: entry.store.clone(),
        path: entry.path.to_string(),
        policy: entry.policy.name().to_owned(),
        strategy: entry.policy.strategy().to_string(),
        current_version: None,
        previous_version: None,
        last_rotation: last.map(|e| e.at),
        last_status: last.and_then(|e| e.status),
        last_success,
        next_due: next_due.flatten(),
        manual_only: interval.is_zero(),
        error: None,
    };
    let versions = match cfg.bind_one(entry, crate::config::Access::ReadOnly) {
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
    row
}

/// `rotation status`.
pub async fn status(ctx: &Context, args: IdsArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let entries = ctx.select(&cfg, &args.ids)?;
    let events = ctx.audit_events(&cfg)?;
    let mut rows = Vec::new();
    for entry in entries {
        rows.push(status_row(&cfg, entry, &events).await);
    }
    emit(ctx.output(), &rows, |rows| {
        println!(
            "{:<24} {:>8} {:>8} {:<12} {:<26} ERROR",
            "SECRET", "CURRENT", "PREVIOUS", "LAST", "NEXT DUE"
        );
        for r in rows {
            let next = if r.manual_only {
                "manual".to_owned()
            } else {
                opt(r.next_due.map(|t| t.to_rfc3339()))
            };
            println!(
                "{:<24} {:>8} {:>8} {:<12} {:<26} {}",
                r.secret,
                opt(r.current_version.as_ref()),
                opt(r.previous_version.as_ref()),
                opt(r.last_status),
                next,
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
    if args.reset {
        let sink = ctx.audit(&cfg)?;
        let event = AuditEvent::new(Utc::now(), AuditAction::StatsReset);
        rotation_core::AuditSink::record(&*sink, &event).await?;
    }
    let events = ctx.audit_events(&cfg)?;
    let total = cfg.secrets.len() as u64;
    let active = cfg
        .secrets
        .iter()
        .filter(|s| !s.policy.is_manual_only())
        .count() as u64;
    let stats: Statistics = Statistics::from_audit(&events).with_schedules(active, total, 0);
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
    let binding = cfg.bind_one(entry, crate::config::Access::ReadOnly)?;
    let versions = binding.store.list_versions(&binding.path).await?;
    let events: Vec<AuditEvent> = ctx
        .audit_events(&cfg)?
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
