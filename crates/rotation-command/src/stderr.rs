//! The program's stderr: the last [`LIMIT`] bytes are kept while reading (a chatty program cannot
//! grow our memory), then every occurrence of a secret value is replaced by [`REDACTED`].
//!
//! Scrubbing sees a few more bytes than it shows (the longest value minus one), so a value cut
//! by the limit is still found whole and removed whole. The raw bytes live in one buffer that is
//! never reallocated and is zeroized on drop.

use std::io;

use rotation_core::SecretValue;
use tokio::io::{AsyncRead, AsyncReadExt};
use zeroize::Zeroizing;

/// How much of the end of stderr is kept (and shown in `-v` logs).
pub const LIMIT: usize = 4096;
/// How much of the end of the one-line form goes into the error message.
pub const ERROR_LIMIT: usize = 1024;
/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Size of one read.
const CHUNK: usize = 8192;

/// The end of a stream, bounded.
pub struct Tail {
    /// Bytes kept: at most `2 * keep` between reads (trimmed to `keep` lazily).
    buf: Zeroizing<Vec<u8>>,
    chunk: Zeroizing<Vec<u8>>,
    /// `LIMIT` plus the overlap a value split by the cut needs.
    keep: usize,
}

impl Tail {
    /// A tail able to scrub values up to `longest` bytes.
    pub fn new(longest: usize) -> Self {
        let keep = LIMIT + longest.saturating_sub(1);
        Self {
            // Room for the worst case, so the buffer never moves (a move would leave a copy).
            buf: Zeroizing::new(Vec::with_capacity(2 * keep + CHUNK)),
            chunk: Zeroizing::new(vec![0; CHUNK]),
            keep,
        }
    }

    /// Append bytes (tests feed the tail directly).
    #[cfg(test)]
    pub fn push(&mut self, bytes: &[u8]) {
        for part in bytes.chunks(CHUNK) {
            append(&mut self.buf, self.keep, part);
        }
    }

    /// One read from `from` into the tail; `Ok(0)` at the end of the stream. Cancel-safe.
    pub async fn read_from(&mut self, from: &mut (impl AsyncRead + Unpin)) -> io::Result<usize> {
        let n = from.read(&mut self.chunk[..]).await?;
        append(&mut self.buf, self.keep, &self.chunk[..n]);
        Ok(n)
    }

    /// The last [`LIMIT`] bytes with every occurrence of `values` replaced, as text (lossy
    /// UTF-8, control characters other than newline and tab replaced too).
    pub fn scrubbed(&self, values: &[&SecretValue]) -> String {
        let raw = &self.buf[..];
        let cut = raw.len().saturating_sub(LIMIT);
        let mut out = Vec::with_capacity(raw.len() - cut);
        let mut pos = cut;
        for (start, end) in occurrences(raw, values) {
            if end <= cut {
                continue;
            }
            if start > pos {
                out.extend_from_slice(&raw[pos..start]);
            }
            out.extend_from_slice(REDACTED.as_bytes());
            pos = pos.max(end);
        }
        out.extend_from_slice(&raw[pos..]);
        // Replace, never delete: deleting could join two pieces into a value.
        let text: String = String::from_utf8_lossy(&out)
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect();
        // Replacements can make the text longer than the raw bytes it shows.
        tail_chars(&text, LIMIT).to_owned()
    }
}

/// Append at most [`CHUNK`] bytes, forgetting all but the last `keep` once twice that is held
/// (so the buffer's capacity always suffices).
fn append(buf: &mut Vec<u8>, keep: usize, bytes: &[u8]) {
    buf.extend_from_slice(bytes);
    if buf.len() > 2 * keep {
        buf.drain(..buf.len() - keep);
    }
}

/// Sorted, merged byte ranges of every occurrence (overlapping ones too) of the non-empty
/// `values` in `raw`.
fn occurrences(raw: &[u8], values: &[&SecretValue]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    for v in values.iter().map(|v| v.expose()).filter(|v| !v.is_empty()) {
        if v.len() > raw.len() {
            continue;
        }
        ranges.extend(
            raw.windows(v.len())
                .enumerate()
                .filter(|(_, w)| *w == v)
                .map(|(i, _)| (i, i + v.len())),
        );
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The scrubbed text as one line for an error message: trimmed lines joined by ` | `, the last
/// [`ERROR_LIMIT`] bytes (`...` in front when cut). Scrubbed again, since joining lines could
/// form a value that contains ` | `.
pub fn one_line(text: &str, values: &[&SecretValue]) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    let joined = rescrub(joined, values);
    let tail = tail_chars(&joined, ERROR_LIMIT);
    if tail.len() < joined.len() {
        format!("...{tail}")
    } else {
        joined
    }
}

fn rescrub(mut text: String, values: &[&SecretValue]) -> String {
    for v in values {
        if let Ok(v) = std::str::from_utf8(v.expose())
            && !v.is_empty()
            && text.contains(v)
        {
            text = text.replace(v, REDACTED);
        }
    }
    text
}

/// The longest suffix of `s` of at most `max` bytes that starts on a character boundary.
fn tail_chars(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(raw: &[u8], values: &[&str]) -> String {
        let values: Vec<SecretValue> = values.iter().map(|v| SecretValue::from(*v)).collect();
        let refs: Vec<&SecretValue> = values.iter().collect();
        let mut tail = Tail::new(values.iter().map(SecretValue::len).max().unwrap_or(0));
        tail.push(raw);
        tail.scrubbed(&refs)
    }

    #[test]
    fn every_occurrence_of_every_value_goes() {
        let out = scrub(b"new=N3W old=0LD again N3WN3W", &["N3W", "0LD"]);
        assert_eq!(out, "new=[redacted] old=[redacted] again [redacted]");
    }

    #[test]
    fn overlapping_values_go_whole() {
        assert_eq!(scrub(b"xabcabcx", &["abca", "cabc"]), "x[redacted]x");
        assert_eq!(scrub(b"aaaa", &["aa"]), "[redacted]");
    }

    #[test]
    fn a_value_cut_by_the_limit_goes_whole() {
        let value = "SPLIT-s3cret-value";
        for shift in 0..value.len() + 2 {
            let mut raw = b"x".repeat(10_000);
            // The value straddles the cut by `shift` bytes.
            let at = raw.len() - LIMIT - value.len() + shift;
            raw.splice(at..at + value.len(), value.bytes());
            let out = scrub(&raw, &[value]);
            assert!(out.len() <= LIMIT);
            for piece in ["SPLIT", "s3cret", "-value", "lue"] {
                assert!(!out.contains(piece), "shift {shift}: {piece} in output");
            }
        }
    }

    #[test]
    fn memory_stays_bounded_and_the_end_is_kept() {
        let mut tail = Tail::new(8);
        for _ in 0..1000 {
            tail.push(&[b'a'; 1000]);
        }
        tail.push(b"the end");
        assert!(tail.buf.len() <= 2 * tail.keep);
        assert!(tail.buf.capacity() <= 2 * tail.keep + CHUNK);
        let out = tail.scrubbed(&[]);
        assert_eq!(out.len(), LIMIT);
        assert!(out.ends_with("the end"));
    }

    #[test]
    fn invalid_utf8_and_control_characters_are_replaced_not_removed() {
        let out = scrub(b"ab\xffcd\x1b[31mred\x00x\n", &["abcd"]);
        assert_eq!(out, "ab\u{fffd}cd\u{fffd}[31mred\u{fffd}x\n");
    }

    #[test]
    fn one_line_joins_trims_bounds_and_rescrubs() {
        let v = SecretValue::from("a | b");
        assert_eq!(one_line("  first \n\n second\n", &[]), "first | second");
        assert_eq!(one_line("a\nb", &[&v]), REDACTED);
        let long = "y".repeat(5000) + "\nlast words";
        let line = one_line(&long, &[]);
        assert!(line.starts_with("...") && line.ends_with("last words"));
        assert!(line.len() <= ERROR_LIMIT + 3);
    }
}
