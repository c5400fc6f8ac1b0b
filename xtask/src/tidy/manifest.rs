//! The workspace's packages and their declared dependencies, read from the `Cargo.toml` files
//! with the `toml` crate (no `cargo metadata`: that would resolve the whole graph).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml::{Table, Value};

use super::source::read;

/// Which table a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Dev,
    Build,
}

/// One declared dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The key in the table: the name the code uses (dashes as underscores).
    pub key: String,
    /// The package it names (differs from `key` with `package = "..."`).
    pub package: String,
    pub kind: Kind,
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// Directory, relative to the workspace root.
    pub dir: PathBuf,
    pub deps: Vec<Dep>,
    /// The manifest's text, for line numbers.
    pub text: String,
}

impl Package {
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("Cargo.toml")
    }

    /// 1-based line of `dep`'s entry in the manifest, if it can be found.
    pub fn line_of(&self, dep: &Dep) -> Option<usize> {
        dep_line(&self.text, dep)
    }
}

impl Kind {
    /// The manifest table's name.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Normal => "dependencies",
            Kind::Dev => "dev-dependencies",
            Kind::Build => "build-dependencies",
        }
    }
}

/// 1-based line of `dep` in manifest `text`: `key = ..`/`key.workspace = ..` under a header
/// whose last segment is the dependency table, or a `[<table>.key]` header.
pub fn dep_line(text: &str, dep: &Dep) -> Option<usize> {
    let table = dep.kind.table();
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(header) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            if header == format!("{table}.{}", dep.key) {
                return Some(n + 1);
            }
            in_table = header.rsplit('.').next() == Some(table);
        } else if in_table
            && l.strip_prefix(dep.key.as_str())
                .is_some_and(|rest| rest.starts_with([' ', '=', '.']))
        {
            return Some(n + 1);
        }
    }
    None
}

/// The workspace root and its members.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub packages: Vec<Package>,
}

impl Workspace {
    /// Reads the root manifest's `members` (`dir` or `dir/*`) and each member's manifest.
    pub fn load(root: &Path) -> Result<Self> {
        let top = parse(&read(&root.join("Cargo.toml"))?, "Cargo.toml")?;
        let ws = top.get("workspace").and_then(Value::as_table);
        let members = ws
            .and_then(|w| w.get("members"))
            .and_then(Value::as_array)
            .context("Cargo.toml: no [workspace] members")?;
        let empty = Table::new();
        let ws_deps = ws
            .and_then(|w| w.get("dependencies"))
            .and_then(Value::as_table)
            .unwrap_or(&empty);
        let mut dirs = Vec::new();
        for m in members.iter().filter_map(Value::as_str) {
            match m.strip_suffix("/*") {
                Some(parent) => {
                    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
                        .with_context(|| format!("cannot list {parent}"))?
                        .filter_map(|e| e.ok())
                        .filter(|e| e.path().join("Cargo.toml").is_file())
                        .map(|e| Path::new(parent).join(e.file_name()))
                        .collect();
                    found.sort();
                    dirs.extend(found);
                }
                None => dirs.push(PathBuf::from(m)),
            }
        }
        let mut packages = Vec::new();
        for dir in dirs {
            let path = dir.join("Cargo.toml");
            let text = read(&root.join(&path))?;
            let (name, deps) = parse_package(&text, ws_deps, &path.display().to_string())?;
            packages.push(Package {
                name,
                dir,
                deps,
                text,
            });
        }
        Ok(Workspace {
            root: root.to_path_buf(),
            packages,
        })
    }

    pub fn is_member(&self, package: &str) -> bool {
        self.packages.iter().any(|p| p.name == package)
    }
}

fn parse(text: &str, what: &str) -> Result<Table> {
    text.parse::<Table>()
        .with_context(|| format!("{what}: invalid TOML"))
}

/// The package name and every dependency of one member manifest, including
/// `[target.'cfg(..)'.*dependencies]`; `ws_deps` is `[workspace.dependencies]`, for the
/// `package =` of `name.workspace = true` entries.
pub fn parse_package(text: &str, ws_deps: &Table, what: &str) -> Result<(String, Vec<Dep>)> {
    let t = parse(text, what)?;
    let Some(name) = t
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
    else {
        bail!("{what}: no [package] name");
    };
    let mut tables = vec![&t];
    if let Some(targets) = t.get("target").and_then(Value::as_table) {
        tables.extend(targets.values().filter_map(Value::as_table));
    }
    let mut deps = Vec::new();
    for table in tables {
        for (section, kind) in [
            ("dependencies", Kind::Normal),
            ("dev-dependencies", Kind::Dev),
            ("build-dependencies", Kind::Build),
        ] {
            let Some(entries) = table.get(section).and_then(Value::as_table) else {
                continue;
            };
            for (key, spec) in entries {
                let inherited = spec.get("workspace").and_then(Value::as_bool) == Some(true);
                let from_ws = || match inherited {
                    true => ws_deps.get(key).and_then(|w| w.get("package")),
                    false => None,
                };
                let package = spec
                    .get("package")
                    .or_else(from_ws)
                    .and_then(Value::as_str)
                    .unwrap_or(key);
                deps.push(Dep {
                    key: key.clone(),
                    package: package.to_owned(),
                    kind,
                });
            }
        }
    }
    Ok((name.to_owned(), deps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_renames_and_targets() {
        let ws: Table = "[x]\npackage = \"real-x\"\n".parse().unwrap();
        let text = r#"
            [package]
            name = "demo"
            [dependencies]
            rotation-core.workspace = true
            x = { workspace = true }
            y = { version = "1", package = "real-y" }
            [dev-dependencies]
            tempfile = "3"
            [target.'cfg(unix)'.dependencies]
            rustix = "1"
        "#;
        let (name, deps) = parse_package(text, &ws, "demo").unwrap();
        assert_eq!(name, "demo");
        let line = |key: &str| dep_line(text, deps.iter().find(|d| d.key == key).unwrap());
        assert_eq!(
            (line("x"), line("tempfile"), line("rustix")),
            (Some(6), Some(9), Some(11))
        );
        let mut got: Vec<_> = deps
            .iter()
            .map(|d| (d.key.as_str(), d.package.as_str(), d.kind == Kind::Dev))
            .collect();
        // Table order depends on toml's `preserve_order` feature.
        got.sort();
        assert_eq!(
            got,
            [
                ("rotation-core", "rotation-core", false),
                ("rustix", "rustix", false),
                ("tempfile", "tempfile", true),
                ("x", "real-x", false),
                ("y", "real-y", false),
            ]
        );
    }
}
