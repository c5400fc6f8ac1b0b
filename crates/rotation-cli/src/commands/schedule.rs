//! `rotation schedule list|enable|disable|pause|resume`.

use chrono_tz::Tz;
use rotation_core::{ScheduleChange, ScheduleRecord};
use serde::Serialize;

use crate::app::Context;
use crate::cli::ScheduleCommand;
use crate::exit::{CliError, OK};
use crate::output::{Report, Table, emit, line, opt, when_opt, zone};

/// One persisted schedule and its policy's time zone (for text output).
#[derive(Debug, Serialize)]
struct Schedule {
    /// `active`, `manual`, `paused`, `quarantined` or `disabled` (as in the API).
    state: &'static str,
    #[serde(flatten)]
    record: ScheduleRecord,
    #[serde(skip)]
    tz: Tz,
}

/// `schedule list`: one table.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct ScheduleTable(Vec<Schedule>);

impl Report for ScheduleTable {
    fn text(&self, out: &mut String) {
        let mut t = Table::new(&[
            "SECRET",
            "STATE",
            "NEXT ROTATION",
            ">COUNT",
            ">FAILURES",
            "LAST",
        ]);
        for s in &self.0 {
            let r = &s.record;
            t.row(vec![
                r.secret.to_string(),
                r.state_word().to_owned(),
                when_opt(r.next_rotation, s.tz),
                r.rotation_count.to_string(),
                r.consecutive_failures.to_string(),
                opt(r.last_status),
            ]);
        }
        t.render(out);
    }
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.record.secret.to_string()).collect()
    }
}

impl Report for Schedule {
    fn text(&self, out: &mut String) {
        line(
            out,
            format!(
                "ok     {} is {}",
                self.record.secret,
                self.record.state_word()
            ),
        );
    }
    fn names(&self) -> Vec<String> {
        vec![self.record.secret.to_string()]
    }
}

/// Run a schedule subcommand.
pub async fn run(ctx: &Context, cmd: ScheduleCommand) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let state = ctx.reconciled_state(&cfg).await?;
    let (id, change): (&str, ScheduleChange) = match &cmd {
        ScheduleCommand::List => {
            let mut list = Vec::new();
            for entry in &cfg.secrets {
                if let Some(record) = state.schedule(&entry.id).await? {
                    list.push(Schedule {
                        state: record.state_word(),
                        record,
                        tz: zone(entry),
                    });
                }
            }
            emit(ctx, &ScheduleTable(list));
            return Ok(OK);
        }
        ScheduleCommand::Enable(a) => (&a.id, ScheduleChange::Enable),
        ScheduleCommand::Disable(a) => (&a.id, ScheduleChange::Disable),
        ScheduleCommand::Pause(a) => (&a.id, ScheduleChange::Pause),
        ScheduleCommand::Resume(a) => (&a.id, ScheduleChange::Resume),
    };
    let entry = ctx.select(&cfg, &[id.to_owned()])?[0];
    // A schedule change is a write: refused, like a rotation, while the audit chain is broken.
    rotation_runtime::ensure_audit_intact(&cfg).await?;
    // One atomic update: a rotation finishing meanwhile cannot undo it.
    let record = state
        .update_schedule(&entry.id, &change)
        .await?
        .ok_or_else(|| CliError::failed(format!("no schedule for {id}")))?;
    emit(
        ctx,
        &Schedule {
            state: record.state_word(),
            record,
            tz: zone(entry),
        },
    );
    Ok(OK)
}
