//! POP3 command grammar (RFC 1939 §3, §5-§7; RFC 2449 §5 CAPA; RFC 2595 §4 STLS; RFC 5034 §4
//! AUTH). Input is one framed line without its CRLF. Parsers are named after the rules:
//! `command = keyword *(SP argument)`, keywords are 3-4 letters, case-insensitive, and each
//! argument is at most 40 characters (RFC 1939 §3) except PASS, whose one argument may
//! contain spaces (RFC 1939 §7).

/// RFC 1939 §3: "Each argument may be up to 40 characters long."
pub const ARGUMENT_MAX: usize = 40;

/// A parsed command; borrowed from the line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    User(&'a str),
    Pass(&'a [u8]),
    /// `AUTH` alone lists mechanisms (RFC 1734 usage); else a mechanism and an optional
    /// initial response (RFC 5034 §4).
    Auth(Option<SaslStart<'a>>),
    Stls,
    Capa,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Top(u32, u32),
    Uidl(Option<u32>),
    Dele(u32),
    Noop,
    Rset,
    Quit,
}

/// `AUTH mechanism [initial-response]`: the mechanism name and the still-encoded response.
pub type SaslStart<'a> = (&'a str, Option<&'a [u8]>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Keyword not one we implement (APOP included).
    Unknown,
    /// Known keyword, bad arguments.
    Syntax,
}

/// `command = keyword *(SP argument)` (RFC 1939 §3).
pub fn command(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(p) => (line.get(..p).unwrap_or(&[]), line.get(p + 1..)),
        None => (line, None),
    };
    let is = |k: &str| keyword.eq_ignore_ascii_case(k.as_bytes());
    let args = Args(rest);
    match () {
        _ if is("USER") => Ok(Command::User(args.one_text()?)),
        _ if is("PASS") => args.rest().map(Command::Pass),
        _ if is("AUTH") => args.auth().map(Command::Auth),
        _ if is("STLS") => args.none(Command::Stls),
        _ if is("CAPA") => args.none(Command::Capa),
        _ if is("STAT") => args.none(Command::Stat),
        _ if is("LIST") => args.optional_msg().map(Command::List),
        _ if is("RETR") => args.one_msg().map(Command::Retr),
        _ if is("TOP") => args.top(),
        _ if is("UIDL") => args.optional_msg().map(Command::Uidl),
        _ if is("DELE") => args.one_msg().map(Command::Dele),
        _ if is("NOOP") => args.none(Command::Noop),
        _ if is("RSET") => args.none(Command::Rset),
        _ if is("QUIT") => args.none(Command::Quit),
        _ => Err(ParseError::Unknown),
    }
}

/// Everything after the keyword's SP, if there was one.
struct Args<'a>(Option<&'a [u8]>);

impl<'a> Args<'a> {
    fn none(self, command: Command<'a>) -> Result<Command<'a>, ParseError> {
        self.0.map_or(Ok(command), |_| Err(ParseError::Syntax))
    }

    /// The whole remainder, spaces included (PASS).
    fn rest(self) -> Result<&'a [u8], ParseError> {
        self.0.filter(|r| !r.is_empty()).ok_or(ParseError::Syntax)
    }

    fn split(self) -> Result<Vec<&'a [u8]>, ParseError> {
        let rest = self.rest()?;
        let args: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
        if args.iter().any(|a| a.is_empty() || a.len() > ARGUMENT_MAX) {
            return Err(ParseError::Syntax);
        }
        Ok(args)
    }

    fn one_text(self) -> Result<&'a str, ParseError> {
        match self.split()?.as_slice() {
            [a] => std::str::from_utf8(a).map_err(|_| ParseError::Syntax),
            _ => Err(ParseError::Syntax),
        }
    }

    fn one_msg(self) -> Result<u32, ParseError> {
        match self.split()?.as_slice() {
            [n] => number(n),
            _ => Err(ParseError::Syntax),
        }
    }

    fn optional_msg(self) -> Result<Option<u32>, ParseError> {
        match self.0 {
            None => Ok(None),
            Some(_) => self.one_msg().map(Some),
        }
    }

    /// `TOP msg n` (RFC 1939 §7).
    fn top(self) -> Result<Command<'a>, ParseError> {
        match self.split()?.as_slice() {
            [msg, lines] => Ok(Command::Top(number(msg)?, number(lines)?)),
            _ => Err(ParseError::Syntax),
        }
    }

    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4). The initial response is not
    /// bound by the 40-character argument limit, only by the line limit.
    fn auth(self) -> Result<Option<SaslStart<'a>>, ParseError> {
        let Some(rest) = self.0 else { return Ok(None) };
        let mut parts = rest.splitn(2, |&b| b == b' ');
        let mechanism = parts.next().filter(|m| !m.is_empty() && m.len() <= 20);
        let mechanism = mechanism.ok_or(ParseError::Syntax)?;
        let mechanism = std::str::from_utf8(mechanism).map_err(|_| ParseError::Syntax)?;
        match parts.next() {
            Some(initial) if initial.is_empty() || initial.contains(&b' ') => Err(ParseError::Syntax),
            initial => Ok(Some((mechanism, initial))),
        }
    }
}

/// `msg` / `n`: `1*DIGIT` read as a u32; signs and overflow are syntax errors (zero is a
/// valid number here and "no such message" later).
fn number(digits: &[u8]) -> Result<u32, ParseError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Syntax);
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10).and_then(|v| v.checked_add(u32::from(d - b'0'))).ok_or(ParseError::Syntax)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let ok: [(&[u8], Command); 16] = [
            (b"user mrose", Command::User("mrose")),
            (b"PASS my secret pw", Command::Pass(b"my secret pw")),
            (b"AUTH", Command::Auth(None)),
            (b"AUTH PLAIN", Command::Auth(Some(("PLAIN", None)))),
            (b"AUTH PLAIN AHQAdA==", Command::Auth(Some(("PLAIN", Some(b"AHQAdA=="))))),
            (b"StLs", Command::Stls),
            (b"CAPA", Command::Capa),
            (b"STAT", Command::Stat),
            (b"LIST", Command::List(None)),
            (b"LIST 2", Command::List(Some(2))),
            (b"RETR 0", Command::Retr(0)),
            (b"TOP 1 4294967295", Command::Top(1, u32::MAX)),
            (b"UIDL 007", Command::Uidl(Some(7))),
            (b"DELE 1", Command::Dele(1)),
            (b"NOOP", Command::Noop),
            (b"quit", Command::Quit),
        ];
        for (line, expected) in ok {
            assert_eq!(command(line), Ok(expected), "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(command(b"RSET"), Ok(Command::Rset));
    }

    #[test]
    fn rejects_bad_arguments() {
        let syntax: [&[u8]; 16] = [
            b"RETR",
            b"RETR x",
            b"RETR -1",
            b"RETR +1",
            b"RETR 4294967296",
            b"RETR 1 2",
            b"RETR  1",
            b"TOP 1",
            b"TOP 1 4294967296",
            b"STAT ",
            b"QUIT now",
            b"USER",
            b"USER a b",
            b"PASS",
            b"AUTH PLAIN a b",
            b"LIST 11111111111111111111111111111111111111111",
        ];
        for line in syntax {
            assert_eq!(command(line), Err(ParseError::Syntax), "{}", String::from_utf8_lossy(line));
        }
        for line in [&b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"[..], b"XYZZY", b"", b" STAT"] {
            assert_eq!(command(line), Err(ParseError::Unknown));
        }
    }
}
