//! RFC 3516 BINARY transcripts against the in-memory store: decoded parts, sizes, partial
//! ranges, literal8 APPEND, unknown encodings and broken base64 (BAD-INPUTS 105).

use super::binary::{binary_att, partial_range, BinarySection};
use super::reader::P;
use super::tests::H;
use super::*;

/// RFC 4648 §4 base64, written out here so the decoder is checked against another coder.
fn b64(data: &[u8], line: usize) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % (line / 4) == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let n = c.iter().enumerate().fold(0u32, |a, (k, &b)| a | u32::from(b) << (16 - 8 * k));
        for k in 0..4 {
            let ch = if k <= c.len() { A[(n >> (18 - 6 * k) & 63) as usize] } else { b'=' };
            out.push(ch);
        }
    }
    out
}

fn message(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = b"From: a@b\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        .to_vec();
    for (cte, body) in parts {
        m.extend_from_slice(b"--zz\r\nContent-Type: application/octet-stream\r\n");
        m.extend_from_slice(format!("Content-Transfer-Encoding: {cte}\r\n\r\n").as_bytes());
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--zz--\r\n");
    m
}

/// Every byte value, then a long pseudo-random run (several DECODE_CHUNKs once encoded).
fn payload() -> Vec<u8> {
    let mut v: Vec<u8> = (0..=255u8).collect();
    let mut x = 7u32;
    v.extend((0..60_000).map(|_| super::tests::xorshift(&mut x) as u8));
    v
}

fn harness() -> H {
    let mut h = H::new();
    let data = payload();
    let m = message(&[
        ("base64", &b64(&data, 76)),
        ("quoted-printable", b"caf=C3=A9 =\r\nsoft=3D\r\nnext"),
        ("x-uuencode", b"begin 644 x\r\nend"),
        ("BASE64", b"AAE!!!C*D\r\n==garbage@@\r\nAAAA"),
        ("8bit", b"plain \xff bytes"),
    ]);
    h.store.deliver("INBOX", &m, 0, 1_100_000_000);
    h.select();
    h
}

fn literal8(out: &[u8], name: &str) -> Vec<u8> {
    let head = format!("{name} ~{{");
    let start = find(out, head.as_bytes()).map(|i| i + head.len()).unwrap_or_else(|| panic!("{name}"));
    let rest = &out[start..];
    let close = find(rest, b"}").unwrap_or(0);
    let n: usize = String::from_utf8_lossy(&rest[..close]).parse().unwrap_or(0);
    rest[close + 3..close + 3 + n].to_vec()
}

/// The raw bytes of a transcript (H::run returns lossy UTF-8; binary output needs bytes).
fn run_bytes(h: &mut H, cmd: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    h.s.feed(cmd);
    while let Some(ev) = h.s.poll(h.now, &mut h.store) {
        match ev {
            Event::Reply(b) => out.extend_from_slice(&b),
            other => h.store.apply(&other, &mut h.s),
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn capability_and_grammar() {
    let mut h = H::new();
    assert!(h.run(b"a CAPABILITY\r\n").contains(" BINARY"));
    let mut p = P::new(b"BINARY.PEEK[1.2]<5.10>");
    let want = BinarySection { peek: true, size: false, part: vec![1, 2], partial: Some((5, 10)) };
    assert_eq!(binary_att(&mut p), Ok(Some(want)));
    assert!(binary_att(&mut P::new(b"BINARY.SIZE[1]")).is_ok_and(|b| b.is_some_and(|b| b.size)));
    assert!(binary_att(&mut P::new(b"BINARY[1.HEADER]")).is_err());
    assert!(binary_att(&mut P::new(b"BINARY[0]")).is_err());
    assert_eq!(binary_att(&mut P::new(b"BODY[1]")), Ok(None));
    assert_eq!(partial_range(10, Some((8, 5))), (8, 2));
    assert_eq!(partial_range(10, Some((20, 5))), (10, 0));
}

#[test]
fn base64_part_is_decoded_across_chunks_and_sized() {
    let mut h = harness();
    let data = payload();
    let out = run_bytes(&mut h, b"a FETCH 4 (BINARY.SIZE[1] BINARY.PEEK[1])\r\n");
    let size = format!("BINARY.SIZE[1] {}", data.len());
    assert!(find(&out, size.as_bytes()).is_some(), "{}", String::from_utf8_lossy(&out[..200]));
    let head = format!("BINARY[1] ~{{{}}}\r\n", data.len());
    let at = find(&out, head.as_bytes()).map(|i| i + head.len());
    assert_eq!(at.and_then(|i| out.get(i..i + data.len())), Some(&data[..]));
    assert!(out.ends_with(b"a OK FETCH completed\r\n"));
    // Partial: decoded offsets, not encoded ones.
    let out = run_bytes(&mut h, b"b FETCH 4 BINARY.PEEK[1]<250.10>\r\n");
    let want = [b"BINARY[1]<250> ~{10}\r\n".as_slice(), &data[250..260]].concat();
    assert!(find(&out, &want).is_some(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn qp_identity_and_whole_message() {
    let mut h = harness();
    let out = run_bytes(&mut h, b"a FETCH 4 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[5])\r\n");
    assert_eq!(literal8(&out, "BINARY[2]"), "café soft=\r\nnext".as_bytes());
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("BINARY.SIZE[2] 17"), "{out}");
    assert!(out.contains("BINARY[5] ~{13}\r\nplain"), "{out}");
    let out = h.run(b"b FETCH 1 (BINARY.SIZE[] RFC822.SIZE BINARY.PEEK[9])\r\n");
    let n = super::tests::SIMPLE.len();
    assert!(out.contains(&format!("BINARY.SIZE[] {n} RFC822.SIZE {n} BINARY[9] NIL")), "{out}");
}

#[test]
fn unknown_cte_is_no_unknown_cte() {
    let mut h = harness();
    let out = h.run(b"a FETCH 4 BINARY.PEEK[3]\r\n");
    assert!(out.contains("BINARY[3] NIL") && out.contains("a NO [UNKNOWN-CTE]"), "{out}");
    // BODY[3] still gives the raw bytes.
    assert!(h.run(b"b FETCH 4 BODY.PEEK[3]\r\n").contains("b OK"));
}

#[test]
fn bad_input_105_broken_base64_sizes_agree_with_the_stream() {
    let mut h = harness();
    let out = run_bytes(&mut h, b"a FETCH 4 (BINARY.SIZE[4] BINARY.PEEK[4])\r\n");
    let text = String::from_utf8_lossy(&out).into_owned();
    let size: usize =
        text.split("BINARY.SIZE[4] ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("x").parse().unwrap_or(999);
    // The lenient decoder skips characters outside the alphabet: `AAE!!!C` is `AAEC`.
    let body = literal8(&out, "BINARY[4]");
    assert_eq!(body.len(), size, "{text}");
    assert_eq!(body.get(..3), Some(&[0u8, 1, 2][..]));
    assert!(text.ends_with("a OK FETCH completed\r\n"), "{text}");
}

#[test]
fn binary_sets_seen_unless_peek_and_literal8_append() {
    let mut h = harness();
    let out = h.run(b"a FETCH 1 BINARY.PEEK[1]\r\n");
    assert!(!out.contains("\\Seen"), "{out}");
    let out = h.run(b"b FETCH 1 BINARY[1]\r\n");
    assert!(out.contains("FLAGS (\\Seen)"), "{out}");
    let out = run_bytes(&mut h, b"c APPEND INBOX ~{7+}\r\nab\0cd\r\n\r\nd FETCH 5 BINARY.PEEK[]\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("c OK [APPENDUID"), "{text}");
    assert!(find(&out, b"BINARY[] ~{7}\r\nab\0cd\r\n").is_some(), "{text}");
}
