//! Read-only views: `status`, `stats` and `history`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rotation_core::{AuditAction, AuditEvent, RotationStatus, StateStore, Statistics, VersionInfo};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{IdArg, IdsArgs, StatsArgs};
use crate::exit::{CliError, FAILED, OK};
use crate::output::{Report, Table, emit, line, opt, when, when_opt, word, zone};
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
    next_rotation: Option<DateTime<Utc>>,
    /// `overdue`, or `due_soon` (within the policy's `remind_before`); none otherwise.
    reminder: Option<&'static str>,
    lease_holder: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    error: Option<String>,
    /// The policy's time zone, for text output.
    #[serde(skip)]
    tz: Tz,
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
        next_rotation: record.as_ref().and_then(|r| r.next_rotation),
        reminder: record
            .as_ref()
            .and_then(|r| r.reminder(Utc::now(), entry.policy.remind_before()))
            .map(|r| r.as_str()),
        lease_holder: lease.as_ref().map(|l| l.holder.clone()),
        lease_expires_at: lease.map(|l| l.expires_at),
        error: None,
        tz: zone(entry),
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

/// `status`'s rows, one table.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct StatusTable(Vec<StatusRow>);

impl Report for StatusTable {
    fn text(&self, out: &mut String) {
        let mut t = Table::new(&[
            "SECRET",
            ">CURRENT",
            ">PREVIOUS",
            "SCHEDULE",
            "LAST",
            "NEXT ROTATION",
            "ERROR",
        ]);
        for r in &self.0 {
            t.row(vec![
                r.secret.clone(),
                opt(r.current_version.as_ref()),
                opt(r.previous_version.as_ref()),
                match r.reminder {
                    Some(reminder) => format!("{} ({reminder})", r.schedule),
                    None => r.schedule.to_owned(),
                },
                opt(r.last_status),
                when_opt(r.next_rotation, r.tz),
                r.error.clone().unwrap_or_default(),
            ]);
        }
        t.render(out);
    }
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.secret.clone()).collect()
    }
    fn failures(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.secret)))
            .collect()
    }
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
    let table = StatusTable(rows);
    emit(ctx, &table);
    Ok(if table.0.iter().any(|r| r.error.is_some()) {
        FAILED
    } else {
        OK
    })
}

impl Report for Statistics {
    fn text(&self, out: &mut String) {
        let rate = self
            .success_rate
            .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        for (key, value) in [
            ("total_rotations", self.total_rotations.to_string()),
            (
                "successful_rotations",
                self.successful_rotations.to_string(),
            ),
            ("failed_rotations", self.failed_rotations.to_string()),
            ("rollbacks", self.rollbacks.to_string()),
            ("success_rate", rate),
            ("active_schedules", self.active_schedules.to_string()),
            ("total_schedules", self.total_schedules.to_string()),
            ("active_rotations", self.active_rotations.to_string()),
        ] {
            line(out, format!("{key:<20} {value}"));
        }
    }
    /// Statistics name nothing.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
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
    emit(ctx, &stats);
    Ok(OK)
}

/// `rotation history <ID>`.
#[derive(Debug, Serialize)]
struct History {
    secret: String,
    versions: Vec<VersionInfo>,
    events: Vec<AuditEvent>,
    #[serde(skip)]
    tz: Tz,
}

impl Report for History {
    fn text(&self, out: &mut String) {
        line(out, format!("versions of {} (newest first):", self.secret));
        let mut versions = Table::new(&[">VERSION", "STATE", "CREATED", "ROTATION"]);
        for v in &self.versions {
            versions.row(vec![
                v.version.to_string(),
                word(&v.state),
                when_opt(v.created_at, self.tz),
                opt(v.rotation_id.as_ref()),
            ]);
        }
        versions.render(out);
        line(out, "audit records:");
        let mut events = Table::new(&["AT", "ACTION", "ROTATION", "VERSIONS", "ERROR"]);
        for e in &self.events {
            events.row(vec![
                when(e.at, self.tz),
                word(&e.action),
                opt(e.rotation_id.as_ref()),
                format!(
                    "{} -> {}",
                    opt(e.old_version.as_ref()),
                    opt(e.new_version.as_ref())
                ),
                e.error.clone().unwrap_or_default(),
            ]);
        }
        events.render(out);
    }
    /// The version ids, newest first.
    fn names(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|v| v.version.to_string())
            .collect()
    }
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
        tz: zone(entry),
    };
    emit(ctx, &history);
    Ok(OK)
}
