//! ManageSieve input framing (RFC 5804 §4 formal syntax; house style 2: frame before parse):
//! a command is an atom, then space-separated arguments — atoms (`number`), quoted strings
//! (`quoted`, at most 1024 octets, §4 note) and literals (`literal-c2s`, `{n+}` CRLF n
//! octets; the synchronizing `{n}` some clients send is taken the same way, since a
//! ManageSieve server never sends a continuation for it) — ending in CRLF. A literal's size
//! is checked against [`LITERAL_MAX`] before a byte of it is buffered, and the line outside
//! literals against [`LINE_MAX`], so no input can make the buffer grow past [`INPUT_MAX`].

/// The parts of a command outside literals: a few names and a 1024-octet quoted string each.
pub const LINE_MAX: usize = 8 * 1024;
/// RFC 5804 §4: "quoted strings ... MUST NOT be longer than 1024 octets".
pub const QUOTED_MAX: usize = 1024;
/// One literal: the largest script we store (`store::scripts::SCRIPT_BYTES_MAX`).
pub const LITERAL_MAX: usize = 64 * 1024;
/// A larger announced literal than this is not skipped but ends the session: skipping
/// costs time, and a client announcing gigabytes is not one we want to wait for.
pub const DISCARD_MAX: u64 = 16 * 1024 * 1024;
/// Input held per session: one command with two literals (RENAMESCRIPT has two strings).
pub const INPUT_MAX: usize = LINE_MAX + 2 * LITERAL_MAX;
/// Arguments in one command: PUTSCRIPT and RENAMESCRIPT take two.
pub const ARGS_MAX: usize = 4;

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An atom: a `number` or a bare word (`ACTIVE`-like tokens from sloppy clients).
    Atom(String),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
}

/// What `parse` found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole command yet.
    Incomplete,
    /// A command of `used` bytes: its name (upper-cased) and arguments.
    Command { used: usize, name: String, args: Vec<Arg> },
    /// A syntax error at byte `at`: the caller skips to the end of that line.
    Bad { at: usize, why: &'static str },
    /// The line outside literals passed [`LINE_MAX`] without ending.
    TooLong,
    /// A literal over [`LITERAL_MAX`] was announced; its header ends at `used` and `size`
    /// bytes of it follow (the caller skips them, or closes past [`DISCARD_MAX`]).
    LiteralTooBig { used: usize, size: u64 },
}

/// A cursor over the buffer; `line` counts bytes outside literals.
struct P<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

/// How one token ended.
enum Tok {
    Done(Arg),
    Stop(Parsed),
}

/// Parses one command from the front of `b` (RFC 5804 §4 `command`).
pub fn parse(b: &[u8]) -> Parsed {
    let mut p = P { b, i: 0, line: 0 };
    let name = match p.atom() {
        Ok(Some(n)) => n.to_ascii_uppercase(),
        Ok(None) if p.at_end() => return p.incomplete(),
        Ok(None) => return Parsed::Bad { at: p.i, why: "expected a command name" },
        Err(stop) => return stop,
    };
    let mut args = Vec::new();
    loop {
        match p.peek() {
            None => return p.incomplete(),
            Some(b'\r') => return p.crlf(name, args),
            Some(b' ') => p.i += 1,
            Some(_) => return Parsed::Bad { at: p.i, why: "expected a space" },
        }
        if p.peek().is_none() {
            return p.incomplete();
        }
        match p.arg() {
            Tok::Done(a) if args.len() < ARGS_MAX => args.push(a),
            Tok::Done(_) => return Parsed::Bad { at: p.i, why: "too many arguments" },
            Tok::Stop(s) => return s,
        }
    }
}

/// A SASL client response (RFC 5804 §2.1): one string, then CRLF.
pub fn parse_response(b: &[u8]) -> Parsed {
    let mut p = P { b, i: 0, line: 0 };
    let arg = match p.peek() {
        None => return Parsed::Incomplete,
        Some(b'"' | b'{') => match p.arg() {
            Tok::Done(a) => a,
            Tok::Stop(s) => return s,
        },
        Some(_) => return Parsed::Bad { at: 0, why: "expected a string" },
    };
    match p.peek() {
        None => p.incomplete(),
        Some(b'\r') => p.crlf(String::new(), vec![arg]),
        Some(_) => Parsed::Bad { at: p.i, why: "expected CRLF" },
    }
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    /// Out of bytes: incomplete, unless the line is already over its limit.
    fn incomplete(&self) -> Parsed {
        if self.line > LINE_MAX {
            Parsed::TooLong
        } else {
            Parsed::Incomplete
        }
    }

    fn step(&mut self) {
        self.i += 1;
        self.line += 1;
    }

    /// `atom`: letters, digits and the few punctuation marks names use; `None` if empty.
    fn atom(&mut self) -> Result<Option<String>, Parsed> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.') {
                break;
            }
            self.step();
            if self.line > LINE_MAX {
                return Err(Parsed::TooLong);
            }
        }
        let s = self.b.get(start..self.i).unwrap_or(&[]);
        Ok((!s.is_empty()).then(|| String::from_utf8_lossy(s).into_owned()))
    }

    /// CRLF ending the command.
    fn crlf(&self, name: String, args: Vec<Arg>) -> Parsed {
        match self.b.get(self.i + 1) {
            None => self.incomplete(),
            Some(b'\n') => Parsed::Command { used: self.i + 2, name, args },
            Some(_) => Parsed::Bad { at: self.i, why: "bare CR" },
        }
    }

    fn arg(&mut self) -> Tok {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => match self.atom() {
                Ok(Some(a)) => Tok::Done(Arg::Atom(a)),
                Ok(None) => Tok::Stop(Parsed::Bad { at: self.i, why: "expected a string" }),
                Err(stop) => Tok::Stop(stop),
            },
        }
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; `\"` and `\\` are the only escapes; CR, LF
    /// and NUL are not allowed inside (RFC 5804 §4 `SAFE-CHAR`).
    fn quoted(&mut self) -> Tok {
        self.step();
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else { return Tok::Stop(self.incomplete()) };
            self.step();
            match c {
                b'"' => return Tok::Done(Arg::Str(out)),
                b'\\' => match self.peek() {
                    None => return Tok::Stop(self.incomplete()),
                    Some(e @ (b'"' | b'\\')) => {
                        out.push(e);
                        self.step();
                    }
                    Some(_) => return Tok::Stop(Parsed::Bad { at: self.i, why: "bad escape in quoted string" }),
                },
                b'\r' | b'\n' | 0 => return Tok::Stop(Parsed::Bad { at: self.i - 1, why: "control in quoted string" }),
                c => out.push(c),
            }
            if out.len() > QUOTED_MAX {
                return Tok::Stop(Parsed::Bad { at: self.i, why: "quoted string too long" });
            }
        }
    }

    /// `literal-c2s = "{" number ["+"] "}" CRLF *OCTET`.
    fn literal(&mut self) -> Tok {
        self.step();
        let mut size: u64 = 0;
        let mut digits = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            size = match size.checked_mul(10).and_then(|s| s.checked_add(u64::from(c - b'0'))) {
                Some(s) => s,
                None => return Tok::Stop(Parsed::Bad { at: self.i, why: "literal size too large" }),
            };
            digits += 1;
            self.step();
        }
        if self.peek() == Some(b'+') {
            self.step();
        }
        let head = [self.peek(), self.b.get(self.i + 1).copied(), self.b.get(self.i + 2).copied()];
        match head {
            [None, ..] | [Some(b'}'), None, _] | [Some(b'}'), Some(b'\r'), None] if digits <= 20 => {
                return Tok::Stop(self.incomplete())
            }
            [Some(b'}'), Some(b'\r'), Some(b'\n')] if digits > 0 => self.i += 3,
            _ => return Tok::Stop(Parsed::Bad { at: self.i, why: "bad literal" }),
        }
        if size > LITERAL_MAX as u64 {
            return Tok::Stop(Parsed::LiteralTooBig { used: self.i, size });
        }
        let end = self.i + size as usize;
        let Some(body) = self.b.get(self.i..end) else { return Tok::Stop(Parsed::Incomplete) };
        self.i = end;
        Tok::Done(Arg::Str(body.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(b: &[u8]) -> (String, Vec<Arg>) {
        match parse(b) {
            Parsed::Command { used, name, args } => {
                assert_eq!(used, b.len());
                (name, args)
            }
            other => panic!("{other:?}"),
        }
    }

    fn s(v: &str) -> Arg {
        Arg::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn commands_with_quoted_literal_and_atom_arguments() {
        assert_eq!(cmd(b"capability\r\n"), ("CAPABILITY".into(), vec![]));
        assert_eq!(cmd(b"HAVESPACE \"a \\\"b\\\\\" 123\r\n").1, vec![s("a \"b\\"), Arg::Atom("123".into())]);
        assert_eq!(cmd(b"PUTSCRIPT \"x\" {6+}\r\nkeep;\n\r\n").1, vec![s("x"), s("keep;\n")]);
        assert_eq!(cmd(b"PUTSCRIPT {1}\r\nx {0+}\r\n\r\n").1, vec![s("x"), s("")]);
    }

    #[test]
    fn every_split_of_a_command_is_incomplete_until_the_end() {
        let full = b"RENAMESCRIPT {3+}\r\na\"b \"new\"\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        assert_eq!(cmd(full).1, vec![s("a\"b"), s("new")]);
    }

    #[test]
    fn bad_input_is_an_outcome() {
        assert!(matches!(parse(b"NOOP \"a\rb\"\r\n"), Parsed::Bad { .. }));
        assert!(matches!(parse(b"NOOP \"a\\xb\"\r\n"), Parsed::Bad { .. }));
        assert!(matches!(parse(b"NOOP {99999999999999999999999+}\r\n"), Parsed::Bad { .. }));
        assert!(matches!(parse(b"NOOP {+}\r\n"), Parsed::Bad { .. }));
        assert!(matches!(parse(b"NOOP\rX"), Parsed::Bad { .. }));
        assert!(matches!(parse(b"NOOP a b c d e\r\n"), Parsed::Bad { why: "too many arguments", .. }));
        assert_eq!(parse(b"PUTSCRIPT \"a\" {4294967296+}\r\n"), Parsed::LiteralTooBig { used: 29, size: 1 << 32 });
        let long = vec![b'A'; LINE_MAX + 2];
        assert_eq!(parse(&long), Parsed::TooLong);
        let mut q = b"NOOP \"".to_vec();
        q.extend(vec![b'q'; QUOTED_MAX + 1]);
        assert!(matches!(parse(&q), Parsed::Bad { why: "quoted string too long", .. }));
    }
}
