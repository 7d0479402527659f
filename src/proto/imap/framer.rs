//! Bounded IMAP command framer (house style 2): CRLF lines and literals, RFC 3501 §4.3
//! `literal = "{" number "}" CRLF *CHAR8` with §7.5 continuation requests for synchronizing
//! literals and RFC 7888 `{N+}` non-synchronizing literals (LITERAL+). Every literal size is
//! checked before one byte of it is buffered (BAD-INPUTS 28-30); the line limit (RFC 7162
//! §4 recommends 8 KiB at least; we use `imap_line`) is checked per line (BAD-INPUTS 40).
//!
//! An APPEND message literal (RFC 3501 §6.3.11) is not buffered: the framer stops with
//! [`Frame::AppendStarted`], the session accepts or rejects it, and the bytes come out as
//! [`Frame::AppendData`] chunks of at most [`INPUT_MAX`]. RFC 6855 §4 `UTF8 (~{N}...)`
//! messages are the same, with `)` before the final CRLF.

use super::parser::is_append_message;

/// Unparsed input held per session: reads beyond it wait in the driver (backpressure).
pub const INPUT_MAX: usize = 16 * 1024;
/// Literals per command (LOGIN needs 2, APPEND 2; SEARCH may use a few).
pub const LITERALS_MAX: usize = 16;
/// Literal bytes buffered per command, all literals together (APPEND bodies excluded).
pub const COMMAND_LITERAL_TOTAL_MAX: u64 = 256 * 1024;
/// Decimal digits in a literal length: u32 (RFC 3501 §9 `number`) has 10.
const LITERAL_DIGITS_MAX: usize = 10;

/// The limits that apply to the next frame (they depend on the session state).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub line: usize,
    pub literal: u64,
    pub message: u64,
}

/// What the framer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole command with inline literals (`{N}\r\n` + bytes), final CRLF removed.
    Command(Vec<u8>),
    /// A synchronizing literal was accepted: send `+ Ready`.
    Continue,
    /// An APPEND message literal follows `prefix` (the command so far, literal header
    /// included). The framer waits for `accept_append` or `reject_append`.
    AppendStarted {
        prefix: Vec<u8>,
        size: u64,
        sync: bool,
    },
    AppendData(Vec<u8>),
    /// RFC 3502 MULTIAPPEND: after a message literal, `line` (from its leading SP to its
    /// CRLF, the next message's options and literal header) announces one more message. As
    /// for `AppendStarted`, the framer waits for `accept_append` or `reject_append`.
    AppendNext {
        line: Vec<u8>,
        size: u64,
        sync: bool,
    },
    /// The APPEND literal ended; `true` if CRLF followed it (anything else is BAD).
    AppendFinished(bool),
    /// A line over the limit: BAD and close (the stream cannot be resynchronized).
    TooLong,
    /// A literal over its limit or malformed, or too many literals. With `fatal` the peer
    /// is already sending it (`{N+}`) so the connection must close.
    LiteralRefused {
        tag: Vec<u8>,
        fatal: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Line,
    Literal(u64),
    AppendPending { size: u64, sync: bool },
    Append(u64),
    AppendTail,
    Discard(u64),
}

/// See the module doc.
#[derive(Debug)]
pub struct Framer {
    input: Vec<u8>,
    cmd: Vec<u8>,
    /// Where the current line starts in `cmd`.
    line_start: usize,
    literals: usize,
    literal_bytes: u64,
    mode: Mode,
    /// The APPEND literal is RFC 6855 `UTF8 (~{N}`: `)` must follow it.
    append_paren: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            input: Vec::new(),
            cmd: Vec::new(),
            line_start: 0,
            literals: 0,
            literal_bytes: 0,
            mode: Mode::Line,
            append_paren: false,
        }
    }
}

impl Framer {
    /// Buffers up to [`INPUT_MAX`] bytes; returns how many were taken.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let take = data.len().min(INPUT_MAX.saturating_sub(self.input.len()));
        self.input.extend_from_slice(data.get(..take).unwrap_or(&[]));
        take
    }

    /// Drops everything buffered (STARTTLS, RFC 2595 §3.1; BAD-INPUTS 38).
    pub fn clear(&mut self) {
        *self = Framer::default();
    }

    pub fn buffered(&self) -> usize {
        self.input.len() + self.cmd.len()
    }

    /// The next frame, if the input holds one.
    pub fn next(&mut self, limits: Limits) -> Option<Frame> {
        loop {
            match self.mode {
                Mode::Line => match self.line(limits) {
                    Some(Some(frame)) => return Some(frame),
                    Some(None) => {}
                    None => return None,
                },
                Mode::Literal(n) => self.literal(n)?,
                Mode::AppendPending { .. } => return None,
                Mode::Append(n) => return self.append_data(n, limits),
                Mode::AppendTail => return self.append_tail(limits),
                Mode::Discard(n) => self.discard(n)?,
            }
        }
    }

    /// The session accepted the APPEND literal announced by `AppendStarted`.
    pub fn accept_append(&mut self) -> bool {
        let Mode::AppendPending { size, sync } = self.mode else {
            return false;
        };
        self.mode = Mode::Append(size);
        sync
    }

    /// The session refused the APPEND: a `{N+}` literal is skipped, then its line.
    pub fn reject_append(&mut self) {
        if let Mode::AppendPending { size, sync } = self.mode {
            self.reset_command();
            self.mode = if sync { Mode::Line } else { Mode::Discard(size) };
        }
    }

    fn reset_command(&mut self) {
        self.cmd.clear();
        self.line_start = 0;
        self.literals = 0;
        self.literal_bytes = 0;
        self.mode = Mode::Line;
    }

    /// `None`: wait for input; `Some(None)`: a `{N+}` literal started, keep going.
    fn line(&mut self, limits: Limits) -> Option<Option<Frame>> {
        // Bytes move to `cmd` as they come, so a line may be longer than INPUT_MAX.
        let room = limits.line.saturating_sub(self.cmd.len() - self.line_start);
        let lf = memchr::memchr(b'\n', &self.input);
        let take = lf.map_or(self.input.len(), |p| p + 1);
        if take > room || (lf.is_none() && take == room) {
            return Some(Some(self.too_long()));
        }
        self.cmd.extend(self.input.drain(..take));
        lf?;
        let line = self.cmd.get(self.line_start..).unwrap_or(&[]);
        match literal_header(line) {
            None => {
                let mut cmd = std::mem::take(&mut self.cmd);
                cmd.truncate(cmd.len().saturating_sub(if cmd.ends_with(b"\r\n") { 2 } else { 1 }));
                self.reset_command();
                Some(Some(Frame::Command(cmd)))
            }
            Some(Err(sync)) => Some(Some(self.refuse(!sync))),
            Some(Ok((size, sync))) => Some(self.start_literal(size, sync, limits)),
        }
    }

    fn too_long(&mut self) -> Frame {
        self.input.clear();
        self.reset_command();
        Frame::TooLong
    }

    fn refuse(&mut self, fatal: bool) -> Frame {
        let tag = self.cmd.split(|&c| c == b' ').next().unwrap_or(&[]).to_vec();
        self.reset_command();
        Frame::LiteralRefused { tag, fatal }
    }

    /// A literal header ended the line: check the limits before taking any of it.
    fn start_literal(&mut self, size: u64, sync: bool, limits: Limits) -> Option<Frame> {
        let prefix = self.cmd.get(..self.cmd.len().saturating_sub(2)).unwrap_or(&[]);
        if is_append_message(prefix) {
            if size > limits.message {
                return Some(self.refuse(!sync));
            }
            self.mode = Mode::AppendPending { size, sync };
            self.append_paren =
                prefix.get(..prefix.iter().rposition(|&c| c == b'{').unwrap_or(0)).is_some_and(|h| h.ends_with(b"(~"));
            return Some(Frame::AppendStarted { prefix: std::mem::take(&mut self.cmd), size, sync });
        }
        self.literals += 1;
        self.literal_bytes = self.literal_bytes.saturating_add(size);
        if size > limits.literal || self.literals > LITERALS_MAX || self.literal_bytes > COMMAND_LITERAL_TOTAL_MAX {
            return Some(self.refuse(!sync));
        }
        self.mode = Mode::Literal(size);
        sync.then_some(Frame::Continue)
    }

    fn literal(&mut self, n: u64) -> Option<()> {
        if n == 0 {
            self.mode = Mode::Line;
            self.line_start = self.cmd.len();
            return Some(());
        }
        let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.input.len());
        if take == 0 {
            return None;
        }
        self.cmd.extend(self.input.drain(..take));
        self.mode = Mode::Literal(n - take as u64);
        Some(())
    }

    fn append_data(&mut self, n: u64, limits: Limits) -> Option<Frame> {
        if n == 0 {
            self.mode = Mode::AppendTail;
            return self.append_tail(limits);
        }
        let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.input.len());
        if take == 0 {
            return None;
        }
        self.mode = Mode::Append(n - take as u64);
        Some(Frame::AppendData(self.input.drain(..take).collect()))
    }

    /// After the message literal (`)` first for the UTF8 form) CRLF ends the APPEND; SP
    /// starts the next message of an RFC 3502 MULTIAPPEND (`super::multiappend`).
    fn append_tail(&mut self, limits: Limits) -> Option<Frame> {
        let lf = memchr::memchr(b'\n', &self.input);
        let paren = usize::from(self.append_paren);
        if lf.is_none() && self.input.len() < 2 + paren {
            return None;
        }
        let closed = !self.append_paren || self.input.first() == Some(&b')');
        if closed && self.input.get(paren) == Some(&b' ') {
            return self.append_next(lf, paren, limits);
        }
        let rest = match self.append_paren {
            true => self.input.strip_prefix(b")"),
            false => Some(self.input.as_slice()),
        };
        let ok = rest.is_some_and(|r| r.starts_with(b"\r\n") || r.starts_with(b"\n"));
        self.append_paren = false;
        match lf {
            Some(p) if p < INPUT_MAX => drop(self.input.drain(..=p)),
            _ => self.input.clear(),
        }
        self.reset_command();
        Some(Frame::AppendFinished(ok))
    }

    /// The line after a message literal starts with SP: the next MULTIAPPEND message's
    /// options and literal header, at most one line (`INPUT_MAX` held) long.
    fn append_next(&mut self, lf: Option<usize>, paren: usize, limits: Limits) -> Option<Frame> {
        let Some(lf) = lf else {
            let full = self.input.len() >= INPUT_MAX.min(limits.line);
            return full.then(|| self.too_long());
        };
        let line: Vec<u8> = self.input.drain(..=lf).skip(paren).collect();
        let Some(Ok((size, sync))) = literal_header(&line) else {
            self.append_paren = false;
            self.reset_command();
            return Some(Frame::AppendFinished(false));
        };
        let head = line.get(..line.iter().rposition(|&c| c == b'{').unwrap_or(0)).unwrap_or(&[]);
        self.append_paren = head.ends_with(b"(~");
        self.mode = Mode::AppendPending { size, sync };
        Some(Frame::AppendNext { line, size, sync })
    }

    /// Skips a refused `{N+}` literal, then the rest of its line; a MULTIAPPEND line that
    /// announces another `{N+}` literal has that skipped too (its bytes are never commands).
    fn discard(&mut self, n: u64) -> Option<()> {
        let take = usize::try_from(n).unwrap_or(usize::MAX).min(self.input.len());
        self.input.drain(..take);
        let left = n - take as u64;
        if left > 0 {
            self.mode = Mode::Discard(left);
            return None;
        }
        let lf = memchr::memchr(b'\n', &self.input)?;
        let line: Vec<u8> = self.input.drain(..=lf).collect();
        self.mode = match literal_header(&line) {
            Some(Ok((next, false))) => Mode::Discard(next),
            _ => Mode::Line,
        };
        Some(())
    }
}

/// RFC 3501 §9 `literal` header at the end of `line` (`{N}` or RFC 7888 `{N+}`, then
/// CRLF). `Some(Err)` for a malformed or oversized length: refused before allocating.
fn literal_header(line: &[u8]) -> Option<Result<(u64, bool), bool>> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&c| c == b'{')?;
    let inner = body.get(open + 1..)?;
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > LITERAL_DIGITS_MAX || !digits.iter().all(u8::is_ascii_digit) {
        return Some(Err(sync));
    }
    let n = digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    if n > u64::from(u32::MAX) {
        return Some(Err(sync));
    }
    Some(Ok((n, sync)))
}
