//! Fuzz target: the DKIM canonicalizer and signer (issue 14) on arbitrary bytes. The first
//! byte picks a chunk size, the second an `l=` limit. The signature fields (Ed25519 is
//! deterministic) and both body canonicalizations must not depend on how the input was
//! split; the signer's buffer stays within its limit after every chunk; canonical output
//! is never longer than the input plus the CRLF that may be added, and `l=` cuts it; every
//! line of a DKIM-Signature field fits the folding width.
#![no_main]
use letterbox::mailauth::canon::{self, BodyCanon, Canon, OUT_CHUNK};
use letterbox::mailauth::dkim_sign::{Signer, LINE_WIDTH, SIGNED_HEADER_BYTES_MAX};
use letterbox::mailauth::keys::Key;
use libfuzzer_sys::fuzz_target;

/// RFC 8032 §7.1 test 1 seed as PKCS#8 v1: prefix + 32 octets.
const KEY: [u8; 48] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, 0x9d, 0x61, 0xb1,
    0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
    0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let Some((&limit, input)) = rest.split_first() else { return };
    let size = usize::from(split) + 1;
    let keys = [Key::ed25519_from_pkcs8("lb1", &KEY).expect("fixed key")];
    let mut whole = Signer::new(&keys, "example.org", 1);
    whole.update(input);
    let mut chunked = Signer::new(&keys, "example.org", 1);
    for piece in input.chunks(size) {
        chunked.update(piece);
        assert!(chunked.buffered() <= SIGNED_HEADER_BYTES_MAX + 256, "{}", chunked.buffered());
    }
    let signed = whole.finish();
    assert_eq!(signed, chunked.finish(), "signature depends on chunking");
    for field in signed.iter().flatten() {
        assert!(field.split("\r\n").all(|l| l.len() <= LINE_WIDTH), "{field}");
    }
    for c in [Canon::Simple, Canon::Relaxed] {
        let one = canon::body(c, input);
        assert!(one.len() <= input.len() + 2);
        let mut out = Vec::new();
        let mut b = BodyCanon::with_limit(c, Some(u64::from(limit)));
        for piece in input.chunks(size) {
            b.feed(piece, &mut |x| out.extend_from_slice(x));
            assert!(b.buffered() <= OUT_CHUNK);
        }
        assert_eq!(b.finish(&mut |x| out.extend_from_slice(x)), one.len() as u64);
        assert_eq!(out, one.get(..one.len().min(usize::from(limit))).unwrap_or_default());
    }
});
