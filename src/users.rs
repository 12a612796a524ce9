//! Per-user channels derived from the signature key, without a database: PHP workers and
//! the owner compute the same ids for the same user and time.
//!
//! Bitrix's pull module keeps random channel ids per user in `b_pull_channel` and renews
//! them every 12 hours (`CHANNEL_TTL` = 43 205 s of validity). We derive them instead:
//! `private = HMAC-SHA256(key, "bxpush:private:<user_id>:<period>")[..16]`, the public id
//! likewise with `bxpush:public:`, and the shared channel (user 0) from
//! `bxpush:shared:<period>`, where `period = now / 43 200`. Whoever knows the key can compute
//! any user's channel, which is no more than the key already allows (it signs channels).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::protocol::{ChannelId, ChannelKey};

/// Bitrix renews channels every 12 h.
pub const CHANNEL_PERIOD: u64 = 43_200;
/// Bitrix `CHANNEL_TTL`: a channel's config says `end = start + 43205`.
pub const CHANNEL_TTL: u64 = 43_205;
/// After a period starts, messages also go to the previous period's channel this long:
/// clients reload their config within about 60 s of `end`.
pub const OVERLAP: u64 = 600;

/// One user's channels for one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserChannels {
    pub private: ChannelId,
    /// None for user 0 (the shared channel has no public id).
    pub public: Option<ChannelId>,
    /// Unix seconds the period starts.
    pub start: u64,
    /// `start + CHANNEL_TTL`: what the client's config reports as the channel's end.
    pub end: u64,
}

fn derive(key: &[u8], label: &str) -> ChannelId {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    m.update(label.as_bytes());
    let full = m.finalize().into_bytes();
    ChannelId(full[..16].try_into().expect("16 of 32 bytes"))
}

fn for_period(key: &[u8], user_id: i64, period: u64) -> UserChannels {
    let start = period * CHANNEL_PERIOD;
    let (private, public) = if user_id == 0 {
        (derive(key, &format!("bxpush:shared:{period}")), None)
    } else {
        (
            derive(key, &format!("bxpush:private:{user_id}:{period}")),
            Some(derive(key, &format!("bxpush:public:{user_id}:{period}"))),
        )
    };
    UserChannels {
        private,
        public,
        start,
        end: start + CHANNEL_TTL,
    }
}

/// The channels of `user_id` (0 = the shared channel) in the period containing `now_unix`.
pub fn user_channels(key: &[u8], user_id: i64, now_unix: u64) -> UserChannels {
    for_period(key, user_id, now_unix / CHANNEL_PERIOD)
}

/// The channels a message to `user_id` goes to at `now_unix`: the current period's
/// private channel, plus the previous period's during the first [`OVERLAP`] seconds of a
/// period (a client reloads its config within ~60 s of `end`; this covers the gap).
pub fn delivery_channels(key: &[u8], user_id: i64, now_unix: u64) -> Vec<ChannelKey> {
    let period = now_unix / CHANNEL_PERIOD;
    let mut v = vec![ChannelKey::private(
        for_period(key, user_id, period).private,
    )];
    if period > 0 && now_unix - period * CHANNEL_PERIOD < OVERLAP {
        v.push(ChannelKey::private(
            for_period(key, user_id, period - 1).private,
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[u8] = b"test-signature-key";
    const T: u64 = 1_704_067_200 + 5_000; // inside a period, past the overlap

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = user_channels(K, 1, T);
        assert_eq!(a, user_channels(K, 1, T + 10));
        let b = user_channels(K, 2, T);
        assert_ne!(a.private, b.private);
        assert_ne!(a.private, a.public.unwrap());
        assert_ne!(a.private, user_channels(b"other", 1, T).private);
        // The documented derivation, byte for byte.
        let period = T / CHANNEL_PERIOD;
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(K).unwrap();
        m.update(format!("bxpush:private:1:{period}").as_bytes());
        assert_eq!(&a.private.0[..], &m.finalize().into_bytes()[..16]);
        assert_eq!(a.start, period * CHANNEL_PERIOD);
        assert_eq!(a.end, a.start + 43_205);
        assert!(a.start <= T && T < a.start + CHANNEL_PERIOD);
    }

    #[test]
    fn channels_rotate_every_period() {
        let a = user_channels(K, 1, T);
        let next = user_channels(K, 1, a.start + CHANNEL_PERIOD);
        assert_ne!(a.private, next.private);
        assert_eq!(next.start, a.start + CHANNEL_PERIOD);
        assert_eq!(
            user_channels(K, 1, a.start + CHANNEL_PERIOD - 1).private,
            a.private
        );
    }

    #[test]
    fn previous_channel_during_the_first_600_seconds() {
        let cur = user_channels(K, 7, T);
        let next_start = cur.start + CHANNEL_PERIOD;
        let next = user_channels(K, 7, next_start);
        assert_eq!(
            delivery_channels(K, 7, T),
            vec![ChannelKey::private(cur.private)]
        );
        for t in [next_start, next_start + 599] {
            assert_eq!(
                delivery_channels(K, 7, t),
                vec![
                    ChannelKey::private(next.private),
                    ChannelKey::private(cur.private)
                ]
            );
        }
        assert_eq!(
            delivery_channels(K, 7, next_start + 600),
            vec![ChannelKey::private(next.private)]
        );
    }

    #[test]
    fn user_zero_is_the_shared_channel_without_public() {
        let s = user_channels(K, 0, T);
        assert!(s.public.is_none());
        assert_ne!(s.private, user_channels(K, 1, T).private);
        assert_eq!(
            delivery_channels(K, 0, T),
            vec![ChannelKey::private(s.private)]
        );
        assert!(user_channels(K, -1, T).public.is_some());
    }
}
