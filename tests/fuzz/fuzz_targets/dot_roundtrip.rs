//! Fuzz target, round trip of the two dot-stuffing codecs: the POP3 RETR encoder
//! (RFC 1939 §3, `pop3::dotstuff`) and the SMTP DATA receiver (RFC 5321 §4.5.2,
//! `smtp::data`). For any message: streaming the encoder in chunks (first byte: chunk size)
//! gives the same bytes as `stuff_all`; the output ends with the only lone "." line; and
//! un-stuffing it line by line with the DATA receiver gives back the message with bare LFs
//! turned into CRLF and a final CRLF added, byte for byte.
#![no_main]
use letterbox::proto::pop3::{stuff_all, DotStuffer};
use letterbox::proto::smtp::data::{DataRx, Step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, msg)) = data.split_first() else { return };
    let whole = stuff_all(msg, None);
    let mut streamed = Vec::new();
    let mut st = DotStuffer::new(None);
    for piece in msg.chunks(usize::from(split) + 1) {
        st.push(piece, &mut streamed);
    }
    st.finish(&mut streamed);
    assert_eq!(whole, streamed, "stuffing depends on chunking");

    let mut expected = Vec::with_capacity(msg.len() + 2);
    let mut prev = 0u8;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            expected.push(b'\r');
        }
        expected.push(b);
        prev = b;
    }
    match expected.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => expected.push(b'\n'),
        Some(_) => expected.extend_from_slice(b"\r\n"),
    }

    let mut rx = DataRx::new(u64::MAX);
    let mut body = Vec::new();
    let mut rest = &whole[..];
    let mut ended = false;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let (line, tail) = rest.split_at(i);
        rest = &tail[2..];
        match rx.line(line) {
            Step::End => {
                ended = true;
                break;
            }
            Step::Refused => return, // a Received: loop (over MAX_RECEIVED): nothing to compare
            Step::Continue => {}
        }
        if let Some(c) = rx.take_chunk(false) {
            body.extend_from_slice(&c);
        }
    }
    assert!(ended && rest.is_empty(), "terminator missing or not last");
    if let Some(c) = rx.take_chunk(true) {
        body.extend_from_slice(&c);
    }
    assert_eq!(body, expected);
});
