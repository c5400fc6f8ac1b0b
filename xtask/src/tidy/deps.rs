//! Dependency direction: which workspace crates each crate's `[dependencies]` may name.
//! `[dev-dependencies]` are exempt (tests may reach anything).

use super::Problem;
use super::manifest::{Kind, Workspace};

/// The workspace crates a crate may depend on.
#[derive(Debug, Clone, Copy)]
pub enum Allowed {
    Only(&'static [&'static str]),
    /// A leaf that nothing depends on (the end-to-end tests).
    Any,
}

use Allowed::{Any, Only};

const CORE: &str = "rotation-core";

/// The architecture's layering, one row per workspace crate (a new crate needs a row). Keep in
/// step with the diagram in docs/ARCHITECTURE.md.
pub const RULES: &[(&str, Allowed)] = &[
    // The pure domain.
    (CORE, Only(&[])),
    // Stores and the command verifier implement core's contracts, nothing else.
    ("rotation-file", Only(&[CORE])),
    ("rotation-vault", Only(&[CORE])),
    ("rotation-aws", Only(&[CORE])),
    ("rotation-azure", Only(&[CORE])),
    ("rotation-state-sqlite", Only(&[CORE])),
    ("rotation-command", Only(&[CORE])),
    // Built-in targets and verifiers implement core's contracts too.
    // Client TLS for the database crates that speak TLS themselves.
    ("rotation-tls", Only(&[CORE])),
    ("rotation-postgres", Only(&[CORE, "rotation-tls"])),
    ("rotation-mysql", Only(&[CORE])),
    ("rotation-redis", Only(&[CORE, "rotation-tls"])),
    ("rotation-http", Only(&[CORE])),
    // The config builds the stores' builders, the verifiers and the targets from TOML.
    (
        "rotation-config",
        Only(&[
            CORE,
            "rotation-file",
            "rotation-command",
            "rotation-vault",
            "rotation-aws",
            "rotation-azure",
            "rotation-postgres",
            "rotation-mysql",
            "rotation-redis",
            "rotation-http",
        ]),
    ),
    // Opens stores, state and audit for the front ends.
    (
        "rotation-runtime",
        Only(&[
            CORE,
            "rotation-config",
            "rotation-file",
            "rotation-command",
            "rotation-vault",
            "rotation-aws",
            "rotation-azure",
            "rotation-state-sqlite",
        ]),
    ),
    // The front ends reach stores, state and audit only through the runtime.
    (
        "rotation-cli",
        Only(&[CORE, "rotation-config", "rotation-runtime"]),
    ),
    (
        "rotation-server",
        Only(&[CORE, "rotation-config", "rotation-runtime"]),
    ),
    // Test support.
    ("rotation-conformance", Only(&[CORE])),
    ("rotation-testkit", Only(&[])),
    ("rotation-azure-testserver", Only(&[])),
    ("rotation-e2e", Any),
    ("xtask", Only(&[])),
];

pub fn check(ws: &Workspace) -> Vec<Problem> {
    let mut problems = Vec::new();
    for pkg in &ws.packages {
        let manifest = pkg.manifest();
        let Some((_, allowed)) = RULES.iter().find(|(name, _)| *name == pkg.name) else {
            problems.push(Problem::new(
                manifest,
                None,
                format!(
                    "`{}` has no dependency-direction rule: add a row to RULES in \
                     xtask/src/tidy/deps.rs",
                    pkg.name
                ),
            ));
            continue;
        };
        let Only(allowed) = allowed else { continue };
        for dep in &pkg.deps {
            if dep.kind == Kind::Dev
                || !ws.is_member(&dep.package)
                || allowed.contains(&dep.package.as_str())
            {
                continue;
            }
            let may = match allowed {
                [] => "may depend on no workspace crate: remove it".to_owned(),
                _ => format!(
                    "may depend only on {}: reach it through one of those",
                    allowed.join(", ")
                ),
            };
            problems.push(Problem::new(
                &manifest,
                pkg.line_of(dep),
                format!(
                    "`{}` depends on `{}` but {may} (or, if the layering changed, update RULES in \
                     xtask/src/tidy/deps.rs and docs/ARCHITECTURE.md)",
                    pkg.name, dep.package
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::tidy::manifest::{Dep, Package};

    fn pkg(name: &str, deps: &[(&str, Kind)]) -> Package {
        Package {
            name: name.to_owned(),
            dir: PathBuf::from("crates").join(name),
            deps: deps
                .iter()
                .map(|&(d, kind)| Dep {
                    key: d.to_owned(),
                    package: d.to_owned(),
                    kind,
                })
                .collect(),
            text: String::new(),
        }
    }

    #[test]
    fn reports_forbidden_normal_deps_and_unknown_crates() {
        let ws = Workspace {
            root: PathBuf::new(),
            packages: vec![
                pkg(CORE, &[("serde", Kind::Normal)]),
                pkg("rotation-file", &[(CORE, Kind::Normal)]),
                pkg(
                    "rotation-cli",
                    &[
                        (CORE, Kind::Normal),
                        ("rotation-file", Kind::Normal),
                        ("rotation-file", Kind::Dev),
                    ],
                ),
                pkg("rotation-new", &[]),
            ],
        };
        let problems = check(&ws);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0]
                .message
                .contains("`rotation-cli` depends on `rotation-file`")
        );
        assert!(
            problems[1]
                .message
                .contains("`rotation-new` has no dependency-direction rule")
        );
    }

    #[test]
    fn no_crate_has_two_rules() {
        for (i, (name, _)) in RULES.iter().enumerate() {
            assert!(
                !RULES[i + 1..].iter().any(|(n, _)| n == name),
                "{name} twice"
            );
        }
    }
}
