//! `rotation schedule list|enable|disable|pause|resume`.

use rotation_core::ScheduleChange;

use crate::app::Context;
use crate::cli::ScheduleCommand;
use crate::exit::{CliError, OK};
use crate::output::{emit, opt};

/// Run a schedule subcommand.
pub async fn run(ctx: &Context, cmd: ScheduleCommand) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let state = ctx.reconciled_state(&cfg).await?;
    let (id, change): (&str, ScheduleChange) = match &cmd {
        ScheduleCommand::List => {
            let mut list = Vec::new();
            for entry in &cfg.secrets {
                if let Some(record) = state.schedule(&entry.id).await? {
                    list.push(record);
                }
            }
            emit(ctx.output(), &list, |list| {
                println!(
                    "{:<24} {:<11} {:<32} {:>6} {:>8} LAST",
                    "SECRET", "STATE", "NEXT", "COUNT", "FAILURES"
                );
                for r in list {
                    println!(
                        "{:<24} {:<11} {:<32} {:>6} {:>8} {}",
                        r.secret,
                        r.state_word(),
                        opt(r.next_rotation.map(|t| t.to_rfc3339())),
                        r.rotation_count,
                        r.consecutive_failures,
                        opt(r.last_status)
                    );
                }
            });
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
    emit(ctx.output(), &record, |r| {
        println!("ok     {} is {}", r.secret, r.state_word())
    });
    Ok(OK)
}
