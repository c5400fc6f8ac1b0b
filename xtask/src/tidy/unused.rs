//! No unused dependency: each declared dependency is named by the package's code (`name::`,
//! `name!`, `use name`, `extern crate name`), a dev-dependency by its test code (`tests/`,
//! `benches/`, `examples/`, `#[cfg(test)]` items and modules).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Problem;
use super::manifest::{Kind, Package, Workspace};
use super::source::{Token, files, matching, read, strip, texts, tokens};

/// Dependencies no code names, declared for a side effect such as turning on a feature of a
/// transitive crate: (package, dependency key). Check each by hand before adding it, and say
/// why.
const USED_FOR_FEATURES: &[(&str, &str)] = &[];

/// Macros whose expansion names crates in the calling crate: (macro, crate identifiers).
const MACRO_USES: &[(&str, &[&str])] = &[
    // `#[tokio::test]` per case; the crash suite names `rotation_core::RotationStrategy`.
    ("conformance_tests", &["tokio", "rotation_core"]),
    ("state_conformance_tests", &["tokio"]),
];

pub fn check(ws: &Workspace) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for pkg in &ws.packages {
        let uses = package_uses(&ws.root, pkg)?;
        for dep in &pkg.deps {
            if USED_FOR_FEATURES.contains(&(pkg.name.as_str(), dep.key.as_str())) {
                continue;
            }
            let id = dep.key.replace('-', "_");
            let (normal, test) = (uses.normal.contains(&id), uses.test.contains(&id));
            let table = dep.kind.table();
            let what = match dep.kind {
                Kind::Dev if !test => "is used by no test code: remove it",
                Kind::Normal | Kind::Build if !normal && !test => "is used by no code: remove it",
                _ => continue,
            };
            problems.push(Problem::new(
                pkg.manifest(),
                pkg.line_of(dep),
                format!(
                    "`{}` in [{table}] of `{}` {what} (if it is there for a feature, list it in \
                     USED_FOR_FEATURES in xtask/src/tidy/unused.rs, saying why)",
                    dep.key, pkg.name
                ),
            ));
        }
    }
    Ok(problems)
}

/// Crate identifiers a package's code names, outside and inside test code.
#[derive(Debug, Default)]
pub struct Uses {
    pub normal: BTreeSet<String>,
    pub test: BTreeSet<String>,
}

fn package_uses(root: &Path, pkg: &Package) -> Result<Uses> {
    let dir = root.join(&pkg.dir);
    let mut found = Vec::new();
    for file in files(&dir, ".rs")? {
        let rel = file.strip_prefix(&dir).unwrap_or(&file).to_path_buf();
        found.push((rel, file_uses(&strip(&read(&file)?))));
    }
    // Files of `#[cfg(test)] mod name;` declarations.
    let test_files: BTreeSet<PathBuf> = found
        .iter()
        .flat_map(|(rel, f)| f.test_mods.iter().flat_map(|m| module_files(rel, m)))
        .collect();
    let mut uses = Uses::default();
    for (rel, f) in found {
        if is_test_path(&rel, &test_files) {
            uses.test.extend(f.normal);
        } else {
            uses.normal.extend(f.normal);
        }
        uses.test.extend(f.test);
    }
    Ok(uses)
}

/// Under `tests/`, `benches/` or `examples/`, or a declared test module or below one.
fn is_test_path(rel: &Path, test_files: &BTreeSet<PathBuf>) -> bool {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy());
    matches!(first.as_deref(), Some("tests" | "benches" | "examples"))
        || test_files
            .iter()
            .any(|t| rel == t || rel.starts_with(module_dir(t)))
}

/// The directory of a module file's submodules: `a/b.rs` -> `a/b`, `a/b/mod.rs` -> `a/b`.
fn module_dir(file: &Path) -> PathBuf {
    match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod") | None => file.parent().unwrap_or(Path::new("")).to_path_buf(),
        Some(stem) => file.with_file_name(stem),
    }
}

/// Where `mod name;` in `file` may live (both the crate-root and the nested convention).
fn module_files(file: &Path, name: &str) -> Vec<PathBuf> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let stem = file.file_stem().unwrap_or_default();
    let mut out = vec![
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ];
    if !matches!(stem.to_str(), Some("lib" | "main" | "mod")) {
        out.push(dir.join(stem).join(format!("{name}.rs")));
        out.push(dir.join(stem).join(name).join("mod.rs"));
    }
    out
}

/// What one stripped file names.
#[derive(Debug, Default)]
pub struct FileUses {
    pub normal: BTreeSet<String>,
    pub test: BTreeSet<String>,
    /// Names of `#[cfg(test)] mod name;` declarations.
    pub test_mods: Vec<String>,
}

/// Crate-like identifiers of stripped source `src`, split by whether they are inside a
/// `#[cfg(test)]` item.
pub fn file_uses(src: &str) -> FileUses {
    let t = tokens(src);
    let mut out = FileUses::default();
    let mut test_ranges = Vec::new();
    for i in 0..t.len() {
        if texts(&t[i..(i + 7).min(t.len())]) == ["#", "[", "cfg", "(", "test", ")", "]"] {
            let (end, module) = item_after(&t, i + 7);
            test_ranges.push((i, end));
            out.test_mods.extend(module);
        }
    }
    let in_test = |i: usize| test_ranges.iter().any(|&(a, b)| a <= i && i <= b);
    for i in 0..t.len() {
        let prev = |k: usize| i.checked_sub(k).map(|j| t[j].text);
        let next = t.get(i + 1).map(|x| x.text);
        let set = if in_test(i) {
            &mut out.test
        } else {
            &mut out.normal
        };
        let path_start = !matches!(prev(1), Some("::" | "."));
        let named = matches!(next, Some("::" | "!"))
            || prev(1) == Some("use")
            || (prev(1) == Some("crate") && prev(2) == Some("extern"));
        if path_start && named {
            set.insert(t[i].text.to_owned());
        }
        if next == Some("!") {
            // Also as `rotation_conformance::conformance_tests!(..)`.
            for (_, crates) in MACRO_USES.iter().filter(|(m, _)| *m == t[i].text) {
                set.extend(crates.iter().map(|c| (*c).to_owned()));
            }
        }
    }
    out
}

/// End of the item starting at `start` (after its attributes): its `;` or closing `}`; and its
/// name if it is `mod name;`.
fn item_after(t: &[Token<'_>], start: usize) -> (usize, Option<String>) {
    let mut i = start;
    // Further attributes.
    while t.get(i).map(|x| x.text) == Some("#") {
        match matching(t, i + 1) {
            Some(close) => i = close + 1,
            None => return (t.len(), None),
        }
    }
    let first = i;
    while i < t.len() {
        match t[i].text {
            ";" => {
                let words = texts(&t[first..i]);
                let module = match words.as_slice() {
                    ["mod", name] | ["pub", "mod", name] => Some((*name).to_owned()),
                    _ => None,
                };
                return (i, module);
            }
            "{" => return (matching(t, i).unwrap_or(t.len()), None),
            "(" | "[" => i = matching(t, i).unwrap_or(t.len()) + 1,
            _ => i += 1,
        }
    }
    (t.len(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &BTreeSet<String>) -> Vec<&str> {
        s.iter().map(String::as_str).collect()
    }

    #[test]
    fn splits_normal_and_test_uses() {
        let src = strip(
            r#"
            //! Uses `fake::` only in a comment.
            use anyhow::Result;
            use std::time::Duration;
            extern crate alloc_crate;
            fn f(x: [u8; 2]) -> Result<()> { tracing::info!("toml::x"); let v = serde_json::json!({}); }
            #[cfg(test)]
            #[allow(unused)]
            fn helper(a: [u8; 3]) { tempfile::tempdir(); }
            #[cfg(test)]
            mod tests;
            #[cfg(test)]
            mod inline {
                use super::*;
                #[tokio::test]
                async fn t() { rotation_conformance::conformance_tests!(x()); }
            }
            fn after() { hex::encode(b""); }
        "#,
        );
        let u = file_uses(&src);
        assert_eq!(
            set(&u.normal),
            [
                "alloc_crate",
                "anyhow",
                "hex",
                "serde_json",
                "std",
                "tracing"
            ]
        );
        assert_eq!(
            set(&u.test),
            [
                "rotation_conformance",
                "rotation_core",
                "super",
                "tempfile",
                "tokio"
            ]
        );
        assert_eq!(u.test_mods, ["tests"]);
    }

    #[test]
    fn test_module_files() {
        let tests = module_files(Path::new("src/store.rs"), "tests");
        assert!(tests.contains(&PathBuf::from("src/store/tests.rs")));
        let set: BTreeSet<PathBuf> = tests.into_iter().collect();
        assert!(is_test_path(Path::new("src/store/tests.rs"), &set));
        assert!(is_test_path(Path::new("src/store/tests/more.rs"), &set));
        assert!(!is_test_path(Path::new("src/store.rs"), &set));
        assert!(is_test_path(Path::new("benches/api.rs"), &BTreeSet::new()));
        let nested: BTreeSet<PathBuf> = [PathBuf::from("src/a/tests/mod.rs")].into();
        assert!(is_test_path(Path::new("src/a/tests/b.rs"), &nested));
        assert!(!is_test_path(Path::new("src/a/b.rs"), &nested));
    }
}
