//! Target `handoff_item`: concatenated hand-off items (`len u32 | kind u8 | fields`), as in
//! a Batch frame or a spool file: `split_items` then `decode_item` on each.
//!
//! Properties: `split_items` returns exactly `count` slices that tile the front of the
//! buffer, or an error; an item error is `Rejected` for an unknown kind or bad UTF-8 and a
//! fatal code otherwise; a decoded item re-encodes to at most its own length and decodes
//! back to itself (decode∘encode round trip); bounded memory.

use bxpush::handoff::wire::{decode_item, encode_item, split_items};

pub fn check(data: &[u8]) {
    let Some((&count, buf)) = data.split_first() else {
        return;
    };
    let count = count as usize % 16;
    let bound = 32 * data.len() + 16 * 1024;
    let split = super::alloc::bounded("split_items", bound, || split_items(buf, count));
    let Ok((raws, rest)) = split else {
        return;
    };
    assert_eq!(raws.len(), count);
    let used: usize = raws.iter().map(|r| r.len()).sum();
    assert_eq!(
        used + rest.len(),
        buf.len(),
        "items and rest tile the buffer"
    );
    let mut at = 0;
    for raw in &raws {
        assert_eq!(
            *raw,
            &buf[at..at + raw.len()],
            "items in order, back to back"
        );
        at += raw.len();
        let item = super::alloc::bounded("decode_item", bound, || decode_item(raw));
        match item {
            Err(e) => assert!(!e.text.is_empty()),
            Ok(item) => {
                let enc = encode_item(&item);
                assert!(enc.len() <= raw.len(), "re-encoding grew the item");
                assert_eq!(
                    decode_item(&enc).as_ref(),
                    Ok(&item),
                    "decode(encode(item))"
                );
            }
        }
    }
}
