//! Every path `docs/ARCHITECTURE.md` names in backticks exists.
//!
//! The doc's conventions: full paths from the repository root (`tests/tests/crash.rs`), paths
//! from `crates/` (`rotation-cli/src/fault.rs`), and short names inside a section whose heading
//! names a directory (`secret.rs` under "### `crates/rotation-core`" is somewhere below it). Short
//! names outside such a section may be anywhere in the repository (`faults.rs` in the
//! invariants table). Fenced code blocks are skipped.

use std::path::Path;

use anyhow::Result;

use super::Problem;
use super::source::{read, walk};

const DOC: &str = "docs/ARCHITECTURE.md";

/// Paths the doc names that live outside the repository.
const EXTERNAL: &[&str] = &[
    // The Azure recordings: next to an ancestor of the checkout (see the fidelity test).
    "shared/fixtures/azure-keyvault",
];

pub fn check(root: &Path) -> Result<Vec<Problem>> {
    let mut all = Vec::new();
    walk(root, &mut |p| {
        if let Ok(rel) = p.strip_prefix(root) {
            all.push(rel.to_string_lossy().replace('\\', "/"));
        }
    })?;
    let exists = |rel: &str| all.iter().any(|p| p == rel.trim_end_matches('/'));
    Ok(missing(&read(&root.join(DOC))?, &exists, &all)
        .into_iter()
        .map(|(line, msg)| Problem::new(DOC, Some(line), msg))
        .collect())
}

/// Looks like a repository path: has a `/` or a source/doc extension, no spaces or code
/// punctuation, not an absolute path (those are API routes such as `/metrics`), not a glob
/// (`*.rs`) or an extension alone (`.rs`; `.ci/run` is a path).
pub fn path_like(tok: &str) -> bool {
    let special = |c: char| c.is_whitespace() || "<>{}()[]=:;,\"'$|".contains(c);
    let has_dir = tok.contains('/');
    let has_ext = [".rs", ".toml", ".md"].iter().any(|e| tok.ends_with(e));
    let excluded = tok.contains(special)
        || tok.starts_with(['/', '-'])
        || tok.contains("*.")
        || (tok.starts_with('.') && !has_dir);
    !excluded && (has_dir || has_ext)
}

/// Backticked tokens of `doc` that `exists` (relative to the root) cannot resolve, as
/// (line, message); `all` is every path in the repository (for short names).
pub fn missing(doc: &str, exists: &dyn Fn(&str) -> bool, all: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut base: Option<String> = None;
    let mut fence = false;
    for (n, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let spans: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        if line.starts_with('#') {
            base = spans
                .iter()
                .map(|s| s.trim_end_matches('/'))
                .flat_map(|s| [s.to_owned(), format!("crates/{s}")])
                .find(|d| !d.is_empty() && all.iter().any(|p| p.starts_with(&format!("{d}/"))));
        }
        for tok in spans.into_iter().filter(|t| path_like(t)) {
            let rel = tok.trim_end_matches('*').trim_end_matches('/');
            let mut tried = vec![rel.to_owned(), format!("crates/{rel}")];
            if let Some(b) = &base {
                tried.extend([format!("{b}/{rel}"), format!("{b}/src/{rel}")]);
            }
            let below = |p: &String| match &base {
                Some(b) => p.starts_with(&format!("{b}/")),
                None => true,
            };
            let found = tried.iter().any(|p| exists(p))
                || all
                    .iter()
                    .any(|p| below(p) && p.ends_with(&format!("/{rel}")))
                || EXTERNAL.contains(&rel);
            if !found {
                let scope = match &base {
                    Some(b) => format!("anywhere below {b}"),
                    None => "anywhere in the repository".to_owned(),
                };
                out.push((
                    n + 1,
                    format!(
                        "`{tok}` names no file or directory (looked from the root, crates/ \
                         and {scope}): \
                         fix the path or drop it"
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_tokens() {
        for yes in [
            "crates/rotation-core/src/engine/mod.rs",
            "xtask/",
            "engine.rs",
            "commands/*",
            "Cargo.toml",
            ".ci/run",
        ] {
            assert!(path_like(yes), "{yes}");
        }
        for no in [
            "/metrics",
            "Then::{A, B}",
            "v/<n>",
            "SecretValue",
            "a b/c",
            "file:line",
            "index.json",
            ".rs",
        ] {
            assert!(!path_like(no), "{no}");
        }
    }

    #[test]
    fn resolves_by_the_doc_conventions() {
        let all: Vec<String> = [
            "crates",
            "crates/core",
            "crates/core/src",
            "crates/core/src/secret.rs",
            "crates/core/src/engine",
            "crates/core/src/engine/mod.rs",
            "crates/cli/src/fault.rs",
            "tests/tests/crash.rs",
        ]
        .map(String::from)
        .into();
        let exists = |p: &str| all.iter().any(|a| a == p);
        let doc = "\
# Top `crates/core/src/secret.rs` `core/src/gone.rs`
```
`inside/a/fence.rs`
```
### `crates/core`
- `secret.rs`, `engine/`: `mod.rs`; `engine.rs`; `crash.rs`
## Invariants
`crash.rs`, `cli/src/fault.rs`, `nowhere.rs`, `shared/fixtures/azure-keyvault`
";
        let got: Vec<_> = missing(doc, &exists, &all)
            .into_iter()
            .map(|(line, msg)| (line, msg.split('`').nth(1).unwrap_or_default().to_owned()))
            .collect();
        let want = [
            (1, "core/src/gone.rs"),
            (6, "engine.rs"),
            (6, "crash.rs"),
            (8, "nowhere.rs"),
        ];
        assert_eq!(got, want.map(|(l, t)| (l, t.to_owned())));
    }
}
