//! A small bounded JSON reader (RFC 8259) for the ACME server's answers (RFC 8555 §7.1
//! resources, RFC 7807 problem documents), and the string escaping of the requests we write.
//! Hostile documents are refused by named limits, never by running out of stack or RAM.

/// Largest JSON document read: an order of 100 names is ~10 KiB; 64 KiB leaves room.
pub const DOC_MAX: usize = 64 * 1024;
/// Deepest nesting: ACME resources are at most 4 levels deep (problem subproblems).
pub const DEPTH_MAX: usize = 16;
/// Values in one document: an order's authorizations and a directory stay far below.
pub const NODES_MAX: usize = 4096;

/// A parsed JSON value; numbers keep their text (ACME only needs small integers).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    TooLarge,
    TooDeep,
    TooManyValues,
    Syntax(usize),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::TooLarge => write!(f, "JSON document over {DOC_MAX} bytes"),
            JsonError::TooDeep => write!(f, "JSON nested deeper than {DEPTH_MAX}"),
            JsonError::TooManyValues => write!(f, "JSON with more than {NODES_MAX} values"),
            JsonError::Syntax(at) => write!(f, "JSON syntax error at byte {at}"),
        }
    }
}

impl Value {
    /// The member `key` of an object (the first one, if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> &[Value] {
        match self {
            Value::Arr(a) => a,
            _ => &[],
        }
    }

    /// `self.get(key)` as a string.
    pub fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// Parses one document: `value` with optional whitespace around it (RFC 8259 §2).
pub fn parse(text: &[u8]) -> Result<Value, JsonError> {
    if text.len() > DOC_MAX {
        return Err(JsonError::TooLarge);
    }
    let mut p = Parser { s: text, at: 0, nodes: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.at != text.len() {
        return Err(JsonError::Syntax(p.at));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn err<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax(self.at))
    }

    /// RFC 8259 §2 `ws`.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let ok = self.peek() == Some(b);
        if ok {
            self.at += 1;
        }
        ok
    }

    /// RFC 8259 §3 `value`.
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.nodes += 1;
        if self.nodes > NODES_MAX {
            return Err(JsonError::TooManyValues);
        }
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.s.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            Ok(v)
        } else {
            self.err()
        }
    }

    /// RFC 8259 §6 `number`: `-? int frac? exp?`.
    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.at;
        self.at += usize::from(self.peek() == Some(b'-'));
        let digits = |p: &mut Self| {
            let d = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at > d
        };
        if !digits(self) {
            return self.err();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return self.err();
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return self.err();
            }
        }
        let text = self.s.get(start..self.at).unwrap_or_default();
        Ok(Value::Num(String::from_utf8_lossy(text).into_owned()))
    }

    /// RFC 8259 §7 `string`, escapes decoded; surrogate pairs joined, lone ones refused.
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.err(),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                Some(c) if c < 0x20 => return self.err(),
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        String::from_utf8(out).or_else(|_| self.err())
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let c = self.peek().ok_or(JsonError::Syntax(self.at))?;
        self.at += 1;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode(out),
            _ => return self.err(),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self.s.get(self.at..self.at + 4).ok_or(JsonError::Syntax(self.at))?;
        let t = std::str::from_utf8(h).map_err(|_| JsonError::Syntax(self.at))?;
        let v = u32::from_str_radix(t, 16).map_err(|_| JsonError::Syntax(self.at))?;
        if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.err();
        }
        self.at += 4;
        Ok(v)
    }

    fn unicode(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let hi = self.hex4()?;
        let cp = if (0xD800..0xDC00).contains(&hi) {
            if self.s.get(self.at..self.at + 2) != Some(b"\\u") {
                return self.err();
            }
            self.at += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return self.err();
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        let ch = char::from_u32(cp).ok_or(JsonError::Syntax(self.at))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// RFC 8259 §5 `array`.
    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(b']') {
            return Ok(Value::Arr(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.eat(b']') {
                return Ok(Value::Arr(items));
            }
            if !self.eat(b',') {
                return self.err();
            }
        }
    }

    /// RFC 8259 §4 `object`.
    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.at += 1;
        let mut members = Vec::new();
        if self.eat(b'}') {
            return Ok(Value::Obj(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err();
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return self.err();
            }
            members.push((k, self.value(depth + 1)?));
            if self.eat(b'}') {
                return Ok(Value::Obj(members));
            }
            if !self.eat(b',') {
                return self.err();
            }
        }
    }
}

/// `s` as a JSON string literal, quotes included (RFC 8259 §7).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
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
    fn acme_documents_parse() {
        let d = br#"{"newNonce":"https://a/n","meta":{"termsOfService":"t","x":[1,-2.5e3,true,null]},"s":"\u00e9\ud83d\ude00\n"}"#;
        let v = parse(d).unwrap();
        assert_eq!(v.str_of("newNonce"), Some("https://a/n"));
        assert_eq!(v.get("meta").and_then(|m| m.str_of("termsOfService")), Some("t"));
        assert_eq!(v.get("meta").and_then(|m| m.get("x")).map(|x| x.as_array().len()), Some(4));
        assert_eq!(v.str_of("s"), Some("é😀\n"));
        assert_eq!(parse(quote("a\"b\\\u{1}é").as_bytes()).unwrap(), Value::Str("a\"b\\\u{1}é".into()));
    }

    #[test]
    fn hostile_json_is_refused_by_named_limits() {
        let deep = "[".repeat(DEPTH_MAX + 2) + &"]".repeat(DEPTH_MAX + 2);
        assert_eq!(parse(deep.as_bytes()), Err(JsonError::TooDeep));
        let ok = "[".repeat(DEPTH_MAX) + &"]".repeat(DEPTH_MAX);
        assert!(parse(ok.as_bytes()).is_ok());
        let wide = format!("[{}0]", "0,".repeat(NODES_MAX));
        assert_eq!(parse(wide.as_bytes()), Err(JsonError::TooManyValues));
        let big = format!("\"{}\"", "a".repeat(DOC_MAX));
        assert_eq!(parse(big.as_bytes()), Err(JsonError::TooLarge));
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"}",
            b"{\"a\":1,}",
            b"[1,]",
            b"\"\\ud800\"",
            b"\"\\ud800\\u0041\"",
            b"01x",
            b"\"a\x01\"",
            b"\"\xff\"",
            b"tru",
            b"-",
            b"1.",
            b"1e",
            b"{} {}",
            b"\"\\x\"",
            b"\"\\u12g4\"",
            b"\"\\u+123\"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Every prefix of a valid document is an error or a value, never a panic.
        let d = br#"{"a":[{"b":"\u00e9"},1.5e-3,false]}"#;
        for i in 0..d.len() {
            let _ = parse(&d[..i]);
        }
    }
}
