//! `bxpush send`: publish one message from the shell through the running bxpush's
//! trusted listener, to channel ids or to a user's derived channels.

use std::process::ExitCode;

use clap::Args;

use super::target::ConfigArg;
use crate::protocol::ChannelId;

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: ConfigArg,
    /// A private channel id (32 hex digits); repeatable.
    #[arg(long, required_unless_present = "user")]
    pub channel: Vec<String>,
    /// A user id: the message goes to that user's channels, derived from the signature
    /// key as the extension derives them (0 = the shared channel); repeatable.
    #[arg(long)]
    pub user: Vec<i64>,
    /// The message body: JSON, as the pull module sends it, e.g.
    /// '{"module_id":"main","command":"test","params":{}}'.
    #[arg(long)]
    pub message: String,
    /// Seconds the message is kept for clients that reconnect; 0 = live only.
    #[arg(long, default_value_t = 86_400)]
    pub expiry: u32,
}

pub fn run(args: SendArgs) -> ExitCode {
    match send(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, e)) => {
            eprintln!("bxpush send: {e}");
            ExitCode::from(code)
        }
    }
}

/// Err((exit code, message)): 2 = bad input, 1 = bxpush refused or is not reachable.
fn send(args: &SendArgs) -> Result<String, (u8, String)> {
    let bad = |e: String| (2, e);
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&args.message) {
        return Err(bad(format!(
            "--message is not JSON ({e}); the pull module sends e.g. '{{\"module_id\":\"main\",\"command\":\"test\",\"params\":{{}}}}'"
        )));
    }
    let target = args.target.load().map_err(bad)?;
    let mut ids = Vec::new();
    for c in &args.channel {
        let id = ChannelId::from_hex(c).ok_or_else(|| {
            bad(format!(
                "--channel {c:?} is not a channel id: 32 lowercase hex digits (a signed \"id.signature\" is for clients; pass the part before the dot)"
            ))
        })?;
        ids.push(id.to_hex());
    }
    if !args.user.is_empty() {
        let key = target.config.signature_key.as_deref().ok_or_else(|| {
            bad(format!(
                "--user needs the signature key (users' channels derive from it), and {} has none",
                target.source
            ))
        })?;
        let now = crate::hub::now_unix();
        for &u in &args.user {
            for k in crate::users::delivery_channels(key.as_bytes(), u, now) {
                ids.push(k.id.to_hex());
            }
        }
    }
    let addr = target.config.listen_pub;
    let reply = super::http::request(
        addr,
        "POST",
        &format!("/bitrix/pub/?CHANNEL_ID={}", ids.join("/")),
        &[("Message-Expiry", args.expiry.to_string())],
        args.message.as_bytes(),
    )
    .map_err(|e| {
        (
            1,
            format!(
                "bxpush does not answer on listen_pub {addr} ({e}): is it running? systemctl start bxpush (config: {})",
                target.source
            ),
        )
    })?;
    if reply.status != 200 {
        return Err((
            1,
            format!(
                "bxpush refused the message: {} {}",
                reply.status,
                reply.body.trim()
            ),
        ));
    }
    Ok(format!(
        "sent to {} channel{} (expiry {} s)",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        args.expiry
    ))
}
