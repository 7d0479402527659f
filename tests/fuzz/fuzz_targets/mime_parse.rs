//! Fuzz target: the streaming MIME structure parser (RFC 2045, RFC 2046 §5.1) on arbitrary
//! bytes. The first byte picks a chunk size: the summary must not depend on how the message
//! was split (the store feeds it in socket-sized pieces), parts stay within the caps
//! (`PARTS_MAX`), every part's offsets lie inside the message, a part path resolves without
//! panicking, and the meta section the store keeps (postcard summary + the search-field ext)
//! round-trips whenever it did not have to degrade.
#![no_main]
use letterbox::mime::{MimeParser, MimeSummary, PARTS_MAX};
use letterbox::store::format::MAX_META;
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
    // The postcard struct leaves `header_fields` out (`#[serde(skip)]`)...
    let bytes = postcard::to_stdvec(&whole).unwrap_or_default();
    let bare = MimeSummary { header_fields: None, ..whole.clone() };
    assert_eq!(postcard::from_bytes::<MimeSummary>(&bytes).ok().as_ref(), Some(&bare));
    // ...and the meta section carries them as its ext. It degrades (parts dropped, then the
    // fields, then strings cut) only past MAX_META; undegraded, it is the summary exactly.
    let meta = whole.clone().to_meta();
    assert!(meta.len() <= MAX_META as usize, "meta over MAX_META");
    if let Some(back) = MimeSummary::from_meta(&meta) {
        assert_eq!(back.size, whole.size);
        assert!(!back.parts.is_empty() && back.parts.len() <= whole.parts.len());
        let same_shape = back.parts.len() == whole.parts.len()
            && back.header_fields.is_some() == whole.header_fields.is_some();
        if same_shape && whole.header_fields.is_some() {
            assert_eq!(back, whole, "undegraded meta does not round-trip");
        }
    } else {
        assert!(meta.is_empty() || whole.parts.is_empty(), "meta written but unreadable");
    }
});
