//! Fuzz target: the DNS message codec (issue 14). Any bytes decode to a message or an
//! error, never a panic, with at most `RECORDS_MAX` records and names within 255 octets
//! (`\DDD` escapes aside); a decoded message's records encode and decode again to the same
//! records (names re-encoded uncompressed), and `interpret` of it never panics.
#![no_main]
use letterbox::dns::wire::{decode, encode_response, Rtype, RECORDS_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = decode(data) else { return };
    assert!(m.records.len() <= RECORDS_MAX);
    let (qname, qtype) = m.question.clone().unwrap_or_else(|| ("example.org".into(), Rtype::A));
    let _ = letterbox::dns::interpret(&m, &qname, qtype);
    let records: Vec<_> = m.records.iter().map(|(_, r)| r.clone()).collect();
    let again = decode(&encode_response(m.id, (&qname, qtype), 0, false, &records)).expect("re-encoded message decodes");
    let back: Vec<_> = again.records.into_iter().map(|(_, r)| r).collect();
    assert_eq!(back.len(), records.len());
    for (a, b) in back.iter().zip(&records) {
        // OPT and unknown types keep no data to re-encode; their names and types survive.
        assert_eq!((&a.name, a.rtype), (&b.name, b.rtype));
        if !matches!(b.data, letterbox::dns::wire::Rdata::Skipped) {
            assert_eq!(a.data, b.data);
        }
    }
});
