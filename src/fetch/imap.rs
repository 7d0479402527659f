//! Sans-IO IMAP4rev1 client core of fetch (RFC 3501), for pulling mail: bytes in, events
//! out, commands out as bytes; no sockets, files or clocks. The driver (`net::fetch`) sends
//! one command at a time and reads until its tagged completion.
//!
//! - Framing (RFC 3501 §4.3, §7): response lines end with CRLF and are bounded by
//!   [`LINE_MAX`]; a literal `{n}` inside a response line is read into the line when it is
//!   small ([`SMALL_LITERAL_MAX`]); the message literal of `UID FETCH uid BODY.PEEK[]`
//!   (§6.4.5, §7.4.2) is checked against the caller's size limit *before* a byte of it is
//!   read, then handed out in pieces as it arrives ([`Event::Body`]), never buffered whole.
//! - Commands (§6): CAPABILITY, STARTTLS (§6.2.1), LOGIN (§6.2.3), AUTHENTICATE PLAIN
//!   (§6.2.2 with RFC 4616, initial response per RFC 4959), SELECT (§6.3.1: the
//!   UIDVALIDITY and UIDNEXT codes, §7.1), UID FETCH (§6.4.8), UID STORE +FLAGS.SILENT
//!   (\Deleted), UID EXPUNGE (RFC 4315 §2.1), IDLE / DONE (RFC 2177), LOGOUT (§6.1.3).
//! - State (§3): not authenticated, authenticated, selected, idling, logged out; a command
//!   not allowed in the current state is refused before it is sent.
//! - Bad server input is an [`Error`], never a panic: a line over [`LINE_MAX`], a literal
//!   over the limit (a 2 GB announcement), bytes after a body literal other than the rest
//!   of the FETCH response, a greeting that is not `* OK`/`* PREAUTH`.

use std::fmt;

use crate::auth::Secret;

/// Longest response line read (with small literals): a CAPABILITY or FLAGS line with many
/// keywords fits (Dovecot's are under 1 KiB); a never-ending line stops here.
pub const LINE_MAX: usize = 64 * 1024;
/// Largest literal inside a non-message response (a mailbox name or a header field);
/// anything larger there is a protocol error.
pub const SMALL_LITERAL_MAX: u64 = 8 * 1024;
/// Digits of a literal length read at most (u64 max has 20).
const LITERAL_DIGITS_MAX: usize = 20;

/// A failure of the session; the driver logs it and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A response line longer than [`LINE_MAX`].
    LineTooLong,
    /// A message literal larger than the caller's limit (e.g. a 2 GB announcement).
    LiteralTooLarge(u64),
    /// A small literal in a response other than the message one was too large.
    UnexpectedLiteral(u64),
    /// A response that does not parse (the text is a prefix of the line, for the log).
    Malformed(String),
    /// The greeting was not `* OK` or `* PREAUTH` (or the server said BYE).
    BadGreeting(String),
    /// A command not allowed in this state (a driver bug, refused before sending).
    NotAllowed(&'static str),
    /// A mailbox name or login with characters we do not send.
    BadArgument(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LineTooLong => write!(f, "response line longer than {LINE_MAX} bytes"),
            Error::LiteralTooLarge(n) => write!(f, "server announced a literal of {n} bytes, over the limit"),
            Error::UnexpectedLiteral(n) => write!(f, "unexpected literal of {n} bytes in a response"),
            Error::Malformed(s) => write!(f, "malformed response: {s:?}"),
            Error::BadGreeting(s) => write!(f, "bad greeting: {s:?}"),
            Error::NotAllowed(c) => write!(f, "{c} not allowed in this state"),
            Error::BadArgument(a) => write!(f, "cannot send {a}"),
        }
    }
}

/// Tagged status (RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// The untagged data fetch uses (RFC 3501 §7); everything else is [`Untagged::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* CAPABILITY …` or a `[CAPABILITY …]` code, upper-cased atoms.
    Capability(Vec<String>),
    /// `* OK [UIDVALIDITY n]` (§7.1).
    UidValidity(u32),
    /// `* OK [UIDNEXT n]` (§7.1).
    UidNext(u32),
    /// `* n EXISTS` (§7.3.1): also what IDLE reports for new mail.
    Exists(u32),
    /// `* n FETCH (UID u RFC822.SIZE s)` (§7.4.2); either may be missing.
    Fetch {
        uid: Option<u32>,
        size: Option<u64>,
    },
    /// `* BYE …` (§7.1.5).
    Bye(String),
    Other,
}

/// What the core found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The greeting; `preauth` when already authenticated (§7.1.4).
    Greeting {
        preauth: bool,
        caps: Vec<String>,
    },
    Untagged(Untagged),
    /// A `+` continuation (AUTHENTICATE, IDLE).
    Continue,
    /// The message literal of the current body fetch begins: `len` bytes follow.
    BodyStart {
        len: u64,
    },
    /// A piece of the message (borrowed from the input).
    Body(&'a [u8]),
    /// The message literal ended.
    BodyEnd,
    /// The current command completed.
    Done {
        status: Status,
        text: String,
    },
}

/// Session state (RFC 3501 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Greeting,
    NotAuthenticated,
    Authenticated,
    Selected,
    Idling,
    Logout,
}

/// A command fetch sends.
#[derive(Debug)]
pub enum Command<'a> {
    Capability,
    StartTls,
    Login {
        user: &'a str,
        password: &'a Secret,
    },
    AuthPlain {
        user: &'a str,
        password: &'a Secret,
    },
    Select(&'a str),
    /// `UID FETCH from:* (UID RFC822.SIZE)`: the candidates and their sizes.
    Sizes {
        from: u32,
    },
    /// `UID FETCH uid BODY.PEEK[]`, the literal at most `limit` bytes.
    Body {
        uid: u32,
        limit: u64,
    },
    /// `UID STORE uid +FLAGS.SILENT (\Deleted)`.
    Delete {
        uid: u32,
    },
    /// `UID EXPUNGE uid` (RFC 4315).
    Expunge {
        uid: u32,
    },
    Idle,
    Logout,
}

impl Command<'_> {
    fn name(&self) -> &'static str {
        match self {
            Command::Capability => "CAPABILITY",
            Command::StartTls => "STARTTLS",
            Command::Login { .. } => "LOGIN",
            Command::AuthPlain { .. } => "AUTHENTICATE",
            Command::Select(_) => "SELECT",
            Command::Sizes { .. } | Command::Body { .. } => "UID FETCH",
            Command::Delete { .. } => "UID STORE",
            Command::Expunge { .. } => "UID EXPUNGE",
            Command::Idle => "IDLE",
            Command::Logout => "LOGOUT",
        }
    }

    /// RFC 3501 §6: which commands each state allows.
    fn allowed(&self, s: State) -> bool {
        match self {
            Command::Capability | Command::Logout => !matches!(s, State::Greeting | State::Idling | State::Logout),
            Command::StartTls | Command::Login { .. } | Command::AuthPlain { .. } => s == State::NotAuthenticated,
            Command::Select(_) => matches!(s, State::Authenticated | State::Selected),
            _ => s == State::Selected,
        }
    }
}

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Line,
    /// Inside a small literal: bytes left, appended to the line.
    Small(u64),
    /// Inside the message literal: bytes left.
    Body(u64),
}

/// The client core: one command in flight at a time.
#[derive(Debug)]
pub struct Client {
    state: State,
    tag: u32,
    /// The tag of the command in flight and what it was.
    pending: Option<(String, Pending)>,
    line: Vec<u8>,
    read: Read,
    pending_cr: bool,
    /// Where the message literal stood in the current line: what follows it must be the
    /// rest of the FETCH response, not more message bytes.
    after_body: Option<usize>,
    /// Where the line's text after its last literal starts: a `{n}` counts as a literal
    /// announcement only there (a literal's own bytes may end in `{5}`).
    text_from: usize,
}

/// What the command in flight changes on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Plain,
    Auth,
    Select,
    Body { limit: u64 },
    Idle,
    Logout,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            state: State::Greeting,
            tag: 0,
            pending: None,
            line: Vec::new(),
            read: Read::Line,
            pending_cr: false,
            after_body: None,
            text_from: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// True while a command awaits its tagged completion.
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// After STARTTLS succeeded: forget anything buffered (RFC 3501 §6.2.1, RFC 2595 §3.1).
    pub fn tls_started(&mut self) {
        self.line.clear();
        self.read = Read::Line;
        self.pending_cr = false;
    }

    /// The bytes of `cmd` (with a new tag), or why it cannot be sent now.
    pub fn command(&mut self, cmd: &Command<'_>) -> Result<Vec<u8>, Error> {
        if self.pending.is_some() || !cmd.allowed(self.state) {
            return Err(Error::NotAllowed(cmd.name()));
        }
        self.tag += 1;
        let tag = format!("F{}", self.tag);
        let (body, pending) = encode(cmd)?;
        if matches!(cmd, Command::Idle) {
            self.state = State::Idling;
        }
        let out = [tag.as_bytes(), b" ", body.as_bytes(), b"\r\n"].concat();
        self.pending = Some((tag, pending));
        Ok(out)
    }

    /// Ends IDLE (RFC 2177 §3): the bytes to send; the tagged OK follows.
    pub fn done(&mut self) -> Result<&'static [u8], Error> {
        match self.state {
            State::Idling => Ok(b"DONE\r\n"),
            _ => Err(Error::NotAllowed("DONE")),
        }
    }

    /// Reads from `input`: the bytes consumed and the event found, if any. Call again with
    /// the rest until it consumes nothing.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), Error> {
        match self.read {
            Read::Body(left) => Ok(self.body(input, left)),
            Read::Small(left) => Ok(self.small(input, left)),
            Read::Line => self.line_bytes(input),
        }
    }

    fn body<'a>(&mut self, input: &'a [u8], left: u64) -> (usize, Option<Event<'a>>) {
        if left == 0 {
            self.read = Read::Line;
            return (0, Some(Event::BodyEnd));
        }
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
        self.read = Read::Body(left - n as u64);
        let piece = input.get(..n).unwrap_or_default();
        (n, (n > 0).then_some(Event::Body(piece)))
    }

    fn small<'a>(&mut self, input: &'a [u8], left: u64) -> (usize, Option<Event<'a>>) {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
        self.line.extend_from_slice(input.get(..n).unwrap_or_default());
        let left = left - n as u64;
        self.read = if left == 0 { Read::Line } else { Read::Small(left) };
        self.text_from = self.line.len();
        (n, None)
    }

    /// Collects a line up to CRLF, then handles it (or the literal it announces).
    fn line_bytes<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), Error> {
        for (i, &b) in input.iter().enumerate() {
            if self.line.len() >= LINE_MAX {
                return Err(Error::LineTooLong);
            }
            if b == b'\n' && self.pending_cr {
                self.pending_cr = false;
                self.line.pop();
                return self.end_of_line().map(|ev| (i + 1, ev));
            }
            self.pending_cr = b == b'\r';
            self.line.push(b);
        }
        Ok((input.len(), None))
    }

    /// A CRLF ended a line: a literal announcement, or a whole response.
    fn end_of_line<'a>(&mut self) -> Result<Option<Event<'a>>, Error> {
        if let Some(n) = literal_len(self.line.get(self.text_from..).unwrap_or_default())? {
            return self.literal(n);
        }
        self.text_from = 0;
        let line = std::mem::take(&mut self.line);
        if let Some(at) = self.after_body.take() {
            fetch_tail(line.get(at..).unwrap_or_default())?;
        }
        self.response(&line).map(Some)
    }

    /// `{n}` ended the line: the message literal of a body fetch, or a small one.
    fn literal<'a>(&mut self, n: u64) -> Result<Option<Event<'a>>, Error> {
        let body = self.line.to_ascii_uppercase().ends_with(format!("BODY[] {{{n}}}").as_bytes());
        match self.pending {
            Some((_, Pending::Body { limit })) if body => {
                if n > limit {
                    return Err(Error::LiteralTooLarge(n));
                }
                self.line.extend_from_slice(b"\"\"");
                self.after_body = Some(self.line.len());
                self.text_from = self.line.len();
                self.read = Read::Body(n);
                Ok(Some(Event::BodyStart { len: n }))
            }
            _ if n > SMALL_LITERAL_MAX || self.line.len() as u64 + n > LINE_MAX as u64 => {
                Err(Error::UnexpectedLiteral(n))
            }
            // An empty literal: nothing to read, the line goes on (never a "need more
            // input" answer while input is waiting).
            _ if n == 0 => {
                self.text_from = self.line.len();
                Ok(None)
            }
            _ => {
                self.read = Read::Small(n);
                Ok(None)
            }
        }
    }

    /// One complete response line (RFC 3501 §7).
    fn response<'a>(&mut self, line: &[u8]) -> Result<Event<'a>, Error> {
        let malformed = || Error::Malformed(String::from_utf8_lossy(line.get(..80).unwrap_or(line)).into_owned());
        if self.state == State::Greeting {
            return self.greeting(line);
        }
        if line.starts_with(b"+") {
            return Ok(Event::Continue);
        }
        if let Some(rest) = line.strip_prefix(b"* ") {
            return untagged(rest).map(Event::Untagged).ok_or_else(malformed);
        }
        let (tag, rest) = split_word(line);
        let (status, text) = split_word(rest);
        let status = match status.to_ascii_uppercase().as_slice() {
            b"OK" => Status::Ok,
            b"NO" => Status::No,
            b"BAD" => Status::Bad,
            _ => return Err(malformed()),
        };
        match self.pending.take() {
            Some((t, p)) if t.as_bytes() == tag => {
                self.completed(p, status);
                Ok(Event::Done { status, text: String::from_utf8_lossy(text).into_owned() })
            }
            _ => Err(malformed()),
        }
    }

    fn greeting<'a>(&mut self, line: &[u8]) -> Result<Event<'a>, Error> {
        let text = || String::from_utf8_lossy(line.get(..80).unwrap_or(line)).into_owned();
        let rest = line.strip_prefix(b"* ").ok_or_else(|| Error::BadGreeting(text()))?;
        let (word, after) = split_word(rest);
        let preauth = match word.to_ascii_uppercase().as_slice() {
            b"OK" => false,
            b"PREAUTH" => true,
            _ => return Err(Error::BadGreeting(text())),
        };
        self.state = if preauth { State::Authenticated } else { State::NotAuthenticated };
        let caps = match resp_code(after) {
            Some(Untagged::Capability(c)) => c,
            _ => Vec::new(),
        };
        Ok(Event::Greeting { preauth, caps })
    }

    /// The state change of a completed command.
    fn completed(&mut self, p: Pending, status: Status) {
        self.state = match (p, status) {
            (Pending::Auth, Status::Ok) => State::Authenticated,
            (Pending::Select, Status::Ok) => State::Selected,
            // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
            (Pending::Select, _) => State::Authenticated,
            (Pending::Idle, _) => State::Selected,
            (Pending::Logout, _) => State::Logout,
            _ => self.state,
        };
    }
}

/// The command text after the tag, and what it changes on completion.
fn encode(cmd: &Command<'_>) -> Result<(String, Pending), Error> {
    Ok(match cmd {
        Command::Capability => ("CAPABILITY".into(), Pending::Plain),
        Command::StartTls => ("STARTTLS".into(), Pending::Plain),
        Command::Login { user, password } => {
            let pass = std::str::from_utf8(password.expose()).map_err(|_| Error::BadArgument("password"))?;
            (format!("LOGIN {} {}", quoted(user)?, quoted(pass)?), Pending::Auth)
        }
        Command::AuthPlain { user, password } => {
            let raw = [b"\0", user.as_bytes(), b"\0", password.expose()].concat();
            (format!("AUTHENTICATE PLAIN {}", crate::auth::base64::encode(&raw, true)), Pending::Auth)
        }
        Command::Select(m) => (format!("SELECT {}", quoted(m)?), Pending::Select),
        Command::Sizes { from } => (format!("UID FETCH {}:* (UID RFC822.SIZE)", from.max(&1)), Pending::Plain),
        Command::Body { uid, limit } => (format!("UID FETCH {uid} BODY.PEEK[]"), Pending::Body { limit: *limit }),
        Command::Delete { uid } => (format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), Pending::Plain),
        Command::Expunge { uid } => (format!("UID EXPUNGE {uid}"), Pending::Plain),
        Command::Idle => ("IDLE".into(), Pending::Idle),
        Command::Logout => ("LOGOUT".into(), Pending::Logout),
    })
}

/// An RFC 3501 §4.3 quoted string: printable ASCII only (no literals are sent).
fn quoted(s: &str) -> Result<String, Error> {
    if s.len() > 1000 || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(Error::BadArgument("a name or password outside printable ASCII"));
    }
    Ok(format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// The `n` of a line ending in `{n}` (RFC 3501 §4.3 literal), if it does.
fn literal_len(line: &[u8]) -> Result<Option<u64>, Error> {
    let Some(body) = line.strip_suffix(b"}") else { return Ok(None) };
    let Some(open) = body.iter().rposition(|&b| b == b'{') else { return Ok(None) };
    let digits = body.get(open + 1..).unwrap_or_default();
    if digits.is_empty() || digits.len() > LITERAL_DIGITS_MAX || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    let n = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u64>().ok());
    n.map(Some).ok_or(Error::LiteralTooLarge(u64::MAX))
}

/// What may follow the message literal: more ` NAME value` items and `)` (RFC 3501
/// §7.4.2: `UID 5`, `FLAGS (\Seen)`, a quoted string); anything else means the literal was
/// longer than announced.
fn fetch_tail(tail: &[u8]) -> Result<(), Error> {
    let bad = || {
        Error::Malformed(format!("after the message: {:?}", String::from_utf8_lossy(tail.get(..40).unwrap_or(tail))))
    };
    let mut rest = tail.strip_suffix(b")").ok_or_else(bad)?;
    while !rest.is_empty() {
        let item = rest.strip_prefix(b" ").ok_or_else(bad)?;
        let name_len = item.iter().take_while(|b| b.is_ascii_alphanumeric() || b".[]<>".contains(b)).count();
        let value = item.get(name_len..).and_then(|v| v.strip_prefix(b" ")).filter(|_| name_len > 0);
        let value = value.ok_or_else(bad)?;
        rest = value.get(item_value_len(value).ok_or_else(bad)?..).unwrap_or_default();
    }
    Ok(())
}

/// The length of one item value at the start of `v`: a parenthesized list (nesting
/// counted), a quoted string, or an atom up to the next space.
fn item_value_len(v: &[u8]) -> Option<usize> {
    match v.first()? {
        b'(' => {
            let mut depth = 0usize;
            for (i, &b) in v.iter().enumerate() {
                depth = match b {
                    b'(' => depth + 1,
                    b')' => depth.checked_sub(1)?,
                    _ => depth,
                };
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            None
        }
        b'"' => {
            let mut escaped = false;
            for (i, &b) in v.iter().enumerate().skip(1) {
                match b {
                    b'\\' if !escaped => escaped = true,
                    b'"' if !escaped => return Some(i + 1),
                    _ => escaped = false,
                }
            }
            None
        }
        _ => Some(v.iter().position(|&b| b == b' ').unwrap_or(v.len())).filter(|&n| n > 0),
    }
}

/// The first space-separated word and the rest.
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (s.get(..i).unwrap_or_default(), s.get(i + 1..).unwrap_or_default()),
        None => (s, &[]),
    }
}

fn number<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Untagged data after `* ` (RFC 3501 §7); `None` when malformed.
fn untagged(rest: &[u8]) -> Option<Untagged> {
    let (word, after) = split_word(rest);
    match word.to_ascii_uppercase().as_slice() {
        b"OK" | b"NO" | b"BAD" => Some(resp_code(after).unwrap_or(Untagged::Other)),
        b"BYE" => Some(Untagged::Bye(String::from_utf8_lossy(after).into_owned())),
        b"CAPABILITY" => Some(Untagged::Capability(atoms(after))),
        b"FLAGS" | b"LIST" | b"LSUB" | b"SEARCH" | b"STATUS" | b"ENABLED" | b"ID" => Some(Untagged::Other),
        _ => {
            let n: u32 = number(word)?;
            let (kind, data) = split_word(after);
            match kind.to_ascii_uppercase().as_slice() {
                b"EXISTS" => Some(Untagged::Exists(n)),
                b"FETCH" => fetch_data(data),
                _ => Some(Untagged::Other),
            }
        }
    }
}

/// A `[CODE …]` response code (RFC 3501 §7.1) fetch cares about.
fn resp_code(text: &[u8]) -> Option<Untagged> {
    let inner = text.strip_prefix(b"[")?;
    let inner = inner.get(..inner.iter().position(|&b| b == b']')?)?;
    let (code, arg) = split_word(inner);
    match code.to_ascii_uppercase().as_slice() {
        b"UIDVALIDITY" => number(arg).map(Untagged::UidValidity),
        b"UIDNEXT" => number(arg).map(Untagged::UidNext),
        b"CAPABILITY" => Some(Untagged::Capability(atoms(arg))),
        _ => None,
    }
}

fn atoms(s: &[u8]) -> Vec<String> {
    s.split(|&b| b == b' ').filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).to_ascii_uppercase()).collect()
}

/// `(UID u RFC822.SIZE s …)` of a FETCH response (RFC 3501 §7.4.2); other items skipped.
fn fetch_data(data: &[u8]) -> Option<Untagged> {
    let inner = data.strip_prefix(b"(")?.strip_suffix(b")")?;
    let mut words = inner.split(|&b| b == b' ');
    let (mut uid, mut size) = (None, None);
    while let Some(w) = words.next() {
        match w.to_ascii_uppercase().as_slice() {
            b"UID" => uid = Some(number(words.next()?)?),
            b"RFC822.SIZE" => size = Some(number(words.next()?)?),
            _ => {}
        }
    }
    Some(Untagged::Fetch { uid, size })
}

#[cfg(test)]
mod tests;
