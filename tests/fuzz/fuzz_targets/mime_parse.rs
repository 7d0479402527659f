//! Fuzz target: the streaming MIME structure parser (RFC 2045, RFC 2046 §5.1) on arbitrary
//! bytes. The first byte picks a chunk size: the summary must not depend on how the message
//! was split (the store feeds it in socket-sized pieces), parts stay within the caps
//! (`PARTS_MAX`), every part's offsets lie inside the message, a part path resolves without
//! panicking, and the postcard form the store keeps round-trips.
#![no_main]
use letterbox::mime::{MimeParser, MimeSummary, PARTS_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let whole = MimeSummary::parse(input);
    let mut p = MimeParser::new();
    for piece in input.chunks(usize::from(split) + 1) {
        p.push(piece);
    }
    let chunked = p.finish();
    assert_eq!(whole, chunked, "summary depends on chunking");
    assert_eq!(whole.size, input.len() as u64);
    assert!(!whole.parts.is_empty() && whole.parts.len() <= PARTS_MAX + 1);
    for (i, part) in whole.parts.iter().enumerate() {
        assert!(part.header_offset + part.header_len <= whole.size, "part {i} header past end");
        assert!(part.body_offset + part.body_len <= whole.size, "part {i} body past end");
        assert!(part.header_offset <= part.body_offset, "part {i} body before header");
        if let Some(parent) = part.parent {
            assert!((parent as usize) < i, "part {i} parent {parent} not before it");
        }
    }
    for path in [&[1u32][..], &[1, 1], &[2, 1, 3], &[0]] {
        if let Some(i) = whole.resolve(path) {
            assert!(whole.part(i).is_some());
        }
    }
    let bytes = postcard::to_stdvec(&whole).unwrap_or_default();
    assert_eq!(postcard::from_bytes::<MimeSummary>(&bytes).ok().as_ref(), Some(&whole));
});
