//! `[[secrets]]`: each secret's id, store, path and references checked and resolved into a
//! [`SecretEntry`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use rotation_core::{GeneratorSpec, SecretGenerator, SecretId, SecretPath, Target, Verifier};
use toml::Spanned;

use super::claims::PathClaims;
use super::policies::Policy;
use super::resolved::SecretEntry;
use super::stores::StoreConfig;
use crate::error::FieldError;
use crate::locate::secret_table;
use crate::spec::SecretSpec;

/// What secrets may name, from the other sections.
pub struct Defined<'a> {
    /// Stores by name.
    pub stores: &'a BTreeMap<String, StoreConfig>,
    /// Generators by name.
    pub generators: &'a HashMap<&'a str, Arc<dyn SecretGenerator>>,
    /// Verifiers by name.
    pub verifiers: &'a HashMap<&'a str, Arc<dyn Verifier>>,
    /// Targets by name.
    pub targets: &'a HashMap<&'a str, Arc<dyn Target>>,
    /// Policies by name.
    pub policies: &'a HashMap<&'a str, Policy>,
    /// Database verifiers and targets (`("verifiers" | "targets", name)`).
    pub database: &'a HashSet<(&'static str, &'a str)>,
    /// The `admin_secret` of each database target, by target name.
    pub admin_of: &'a HashMap<&'a str, &'a str>,
}

/// Every secret, in file order.
pub fn resolve(
    specs: &[Spanned<SecretSpec>],
    defined: &Defined<'_>,
) -> Result<Vec<SecretEntry>, FieldError> {
    let default_generator: Arc<dyn SecretGenerator> = GeneratorSpec::default_random()
        .build("default")
        .map_err(|e| FieldError::from_core("", "generators.default", &e))?;
    let mut secrets = Vec::with_capacity(specs.len());
    let mut claims = PathClaims::default();
    // A set, not a scan of `secrets`: configs with 100k secrets must not take quadratic time.
    let mut ids: HashSet<&str> = HashSet::new();
    for (i, spanned) in specs.iter().enumerate() {
        let s = spanned.get_ref();
        let field = |f: &str| format!("{}.{f}", secret_table(i, &s.id));
        let err = |f: &str, msg: &str| FieldError::new(field(f), msg);
        if s.id.trim().is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(err(
                "id",
                "must be non-empty and use only letters, digits, '-', '_' and '.'",
            ));
        }
        if !ids.insert(&s.id) {
            return Err(err("id", "is used by another secret"));
        }
        let Some(store) = defined.stores.get(&s.store) else {
            return Err(unknown(
                "store",
                field("store"),
                &s.store,
                defined.stores.keys().map(String::as_str),
            ));
        };
        if s.path.trim().is_empty() {
            return Err(err("path", "must not be empty"));
        }
        claims
            .claim(&s.store, store, &s.path, &s.id)
            .map_err(|m| err("path", &m))?;
        if matches!(&s.field, Some(f) if f.is_empty()) {
            return Err(err("field", "must not be empty"));
        }
        let (policy, timing) = defined
            .policies
            .get(s.policy.as_str())
            .ok_or_else(|| {
                unknown(
                    "policy",
                    field("policy"),
                    &s.policy,
                    defined.policies.keys(),
                )
            })?
            .clone();
        let generator = match &s.generator {
            None => ("default".to_owned(), default_generator.clone()),
            Some(g) => (
                g.clone(),
                defined
                    .generators
                    .get(g.as_str())
                    .ok_or_else(|| {
                        unknown(
                            "generator",
                            field("generator"),
                            g,
                            defined.generators.keys(),
                        )
                    })?
                    .clone(),
            ),
        };
        let mut names: Vec<&String> = policy.verifiers().iter().collect();
        names.extend(
            s.verifiers
                .iter()
                .filter(|v| !policy.verifiers().contains(v)),
        );
        let all_verifiers = names.clone();
        let mut verifiers = Vec::new();
        for v in names {
            let runner = defined.verifiers.get(v.as_str()).ok_or_else(|| {
                unknown("verifier", field("verifiers"), v, defined.verifiers.keys())
            })?;
            verifiers.push(runner.clone());
        }
        if let Some(t) = &s.target
            && defined.admin_of.get(t.as_str()) == Some(&s.id.as_str())
        {
            // Its admin login would read the value this rotation is changing.
            return Err(err(
                "target",
                &format!(
                    "target {t:?} logs in with this secret as its admin_secret: rotate an admin \
                     with a single-user target (one without admin_secret)"
                ),
            ));
        }
        let target = match &s.target {
            None => None,
            Some(t) => Some(
                defined
                    .targets
                    .get(t.as_str())
                    .ok_or_else(|| unknown("target", field("target"), t, defined.targets.keys()))?
                    .clone(),
            ),
        };
        secrets.push(SecretEntry {
            id: SecretId::new(s.id.clone()),
            store: s.store.clone(),
            path: SecretPath::new(s.path.clone()),
            // A database secret rotates its `password` unless told otherwise (AWS's keys).
            field: s.field.clone().or_else(|| {
                let database = s
                    .target
                    .iter()
                    .any(|t| defined.database.contains(&("targets", t.as_str())))
                    || all_verifiers
                        .iter()
                        .any(|v| defined.database.contains(&("verifiers", v.as_str())))
                    || defined.admin_of.values().any(|a| *a == s.id);
                database.then(|| "password".to_owned())
            }),
            policy,
            timing,
            generator,
            verifiers,
            target,
            create_if_missing: s.create_if_missing,
        });
    }
    Ok(secrets)
}

/// `field` names a `what` that is not defined; the reason lists the defined ones.
pub fn unknown<'a>(
    what: &str,
    field: String,
    name: &str,
    known: impl Iterator<Item = &'a (impl AsRef<str> + ?Sized + 'a)>,
) -> FieldError {
    let mut known: Vec<&str> = known.map(AsRef::as_ref).collect();
    known.sort_unstable();
    let list = if known.is_empty() {
        "none is defined".to_owned()
    } else {
        format!("defined: {}", known.join(", "))
    };
    FieldError::new(field, format!("unknown {what} {name:?} ({list})"))
}
