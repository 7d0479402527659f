//! Fuzz target: the RFC 4978 COMPRESS=DEFLATE codec (src/proto/imap/deflate.rs). Random
//! bytes as a client's compressed stream: the inflater never panics, never writes past the
//! room it is given and ends (BAD-INPUTS 104); and our deflater's output, flushed in two
//! pieces at a split point taken from the input, inflates back to exactly the input.
#![no_main]
use letterbox::proto::imap::deflate::{Deflater, Inflater};
use libfuzzer_sys::fuzz_target;

/// Room per inflate call, as the driver's input buffer (PENDING_MAX) has at most.
const ROOM: usize = 8192;

fn inflate_all(inf: &mut Inflater, mut input: &[u8]) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    loop {
        let mut out = Vec::new();
        let used = inf.inflate(input, &mut out, ROOM).ok()?;
        assert!(out.len() <= ROOM, "inflater overran its room");
        input = input.get(used..)?;
        if used == 0 && out.is_empty() {
            return Some(all);
        }
        all.extend_from_slice(&out);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = inflate_all(&mut Inflater::default(), data);
    let split = usize::from(data.first().copied().unwrap_or(0)) * data.len() / 256;
    let (a, b) = data.split_at(split.min(data.len()));
    let (mut d, mut inf) = (Deflater::default(), Inflater::default());
    for piece in [a, b] {
        let mut z = Vec::new();
        d.compress(piece, &mut z);
        assert_eq!(inflate_all(&mut inf, &z).as_deref(), Some(piece), "deflate round trip");
    }
});
