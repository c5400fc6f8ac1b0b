//! Operator actions on one secret: `verify` and `rollback`.

use rotation_core::engine::RollbackOutcome;
use serde::Serialize;

use crate::app::Context;
use crate::cli::IdArg;
use crate::exit::{CliError, FAILED, OK};
use crate::output::{Report, emit, line};
use rotation_config::Access;

/// Outcome of `verify`.
#[derive(Debug, Serialize)]
struct Verified {
    secret: String,
    version: Option<String>,
    passed: bool,
    error: Option<String>,
}

impl Report for Verified {
    fn text(&self, out: &mut String) {
        match &self.error {
            None => line(
                out,
                format!(
                    "ok     {} version {} passed every verifier",
                    self.secret,
                    self.version.as_deref().unwrap_or("-")
                ),
            ),
            Some(e) => line(out, format!("FAILED {}: {e}", self.secret)),
        }
    }
    fn names(&self) -> Vec<String> {
        vec![self.secret.clone()]
    }
    fn failures(&self) -> Vec<String> {
        self.error
            .iter()
            .map(|e| format!("{}: {e}", self.secret))
            .collect()
    }
}

/// `rotation verify <ID>`.
pub async fn verify(ctx: &Context, args: IdArg) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let (rt, binding) = ctx.runtime_for(cfg, &args.id, Access::ReadOnly).await?;
    let out = match rt.engine().verify_current(&binding).await {
        Ok(v) => Verified {
            secret: args.id,
            version: Some(v.to_string()),
            passed: true,
            error: None,
        },
        Err(e) if e.kind() == rotation_core::ErrorKind::InvalidConfig => return Err(e.into()),
        Err(e) => Verified {
            secret: args.id,
            version: None,
            passed: false,
            error: Some(e.to_string()),
        },
    };
    emit(ctx, &out);
    Ok(if out.passed { OK } else { FAILED })
}

impl Report for RollbackOutcome {
    fn text(&self, out: &mut String) {
        line(
            out,
            format!(
                "ok     {} rolled back: version {} -> {}{}",
                self.secret,
                self.from_version,
                self.to_version,
                if self.target_reapplied {
                    " (target re-applied)"
                } else {
                    ""
                }
            ),
        );
    }
    /// The journaled id of the rollback.
    fn names(&self) -> Vec<String> {
        vec![self.rotation_id.to_string()]
    }
}

/// `rotation rollback <ID>`.
pub async fn rollback(ctx: &Context, args: IdArg) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let (rt, binding) = ctx.runtime_for(cfg, &args.id, Access::ReadWrite).await?;
    let outcome = rt.engine().rollback(&binding).await?;
    emit(ctx, &outcome);
    Ok(OK)
}
