//! A thin layer over the SDK's `SecretClient`: the calls the store makes, with our own retry
//! loop (429 after `Retry-After`; requests that never left are retried with backoff; a 503 or a
//! timeout may have been applied, so they are not retried here)
//! and version bundles whose values are zeroizing [`SecretValue`]s.
//!
//! The SDK's own retries are switched off: they retry ambiguous writes and, with the defaults,
//! a refused connection takes about 80 s to fail.

// The SDK's models are #[non_exhaustive]: no struct literals outside their crate, so fields
// are assigned on a default instance.
#![allow(clippy::field_reassign_with_default)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use azure_security_keyvault_secrets::models::{
    Secret, SecretAttributes, SecretClientGetSecretOptions,
    SecretClientListSecretPropertiesVersionsOptions, SecretClientUpdateSecretPropertiesOptions,
    SecretProperties, SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient};
use futures::TryStreamExt;
use rotation_core::{Error, Result, SecretValue};
use zeroize::Zeroize;

use crate::errors::{self, Op};

/// One version as the store sees it (the value only where the call returns one).
pub(crate) struct Bundle {
    pub version: String,
    pub value: Option<SecretValue>,
    pub enabled: bool,
    pub tags: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// Unix seconds (Key Vault's resolution).
    pub created: i64,
}

impl Bundle {
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }

    pub fn take_value(&mut self, name: &str) -> Result<SecretValue> {
        self.value.take().ok_or_else(|| {
            Error::internal(format!(
                "azure: version {} of {name} came back without a value",
                self.version
            ))
        })
    }
}

/// The outcome of reading one version.
pub(crate) enum Fetched {
    Found(Bundle),
    Missing,
    Disabled,
}

/// How calls are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff when the service gives no `Retry-After` (doubles each time).
    pub backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails as temporary.
    pub max_wait: Duration,
}

/// The Key Vault client with our retry policy.
pub(crate) struct Kv {
    pub client: SecretClient,
    pub retry: Retry,
}

fn attributes_of(props: Option<&SecretAttributes>) -> (bool, i64) {
    let enabled = props.and_then(|a| a.enabled).unwrap_or(true);
    let created = props
        .and_then(|a| a.created)
        .map(|t| t.unix_timestamp())
        .unwrap_or_default();
    (enabled, created)
}

fn version_of(id: azure_core::Result<azure_security_keyvault_secrets::ResourceId>) -> String {
    id.ok().and_then(|r| r.version).unwrap_or_default()
}

fn bundle(mut secret: Secret) -> Bundle {
    let (enabled, created) = attributes_of(secret.attributes.as_ref());
    Bundle {
        version: version_of(secret.resource_id()),
        // Moved, not copied: the String's buffer becomes the zeroizing value.
        value: secret.value.take().map(SecretValue::from_string),
        enabled,
        tags: secret.tags.take().unwrap_or_default().into_iter().collect(),
        content_type: secret.content_type.take(),
        created,
    }
}

fn properties(p: SecretProperties) -> Bundle {
    let (enabled, created) = attributes_of(p.attributes.as_ref());
    Bundle {
        version: version_of(p.resource_id()),
        value: None,
        enabled,
        tags: p.tags.unwrap_or_default().into_iter().collect(),
        content_type: p.content_type,
        created,
    }
}

impl Kv {
    /// Run `call` until it succeeds, fails for good or the retries are used up.
    async fn retrying<T, F, Fut>(&self, call: F) -> azure_core::Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            let err = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let backoff = self.retry.backoff * 2u32.saturating_pow(attempt);
            let wait = match errors::reply(&err) {
                Some(r) if r.status == 429 => Some(r.retry_after.unwrap_or(backoff)),
                None if errors::not_sent(&err) => Some(backoff),
                _ => None,
            };
            match wait {
                Some(w) if attempt < self.retry.max_retries && w <= self.retry.max_wait => {
                    // Said at the default level: a DNS failure or a throttled vault otherwise
                    // shows nothing for seconds before the error.
                    tracing::warn!(
                        attempt = attempt + 1,
                        of = self.retry.max_retries,
                        wait_ms = w.as_millis() as u64,
                        cause = %errors::causes(&err),
                        "azure: request failed, retrying"
                    );
                    tokio::time::sleep(w).await;
                    attempt += 1;
                }
                _ => return Err(err),
            }
        }
    }

    /// One version (`None`: the latest), or why there is none.
    pub async fn get(&self, name: &str, version: Option<&str>) -> Result<Fetched> {
        let res = self
            .retrying(|| async {
                let options = SecretClientGetSecretOptions {
                    secret_version: version.map(str::to_owned),
                    ..Default::default()
                };
                self.client
                    .get_secret(name, Some(options))
                    .await?
                    .into_model()
            })
            .await;
        match res {
            Ok(secret) => Ok(Fetched::Found(bundle(secret))),
            Err(e) if errors::is_not_found(&e) => Ok(Fetched::Missing),
            Err(e) if errors::is_disabled(&e) => Ok(Fetched::Disabled),
            Err(e) => Err(errors::map(Op::Get, name, &e)),
        }
    }

    /// Write `value` as a new version with exactly these properties.
    pub async fn set(
        &self,
        name: &str,
        value: &SecretValue,
        content_type: Option<&str>,
        tags: &BTreeMap<String, String>,
        expires: Option<time::OffsetDateTime>,
    ) -> Result<Bundle> {
        let text = value.expose_str().map_err(|_| {
            Error::invalid_value("azure: Key Vault values are text; the value is not UTF-8")
        })?;
        let res = self
            .retrying(|| async {
                let mut params = SetSecretParameters::default();
                params.value = Some(text.to_owned());
                params.content_type = content_type.map(str::to_owned);
                params.tags = Some(tags.clone().into_iter().collect());
                if let Some(exp) = expires {
                    let mut attrs = SecretAttributes::default();
                    attrs.expires = Some(exp);
                    params.secret_attributes = Some(attrs);
                }
                let content = serde_json::to_vec(&params);
                if let Some(v) = params.value.as_mut() {
                    v.zeroize();
                }
                let content = content.map_err(azure_core::Error::from)?;
                self.client
                    .set_secret(name, azure_core::Bytes::from(content).into(), None)
                    .await?
                    .into_model()
            })
            .await;
        res.map(bundle).map_err(|e| errors::map(Op::Set, name, &e))
    }

    /// Set `enabled` and replace the tags of one version.
    pub async fn update(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.retrying(|| async {
            let mut params = UpdateSecretPropertiesParameters::default();
            let mut attrs = SecretAttributes::default();
            attrs.enabled = Some(enabled);
            params.secret_attributes = Some(attrs);
            params.tags = Some(tags.clone().into_iter().collect());
            let options = SecretClientUpdateSecretPropertiesOptions {
                secret_version: Some(version.to_owned()),
                ..Default::default()
            };
            self.client
                .update_secret_properties(name, params.try_into()?, Some(options))
                .await
                .map(drop)
        })
        .await
        .map_err(|e| errors::map(Op::Update, name, &e))
    }

    /// Every version's properties (no values), following `nextLink` to the end, empty pages
    /// included. A missing secret is `NotFound`.
    pub async fn versions(&self, name: &str) -> Result<Vec<Bundle>> {
        self.retrying(|| async {
            let options = SecretClientListSecretPropertiesVersionsOptions::default();
            let pager = self
                .client
                .list_secret_properties_versions(name, Some(options))?;
            pager.map_ok(properties).try_collect::<Vec<_>>().await
        })
        .await
        .map_err(|e| errors::map(Op::List, name, &e))
    }

    /// Some version's properties (the first the listing returns), or `None` if there is none.
    pub async fn any_version(&self, name: &str) -> Result<Option<Bundle>> {
        let res = self
            .retrying(|| async {
                let options = SecretClientListSecretPropertiesVersionsOptions {
                    maxresults: Some(1),
                    ..Default::default()
                };
                let mut pager = self
                    .client
                    .list_secret_properties_versions(name, Some(options))?;
                pager.try_next().await
            })
            .await;
        match res {
            Ok(item) => Ok(item.map(properties)),
            Err(e) if errors::is_not_found(&e) => Ok(None),
            Err(e) => Err(errors::map(Op::List, name, &e)),
        }
    }

    /// Whether `name` is soft-deleted (recoverable). Unknown (e.g. no permission to look) is
    /// `false`: the caller then reports what it saw.
    pub async fn is_deleted(&self, name: &str) -> bool {
        match self
            .retrying(|| async { self.client.get_deleted_secret(name, None).await })
            .await
        {
            Ok(_) => true,
            Err(e) => {
                // A disabled deleted secret answers 403 SecretDisabled: it exists.
                if errors::is_disabled(&e) {
                    return true;
                }
                if !errors::is_not_found(&e) {
                    tracing::debug!(
                        error = %errors::map(Op::GetDeleted, name, &e),
                        "azure: cannot tell whether the secret is soft-deleted"
                    );
                }
                false
            }
        }
    }
}
