//! Bounded CRLF line framer of the line protocols: the SMTP core, the SMTP client's reply
//! reader (`proto::smtp::client`) and POP3 (through `proto::pop3::line`, which adds
//! RFC 1939's printable-characters rule). IMAP frames with
//! its own `proto::imap::framer`, because a command there is lines *and* literals
//! (RFC 3501 §4.3) whose sizes must be checked before a byte of them is buffered.
//!
//! RFC 5321 §2.3.8 and RFC 1939 §3 end lines with exactly CRLF. The
//! framer runs before any grammar (house style: frame before you parse) and never holds more
//! than its `limit` bytes. It reports, as outcomes rather than errors:
//! - [`Frame::Line`]: a complete line; its bytes (without CRLF) are in [`LineFramer::line`].
//! - [`Frame::TooLong`]: the line exceeded the limit; the rest of it was discarded up to and
//!   including its CRLF (RFC 5321 §4.5.3.1.4 / §4.5.3.1.6), so the caller can reply and go on.
//! - [`Frame::BareLf`] / [`Frame::BareCr`]: an LF not preceded by CR, or a CR not followed by
//!   LF (RFC 5321 §2.3.8; Postfix CVE-2023-51764). Never normalised: the caller decides.
//!
//! A CR as the last byte offered is kept pending until the next byte shows whether it is
//! part of CRLF, so the result does not depend on how the input is split.

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// What [`LineFramer::push`] found at the end of the bytes it consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A complete CRLF-terminated line within the limit; read it with [`LineFramer::line`].
    Line,
    /// A line longer than the limit ended; its bytes were discarded.
    TooLong,
    /// An LF without a preceding CR.
    BareLf,
    /// A CR followed by something other than LF.
    BareCr,
}

/// Bounded CRLF framer. `limit` counts the CRLF, as RFC 5321 §4.5.3.1 does.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    limit: usize,
    /// The previous byte consumed was a CR.
    pending_cr: bool,
    /// The current line went over the limit: skip to its end.
    discarding: bool,
    /// The last push returned a frame; the buffer is cleared on the next push.
    framed: bool,
}

impl LineFramer {
    /// A framer for lines of at most `limit` bytes including CRLF (at least 3).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(3);
        LineFramer { buf: Vec::with_capacity(limit), limit, pending_cr: false, discarding: false, framed: false }
    }

    /// Changes the limit for the next lines (SMTP commands vs DATA lines).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(3);
    }

    /// Forgets any partial line (RFC 3207 §4.2: discard input buffered before TLS).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pending_cr = false;
        self.discarding = false;
        self.framed = false;
    }

    /// The last complete line, without its CRLF. Empty unless the last push returned
    /// [`Frame::Line`].
    pub fn line(&self) -> &[u8] {
        &self.buf
    }

    /// True when part of a line is buffered (or being discarded) and no frame ended yet.
    pub fn is_mid_line(&self) -> bool {
        !self.framed && (!self.buf.is_empty() || self.pending_cr || self.discarding)
    }

    /// True while the current line is over the limit and being skipped: a caller that will
    /// not wait for its end (the SMTP client facing a 10 MB reply line) can give up now.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Bytes allocated for the line buffer (tests of bounded memory).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Consumes bytes from `input` up to the end of one frame. Returns how many bytes were
    /// consumed and the frame, or `None` when all of `input` was consumed mid-line.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        if self.framed {
            self.buf.clear();
            self.framed = false;
        }
        let mut used = 0;
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            if self.pending_cr {
                self.pending_cr = false;
                let frame = match rest.first() {
                    Some(&LF) => self.finish_line(),
                    // The byte after the bare CR is left unconsumed: the caller stops anyway.
                    _ => Frame::BareCr,
                };
                return self.framed(used + usize::from(frame != Frame::BareCr), frame);
            }
            let Some(pos) = memchr::memchr2(CR, LF, rest) else {
                self.take(rest);
                return (input.len(), None);
            };
            self.take(rest.get(..pos).unwrap_or_default());
            used += pos + 1;
            if rest.get(pos) == Some(&LF) {
                return self.framed(used, Frame::BareLf);
            }
            self.pending_cr = true;
        }
        (used, None)
    }

    /// Appends line content, switching to discard mode past the limit (limit - 2 for CRLF).
    fn take(&mut self, bytes: &[u8]) {
        if self.discarding {
            return;
        }
        let room = self.limit.saturating_sub(2).saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.discarding = true;
            self.buf.clear();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn finish_line(&mut self) -> Frame {
        if self.discarding {
            Frame::TooLong
        } else {
            Frame::Line
        }
    }

    fn framed(&mut self, used: usize, frame: Frame) -> (usize, Option<Frame>) {
        self.discarding = false;
        self.framed = true;
        if frame != Frame::Line {
            self.buf.clear();
        }
        (used, Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the framer over `input` in pieces of `step` bytes, collecting frames and lines.
    fn frames(limit: usize, input: &[u8], step: usize) -> Vec<(Frame, Vec<u8>)> {
        let mut f = LineFramer::new(limit);
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            let mut off = 0;
            while off < piece.len() {
                let (n, frame) = f.push(piece.get(off..).unwrap_or_default());
                off += n;
                if let Some(frame) = frame {
                    out.push((frame, f.line().to_vec()));
                    if frame != Frame::Line && n == 0 {
                        off += 1; // skip the byte after a bare CR
                    }
                }
            }
        }
        out
    }

    #[test]
    fn lines_split_anywhere() {
        let input = b"HELO a\r\nNOOP\r\n\r\n";
        for step in 1..input.len() {
            let got = frames(100, input, step);
            let want =
                vec![(Frame::Line, b"HELO a".to_vec()), (Frame::Line, b"NOOP".to_vec()), (Frame::Line, Vec::new())];
            assert_eq!(got, want, "step {step}");
        }
    }

    #[test]
    fn limit_counts_crlf() {
        assert_eq!(frames(6, b"abcd\r\n", 1), vec![(Frame::Line, b"abcd".to_vec())]);
        assert_eq!(frames(6, b"abcde\r\nx\r\n", 3).first().map(|f| f.0), Some(Frame::TooLong));
        assert_eq!(frames(6, b"abcde\r\nx\r\n", 3).get(1), Some(&(Frame::Line, b"x".to_vec())));
    }

    #[test]
    fn bare_lf_and_cr() {
        assert_eq!(frames(100, b"ab\ncd", 1).first().map(|f| f.0), Some(Frame::BareLf));
        assert_eq!(frames(100, b"ab\rcd", 1).first().map(|f| f.0), Some(Frame::BareCr));
        assert_eq!(frames(100, b"ab\r\rcd", 2).first().map(|f| f.0), Some(Frame::BareCr));
    }

    #[test]
    fn long_line_memory_stays_bounded() {
        let mut f = LineFramer::new(1000);
        let big = vec![b'x'; 1 << 20];
        assert_eq!(f.push(&big), (big.len(), None));
        assert!(f.buf.capacity() <= 1000);
        assert_eq!(f.push(b"\r\n"), (2, Some(Frame::TooLong)));
    }
}
