//! DKIM canonicalization, RFC 6376 §3.4: the `simple` and `relaxed` forms of header fields
//! (§3.4.1, §3.4.2) and a streaming body canonicalizer (§3.4.3, §3.4.4) that accepts the
//! body in chunks split anywhere and writes its output to a sink (a hash, for the signer
//! and the verifier), honouring a body length limit (`l=`, §3.5) and counting what it saw.
//!
//! Input is the message as sent on the wire: lines end in CRLF. A CR not followed by LF and
//! a bare LF are ordinary octets (§3.4.4 speaks of CRLF line ends only). At the end of a body
//! that does not end in CRLF, a CRLF is added; trailing whitespace on such an unterminated
//! last line is compressed, not dropped (the RFC is silent on the order; dkimpy and this
//! module agree, so a signature over such a body verifies there).

/// The two algorithms of RFC 6376 §3.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    /// §3.4.1 / §3.4.3: almost no change.
    Simple,
    /// §3.4.2 / §3.4.4: whitespace- and case-tolerant.
    Relaxed,
}

/// RFC 5234 WSP.
fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends the canonical form of one header field to `out`, with its CRLF. `field` is the
/// raw field as it appears in the message: name, colon, value and any folding CRLFs, without
/// the final CRLF.
pub fn header(canon: Canon, field: &[u8], out: &mut Vec<u8>) {
    match canon {
        // §3.4.1: "MUST NOT change header fields in any way".
        Canon::Simple => out.extend_from_slice(field),
        Canon::Relaxed => header_relaxed(field, out),
    }
    out.extend_from_slice(b"\r\n");
}

/// §3.4.2: name lowercased, folding removed, WSP runs made one SP, WSP around the colon and
/// at the end of the value deleted.
fn header_relaxed(field: &[u8], out: &mut Vec<u8>) {
    let (name, value) = match memchr::memchr(b':', field) {
        Some(i) => (field.get(..i).unwrap_or_default(), field.get(i + 1..).unwrap_or_default()),
        None => (field, &b""[..]),
    };
    out.extend(trim_wsp_end(name).iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut wsp = false;
    let mut started = false;
    for &b in value {
        match b {
            // Unfolding (RFC 5322 §2.2.3): the CRLF goes, the WSP after it stays (as SP).
            b'\r' | b'\n' => {}
            b if is_wsp(b) => wsp = true,
            b => {
                if wsp && started {
                    out.push(b' ');
                }
                out.push(b);
                (wsp, started) = (false, true);
            }
        }
    }
}

fn trim_wsp_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_wsp(b)).count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// Canonical bytes buffered before they go to the sink: one hash update per 4 KiB.
pub const OUT_CHUNK: usize = 4096;

/// The streaming body canonicalizer (§3.4.3, §3.4.4). Feed it the body (everything after
/// the empty line that ends the header) in chunks of any size; the sink receives the
/// canonical body, cut at the `l=` limit when one is set. Memory is fixed: the state is a
/// few flags, a count of deferred empty lines and a 4 KiB output buffer.
#[derive(Debug, Clone)]
pub struct BodyCanon {
    canon: Canon,
    /// Octets the sink may still receive (`l=`, §3.5); `u64::MAX` when unlimited.
    room: u64,
    /// Canonical octets produced so far (not cut by the limit): a verifier compares it
    /// with `l=` (§6.1.3: `l=` larger than the body is a failure).
    total: u64,
    /// A CR was the last octet seen; it ends a line if an LF follows.
    cr: bool,
    /// Relaxed: a WSP run is pending; it becomes one SP unless the line ends first.
    wsp: bool,
    /// Line ends not yet written: trailing empty lines are dropped at the end (§3.4.3).
    crlfs: u64,
    /// Any octet of content was written: an empty body gets no CRLF in relaxed (§3.4.4).
    content: bool,
    buf: Vec<u8>,
}

impl BodyCanon {
    /// A canonicalizer without a length limit.
    pub fn new(canon: Canon) -> BodyCanon {
        Self::with_limit(canon, None)
    }

    /// A canonicalizer whose sink receives at most `limit` octets (the `l=` tag).
    pub fn with_limit(canon: Canon, limit: Option<u64>) -> BodyCanon {
        let room = limit.unwrap_or(u64::MAX);
        let buf = Vec::with_capacity(OUT_CHUNK);
        BodyCanon { canon, room, total: 0, cr: false, wsp: false, crlfs: 0, content: false, buf }
    }

    /// Canonical octets produced so far, before any `l=` cut.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Feeds the next piece of the body.
    pub fn feed(&mut self, data: &[u8], sink: &mut impl FnMut(&[u8])) {
        let mut rest = data;
        while let Some((&first, tail)) = rest.split_first() {
            // Octets that are neither CR nor (relaxed) WSP go to the output as a run, with
            // the pending state resolved once.
            let special = match self.canon {
                // Words are short: a plain scan beats a SIMD search's set-up here.
                Canon::Relaxed => rest.iter().position(|&b| b == b'\r' || is_wsp(b)),
                Canon::Simple => memchr::memchr(b'\r', rest),
            };
            let n = special.unwrap_or(rest.len());
            if n > 0 && !self.cr {
                let (run, tail) = rest.split_at(n);
                self.content_run(run, sink);
                rest = tail;
            } else {
                self.octet(first, sink);
                rest = tail;
            }
        }
        self.flush(sink);
    }

    /// Ends the body: writes the final CRLF a non-empty body needs (§3.4.3, §3.4.4).
    pub fn finish(mut self, sink: &mut impl FnMut(&[u8])) -> u64 {
        if std::mem::take(&mut self.cr) {
            self.content_run(b"\r", sink);
        }
        if std::mem::take(&mut self.wsp) {
            // An unterminated last line keeps its compressed trailing WSP (module docs).
            self.content_run(b" ", sink);
        }
        if self.content || self.canon == Canon::Simple {
            // §3.4.3: "If there is no body or no CRLF at the end of the body, a CRLF is added".
            self.put(b"\r\n", sink);
        }
        self.flush(sink);
        self.total
    }

    fn octet(&mut self, b: u8, sink: &mut impl FnMut(&[u8])) {
        if std::mem::take(&mut self.cr) {
            if b == b'\n' {
                // A line ends: its trailing WSP goes (relaxed), its CRLF waits (§3.4.3).
                self.wsp = false;
                self.crlfs += 1;
                return;
            }
            self.content_run(b"\r", sink);
        }
        match b {
            b'\r' => self.cr = true,
            b if self.canon == Canon::Relaxed && is_wsp(b) => self.wsp = true,
            b => self.content_run(&[b], sink),
        }
    }

    /// Writes octets of line content (none of them CR or, relaxed, WSP), after the line
    /// ends and the WSP run they follow.
    fn content_run(&mut self, run: &[u8], sink: &mut impl FnMut(&[u8])) {
        while self.crlfs > 0 {
            self.crlfs -= 1;
            self.put(b"\r\n", sink);
        }
        if std::mem::take(&mut self.wsp) {
            self.put(b" ", sink);
        }
        self.content = true;
        self.put(run, sink);
    }

    /// Counts `bytes` and passes what the limit allows on through `buf` (at most
    /// OUT_CHUNK octets are held; longer runs go to the sink directly).
    fn put(&mut self, bytes: &[u8], sink: &mut impl FnMut(&[u8])) {
        self.total += bytes.len() as u64;
        let n = usize::try_from(self.room).unwrap_or(usize::MAX).min(bytes.len());
        self.room -= n as u64;
        let bytes = bytes.get(..n).unwrap_or_default();
        if self.buf.len() + bytes.len() > OUT_CHUNK {
            self.flush(sink);
        }
        if bytes.len() >= OUT_CHUNK {
            sink(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn flush(&mut self, sink: &mut impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            sink(&self.buf);
            self.buf.clear();
        }
    }

    /// Octets held in the output buffer (at most OUT_CHUNK): the fuzz target checks it.
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }
}

/// The canonical form of a whole body in one call (tests, small bodies).
pub fn body(canon: Canon, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut c = BodyCanon::new(canon);
    c.feed(data, &mut |b| out.extend_from_slice(b));
    c.finish(&mut |b| out.extend_from_slice(b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(canon: Canon, field: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        header(canon, field, &mut out);
        out
    }

    /// RFC 6376 §3.4.5, the example: headers `A: X`, `B : Y\t\r\n\tZ  `, body
    /// ` C \r\nD \t E\r\n\r\n\r\n`.
    #[test]
    fn rfc6376_example() {
        assert_eq!(hdr(Canon::Relaxed, b"A: X"), b"a:X\r\n");
        assert_eq!(hdr(Canon::Relaxed, b"B : Y\t\r\n\tZ  "), b"b:Y Z\r\n");
        assert_eq!(hdr(Canon::Simple, b"B : Y\t\r\n\tZ  "), b"B : Y\t\r\n\tZ  \r\n");
        let b = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(body(Canon::Relaxed, b), b" C\r\nD E\r\n");
        assert_eq!(body(Canon::Simple, b), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_bodies() {
        // §3.4.3: simple makes an empty body one CRLF; §3.4.4: relaxed leaves it empty.
        assert_eq!(body(Canon::Simple, b""), b"\r\n");
        assert_eq!(body(Canon::Relaxed, b""), b"");
        assert_eq!(body(Canon::Simple, b"\r\n\r\n"), b"\r\n");
        assert_eq!(body(Canon::Relaxed, b"\r\n \t\r\n"), b"");
    }

    #[test]
    fn unterminated_and_odd_line_ends() {
        assert_eq!(body(Canon::Relaxed, b"Hello"), b"Hello\r\n");
        assert_eq!(body(Canon::Simple, b"Hello"), b"Hello\r\n");
        // As dkimpy: trailing WSP of an unterminated last line is compressed, not dropped.
        assert_eq!(body(Canon::Relaxed, b"abc\r\n  \t"), b"abc\r\n \r\n");
        assert_eq!(body(Canon::Relaxed, b"a \rb\r"), b"a \rb\r\r\n");
        assert_eq!(body(Canon::Relaxed, b"a \r\r\n"), b"a \r\r\n");
        assert_eq!(body(Canon::Simple, b"a\nb\r\n\r\n"), b"a\nb\r\n");
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let input: &[u8] = b" C \r\nD \t E\r\n\r\n \r\nx\r\ry\t \r\n\r\n\r\n  ";
        for canon in [Canon::Simple, Canon::Relaxed] {
            let whole = body(canon, input);
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let mut out = Vec::new();
                    let mut c = BodyCanon::new(canon);
                    for part in [&input[..i], &input[i..j], &input[j..]] {
                        c.feed(part, &mut |b| out.extend_from_slice(b));
                    }
                    c.finish(&mut |b| out.extend_from_slice(b));
                    assert_eq!(out, whole, "{canon:?} split at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn memory_stays_bounded() {
        // A million empty lines then content: the deferred CRLFs stream out in pieces.
        let mut c = BodyCanon::new(Canon::Relaxed);
        let (mut out, mut biggest) = (0u64, 0);
        let mut sink = |b: &[u8]| {
            out += b.len() as u64;
            biggest = biggest.max(b.len());
        };
        c.feed(&b"\r\n".repeat(1 << 20), &mut sink);
        assert!(c.buffered() <= OUT_CHUNK);
        c.feed(b"x", &mut sink);
        assert!(c.buffered() <= OUT_CHUNK);
        assert_eq!(c.finish(&mut sink), (2 << 20) + 3);
        assert!(biggest <= OUT_CHUNK);
        assert_eq!(out, (2 << 20) + 3);
    }

    #[test]
    fn length_limit_cuts_the_sink_not_the_count() {
        let mut out = Vec::new();
        let mut c = BodyCanon::with_limit(Canon::Relaxed, Some(4));
        c.feed(b"ab  cd\r\n", &mut |b| out.extend_from_slice(b));
        let total = c.finish(&mut |b| out.extend_from_slice(b));
        assert_eq!(out, b"ab c");
        assert_eq!(total, 7);
    }

    #[test]
    fn relaxed_header_edges() {
        assert_eq!(hdr(Canon::Relaxed, b"SubJect :  a \t b  \r\n\t c  "), b"subject:a b c\r\n");
        assert_eq!(hdr(Canon::Relaxed, b"X:"), b"x:\r\n");
        assert_eq!(hdr(Canon::Relaxed, b"no colon"), b"no colon:\r\n");
    }
}
