//! DATA receiver: RFC 5321 §4.1.1.4 (end of data is exactly CRLF "." CRLF) and §4.5.2
//! (dot-unstuffing), fed one framed line at a time by the session, so bare CR/LF and
//! over-long lines are caught by the framer before they get here (BAD-INPUTS 1-6).
//! Body bytes are handed out in bounded chunks; a refused message keeps being read (and
//! discarded) to its end so the reply lands in sync (RFC 5321 §4.5.3.1.9). For an
//! authenticated submission it also notes whether the header section has `Date:` and
//! `Message-ID:` (RFC 6409 §8.2, §8.3: the submission server adds what is missing).

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

/// Header fields a submission lacks (RFC 6409 §8): added by the driver at the end of the
/// header section, where [`DataRx::take_header_end`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Missing {
    pub date: bool,
    pub message_id: bool,
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
    /// Submission fix-ups wanted: (Date seen, Message-ID seen) so far.
    fixups: Option<(bool, bool)>,
    /// The header section just ended with fields missing; the empty line waits.
    header_end: Option<Missing>,
}

impl DataRx {
    pub fn new(max_size: u64) -> Self {
        DataRx {
            chunk: Vec::new(),
            size: 0,
            max_size,
            in_headers: true,
            received: 0,
            refused: None,
            fixups: None,
            header_end: None,
        }
    }

    /// A receiver that reports missing `Date:`/`Message-ID:` (authenticated submission).
    pub fn with_fixups(max_size: u64) -> Self {
        DataRx { fixups: Some((false, false)), ..DataRx::new(max_size) }
    }

    /// Whether a header section lacking fields just ended ([`DataRx::take_header_end`]).
    pub fn has_header_end(&self) -> bool {
        self.header_end.is_some()
    }

    /// At the end of a header section that lacks fields: what is missing. The bytes before
    /// the header's end are in the chunk (take it first); the empty line follows after.
    pub fn take_header_end(&mut self) -> Option<Missing> {
        let m = self.header_end.take()?;
        self.chunk.extend_from_slice(b"\r\n");
        Some(m)
    }

    /// The data ended inside the header section (a message without body): what is missing.
    pub fn missing_at_end(&mut self) -> Option<Missing> {
        let (date, id) = self.fixups.take().filter(|_| self.in_headers && self.refused.is_none())?;
        let m = Missing { date: !date, message_id: !id };
        (m != Missing::default()).then_some(m)
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
        if self.header_ends_short(line) {
            return Step::Continue;
        }
        self.chunk.extend_from_slice(line);
        self.chunk.extend_from_slice(b"\r\n");
        Step::Continue
    }

    /// Tracks Date/Message-ID in the header section; true when this empty line ends a header
    /// lacking one of them (the line is then held back until [`take_header_end`]).
    ///
    /// [`take_header_end`]: DataRx::take_header_end
    fn header_ends_short(&mut self, line: &[u8]) -> bool {
        let Some((date, id)) = self.fixups.as_mut() else { return false };
        let starts = |p: &[u8]| line.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        *date |= starts(b"Date:");
        *id |= starts(b"Message-ID:");
        if self.in_headers || !line.is_empty() {
            return false;
        }
        // `check` just left the header section: this is its empty line.
        let m = Missing { date: !*date, message_id: !*id };
        self.fixups = None;
        if m == Missing::default() {
            return false;
        }
        self.header_end = Some(m);
        true
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
