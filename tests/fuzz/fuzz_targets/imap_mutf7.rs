//! Fuzz target: modified UTF-7 mailbox names (RFC 3501 §5.1.3). decode never panics;
//! decode(encode(s)) == s for any string; and whatever decodes is in canonical form
//! (encode(decode(b)) == b: no null shifts "-&", no BASE64 for printable ASCII, minimal
//! padding), so two wire names never map to one folder.
#![no_main]
use letterbox::proto::imap::types::{decode_mutf7, encode_mutf7};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = decode_mutf7(data) {
        assert_eq!(encode_mutf7(&name).as_bytes(), data, "non-canonical wire name accepted");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let wire = encode_mutf7(s);
        assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(decode_mutf7(wire.as_bytes()).as_deref(), Ok(s));
    }
});
