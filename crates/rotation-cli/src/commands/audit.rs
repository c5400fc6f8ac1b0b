//! `rotation audit verify` (check the hash chain and say what was checked) and `rotation audit
//! repair` (record its breaks so writing commands run again).

use std::io::{BufRead, IsTerminal, Write};

use chrono_tz::Tz;
use rotation_core::Repair;
use rotation_runtime::AuditCheck;
use serde::Serialize;

use crate::app::Context;
use crate::cli::RepairArgs;
use crate::exit::{CliError, FAILED, OK};
use crate::output::{Report, emit, line, opt, when_opt};

impl Report for AuditCheck {
    fn text(&self, out: &mut String) {
        acknowledged(self, out);
        let Some(records) = self.records.filter(|_| self.valid) else {
            line(
                out,
                format!("FAILED {}", self.error.as_deref().unwrap_or("-")),
            );
            if self.breaks.len() > 1 {
                line(
                    out,
                    format!("       {} breaks in all; see -o json", self.breaks.len()),
                );
            }
            if !self.breaks.is_empty() {
                line(
                    out,
                    "       after inspecting the log: rotation audit repair",
                );
            }
            return;
        };
        line(
            out,
            format!("ok     {}: {records} records, hash chain intact", self.path),
        );
        if records > 0 {
            line(
                out,
                format!(
                    "       records {}..{}, {} .. {}",
                    opt(self.first_seq),
                    opt(self.last_seq),
                    when_opt(self.first_at, Tz::UTC),
                    when_opt(self.last_at, Tz::UTC)
                ),
            );
        }
        line(out, format!("       head {}", opt(self.head_hash.as_ref())));
    }
    /// The log checked.
    fn names(&self) -> Vec<String> {
        vec![self.path.clone()]
    }
    fn failures(&self) -> Vec<String> {
        self.error.iter().cloned().collect()
    }
}

/// The breaks earlier repairs acknowledged (shown whether or not the chain is intact now).
fn acknowledged(check: &AuditCheck, out: &mut String) {
    {
        for r in &check.repairs {
            for b in &r.breaks {
                line(
                    out,
                    format!(
                        "note   acknowledged by the repair at line {} ({}): {}",
                        r.line,
                        r.at.to_rfc3339(),
                        b.describe()
                    ),
                );
            }
        }
    }
}

/// What `audit repair` did: the repair recorded, or none (the chain was intact).
#[derive(Debug, Serialize)]
struct RepairOutcome {
    log: String,
    repair: Option<Repair>,
}

impl Report for RepairOutcome {
    fn text(&self, out: &mut String) {
        match &self.repair {
            Some(r) => line(
                out,
                format!(
                    "ok     {}: {} break(s) recorded at line {}; the chain continues from there",
                    self.log,
                    r.breaks.len(),
                    r.line
                ),
            ),
            None => line(
                out,
                format!("ok     {}: hash chain intact, nothing to repair", self.log),
            ),
        }
    }
    fn names(&self) -> Vec<String> {
        vec![self.log.clone()]
    }
}

/// Run `audit verify`.
pub async fn verify(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let check = AuditCheck::of(&cfg, rotation_runtime::audit_report(&cfg).await);
    emit(ctx, &check);
    Ok(if check.valid { OK } else { FAILED })
}

/// Run `audit repair`: show the breaks, ask (unless `--yes`), record them.
pub async fn repair(ctx: &Context, args: RepairArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let report = rotation_runtime::audit_report(&cfg).await?;
    let log = cfg.audit_path.display().to_string();
    if report.is_intact() {
        emit(ctx, &RepairOutcome { log, repair: None });
        return Ok(OK);
    }
    for b in &report.broken {
        crate::output::stderr_line(&format!("break  {}", b.describe()));
    }
    if !args.yes {
        confirm(&log, report.broken.len())?;
    }
    let repair = rotation_runtime::repair_audit(&cfg).await?;
    emit(ctx, &RepairOutcome { log, repair });
    Ok(OK)
}

/// Ask on the terminal; without one, `--yes` is required (a script must say so).
fn confirm(log: &str, breaks: usize) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::usage(
            "audit repair: stdin is not a terminal; pass --yes to record the breaks",
        ));
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "Record {breaks} break(s) in {log} and continue the chain? [y/N] "
    );
    let _ = err.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::usage(format!("audit repair: cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(CliError::usage(
            "audit repair: not confirmed; nothing was changed",
        ))
    }
}
