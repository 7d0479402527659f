//! Fuzz target: round trips through the encoders the server answers with. The first byte
//! picks one:
//! - the IMAP response `string` encoder (RFC 3501 §9: quoted or literal) read back by the
//!   command parser's `string` reader: the same bytes, except that a NUL is sent as U+FFFD
//!   (a literal is `*CHAR8`), and nothing left over;
//! - the mailbox-name encoder (mUTF-7 wire names, or UTF-8 after ENABLE UTF8=ACCEPT,
//!   RFC 6855 §3) read back by the parser's `mailbox` reader;
//! - base64 (RFC 4648 §4, SASL): decode(encode(x)) == x with and without padding, and what
//!   decodes is canonical: it encodes back to the same text.
#![no_main]
use letterbox::auth::base64;
use letterbox::proto::imap::encode;
use letterbox::proto::imap::reader::P;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 3 {
        0 => {
            let mut out = Vec::new();
            encode::string(&mut out, rest);
            assert!(!out.contains(&0), "NUL on the wire");
            let mut p = P::new(&out);
            let back = p.string().expect("own string encoding parses");
            assert!(p.at_end(), "bytes left after the string");
            let mut want = Vec::with_capacity(rest.len());
            for &c in rest {
                match c {
                    0 => want.extend_from_slice("\u{FFFD}".as_bytes()),
                    c => want.push(c),
                }
            }
            assert_eq!(back, want);
        }
        1 => {
            let Ok(wire) = std::str::from_utf8(rest) else { return };
            if wire.contains('\0') {
                return; // Names with control characters are refused before they are stored.
            }
            for utf8 in [false, true] {
                let mut out = Vec::new();
                encode::mailbox(&mut out, wire, utf8);
                let mut p = P::new(&out);
                let back = p.mailbox().expect("own mailbox encoding parses");
                assert!(p.at_end(), "bytes left after the mailbox");
                assert_eq!(back, wire.as_bytes());
            }
        }
        _ => {
            for pad in [false, true] {
                let text = base64::encode(rest, pad);
                assert_eq!(base64::decode(text.as_bytes()).as_deref(), Ok(rest));
            }
            if let Ok(bytes) = base64::decode(rest) {
                let again = base64::encode(&bytes, rest.ends_with(b"="));
                assert_eq!(again.as_bytes(), rest, "non-canonical base64 accepted");
            }
        }
    }
});
