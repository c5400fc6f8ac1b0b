//! The EXAMPLES sections of `--help` (one per command, shown after the options) and the man
//! pages generated from the same clap definitions (`rotation manpages DIR`, run by
//! `cargo xtask man`).

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// `rotation --help`.
pub const ROOT: &str = "\
Examples:
  rotation init                        write ./rotation.toml, a file store and a demo secret
  rotation rotate --all                rotate every configured secret now
  rotation -c /etc/rotation.toml run   rotate what is due (from cron or a systemd timer)
  rotation status -o json              every secret's versions and schedule as JSON

The config is --config, else the nearest rotation.toml in the current directory or a parent,
else $ROTATION_CONFIG. Logs: -v info, -vv debug, -vvv trace; without -v, $ROTATION_LOG or
$RUST_LOG (a tracing filter) applies, else warnings only. NO_COLOR disables colours.";

/// `init`.
pub const INIT: &str = "\
Examples:
  rotation init                           ./rotation.toml
  rotation init --dir ~/rotation-demo     ~/rotation-demo/rotation.toml
  rotation -c ops/rotation.toml init      ops/rotation.toml (its store beside it)
  rotation init --force                   overwrite an existing config";

/// `rotate`.
pub const ROTATE: &str = "\
Examples:
  rotation rotate db-password             rotate one secret
  rotation rotate --all                   rotate every configured secret
  rotation rotate db-password --dry-run   print the plan and run read-only checks
  printf %s \"$NEW\" | rotation rotate api-key --value-stdin
  rotation rotate api-key --value-stdin   on a terminal: asks twice, without echo";

/// `status`.
pub const STATUS: &str = "\
Examples:
  rotation status                  every secret
  rotation status db-password      one secret
  rotation status -o json          as JSON";

/// `stats`.
pub const STATS: &str = "\
Examples:
  rotation stats             totals, success rate, schedules
  rotation stats --reset     start the counters again (recorded in the audit log)";

/// `verify`.
pub const VERIFY: &str = "\
Examples:
  rotation verify db-password     run its verifiers against the current value (audited)";

/// `rollback`.
pub const ROLLBACK: &str = "\
Examples:
  rotation rollback db-password   make the previous version current and re-apply it";

/// `history`.
pub const HISTORY: &str = "\
Examples:
  rotation history db-password           versions and audit records
  rotation history db-password -o json   as JSON";

/// `audit`.
pub const AUDIT: &str = "\
Examples:
  rotation audit verify          check the hash chain
  rotation audit repair          record a break after inspecting the log (asks first)
  rotation audit repair --yes    the same without asking (scripts)";

/// `audit verify`.
pub const AUDIT_VERIFY: &str = "\
Examples:
  rotation audit verify            exit 0 when the chain is intact
  rotation audit verify -o json    records checked, acknowledged breaks, the first break";

/// `audit repair`.
pub const AUDIT_REPAIR: &str = "\
Examples:
  rotation audit repair          show the breaks, ask, then record them
  rotation audit repair --yes    record them without asking

A repair appends one `chain_repaired` record naming each break (line, expected and found
hashes) and continues the chain from the log as it is. Writing commands refuse to run on a
broken chain until then. Inspect the log (and restore it from a backup if you can) first.";

/// `config`.
pub const CONFIG: &str = "\
Examples:
  rotation config check                      validate ./rotation.toml (or the nearest one)
  rotation -c /etc/rotation.toml config check";

/// `config check`.
pub const CONFIG_CHECK: &str = CONFIG;

/// `run`.
pub const RUN: &str = "\
Examples:
  rotation run                                  rotate what is due once (cron, systemd timer)
  rotation run --watch                          keep going, checking every 30s
  rotation run --watch --tick 5m --concurrency 8";

/// `recover`.
pub const RECOVER: &str = "\
Examples:
  rotation recover    finish or roll back rotations a crashed process left behind";

/// `schedule`.
pub const SCHEDULE: &str = "\
Examples:
  rotation schedule list
  rotation schedule pause db-password     skip it until resumed
  rotation schedule resume db-password    also lifts a quarantine
  rotation schedule disable db-password   never rotate it automatically";

/// `completions`.
pub const COMPLETIONS: &str = "\
Examples:
  rotation completions bash > /etc/bash_completion.d/rotation
  rotation completions zsh > \"${fpath[1]}/_rotation\"";

/// Write one man page per command and subcommand into `dir` (`rotation.1`,
/// `rotation-rotate.1`, `rotation-audit-verify.1`, ...).
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut cmd = Cli::command();
    // Built, so every subcommand's page lists the global options too.
    cmd.build();
    write_page(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_page(cmd: clap::Command, dir: &Path, written: &mut Vec<String>) -> std::io::Result<()> {
    let name = cmd.get_name().to_owned();
    let file = format!("{name}.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(&file), page)?;
    written.push(file);
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let full = format!("{name}-{}", sub.get_name());
        let sub = sub.clone().name(full.clone()).bin_name(full);
        write_page(sub, dir, written)?;
    }
    Ok(())
}
