//! Target `spool`: a spool file as `forward::spool::read` finds it on disk (torn, damaged,
//! from another version, or forged).
//!
//! Properties: a file is accepted only whole — re-encoding what was decoded gives the
//! very same bytes, crc included (so a damaged file is never half-read); every spooled
//! item is one that the item codec can split; bounded memory.

use bxpush::handoff::wire::{decode_spool, encode_spool, split_items};
use bytes::Bytes;

pub fn check(data: &[u8]) {
    let bound = 32 * data.len() + 16 * 1024;
    let decoded = super::alloc::bounded("decode_spool", bound, || {
        decode_spool(Bytes::copy_from_slice(data))
    });
    let Ok(spool) = decoded else {
        return;
    };
    let items: Vec<&[u8]> = spool.items.iter().map(|b| b.as_ref()).collect();
    assert_eq!(
        encode_spool(spool.origin, spool.first_seq, &items),
        data,
        "encode(decode(file)) == file"
    );
    for raw in &items {
        let (one, rest) = split_items(raw, 1).expect("a spooled item splits");
        assert_eq!((one[0], rest.len()), (*raw, 0));
    }
}
