//! Response encoding (RFC 3501 §7, §9 `string`, `nstring`, `nil`, `flag-list`,
//! `date-time`, `envelope`, `body`): quoted strings when safe, literals otherwise;
//! ENVELOPE (§7.4.2, addresses from RFC 5322 §3.4 with groups) and BODY/BODYSTRUCTURE
//! (§7.4.2, RFC 3501 §9 `body-ext-1part`/`body-ext-mpart`) from a [`MimeSummary`].

use std::fmt::Write as _;

use super::api::flag;
use crate::mime::{Envelope, MimeSummary, Part};

/// Longest string sent quoted; longer ones go as literals.
const QUOTED_MAX: usize = 1024;

/// RFC 3501 §9 `string`: quoted if every octet is a QUOTED-CHAR, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() <= QUOTED_MAX && s.iter().all(|&c| (0x01..0x80).contains(&c) && c != b'\r' && c != b'\n');
    if quotable {
        out.push(b'"');
        for &c in s {
            if c == b'"' || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

/// RFC 3501 §9 `nstring = string / nil`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// RFC 3501 §9 `flag-list` for a flags word (bits 5.. index `keywords`).
pub fn flags(out: &mut Vec<u8>, bits: u32, keywords: &[String]) {
    const NAMES: [(u32, &str); 5] = [
        (flag::SEEN, "\\Seen"),
        (flag::ANSWERED, "\\Answered"),
        (flag::FLAGGED, "\\Flagged"),
        (flag::DELETED, "\\Deleted"),
        (flag::DRAFT, "\\Draft"),
    ];
    let mut names: Vec<&str> = NAMES.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
    for (i, kw) in keywords.iter().enumerate().take(flag::KEYWORDS_MAX) {
        if bits & (1 << (i as u32 + flag::KEYWORD_SHIFT)) != 0 {
            names.push(kw);
        }
    }
    out.push(b'(');
    out.extend_from_slice(names.join(" ").as_bytes());
    out.push(b')');
}

/// RFC 3501 §9 `date-time` in UTC: `"01-Jan-1970 00:00:00 +0000"`.
pub fn date_time(t: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = crate::mbox::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let mon = MONTHS.get(m as usize - 1).copied().unwrap_or("Jan");
    format!("\"{d:02}-{mon}-{y:04} {:02}:{:02}:{:02} +0000\"", s / 3600, s % 3600 / 60, s % 60)
}

/// RFC 3501 §7.4.2 ENVELOPE; sender and reply-to default to from.
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    let from = e.from.as_deref();
    for list in [
        from,
        e.sender.as_deref().or(from),
        e.reply_to.as_deref().or(from),
        e.to.as_deref(),
        e.cc.as_deref(),
        e.bcc.as_deref(),
    ] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

/// An address list: `((name adl mailbox host) ...)` or NIL; groups as RFC 3501 §7.4.2.
fn addresses(out: &mut Vec<u8>, list: Option<&str>) {
    let addrs = list.map(parse_addresses).unwrap_or_default();
    if addrs.is_empty() {
        return out.extend_from_slice(b"NIL");
    }
    out.push(b'(');
    for a in addrs {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.extend_from_slice(b" NIL ");
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// One ENVELOPE address (a group start has only `mailbox`, a group end nothing).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// RFC 5322 §3.4 `address-list`, forgiving: `Name <a@b>`, `a@b (comment)`, `g: a@b, c@d;`.
pub fn parse_addresses(s: &str) -> Vec<Address> {
    let mut out = Vec::new();
    for item in split_top(s, &[',', ';', ':']) {
        match item {
            (text, Some(':')) => out.push(Address { mailbox: Some(unquote(text.trim())), ..Address::default() }),
            (text, end) => {
                if let Some(a) = one_address(text) {
                    out.push(a);
                }
                if end == Some(';') {
                    out.push(Address::default());
                }
            }
        }
        if out.len() >= 256 {
            break;
        }
    }
    out
}

/// Splits on `seps` outside quotes, comments and angle brackets, keeping the separator.
fn split_top<'a>(s: &'a str, seps: &[char]) -> Vec<(&'a str, Option<char>)> {
    let (mut out, mut start, mut quoted, mut depth, mut angle) = (Vec::new(), 0, false, 0u32, false);
    let mut escape = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escape => escape = false,
            '\\' => escape = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            '<' if !quoted && depth == 0 => angle = true,
            '>' if !quoted && depth == 0 => angle = false,
            _ if seps.contains(&c) && !quoted && depth == 0 && !angle => {
                out.push((s.get(start..i).unwrap_or(""), Some(c)));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push((s.get(start..).unwrap_or(""), None));
    out
}

fn one_address(text: &str) -> Option<Address> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (name, spec) = match (text.rfind('<'), text.rfind('>')) {
        (Some(a), Some(b)) if a < b => (Some(text.get(..a).unwrap_or("").trim()), text.get(a + 1..b).unwrap_or("")),
        _ => (None, text),
    };
    let spec = strip_comments(spec);
    let spec = spec.trim();
    let (mailbox, host) = match spec.rsplit_once('@') {
        Some((m, h)) => (m, Some(h.to_owned())),
        None => (spec, None),
    };
    let name = name.filter(|n| !n.is_empty()).map(unquote);
    Some(Address { name, mailbox: Some(unquote(mailbox)), host })
}

fn strip_comments(s: &str) -> String {
    let mut depth = 0u32;
    s.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_owned(),
    }
}

/// RFC 3501 §7.4.2 BODYSTRUCTURE (`ext`) or BODY for part `index`. Recursion depth is
/// bounded by `crate::mime::DEPTH_MAX`.
pub fn body(out: &mut Vec<u8>, m: &MimeSummary, index: u32, ext: bool) {
    let Some(p) = m.part(index) else {
        return out.extend_from_slice(b"NIL");
    };
    out.push(b'(');
    if p.mime_type == "multipart" {
        let mut any = false;
        for c in m.children(index) {
            body(out, m, c, ext);
            any = true;
        }
        if !any {
            // §9 body-type-mpart needs one part: an empty text/plain stands in.
            out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        }
        out.push(b' ');
        string(out, p.subtype.as_bytes());
        if ext {
            out.push(b' ');
            params(out, &p.params);
            trailing_ext(out, p);
        }
    } else {
        single(out, m, index, p, ext);
    }
    out.push(b')');
}

/// RFC 3501 §9 `body-type-1part` (+ `body-ext-1part`).
fn single(out: &mut Vec<u8>, m: &MimeSummary, index: u32, p: &Part, ext: bool) {
    string(out, p.mime_type.as_bytes());
    out.push(b' ');
    string(out, p.subtype.as_bytes());
    out.push(b' ');
    params(out, &p.params);
    out.push(b' ');
    nstring(out, p.id.as_deref());
    out.push(b' ');
    nstring(out, p.description.as_deref());
    out.push(b' ');
    string(out, p.encoding.as_deref().unwrap_or("7bit").as_bytes());
    let _ = write!(Vec8(out), " {}", p.body_len);
    if m.is_message(index) {
        let child = m.children(index).next().unwrap_or(0);
        out.push(b' ');
        let empty = Envelope::default();
        envelope(out, m.part(child).and_then(|c| c.envelope.as_ref()).unwrap_or(&empty));
        out.push(b' ');
        body(out, m, child, ext);
        let _ = write!(Vec8(out), " {}", p.body_lines);
    } else if p.mime_type == "text" {
        let _ = write!(Vec8(out), " {}", p.body_lines);
    }
    if ext {
        out.push(b' ');
        nstring(out, p.md5.as_deref());
        trailing_ext(out, p);
    }
}

/// ` disposition language location` (RFC 3501 §9 `body-fld-dsp`, `body-fld-lang`, `body-fld-loc`).
fn trailing_ext(out: &mut Vec<u8>, p: &Part) {
    out.push(b' ');
    match &p.disposition {
        Some((kind, ps)) => {
            out.push(b'(');
            string(out, kind.as_bytes());
            out.push(b' ');
            params(out, ps);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    nstring(out, p.language.as_deref());
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

/// RFC 3501 §9 `body-fld-param`: `("name" "value" ...)` or NIL.
fn params(out: &mut Vec<u8>, ps: &[(String, String)]) {
    if ps.is_empty() {
        return out.extend_from_slice(b"NIL");
    }
    out.push(b'(');
    for (i, (k, v)) in ps.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, v.as_bytes());
    }
    out.push(b')');
}

/// `fmt::Write` over a byte vector.
struct Vec8<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Vec8<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
