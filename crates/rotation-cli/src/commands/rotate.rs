//! `rotation rotate`: rotate now, or print the plan with `--dry-run`.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use indicatif::{ProgressBar, ProgressStyle};
use rotation_core::{RotateRequest, RotationResult, SecretValue, field};
use serde::Serialize;

use crate::app::Context;
use crate::cli::{OutputFormat, RotateArgs};
use crate::exit::{CliError, FAILED, OK, USAGE};
use crate::output::{Report, emit, line, opt};
use rotation_config::{Resolved, SecretEntry};
use rotation_runtime::Bind;

/// Run `rotate`.
pub async fn run(ctx: &Context, args: RotateArgs) -> Result<u8, CliError> {
    let cfg = ctx.load()?;
    let entries = if args.all {
        ctx.select(&cfg, &[])?
    } else {
        ctx.select(&cfg, &args.ids)?
    };
    if entries.is_empty() {
        return Err(CliError::usage("no secret is configured"));
    }
    if args.value_stdin && entries.len() != 1 {
        return Err(CliError::usage("--value-stdin rotates exactly one secret"));
    }
    if args.dry_run {
        return dry_run(ctx, &cfg, &entries).await;
    }
    let value = if args.value_stdin {
        Some(read_value_stdin()?)
    } else {
        None
    };
    if let Some(v) = &value {
        // Before anything is opened for writing: a bad value changes and audits nothing.
        let binding = cfg.bind_one(entries[0], rotation_config::Access::ReadOnly)?;
        check_supplied_value(v, &binding)?;
    }
    let ids: Vec<_> = entries.iter().map(|e| e.id.clone()).collect();
    let rt = ctx
        .runtime(
            cfg,
            Bind::Only(ids.clone(), rotation_config::Access::ReadWrite),
        )
        .await?;
    let bindings = rt.bindings();
    let engine = rt.engine();

    let bar = (ctx.output() == OutputFormat::Text
        && !ctx.global.quiet
        && ids.len() > 1
        && std::io::stdout().is_terminal())
    .then(|| progress(ids.len() as u64));
    let mut results = Vec::with_capacity(ids.len());
    let mut value = value;
    for id in &ids {
        if let Some(bar) = &bar {
            bar.set_message(id.to_string());
        }
        let request = RotateRequest {
            value: value.take(),
            ..Default::default()
        };
        results.push(engine.rotate(&bindings[id], request).await);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    rt.notify_results(&results);
    emit(ctx, &results);
    rt.flush_notifications(crate::commands::run::NOTIFY_WITHIN)
        .await;
    Ok(exit_code(&results))
}

/// 0 if every rotation succeeded; 2 if every failure was a configuration problem found before
/// anything changed (e.g. a file store directory that is a symlink); 1 otherwise.
fn exit_code(results: &[RotationResult]) -> u8 {
    let failed: Vec<&RotationResult> = results.iter().filter(|r| !r.success).collect();
    if failed.is_empty() {
        OK
    } else if failed.iter().all(|r| {
        r.error_kind == Some(rotation_core::ErrorKind::InvalidConfig) && r.new_version.is_none()
    }) {
        USAGE
    } else {
        FAILED
    }
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// The value for `--value-stdin`: asked for twice without echo when stdin is a terminal, read
/// whole from a pipe or file otherwise.
fn read_value_stdin() -> Result<SecretValue, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return crate::prompt::ask_twice(stdin.as_fd())
            .map_err(|e| CliError::usage(format!("--value-stdin: {e}")));
    }
    let mut bytes = crate::prompt::read_all(&mut std::io::stdin())
        .map_err(|e| CliError::usage(format!("cannot read the value from stdin: {}", e.kind())))?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    let value = SecretValue::new(std::mem::take(&mut *bytes));
    if value.is_empty() {
        return Err(CliError::usage("--value-stdin: stdin is empty"));
    }
    Ok(value)
}

/// A supplied value the rotation would refuse is a usage error (exit 2), caught before the
/// engine starts so nothing is attempted or audited.
fn check_supplied_value(
    value: &SecretValue,
    binding: &rotation_core::SecretBinding,
) -> Result<(), CliError> {
    if binding.field.is_some() && value.expose_str().is_err() {
        return Err(CliError::usage(
            "--value-stdin: a JSON field secret needs a UTF-8 value",
        ));
    }
    let max = binding.store.capabilities().max_value_bytes;
    if value.len() > max {
        return Err(CliError::usage(format!(
            "--value-stdin: the value is {} bytes; the {} store accepts at most {max}",
            value.len(),
            binding.store.kind()
        )));
    }
    Ok(())
}

impl Report for RotationResult {
    fn text(&self, out: &mut String) {
        let mark = if self.success { "ok" } else { "FAILED" };
        line(
            out,
            format!(
                "{mark:6} {} {} -> {} [{}] {} ({:.1} ms){}",
                self.secret,
                opt(self.old_version.as_ref()),
                opt(self.new_version.as_ref()),
                self.strategy,
                self.status,
                self.duration_ms,
                self.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        );
    }
    fn names(&self) -> Vec<String> {
        vec![self.rotation_id.to_string()]
    }
    fn failures(&self) -> Vec<String> {
        if self.success {
            return Vec::new();
        }
        vec![format!(
            "{} rotation {} {}: {}",
            self.secret,
            self.rotation_id,
            self.status,
            self.error.as_deref().unwrap_or("-")
        )]
    }
}

/// One preflight check of a plan.
#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    ok: bool,
    detail: String,
    /// A failed check caused by the configuration (exit 2 rather than 1).
    #[serde(skip)]
    config: bool,
}

impl Check {
    fn new(check: &'static str, ok: bool, detail: String) -> Self {
        Self {
            check,
            ok,
            detail,
            config: false,
        }
    }

    /// A failed check: the store's error, exit 2 if the configuration caused it.
    fn failed(check: &'static str, detail: String, err: &rotation_core::Error) -> Self {
        Self {
            check,
            ok: false,
            detail,
            config: err.kind() == rotation_core::ErrorKind::InvalidConfig,
        }
    }
}

/// What `rotate` would do for one secret.
#[derive(Debug, Serialize)]
struct Plan {
    secret: String,
    store: String,
    store_kind: &'static str,
    path: String,
    field: Option<String>,
    policy: String,
    strategy: String,
    steps: Vec<&'static str>,
    generator: String,
    verifiers: Vec<String>,
    target: Option<String>,
    create_if_missing: bool,
    checks: Vec<Check>,
    ready: bool,
}

impl Report for Plan {
    fn text(&self, out: &mut String) {
        let p = self;
        line(
            out,
            format!(
                "{} ({} store {:?}, path {:?}{})",
                p.secret,
                p.store_kind,
                p.store,
                p.path,
                p.field
                    .as_ref()
                    .map(|f| format!(", field {f:?}"))
                    .unwrap_or_default()
            ),
        );
        line(
            out,
            format!(
                "  policy {}: {} via {}",
                p.policy,
                p.strategy,
                p.steps.join(" -> ")
            ),
        );
        line(
            out,
            format!(
                "  generator {}; verifiers: {}; target: {}",
                p.generator,
                if p.verifiers.is_empty() {
                    "none".into()
                } else {
                    p.verifiers.join(", ")
                },
                opt(p.target.as_ref())
            ),
        );
        for c in &p.checks {
            line(
                out,
                format!(
                    "  [{}] {}: {}",
                    if c.ok { "ok" } else { "!!" },
                    c.check,
                    c.detail
                ),
            );
        }
    }
    fn names(&self) -> Vec<String> {
        vec![self.secret.clone()]
    }
    fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}: {}", self.secret, c.check, c.detail))
            .collect()
    }
}

async fn dry_run(ctx: &Context, cfg: &Resolved, entries: &[&SecretEntry]) -> Result<u8, CliError> {
    // A program that cannot start is a config error (exit 2), not a failed plan.
    super::config_cmd::check_programs(ctx, entries)?;
    let mut plans = Vec::new();
    for entry in entries {
        plans.push(plan(cfg, entry).await);
    }
    emit(ctx, &plans);
    let failed = plans.iter().flat_map(|p| &p.checks).filter(|c| !c.ok);
    let mut code = OK;
    for c in failed {
        code = if c.config { USAGE } else { code.max(FAILED) };
    }
    Ok(code)
}

async fn plan(cfg: &Resolved, entry: &SecretEntry) -> Plan {
    let store_cfg = &cfg.stores[&entry.store];
    let strategy = entry.policy.strategy();
    let mut steps = vec!["read current"];
    steps.extend(match strategy {
        rotation_core::RotationStrategy::Immediate => ["write current (CAS)"].as_slice(),
        _ => ["stage pending"].as_slice(),
    });
    if entry.target.is_some() {
        steps.push("apply to target");
    }
    if !entry.verifiers.is_empty() {
        steps.push("verify");
    }
    if strategy == rotation_core::RotationStrategy::Staged {
        steps.extend(["promote (CAS)", "cleanup"]);
    }
    let mut checks = Vec::new();
    if let rotation_config::StoreConfig::File { root, .. } = store_cfg
        && !root.is_dir()
    {
        checks.push(Check::new(
            "store",
            entry.create_if_missing,
            format!(
                "store root {} does not exist{}",
                root.display(),
                if entry.create_if_missing {
                    " (it will be created)"
                } else {
                    ""
                }
            ),
        ));
    }
    if checks.is_empty() {
        checks.extend(read_checks(cfg, entry).await);
    }
    Plan {
        secret: entry.id.to_string(),
        store: entry.store.clone(),
        store_kind: store_cfg.kind(),
        path: entry.path.to_string(),
        field: entry.field.clone(),
        policy: entry.policy.name().to_owned(),
        strategy: strategy.to_string(),
        steps,
        generator: format!("{} = {}", entry.generator.0, entry.generator.1.describe()),
        verifiers: entry.verifiers.iter().map(|v| v.describe()).collect(),
        target: entry.target.as_ref().map(|t| t.describe()),
        create_if_missing: entry.create_if_missing,
        ready: checks.iter().all(|c| c.ok),
        checks,
    }
}

async fn read_checks(cfg: &Resolved, entry: &SecretEntry) -> Vec<Check> {
    let bindings = match cfg.bind_one(entry, rotation_config::Access::ReadOnly) {
        Ok(b) => b,
        Err(e) => return vec![Check::failed("store", e.to_string(), &e)],
    };
    let mut checks = Vec::new();
    let caps = bindings.store.capabilities();
    checks.push(Check::new(
        "store",
        true,
        format!(
            "{} store opened (max value {} bytes)",
            bindings.store.kind(),
            caps.max_value_bytes
        ),
    ));
    match bindings.store.read_current(&bindings.path).await {
        Ok(current) => {
            checks.push(Check::new(
                "read current",
                true,
                format!("current version {}", current.version),
            ));
            if let Some(f) = &entry.field {
                let parsed = field::extract(&current.value, f);
                checks.push(Check::new(
                    "field",
                    parsed.is_ok(),
                    parsed
                        .map(|_| format!("field {f:?} present"))
                        .unwrap_or_else(|e| e.to_string()),
                ));
            }
        }
        Err(e) if e.kind() == rotation_core::ErrorKind::NotFound => checks.push(Check::new(
            "read current",
            entry.create_if_missing,
            if entry.create_if_missing {
                "secret does not exist; it will be created".into()
            } else {
                format!("{e} (set create_if_missing = true to create it)")
            },
        )),
        Err(e) => {
            // The advisory check would fail the same way: one message is enough.
            checks.push(Check::failed("read current", e.to_string(), &e));
            return checks;
        }
    }
    match bindings.store.advisories(&bindings.path).await {
        Ok(warnings) => checks.extend(
            warnings
                .into_iter()
                .map(|w| Check::new("advisory", true, w)),
        ),
        Err(e) if e.kind() == rotation_core::ErrorKind::NotFound => {}
        Err(e) => checks.push(Check::failed(
            "advisory",
            format!("could not check: {e}"),
            &e,
        )),
    }
    checks
}
