//! Server replies as the client reads them (RFC 5321 §4.2): `Reply-code [ ("-" / SP) text ]`
//! lines, a multiline reply being lines with `-` that share one code and end with a line
//! with SP (or no text). RFC 3463 enhanced status codes stay in the text. The EHLO reply's
//! lines after the first are extension keywords (RFC 5321 §4.1.1.1) parsed into
//! [`Capabilities`]. Everything is bounded: the text kept per reply, the lines per reply
//! and the AUTH mechanisms remembered.

/// Reply text kept per reply (the rest is dropped, the lines still counted): enough for a
/// log line and a bounce, RFC 5321 §4.5.3.1.5 lines are 512 octets.
pub const REPLY_TEXT_MAX: usize = 1024;
/// Lines in one reply before it is a protocol error: an EHLO reply has ~15 (Postfix 11,
/// Exchange 14); 100 leaves room for chatty greetings and stops endless `250-` streams.
pub const REPLY_LINES_MAX: usize = 100;
/// AUTH mechanisms remembered from EHLO (we use two; a server lists a handful).
pub const AUTH_MECHS_MAX: usize = 16;

/// One complete reply: its code and its (bounded, printable) text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Lines joined by " / ", control characters replaced, at most [`REPLY_TEXT_MAX`].
    pub text: String,
}

impl Reply {
    /// RFC 5321 §4.2.1: the first digit is the class.
    pub fn class(&self) -> u16 {
        self.code / 100
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// What the server offered in its EHLO reply (RFC 5321 §4.1.1.1 ehlo-line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// RFC 1870 §4 SIZE; `Some(0)` means no fixed limit.
    pub size: Option<u64>,
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    /// RFC 4954 §3 AUTH mechanism names, upper-cased.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads one ehlo-line (`keyword *(SP param)`); unknown keywords are ignored.
    pub fn add_line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_ascii_whitespace();
        let Some(keyword) = words.next() else { return };
        match keyword.to_ascii_uppercase().as_str() {
            // RFC 1870 §4: "SIZE" [SP number]; an unparsable number is read as no limit.
            "SIZE" => self.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
            "PIPELINING" => self.pipelining = true,
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "STARTTLS" => self.starttls = true,
            "AUTH" => {
                for mech in words.take(AUTH_MECHS_MAX.saturating_sub(self.auth.len())) {
                    self.auth.push(mech.to_ascii_uppercase());
                }
            }
            _ => {}
        }
    }

    /// The server lists SASL mechanism `name`.
    pub fn has_auth(&self, name: &str) -> bool {
        self.auth.iter().any(|m| m == name)
    }
}

/// Why a reply line could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// Not `3DIGIT [("-" / SP) text]` with a code in 200..=559 (RFC 5321 §4.2).
    Garbage,
    /// A continuation line with another code than the reply's first line (RFC 5321 §4.2.1).
    CodeChanged,
    /// More than [`REPLY_LINES_MAX`] lines.
    TooManyLines,
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplyError::Garbage => "reply is not an SMTP reply line (RFC 5321 §4.2)",
            ReplyError::CodeChanged => "multiline reply changed its code (RFC 5321 §4.2.1)",
            ReplyError::TooManyLines => "reply has too many lines",
        })
    }
}

/// Splits `Reply-code [("-" / SP) textstring]` into code, "is last line" and text.
pub fn reply_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let (digits, rest) = line.split_at_checked(3).ok_or(ReplyError::Garbage)?;
    let [a, b, c] = <[u8; 3]>::try_from(digits).map_err(|_| ReplyError::Garbage)?;
    // RFC 5321 §4.2: first digit 2-5, second 0-5, third 0-9 (1yz is unused by SMTP).
    let valid = (b'2'..=b'5').contains(&a) && (b'0'..=b'5').contains(&b) && c.is_ascii_digit();
    if !valid {
        return Err(ReplyError::Garbage);
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    match rest.split_first() {
        None => Ok((code, true, &[])),
        Some((b' ', text)) => Ok((code, true, text)),
        Some((b'-', text)) => Ok((code, false, text)),
        Some(_) => Err(ReplyError::Garbage),
    }
}

/// Accumulates the lines of one reply.
#[derive(Debug, Default)]
pub struct ReplyBuilder {
    code: Option<u16>,
    lines: usize,
    text: String,
    /// EHLO replies: parse lines after the first as keywords.
    pub caps: Option<Capabilities>,
}

impl ReplyBuilder {
    /// Adds a line; returns the reply once its last line came.
    pub fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let (code, last, text) = reply_line(line)?;
        if self.code.is_some_and(|c| c != code) {
            return Err(ReplyError::CodeChanged);
        }
        self.lines += 1;
        if self.lines > REPLY_LINES_MAX {
            return Err(ReplyError::TooManyLines);
        }
        if self.code.is_some() {
            if let Some(caps) = self.caps.as_mut() {
                caps.add_line(text);
            }
        }
        self.code = Some(code);
        self.push_text(text);
        if !last {
            return Ok(None);
        }
        let reply = Reply { code, text: std::mem::take(&mut self.text) };
        self.code = None;
        self.lines = 0;
        Ok(Some(reply))
    }

    /// Appends printable text within [`REPLY_TEXT_MAX`] (no control bytes reach a log).
    fn push_text(&mut self, text: &[u8]) {
        if !self.text.is_empty() {
            self.text.push_str(" / ");
        }
        for ch in String::from_utf8_lossy(text).chars() {
            if self.text.len() + ch.len_utf8() > REPLY_TEXT_MAX {
                return;
            }
            self.text.push(if ch.is_control() { '?' } else { ch });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        assert_eq!(reply_line(b"250 2.1.5 Ok"), Ok((250, true, &b"2.1.5 Ok"[..])));
        assert_eq!(reply_line(b"250-PIPELINING"), Ok((250, false, &b"PIPELINING"[..])));
        assert_eq!(reply_line(b"354"), Ok((354, true, &b""[..])));
        for bad in [&b"25"[..], b"250x", b"650 no", b"190 no", b"2a0 x", b"", b"hello"] {
            assert_eq!(reply_line(bad), Err(ReplyError::Garbage), "{bad:?}");
        }
    }

    #[test]
    fn multiline_and_caps() {
        let mut b = ReplyBuilder { caps: Some(Capabilities::default()), ..Default::default() };
        for l in [&b"250-mx.example SMTP"[..], b"250-SIZE 1000", b"250-PIPELINING", b"250-AUTH PLAIN login"] {
            assert_eq!(b.line(l), Ok(None));
        }
        let r = b.line(b"250 SMTPUTF8").unwrap().unwrap();
        assert_eq!(r.code, 250);
        let caps = b.caps.unwrap();
        assert_eq!(caps.size, Some(1000));
        assert!(caps.pipelining && caps.smtputf8 && !caps.starttls && !caps.eight_bit_mime);
        assert!(caps.has_auth("PLAIN") && caps.has_auth("LOGIN"));
        let mut b = ReplyBuilder::default();
        assert_eq!(b.line(b"250-a"), Ok(None));
        assert_eq!(b.line(b"251 b"), Err(ReplyError::CodeChanged));
    }

    #[test]
    fn text_is_bounded_and_printable() {
        let mut b = ReplyBuilder::default();
        let long = [b"250-".to_vec(), vec![b'x'; 600]].concat();
        assert_eq!(b.line(&long), Ok(None));
        let r = b.line(b"250 \x1b[31mred").unwrap().unwrap();
        assert!(r.text.len() <= REPLY_TEXT_MAX);
        let mut b = ReplyBuilder::default();
        assert_eq!(b.line(b"250 \x1b[31mred").unwrap().unwrap().text, "?[31mred");
    }
}
