//! A small TOML subset reader for `letterbox.toml` (TOML 1.0: tables, arrays of tables
//! (`[[fetch]]`, sections `fetch[0]`, `fetch[1]`, …), bare keys, basic and
//! literal strings, integers, booleans, arrays of those; comments). It keeps the line of every
//! key so that errors can name `file:line: key`. Anything outside the subset is an error, never
//! a silent skip: the config is a contract.

use std::fmt;

/// One parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Value>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
        }
    }
}

/// `section.key = value` found on `line` (1-based). Top-level keys have an empty section.
#[derive(Debug, Clone)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// Longest config file accepted; a config is a few hundred bytes.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Parses the whole document into entries in file order.
pub fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let mut p = Parser { s: text.as_bytes(), i: 0, line: 1 };
    let mut section = String::new();
    let mut out: Vec<Entry> = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    loop {
        p.skip_ws_comments_newlines();
        if p.i >= p.s.len() {
            return Ok(out);
        }
        let line = p.line;
        if p.peek() == Some(b'[') {
            p.i += 1;
            let array = p.peek() == Some(b'[');
            p.i += usize::from(array);
            p.skip_inline_ws();
            section = p.key()?;
            p.skip_inline_ws();
            p.expect(b']')?;
            if array {
                p.expect(b']')?;
                section = array_element(&tables, &section).map_err(|m| p.err(m))?;
            } else if tables.iter().any(|t| t.starts_with(&format!("{section}["))) {
                return Err(p.err(format!("[{section}] is an array of tables")));
            }
            if tables.contains(&section) {
                return Err(p.err(format!("table [{section}] defined twice")));
            }
            tables.push(section.clone());
        } else {
            let key = p.key()?;
            p.skip_inline_ws();
            p.expect(b'=')?;
            p.skip_inline_ws();
            let value = p.value()?;
            if out.iter().any(|e| e.section == section && e.key == key) {
                return Err(SyntaxError { line, msg: format!("{key}: defined twice") });
            }
            out.push(Entry { section: section.clone(), key, value, line });
        }
        p.end_of_line()?;
    }
}

/// The section name of the next element of the array of tables `[[name]]` (TOML 1.0
/// "Array of Tables"): `name[0]`, `name[1]`, … — a form no bare key can take.
fn array_element(tables: &[String], name: &str) -> Result<String, String> {
    if tables.iter().any(|t| t == name) {
        return Err(format!("[{name}] is a table, not an array of tables"));
    }
    let n = tables.iter().filter(|t| t.strip_prefix(name).is_some_and(|r| r.starts_with('['))).count();
    Ok(format!("{name}[{n}]"))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn err(&self, msg: impl Into<String>) -> SyntaxError {
        SyntaxError { line: self.line, msg: msg.into() }
    }

    fn expect(&mut self, c: u8) -> Result<(), SyntaxError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected '{}'", c as char)))
        }
    }

    fn skip_inline_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), None | Some(b'\n')) {
                self.i += 1;
            }
        }
    }

    fn skip_ws_comments_newlines(&mut self) {
        loop {
            self.skip_inline_ws();
            self.skip_comment();
            match self.peek() {
                Some(b'\n') => {
                    self.i += 1;
                    self.line += 1;
                }
                Some(b'\r') if self.s.get(self.i + 1) == Some(&b'\n') => self.i += 1,
                _ => return,
            }
        }
    }

    fn end_of_line(&mut self) -> Result<(), SyntaxError> {
        self.skip_inline_ws();
        self.skip_comment();
        if self.peek() == Some(b'\r') {
            self.i += 1;
        }
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.i += 1;
                self.line += 1;
                Ok(())
            }
            Some(_) => Err(self.err("unexpected text after value")),
        }
    }

    /// TOML `unquoted-key` (bare keys only: A-Za-z0-9_-).
    fn key(&mut self) -> Result<String, SyntaxError> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("expected a key"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.basic_string().map(Value::Str),
            Some(b'\'') => self.literal_string().map(Value::Str),
            Some(b'[') => self.array(),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => self.integer(),
            _ => Err(self.err("expected a value (string, integer, boolean or array)")),
        }
    }

    fn integer(&mut self) -> Result<Value, SyntaxError> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == b'_') {
            self.i += 1;
        }
        let digits: String = self.s[start..self.i].iter().filter(|&&c| c != b'_').map(|&c| c as char).collect();
        digits.parse::<i64>().map(Value::Int).map_err(|_| self.err("invalid integer"))
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        loop {
            self.skip_ws_comments_newlines();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.skip_ws_comments_newlines();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {}
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }

    fn literal_string(&mut self) -> Result<String, SyntaxError> {
        self.expect(b'\'')?;
        let start = self.i;
        while !matches!(self.peek(), None | Some(b'\'' | b'\n')) {
            self.i += 1;
        }
        let s = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("string is not UTF-8"))?.to_owned();
        self.expect(b'\'')?;
        Ok(s)
    }

    fn basic_string(&mut self) -> Result<String, SyntaxError> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.escape()?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(c) if c < 0x20 && c != b'\t' => return Err(self.err("control character in string")),
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
        self.i += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let hex = self
                    .s
                    .get(self.i..self.i + n)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.err("invalid unicode escape"))?;
                self.i += n;
                hex
            }
            _ => return Err(self.err("invalid escape")),
        })
    }
}

/// Quotes `s` as a TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_arrays_and_comments() {
        let doc = "domain = \"example.org\" # c\naliases = [\"a\", 'b',\n  ]\n[limits]\nx = 1_000\ny = true\n";
        let e = parse(doc).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].value, Value::Array(vec![Value::Str("a".into()), Value::Str("b".into())]));
        assert_eq!((e[2].section.as_str(), e[2].line, &e[2].value), ("limits", 5, &Value::Int(1000)));
        assert_eq!(e[3].value, Value::Bool(true));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("a = 1\nb = \"x\n").unwrap_err().line, 2);
        assert_eq!(parse("a = 1\na = 2\n").unwrap_err().line, 2);
        assert!(parse("a = 1 2\n").is_err());
        assert!(parse("[t]\n[t]\n").is_err());
    }

    #[test]
    fn arrays_of_tables() {
        let doc = "[[fetch]]\nname = \"a\"\n[limits]\nx = 1\n[[fetch]]\nname = \"b\"\n";
        let e = parse(doc).unwrap();
        let secs: Vec<&str> = e.iter().map(|e| e.section.as_str()).collect();
        assert_eq!(secs, ["fetch[0]", "limits", "fetch[1]"]);
        assert!(parse("[fetch]\n[[fetch]]\n").is_err());
        assert!(parse("[[fetch]]\n[fetch]\n").is_err());
        assert!(parse("[[fetch]\n").is_err());
    }

    #[test]
    fn quote_round_trips() {
        for s in ["plain", "q\"uo\\te", "tab\tnl\n", "ü"] {
            let doc = format!("k = {}\n", quote(s));
            assert_eq!(parse(&doc).unwrap()[0].value, Value::Str(s.into()));
        }
    }
}
