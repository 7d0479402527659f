//! DKIM signing, RFC 6376 §5 with `c=relaxed/relaxed`, `a=rsa-sha256` (§3.3.1) and
//! `a=ed25519-sha256` (RFC 8463 §3). Sans-IO: a [`Signer`] is fed the message as sent (CRLF
//! line ends, no dot-stuffing) in chunks of any size, and [`Signer::finish`] returns the
//! `DKIM-Signature:` fields to prepend, RSA first (the one every verifier checks).
//!
//! - Header: only the fields in [`SIGNED_HEADERS`] are kept while the header block streams
//!   past, at most [`SIGNED_HEADER_BYTES_MAX`] octets and [`SIGNED_FIELDS_MAX`] fields; a
//!   message over either is not signed ([`SignError::HeaderTooLarge`]). Every instance of a
//!   listed field is signed (bottom-up, §5.4.2), and From is listed once more than it occurs
//!   (over-signing, §8.15): a verifier then hashes an empty string for the extra entry, so a
//!   From added later breaks the signature.
//! - Body: canonicalized and hashed with SHA-256 as it streams ([`canon::BodyCanon`]);
//!   nothing of it is kept. No `l=` is written (§8.2).
//! - `b=` signs the canonical signed fields followed by this DKIM-Signature field with an
//!   empty `b=` and no final CRLF (§3.7). The field is folded at [`LINE_WIDTH`] columns
//!   (between tags, at `:` in `h=`, anywhere in base64: §3.5 allows FWS there).

use ring::digest;

use super::canon::{self, BodyCanon, Canon};
use super::keys::Key;
use crate::auth::base64;

/// The fields signed (issue 14), in `h=` order; From first (`h_list` relies on it).
pub const SIGNED_HEADERS: [&str; 10] =
    ["from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "mime-version", "content-type"];
/// Octets of signed fields kept: 64 KiB holds a References field of ~800 message IDs.
pub const SIGNED_HEADER_BYTES_MAX: usize = 64 * 1024;
/// Instances of signed fields: 100 keeps `h=` (and so the DKIM-Signature field) under 2 KB.
pub const SIGNED_FIELDS_MAX: usize = 100;
/// Folding width of the DKIM-Signature field (RFC 5322 §2.1.1 "SHOULD be no more than 78").
pub const LINE_WIDTH: usize = 78;
/// A field name longer than this is no signed field; the longest is 12 octets.
const NAME_MAX: usize = 64;

/// Why a message was not signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// RFC 6376 §5.4: From MUST be signed, and the message has none.
    NoFrom,
    /// More signed-field octets or instances than the limits above.
    HeaderTooLarge,
    /// The key refused to sign (ring reported an error).
    Crypto,
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignError::NoFrom => "the message has no From field",
            SignError::HeaderTooLarge => "the signed header fields are too large",
            SignError::Crypto => "the signing key failed",
        })
    }
}

impl std::error::Error for SignError {}

/// Where the header parser is (RFC 5322 §2.2: fields end at a CRLF not followed by WSP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// At the start of a header line.
    LineStart,
    /// A CR at the start of a line: an LF makes it the empty line that ends the header.
    LineStartCr,
    /// In a field name, before the colon.
    Name,
    /// In a field value (after the colon), or in a line kept for no field.
    Value,
    /// A CR in a value: an LF ends the line.
    ValueCr,
    /// Past the header.
    Body,
}

/// The header block as far as signing needs it: the signed fields, raw, in message order.
#[derive(Debug, Clone)]
struct Fields {
    phase: Phase,
    /// The field being read, while it may be signed.
    cur: Vec<u8>,
    /// Whether `cur` is a signed field (known at its colon).
    keep: bool,
    /// Signed fields: index into [`SIGNED_HEADERS`] and raw text without the final CRLF.
    kept: Vec<(usize, Vec<u8>)>,
    held: usize,
    overflow: bool,
}

impl Fields {
    fn new() -> Fields {
        Fields { phase: Phase::LineStart, cur: Vec::new(), keep: false, kept: Vec::new(), held: 0, overflow: false }
    }

    /// Feeds header octets; returns how many were header (the rest is body).
    fn feed(&mut self, data: &[u8]) -> usize {
        for (i, &b) in data.iter().enumerate() {
            self.octet(b);
            if self.phase == Phase::Body {
                return i + 1;
            }
        }
        data.len()
    }

    fn octet(&mut self, b: u8) {
        match self.phase {
            Phase::LineStart => self.line_start(b),
            Phase::LineStartCr if b == b'\n' => {
                self.commit();
                self.phase = Phase::Body;
            }
            Phase::LineStartCr => {
                // A line starting with a bare CR is no field (RFC 5322 §2.2): skip it.
                self.commit();
                self.phase = Phase::Value;
                self.octet(b);
            }
            Phase::Name => self.name(b),
            Phase::Value if b == b'\r' => self.phase = Phase::ValueCr,
            Phase::Value => self.push(&[b]),
            Phase::ValueCr if b == b'\n' => self.phase = Phase::LineStart,
            Phase::ValueCr => {
                self.push(b"\r");
                self.phase = Phase::Value;
                self.octet(b);
            }
            Phase::Body => {}
        }
    }

    fn line_start(&mut self, b: u8) {
        match b {
            // Folding (RFC 5322 §2.2.3): the line continues the field, CRLF included.
            b' ' | b'\t' => {
                self.push(b"\r\n");
                self.push(&[b]);
                self.phase = Phase::Value;
            }
            b'\r' => self.phase = Phase::LineStartCr,
            _ => {
                self.commit();
                (self.keep, self.phase) = (true, Phase::Name);
                self.cur.push(b);
            }
        }
    }

    fn name(&mut self, b: u8) {
        if b == b':' {
            let name = trim_end(&self.cur);
            self.keep = SIGNED_HEADERS.iter().any(|h| h.as_bytes().eq_ignore_ascii_case(name));
            if !self.keep {
                self.cur.clear();
            }
            self.push(b":");
            self.phase = Phase::Value;
        } else if b == b'\r' || self.cur.len() >= NAME_MAX {
            // No colon on the line, or a name no signed field has: not kept.
            (self.keep, self.phase) = (false, Phase::Value);
            self.cur.clear();
            self.octet(b);
        } else {
            self.cur.push(b);
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.keep && !self.overflow {
            self.cur.extend_from_slice(bytes);
            if self.held + self.cur.len() > SIGNED_HEADER_BYTES_MAX {
                self.overflow = true;
                self.cur = Vec::new();
            }
        }
    }

    /// Ends the current field: a signed one is kept.
    fn commit(&mut self) {
        let field = std::mem::take(&mut self.cur);
        if !std::mem::take(&mut self.keep) || self.overflow {
            return;
        }
        let name = field.split(|&b| b == b':').next().map(trim_end).unwrap_or_default();
        if let Some(i) = SIGNED_HEADERS.iter().position(|h| h.as_bytes().eq_ignore_ascii_case(name)) {
            self.held += field.len();
            self.kept.push((i, field));
            self.overflow |= self.kept.len() > SIGNED_FIELDS_MAX;
        }
    }

    fn buffered(&self) -> usize {
        self.held + self.cur.capacity()
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| b == b' ' || b == b'\t').count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// Signs one message with every key given (RFC 6376 §5).
pub struct Signer<'k> {
    keys: &'k [Key],
    domain: String,
    now: u64,
    fields: Fields,
    body: BodyCanon,
    hash: digest::Context,
}

impl<'k> Signer<'k> {
    /// A signer for `d=domain` with `t=now` (seconds since the epoch: time is an input).
    pub fn new(keys: &'k [Key], domain: &str, now: u64) -> Signer<'k> {
        Signer {
            keys,
            domain: domain.to_ascii_lowercase(),
            now,
            fields: Fields::new(),
            body: BodyCanon::new(Canon::Relaxed),
            hash: digest::Context::new(&digest::SHA256),
        }
    }

    /// Feeds the next piece of the message.
    pub fn update(&mut self, data: &[u8]) {
        let body = match self.fields.phase {
            Phase::Body => data,
            _ => data.get(self.fields.feed(data)..).unwrap_or_default(),
        };
        if !body.is_empty() {
            let hash = &mut self.hash;
            self.body.feed(body, &mut |b| hash.update(b));
        }
    }

    /// Octets held for the header (bounded by [`SIGNED_HEADER_BYTES_MAX`] plus one name).
    pub fn buffered(&self) -> usize {
        self.fields.buffered()
    }

    /// The DKIM-Signature fields to prepend, each ending in CRLF, RSA first; empty
    /// without keys.
    pub fn finish(mut self) -> Result<Vec<String>, SignError> {
        self.fields.commit();
        let hash = &mut self.hash;
        self.body.finish(&mut |b| hash.update(b));
        let bh = base64::encode(self.hash.finish().as_ref(), true);
        if self.fields.overflow {
            return Err(SignError::HeaderTooLarge);
        }
        let h = h_list(&self.fields.kept)?;
        let input = signed_fields(&self.fields.kept, &h);
        let tags = |key: &Key| {
            format!(
                "v=1; a={}; c=relaxed/relaxed; d={}; s={}; t={};",
                key.algorithm(),
                self.domain,
                key.selector,
                self.now
            )
        };
        self.keys.iter().map(|key| sign_field(key, &input, &tags(key), &h, &bh)).collect()
    }

    /// The body hash so far is not exposed; tests use this to read `bh=` of a message.
    #[cfg(test)]
    fn body_hash(mut self) -> String {
        let hash = &mut self.hash;
        self.body.finish(&mut |b| hash.update(b));
        base64::encode(self.hash.finish().as_ref(), true)
    }
}

/// `h=`: each signed field name as often as it occurs, From once more (module docs).
fn h_list(kept: &[(usize, Vec<u8>)]) -> Result<Vec<&'static str>, SignError> {
    let mut h = Vec::new();
    // Index 0 is From: it must be present (§5.4) and gets the extra entry.
    for (i, name) in SIGNED_HEADERS.iter().enumerate() {
        let n = kept.iter().filter(|(k, _)| *k == i).count();
        if i == 0 && n == 0 {
            return Err(SignError::NoFrom);
        }
        h.extend(std::iter::repeat_n(*name, n + usize::from(i == 0)));
    }
    Ok(h)
}

/// The canonical fields named by `h`, each name taking its instances from the bottom up;
/// a name listed more often than it occurs adds nothing (RFC 6376 §5.4.2).
fn signed_fields(kept: &[(usize, Vec<u8>)], h: &[&str]) -> Vec<u8> {
    let mut used = vec![false; kept.len()];
    let mut out = Vec::new();
    for name in h {
        let pick = kept.iter().enumerate().rev().find(|(j, (i, _))| {
            !used.get(*j).copied().unwrap_or(true) && SIGNED_HEADERS.get(*i).is_some_and(|s| s == name)
        });
        if let Some((j, (_, field))) = pick {
            if let Some(u) = used.get_mut(j) {
                *u = true;
            }
            canon::header(Canon::Relaxed, field, &mut out);
        }
    }
    out
}

/// One complete DKIM-Signature field for `key`.
fn sign_field(key: &Key, input: &[u8], tags: &str, h: &[&str], bh: &str) -> Result<String, SignError> {
    let mut f = Folder::new("DKIM-Signature:");
    for tag in tags.split(' ') {
        f.word(" ", tag);
    }
    let last = h.len().saturating_sub(1);
    for (i, name) in h.iter().enumerate() {
        let word = format!("{}{name}{}", if i == 0 { "h=" } else { "" }, if i == last { ";" } else { ":" });
        f.word(if i == 0 { " " } else { "" }, &word);
    }
    f.word(" ", &format!("bh={bh};"));
    f.word(" ", "b=");
    let b = base64::encode(&signature(key, input, &f.text)?, true);
    f.base64(&b);
    f.text.push_str("\r\n");
    Ok(f.text)
}

/// `b=` over the signed fields and `unsigned_field` (ending in `b=`), RFC 6376 §3.7.
fn signature(key: &Key, input: &[u8], unsigned_field: &str) -> Result<Vec<u8>, SignError> {
    let mut data = input.to_vec();
    canon::header(Canon::Relaxed, unsigned_field.as_bytes(), &mut data);
    // §3.7: the DKIM-Signature field is hashed without its final CRLF.
    data.truncate(data.len() - 2);
    key.sign(&data).ok_or(SignError::Crypto)
}

/// Builds a folded header field (RFC 5322 §2.2.3: a fold is CRLF before WSP).
struct Folder {
    text: String,
    col: usize,
}

impl Folder {
    fn new(start: &str) -> Folder {
        Folder { text: start.to_owned(), col: start.len() }
    }

    /// Appends `sep` and `word`, or a fold and `word` when the line would pass the width.
    fn word(&mut self, sep: &str, word: &str) {
        if self.col + sep.len() + word.len() > LINE_WIDTH && self.col > 1 {
            self.text.push_str("\r\n ");
            self.col = 1;
        } else {
            self.text.push_str(sep);
            self.col += sep.len();
        }
        self.text.push_str(word);
        self.col += word.len();
    }

    /// Appends base64 text, filling each line and folding between pieces.
    fn base64(&mut self, b64: &str) {
        let mut rest = b64.as_bytes();
        while !rest.is_empty() {
            if self.col >= LINE_WIDTH {
                self.text.push_str("\r\n ");
                self.col = 1;
            }
            let (piece, tail) = rest.split_at((LINE_WIDTH - self.col).min(rest.len()));
            self.text.extend(piece.iter().map(|&b| char::from(b)));
            self.col += piece.len();
            rest = tail;
        }
    }
}

#[cfg(test)]
mod tests;
