//! IMAP value newtypes that cannot hold invalid values (house style 5): [`Tag`] (RFC 3501
//! §9 `tag`), [`SequenceSet`] (§9 `sequence-set`, kept as ranges, never expanded; RFC 9738
//! advice), and [`Mailbox`] (§5.1 names, §5.1.3 modified UTF-7).

use std::fmt;

/// Largest number of ranges one sequence set may hold (a 64 KiB line holds at most ~32k).
pub const SEQ_RANGES_MAX: usize = 32 * 1024;
/// Longest mailbox name in octets (UTF-8).
pub const MAILBOX_MAX: usize = 255;
/// The hierarchy delimiter (RFC 3501 §6.3.8).
pub const DELIMITER: char = '/';

/// RFC 3501 §9 `tag = 1*<any ASTRING-CHAR except "+">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// Validates `tag` (RFC 3501 §9); `None` when empty or with a forbidden octet.
    pub fn new(tag: &[u8]) -> Option<Tag> {
        let ok = !tag.is_empty() && tag.len() <= 64 && tag.iter().all(|&c| is_astring_char(c) && c != b'+');
        ok.then(|| Tag(String::from_utf8_lossy(tag).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 3501 §9 `ATOM-CHAR`: any CHAR except atom-specials.
pub fn is_atom_char(c: u8) -> bool {
    (0x21..0x7f).contains(&c) && !b"(){ %*\"\\]".contains(&c)
}

/// RFC 3501 §9 `ASTRING-CHAR = ATOM-CHAR / resp-specials`.
pub fn is_astring_char(c: u8) -> bool {
    is_atom_char(c) || c == b']'
}

/// One end of a range: a number or `*` (the largest number in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    Value(u32),
    Star,
}

impl SeqNum {
    fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v,
            SeqNum::Star => max,
        }
    }
}

/// RFC 3501 §9 `sequence-set`: ranges as written, never expanded. `0` cannot occur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// Builds a set; refuses empty sets, `0` and more than [`SEQ_RANGES_MAX`] ranges.
    pub fn new(ranges: Vec<(SeqNum, SeqNum)>) -> Option<SequenceSet> {
        let zero = ranges.iter().any(|&(a, b)| a == SeqNum::Value(0) || b == SeqNum::Value(0));
        (!ranges.is_empty() && !zero && ranges.len() <= SEQ_RANGES_MAX).then_some(SequenceSet(ranges))
    }

    /// RFC 5182 §2.1 `$` as written, before the session replaces it with the saved result;
    /// it holds no range, so if it were ever evaluated it would match nothing (the empty
    /// result that `$` stands for before any SAVE).
    pub fn saved() -> SequenceSet {
        SequenceSet(Vec::new())
    }

    /// Is this `$` (or an empty saved result)?
    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// A set of known normalized ranges (a saved search result, RFC 5182); may be empty.
    pub fn from_ranges(ranges: &[(u32, u32)]) -> SequenceSet {
        SequenceSet(ranges.iter().map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b))).collect())
    }

    /// Sorted, merged inclusive ranges once `*` is `max` (§9: `a:b` equals `b:a`). Ranges
    /// beyond `max` are clipped away when `clip` (sequence numbers; not UIDs).
    pub fn normalize(&self, max: u32, clip: bool) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .0
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (a.resolve(max), b.resolve(max));
                (a.min(b), a.max(b))
            })
            .filter(|&(a, _)| !clip || a <= max)
            .map(|(a, b)| if clip { (a, b.min(max)) } else { (a, b) })
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// Membership in normalized ranges (binary search).
    pub fn contains(ranges: &[(u32, u32)], n: u32) -> bool {
        let i = ranges.partition_point(|&(_, b)| b < n);
        ranges.get(i).is_some_and(|&(a, _)| a <= n)
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            let s = |n: SeqNum| match n {
                SeqNum::Value(v) => v.to_string(),
                SeqNum::Star => "*".into(),
            };
            let sep = if i == 0 { "" } else { "," };
            match a == b {
                true => write!(f, "{sep}{}", s(a))?,
                false => write!(f, "{sep}{}:{}", s(a), s(b))?,
            }
        }
        Ok(())
    }
}

/// Writes normalized ranges as an IMAP set (`1:3,7`), for UIDPLUS responses.
pub fn format_ranges(ranges: &[(u32, u32)]) -> String {
    let mut s = String::new();
    for &(a, b) in ranges {
        if !s.is_empty() {
            s.push(',');
        }
        match a == b {
            true => s.push_str(&a.to_string()),
            false => s.push_str(&format!("{a}:{b}")),
        }
    }
    s
}

/// Why a mailbox name was refused (always a tagged NO, RFC 3501 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxError {
    /// Not valid modified UTF-7 (RFC 3501 §5.1.3).
    Encoding,
    /// Empty, too long, control characters, `.`/`..` components, leading or doubled `/`.
    Name,
}

/// A validated mailbox name, held decoded (UTF-8). `INBOX` is case-insensitive (§5.1).
/// Names are store keys, never paths (BAD-INPUTS 33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox(String);

impl Mailbox {
    /// From the wire form (modified UTF-7).
    pub fn from_wire(raw: &[u8]) -> Result<Mailbox, MailboxError> {
        Mailbox::from_utf8(decode_mutf7(raw)?)
    }

    /// From a decoded name, as the store lists it.
    pub fn from_utf8(name: String) -> Result<Mailbox, MailboxError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(Mailbox("INBOX".into()));
        }
        let bad_char = name.chars().any(|c| c.is_control() || c == '\u{fffd}');
        let bad_part = name.split(DELIMITER).any(|p| p.is_empty() || p == "." || p == "..");
        if name.is_empty() || name.len() > MAILBOX_MAX || bad_char || bad_part {
            return Err(MailboxError::Name);
        }
        Ok(Mailbox(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The wire form (modified UTF-7).
    pub fn to_wire(&self) -> String {
        encode_mutf7(&self.0)
    }
}

/// RFC 3501 §5.1.3: printable US-ASCII except `&` stand for themselves; `&-` is `&`; other
/// characters are `&` + modified BASE64 of UTF-16BE + `-`. Encodings must be minimal.
pub fn decode_mutf7(raw: &[u8]) -> Result<String, MailboxError> {
    let mut out = String::new();
    let mut i = 0;
    // Just after a BASE64 run: another run here would be a null shift "-&" (not permitted,
    // and it would give one name two wire forms; found by the imap_mutf7 fuzz target).
    let mut after_run = false;
    while let Some(&c) = raw.get(i) {
        i += 1;
        match c {
            b'&' => {
                let end = raw.get(i..).and_then(|r| r.iter().position(|&b| b == b'-'));
                let end = end.ok_or(MailboxError::Encoding)? + i;
                let chunk = raw.get(i..end).ok_or(MailboxError::Encoding)?;
                match chunk.is_empty() {
                    true => out.push('&'),
                    false if after_run => return Err(MailboxError::Encoding),
                    false => out.push_str(&decode_b64_utf16(chunk)?),
                }
                after_run = !chunk.is_empty();
                i = end + 1;
                continue;
            }
            0x20..=0x7e => out.push(c as char),
            _ => return Err(MailboxError::Encoding),
        }
        after_run = false;
    }
    Ok(out)
}

fn b64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// The base64 run between `&` and `-`: UTF-16BE with no zero-bit padding left over, and
/// not encoding printable ASCII (which must stand for itself).
fn decode_b64_utf16(chunk: &[u8]) -> Result<String, MailboxError> {
    let (mut bits, mut nbits, mut units) = (0u32, 0u32, Vec::new());
    for &c in chunk {
        bits = (bits << 6) | b64_value(c).ok_or(MailboxError::Encoding)?;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    if nbits >= 6 || bits != 0 || units.is_empty() {
        return Err(MailboxError::Encoding);
    }
    let s = String::from_utf16(&units).map_err(|_| MailboxError::Encoding)?;
    if s.chars().any(|c| (' '..='~').contains(&c)) {
        return Err(MailboxError::Encoding);
    }
    Ok(s)
}

/// Encodes a UTF-8 name to modified UTF-7 (RFC 3501 §5.1.3).
pub fn encode_mutf7(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush_b64(&mut out, &mut pending);
            match c {
                '&' => out.push_str("&-"),
                _ => out.push(c),
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_b64(&mut out, &mut pending);
    out
}

fn flush_b64(out: &mut String, units: &mut Vec<u16>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    if units.is_empty() {
        return;
    }
    out.push('&');
    let (mut bits, mut nbits) = (0u32, 0u32);
    for u in units.drain(..) {
        bits = (bits << 16) | u32::from(u);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.extend(ALPHABET.get(((bits >> nbits) & 63) as usize).map(|&c| char::from(c)));
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.extend(ALPHABET.get(((bits << (6 - nbits)) & 63) as usize).map(|&c| char::from(c)));
    }
    out.push('-');
}
