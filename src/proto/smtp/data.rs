//! DATA receiver: RFC 5321 §4.1.1.4 (end of data is exactly CRLF "." CRLF) and §4.5.2
//! (dot-unstuffing), fed one framed line at a time by the session, so bare CR/LF and
//! over-long lines are caught by the framer before they get here (BAD-INPUTS 1-6).
//! Body bytes are handed out in bounded chunks; a refused message keeps being read (and
//! discarded) to its end so the reply lands in sync (RFC 5321 §4.5.3.1.9).

/// Body bytes buffered before a `MessageData` chunk is handed out: 8 KiB keeps a session
/// small on a router while amortising store writes. A chunk is at most this plus one line.
pub const DATA_CHUNK: usize = 8 * 1024;
/// `Received:` header fields tolerated before a loop is declared (RFC 5321 §6.3; Postfix's
/// `hopcount_limit` default is 50).
pub const MAX_RECEIVED: usize = 50;

/// Why a message body is refused; the reply is sent after the final dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `Policy::max_message_size` (RFC 5321 §4.5.3.1.9, 552 5.3.4).
    TooBig,
    /// A line over the limit (RFC 5321 §4.5.3.1.6).
    LineTooLong,
    /// Too many `Received:` fields (RFC 5321 §6.3, 554 5.4.6).
    Loop,
}

/// What one line did to the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The line was taken (or discarded, if already refused).
    Continue,
    /// The line was the final dot.
    End,
    /// This line made the message refused: tell the driver to drop its spool now.
    Refused,
}

/// State of one message body being received.
#[derive(Debug)]
pub struct DataRx {
    chunk: Vec<u8>,
    size: u64,
    max_size: u64,
    in_headers: bool,
    received: usize,
    refused: Option<Refusal>,
}

impl DataRx {
    pub fn new(max_size: u64) -> Self {
        DataRx { chunk: Vec::new(), size: 0, max_size, in_headers: true, received: 0, refused: None }
    }

    /// The refusal, if any, to report after the final dot.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused
    }

    /// One line (without CRLF). RFC 5321 §4.5.2: a leading dot is removed; a line that is
    /// exactly "." ends the data.
    pub fn line(&mut self, line: &[u8]) -> Step {
        if line == b"." {
            return Step::End;
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.refused.is_some() {
            return Step::Continue;
        }
        if let Some(refusal) = self.check(line) {
            return self.refuse(refusal);
        }
        self.chunk.extend_from_slice(line);
        self.chunk.extend_from_slice(b"\r\n");
        Step::Continue
    }

    /// An over-long line was discarded by the framer.
    pub fn too_long(&mut self) -> Step {
        if self.refused.is_some() {
            return Step::Continue;
        }
        self.refuse(Refusal::LineTooLong)
    }

    /// Takes the buffered body bytes once a full chunk is ready, or all of them if `flush`.
    pub fn take_chunk(&mut self, flush: bool) -> Option<Vec<u8>> {
        let ready = self.chunk.len() >= DATA_CHUNK || (flush && !self.chunk.is_empty());
        ready.then(|| std::mem::take(&mut self.chunk))
    }

    /// Size and loop checks (RFC 5322 §2.2 header section ends at the first empty line).
    fn check(&mut self, line: &[u8]) -> Option<Refusal> {
        self.size = self.size.saturating_add(line.len() as u64 + 2);
        if self.size > self.max_size {
            return Some(Refusal::TooBig);
        }
        if self.in_headers {
            self.in_headers = !line.is_empty();
            let name = line.get(..9).unwrap_or_default();
            if name.eq_ignore_ascii_case(b"Received:") {
                self.received += 1;
            }
            if self.received > MAX_RECEIVED {
                return Some(Refusal::Loop);
            }
        }
        None
    }

    fn refuse(&mut self, refusal: Refusal) -> Step {
        self.refused = Some(refusal);
        self.chunk = Vec::new();
        Step::Refused
    }
}
