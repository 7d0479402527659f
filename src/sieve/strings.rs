//! String helpers: `encoded-character` escapes (RFC 5228 §2.4.2.4), `${name}` variable
//! expansion (RFC 5229 §3) and the `set` modifiers (RFC 5229 §4.1), all bounded by the
//! caller's size limit.

use std::collections::HashMap;

/// §2.4.2.4: `${hex: 41 42}` and `${unicode: 263a}` decoded; anything else left as it is.
/// `None` for a Unicode scalar value that is not a character (the RFC makes that an error).
pub fn decode_encoded(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(rest.get(..i)?);
        let after = rest.get(i + 2..)?;
        match encoded_body(after) {
            Some((text, used)) => {
                out.push_str(&text?);
                rest = after.get(used..)?;
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Parses `hex:`/`unicode:` up to the `}`: `Some((decoded or None if invalid, bytes used))`,
/// `None` when it is not an encoded character at all (left literal).
fn encoded_body(s: &str) -> Option<(Option<String>, usize)> {
    let colon = s.find(':')?;
    let kind = s.get(..colon)?.to_ascii_lowercase();
    let end = s.find('}')?;
    let body = s.get(colon + 1..end)?;
    let words: Vec<&str> = body.split([' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()).collect();
    if !words.iter().all(|w| w.bytes().all(|b| b.is_ascii_hexdigit())) {
        return None;
    }
    let text = match kind.as_str() {
        "hex" => {
            let bytes: Option<Vec<u8>> = words.iter().map(|w| u8::from_str_radix(w, 16).ok()).collect();
            bytes.and_then(|b| String::from_utf8(b).ok())
        }
        "unicode" => words.iter().map(|w| u32::from_str_radix(w, 16).ok().and_then(char::from_u32)).collect(),
        _ => return None,
    };
    Some((text, end + 1))
}

/// The variables of one run (RFC 5229 §3): named ones (lowercased) and match groups.
#[derive(Debug, Default)]
pub struct Vars {
    /// Named variables.
    pub named: HashMap<String, String>,
    /// `${0}`..`${9}` of the last successful `:matches` (§3.2).
    pub groups: Vec<String>,
}

impl Vars {
    /// §3: replaces `${name}` and `${N}` (unknown → empty); malformed references stay literal.
    /// The result is cut at `max` bytes (at a character boundary).
    pub fn expand(&self, s: &str, max: usize) -> String {
        let mut out = String::with_capacity(s.len().min(max));
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            out.push_str(rest.get(..i).unwrap_or(""));
            let after = rest.get(i + 2..).unwrap_or("");
            let name = after.find('}').and_then(|e| after.get(..e)).filter(|n| is_reference(n));
            match name {
                Some(n) => {
                    out.push_str(self.value(n));
                    rest = after.get(n.len() + 1..).unwrap_or("");
                }
                None => {
                    out.push_str("${");
                    rest = after;
                }
            }
            if out.len() > max {
                break;
            }
        }
        out.push_str(rest);
        truncate(&mut out, max);
        out
    }

    fn value(&self, name: &str) -> &str {
        if let Ok(n) = name.parse::<usize>() {
            return self.groups.get(n).map_or("", String::as_str);
        }
        self.named.get(&name.to_ascii_lowercase()).map_or("", String::as_str)
    }
}

/// A variable reference: digits, or an identifier with dotted parts.
fn is_reference(n: &str) -> bool {
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) || super::validate::is_var_name(n)
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// RFC 5229 §4.1 modifiers, applied in the order of precedence the RFC gives
/// (lower/upper, then lowerfirst/upperfirst, then quotewildcard, then length).
pub fn modify(value: &str, has: impl Fn(&str) -> bool) -> String {
    let mut v = value.to_owned();
    if has(":lower") {
        v = v.to_lowercase();
    }
    if has(":upper") {
        v = v.to_uppercase();
    }
    if has(":lowerfirst") || has(":upperfirst") {
        let mut chars = v.chars();
        let first = chars.next().map(|c| {
            if has(":upperfirst") {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_lowercase().collect()
            }
        });
        v = first.unwrap_or_default() + chars.as_str();
    }
    if has(":quotewildcard") {
        v = v.chars().flat_map(|c| if matches!(c, '*' | '?' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    }
    if has(":length") {
        v = v.chars().count().to_string();
    }
    v
}
