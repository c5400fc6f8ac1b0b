//! Just enough Rust lexing for the checks: blank out comments and literals, split into tokens,
//! and find the `.rs` files of a directory tree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `src` with comments and string/char literals replaced by spaces (newlines kept), so byte
/// offsets and line numbers still match and nothing inside them looks like code.
pub fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let prev_ident = i > 0 && is_ident(b[i - 1]);
        let end = match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n),
            b'/' if b.get(i + 1) == Some(&b'*') => block_comment_end(b, i),
            b'"' => string_end(b, i),
            b'r' if !prev_ident || raw_prefix(b, i) => match raw_string_end(b, i) {
                Some(end) => end,
                None => {
                    i += 1;
                    continue;
                }
            },
            b'\'' => match char_end(b, i) {
                Some(end) => end,
                None => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        };
        blank(&mut out, i, end);
        i = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// `br"..."` / `cr"..."`: the `r` follows a one-letter prefix.
fn raw_prefix(b: &[u8], i: usize) -> bool {
    i > 0 && matches!(b[i - 1], b'b' | b'c') && (i < 2 || !is_ident(b[i - 2]))
}

fn block_comment_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0, start);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// `r"..."`, `r#"..."#`: None if `r` starts an identifier instead.
fn raw_string_end(b: &[u8], start: usize) -> Option<usize> {
    let hashes = b[start + 1..].iter().take_while(|&&c| c == b'#').count();
    let open = start + 1 + hashes;
    if b.get(open) != Some(&b'"') {
        return None;
    }
    let mut i = open + 1;
    while i < b.len() {
        if b[i] == b'"'
            && b[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(b.len())
}

/// `'x'`, `'\n'`, `'\u{1F600}'`, `'é'`: None for a lifetime or label (`'a`).
fn char_end(b: &[u8], start: usize) -> Option<usize> {
    if b.get(start + 1) == Some(&b'\\') {
        let close = b[start + 2..].iter().take(12).position(|&c| c == b'\'')?;
        return Some(start + 2 + close + 1);
    }
    let rest = std::str::from_utf8(&b[start + 1..(start + 5).min(b.len())])
        .or_else(|e| std::str::from_utf8(&b[start + 1..start + 1 + e.valid_up_to()]))
        .ok()?;
    let c = rest.chars().next()?;
    let after = start + 1 + c.len_utf8();
    (b.get(after) == Some(&b'\'')).then_some(after + 1)
}

/// A token of stripped source: an identifier or number, `::`, or one punctuation character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub offset: usize,
}

/// Tokens of `stripped` (the output of [`strip`]).
pub fn tokens(stripped: &str) -> Vec<Token<'_>> {
    let b = stripped.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        } else if is_ident(b[i]) {
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
        } else if b[i] == b':' && b.get(i + 1) == Some(&b':') {
            i += 2;
        } else {
            i += 1;
        }
        if let Some(text) = stripped.get(start..i) {
            out.push(Token {
                text,
                offset: start,
            });
        }
    }
    out
}

/// Texts of `tokens`, for matching sequences.
pub fn texts<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    tokens.iter().map(|t| t.text).collect()
}

/// 1-based line of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

/// Index of the token closing the bracket opened at `open` (`(`, `[` or `{`).
pub fn matching(tokens: &[Token<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every file under `dir` whose name ends with `ext` (e.g. ".rs"), sorted; skips `target` and
/// hidden directories.
pub fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, &mut |p| {
        if p.to_string_lossy().ends_with(ext) {
            out.push(p.to_path_buf());
        }
    })?;
    out.sort();
    Ok(out)
}

/// Calls `f` with every file and directory below `dir` (not `dir` itself).
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        f(&path);
        if path.is_dir() {
            walk(&path, f)?;
        }
    }
    Ok(())
}

pub fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_blanks_comments_and_literals_only() {
        let src = "a // x::y\n/* b /* c */ d */ e \"f::g\\\"\" r#\"h\"i\"# 'j' '\\n' 'k: k\nbr\"z\" for_r";
        let s = strip(src);
        assert_eq!(s.len(), src.len());
        assert_eq!(
            texts(&tokens(&s)),
            ["a", "e", "'", "k", ":", "k", "b", "for_r"]
        );
        assert_eq!(line_of(&s, s.find('e').unwrap()), 2);
    }

    #[test]
    fn tokens_and_brackets() {
        let s = "m!(@x $a; b, c) { d }";
        let t = tokens(s);
        assert_eq!(texts(&t)[..5], ["m", "!", "(", "@", "x"]);
        assert_eq!(t[matching(&t, 2).unwrap()].text, ")");
        assert_eq!(texts(&tokens("a::b")), ["a", "::", "b"]);
    }
}
