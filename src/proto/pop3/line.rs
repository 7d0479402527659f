//! POP3 input framing (house style 2: frame before parse) on the shared CRLF line framer
//! ([`crate::proto::line`], also SMTP's). RFC 2449 §4 caps a command line at 255 octets
//! including CRLF; RFC 1939 §3 says lines end in CRLF and hold printable characters, so a bare
//! LF, a CR or another control character inside the line is an error, never normalised
//! (BAD-INPUTS 41). An overlong line is discarded to its end.

use crate::proto::line::{self, LineFramer};

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

/// The session's unconsumed input (at most [`INPUT_BUFFER_MAX`]) framed by the one CRLF
/// line framer of the line protocols, [`crate::proto::line::LineFramer`].
#[derive(Debug)]
pub struct LineBuffer {
    input: Vec<u8>,
    framer: LineFramer,
    /// After a bare CR: the rest of that line is part of the same error (dropped to its LF).
    skip_to_lf: bool,
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer { input: Vec::new(), framer: LineFramer::new(COMMAND_LINE_MAX), skip_to_lf: false }
    }
}

impl LineBuffer {
    /// Takes as many bytes as fit; returns how many were consumed.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(INPUT_BUFFER_MAX.saturating_sub(self.input.len()));
        self.input.extend_from_slice(data.get(..take).unwrap_or(&[]));
        take
    }

    /// The next frame if one is complete; `limit` counts the CRLF.
    pub fn next(&mut self, limit: usize) -> Option<Frame> {
        if self.skip_to_lf {
            let lf = memchr::memchr(b'\n', &self.input);
            self.input.drain(..lf.map_or(self.input.len(), |p| p + 1));
            self.skip_to_lf = lf.is_none();
            if self.skip_to_lf {
                return None;
            }
        }
        self.framer.set_limit(limit);
        let (used, frame) = self.framer.push(&self.input);
        self.input.drain(..used.min(self.input.len()));
        Some(match frame? {
            // RFC 1939 §3: printable characters only; a NUL or control octet is an error.
            line::Frame::Line if self.framer.line().iter().all(|&b| b >= 0x20 && b != 0x7f) => {
                Frame::Line(self.framer.line().to_vec())
            }
            line::Frame::Line | line::Frame::BareLf => Frame::Malformed,
            line::Frame::BareCr => {
                self.skip_to_lf = true;
                Frame::Malformed
            }
            line::Frame::TooLong => Frame::TooLong,
        })
    }

    /// Drops everything buffered: used at STLS so no plaintext byte crosses into TLS
    /// (RFC 2595 §4, the CVE-2011-0411 command-injection class).
    pub fn clear(&mut self) {
        self.input.clear();
        self.framer.reset();
        self.skip_to_lf = false;
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.input.is_empty() && !self.framer.is_mid_line()
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
        assert_eq!(b.next(255), None, "discarding until the line ends");
        assert_eq!(b.feed(&long), 300, "tail swallowed while discarding");
        assert_eq!(b.next(255), None);
        assert_eq!(b.feed(b"AAA\r\nNOOP\r\n"), 11);
        assert_eq!(b.next(255), Some(Frame::TooLong));
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
        assert_eq!(b.next(COMMAND_LINE_MAX), None);
        assert_eq!(b.feed(&flood), INPUT_BUFFER_MAX, "the framer discarded the overlong line");
        assert_eq!(b.next(COMMAND_LINE_MAX), None);
        assert_eq!(b.feed(b"\r\n"), 2);
        assert_eq!(b.next(COMMAND_LINE_MAX), Some(Frame::TooLong));
        assert!(b.is_empty());
    }
}
