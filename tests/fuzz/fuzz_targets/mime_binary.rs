//! Fuzz target: the RFC 3516 §4.4 binary-to-base64 conversion of APPENDed messages
//! (`letterbox::mime::binary`) on arbitrary bytes. It never panics; a message without parts
//! declared `binary` comes out unchanged; a converted one grows by at most the base64
//! expansion (4/3, plus CRLF per 57 bytes and the new field per part).
#![no_main]
use letterbox::mime::binary::{needs_conversion, to_base64};
use letterbox::mime::MimeSummary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let summary = MimeSummary::parse(data);
    let mut out = Vec::new();
    let changed = to_base64(&summary, &mut &data[..], &mut |b: &[u8]| {
        out.extend_from_slice(b);
        Ok(())
    })
    .unwrap_or(false);
    assert_eq!(changed, needs_conversion(&summary));
    if !changed {
        assert_eq!(out, data, "unchanged message altered");
        return;
    }
    let bound = data.len() / 57 * 80 + 80 + summary.parts.len() * 40 + data.len() * 2;
    assert!(out.len() <= bound, "output {} over {bound}", out.len());
});
