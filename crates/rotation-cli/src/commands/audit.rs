//! `rotation audit verify`: check the audit log's hash chain.

use serde::Serialize;

use crate::app::Context;
use crate::exit::{CliError, FAILED, OK};
use crate::output::emit;

#[derive(Debug, Serialize)]
struct AuditCheck {
    path: String,
    valid: bool,
    records: usize,
    error: Option<String>,
}

/// Run `audit verify`.
pub async fn verify(ctx: &Context) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let path = cfg.audit_path.display().to_string();
    let check = match ctx.audit_events(&cfg).await {
        Ok(events) => AuditCheck {
            path,
            valid: true,
            records: events.len(),
            error: None,
        },
        Err(e) => AuditCheck {
            path,
            valid: false,
            records: 0,
            error: Some(e.message),
        },
    };
    emit(ctx.output(), &check, |c| match &c.error {
        None => println!(
            "ok     {}: {} records, hash chain intact",
            c.path, c.records
        ),
        Some(e) => println!("FAILED {e}"),
    });
    Ok(if check.valid { OK } else { FAILED })
}
