//! AWS Secrets Manager as a rotation [`SecretStore`](rotation_core::SecretStore), with the
//! native staging labels so the console, the CLI and existing consumers see a normal AWS
//! rotation: a pending value is a version labelled `AWSPENDING` whose version id is
//! `rotation-<rotation id>`, promotion moves `AWSCURRENT` to it from the version the rotation
//! started from (refused if `AWSCURRENT` moved meanwhile), `AWSPREVIOUS` ends on the old version.
//! See [`store`] for the details and the handling of moto's deviations.
#![forbid(unsafe_code)]

mod builder;
mod errors;
pub mod store;

pub use builder::AwsStoreBuilder;
pub use store::AwsStore;
