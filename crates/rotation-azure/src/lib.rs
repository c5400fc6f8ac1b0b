//! Azure Key Vault as a rotation [`SecretStore`](rotation_core::SecretStore), on the official
//! SDK (`azure_security_keyvault_secrets`). Key Vault has immutable versions, a plain read that
//! returns the latest one, and no compare-and-swap, so pending values are staged in a companion
//! secret and every write is checked for a concurrent writer before and after. See [`store`]
//! for the layout and [`names`] for how paths become Key Vault names.
#![forbid(unsafe_code)]

mod builder;
mod client;
mod credential;
mod errors;
pub mod names;
pub mod store;

pub use builder::AzureStoreBuilder;
pub use credential::{ChainCredential, StaticTokenCredential};
pub use store::AzureStore;
