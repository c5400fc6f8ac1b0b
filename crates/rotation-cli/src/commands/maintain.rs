//! Operator actions on one secret: `verify` and `rollback`.

use serde::Serialize;

use crate::app::Context;
use crate::cli::IdArg;
use crate::exit::{CliError, FAILED, OK};
use crate::output::emit;
use rotation_config::Access;

/// Outcome of `verify`.
#[derive(Debug, Serialize)]
struct Verified {
    secret: String,
    version: Option<String>,
    passed: bool,
    error: Option<String>,
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
    emit(ctx.output(), &out, |v| match &v.error {
        None => println!(
            "ok     {} version {} passed every verifier",
            v.secret,
            v.version.as_deref().unwrap_or("-")
        ),
        Some(e) => println!("FAILED {}: {e}", v.secret),
    });
    Ok(if out.passed { OK } else { FAILED })
}

/// `rotation rollback <ID>`.
pub async fn rollback(ctx: &Context, args: IdArg) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let (rt, binding) = ctx.runtime_for(cfg, &args.id, Access::ReadWrite).await?;
    let outcome = rt.engine().rollback(&binding).await?;
    emit(ctx.output(), &outcome, |o| {
        println!(
            "ok     {} rolled back: version {} -> {}{}",
            o.secret,
            o.from_version,
            o.to_version,
            if o.target_reapplied {
                " (target re-applied)"
            } else {
                ""
            }
        )
    });
    Ok(OK)
}
