//! Fuzz target: the decoders behind SEARCH BODY/TEXT (issue 19, BAD-INPUTS 92). The first
//! byte picks the transfer encoding, charset and HTML mode, the second the chunk size, the
//! third the needle length; the rest is a part body. Decoding it in chunks must give the
//! text a one-shot decode gives, the chunked matcher must agree with a substring test on
//! the normalized whole, and RFC 2047 / RFC 2231 decoding of the same bytes must not panic.
#![no_main]
use letterbox::charset::{decode_rfc2047, normalize, param_rfc2231, FoldMatcher};
use letterbox::mime::decode::TextStream;
use libfuzzer_sys::fuzz_target;

const ENCODINGS: [Option<&str>; 4] = [None, Some("quoted-printable"), Some("base64"), Some("8bit")];
const CHARSETS: [&str; 8] = ["utf-8", "iso-8859-1", "koi8-r", "windows-1252", "iso-8859-7", "x-unknown", "us-ascii", "ibm866"];

fn decode(enc: Option<&str>, cs: &str, html: bool, body: &[u8], chunk: usize) -> String {
    let mut s = TextStream::new(enc, Some(cs), html);
    let mut out = String::new();
    for piece in body.chunks(chunk) {
        out.push_str(s.push(piece));
    }
    out.push_str(s.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let [mode, chunk, needle_len, rest @ ..] = data else { return };
    let enc = ENCODINGS[usize::from(mode & 3)];
    let cs = CHARSETS[usize::from(mode >> 2 & 7)];
    let html = mode & 0x20 != 0;
    let chunk = usize::from(*chunk).max(1);
    let whole = decode(enc, cs, html, rest, rest.len().max(1));
    assert_eq!(decode(enc, cs, html, rest, chunk), whole);

    // A needle from the decoded text (found) or from the raw bytes (found or not).
    let source = match needle_len & 16 {
        0 => whole.clone(),
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    let needle: String = source.chars().skip(source.chars().count() / 3).take(usize::from(needle_len & 15)).collect();
    let mut m = FoldMatcher::new(&needle);
    let mut found = m.found();
    let chars: Vec<char> = whole.chars().collect();
    for piece in chars.chunks(chunk) {
        found = m.push(&piece.iter().collect::<String>());
    }
    assert_eq!(found, normalize(&whole).contains(&normalize(&needle)));

    let _ = decode_rfc2047(rest);
    let text = String::from_utf8_lossy(rest);
    let params = vec![("filename*0*".to_string(), text.to_string()), ("filename*1".to_string(), "x".to_string())];
    let _ = param_rfc2231(&params, "filename");
});
