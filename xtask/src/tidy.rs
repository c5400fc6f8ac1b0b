//! `cargo xtask tidy`: fast checks of the repository's shape that the compiler does not make
//! (modelled on rust-analyzer's `tidy.rs`). Reads files only: no build, no network.
//!
//! - `deps`: dependency direction between workspace crates (the table in `tidy/deps.rs`).
//! - `conformance`: every conformance case is listed in its suite's macro, and only those.
//! - `doc paths`: every path `docs/ARCHITECTURE.md` names exists.
//! - `unused deps`: every declared dependency is used by the package's code.
//! - `file docs`: every `.rs` file starts with a `//!` doc.

mod conformance;
mod deps;
mod docpaths;
mod filedocs;
mod manifest;
mod source;
mod unused;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};

use manifest::Workspace;

/// One failed check: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// 1-based, when the problem is on one line.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Runs every check, prints every problem, fails if there is any.
pub fn run(root: &Path) -> Result<()> {
    let start = Instant::now();
    let ws = Workspace::load(root)?;
    let checks: [(&str, Vec<Problem>); 5] = [
        ("deps", deps::check(&ws)),
        ("conformance", conformance::check(root)?),
        ("doc paths", docpaths::check(root)?),
        ("unused deps", unused::check(&ws)?),
        ("file docs", filedocs::check(root)?),
    ];
    let mut total = 0;
    for (name, problems) in &checks {
        if problems.is_empty() {
            eprintln!("tidy: {name}: ok");
        }
        for p in problems {
            eprintln!("tidy: {name}: {p}");
        }
        total += problems.len();
    }
    let secs = start.elapsed().as_secs_f64();
    if total > 0 {
        bail!("tidy: {total} problem(s) in {secs:.2}s");
    }
    eprintln!("tidy: all checks passed in {secs:.2}s");
    Ok(())
}
