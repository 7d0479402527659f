//! Sans-IO POP3 client core of fetch (RFC 1939, RFC 2449 CAPA, RFC 2595 §4 STLS, RFC 5034
//! AUTH PLAIN): commands out as bytes, server bytes in, events out; no sockets or clocks.
//!
//! - Single-line replies (`+OK` / `-ERR`, RFC 1939 §3) and multi-line ones (CAPA, UIDL,
//!   LIST, RETR) ended by `.` CRLF, with the byte-stuffing removed (§3).
//! - Lines of listings are bounded by [`LINE_MAX`]; the message of RETR is handed out in
//!   pieces as it arrives ([`Event::Body`]), never held whole; its size is the caller's to
//!   bound (it knows LIST's size first).
//! - [`parse_uidl`] and [`parse_list`] read the listings (§7 UIDL: 1-70 characters
//!   0x21-0x7E; a duplicate UIDL is reported, not silently merged).

use std::fmt;

use crate::auth::Secret;

/// Longest reply or listing line read: RFC 2449 §4 allows 512 octets; a never-ending line
/// stops here.
pub const LINE_MAX: usize = 1024;
/// Longest unique-id (RFC 1939 §7: 1 to 70 characters).
pub const UIDL_MAX: usize = 70;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    LineTooLong,
    /// The greeting or a reply did not start with `+OK` / `-ERR`.
    Malformed(String),
    /// A command not allowed now (a driver bug, refused before sending).
    NotAllowed(&'static str),
    BadArgument(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LineTooLong => write!(f, "reply line longer than {LINE_MAX} bytes"),
            Error::Malformed(s) => write!(f, "malformed reply: {s:?}"),
            Error::NotAllowed(c) => write!(f, "{c} not allowed now"),
            Error::BadArgument(a) => write!(f, "cannot send {a}"),
        }
    }
}

/// A command fetch sends.
#[derive(Debug)]
pub enum Command<'a> {
    Capa,
    Stls,
    User(&'a str),
    Pass(&'a Secret),
    /// RFC 5034 with the initial response.
    AuthPlain {
        user: &'a str,
        password: &'a Secret,
    },
    Uidl,
    List,
    Retr(u32),
    Dele(u32),
    Quit,
}

impl Command<'_> {
    fn multi_line(&self) -> bool {
        matches!(self, Command::Capa | Command::Uidl | Command::List | Command::Retr(_))
    }
}

/// What the core found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The greeting (`+OK …`).
    Greeting,
    /// A single-line reply, or the status line of a multi-line one that failed.
    Reply { ok: bool, text: String },
    /// A line of a CAPA/UIDL/LIST listing, unstuffed.
    Line(Vec<u8>),
    /// A piece of the RETR message, unstuffed (borrowed from the input or the core).
    Body(&'a [u8]),
    /// The `.` line ended the multi-line reply.
    End,
}

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Greeting,
    Idle,
    /// Awaiting the status line; `true` when a multi-line body follows `+OK`.
    Status(bool),
    Listing,
    /// RETR's body: line start, or inside a line.
    Body {
        at_line_start: bool,
    },
}

#[derive(Debug)]
pub struct Client {
    read: Read,
    line: Vec<u8>,
    pending_cr: bool,
    retr: bool,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client { read: Read::Greeting, line: Vec::new(), pending_cr: false, retr: false }
    }

    pub fn busy(&self) -> bool {
        self.read != Read::Idle
    }

    /// After STLS: forget anything buffered (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.line.clear();
        self.pending_cr = false;
        self.read = Read::Idle;
    }

    /// The bytes of `cmd`.
    pub fn command(&mut self, cmd: &Command<'_>) -> Result<Vec<u8>, Error> {
        if self.read != Read::Idle {
            return Err(Error::NotAllowed("a command before the previous reply"));
        }
        let arg_ok = |s: &str| !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        let text = match cmd {
            Command::Capa => "CAPA".to_owned(),
            Command::Stls => "STLS".to_owned(),
            Command::User(u) if arg_ok(u) => format!("USER {u}"),
            Command::Pass(p) => {
                let p = std::str::from_utf8(p.expose()).ok().filter(|p| arg_ok(p));
                format!("PASS {}", p.ok_or(Error::BadArgument("the password"))?)
            }
            Command::AuthPlain { user, password } => {
                let raw = [b"\0", user.as_bytes(), b"\0", password.expose()].concat();
                format!("AUTH PLAIN {}", crate::auth::base64::encode(&raw, true))
            }
            Command::Uidl => "UIDL".to_owned(),
            Command::List => "LIST".to_owned(),
            Command::Retr(n) => format!("RETR {n}"),
            Command::Dele(n) => format!("DELE {n}"),
            Command::Quit => "QUIT".to_owned(),
            Command::User(_) => return Err(Error::BadArgument("the user name")),
        };
        self.read = Read::Status(cmd.multi_line());
        self.retr = matches!(cmd, Command::Retr(_));
        Ok(format!("{text}\r\n").into_bytes())
    }

    /// Reads from `input`: bytes consumed and the event found. Call again with the rest.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), Error> {
        match self.read {
            Read::Body { at_line_start } => Ok(self.body(input, at_line_start)),
            _ => self.line_bytes(input),
        }
    }

    /// The message: whole lines inside are passed through up to the next line start, where
    /// the termination `.` CRLF and the stuffed `..` are looked at (RFC 1939 §3).
    fn body<'a>(&mut self, input: &'a [u8], at_line_start: bool) -> (usize, Option<Event<'a>>) {
        if at_line_start {
            return self.body_line_start(input);
        }
        let end = memchr::memchr(b'\n', input).map_or(input.len(), |i| i + 1);
        let piece = input.get(..end).unwrap_or_default();
        self.read = Read::Body { at_line_start: piece.ends_with(b"\n") };
        (end, (end > 0).then_some(Event::Body(piece)))
    }

    /// At a line start: `.` CRLF ends, `..` loses a dot; needs up to 3 bytes to decide.
    fn body_line_start<'a>(&mut self, input: &'a [u8]) -> (usize, Option<Event<'a>>) {
        match input {
            [] => (0, None),
            [b'.', b'\r', b'\n', ..] => {
                self.read = Read::Idle;
                (3, Some(Event::End))
            }
            [b'.'] | [b'.', b'\r'] => (0, None),
            [b'.', ..] => {
                self.read = Read::Body { at_line_start: false };
                (1, None)
            }
            _ => {
                self.read = Read::Body { at_line_start: false };
                self.body(input, false)
            }
        }
    }

    fn line_bytes<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), Error> {
        for (i, &b) in input.iter().enumerate() {
            if self.line.len() >= LINE_MAX {
                return Err(Error::LineTooLong);
            }
            if b == b'\n' && self.pending_cr {
                self.pending_cr = false;
                self.line.pop();
                let line = std::mem::take(&mut self.line);
                return self.end_of_line(line).map(|ev| (i + 1, ev));
            }
            self.pending_cr = b == b'\r';
            self.line.push(b);
        }
        Ok((input.len(), None))
    }

    fn end_of_line<'a>(&mut self, line: Vec<u8>) -> Result<Option<Event<'a>>, Error> {
        match self.read {
            Read::Listing => Ok(Some(self.listing_line(line))),
            Read::Greeting => {
                status(&line)?.0.then_some(()).ok_or_else(|| malformed(&line))?;
                self.read = Read::Idle;
                Ok(Some(Event::Greeting))
            }
            Read::Status(multi) => {
                let (ok, text) = status(&line)?;
                self.read = match (ok && multi, self.retr) {
                    (true, true) => Read::Body { at_line_start: true },
                    (true, false) => Read::Listing,
                    _ => Read::Idle,
                };
                Ok(Some(Event::Reply { ok, text }))
            }
            Read::Idle | Read::Body { .. } => Err(malformed(&line)),
        }
    }

    fn listing_line<'a>(&mut self, line: Vec<u8>) -> Event<'a> {
        match line.strip_prefix(b".") {
            Some([]) => {
                self.read = Read::Idle;
                Event::End
            }
            Some(rest) => Event::Line(rest.to_vec()),
            None => Event::Line(line),
        }
    }
}

fn malformed(line: &[u8]) -> Error {
    Error::Malformed(String::from_utf8_lossy(line.get(..80).unwrap_or(line)).into_owned())
}

/// `+OK text` / `-ERR text` (RFC 1939 §3).
fn status(line: &[u8]) -> Result<(bool, String), Error> {
    let text = |r: &[u8]| String::from_utf8_lossy(r.strip_prefix(b" ").unwrap_or(r)).into_owned();
    if let Some(r) = line.strip_prefix(b"+OK") {
        return Ok((true, text(r)));
    }
    if let Some(r) = line.strip_prefix(b"-ERR") {
        return Ok((false, text(r)));
    }
    Err(malformed(line))
}

/// One `n uid` line of UIDL (RFC 1939 §7).
pub fn parse_uidl(line: &[u8]) -> Option<(u32, String)> {
    let s = std::str::from_utf8(line).ok()?;
    let (n, uid) = s.split_once(' ')?;
    let ok = !uid.is_empty() && uid.len() <= UIDL_MAX && uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
    Some((n.parse().ok()?, uid.to_owned())).filter(|_| ok)
}

/// One `n size` line of LIST (RFC 1939 §5).
pub fn parse_list(line: &[u8]) -> Option<(u32, u64)> {
    let s = std::str::from_utf8(line).ok()?;
    let (n, size) = s.split_once(' ')?;
    let size = size.split(' ').next()?;
    Some((n.parse().ok()?, size.parse().ok()?))
}

/// The UIDL listing as (message number, unique-id); `Err` names a duplicate or bad line
/// (RFC 1939 §7: unique-ids are unique within the maildrop).
pub fn uidl_listing(lines: &[Vec<u8>]) -> Result<Vec<(u32, String)>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let (n, uid) = parse_uidl(l).ok_or_else(|| format!("bad UIDL line {:?}", String::from_utf8_lossy(l)))?;
        if !seen.insert(uid.clone()) {
            return Err(format!("UIDL {uid:?} listed twice: the server's unique-ids are not unique"));
        }
        out.push((n, uid));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut Client, input: &[u8], step: usize) -> Result<(Vec<String>, Vec<u8>), Error> {
        let (mut evs, mut body) = (Vec::new(), Vec::new());
        let mut carry: Vec<u8> = Vec::new();
        for piece in input.chunks(step) {
            carry.extend_from_slice(piece);
            let mut pos = 0;
            loop {
                let (n, ev) = c.feed(carry.get(pos..).unwrap_or_default())?;
                pos += n;
                match ev {
                    Some(Event::Body(b)) => body.extend_from_slice(b),
                    Some(e) => evs.push(format!("{e:?}")),
                    None if n == 0 => break,
                    None => {}
                }
            }
            carry.drain(..pos);
        }
        Ok((evs, body))
    }

    #[test]
    fn retr_unstuffs_in_any_split() {
        for step in [1, 2, 3, 5, 100] {
            let mut c = Client::new();
            run(&mut c, b"+OK ready\r\n", step).unwrap();
            assert_eq!(c.command(&Command::Retr(1)).unwrap(), b"RETR 1\r\n");
            let (ev, body) = run(&mut c, b"+OK 20\r\nA: b\r\n\r\n..x\r\n\r\n.\r\n", step).unwrap();
            assert_eq!(body, b"A: b\r\n\r\n.x\r\n\r\n", "step {step}");
            assert_eq!(ev.last().map(String::as_str), Some("End"));
            assert!(!c.busy());
        }
    }

    #[test]
    fn listings_and_duplicates() {
        let mut c = Client::new();
        run(&mut c, b"+OK\r\n", 9).unwrap();
        c.command(&Command::Uidl).unwrap();
        let (ev, _) = run(&mut c, b"+OK\r\n1 aa\r\n2 bb\r\n.\r\n", 4).unwrap();
        assert_eq!(ev.len(), 4);
        let lines = vec![b"1 aa".to_vec(), b"2 aa".to_vec()];
        assert!(uidl_listing(&lines).unwrap_err().contains("listed twice"));
        assert_eq!(uidl_listing(&[b"1 aa".to_vec()]).unwrap(), vec![(1, "aa".to_owned())]);
        assert_eq!(parse_list(b"3 1200"), Some((3, 1200)));
        assert_eq!(parse_uidl(b"3 a b"), None);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(run(&mut Client::new(), b"* OK imap\r\n", 4), Err(Error::Malformed(_))));
        let mut c = Client::new();
        run(&mut c, b"+OK\r\n", 9).unwrap();
        c.command(&Command::Capa).unwrap();
        assert_eq!(run(&mut c, &vec![b'x'; 5000], 700), Err(Error::LineTooLong));
        let mut c = Client::new();
        run(&mut c, b"+OK\r\n", 9).unwrap();
        assert!(matches!(run(&mut c, b"garbage\r\n", 9), Err(Error::Malformed(_))));
        assert_eq!(c.command(&Command::User("a\r\nDELE 1")), Err(Error::BadArgument("the user name")));
    }
}
