//! The `command` verifier and target.
//!
//! A configured program runs with the credential on its stdin (default) or in an environment
//! variable, never in argv (argv is world-readable in `/proc`). Exit status 0 passes. The program's
//! stdout and stderr are discarded, so a program that echoes the value cannot leak it into our
//! logs; only the exit status is reported. A timeout kills the program and fails closed.
//!
//! Each program runs as the leader of its own process group, and nothing in that group outlives
//! the call: on a timeout, on cancellation (the future dropped, e.g. its task aborted) and after
//! the leader exits, the whole group is sent `SIGKILL`, so no descendant keeps the value (in its
//! environment, with `value_via = "env"`). A descendant that leaves the group itself (`setsid`,
//! `setpgid`) is out of reach.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{Error, ErrorKind, Result, SecretValue, Target, Verifier, VerifyContext};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

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

/// A validated command, usable as a [`Verifier`] or a [`Target`].
#[derive(Debug, Clone)]
pub struct CommandRunner {
    name: String,
    program: String,
    args: Vec<String>,
    via: ValueVia,
    env: String,
    timeout: Duration,
    working_dir: Option<PathBuf>,
    failure_kind: ErrorKind,
    /// The target's revoke program (same settings, other argv).
    revoke: Option<Box<CommandRunner>>,
}

/// Default time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl CommandSpec {
    /// Validate; `section` is `verifiers` or `targets`, used to name fields in errors.
    fn build(&self, section: &str, name: &str, failure_kind: ErrorKind) -> Result<CommandRunner> {
        let field = |f: &str| format!("{section}.{name}.{f}");
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
            program: program.clone(),
            args: args.to_vec(),
            via: self.value_via,
            env,
            timeout,
            working_dir: self.working_dir.clone(),
            failure_kind,
            revoke: None,
        };
        let revoke = match &self.revoke {
            None => None,
            Some(_) if section != "targets" => {
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
        self.build("verifiers", name, ErrorKind::Verification)
    }

    /// A target named `name`.
    pub fn target(&self, name: &str) -> Result<CommandRunner> {
        self.build("targets", name, ErrorKind::Target)
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

    async fn run(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let fail = |msg: String| Error::new(self.failure_kind, msg);
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env("ROTATION_SECRET_ID", ctx.secret.as_str())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
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
        let mut group = ProcessGroup::spawn(&mut cmd)
            .map_err(|e| fail(format!("could not start {:?}: {}", self.program, e.kind())))?;
        let outcome = tokio::time::timeout(self.timeout, group.run(value)).await;
        // Timed out or not, whatever the program left running goes now (dropping `group`, on
        // cancellation too, does the same).
        group.kill();
        let status = match outcome {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(fail(format!(
                    "waiting for {:?} failed: {}",
                    self.program,
                    e.kind()
                )));
            }
            Err(_) => {
                // Reap the killed leader.
                let _ = group.child.wait().await;
                return Err(fail(format!(
                    "{:?} timed out after {:?}",
                    self.program, self.timeout
                )));
            }
        };
        tracing::debug!(command = %self.name, status = ?status.code(), "command finished");
        if status.success() {
            Ok(())
        } else {
            Err(fail(match status.code() {
                Some(code) => format!("{:?} exited with status {code}", self.program),
                None => format!("{:?} was killed by a signal", self.program),
            }))
        }
    }
}

/// A running program, leader of its own process group. Dropping it kills the group.
struct ProcessGroup {
    child: Child,
    /// The group's id (the leader's pid); `None` once the group was killed.
    pgid: Option<Pid>,
}

impl ProcessGroup {
    /// Spawn `cmd` as the leader of a new process group (the group exists when this returns).
    fn spawn(cmd: &mut Command) -> io::Result<Self> {
        let child = cmd.process_group(0).kill_on_drop(true).spawn()?;
        // `id()` is `None` only once the child was reaped, which cannot have happened yet;
        // should it, `child` is dropped here and `kill_on_drop` kills it.
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("the spawned program has no pid"))?;
        Ok(Self {
            child,
            pgid: Some(pgid),
        })
    }

    /// Give the value (on stdin, if piped) and wait for the leader to exit.
    async fn run(&mut self, value: &SecretValue) -> io::Result<ExitStatus> {
        if let Some(mut stdin) = self.child.stdin.take() {
            // A program that exits without reading stdin closes the pipe: not an error here,
            // its exit status decides.
            let _ = stdin.write_all(value.expose()).await;
            drop(stdin);
        }
        self.child.wait().await
    }

    /// `SIGKILL` to every process in the group, once. An empty group (`ESRCH`) is fine.
    ///
    /// While the leader is not reaped (timeout, cancellation) its pid cannot be reused, so the
    /// signal reaches only our group. After a normal exit the leader is reaped; a group with
    /// members left keeps its id reserved, and an empty one could only be hit if the kernel
    /// handed the same pid to a new group leader in the instant between reaping and this call.
    fn kill(&mut self) {
        let Some(pgid) = self.pgid.take() else {
            return;
        };
        match kill_process_group(pgid, Signal::KILL) {
            Ok(()) | Err(Errno::SRCH) => {}
            Err(e) => {
                tracing::warn!(pgid = pgid.as_raw_nonzero().get(), error = %e, "could not kill the command's process group")
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // Runs before `child` is dropped (which kills and reaps the leader in the background).
        self.kill();
    }
}

#[async_trait]
impl Verifier for CommandRunner {
    fn name(&self) -> &str {
        &self.name
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
                format!("target {} has no revoke command", self.name),
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
        VerifyContext {
            secret: "s".into(),
            rotation_id: None,
        }
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
