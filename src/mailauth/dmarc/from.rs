//! The RFC5322.From domain for DMARC (RFC 7489 §6.6.1): the one mailbox of a From field
//! value (RFC 5322 §3.6.2 `mailbox-list`, §3.4 display names and groups, §3.2.2 comments,
//! §3.2.4 quoted strings); none or several is an error the receiver acts on.

use super::{normalize, valid_domain};

/// The longest From field value parsed (RFC 5322 §2.1.1 lines are ≤ 998 octets; a few
/// folded lines of display name fit).
pub const FROM_MAX: usize = 4096;

/// Why no single From domain could be taken from a header value (§6.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromError {
    /// No mailbox (an empty value or an empty group): §6.6.1, ignore or reject.
    Empty,
    /// Several mailboxes: §6.6.1 leaves it to the receiver; we do not pick one.
    Multiple,
    /// Unbalanced quotes, comments or brackets; no `@`; a domain literal or a domain that
    /// is no DNS name.
    Syntax,
    /// Over [`FROM_MAX`].
    TooLong,
}

/// RFC 7489 §6.6.1: the domain of the one mailbox in a From field value (RFC 5322 §3.6.2
/// `mailbox-list`, with display names, comments and groups), lower case without a final
/// dot. A message with several From fields is the caller's to refuse (§6.6.1).
pub fn from_domain(header_value: &[u8]) -> Result<String, FromError> {
    if header_value.len() > FROM_MAX {
        return Err(FromError::TooLong);
    }
    let boxes = mailboxes(header_value)?;
    match boxes.as_slice() {
        [] => Err(FromError::Empty),
        [one] => mailbox_domain(one),
        _ => Err(FromError::Multiple),
    }
}

/// RFC 5322 §3.4: splits a `mailbox-list`/`address-list` at top-level `,` (and group
/// `:`/`;`), with comments (§3.2.2, nested) removed and quoted strings kept.
fn mailboxes(v: &[u8]) -> Result<Vec<Vec<u8>>, FromError> {
    let (mut out, mut cur) = (Vec::new(), Vec::new());
    let (mut quoted, mut depth, mut angle, mut escaped) = (false, 0usize, false, false);
    for &b in v {
        if escaped {
            escaped = false;
            if depth == 0 {
                cur.push(b);
            }
            continue;
        }
        match b {
            b'\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    cur.push(b);
                }
            }
            b'"' if depth == 0 => {
                quoted = !quoted;
                cur.push(b);
            }
            _ if quoted => cur.push(b),
            b'(' => depth += 1,
            b')' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    cur.push(b' ');
                }
            }
            _ if depth > 0 => {}
            b'<' if !angle => {
                angle = true;
                cur.push(b);
            }
            b'>' if angle => {
                angle = false;
                cur.push(b);
            }
            b',' | b';' if !angle => out.push(std::mem::take(&mut cur)),
            b':' if !angle => cur.clear(), // a group's display name
            _ => cur.push(b),
        }
    }
    if quoted || depth > 0 || angle || escaped {
        return Err(FromError::Syntax);
    }
    out.push(cur);
    out.retain(|m| m.iter().any(|b| !b.is_ascii_whitespace()));
    Ok(out)
}

/// `name-addr` (its `angle-addr`) or `addr-spec`: the part after the last `@` outside
/// quotes, folding whitespace removed.
fn mailbox_domain(m: &[u8]) -> Result<String, FromError> {
    let spec = match (outside_quotes(m, b'<'), outside_quotes(m, b'>')) {
        (Some(a), Some(z)) if a < z => m.get(a + 1..z).unwrap_or(&[]),
        (None, None) => m,
        _ => return Err(FromError::Syntax),
    };
    let at = outside_quotes_last(spec, b'@').ok_or(FromError::Syntax)?;
    let domain: Vec<u8> =
        spec.get(at + 1..).unwrap_or(&[]).iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let d = normalize(std::str::from_utf8(&domain).map_err(|_| FromError::Syntax)?);
    if d.is_empty() || !valid_domain(&d) {
        return Err(FromError::Syntax);
    }
    Ok(d)
}

fn outside_quotes(m: &[u8], want: u8) -> Option<usize> {
    unquoted(m).find(|&(_, b)| b == want).map(|(i, _)| i)
}

fn outside_quotes_last(m: &[u8], want: u8) -> Option<usize> {
    unquoted(m).filter(|&(_, b)| b == want).last().map(|(i, _)| i)
}

/// The bytes of `m` outside quoted strings, with their positions.
fn unquoted(m: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut quoted, mut escaped) = (false, false);
    m.iter().enumerate().filter_map(move |(i, &b)| {
        let inside = quoted;
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ => {}
        }
        (!inside && b != b'"').then_some((i, b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_field_values() {
        let ok = |v: &str| from_domain(v.as_bytes());
        assert_eq!(ok("user@Example.COM."), Ok("example.com".into()));
        assert_eq!(ok("\"bank.example, Inc\" <x@evil.example>"), Ok("evil.example".into()));
        assert_eq!(ok("\"a@b\"@quoted.example (comment, with <stuff>)"), Ok("quoted.example".into()));
        assert_eq!(ok("Name (c (nested)) <a@ (c) sub.example.org>"), Ok("sub.example.org".into()));
        assert_eq!(ok("Friends: a@one.example;"), Ok("one.example".into()));
        assert_eq!(ok("<@route.example:a@real.example>"), Ok("real.example".into()));
        assert_eq!(ok("a@one.example, b@two.example"), Err(FromError::Multiple));
        assert_eq!(ok("a@one.example, a@one.example"), Err(FromError::Multiple));
        assert_eq!(ok("g: a@one.example, b@two.example;"), Err(FromError::Multiple));
        assert_eq!(ok(""), Err(FromError::Empty));
        assert_eq!(ok("undisclosed-recipients:;"), Err(FromError::Empty));
        assert_eq!(ok("no-at-sign"), Err(FromError::Syntax));
        assert_eq!(ok("a@[192.0.2.1]"), Err(FromError::Syntax));
        assert_eq!(ok("\"unterminated <a@b.example>"), Err(FromError::Syntax));
        assert_eq!(ok("(open comment a@b.example"), Err(FromError::Syntax));
        assert_eq!(ok("a@b..example"), Err(FromError::Syntax));
        assert_eq!(from_domain("x".repeat(FROM_MAX + 1).as_bytes()), Err(FromError::TooLong));
        assert_eq!(from_domain(b"\xff\xfe <a@b.example>"), Ok("b.example".into()));
    }
}
