//! The `command` verifier and target.
//!
//! A configured program runs with the credential on its stdin (default) or in an environment
//! variable, never in argv (argv is world-readable in `/proc`). Exit status 0 passes. A timeout
//! kills the program and fails closed.
//!
//! Its stdout is discarded. Its stderr is read while it runs, keeping only the last 4 KiB (see
//! [`stderr`]); every occurrence of the value it was given and of the rotation's other values
//! ([`VerifyContext::related_values`]) is replaced by `[redacted]`. A failure's error names the
//! verifier or target by its config name and the program, and ends with that stderr on one line
//! (its last 1 KiB); it is also logged (multi-line) at info level, at debug level after a
//! success. A program that prints a secret other than these (an admin password it uses) prints
//! it to our logs: that is the program's business.
//!
//! [`CommandRunner::check`] checks, without running anything, that the programs exist and are
//! executable (`config check`, `rotate --dry-run`).
//!
//! Each program runs as the leader of its own process group, and nothing in that group outlives
//! the call: on a timeout, on cancellation (the future dropped, e.g. its task aborted) and after
//! the leader exits, the whole group is sent `SIGKILL`, so no descendant keeps the value (in its
//! environment, with `value_via = "env"`). A descendant that leaves the group itself (`setsid`,
//! `setpgid`) is out of reach.
#![forbid(unsafe_code)]

mod group;
mod program;
pub mod stderr;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{Error, ErrorKind, Result, SecretValue, Target, Verifier, VerifyContext};
use serde::Deserialize;
use tokio::process::Command;

use crate::group::ProcessGroup;
use crate::stderr::Tail;

/// How the value reaches the program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueVia {
    /// Written to stdin, then stdin is closed.
    #[default]
    Stdin,
    /// Set in the environment variable named by `env`.
    Env,
}

/// The `[verifiers.<name>]` / `[targets.<name>]` table of `kind = "command"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Program and arguments (no value may appear here).
    pub command: Vec<String>,
    /// How the value is passed.
    #[serde(default)]
    pub value_via: ValueVia,
    /// Variable name when `value_via = "env"` (default `ROTATION_VALUE`).
    #[serde(default)]
    pub env: Option<String>,
    /// Time limit, e.g. `"10s"` (default 30s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Targets only: a program that revokes the *old* credential, given to it the same way as
    /// to `command` (emergency rotations run it after the new credential is current).
    #[serde(default)]
    pub revoke: Option<Vec<String>>,
}

/// What a runner is in the config: names it in errors, logs and config fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Verifier,
    Target,
    /// A target's revoke program.
    Revoke,
}

impl Role {
    fn failure_kind(self) -> ErrorKind {
        match self {
            Role::Verifier => ErrorKind::Verification,
            Role::Target | Role::Revoke => ErrorKind::Target,
        }
    }

    fn section(self) -> &'static str {
        match self {
            Role::Verifier => "verifiers",
            Role::Target | Role::Revoke => "targets",
        }
    }

    /// The key of the program's argv.
    fn program_key(self) -> &'static str {
        match self {
            Role::Verifier | Role::Target => "command",
            Role::Revoke => "revoke",
        }
    }
}

/// A validated command, usable as a [`Verifier`] or a [`Target`].
#[derive(Debug, Clone)]
pub struct CommandRunner {
    /// The config name (`[verifiers.<name>]`).
    name: String,
    role: Role,
    program: String,
    args: Vec<String>,
    via: ValueVia,
    env: String,
    timeout: Duration,
    working_dir: Option<PathBuf>,
    /// The target's revoke program (same settings, other argv).
    revoke: Option<Box<CommandRunner>>,
}

/// Default time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl CommandSpec {
    /// Validate; `role` names the fields in errors.
    fn build(&self, role: Role, name: &str) -> Result<CommandRunner> {
        let field = |f: &str| format!("{}.{name}.{f}", role.section());
        let (program, args) = self
            .command
            .split_first()
            .filter(|(p, _)| !p.trim().is_empty())
            .ok_or_else(|| Error::config(field("command"), "must name a program"))?;
        let env = self
            .env
            .clone()
            .unwrap_or_else(|| "ROTATION_VALUE".to_owned());
        let valid_env = !env.is_empty()
            && !env.starts_with(|c: char| c.is_ascii_digit())
            && env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_env {
            return Err(Error::config(
                field("env"),
                format!("{env:?} is not a valid variable name"),
            ));
        }
        let timeout = match &self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => humantime::parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Error::config(
                        field("timeout"),
                        format!("{t:?} is not a duration such as \"10s\""),
                    )
                })?,
        };
        let runner = CommandRunner {
            name: name.to_owned(),
            role,
            program: program.clone(),
            args: args.to_vec(),
            via: self.value_via,
            env,
            timeout,
            working_dir: self.working_dir.clone(),
            revoke: None,
        };
        let revoke = match &self.revoke {
            None => None,
            Some(_) if role != Role::Target => {
                return Err(Error::config(
                    field("revoke"),
                    "only targets revoke credentials",
                ));
            }
            Some(argv) => {
                let (program, args) = argv
                    .split_first()
                    .filter(|(p, _)| !p.trim().is_empty())
                    .ok_or_else(|| Error::config(field("revoke"), "must name a program"))?;
                Some(Box::new(CommandRunner {
                    role: Role::Revoke,
                    program: program.clone(),
                    args: args.to_vec(),
                    ..runner.clone()
                }))
            }
        };
        Ok(CommandRunner { revoke, ..runner })
    }

    /// A verifier named `name`.
    pub fn verifier(&self, name: &str) -> Result<CommandRunner> {
        self.build(Role::Verifier, name)
    }

    /// A target named `name`.
    pub fn target(&self, name: &str) -> Result<CommandRunner> {
        self.build(Role::Target, name)
    }
}

impl CommandRunner {
    /// A short, value-free description for plans.
    pub fn describe(&self) -> String {
        let via = match self.via {
            ValueVia::Stdin => "stdin".to_owned(),
            ValueVia::Env => format!("${}", self.env),
        };
        format!(
            "command {} (value via {via}, timeout {:?})",
            self.program, self.timeout
        )
    }

    /// Static checks, nothing runs: the working directory is a directory, and the program (and
    /// the revoke program) is found, like `execvp` finds it, as an executable regular file. A
    /// failure is an [`ErrorKind::InvalidConfig`] error naming the field.
    pub fn check(&self) -> Result<()> {
        let field = |key: &str| format!("{}.{}.{key}", self.role.section(), self.name);
        if let Some(dir) = &self.working_dir
            && !dir.is_dir()
        {
            return Err(Error::config(
                field("working_dir"),
                format!("{} is not a directory", dir.display()),
            ));
        }
        program::resolve(&self.program, self.working_dir.as_deref())
            .map_err(|message| Error::config(field(self.role.program_key()), message))?;
        match &self.revoke {
            Some(revoke) => revoke.check(),
            None => Ok(()),
        }
    }

    /// `verifier "db-login" (program "sh")`: how errors name this runner.
    fn label(&self) -> String {
        match self.role {
            Role::Verifier => format!("verifier {:?} (program {:?})", self.name, self.program),
            Role::Target => format!("target {:?} (program {:?})", self.name, self.program),
            Role::Revoke => format!("target {:?} (revoke program {:?})", self.name, self.program),
        }
    }

    /// The program with its environment; the value goes to stdin later, or into `env` here.
    fn command(&self, ctx: &VerifyContext, value: &SecretValue) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env("ROTATION_SECRET_ID", ctx.secret.as_str())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(rid) = &ctx.rotation_id {
            cmd.env("ROTATION_ID", rid.as_str());
        }
        if let Some(dir) = &self.working_dir {
            cmd.current_dir(dir);
        }
        match self.via {
            ValueVia::Stdin => {
                cmd.stdin(Stdio::piped());
            }
            ValueVia::Env => {
                cmd.stdin(Stdio::null())
                    .env(&self.env, OsStr::from_bytes(value.expose()));
            }
        }
        cmd
    }

    async fn run(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        // Every value the program could echo: the one it is given and the rotation's others.
        let secrets: Vec<&SecretValue> =
            std::iter::once(value).chain(&ctx.related_values).collect();
        let mut cmd = self.command(ctx, value);
        let mut group = ProcessGroup::spawn(&mut cmd).map_err(|e| {
            Error::new(
                self.role.failure_kind(),
                format!("{}: could not start: {}", self.label(), e.kind()),
            )
        })?;
        let mut tail = Tail::new(secrets.iter().map(|v| v.len()).max().unwrap_or(0));
        let outcome = tokio::time::timeout(self.timeout, group.run(value, &mut tail)).await;
        // Timed out or not, whatever the program left running goes now (dropping `group`, on
        // cancellation too, does the same).
        group.kill();
        let failure = match outcome {
            Ok(Ok(status)) => {
                tracing::debug!(command = %self.name, status = status.code(), "command finished");
                (!status.success()).then(|| exit_failure(status))
            }
            Ok(Err(e)) => Some(format!("waiting for it failed: {}", e.kind())),
            Err(_) => {
                group.reap().await;
                Some(format!("timed out after {:?}", self.timeout))
            }
        };
        group.drain(&mut tail).await;
        let stderr = tail.scrubbed(&secrets);
        drop(tail);
        self.log(failure.as_deref(), stderr.trim_end());
        match failure {
            None => Ok(()),
            Some(failure) => {
                let line = stderr::one_line(&stderr, &secrets);
                let sep = if line.is_empty() { "" } else { ": " };
                Err(Error::new(
                    self.role.failure_kind(),
                    format!("{}: {failure}{sep}{line}", self.label()),
                ))
            }
        }
    }

    /// The scrubbed stderr at info level after a failure (`-v` shows it), at debug level after
    /// a success that wrote some.
    fn log(&self, failure: Option<&str>, stderr: &str) {
        let (name, program) = (&self.name, &self.program);
        match (failure, self.role) {
            (Some(failure), Role::Verifier) => {
                tracing::info!(verifier = %name, %program, %failure, %stderr, "command verifier failed")
            }
            (Some(failure), Role::Target) => {
                tracing::info!(target = %name, %program, %failure, %stderr, "command target failed")
            }
            (Some(failure), Role::Revoke) => {
                tracing::info!(target = %name, %program, %failure, %stderr, "command revoke failed")
            }
            (None, _) if stderr.is_empty() => {}
            (None, Role::Verifier) => {
                tracing::debug!(verifier = %name, %program, %stderr, "command verifier passed")
            }
            (None, Role::Target) => {
                tracing::debug!(target = %name, %program, %stderr, "command target passed")
            }
            (None, Role::Revoke) => {
                tracing::debug!(target = %name, %program, %stderr, "command revoke passed")
            }
        }
    }
}

/// `exited with status 2`, `was killed by signal 9`.
fn exit_failure(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended abnormally ({status})"),
    }
}

#[async_trait]
impl Verifier for CommandRunner {
    fn name(&self) -> &str {
        &self.name
    }
    fn describe(&self) -> String {
        CommandRunner::describe(self)
    }
    fn check(&self) -> Result<()> {
        CommandRunner::check(self)
    }
    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.run(ctx, value).await
    }
}

#[async_trait]
impl Target for CommandRunner {
    fn name(&self) -> &str {
        &self.name
    }
    fn describe(&self) -> String {
        CommandRunner::describe(self)
    }
    fn check(&self) -> Result<()> {
        CommandRunner::check(self)
    }
    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.run(ctx, value).await
    }
    fn can_revoke(&self) -> bool {
        self.revoke.is_some()
    }
    async fn revoke(&self, ctx: &VerifyContext, old: &SecretValue) -> Result<()> {
        match &self.revoke {
            Some(r) => r.run(ctx, old).await,
            None => Err(Error::new(
                ErrorKind::NotSupported,
                format!("target {:?} has no revoke command", self.name),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &[&str], via: ValueVia, timeout: Option<&str>) -> CommandSpec {
        CommandSpec {
            command: cmd.iter().map(|s| s.to_string()).collect(),
            value_via: via,
            env: None,
            timeout: timeout.map(str::to_owned),
            working_dir: None,
            revoke: None,
        }
    }

    fn ctx() -> VerifyContext {
        VerifyContext::new("s".into(), None)
    }

    #[tokio::test]
    async fn value_on_stdin_or_env_and_exit_status_decides() {
        let stdin = spec(
            &["sh", "-c", r#"[ "$(cat)" = "s3cret" ]"#],
            ValueVia::Stdin,
            None,
        )
        .verifier("v")
        .unwrap();
        stdin
            .verify(&ctx(), &SecretValue::from("s3cret"))
            .await
            .unwrap();
        let err = stdin
            .verify(&ctx(), &SecretValue::from("other"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Verification);
        assert!(!err.to_string().contains("other"));
        let env = spec(
            &["sh", "-c", r#"[ "$ROTATION_VALUE" = "s3cret" ]"#],
            ValueVia::Env,
            None,
        )
        .verifier("v")
        .unwrap();
        env.verify(&ctx(), &SecretValue::from("s3cret"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn timeout_and_missing_program_fail_closed() {
        let slow = spec(&["sleep", "5"], ValueVia::Stdin, Some("100ms"))
            .target("t")
            .unwrap();
        let err = slow
            .apply(&ctx(), &SecretValue::from("x"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert_eq!(err.kind(), ErrorKind::Target);
        let missing = spec(&["/nonexistent/prog"], ValueVia::Stdin, None)
            .verifier("v")
            .unwrap();
        assert!(
            missing
                .verify(&ctx(), &SecretValue::from("x"))
                .await
                .is_err()
        );
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let e = spec(&[], ValueVia::Stdin, None).verifier("v").unwrap_err();
        assert!(e.to_string().contains("verifiers.v.command"), "{e}");
        let e = spec(&["true"], ValueVia::Stdin, Some("soon"))
            .target("t")
            .unwrap_err();
        assert!(e.to_string().contains("targets.t.timeout"), "{e}");
    }
}
