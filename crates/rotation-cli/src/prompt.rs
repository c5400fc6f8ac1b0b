//! Reading a secret value from the terminal: asked twice on stderr with echo off, both answers
//! must match.
//!
//! Echo is switched off before the prompt is printed, so nothing typed after the prompt
//! appears, and what was typed before it is discarded (`TCSAFLUSH`) rather than becoming part
//! of the value. rpassword and dialoguer print the prompt first and switch echo off after, so
//! a quick typist (or a test) can have the first characters echoed. Ctrl-C does not kill the
//! process while echo is off (that would leave the terminal silent): signals from keys are off
//! and Ctrl-C ends the line instead (`VEOL`), which cancels the prompt and restores the modes.

use std::io::Write;
use std::os::fd::AsFd;

use rotation_core::SecretValue;
use rustix::termios::{
    LocalModes, OptionalActions, SpecialCodeIndex, Termios, tcgetattr, tcsetattr,
};
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
    /// Ctrl-C.
    #[error("cancelled; nothing was changed")]
    Cancelled,
    /// Longer than [`MAX_VALUE`] bytes.
    #[error("the value is longer than {MAX_VALUE} bytes; pipe it to --value-stdin instead")]
    TooLong,
}

/// Longest value read from a terminal (the buffer never grows, so no unwiped copy is left).
pub const MAX_VALUE: usize = 4096;

/// Ctrl-C.
const ETX: u8 = 0x03;

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
        // Ctrl-C ends the line (read as ETX) instead of killing us with echo off.
        quiet.local_modes.remove(LocalModes::ISIG);
        quiet.special_codes[SpecialCodeIndex::VEOL] = ETX;
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
    read_line(input)
}

/// One line from `input` without its line ending, read straight from the descriptor into one
/// buffer of [`MAX_VALUE`] bytes that never grows (no copy outside it keeps the value; it is
/// wiped).
fn read_line(input: &impl AsFd) -> Result<SecretValue, PromptError> {
    let mut line = Zeroizing::new(vec![0u8; MAX_VALUE + 2]);
    let mut len = 0;
    loop {
        if len == line.len() {
            return Err(PromptError::TooLong);
        }
        let n = match rustix::io::read(input, &mut line[len..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(PromptError::Terminal(e.into())),
        };
        len += n;
        if line[..len].contains(&ETX) {
            return Err(PromptError::Cancelled);
        }
        if n == 0 || line[..len].ends_with(b"\n") {
            break;
        }
    }
    let mut end = len;
    if line[..end].ends_with(b"\n") {
        end -= 1;
        if line[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    if end > MAX_VALUE {
        return Err(PromptError::TooLong);
    }
    line.truncate(end);
    Ok(SecretValue::new(std::mem::take(&mut *line)))
}

/// All of `input` (a pipe or a file given to `--value-stdin`); every buffer that held part of
/// it is wiped, also the ones left behind when it grows.
pub fn read_all(input: &mut impl std::io::Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_VALUE]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            let mut bigger = Zeroizing::new(vec![0u8; buf.len() * 2]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match input.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_all_reads_everything_across_growth() {
        let data: Vec<u8> = (0..3 * MAX_VALUE + 7).map(|i| (i % 251) as u8).collect();
        let got = read_all(&mut &data[..]).expect("read");
        assert_eq!(&got[..], &data[..]);
    }
}
