//! Bounded CRLF line framer for POP3 (house style 2: frame before parse). RFC 2449 §4 caps a
//! command line at 255 octets including CRLF; RFC 1939 §3 says lines end in CRLF and hold
//! printable characters, so a bare LF, a CR or another control character inside the line is
//! an error, never normalised (BAD-INPUTS 41). An overlong line is discarded to its LF.

/// RFC 2449 §4: 255 octets including the terminating CRLF.
pub const COMMAND_LINE_MAX: usize = 255;
/// A SASL client response line (RFC 5034 §4): the base64 blob limit plus CRLF.
pub const SASL_LINE_MAX: usize = crate::auth::SASL_BLOB_MAX + 2;
/// Bytes held per session: one SASL line, or many pipelined commands (RFC 2449 §6.6).
pub const INPUT_BUFFER_MAX: usize = SASL_LINE_MAX;

/// What the framer found at the front of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A well-formed line, CRLF removed.
    Line(Vec<u8>),
    /// Longer than the limit; its bytes are (being) discarded.
    TooLong,
    /// Bare LF ending, or CR / NUL / control character inside.
    Malformed,
}

#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Dropping the tail of an overlong line until its LF.
    discarding: bool,
}

impl LineBuffer {
    /// Takes as many bytes as fit; returns how many were consumed.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        if self.discarding {
            match memchr::memchr(b'\n', data) {
                Some(p) => (used, self.discarding) = (p + 1, false),
                None => return data.len(),
            }
        }
        let rest = data.get(used..).unwrap_or(&[]);
        let take = rest.len().min(INPUT_BUFFER_MAX.saturating_sub(self.buf.len()));
        self.buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        used + take
    }

    /// The next frame if one is complete; `limit` counts the CRLF.
    pub fn next(&mut self, limit: usize) -> Option<Frame> {
        let Some(lf) = memchr::memchr(b'\n', &self.buf) else {
            if self.buf.len() >= limit {
                self.buf.clear();
                self.discarding = true;
                return Some(Frame::TooLong);
            }
            return None;
        };
        let mut line: Vec<u8> = self.buf.drain(..=lf).collect();
        if line.len() > limit {
            return Some(Frame::TooLong);
        }
        line.pop(); // LF
        if line.pop() != Some(b'\r') || line.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Some(Frame::Malformed);
        }
        Some(Frame::Line(line))
    }

    /// Drops everything buffered: used at STLS so no plaintext byte crosses into TLS
    /// (RFC 2595 §4, the CVE-2011-0411 command-injection class).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], limit: usize) -> Vec<Frame> {
        let mut b = LineBuffer::default();
        assert_eq!(b.feed(input), input.len());
        std::iter::from_fn(|| b.next(limit)).collect()
    }

    #[test]
    fn frames_crlf_lines_and_rejects_bare_lf_and_cr() {
        let got = frames(b"STAT\r\nNOOP\nRE\rTR 1\r\nLIST\0\r\nQUIT\r\nPART", 255);
        assert_eq!(
            got,
            [
                Frame::Line(b"STAT".to_vec()),
                Frame::Malformed,
                Frame::Malformed,
                Frame::Malformed,
                Frame::Line(b"QUIT".to_vec())
            ]
        );
    }

    #[test]
    fn overlong_line_is_discarded_to_its_lf() {
        let mut b = LineBuffer::default();
        let long = [b'A'; 300];
        b.feed(&long);
        assert_eq!(b.next(255), Some(Frame::TooLong));
        assert_eq!(b.feed(&long), 300, "tail swallowed while discarding");
        assert_eq!(b.feed(b"AAA\r\nNOOP\r\n"), 11);
        assert_eq!(b.next(255), Some(Frame::Line(b"NOOP".to_vec())));
        assert_eq!(b.next(255), None);
        // Exactly 255 with CRLF passes; 256 does not.
        let mut ok = vec![b'N'; 253];
        ok.extend_from_slice(b"\r\n");
        assert_eq!(frames(&ok, 255), [Frame::Line(vec![b'N'; 253])]);
        ok.insert(0, b'N');
        assert_eq!(frames(&ok, 255), [Frame::TooLong]);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut b = LineBuffer::default();
        let flood = vec![b'x'; INPUT_BUFFER_MAX * 3];
        assert_eq!(b.feed(&flood), INPUT_BUFFER_MAX);
        assert_eq!(b.feed(&flood), 0);
        assert_eq!(b.next(COMMAND_LINE_MAX), Some(Frame::TooLong));
        assert!(b.is_empty());
    }
}
