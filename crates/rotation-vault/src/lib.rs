//! HashiCorp Vault / OpenBao KV v2 as a rotation [`SecretStore`](rotation_core::SecretStore).
//!
//! A secret is a KV v2 path whose value is the whole data map, as a JSON object (configure the
//! secret's `field` to rotate one key of it). Pending values live at a staging path that plain
//! reads of the secret never see; promotion writes the secret with check-and-set against the
//! version read when the rotation started. See [`store`] for the layout and [`VaultStoreBuilder`]
//! for configuration and authentication.
#![forbid(unsafe_code)]

mod builder;
mod client;
mod notes;
pub mod store;

pub use builder::{Auth, KUBERNETES_TOKEN_FILE, VaultStoreBuilder};
pub use store::VaultStore;
