//! Binary parts made storable (RFC 3516 §4.4 APPEND with `literal8`): a part whose
//! Content-Transfer-Encoding is `binary` (RFC 2045 §6.2) may hold NUL bytes, which no IMAP
//! `literal` may carry (RFC 3501 §9 `CHAR8`), so `BODY[]` could not answer it. Like Dovecot,
//! such a message is stored with each binary leaf part re-encoded as base64 (RFC 2045 §6.8,
//! 76-character lines) and its Content-Transfer-Encoding field replaced; `BINARY[part]`
//! decodes it back to the original bytes.
//!
//! Streamed: the message is copied from a reader to a sink in [`CHUNK`] reads; only a
//! converted part's header (at most [`PART_HEADER_MAX`]) is held whole. A part with a larger
//! header is copied as it is.

use std::io::{self, Read};

use super::MimeSummary;

/// Bytes read per copy step.
pub const CHUNK: usize = 16 * 1024;
/// Raw bytes per base64 line (RFC 2045 §6.8: lines of at most 76 characters = 57 bytes).
const LINE_BYTES: usize = 57;
/// Largest part header rewritten: a header this big is hostile, not a binary attachment's.
pub const PART_HEADER_MAX: u64 = 64 * 1024;
/// The field put in place of `Content-Transfer-Encoding: binary`.
pub const BASE64_FIELD: &[u8] = b"Content-Transfer-Encoding: base64\r\n";

/// One part to convert: its header and body ranges in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Convert {
    header: (u64, u64),
    body: (u64, u64),
}

/// The leaf parts declared `binary`, in message order; empty when nothing needs converting.
fn binary_parts(summary: &MimeSummary) -> Vec<Convert> {
    let leaves = (0..summary.parts.len() as u32).filter(|&i| !summary.is_multipart(i) && !summary.is_message(i));
    let mut out: Vec<Convert> = leaves
        .filter_map(|i| summary.part(i))
        .filter(|p| p.encoding.as_deref().is_some_and(|e| e.eq_ignore_ascii_case("binary")))
        .filter(|p| p.header_len <= PART_HEADER_MAX && p.header_offset.saturating_add(p.header_len) <= p.body_offset)
        .map(|p| Convert {
            header: (p.header_offset, p.body_offset),
            body: (p.body_offset, p.body_offset + p.body_len),
        })
        .collect();
    out.sort_by_key(|c| c.header.0);
    // Parts never overlap in a parsed summary; drop any that would (defensive).
    let mut end = 0;
    out.retain(|c| {
        let ok = c.header.0 >= end;
        if ok {
            end = c.body.1;
        }
        ok
    });
    out
}

/// Does this message have binary parts to convert?
pub fn needs_conversion(summary: &MimeSummary) -> bool {
    !binary_parts(summary).is_empty()
}

/// Copies the message from `src` to `out` with its binary leaf parts as base64; returns
/// whether anything was converted (when not, `out` got the message unchanged).
pub fn to_base64(
    summary: &MimeSummary,
    src: &mut impl Read,
    out: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<bool> {
    let parts = binary_parts(summary);
    let mut pos = 0u64;
    for c in &parts {
        copy(src, c.header.0 - pos, out)?;
        let header = take(src, c.header.1 - c.header.0)?;
        out(&rewrite_header(&header))?;
        encode_body(src, c.body.1 - c.body.0, out)?;
        pos = c.body.1;
    }
    copy(src, u64::MAX, out)?;
    Ok(!parts.is_empty())
}

/// Copies `n` bytes (or to the end when `src` ends first).
fn copy(src: &mut impl Read, mut n: u64, out: &mut impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    while n > 0 {
        let want = n.min(CHUNK as u64) as usize;
        let got = src.read(buf.get_mut(..want).unwrap_or_default())?;
        if got == 0 {
            break;
        }
        out(buf.get(..got).unwrap_or_default())?;
        n -= got as u64;
    }
    Ok(())
}

/// Reads `n` bytes (at most [`PART_HEADER_MAX`], checked by the caller) into memory.
fn take(src: &mut impl Read, n: u64) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n.min(PART_HEADER_MAX) as usize);
    src.take(n.min(PART_HEADER_MAX)).read_to_end(&mut v)?;
    Ok(v)
}

/// The part header with every Content-Transfer-Encoding field (and its folded lines)
/// removed and [`BASE64_FIELD`] put before the blank line that ends it.
pub fn rewrite_header(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + BASE64_FIELD.len());
    let mut dropping = false;
    let mut rest = header;
    let mut placed = false;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(BASE64_FIELD);
            out.extend_from_slice(line);
            placed = true;
            dropping = false;
            continue;
        }
        let folded = matches!(line.first(), Some(b' ' | b'\t'));
        if !folded {
            dropping = is_cte_field(line);
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    if !placed {
        out.extend_from_slice(BASE64_FIELD);
    }
    out
}

/// Is this line the start of a Content-Transfer-Encoding field?
fn is_cte_field(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding";
    let Some(colon) = memchr::memchr(b':', line) else { return false };
    let name = line.get(..colon).unwrap_or_default();
    name.trim_ascii_end().eq_ignore_ascii_case(NAME)
}

/// Encodes `n` body bytes as base64 lines ending in CRLF.
fn encode_body(src: &mut impl Read, n: u64, out: &mut impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    const LINES: usize = CHUNK / LINE_BYTES;
    let mut buf = vec![0u8; LINES * LINE_BYTES];
    let mut left = n;
    let mut text = Vec::with_capacity(LINES * 78);
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let slot = buf.get_mut(..want).unwrap_or_default();
        let got = crate::util::read_full(src, slot)?;
        for line in slot.get(..got).unwrap_or_default().chunks(LINE_BYTES) {
            text.extend_from_slice(crate::auth::base64::encode(line, true).as_bytes());
            text.extend_from_slice(b"\r\n");
        }
        out(&text)?;
        text.clear();
        if got < want {
            break;
        }
        left -= got as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(msg: &[u8]) -> (bool, Vec<u8>) {
        let summary = MimeSummary::parse(msg);
        let mut out = Vec::new();
        let changed = to_base64(&summary, &mut &msg[..], &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        (changed, out)
    }

    #[test]
    fn a_binary_single_part_message_becomes_base64() {
        let msg = b"From: a@b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0-\xe4\n\r\n\n";
        let (changed, out) = convert(msg);
        assert!(changed);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            "From: a@b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==\r\n"
        );
        let s = MimeSummary::parse(&out);
        assert_eq!(s.parts[0].encoding.as_deref(), Some("base64"));
    }

    #[test]
    fn only_the_binary_part_of_a_multipart_changes() {
        let mut big = vec![0u8; 200];
        big.extend_from_slice(b"end");
        let mut msg = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x\r\nContent-Transfer-Encoding:\r\n BINARY\r\nContent-Type: application/x\r\n\r\n".to_vec();
        msg.extend_from_slice(&big);
        msg.extend_from_slice(b"\r\n--x--\r\n");
        let (changed, out) = convert(&msg);
        assert!(changed);
        assert!(!out.contains(&0));
        let s = MimeSummary::parse(&out);
        assert_eq!(s.parts.len(), 3);
        assert_eq!(s.parts[2].encoding.as_deref(), Some("base64"));
        assert_eq!(s.parts[1].encoding, None);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x\r\nContent-Type: application/x\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
        assert!(text.ends_with("\r\n--x--\r\n"));
        // Lines of 76 characters at most, and the body decodes back.
        let s2 = MimeSummary::parse(text.as_bytes());
        let p = &s2.parts[2];
        let body = &text.as_bytes()[p.body_offset as usize..(p.body_offset + p.body_len) as usize];
        assert!(body.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        let joined: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        assert_eq!(crate::auth::base64::decode(&joined).unwrap(), big);
    }

    #[test]
    fn a_message_without_binary_parts_is_copied_unchanged() {
        let msg = b"Content-Transfer-Encoding: 8bit\r\n\r\nbody \xe4\r\n";
        assert!(!needs_conversion(&MimeSummary::parse(msg)));
        assert_eq!(convert(msg), (false, msg.to_vec()));
    }

    #[test]
    fn a_header_without_its_blank_line_still_gets_the_field() {
        assert_eq!(rewrite_header(b"Content-Transfer-Encoding: binary\r\n"), BASE64_FIELD.to_vec());
    }
}
