//! Reading a secret value from the terminal: asked twice on stderr with echo off, both answers
//! must match.
//!
//! Echo is switched off before the prompt is printed, so nothing typed after the prompt
//! appears, and what was typed before it is discarded (`TCSAFLUSH`) rather than becoming part
//! of the value. rpassword and dialoguer print the prompt first and switch echo off after, so
//! a quick typist (or a test) can have the first characters echoed.

use std::io::Write;
use std::os::fd::AsFd;

use rotation_core::SecretValue;
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use zeroize::Zeroizing;

/// Why no value was read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The terminal could not be read or configured.
    #[error("cannot read the value from the terminal: {0}")]
    Terminal(std::io::Error),
    /// The two answers differ.
    #[error("the two values do not match; nothing was changed")]
    Mismatch,
    /// An empty answer (or end of input).
    #[error("the value is empty; nothing was changed")]
    Empty,
}

/// Restores the terminal's modes when dropped (also on an early return).
struct EchoOff<Fd: AsFd> {
    fd: Fd,
    saved: Termios,
}

impl<Fd: AsFd> EchoOff<Fd> {
    fn new(fd: Fd) -> std::io::Result<Self> {
        let saved = tcgetattr(&fd)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        // Still echo the newline of Enter, so the next prompt starts on a new line.
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(&fd, OptionalActions::Flush, &quiet)?;
        Ok(Self { fd, saved })
    }
}

impl<Fd: AsFd> Drop for EchoOff<Fd> {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Ask for a value on the terminal `input` (prompts on stderr), twice, without echo.
pub fn ask_twice(input: impl AsFd) -> Result<SecretValue, PromptError> {
    let _echo = EchoOff::new(input.as_fd()).map_err(PromptError::Terminal)?;
    let first = ask(&input, "New value (not echoed): ")?;
    if first.is_empty() {
        return Err(PromptError::Empty);
    }
    let second = ask(&input, "Repeat the value: ")?;
    if first != second {
        return Err(PromptError::Mismatch);
    }
    Ok(first)
}

fn ask(input: &impl AsFd, prompt: &str) -> Result<SecretValue, PromptError> {
    let mut stderr = std::io::stderr().lock();
    stderr
        .write_all(prompt.as_bytes())
        .and_then(|()| stderr.flush())
        .map_err(PromptError::Terminal)?;
    drop(stderr);
    read_line(input).map_err(PromptError::Terminal)
}

/// One line from `input` without its line ending, read straight from the descriptor (no
/// buffer outside ours keeps the value; ours are wiped).
fn read_line(input: &impl AsFd) -> std::io::Result<SecretValue> {
    let mut line = Zeroizing::new(Vec::new());
    let mut chunk = Zeroizing::new([0u8; 512]);
    loop {
        let n = match rustix::io::read(input, &mut chunk[..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        line.extend_from_slice(&chunk[..n]);
        if n == 0 || line.ends_with(b"\n") {
            break;
        }
    }
    if line.ends_with(b"\n") {
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
    }
    Ok(SecretValue::new(std::mem::take(&mut *line)))
}
