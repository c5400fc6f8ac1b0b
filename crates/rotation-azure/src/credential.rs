//! The standard Azure credential chain, as Azure's own `DefaultAzureCredential` picks it:
//! environment (service principal secret), workload identity, managed identity, Azure CLI.
//! azure_identity 1.0 ships the parts but no chain, so this is the chain.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
};
use tokio::sync::Mutex;

/// Tries each credential in turn; the first that yields a token is used from then on.
#[derive(Debug)]
pub struct ChainCredential {
    links: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: Mutex<Option<usize>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ChainCredential {
    /// The credentials tried, in order (for `-v` logs and tests).
    pub fn links(&self) -> Vec<&'static str> {
        self.links.iter().map(|(name, _)| *name).collect()
    }

    /// The chain for this process's environment, as Azure's `DefaultAzureCredential` picks it:
    /// a service principal in the environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`) or a workload identity (`AZURE_FEDERATED_TOKEN_FILE`) is used alone
    /// when configured, so a passing failure of it never falls back to another identity;
    /// otherwise managed identity (the user-assigned one whose client id is `AZURE_CLIENT_ID`
    /// when set, as Azure's SDKs do; the system-assigned one otherwise), then the Azure CLI
    /// login.
    pub fn from_env() -> azure_core::Result<Self> {
        Self::from_vars(env)
    }

    /// [`ChainCredential::from_env`] over a variable lookup (tests pass a map).
    pub fn from_vars(env: impl Fn(&str) -> Option<String>) -> azure_core::Result<Self> {
        let mut links: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
        if let (Some(tenant), Some(client), Some(secret)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) {
            let cred = ClientSecretCredential::new(&tenant, client, Secret::new(secret), None)?;
            links.push(("environment (AZURE_CLIENT_SECRET)", cred));
        } else if env("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            links.push(("workload identity", WorkloadIdentityCredential::new(None)?));
        } else {
            match env("AZURE_CLIENT_ID") {
                Some(client_id) => {
                    let options = ManagedIdentityCredentialOptions {
                        user_assigned_id: Some(UserAssignedId::ClientId(client_id)),
                        ..Default::default()
                    };
                    links.push((
                        "managed identity (user-assigned, AZURE_CLIENT_ID)",
                        ManagedIdentityCredential::new(Some(options))?,
                    ));
                }
                None => links.push((
                    "managed identity (system-assigned)",
                    ManagedIdentityCredential::new(None)?,
                )),
            }
            links.push(("Azure CLI", AzureCliCredential::new(None)?));
        }
        Ok(Self {
            links,
            chosen: Mutex::new(None),
        })
    }
}

#[async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut chosen = self.chosen.lock().await;
        if let Some(i) = *chosen {
            return self.links[i].1.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, (name, cred)) in self.links.iter().enumerate() {
            match cred.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::debug!(credential = name, "azure: using credential");
                    *chosen = Some(i);
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            format!(
                "no credential in the chain worked ({})",
                failures.join("; ")
            ),
        ))
    }
}

/// A bearer token obtained elsewhere (`az account get-access-token`, a CI step, a test), used as
/// is until `expires_on`. The token is kept in azure_core's redacting [`Secret`].
#[derive(Debug, Clone)]
pub struct StaticTokenCredential {
    token: Secret,
    expires_on: time::OffsetDateTime,
}

impl StaticTokenCredential {
    /// A token believed valid for `valid_for`.
    pub fn new(token: impl Into<String>, valid_for: std::time::Duration) -> Self {
        Self {
            token: Secret::new(token.into()),
            expires_on: time::OffsetDateTime::now_utc() + valid_for,
        }
    }
}

#[async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            self.token.secret().to_owned(),
            self.expires_on,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(vars: &[(&str, &str)]) -> Vec<&'static str> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ChainCredential::from_vars(|k| vars.get(k).cloned())
            .expect("chain")
            .links()
    }

    #[test]
    fn the_chain_follows_the_environment_like_azure_sdks() {
        assert_eq!(
            chain(&[]),
            ["managed identity (system-assigned)", "Azure CLI"]
        );
        assert_eq!(
            chain(&[("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")]),
            [
                "managed identity (user-assigned, AZURE_CLIENT_ID)",
                "Azure CLI"
            ],
            "a client id alone selects the user-assigned managed identity"
        );
        assert_eq!(
            chain(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s")
            ]),
            ["environment (AZURE_CLIENT_SECRET)"]
        );
    }
}
