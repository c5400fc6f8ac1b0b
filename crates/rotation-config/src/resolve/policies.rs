//! `[policies.<name>]`: verifier references checked, then the policy and its timing built.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rotation_core::Verifier;
use rotation_core::{RotationPolicy, Timing, TimingSpec};
use toml::Spanned;

use super::secrets::unknown;
use crate::error::FieldError;
use crate::spec::PolicySpec;

/// A built policy and when it rotates, shared by the secrets that name it.
pub type Policy = (Arc<RotationPolicy>, Arc<Timing>);

/// Every policy, by name; `verifiers` are the defined ones.
pub fn resolve<'a>(
    specs: &'a BTreeMap<String, Spanned<PolicySpec>>,
    verifiers: &HashMap<&str, Arc<dyn Verifier>>,
) -> Result<HashMap<&'a str, Policy>, FieldError> {
    let mut policies = HashMap::new();
    for (name, spec) in specs {
        for v in &spec.get_ref().verifiers {
            if !verifiers.contains_key(v.as_str()) {
                return Err(unknown(
                    "verifier",
                    format!("policies.{name}.verifiers"),
                    v,
                    verifiers.keys(),
                ));
            }
        }
        let (policy, timing) = build(name, spec.get_ref())
            .map_err(|e| FieldError::from_core("", &format!("policies.{name}"), &e))?;
        policies.insert(name.as_str(), (Arc::new(policy), Arc::new(timing)));
    }
    Ok(policies)
}

fn build(name: &str, spec: &PolicySpec) -> rotation_core::Result<(RotationPolicy, Timing)> {
    let timing = TimingSpec {
        interval: spec.interval.clone(),
        cron: spec.cron.clone(),
        timezone: spec.timezone.clone(),
        window: spec.window.clone(),
        jitter: spec.jitter.clone(),
        retry_backoff: spec.retry_backoff.clone(),
    }
    .build(name)?;
    let mut b = RotationPolicy::builder(name)
        .strategy(spec.strategy)
        .verifiers(spec.verifiers.iter().cloned())
        .notify(spec.notify);
    if let Some(v) = spec.require_verification {
        b = b.require_verification(v);
    }
    if let Some(v) = spec.auto_rollback {
        b = b.auto_rollback(v);
    }
    if let Some(v) = spec.max_retries {
        b = b.max_retries(v);
    }
    if let Some(text) = &spec.remind_before {
        let period = humantime::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                rotation_core::Error::config(
                    format!("policies.{name}.remind_before"),
                    format!("{text:?} is not a duration like \"7d\" or \"12h\""),
                )
            })?;
        b = b.remind_before(Some(period));
    }
    Ok((b.build()?, timing))
}
