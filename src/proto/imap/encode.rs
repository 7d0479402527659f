//! Response encoding (RFC 3501 §7, §9 `string`, `nstring`, `nil`, `flag-list`,
//! `date-time`, `envelope`, `body`): quoted strings when safe, literals otherwise;
//! ENVELOPE (§7.4.2, addresses from RFC 5322 §3.4 with groups) and BODY/BODYSTRUCTURE
//! (§7.4.2, RFC 3501 §9 `body-ext-1part`/`body-ext-mpart`) from a [`MimeSummary`].

use std::fmt::Write as _;

use super::api::flag;
use crate::mime::{Envelope, MimeSummary, Part};

/// Longest string sent quoted; longer ones go as literals.
const QUOTED_MAX: usize = 1024;

/// RFC 3501 §9 `string`: quoted if every octet is a QUOTED-CHAR, else a literal. A literal
/// is `*CHAR8`, which excludes NUL: a NUL (from a hostile message header) is sent as U+FFFD,
/// so no client parser meets one in an ENVELOPE or BODYSTRUCTURE.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.contains(&0) {
        let mut clean = Vec::with_capacity(s.len() + 8);
        for &c in s {
            match c {
                0 => clean.extend_from_slice("\u{FFFD}".as_bytes()),
                c => clean.push(c),
            }
        }
        return string(out, &clean);
    }
    let quotable = s.len() <= QUOTED_MAX && s.iter().all(|&c| (0x01..0x80).contains(&c) && c != b'\r' && c != b'\n');
    if quotable {
        quoted(out, s);
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

/// A mailbox name: as `string`, but with `utf8` (RFC 6855 §3) UTF-8 goes quoted.
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    let s = name.as_bytes();
    let quotable = s.len() <= QUOTED_MAX && s.iter().all(|&c| c != 0 && c != b'\r' && c != b'\n');
    match utf8 && quotable {
        true => quoted(out, s),
        false => string(out, s),
    }
}

/// RFC 3501 §9 `quoted`: DQUOTE, the bytes with `"` and `\` escaped, DQUOTE (the caller
/// checked that every byte may stand in it).
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
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

/// A message's `flag-list`, with `\Recent` first when it is recent (RFC 3501 §2.3.2).
pub fn msg_flags(out: &mut Vec<u8>, bits: u32, recent: bool, keywords: &[String]) {
    let start = out.len();
    flags(out, bits, keywords);
    if recent {
        let sep: &[u8] = if out.len() > start + 2 { b"\\Recent " } else { b"\\Recent" };
        let at = (start + 1).min(out.len());
        out.splice(at..at, sep.iter().copied());
    }
}

/// RFC 3501 §9 `date-time` in UTC: `"01-Jan-1970 00:00:00 +0000"`.
pub fn date_time(t: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = crate::datetime::civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let mon = MONTHS.get(m as usize - 1).copied().unwrap_or("Jan");
    format!("\"{d:02}-{mon}-{y:04} {:02}:{:02}:{:02} +0000\"", s / 3600, s % 3600 / 60, s % 60)
}

/// RFC 3501 §7.4.2 ENVELOPE; sender and reply-to default to from.
pub fn envelope<'a>(out: &mut Vec<u8>, e: &'a Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    let from = e.from.as_deref();
    // RFC 3501 §7.4.2: an absent or empty Sender / Reply-To is sent as From.
    let or_from = |f: Option<&'a str>| f.filter(|v| !parse_addresses(v).is_empty()).or(from);
    for list in [
        from,
        or_from(e.sender.as_deref()),
        or_from(e.reply_to.as_deref()),
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
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
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
    pub adl: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

impl Address {
    /// `Name <mailbox@host>` / `mailbox@host` / the group name, for SEARCH matching.
    pub fn display(&self) -> String {
        let spec = match (&self.mailbox, &self.host) {
            (Some(m), Some(h)) => format!("{m}@{h}"),
            (Some(m), None) => m.clone(),
            _ => String::new(),
        };
        match &self.name {
            Some(n) => format!("{n} <{spec}>"),
            None => spec,
        }
    }
}

/// Lexical pieces of an address list (RFC 5322 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Comment(String),
    Special(char),
    Space,
}

/// Addresses kept per header (a cap, not a protocol limit).
const ADDRESSES_MAX: usize = 256;

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '"' => {
                let mut q = String::new();
                while let Some(c) = it.next() {
                    match c {
                        '\\' => q.extend(it.next()),
                        '"' => break,
                        _ => q.push(c),
                    }
                }
                out.push(Tok::Quoted(q));
            }
            '(' => {
                let (mut depth, mut text) = (1u32, String::new());
                while let Some(c) = it.next() {
                    match c {
                        '\\' => text.extend(it.next()),
                        '(' => {
                            depth += 1;
                            text.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        _ => text.push(c),
                    }
                }
                out.push(Tok::Comment(text));
            }
            '<' | '>' | ',' | ';' | ':' | '@' | '.' | '[' | ']' => out.push(Tok::Special(c)),
            _ if c.is_whitespace() => {
                while it.peek().is_some_and(|c| c.is_whitespace()) {
                    it.next();
                }
                out.push(Tok::Space);
            }
            _ => {
                let mut w = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_whitespace() || "\"()<>,;:@.[]".contains(n) {
                        break;
                    }
                    w.push(n);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    out
}

/// A display-name phrase: words and quoted strings joined by single spaces, comments dropped.
fn phrase(toks: &[Tok]) -> Option<String> {
    let mut s = String::new();
    let mut space = false;
    for t in toks {
        match t {
            Tok::Word(w) | Tok::Quoted(w) => {
                if space && !s.is_empty() {
                    s.push(' ');
                }
                space = false;
                s.push_str(w);
            }
            Tok::Special(c) => {
                s.push(*c);
                space = false;
            }
            Tok::Space => space = true,
            Tok::Comment(_) => space = true,
        }
    }
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// An addr-spec (optionally `@route,@route:` first) with spaces and comments removed.
fn addr_spec(toks: &[Tok]) -> (Option<String>, Option<String>, Option<String>) {
    let mut adl = None;
    let mut rest = toks;
    if let Some(colon) = toks.iter().position(|t| *t == Tok::Special(':')) {
        let route = join_spec(toks.get(..colon).unwrap_or(&[]));
        adl = (!route.is_empty()).then_some(route);
        rest = toks.get(colon + 1..).unwrap_or(&[]);
    }
    let at = rest.iter().rposition(|t| *t == Tok::Special('@'));
    let (local, host) = match at {
        Some(i) => (rest.get(..i).unwrap_or(&[]), Some(rest.get(i + 1..).unwrap_or(&[]))),
        None => (rest, None),
    };
    let mailbox = join_spec(local);
    let host = host.map(join_spec).filter(|h| !h.is_empty());
    (adl, (!mailbox.is_empty()).then_some(mailbox), host)
}

fn join_spec(toks: &[Tok]) -> String {
    let mut s = String::new();
    for t in toks {
        match t {
            Tok::Word(w) | Tok::Quoted(w) => s.push_str(w),
            Tok::Special(c) => s.push(*c),
            Tok::Space | Tok::Comment(_) => {}
        }
    }
    s
}

/// One `mailbox` (RFC 5322 §3.4): `phrase <spec>` or `spec (comment)`.
fn one_address(toks: &[Tok]) -> Option<Address> {
    if let Some(lt) = toks.iter().position(|t| *t == Tok::Special('<')) {
        let gt = toks.iter().rposition(|t| *t == Tok::Special('>')).filter(|&g| g > lt).unwrap_or(toks.len());
        let (adl, mailbox, host) = addr_spec(toks.get(lt + 1..gt).unwrap_or(&[]));
        let name = phrase(toks.get(..lt).unwrap_or(&[]));
        return Some(Address { name, adl, mailbox, host });
    }
    let (adl, mailbox, host) = addr_spec(toks);
    if mailbox.is_none() && host.is_none() {
        return None;
    }
    // RFC 822 style `user@host (Real Name)`: the last comment is the name.
    let name = toks
        .iter()
        .rev()
        .find_map(|t| match t {
            Tok::Comment(c) => Some(c.trim().to_owned()),
            _ => None,
        })
        .filter(|c| !c.is_empty());
    Some(Address { name, adl, mailbox, host })
}

/// RFC 5322 §3.4 `address-list`, forgiving: `Name <a@b>`, `a@b (comment)`, `g: a@b, c@d;`,
/// `<@route:a@b>`.
pub fn parse_addresses(s: &str) -> Vec<Address> {
    let toks = tokenize(s);
    let mut out = Vec::new();
    let (mut start, mut angle, mut in_group) = (0usize, false, false);
    for (i, t) in toks.iter().enumerate() {
        let piece = || toks.get(start..i).unwrap_or(&[]);
        match t {
            Tok::Special('<') => angle = true,
            Tok::Special('>') => angle = false,
            Tok::Special(':') if !angle && !in_group => {
                in_group = true;
                out.push(Address { mailbox: phrase(piece()).or(Some(String::new())), ..Address::default() });
                start = i + 1;
            }
            Tok::Special(',') if !angle => {
                out.extend(one_address(piece()));
                start = i + 1;
            }
            Tok::Special(';') if !angle => {
                out.extend(one_address(piece()));
                if in_group {
                    out.push(Address::default());
                    in_group = false;
                }
                start = i + 1;
            }
            _ => {}
        }
        if out.len() >= ADDRESSES_MAX {
            return out;
        }
    }
    out.extend(one_address(toks.get(start..).unwrap_or(&[])));
    if in_group {
        out.push(Address::default());
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &str) -> String {
        let mut out = Vec::new();
        addresses(&mut out, Some(list));
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn addresses_names_groups_routes() {
        assert_eq!(env("\"Real Name\" <user@domain>"), r#"(("Real Name" NIL "user" "domain"))"#);
        assert_eq!(env("Real Name <user@domain>"), r#"(("Real Name" NIL "user" "domain"))"#);
        assert_eq!(env("user@domain (Real Name)"), r#"(("Real Name" NIL "user" "domain"))"#);
        assert_eq!(env("<@route:user@domain>"), r#"((NIL "@route" "user" "domain"))"#);
        assert_eq!(env("<user (c)@ (c) domain.org>"), r#"((NIL NIL "user" "domain.org"))"#);
        assert_eq!(
            env("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;"),
            r#"((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL))"#
        );
        assert_eq!(
            env("group:;, group2: (foo) ;"),
            r#"((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL))"#
        );
        assert_eq!(env(""), "NIL");
        assert_eq!(parse_addresses("RealFrom <user-from@domain.org>")[0].display(), "RealFrom <user-from@domain.org>");
    }

    /// A NUL from a hostile header never reaches the wire (a literal is `*CHAR8`).
    #[test]
    fn strings_never_carry_nul() {
        let mut out = Vec::new();
        string(&mut out, b"a\0b");
        assert_eq!(out, "{5}\r\na\u{FFFD}b".as_bytes());
        let msg = crate::mime::MimeSummary::parse(b"Subject: x\0y\r\nFrom: N\0 <a@b>\r\n\r\nbody\r\n");
        let mut out = Vec::new();
        if let Some(e) = msg.parts.first().and_then(|p| p.envelope.as_ref()) {
            envelope(&mut out, e);
        }
        assert!(!out.is_empty() && !out.contains(&0), "{out:?}");
        assert!(String::from_utf8_lossy(&out).contains("x\u{FFFD}y"), "{}", String::from_utf8_lossy(&out));
    }
}

#[cfg(test)]
mod flag_tests {
    use super::*;

    #[test]
    fn recent_goes_first_in_flag_lists() {
        let mut out = Vec::new();
        msg_flags(&mut out, flag::SEEN, true, &[]);
        assert_eq!(out, b"(\\Recent \\Seen)");
        out.clear();
        msg_flags(&mut out, 0, true, &[]);
        assert_eq!(out, b"(\\Recent)");
        out.clear();
        msg_flags(&mut out, 0, false, &[]);
        assert_eq!(out, b"()");
    }
}
