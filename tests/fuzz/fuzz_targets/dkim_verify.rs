//! Fuzz target: DKIM verification (issue 15) on arbitrary bytes. The first byte picks a
//! chunk size; the bytes up to the first NUL are the key record served for every
//! signature, the rest is the message. The tag-list and key-record parsers see the record
//! directly; the verifier's buffer stays within HEADER_MAX after every chunk; the verdicts
//! do not depend on how the message was split, and there is one per signature field.
#![no_main]
use letterbox::dns::Rdata;
use letterbox::mailauth::dkim_verify::{tags, verify_with_key, Signature, Verifier, HEADER_MAX};
use libfuzzer_sys::fuzz_target;

/// RFC 8463 Appendix A's t=, so its message (the seed) verifies.
const NOW: u64 = 1_528_637_909;

fn run(msg: &[u8], size: usize, key: &[u8]) -> Vec<Signature> {
    let mut v = Verifier::new();
    for piece in msg.chunks(size) {
        v.push(piece);
        assert!(v.buffered() <= HEADER_MAX, "{}", v.buffered());
    }
    let checked = v.finish();
    let out: Vec<Signature> =
        (0..checked.len()).map(|i| verify_with_key(&checked, i, Ok(vec![Rdata::Txt(key.to_vec())]), NOW)).collect();
    assert_eq!(out.len(), checked.len());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let (key, msg) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    if let Ok(list) = tags::tag_list(key) {
        assert!(list.len() <= tags::TAGS_MAX);
        let _ = tags::signature(&list);
    }
    if let Ok(k) = tags::key_record(key) {
        assert!(k.public_key.len() <= tags::KEY_B64_MAX);
    }
    let size = usize::from(ctl) + 1;
    assert_eq!(run(msg, msg.len().max(1), key), run(msg, size, key), "verdicts depend on chunking");
});
