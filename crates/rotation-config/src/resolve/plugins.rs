//! `[generators.<name>]`, `[verifiers.<name>]` and `[targets.<name>]`: the named pieces that
//! policies and secrets refer to, each built once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rotation_command::CommandRunner;
use rotation_core::{GeneratorSpec, SecretGenerator};
use toml::Spanned;

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

/// Every verifier or target (`section` is `verifiers` or `targets`), by name.
pub fn commands<'a>(
    section: &str,
    specs: &'a BTreeMap<String, Spanned<PluginSpec>>,
) -> Result<HashMap<&'a str, Arc<CommandRunner>>, FieldError> {
    let mut out = HashMap::new();
    for (name, spec) in specs {
        out.insert(name.as_str(), plugin(section, name, spec)?);
    }
    Ok(out)
}

fn plugin(
    section: &str,
    name: &str,
    spec: &Spanned<PluginSpec>,
) -> Result<Arc<CommandRunner>, FieldError> {
    let PluginSpec::Command(c) = spec.get_ref();
    let built = if section == "verifiers" {
        c.verifier(name)
    } else {
        c.target(name)
    };
    built
        .map(Arc::new)
        .map_err(|e| FieldError::from_core("", &format!("{section}.{name}"), &e))
}
