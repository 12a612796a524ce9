//! Trusted listeners stay on loopback unless the operator says otherwise. Whoever reaches
//! `listen_pub` can publish to every channel and read the statistics; whoever reaches a
//! TCP `listen_php` can try the hand-off. A non-loopback address there is refused unless
//! `allow_remote_publish` is set, and then warned about at every start.

use std::net::SocketAddr;

use crate::config::Config;
use crate::handoff::PhpTarget;

/// The trusted listeners bound to a non-loopback address: `(key, address)`.
pub fn remote_trusted(config: &Config) -> Vec<(&'static str, SocketAddr)> {
    let mut out = Vec::new();
    if !config.listen_pub.ip().is_loopback() {
        out.push(("listen_pub", config.listen_pub));
    }
    if let Some(PhpTarget::Tcp(addr)) = &config.listen_php {
        if !addr.ip().is_loopback() {
            out.push(("listen_php", *addr));
        }
    }
    out
}

/// Refuse non-loopback trusted listeners without `allow_remote_publish`; the message
/// names both fixes.
pub fn check(config: &Config) -> Result<(), String> {
    if config.allow_remote_publish {
        return Ok(());
    }
    match remote_trusted(config).first() {
        None => Ok(()),
        Some((key, addr)) => {
            let flag = key.replace('_', "-");
            Err(format!(
                "{key} {addr} is not a loopback address: whoever reaches it can publish to every channel. \
                 Bind it to loopback (--{flag} 127.0.0.1:{port}), or, if a firewall admits only your PHP servers, \
                 pass --allow-remote-publish (allow_remote_publish = true in the config file)",
                port = addr.port()
            ))
        }
    }
}

/// A warning at every start for a remote `listen_pub` (the PHP listener warns about a
/// remote `listen_php` itself, when it binds).
pub fn warn_allowed(config: &Config) {
    if !config.listen_pub.ip().is_loopback() {
        tracing::warn!(
            addr = %config.listen_pub,
            "listen_pub is not on loopback (allowed by allow_remote_publish): anyone who reaches it can publish; make sure a firewall admits only your PHP servers"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layer;

    #[test]
    fn remote_publish_is_refused_unless_allowed() {
        let remote = Layer {
            listen_pub: Some("0.0.0.0:9010".parse().unwrap()),
            ..Default::default()
        };
        let e = remote.clone().resolve().unwrap_err();
        assert!(e.contains("listen_pub 0.0.0.0:9010"), "{e}");
        assert!(e.contains("--listen-pub 127.0.0.1:9010"), "{e}");
        assert!(e.contains("--allow-remote-publish"), "{e}");
        let allowed = Layer {
            allow_remote_publish: Some(true),
            ..remote
        };
        let c = allowed.resolve().unwrap();
        assert_eq!(remote_trusted(&c).len(), 1);

        let php = Layer {
            listen_php: Some(PhpTarget::Tcp("10.0.0.5:9011".parse().unwrap())),
            signature_key: Some("k".into()),
            ..Default::default()
        };
        assert!(php
            .resolve()
            .unwrap_err()
            .contains("listen_php 10.0.0.5:9011"));
        assert!(Layer::default().resolve().is_ok());
    }
}
