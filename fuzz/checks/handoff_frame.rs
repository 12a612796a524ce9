//! Target `handoff_frame`: what a PHP worker (or an owner) sends on the hand-off socket,
//! read as the owner reads it: `len u32`, checked by `check_len`, then `type | payload`
//! decoded by `Frame::decode` (items of a Batch by the item codec).
//!
//! Properties: a frame-level error is never `Rejected` (only single items are rejected;
//! a broken frame is fatal, so the connection closes); `len` over 16 MiB is
//! `FrameTooLarge`; a Batch never claims more than 10 000 items; encode∘decode is stable
//! (decoding the re-encoded frame gives the same frame); decoding holds a bounded
//! multiple of the input.

use bxpush::handoff::wire::{check_len, ErrorCode, Frame, MAX_FRAME, MAX_ITEMS};

pub fn check(data: &[u8]) {
    let Some((len, body)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = u32::from_be_bytes(*len);
    match check_len(len) {
        Ok(n) => assert!((1..=MAX_FRAME).contains(&n)),
        Err(e) => {
            let code = if len == 0 {
                ErrorCode::BadFrame
            } else {
                ErrorCode::FrameTooLarge
            };
            assert_eq!(e.code, code);
            assert!(e.code.is_fatal());
        }
    }

    // Vec<Result<Item, WireError>> holds ~100 bytes per 5-byte item header.
    let bound = 32 * body.len() + 16 * 1024;
    let decoded = super::alloc::bounded("Frame::decode", bound, || Frame::decode(body));
    match decoded {
        Err(e) => {
            assert_ne!(e.code, ErrorCode::Rejected, "a frame error must be fatal");
            assert!(e.code.is_fatal());
            assert!(!e.text.is_empty());
        }
        Ok(frame) => {
            if let Frame::Batch { items, .. } = &frame {
                assert!(items.len() <= MAX_ITEMS);
                // The owner answers each with a Rejected Error frame carrying this text.
                for e in items.iter().filter_map(|i| i.as_ref().err()) {
                    assert!(!e.text.is_empty(), "an item error says why");
                }
            }
            let again = frame.to_body();
            let redecoded = Frame::decode(&again[4..]).expect("a re-encoded frame decodes");
            match (&frame, &redecoded) {
                // An undecodable item is re-encoded as an unknown kind: same position,
                // still rejected.
                (
                    Frame::Batch {
                        origin,
                        first_seq,
                        items,
                    },
                    Frame::Batch {
                        origin: o2,
                        first_seq: f2,
                        items: i2,
                    },
                ) => {
                    assert_eq!((origin, first_seq, items.len()), (o2, f2, i2.len()));
                    for (x, y) in items.iter().zip(i2) {
                        match (x, y) {
                            (Ok(x), Ok(y)) => assert_eq!(x, y),
                            (Err(_), Err(_)) => {}
                            _ => panic!("item changed on re-encoding: {x:?} vs {y:?}"),
                        }
                    }
                }
                _ => assert_eq!(frame, redecoded, "decode(encode(frame)) == frame"),
            }
        }
    }
}
