//! Dot-stuffing encoder shared by POP3 RETR/TOP (RFC 1939 §3 byte-stuffing, §7 TOP) and the
//! SMTP client's DATA (RFC 5321 §4.5.2 transparency, with `top_lines: None`). Streams
//! a stored message (CRLF lines) in chunks of any size: doubles a '.' that starts a line,
//! turns a bare LF into CRLF so the terminator cannot be forged, stops after the header and
//! `n` body lines for TOP, and ends with a CRLF (added if missing) and ".\r\n".

/// Streaming dot-stuffer; keeps only a few flags between chunks.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
    prev_cr: bool,
    /// Octets in the current line so far, CR not counted (0 at a blank line's LF).
    line_len: usize,
    in_header: bool,
    /// Body lines still to send; `None` sends everything (RETR).
    body_left: Option<u32>,
    done: bool,
}

impl DotStuffer {
    /// `top_lines: None` for RETR, `Some(n)` for `TOP msg n`.
    pub fn new(top_lines: Option<u32>) -> DotStuffer {
        DotStuffer {
            at_line_start: true,
            prev_cr: false,
            line_len: 0,
            in_header: true,
            body_left: top_lines,
            done: false,
        }
    }

    /// True once TOP has sent all it should: the driver may stop reading the message.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Appends the stuffed form of `chunk` to `out`; bytes after a TOP cut are ignored.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 16 + 2);
        for &byte in chunk {
            if self.done {
                return;
            }
            self.byte(byte, out);
        }
    }

    fn byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.at_line_start && byte == b'.' {
            out.push(b'.');
        }
        self.at_line_start = false;
        if byte == b'\n' {
            if !self.prev_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
            self.end_line();
        } else {
            out.push(byte);
            self.line_len += usize::from(byte != b'\r');
        }
        self.prev_cr = byte == b'\r';
    }

    /// Header ends at the first empty line (RFC 5322 §2.1); TOP counts body lines after it.
    fn end_line(&mut self) {
        let blank = self.line_len == 0;
        self.at_line_start = true;
        self.line_len = 0;
        if self.in_header {
            self.in_header = !blank;
            self.done = !self.in_header && self.body_left == Some(0);
            return;
        }
        if let Some(left) = self.body_left.as_mut() {
            *left = left.saturating_sub(1);
            self.done = *left == 0;
        }
    }

    /// Completes the last line if needed and appends the terminator ".\r\n".
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(if self.prev_cr { b"\n" } else { b"\r\n" });
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Stuffs a whole message at once (tests and small messages).
pub fn stuff_all(message: &[u8], top_lines: Option<u32>) -> Vec<u8> {
    let mut stuffer = DotStuffer::new(top_lines);
    let mut out = Vec::with_capacity(message.len() + 8);
    stuffer.push(message, &mut out);
    stuffer.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Subject: x\r\n.From: y\r\n\r\nline1\r\n.line2\r\n..3\r\nline4\r\n";

    #[test]
    fn retr_stuffs_leading_dots() {
        let expected: &[u8] = b"Subject: x\r\n..From: y\r\n\r\nline1\r\n..line2\r\n...3\r\nline4\r\n.\r\n";
        assert_eq!(stuff_all(MSG, None), expected);
    }

    #[test]
    fn top_cuts_after_n_body_lines() {
        assert_eq!(stuff_all(MSG, Some(0)), b"Subject: x\r\n..From: y\r\n\r\n.\r\n");
        assert_eq!(stuff_all(MSG, Some(2)), b"Subject: x\r\n..From: y\r\n\r\nline1\r\n..line2\r\n.\r\n");
        assert_eq!(stuff_all(MSG, Some(u32::MAX)), stuff_all(MSG, None));
        assert_eq!(stuff_all(b"Subject: only header\r\n", Some(0)), b"Subject: only header\r\n.\r\n");
    }

    #[test]
    fn final_crlf_guaranteed_and_bare_lf_fixed() {
        assert_eq!(stuff_all(b"", None), b".\r\n");
        assert_eq!(stuff_all(b"a\r\n\r\nno newline", None), b"a\r\n\r\nno newline\r\n.\r\n");
        assert_eq!(stuff_all(b"a\r\n\r\nends in CR\r", None), b"a\r\n\r\nends in CR\r\n.\r\n");
        assert_eq!(stuff_all(b"a\n\n.\n", None), b"a\r\n\r\n..\r\n.\r\n");
    }
}
