//! Operations, the RBAC data action each one needs, and the injected denial.
//!
//! Mapping (Azure built-in role docs and the access-policy to RBAC permission map):
//! get -> `secrets/getSecret/action`; set -> `secrets/setSecret/action`;
//! update (PATCH) -> `secrets/update/action`; list (list secrets, list versions, list and
//! get deleted secrets: metadata only) -> `secrets/readMetadata/action`;
//! delete -> `secrets/delete`; recover -> `secrets/recover/action`;
//! purge -> `secrets/purge/action`; backup -> `secrets/backup/action`;
//! restore -> `secrets/restore/action`. All under `Microsoft.KeyVault/vaults/`.

use crate::errors::{ApiError, forbidden_by_rbac};

/// A Key Vault secrets operation, as far as authorization is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Op {
    Get,
    Set,
    Update,
    List,
    Delete,
    Recover,
    Purge,
    Backup,
    Restore,
}

/// The vault name and region the RBAC message reports.
const VAULT: &str = "kv-rotation-testserver";
const REGION: &str = "eastus";

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "get" => Op::Get,
            "set" => Op::Set,
            "update" => Op::Update,
            "list" => Op::List,
            "delete" => Op::Delete,
            "recover" => Op::Recover,
            "purge" => Op::Purge,
            "backup" => Op::Backup,
            "restore" => Op::Restore,
            _ => return None,
        })
    }

    pub fn data_action(self) -> &'static str {
        match self {
            Op::Get => "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            Op::Set => "Microsoft.KeyVault/vaults/secrets/setSecret/action",
            Op::Update => "Microsoft.KeyVault/vaults/secrets/update/action",
            Op::List => "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
            Op::Delete => "Microsoft.KeyVault/vaults/secrets/delete",
            Op::Recover => "Microsoft.KeyVault/vaults/secrets/recover/action",
            Op::Purge => "Microsoft.KeyVault/vaults/secrets/purge/action",
            Op::Backup => "Microsoft.KeyVault/vaults/secrets/backup/action",
            Op::Restore => "Microsoft.KeyVault/vaults/secrets/restore/action",
        }
    }

    /// The 403 for this operation on `name` (or the whole vault's secrets).
    pub fn denied(self, name: Option<&str>) -> ApiError {
        let mut resource = format!(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-rotation-test/providers/microsoft.keyvault/vaults/{VAULT}/secrets"
        );
        if let Some(name) = name {
            resource.push('/');
            resource.push_str(&name.to_ascii_lowercase());
        }
        forbidden_by_rbac(self.data_action(), &resource, VAULT, REGION)
    }
}

/// The region reported in `x-ms-keyvault-region`.
pub(crate) fn region() -> &'static str {
    REGION
}
