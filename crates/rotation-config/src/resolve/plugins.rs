//! `[generators.<name>]`, `[verifiers.<name>]` and `[targets.<name>]`: the named pieces that
//! policies and secrets refer to, each built once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use std::path::Path;

use rotation_core::{GeneratorSpec, SecretGenerator, Target, Verifier};
use toml::Spanned;

use super::databases::{self, AdminRef};

use crate::error::FieldError;
use crate::spec::PluginSpec;

/// Every generator, by name.
pub fn generators(
    specs: &BTreeMap<String, Spanned<GeneratorSpec>>,
) -> Result<HashMap<&str, Arc<dyn SecretGenerator>>, FieldError> {
    let mut generators = HashMap::new();
    for (name, spec) in specs {
        let g = spec
            .get_ref()
            .build(name)
            .map_err(|e| FieldError::from_core("", &format!("generators.{name}"), &e))?;
        generators.insert(name.as_str(), g);
    }
    Ok(generators)
}

/// Every verifier, by name.
pub fn verifiers<'a>(
    specs: &'a BTreeMap<String, Spanned<PluginSpec>>,
    base: &Path,
) -> Result<HashMap<&'a str, Arc<dyn Verifier>>, FieldError> {
    let mut out = HashMap::new();
    for (name, spec) in specs {
        let built: Arc<dyn Verifier> = match spec.get_ref() {
            PluginSpec::Command(c) => Arc::new(
                c.verifier(name)
                    .map_err(|e| FieldError::from_core("", &format!("verifiers.{name}"), &e))?,
            ),
            other => databases::verifier(name, other, base)?,
        };
        out.insert(name.as_str(), built);
    }
    Ok(out)
}

/// Every target, by name; `admin` finds the secret an `admin_secret` names.
pub fn targets<'a>(
    specs: &'a BTreeMap<String, Spanned<PluginSpec>>,
    base: &Path,
    admin: &dyn Fn(&str) -> Option<AdminRef>,
) -> Result<HashMap<&'a str, Arc<dyn Target>>, FieldError> {
    let mut out = HashMap::new();
    for (name, spec) in specs {
        let built: Arc<dyn Target> = match spec.get_ref() {
            PluginSpec::Command(c) => Arc::new(
                c.target(name)
                    .map_err(|e| FieldError::from_core("", &format!("targets.{name}"), &e))?,
            ),
            other => databases::target(name, other, base, admin)?,
        };
        out.insert(name.as_str(), built);
    }
    Ok(out)
}
