//! Who subscribes to what and where each message goes: derived from a seed, so the
//! coordinator, its worker processes and the publisher agree without exchanging lists.

use serde::{Deserialize, Serialize};

use super::body::ChannelKind;
use bxpush::protocol::descriptor::sign_private_descriptor;
use bxpush::protocol::{ChannelId, SignatureAlgo, Signer};

/// How subscribers map to channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Every subscriber has its own user channel (`private:public` descriptor); messages
    /// go to those channels round-robin, one subscriber each.
    Private,
    /// Every subscriber has its own user channel plus one of `--channels` shared
    /// channels (private-only descriptor, like Bitrix's portal-wide shared channel, so
    /// not subject to the per-public-channel connection limit); messages go to the
    /// shared channels round-robin.
    Shared,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub seed: u64,
    pub subscribers: u32,
    /// Shared channels (layout `shared`).
    pub channels: u32,
    pub layout: Layout,
    /// Empty: unsigned descriptors.
    pub key: String,
    pub algo: String,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Plan {
    fn id(&self, kind: u64, idx: u32) -> ChannelId {
        let a = splitmix(self.seed ^ (kind << 56) ^ u64::from(idx));
        let b = splitmix(a ^ 0x5555_5555_5555_5555);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes());
        ChannelId(out)
    }

    pub fn private_id(&self, i: u32) -> ChannelId {
        self.id(1, i)
    }
    pub fn public_id(&self, i: u32) -> ChannelId {
        self.id(2, i)
    }
    pub fn shared_id(&self, j: u32) -> ChannelId {
        self.id(3, j)
    }

    pub fn signer(&self) -> Option<Signer> {
        if self.key.is_empty() {
            return None;
        }
        let algo: SignatureAlgo = self.algo.parse().unwrap_or(SignatureAlgo::Sha1);
        Some(Signer::new(&self.key, algo))
    }

    /// The `CHANNEL_ID` value subscriber `i` connects with (descriptors as the pull
    /// module hands them out, spec §3.2).
    pub fn channel_query(&self, signer: Option<&Signer>, i: u32) -> String {
        let private = self.private_id(i);
        let mut q = match signer {
            Some(s) => sign_private_descriptor(s, &private, Some(&self.public_id(i))),
            None => private.to_hex(),
        };
        if self.layout == Layout::Shared {
            let shared = self.shared_id(i % self.channels.max(1));
            q.push('/');
            q.push_str(&match signer {
                Some(s) => sign_private_descriptor(s, &shared, None),
                None => shared.to_hex(),
            });
        }
        q
    }

    /// Number of channels messages are spread over.
    pub fn targets(&self) -> u32 {
        match self.layout {
            Layout::Private => self.subscribers.max(1),
            Layout::Shared => self.channels.max(1),
        }
    }

    /// Where message `g` of the run goes: channel kind, index and its number there.
    pub fn target_of(&self, g: u64) -> (ChannelKind, u32, u32) {
        let m = u64::from(self.targets());
        let kind = match self.layout {
            Layout::Private => ChannelKind::Private,
            Layout::Shared => ChannelKind::Shared,
        };
        (kind, (g % m) as u32, (g / m) as u32)
    }

    /// The channel subscriber `i`'s deliveries are accounted on.
    pub fn tracked_channel(&self, i: u32) -> u32 {
        match self.layout {
            Layout::Private => i,
            Layout::Shared => i % self.channels.max(1),
        }
    }

    pub fn channel_hex(&self, kind: ChannelKind, idx: u32) -> String {
        match kind {
            ChannelKind::Private => self.private_id(idx).to_hex(),
            ChannelKind::Shared => self.shared_id(idx).to_hex(),
        }
    }

    /// Subscribers on channel `idx` of the message layout.
    pub fn receivers_of(&self, idx: u32) -> u32 {
        match self.layout {
            Layout::Private => u32::from(idx < self.subscribers),
            Layout::Shared => {
                let c = self.channels.max(1);
                self.subscribers / c + u32::from(idx < self.subscribers % c)
            }
        }
    }

    /// How many of the run's first `published` messages went to channel `idx`.
    pub fn published_on(&self, idx: u32, published: u64) -> u32 {
        let m = u64::from(self.targets());
        (published / m + u64::from(u64::from(idx) < published % m)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bxpush::protocol::descriptor::parse_channel_list;
    use bxpush::protocol::Trust;

    fn plan(layout: Layout) -> Plan {
        Plan {
            seed: 7,
            subscribers: 10,
            channels: 3,
            layout,
            key: "k".into(),
            algo: "sha1".into(),
        }
    }

    #[test]
    fn descriptors_verify_with_the_servers_parser() {
        let p = plan(Layout::Shared);
        let s = p.signer().unwrap();
        let q = p.channel_query(Some(&s), 4);
        let d = parse_channel_list(&q, Some(&s), Trust::Untrusted).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].private, p.private_id(4));
        assert_eq!(d[0].public, Some(p.public_id(4)));
        assert_eq!(d[1].private, p.shared_id(1));
    }

    #[test]
    fn round_robin_and_counts() {
        let p = plan(Layout::Shared);
        assert_eq!(p.target_of(7), (ChannelKind::Shared, 1, 2));
        assert_eq!(
            (0..3).map(|c| p.receivers_of(c)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(
            (0..3).map(|c| p.published_on(c, 7)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
        let q = plan(Layout::Private);
        assert_eq!(q.target_of(12), (ChannelKind::Private, 2, 1));
        assert_eq!(q.receivers_of(9), 1);
        assert_eq!(q.receivers_of(10), 0);
    }
}
