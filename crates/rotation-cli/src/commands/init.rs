//! `rotation init`: a starter config, a file store and one demo secret, ready for `rotate --all`.

use std::path::{Path, PathBuf};

use rotation_core::{ErrorKind, RotationId};
use serde::Serialize;

use crate::app::Context;
use crate::cli::InitArgs;
use crate::exit::{CliError, OK};
use crate::output::{Report, emit, line};
use rotation_config as config;

/// The starter config (the same file as `examples/rotation.toml`).
const STARTER: &str = include_str!("../../../../examples/rotation.toml");

#[derive(Debug, Serialize)]
struct Initialised {
    config: String,
    config_written: bool,
    secrets_created: Vec<String>,
}

impl Report for Initialised {
    fn text(&self, out: &mut String) {
        if self.config_written {
            line(out, format!("wrote {}", self.config));
        } else {
            line(
                out,
                format!("kept existing {} (use --force to overwrite)", self.config),
            );
        }
        for s in &self.secrets_created {
            line(out, format!("created demo secret {s}"));
        }
        line(
            out,
            format!("next: rotation --config {} rotate --all", self.config),
        );
    }
    /// The config file.
    fn names(&self) -> Vec<String> {
        vec![self.config.clone()]
    }
}

/// Run `init`. Re-running it keeps an existing config unless `--force`.
pub async fn run(ctx: &Context, args: InitArgs) -> Result<u8, CliError> {
    let path = target(ctx, &args)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let write = args.force || !path.exists();
    if write {
        std::fs::write(&path, STARTER)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    }
    let cfg = config::load(&path)?;
    let mut created = Vec::new();
    for entry in &cfg.secrets {
        let binding = cfg.bind_one(entry, rotation_config::Access::ReadWrite)?;
        match binding.store.read_current(&binding.path).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let value = binding.generator.generate()?;
                binding
                    .store
                    .write_current(&binding.path, &RotationId::generate(), &value, None)
                    .await?;
                created.push(entry.id.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let out = Initialised {
        config: path.display().to_string(),
        config_written: write,
        secrets_created: created,
    };
    emit(ctx, &out);
    Ok(OK)
}

/// The file `init` writes: `--config` (the global flag, so `rotation -c x.toml init` writes
/// x.toml), else `rotation.toml` in `--dir`, else in the current directory. Both flags at once
/// would leave it unclear which one a relative `--config` is relative to: refused.
fn target(ctx: &Context, args: &InitArgs) -> Result<PathBuf, CliError> {
    match (&ctx.global.config, &args.dir) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "init: give --config FILE or --dir DIR, not both",
        )),
        (Some(file), None) => Ok(file.clone()),
        (None, dir) => Ok(dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join(config::DEFAULT_PATH)),
    }
}
