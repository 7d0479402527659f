//! Sieve lexical tokens (RFC 5228 §8.1): identifiers, tags, numbers with K/M/G quantifiers,
//! quoted strings (§2.4.2, `\"` and `\\` escapes), multi-line `text:` strings with
//! dot-stuffing (§2.4.2), hash and bracket comments (§2.3) and the special characters.
//! The caller has already bounded the script size, so the token list is bounded too.

use super::Error;

/// One token and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// §8.1 identifier, lowercased (Sieve identifiers are case-insensitive, §2.9).
    Ident(String),
    /// §8.1 tag (`:name`), lowercased, without the colon.
    Tag(String),
    /// §8.1 number with its quantifier applied.
    Num(u64),
    /// Quoted or multi-line string, escapes and dot-stuffing undone.
    Str(String),
    /// One of `[ ] ( ) , ; { }`.
    Punct(u8),
}

/// Splits `src` into tokens with line numbers.
pub fn tokens(src: &str) -> Result<Vec<(Token, u32)>, Error> {
    let mut lx = Lexer { src: src.as_bytes(), pos: 0, line: 1 };
    let mut out = Vec::new();
    while let Some(t) = lx.next_token()? {
        out.push(t);
    }
    Ok(out)
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error { line: self.line, message: message.into() }
    }

    fn next_token(&mut self) -> Result<Option<(Token, u32)>, Error> {
        self.skip_blank()?;
        let line = self.line;
        let Some(c) = self.peek() else { return Ok(None) };
        let tok = match c {
            b'[' | b']' | b'(' | b')' | b',' | b';' | b'{' | b'}' => {
                self.bump();
                Token::Punct(c)
            }
            b'"' => Token::Str(self.quoted()?),
            b':' => {
                self.bump();
                Token::Tag(self.ident().ok_or_else(|| self.err("':' not followed by a tag name"))?)
            }
            b'0'..=b'9' => Token::Num(self.number()?),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let id = self.ident().unwrap_or_default();
                if id == "text" && self.peek() == Some(b':') {
                    self.bump();
                    Token::Str(self.multiline()?)
                } else {
                    Token::Ident(id)
                }
            }
            c => return Err(self.err(format!("unexpected character {:?}", char::from(c)))),
        };
        Ok(Some((tok, line)))
    }

    /// §2.3 white space, `#` comments to end of line and `/* */` comments.
    fn skip_blank(&mut self) -> Result<(), Error> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                Some(b'/') if self.at(1) == Some(b'*') => {
                    let start = self.line;
                    self.pos += 2;
                    loop {
                        match self.bump() {
                            Some(b'*') if self.peek() == Some(b'/') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => {}
                            None => return Err(Error { line: start, message: "unterminated comment".into() }),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// §8.1 `identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_")`.
    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        let id = self.src.get(start..self.pos)?;
        if id.is_empty() || id.first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        Some(String::from_utf8_lossy(id).to_ascii_lowercase())
    }

    /// §8.1 `number = 1*DIGIT [ QUANTIFIER ]`, quantifiers K, M, G (powers of 1024).
    fn number(&mut self) -> Result<u64, Error> {
        let mut n: u64 = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            self.pos += 1;
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or_else(|| self.err("number too large"))?;
        }
        let shift = match self.peek().map(|c| c.to_ascii_uppercase()) {
            Some(b'K') => 10,
            Some(b'M') => 20,
            Some(b'G') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.pos += 1;
        }
        let v = n.checked_mul(1 << shift).filter(|v| *v <= u64::from(u32::MAX));
        v.ok_or_else(|| self.err("number too large"))
    }

    /// §2.4.2 quoted string; `\` takes the next character literally.
    fn quoted(&mut self) -> Result<String, Error> {
        let start = self.line;
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => break,
                Some(b'\\') => {
                    out.push(self.bump().ok_or_else(|| Error { line: start, message: "unterminated string".into() })?)
                }
                Some(c) => out.push(c),
                None => return Err(Error { line: start, message: "unterminated string".into() }),
            }
        }
        String::from_utf8(out).map_err(|_| Error { line: start, message: "string is not UTF-8".into() })
    }

    /// §2.4.2 `text:` [hash-comment] CRLF lines "." CRLF; a leading ".." is one dot.
    fn multiline(&mut self) -> Result<String, Error> {
        let start = self.line;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
        if self.peek() == Some(b'#') {
            while self.peek().is_some_and(|c| c != b'\n') {
                self.bump();
            }
        }
        if self.peek() == Some(b'\r') {
            self.bump();
        }
        if self.bump() != Some(b'\n') {
            return Err(self.err("text: must be followed by a line break"));
        }
        let mut out = Vec::new();
        loop {
            let line_start = self.pos;
            while self.peek().is_some_and(|c| c != b'\n') {
                self.bump();
            }
            let Some(mut line) = self.src.get(line_start..self.pos) else { break };
            if self.bump().is_none() {
                return Err(Error { line: start, message: "unterminated text: string".into() });
            }
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line == b"." {
                break;
            }
            out.extend_from_slice(line.strip_prefix(b"..").map(|_| line.get(1..).unwrap_or(&[])).unwrap_or(line));
            out.extend_from_slice(b"\r\n");
        }
        String::from_utf8(out).map_err(|_| Error { line: start, message: "string is not UTF-8".into() })
    }
}
