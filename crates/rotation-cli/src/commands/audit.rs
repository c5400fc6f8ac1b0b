//! `rotation audit verify` (check the hash chain) and `rotation audit repair` (record its breaks
//! so writing commands run again).

use std::io::{BufRead, IsTerminal, Write};

use rotation_core::{ChainBreak, Repair};
use serde::Serialize;

use crate::app::Context;
use crate::cli::RepairArgs;
use crate::exit::{CliError, FAILED, OK};
use crate::output::emit;

#[derive(Debug, Serialize)]
struct AuditCheck {
    path: String,
    valid: bool,
    records: usize,
    error: Option<String>,
    /// Every break not yet acknowledged.
    breaks: Vec<ChainBreak>,
    /// Earlier repairs and the breaks they acknowledged.
    repairs: Vec<Repair>,
}

/// Run `audit verify`.
pub async fn verify(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let path = cfg.audit_path.display().to_string();
    let check = match rotation_runtime::audit_report(&cfg).await {
        Ok(report) => AuditCheck {
            path,
            valid: report.is_intact(),
            records: report.records,
            error: report
                .broken
                .first()
                .map(|b| format!("audit log {}: {}", cfg.audit_path.display(), b.describe())),
            breaks: report.broken,
            repairs: report.repairs,
        },
        Err(e) => AuditCheck {
            path,
            valid: false,
            records: 0,
            error: Some(e.to_string()),
            breaks: Vec::new(),
            repairs: Vec::new(),
        },
    };
    emit(ctx.output(), &check, |c| {
        match &c.error {
            None => println!(
                "ok     {}: {} records, hash chain intact",
                c.path, c.records
            ),
            Some(e) => println!("FAILED {e}"),
        }
        for r in &c.repairs {
            for b in &r.breaks {
                println!(
                    "note   acknowledged by the repair at line {} ({}): {}",
                    r.line,
                    r.at.to_rfc3339(),
                    b.describe()
                );
            }
        }
        if c.breaks.len() > 1 {
            println!("       {} breaks in all; see -o json", c.breaks.len());
        }
        if !c.breaks.is_empty() {
            println!("       after inspecting the log: rotation audit repair");
        }
    });
    Ok(if check.valid { OK } else { FAILED })
}

/// Run `audit repair`: show the breaks, ask (unless `--yes`), record them.
pub async fn repair(ctx: &Context, args: RepairArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let report = rotation_runtime::audit_report(&cfg).await?;
    let log = cfg.audit_path.display().to_string();
    if report.is_intact() {
        emit(ctx.output(), &Option::<Repair>::None, |_| {
            println!("ok     {log}: hash chain intact, nothing to repair")
        });
        return Ok(OK);
    }
    for b in &report.broken {
        eprintln!("break  {}", b.describe());
    }
    if !args.yes {
        confirm(&log, report.broken.len())?;
    }
    let repaired = rotation_runtime::repair_audit(&cfg).await?;
    emit(ctx.output(), &repaired, |r| match r {
        Some(r) => println!(
            "ok     {log}: {} break(s) recorded at line {}; the chain continues from there",
            r.breaks.len(),
            r.line
        ),
        None => println!("ok     {log}: hash chain intact, nothing to repair"),
    });
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
    eprint!("Record {breaks} break(s) in {log} and continue the chain? [y/N] ");
    let _ = std::io::stderr().flush();
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
