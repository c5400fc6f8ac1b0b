//! Cross-reference validation and resolution of the parsed config into engine bindings, one
//! module per section. Errors are [`FieldError`]s naming the dotted field; the caller finds
//! the line from that field ([`crate::locate`]).

mod claims;
mod databases;
mod plugins;
mod policies;
mod resolved;
mod secrets;
mod stores;

use std::path::Path;
use std::time::Duration;

pub use resolved::{Access, Resolved, SecretEntry};
pub use stores::StoreConfig;

use crate::error::FieldError;
use crate::spec::{ConfigFile, StateSpec};

/// Check every reference and value; resolve relative paths against `base`.
pub fn resolve(file: &ConfigFile, base: &Path) -> Result<Resolved, FieldError> {
    let stores = stores::resolve(&file.stores, base)?;
    let generators = plugins::generators(&file.generators)?;
    let verifiers = plugins::verifiers(&file.verifiers, base)?;
    let admin = |id: &str| {
        let spec = file
            .secrets
            .iter()
            .map(|s| s.get_ref())
            .find(|s| s.id == id)?;
        Some(databases::AdminRef {
            id: rotation_core::SecretId::new(id),
            store: stores.get(&spec.store)?.clone(),
            path: rotation_core::SecretPath::new(spec.path.clone()),
        })
    };
    let targets = plugins::targets(&file.targets, base, &admin)?;
    let policies = policies::resolve(&file.policies, &verifiers)?;
    let secrets = secrets::resolve(
        &file.secrets,
        &secrets::Defined {
            stores: &stores,
            generators: &generators,
            verifiers: &verifiers,
            targets: &targets,
            policies: &policies,
            database: &database_plugins(file),
            admin_of: &admin_secrets(file),
        },
    )?;
    let lease_ttl = lease_ttl(&file.state)?;
    let server = crate::server::resolve(file.server.as_ref().map(|s| s.get_ref()), base)?;
    let mut webhooks = crate::webhooks::resolve(&file.webhooks, "webhooks")?;
    webhooks.extend(server.webhooks.iter().cloned());
    let state = file.state.path.as_deref();
    let audit = file.audit.path.as_deref();
    Ok(Resolved {
        audit_path: base.join(audit.unwrap_or(Path::new(".rotation/audit.jsonl"))),
        state_path: base.join(state.unwrap_or(Path::new(".rotation/state.db"))),
        lease_ttl,
        stores,
        secrets,
        server,
        webhooks,
    })
}

/// The names of database verifiers and targets (`("verifiers", name)`, `("targets", name)`):
/// secrets using one rotate their `password` field unless they name another.
fn database_plugins(file: &ConfigFile) -> std::collections::HashSet<(&'static str, &str)> {
    let verifiers = file
        .verifiers
        .iter()
        .filter(|(_, s)| s.get_ref().is_database())
        .map(|(n, _)| ("verifiers", n.as_str()));
    let targets = file
        .targets
        .iter()
        .filter(|(_, s)| s.get_ref().is_database())
        .map(|(n, _)| ("targets", n.as_str()));
    verifiers.chain(targets).collect()
}

/// The `admin_secret` of each database target, by target name.
fn admin_secrets(file: &ConfigFile) -> std::collections::HashMap<&str, &str> {
    file.targets
        .iter()
        .filter_map(|(name, spec)| match spec.get_ref() {
            crate::spec::PluginSpec::Postgres(d)
            | crate::spec::PluginSpec::Mysql(d)
            | crate::spec::PluginSpec::Redis(d) => {
                d.admin_secret.as_deref().map(|a| (name.as_str(), a))
            }
            _ => None,
        })
        .collect()
}

fn lease_ttl(state: &StateSpec) -> Result<Duration, FieldError> {
    let Some(t) = &state.lease_ttl else {
        return Ok(Duration::from_secs(60));
    };
    humantime::parse_duration(t)
        .ok()
        .filter(|d| *d >= Duration::from_millis(100))
        .ok_or_else(|| {
            FieldError::new(
                "state.lease_ttl",
                format!("{t:?} is not a duration of at least 100ms"),
            )
        })
}

#[cfg(test)]
mod tests;
