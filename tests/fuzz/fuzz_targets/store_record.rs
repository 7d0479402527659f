//! Fuzz target: the store's record decoder on arbitrary bytes; a record that verifies must
//! re-encode to the same bytes (round trip) for the kinds with an encoder.
#![no_main]
use letterbox::store::format::{self, Kind, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = format::verify_record(data) else { return };
    let payload = &data[HEADER_LEN..HEADER_LEN + h.len as usize];
    match h.kind {
        Kind::Flags | Kind::Expunge => {
            if let Some((modseq, pairs)) = format::decode_pairs(payload) {
                let again = if h.kind == Kind::Flags { format::encode_flags(modseq, &pairs) } else { format::encode_expunge(modseq, &pairs) };
                assert_eq!(&again[..], &data[..again.len()]);
            }
        }
        Kind::Keyword => {
            if let Some((i, name)) = format::decode_keyword(payload) {
                assert_eq!(&format::encode_keyword(i, &name)[..], &data[..HEADER_LEN + payload.len()]);
            }
        }
        Kind::Header | Kind::Message => {}
    }
});
