//! Every `.rs` file under `crates/`, `xtask/` and `tests/` starts with a `//!` doc (after
//! blank lines and attributes), so each file says what it is.

use std::path::Path;

use anyhow::Result;

use super::Problem;
use super::source::{files, read};

const DIRS: &[&str] = &["crates", "xtask", "tests"];

pub fn check(root: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for dir in DIRS {
        for file in files(&root.join(dir), ".rs")? {
            if !has_file_doc(&read(&file)?) {
                let rel = file.strip_prefix(root).unwrap_or(&file);
                problems.push(Problem::new(
                    rel,
                    Some(1),
                    "no `//!` doc: start the file with a short `//!` line saying what it is",
                ));
            }
        }
    }
    Ok(problems)
}

/// The first line that is not blank and not part of an attribute (`#![..]`, `#[..]`, possibly
/// over several lines) starts with `//!`.
pub fn has_file_doc(src: &str) -> bool {
    let mut depth = 0i32;
    for line in src.lines() {
        let l = line.trim();
        if depth > 0 || l.starts_with("#[") || l.starts_with("#![") {
            depth += l.matches('[').count() as i32 - l.matches(']').count() as i32;
            continue;
        }
        if !l.is_empty() {
            return l.starts_with("//!");
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_file_doc;

    #[test]
    fn first_real_line_must_be_a_module_doc() {
        assert!(has_file_doc("//! Doc.\nfn a() {}"));
        assert!(has_file_doc(
            "\n#![cfg_attr(\n    test,\n    allow(dead_code)\n)]\n#![allow(missing_docs)]\n\n  //! Doc."
        ));
        assert!(!has_file_doc("// Just a comment.\n//! Doc."));
        assert!(!has_file_doc("/// Item doc.\nfn a() {}"));
        assert!(!has_file_doc("#![forbid(unsafe_code)]\nuse x;"));
        assert!(!has_file_doc(""));
    }
}
