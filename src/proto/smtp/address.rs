//! Envelope address parsing: RFC 5321 §4.1.2 `Reverse-path`, `Forward-path`, `Path`,
//! `Mailbox` and friends, with the RFC 6531 §3.3 UTF-8 extensions when the transaction
//! declared SMTPUTF8, and the length limits of RFC 5321 §4.5.3.1.1-3.
//!
//! Addresses are opaque keys: `%`, `!` and quoted local parts are never interpreted as
//! routes (RFC 2505 §2.6.2). A source route (`A-d-l`) is parsed and ignored, as RFC 5321
//! §3.3 and Appendix C allow; only the final mailbox is judged.

use std::sync::Arc;

use super::Policy;

/// RFC 5321 §4.5.3.1.1: longest local part, in octets.
pub const LOCAL_PART_MAX: usize = 64;
/// RFC 5321 §4.5.3.1.2: longest domain, in octets.
pub const DOMAIN_MAX: usize = 255;
/// RFC 5321 §4.5.3.1.3: longest path including the angle brackets, in octets.
pub const PATH_MAX: usize = 256;

/// Why an address was refused; mapped to replies in `reply.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// Not the RFC 5321 §4.1.2 grammar (including a missing `<>`).
    Syntax,
    /// Over one of the §4.5.3.1 limits.
    TooLong,
    /// Non-ASCII without the SMTPUTF8 parameter (RFC 6531 §3.2).
    NonAscii,
}

/// A parsed `Mailbox`: local part and domain as the client wrote them (validated UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The local part with quoting removed (`"a b"` → `a b`).
    pub local: String,
    /// Domain or address literal (with its brackets).
    pub domain: String,
    /// The local part was a `Quoted-string`.
    pub quoted: bool,
    /// The mailbox as written, e.g. `"a b"@example.org`: what the envelope records.
    pub text: String,
}

/// A byte cursor for the hand-written parsers of this module and `command.rs`.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// Consumes bytes while `f` holds and returns them.
    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn since(&self, start: usize) -> &'a [u8] {
        self.bytes.get(start..self.pos).unwrap_or_default()
    }
}

/// RFC 5321 §4.1.2 `Reverse-path = Path / "<>"`. `None` is the null sender.
pub(super) fn reverse_path(r: &mut Reader, utf8: bool) -> Result<Option<Mailbox>, AddrError> {
    if r.rest().starts_with(b"<>") {
        r.pos += 2;
        return Ok(None);
    }
    path(r, utf8).map(Some)
}

/// RFC 5321 §4.1.1.3 `Forward-path`: a `Path`, or the bare `<Postmaster>` every server
/// must accept (§4.5.1), returned with an empty domain.
pub(super) fn forward_path(r: &mut Reader, utf8: bool) -> Result<Mailbox, AddrError> {
    let rest = r.rest();
    if rest.len() >= 12 && rest.get(..12).is_some_and(|p| p.eq_ignore_ascii_case(b"<postmaster>")) {
        r.pos += 12;
        let text = "Postmaster".to_string();
        return Ok(Mailbox { local: text.clone(), domain: String::new(), quoted: false, text });
    }
    path(r, utf8)
}

/// RFC 5321 §4.1.2 `Path = "<" [ A-d-l ":" ] Mailbox ">"`, with the §4.5.3.1.3 limit.
fn path(r: &mut Reader, utf8: bool) -> Result<Mailbox, AddrError> {
    let start = r.pos;
    if !r.eat(b'<') {
        return Err(AddrError::Syntax);
    }
    if r.peek() == Some(b'@') {
        a_d_l(r, utf8)?;
        if !r.eat(b':') {
            return Err(AddrError::Syntax);
        }
    }
    let mailbox = mailbox(r, utf8)?;
    if !r.eat(b'>') {
        return Err(AddrError::Syntax);
    }
    if r.pos - start > PATH_MAX {
        return Err(AddrError::TooLong);
    }
    Ok(mailbox)
}

/// RFC 5321 §4.1.2 `A-d-l = At-domain *( "," At-domain )`, `At-domain = "@" Domain`.
/// Parsed for syntax only and then ignored (§3.3, Appendix C).
fn a_d_l(r: &mut Reader, utf8: bool) -> Result<(), AddrError> {
    loop {
        if !r.eat(b'@') {
            return Err(AddrError::Syntax);
        }
        domain(r, utf8)?;
        if !r.eat(b',') {
            return Ok(());
        }
    }
}

/// RFC 5321 §4.1.2 `Mailbox = Local-part "@" ( Domain / address-literal )`.
fn mailbox(r: &mut Reader, utf8: bool) -> Result<Mailbox, AddrError> {
    let start = r.pos;
    let (local, quoted) = local_part(r, utf8)?;
    if !r.eat(b'@') {
        return Err(AddrError::Syntax);
    }
    let domain = if r.peek() == Some(b'[') { address_literal(r)? } else { domain(r, utf8)? };
    let text = utf8_string(r.since(start))?;
    Ok(Mailbox { local, domain, quoted, text })
}

/// RFC 5321 §4.1.2 `Local-part = Dot-string / Quoted-string`, limited by §4.5.3.1.1.
fn local_part(r: &mut Reader, utf8: bool) -> Result<(String, bool), AddrError> {
    let start = r.pos;
    let (local, quoted) = if r.peek() == Some(b'"') {
        (quoted_string(r, utf8)?, true)
    } else {
        (utf8_string(dot_string(r, utf8)?)?, false)
    };
    if r.pos - start > LOCAL_PART_MAX {
        return Err(AddrError::TooLong);
    }
    Ok((local, quoted))
}

/// RFC 5321 §4.1.2 `Dot-string = Atom *("." Atom)`, `Atom = 1*atext` (RFC 5322 §3.2.3,
/// plus UTF8-non-ascii per RFC 6531 §3.3).
fn dot_string<'a>(r: &mut Reader<'a>, utf8: bool) -> Result<&'a [u8], AddrError> {
    let start = r.pos;
    loop {
        let atom = r.take_while(|b| is_atext(b) || b >= 0x80);
        if atom.is_empty() {
            return Err(AddrError::Syntax);
        }
        ascii_unless(atom, utf8)?;
        if !r.eat(b'.') {
            return Ok(r.since(start));
        }
    }
}

/// RFC 5322 §3.2.3 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 5321 §4.1.2 `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`, returned unquoted.
/// `qtextSMTP = %d32-33 / %d35-91 / %d93-126`, `quoted-pairSMTP = %d92 %d32-126`.
fn quoted_string(r: &mut Reader, utf8: bool) -> Result<String, AddrError> {
    r.eat(b'"');
    let mut out = Vec::new();
    loop {
        match r.peek() {
            Some(b'"') => break,
            Some(b'\\') => {
                r.pos += 1;
                let b = r.peek().filter(|b| (32..=126).contains(b)).ok_or(AddrError::Syntax)?;
                out.push(b);
            }
            Some(b) if (32..=126).contains(&b) || b >= 0x80 => out.push(b),
            _ => return Err(AddrError::Syntax),
        }
        r.pos += 1;
        if out.len() > LOCAL_PART_MAX {
            return Err(AddrError::TooLong);
        }
    }
    r.eat(b'"');
    ascii_unless(&out, utf8)?;
    utf8_string(&out)
}

/// RFC 5321 §4.1.2 `Domain = sub-domain *("." sub-domain)`,
/// `sub-domain = Let-dig [Ldh-str]` (or a U-label, RFC 6531 §3.3), limited by §4.5.3.1.2.
fn domain(r: &mut Reader, utf8: bool) -> Result<String, AddrError> {
    let start = r.pos;
    loop {
        let label = r.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80);
        let edges_ok = label.first() != Some(&b'-') && label.last() != Some(&b'-');
        if label.is_empty() || label.len() > 63 || !edges_ok {
            return Err(AddrError::Syntax);
        }
        ascii_unless(label, utf8)?;
        if r.pos - start > DOMAIN_MAX {
            return Err(AddrError::TooLong);
        }
        if !r.eat(b'.') {
            return utf8_string(r.since(start));
        }
    }
}

/// RFC 5321 §4.1.3 `address-literal = "[" ( IPv4 / IPv6 / General-address-literal ) "]"`,
/// checked loosely as `dcontent` (%d33-90 / %d94-126): we never route to literals.
fn address_literal(r: &mut Reader) -> Result<String, AddrError> {
    let start = r.pos;
    r.eat(b'[');
    let body = r.take_while(|b| (33..=90).contains(&b) || (94..=126).contains(&b));
    if body.is_empty() || !r.eat(b']') {
        return Err(AddrError::Syntax);
    }
    if r.pos - start > DOMAIN_MAX {
        return Err(AddrError::TooLong);
    }
    utf8_string(r.since(start))
}

/// RFC 6531 §3.2: without SMTPUTF8 every address octet must be ASCII.
fn ascii_unless(bytes: &[u8], utf8: bool) -> Result<(), AddrError> {
    if utf8 || bytes.is_ascii() {
        Ok(())
    } else {
        Err(AddrError::NonAscii)
    }
}

fn utf8_string(bytes: &[u8]) -> Result<String, AddrError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| AddrError::Syntax)
}

/// Where a recipient goes, judged only on our own names (never routed onwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Ours: the user, an alias, `Postmaster`; `tag` is the `+tag` subaddress, if any.
    Local { tag: Option<String> },
    /// Our domain, unknown local part: 550 5.1.1.
    UnknownUser,
    /// Any other domain or an address literal: 550 5.7.1 relay denied (RFC 5321 §3.3).
    Relay,
}

/// Judges a recipient: domain and local part compare case-insensitively; a quoted local
/// part must be exactly a known name (no subaddress), so `"v@x"@us` is simply unknown.
pub fn destination(mailbox: &Mailbox, policy: &Arc<Policy>) -> Destination {
    let postmaster = mailbox.local.eq_ignore_ascii_case("postmaster");
    if mailbox.domain.is_empty() && postmaster {
        return Destination::Local { tag: None };
    }
    if !mailbox.domain.eq_ignore_ascii_case(&policy.domain) {
        return Destination::Relay;
    }
    if postmaster || is_known(&mailbox.local, policy) {
        return Destination::Local { tag: None };
    }
    match mailbox.local.split_once('+') {
        Some((base, tag)) if !mailbox.quoted && !tag.is_empty() && is_known(base, policy) => {
            Destination::Local { tag: Some(tag.to_string()) }
        }
        _ => Destination::UnknownUser,
    }
}

fn is_known(local: &str, policy: &Policy) -> bool {
    local.eq_ignore_ascii_case(&policy.user) || policy.aliases.iter().any(|a| local.eq_ignore_ascii_case(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(s: &[u8], utf8: bool) -> Result<Mailbox, AddrError> {
        forward_path(&mut Reader::new(s), utf8)
    }

    #[test]
    fn plain_and_quoted() {
        let m = fwd(b"<a.b@Example.ORG>", false).ok();
        assert_eq!(m.map(|m| (m.local, m.domain)), Some(("a.b".into(), "Example.ORG".into())));
        let q = fwd(b"<\"v@x\"@us>", false).ok();
        assert_eq!(q.map(|m| (m.local, m.quoted)), Some(("v@x".into(), true)));
    }

    #[test]
    fn source_route_is_ignored() {
        let m = fwd(b"<@us,@a.b:v@x>", false).ok();
        assert_eq!(m.map(|m| m.text), Some("v@x".into()));
    }

    #[test]
    fn syntax_errors() {
        for bad in [&b"a@b"[..], b"<a@b", b"<@a>", b"<a..b@c>", b"<a@-b>", b"<;sh;>", b"<a b@c>"] {
            assert!(fwd(bad, false).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn utf8_needs_smtputf8() {
        assert_eq!(fwd("<jürgen@x.de>".as_bytes(), false), Err(AddrError::NonAscii));
        assert!(fwd("<jürgen@x.de>".as_bytes(), true).is_ok());
        assert_eq!(fwd(b"<j\xff@x.de>", true), Err(AddrError::Syntax));
    }
}
