//! Which bxpush the shell commands talk about: the config file given with `--config`
//! (or `BXPUSH_CONFIG`), else `/etc/bxpush/bxpush.toml` when it exists (what
//! `make install-server` writes and the systemd unit reads), else the defaults.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::{Config, Layer};

/// The installed config file.
pub const DEFAULT_CONFIG: &str = "/etc/bxpush/bxpush.toml";

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// bxpush's config file (TOML or the Node push-server's JSON). Default:
    /// /etc/bxpush/bxpush.toml if it exists, else bxpush's defaults.
    #[arg(long, env = "BXPUSH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// A resolved config and where it came from (for messages).
pub struct Target {
    pub config: Config,
    pub source: String,
}

impl ConfigArg {
    pub fn load(&self) -> Result<Target, String> {
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
        };
        let (layer, source) = match &path {
            Some(p) => (Layer::from_file(p)?, p.display().to_string()),
            None => (Layer::default(), "bxpush's defaults".to_string()),
        };
        // Absent (not empty) = `serve` generated one and kept it in the data dir.
        let generated = layer.signature_key.is_none();
        let mut config = layer.resolve()?;
        if generated {
            config.signature_key = generated_key(config.data_dir.as_deref());
        }
        Ok(Target { config, source })
    }
}

/// The key `bxpush serve` generated and kept in its data dir, when no key is configured.
fn generated_key(data_dir: Option<&Path>) -> Option<String> {
    let k = std::fs::read_to_string(data_dir?.join("signature.key")).ok()?;
    Some(k.trim().to_string()).filter(|k| !k.is_empty())
}
