//! A running program as the leader of its own process group, whose stderr is read while it
//! runs. Dropping it kills the group.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use rotation_core::SecretValue;
use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, Command};

use crate::stderr::Tail;

/// How long stderr is read after the group was killed: what the program wrote before it exited
/// is in the pipe already; a descendant that left the group could hold it open for ever.
const DRAIN: Duration = Duration::from_millis(250);

/// A running program, leader of its own process group. Dropping it kills the group.
pub struct ProcessGroup {
    child: Child,
    stderr: Option<ChildStderr>,
    /// The group's id (the leader's pid); `None` once the group was killed.
    pgid: Option<Pid>,
}

impl ProcessGroup {
    /// Spawn `cmd` as the leader of a new process group (the group exists when this returns).
    pub fn spawn(cmd: &mut Command) -> io::Result<Self> {
        let mut child = cmd.process_group(0).kill_on_drop(true).spawn()?;
        // `id()` is `None` only once the child was reaped, which cannot have happened yet;
        // should it, `child` is dropped here and `kill_on_drop` kills it.
        let pgid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other("the spawned program has no pid"))?;
        Ok(Self {
            stderr: child.stderr.take(),
            child,
            pgid: Some(pgid),
        })
    }

    /// Give the value (on stdin, if piped) and wait for the leader to exit, reading stderr into
    /// `tail` meanwhile (a program blocked on a full pipe would never exit). Cancel-safe: what
    /// was read stays in `tail`, the rest in the pipe for [`ProcessGroup::drain`].
    pub async fn run(&mut self, value: &SecretValue, tail: &mut Tail) -> io::Result<ExitStatus> {
        let Self { child, stderr, .. } = self;
        let stdin = child.stdin.take();
        let exited = async move {
            if let Some(mut stdin) = stdin {
                // A program that exits without reading stdin closes the pipe: not an error
                // here, its exit status decides.
                let _ = stdin.write_all(value.expose()).await;
            }
            child.wait().await
        };
        tokio::pin!(exited);
        let mut open = stderr.is_some();
        loop {
            tokio::select! {
                status = &mut exited => return status,
                read = read_some(tail, stderr.as_mut()), if open => {
                    open = matches!(read, Ok(n) if n > 0);
                }
            }
        }
    }

    /// Wait for the killed leader, so it is not left a zombie.
    pub async fn reap(&mut self) {
        let _ = self.child.wait().await;
    }

    /// Read what is left of stderr, once the group is killed (bounded by [`DRAIN`]).
    pub async fn drain(&mut self, tail: &mut Tail) {
        let Some(mut pipe) = self.stderr.take() else {
            return;
        };
        let _ = tokio::time::timeout(DRAIN, async {
            while matches!(tail.read_from(&mut pipe).await, Ok(n) if n > 0) {}
        })
        .await;
    }

    /// `SIGKILL` to every process in the group, once. An empty group (`ESRCH`) is fine.
    ///
    /// While the leader is not reaped (timeout, cancellation) its pid cannot be reused, so the
    /// signal reaches only our group. After a normal exit the leader is reaped; a group with
    /// members left keeps its id reserved, and an empty one could only be hit if the kernel
    /// handed the same pid to a new group leader in the instant between reaping and this call.
    pub fn kill(&mut self) {
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

/// One read, or nothing (pending for ever) when there is no pipe.
async fn read_some(tail: &mut Tail, pipe: Option<&mut ChildStderr>) -> io::Result<usize> {
    match pipe {
        Some(pipe) => tail.read_from(pipe).await,
        None => std::future::pending().await,
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // Runs before `child` is dropped (which kills and reaps the leader in the background).
        self.kill();
    }
}
