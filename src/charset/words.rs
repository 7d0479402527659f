//! RFC 2047 §2-§6 encoded words (`=?charset?B|Q?text?=`) in header values and RFC 2231
//! §3-§4 parameter values (`name*=charset'lang'%XX`, continuations `name*0*`, `name*1`…),
//! decoded to UTF-8 with the charsets of [`super::Charset`].

use super::{decode, Charset};
use crate::mime::decode::Base64Decoder;

/// Longest encoded word looked at: RFC 2047 §2 says 75, real mailers write longer ones; the
/// cap keeps a value full of `=?` linear to decode.
const ENCODED_WORD_MAX: usize = 1024;
/// RFC 2231 §3 continuation sections joined per parameter.
const SECTIONS_MAX: usize = 64;

/// A header value with its encoded words decoded (RFC 2047 §6.1): linear white space
/// between adjacent encoded words is dropped (§6.2) and adjacent words in one charset are
/// joined before conversion (a character may be split across them). Malformed words and
/// words in unknown charsets stay as they are; other bytes are read as UTF-8.
pub fn decode_rfc2047(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    // Bytes of the last run of adjacent words in one charset, not yet converted.
    let mut run: Option<(Charset, Vec<u8>)> = None;
    let (mut i, mut literal) = (0, 0);
    while let Some(rest) = value.get(i..).filter(|r| !r.is_empty()) {
        let Some((cs, bytes, used)) = rest.starts_with(b"=?").then(|| encoded_word(rest)).flatten() else {
            i += 1;
            continue;
        };
        let between = value.get(literal..i).unwrap_or_default();
        let adjacent = run.is_some() && between.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if !adjacent || run.as_ref().is_some_and(|(c, _)| *c != cs) {
            flush(&mut run, &mut out);
        }
        if !adjacent {
            out.push_str(&String::from_utf8_lossy(between));
        }
        run.get_or_insert_with(|| (cs, Vec::new())).1.extend_from_slice(&bytes);
        i += used;
        literal = i;
    }
    flush(&mut run, &mut out);
    out.push_str(&String::from_utf8_lossy(value.get(literal..).unwrap_or_default()));
    out
}

fn flush(run: &mut Option<(Charset, Vec<u8>)>, out: &mut String) {
    if let Some((cs, bytes)) = run.take() {
        out.push_str(&decode(cs, &bytes));
    }
}

/// RFC 2047 §2 `encoded-word` at the start of `w`: its charset, decoded bytes and length.
fn encoded_word(w: &[u8]) -> Option<(Charset, Vec<u8>, usize)> {
    let w = w.get(..ENCODED_WORD_MAX.min(w.len()))?;
    let end = w.iter().position(|&b| b <= b' ' || b == 0x7f).unwrap_or(w.len());
    let word = w.get(..end)?;
    let mut it = word.get(2..)?.splitn(3, |&b| b == b'?');
    let (charset, enc, rest) = (it.next()?, it.next()?, it.next()?);
    let text_len = memchr::memmem::find(rest, b"?=")?;
    let text = rest.get(..text_len)?;
    // RFC 2231 §5: `charset*language`.
    let name = charset.split(|&b| b == b'*').next()?;
    let cs = Charset::lookup(std::str::from_utf8(name).ok()?)?;
    let bytes = match enc {
        b"B" | b"b" => Base64Decoder::decode_all(text),
        b"Q" | b"q" => q_decode(text),
        _ => return None,
    };
    Some((cs, bytes, 2 + charset.len() + 1 + enc.len() + 1 + text_len + 2))
}

/// RFC 2047 §4.2 "Q": `_` is a space, `=XX` a byte; a bad escape stays as it is.
fn q_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        match (c, hex_pair(text.get(i + 1..))) {
            (b'_', _) => out.push(b' '),
            (b'=', Some(b)) => {
                out.push(b);
                i += 2;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// The byte of two hex digits at the start of `s`.
pub(crate) fn hex_pair(s: Option<&[u8]>) -> Option<u8> {
    let hex = |c: &u8| char::from(*c).to_digit(16);
    let s = s?;
    Some((hex(s.first()?)? * 16 + hex(s.get(1)?)?) as u8)
}

/// The value of parameter `name` among `params` (as the MIME summary keeps them): RFC 2231
/// `name*` / `name*0*`… sections joined and decoded, else plain `name` with RFC 2047 words
/// decoded (not standard, but what many mailers send for file names).
pub fn param_rfc2231(params: &[(String, String)], name: &str) -> Option<String> {
    let mut sections: Vec<(u32, bool, &str)> = Vec::new();
    let mut plain = None;
    for (k, v) in params {
        let Some(rest) = k.get(..name.len()).filter(|p| p.eq_ignore_ascii_case(name)).and(k.get(name.len()..)) else {
            continue;
        };
        match rest {
            "" => plain = plain.or(Some(v)),
            "*" => sections.push((0, true, v)),
            _ => {
                let Some(rest) = rest.strip_prefix('*') else { continue };
                let (num, ext) = rest.strip_suffix('*').map_or((rest, false), |n| (n, true));
                if let (Ok(n), true) = (num.parse(), sections.len() < SECTIONS_MAX) {
                    sections.push((n, ext, v));
                }
            }
        }
    }
    if sections.is_empty() {
        return plain.map(|v| decode_rfc2047(v.as_bytes()));
    }
    sections.sort_by_key(|s| s.0);
    Some(join_sections(&sections))
}

/// RFC 2231 §4: the first extended section names the charset; `%XX` escapes in extended
/// sections are bytes in it; plain sections are taken as they are.
fn join_sections(sections: &[(u32, bool, &str)]) -> String {
    let mut charset = Charset::Utf8;
    let mut bytes = Vec::new();
    for (i, &(_, ext, v)) in sections.iter().enumerate() {
        if !ext {
            bytes.extend_from_slice(v.as_bytes());
            continue;
        }
        let mut v = v.as_bytes();
        if i == 0 {
            let mut it = v.splitn(3, |&b| b == b'\'');
            if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                charset = std::str::from_utf8(cs).ok().and_then(Charset::lookup).unwrap_or(Charset::Utf8);
                v = rest;
            }
        }
        percent_decode(v, &mut bytes);
    }
    decode(charset, &bytes)
}

fn percent_decode(v: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        match (c, hex_pair(v.get(i + 1..))) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}
