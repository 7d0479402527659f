//! DKIM verification, RFC 6376 §6 (with RFC 8463 ed25519-sha256 and RFC 8301's rules for
//! rsa-sha1 and key sizes). Sans-IO and streaming: a [`Verifier`] is fed the message as
//! received (CRLF lines, after SMTP dot-unstuffing) in chunks of any size, and
//! [`Verifier::finish`] returns a [`Checked`] with the body hashes final; [`verify`] then
//! fetches each key (`s._domainkey.d` TXT, §3.6.2) through a [`Resolver`] and gives one
//! [`Signature`] per DKIM-Signature field, as RFC 8601 §2.7.1 reports them.
//!
//! - Header: buffered up to [`HEADER_MAX`] (the signed fields are known only once every
//!   DKIM-Signature is read). At the empty line the fields are split (RFC 5322 §2.2), the
//!   first [`SIGNATURES_MAX`] DKIM-Signature fields parsed (`tags`), the rest reported
//!   `neutral` ("not checked", §6.1 lets verifiers limit the count).
//! - Body: streamed through one canonicalizer and hash per distinct (`c=` body, hash, `l=`)
//!   — two signatures that agree share one — and never kept (§6.1.3).
//! - Header hash (§3.7, §5.4.2): each `h=` name takes the next unused instance from the
//!   bottom; a name listed more often than present adds nothing (over-signing). As dkimpy
//!   does, From is always looked up once more than `h=` lists it, so a second From added
//!   to a message with one signed From breaks the signature.
//!
//! Verdicts (RFC 8601 §2.7.1): syntax, missing tags, a key record that is absent, revoked
//! or unusable give `permerror`; a DNS failure `temperror`; a body or header hash that
//! does not match, an expired `x=`, `l=` past the body: `fail`; rsa-sha1 (RFC 8301 §3.1
//! "MUST NOT consider … valid"), RSA keys under 1024 bits (§3.2) and a `t=` in the
//! future: `policy`, with the reason. dkimpy verifies rsa-sha1 as valid; tests/dkim_verify.rs
//! counts a `policy` for rsa-sha1 as agreeing with its pass (an rsa-sha1 signature that
//! does not verify is `fail`). Clock skew allowed on `t=` and `x=`: [`CLOCK_SKEW`],
//! dkimpy's value. A key with `t=y` (testing) still passes, with that as the reason. A
//! header over [`HEADER_MAX`] or [`FIELDS_MAX`] gives one `permerror` (nothing could be
//! checked, whether or not it carried signatures).

mod crypto;
pub mod tags;
#[cfg(test)]
mod tests;

use ring::digest;

use crate::dns::{DnsError, Rdata, Resolver, Rtype};
use crate::mailauth::canon::{self, BodyCanon, Canon};
use crypto::Outcome;
use tags::{Algorithm, Partial, SigTags};

/// The header section kept: the whole header is needed until every DKIM-Signature is read;
/// 64 KiB is many times a real header (and the signer's limit, dkim_sign).
pub const HEADER_MAX: usize = 64 * 1024;
/// Header fields indexed: 1,024 is ten times a long real header; more is header stuffing.
pub const FIELDS_MAX: usize = 1024;
/// DKIM-Signature fields verified per message: each costs a hash of the body and a DNS
/// lookup; mail rarely carries more than three.
pub const SIGNATURES_MAX: usize = 8;
/// Seconds of clock difference forgiven on `t=` and `x=` (dkimpy: 10 hours).
pub const CLOCK_SKEW: u64 = 36_000;
/// A key record longer than this is refused: an 8192-bit RSA key record is ~1.5 KB.
pub const KEY_RECORD_MAX: usize = 4096;
/// RFC 6008 §4 / RFC 8601 `header.b`: at least this many characters of `b=`.
pub const HEADER_B_MIN: usize = 8;

/// RFC 8601 §2.7.1 DKIM results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimResult {
    Pass,
    Fail,
    /// Not checked (over [`SIGNATURES_MAX`]).
    Neutral,
    Policy,
    TempError,
    PermError,
}

impl DkimResult {
    /// The RFC 8601 result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimResult::Pass => "pass",
            DkimResult::Fail => "fail",
            DkimResult::Neutral => "neutral",
            DkimResult::Policy => "policy",
            DkimResult::TempError => "temperror",
            DkimResult::PermError => "permerror",
        }
    }
}

/// The verdict on one DKIM-Signature field, with what RFC 8601 reports of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub result: DkimResult,
    /// `d=`, lowercase (`header.d`); empty when the field had none.
    pub domain: String,
    /// `s=` (`header.s`).
    pub selector: String,
    /// The shortest prefix of `b=` of at least [`HEADER_B_MIN`] characters that no other
    /// signature of the message shares (`header.b`, RFC 6008 §4).
    pub header_b: String,
    /// `a=` as written.
    pub algorithm: String,
    /// Why the result is not `pass` (or a note on a pass, such as testing mode).
    pub reason: Option<String>,
    /// `i=` (`header.i`), if the signature had one.
    pub auid: Option<String>,
}

/// One header field: offsets into the header buffer (`end` excludes the CRLF).
#[derive(Debug, Clone, Copy)]
struct Field {
    start: usize,
    colon: usize,
    end: usize,
}

#[derive(Debug, Clone)]
enum Parsed {
    Ok { tags: Box<SigTags>, body: usize },
    Bad(Partial, &'static str),
    NotChecked(Partial),
}

#[derive(Debug, Clone)]
struct Entry {
    field: usize,
    parsed: Parsed,
}

/// The body canonicalizer and hash that one or more signatures share.
struct BodyHash {
    key: (Canon, Algorithm, Option<u64>),
    canon: BodyCanon,
    hash: digest::Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Body,
    /// The header passed [`HEADER_MAX`] or [`FIELDS_MAX`]: nothing is checked.
    TooLarge,
}

/// The streaming half (module docs).
pub struct Verifier {
    state: State,
    header: Vec<u8>,
    fields: Vec<Field>,
    entries: Vec<Entry>,
    bodies: Vec<BodyHash>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            state: State::Header,
            header: Vec::new(),
            fields: Vec::new(),
            entries: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// Feeds the next piece of the message.
    pub fn push(&mut self, data: &[u8]) {
        match self.state {
            State::Header => self.push_header(data),
            State::Body => self.push_body(data),
            State::TooLarge => {}
        }
    }

    /// Octets held (the header buffer): at most [`HEADER_MAX`].
    pub fn buffered(&self) -> usize {
        self.header.len()
    }

    fn push_header(&mut self, data: &[u8]) {
        let before = self.header.len();
        let take = data.len().min(HEADER_MAX - before);
        let (head, rest) = data.split_at(take);
        self.header.extend_from_slice(head);
        match header_end(&self.header, before.saturating_sub(3)) {
            Some((end, body_start)) => {
                let tail = self.header.split_off(body_start);
                self.header.truncate(end);
                self.header_done();
                self.push(&tail);
                self.push(rest);
            }
            None if self.header.len() >= HEADER_MAX => self.too_large(),
            None => {}
        }
    }

    fn too_large(&mut self) {
        self.state = State::TooLarge;
        (self.header, self.fields, self.entries, self.bodies) = Default::default();
    }

    /// The header is complete: index fields, parse signatures, set up the body hashes.
    fn header_done(&mut self) {
        let Some(fields) = split_fields(&self.header) else { return self.too_large() };
        self.fields = fields;
        self.state = State::Body;
        for (i, f) in self.fields.iter().enumerate() {
            let name = self.header.get(f.start..f.colon).map(trim_wsp).unwrap_or_default();
            if !name.eq_ignore_ascii_case(b"dkim-signature") {
                continue;
            }
            let value = self.header.get(f.colon + 1..f.end).unwrap_or_default();
            let parsed = parse_signature(value, self.entries.len(), &mut self.bodies);
            self.entries.push(Entry { field: i, parsed });
        }
    }

    fn push_body(&mut self, data: &[u8]) {
        for b in &mut self.bodies {
            let hash = &mut b.hash;
            b.canon.feed(data, &mut |c| hash.update(c));
        }
    }

    /// Ends the message: the body hashes are final.
    pub fn finish(mut self) -> Checked {
        if self.state == State::Header {
            // A message that is all header (no empty line): RFC 5322 §3.5 allows no body.
            if self.header.len() >= 2 && !self.header.ends_with(b"\r\n") {
                self.header.extend_from_slice(b"\r\n");
            }
            self.header_done();
        }
        let bodies = self.bodies.into_iter().map(finish_body).collect();
        let too_large = self.state == State::TooLarge;
        Checked { header: self.header, fields: self.fields, entries: self.entries, bodies, too_large }
    }
}

/// Canonical body hash and canonical length before the `l=` cut.
fn finish_body(b: BodyHash) -> (Vec<u8>, u64) {
    let mut hash = b.hash;
    let total = b.canon.finish(&mut |c| hash.update(c));
    (hash.finish().as_ref().to_vec(), total)
}

/// Where the header ends: (end of the last field's CRLF, start of the body). An empty
/// header is a message starting with CRLF.
fn header_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    if buf.starts_with(b"\r\n") {
        return Some((0, 2));
    }
    let at = from + memchr::memmem::find(buf.get(from..)?, b"\r\n\r\n")?;
    Some((at + 2, at + 4))
}

fn trim_wsp(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| b == b' ' || b == b'\t').count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// RFC 5322 §2.2: a field is a line with a colon and the WSP-led lines after it. Lines
/// without a colon are not fields (skipped). None over [`FIELDS_MAX`].
fn split_fields(header: &[u8]) -> Option<Vec<Field>> {
    let mut fields: Vec<Field> = Vec::new();
    let mut at = 0;
    let mut in_field = false;
    while at < header.len() {
        let line_end = memchr::memmem::find(header.get(at..)?, b"\r\n").map_or(header.len(), |i| at + i);
        let line = header.get(at..line_end)?;
        match line.first() {
            Some(b' ' | b'\t') if in_field => {
                if let Some(f) = fields.last_mut() {
                    f.end = line_end;
                }
            }
            _ => match memchr::memchr(b':', line) {
                Some(c) if c > 0 => {
                    if fields.len() >= FIELDS_MAX {
                        return None;
                    }
                    fields.push(Field { start: at, colon: at + c, end: line_end });
                    in_field = true;
                }
                _ => in_field = false,
            },
        }
        at = line_end + 2;
    }
    Some(fields)
}

/// Parses one DKIM-Signature value and finds (or adds) its body hash.
fn parse_signature(value: &[u8], index: usize, bodies: &mut Vec<BodyHash>) -> Parsed {
    let list = match tags::tag_list(value) {
        Ok(l) => l,
        Err(why) => return Parsed::Bad(Partial::default(), why),
    };
    let partial = tags::partial(&list);
    if index >= SIGNATURES_MAX {
        return Parsed::NotChecked(partial);
    }
    let tags = match tags::signature(&list) {
        Ok(t) => t,
        Err(why) => return Parsed::Bad(partial, why),
    };
    let key = (tags.body_canon, tags.algorithm, tags.length);
    let hash_key = |(c, a, l): (Canon, Algorithm, Option<u64>)| (c, a.hash_name(), l);
    let body = match bodies.iter().position(|b| hash_key(b.key) == hash_key(key)) {
        Some(i) => i,
        None => {
            let alg = match tags.algorithm {
                Algorithm::RsaSha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
                _ => &digest::SHA256,
            };
            let canon = BodyCanon::with_limit(tags.body_canon, tags.length);
            bodies.push(BodyHash { key, canon, hash: digest::Context::new(alg) });
            bodies.len() - 1
        }
    };
    Parsed::Ok { tags: Box::new(tags), body }
}

/// A message read to its end: the header and the body hashes, ready for the key lookups.
#[derive(Debug, Clone)]
pub struct Checked {
    header: Vec<u8>,
    fields: Vec<Field>,
    entries: Vec<Entry>,
    bodies: Vec<(Vec<u8>, u64)>,
    too_large: bool,
}

impl Checked {
    /// The verdicts [`verify`] will give: one per DKIM-Signature field (one `permerror`
    /// when the header was too large to check).
    pub fn len(&self) -> usize {
        if self.too_large {
            1
        } else {
            self.entries.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The header section passed [`HEADER_MAX`] or [`FIELDS_MAX`].
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    /// The TXT name to look up for signature `i` (§3.6.2.1), if its verdict needs a key.
    pub fn key_name(&self, i: usize, now: u64) -> Option<String> {
        match &self.entries.get(i)?.parsed {
            Parsed::Ok { tags, .. } if time_check(tags, now).is_none() => {
                Some(format!("{}._domainkey.{}", tags.selector, tags.domain))
            }
            _ => None,
        }
    }
}

/// Verifies every signature of `checked`, looking keys up through `r` (module docs).
pub async fn verify<R: Resolver>(checked: &Checked, r: &R, now: u64) -> Vec<Signature> {
    let mut out = Vec::with_capacity(checked.len());
    for i in 0..checked.len() {
        let answer = match checked.key_name(i, now) {
            Some(name) => r.lookup(&name, Rtype::Txt).await,
            None => Err(DnsError::Invalid),
        };
        out.push(verify_with_key(checked, i, answer, now));
    }
    out
}

/// The verdict on signature `i` given the answer to its key lookup (unused when the
/// signature fails before a key is needed, see [`Checked::key_name`]). Sync: the fuzz
/// target and [`verify`] call it.
pub fn verify_with_key(checked: &Checked, i: usize, answer: Result<Vec<Rdata>, DnsError>, now: u64) -> Signature {
    let header_b = header_b(checked, i);
    let Some(entry) = checked.entries.get(i) else {
        let why = match checked.too_large {
            true => format!("header section over {} KiB or {FIELDS_MAX} fields", HEADER_MAX / 1024),
            false => "no such signature".to_owned(),
        };
        return report(DkimResult::PermError, &Partial::default(), header_b, Some(why));
    };
    let (tags, body) = match &entry.parsed {
        Parsed::Bad(p, why) => return report(DkimResult::PermError, p, header_b, Some((*why).to_owned())),
        Parsed::NotChecked(p) => {
            let why = format!("not checked: over {SIGNATURES_MAX} signatures");
            return report(DkimResult::Neutral, p, header_b, Some(why));
        }
        Parsed::Ok { tags, body } => (tags, *body),
    };
    let (result, reason) = match judge(checked, entry.field, tags, body, answer, now) {
        Ok(note) => (DkimResult::Pass, note),
        Err((r, why)) => (r, Some(why)),
    };
    Signature {
        result,
        domain: tags.domain.clone(),
        selector: tags.selector.clone(),
        header_b,
        algorithm: tags.algorithm.as_str().to_owned(),
        reason,
        auid: tags.auid.clone(),
    }
}

fn report(result: DkimResult, p: &Partial, header_b: String, reason: Option<String>) -> Signature {
    Signature {
        result,
        domain: p.domain.clone(),
        selector: p.selector.clone(),
        header_b,
        algorithm: p.algorithm.clone(),
        reason,
        auid: None,
    }
}

type Verdict = Result<Option<String>, (DkimResult, String)>;

fn fail(r: DkimResult, why: &str) -> (DkimResult, String) {
    (r, why.to_owned())
}

/// §6.1.1 clock checks: an expired `x=` fails, a `t=` in the future is refused by policy.
fn time_check(tags: &SigTags, now: u64) -> Option<(DkimResult, String)> {
    if tags.expiry.is_some_and(|x| x.saturating_add(CLOCK_SKEW) < now) {
        return Some(fail(DkimResult::Fail, "signature expired (x=)"));
    }
    if tags.timestamp.is_some_and(|t| t > now.saturating_add(CLOCK_SKEW)) {
        return Some(fail(DkimResult::Policy, "t= is in the future"));
    }
    None
}

/// §6.1.2 (the key) and §6.1.3 (the hashes) for one parsed signature.
fn judge(
    c: &Checked,
    field: usize,
    tags: &SigTags,
    body: usize,
    answer: Result<Vec<Rdata>, DnsError>,
    now: u64,
) -> Verdict {
    if let Some(e) = time_check(tags, now) {
        return Err(e);
    }
    let key = key(answer)?;
    usable(&key, tags)?;
    let (bh, total) = c.bodies.get(body).ok_or_else(|| fail(DkimResult::PermError, "no body hash"))?;
    if tags.length.is_some_and(|l| total < &l) {
        return Err(fail(DkimResult::Fail, "l= is longer than the body"));
    }
    if *bh != tags.bh {
        return Err(fail(DkimResult::Fail, "body hash mismatch"));
    }
    let data = c.header_input(field, tags);
    match crypto::check(tags.algorithm, &key.public_key, &data, &tags.b) {
        Outcome::Valid if tags.algorithm == Algorithm::RsaSha1 => {
            Err(fail(DkimResult::Policy, "rsa-sha1 is not accepted (RFC 8301)"))
        }
        Outcome::Valid => Ok(key.testing.then(|| "testing mode (t=y)".to_owned())),
        Outcome::Invalid => Err(fail(DkimResult::Fail, "signature mismatch")),
        Outcome::BadKey(why) => Err(fail(DkimResult::PermError, why)),
        Outcome::ShortKey(bits) => Err((DkimResult::Policy, format!("RSA key of {bits} bits (RFC 8301)"))),
    }
}

/// §6.1.2 steps 2–6: the one key record at the name.
fn key(answer: Result<Vec<Rdata>, DnsError>) -> Result<tags::KeyRecord, (DkimResult, String)> {
    let records = match answer {
        Ok(r) => r,
        Err(DnsError::Temporary) => return Err(fail(DkimResult::TempError, "key lookup failed")),
        Err(_) => return Err(fail(DkimResult::PermError, "no key record")),
    };
    let mut first_error = None;
    for rec in records {
        let Rdata::Txt(text) = rec else { continue };
        let parsed = if text.len() > KEY_RECORD_MAX { Err("key record too large") } else { tags::key_record(&text) };
        match parsed {
            Ok(k) => return Ok(k),
            Err(why) => first_error = first_error.or(Some(why)),
        }
    }
    Err(fail(DkimResult::PermError, first_error.unwrap_or("no key record")))
}

/// §6.1.2 steps 6–9: the key may verify this signature.
fn usable(key: &tags::KeyRecord, tags: &SigTags) -> Result<(), (DkimResult, String)> {
    if key.public_key.is_empty() {
        return Err(fail(DkimResult::PermError, "key revoked"));
    }
    if key.key_type != tags.algorithm.key_type() {
        return Err(fail(DkimResult::PermError, "key type does not match a="));
    }
    if !key.hashes.is_empty() && !key.hashes.iter().any(|h| h == tags.algorithm.hash_name()) {
        return Err(fail(DkimResult::PermError, "hash not allowed by the key (h=)"));
    }
    let auid_domain = tags.auid.as_deref().and_then(|i| i.rsplit_once('@')).map(|(_, d)| d.to_ascii_lowercase());
    if key.strict && auid_domain.is_some_and(|d| d.trim_end_matches('.') != tags.domain) {
        return Err(fail(DkimResult::PermError, "i= is a subdomain and the key has t=s"));
    }
    Ok(())
}

impl Checked {
    /// §3.7: the signed fields (§5.4.2 order and selection) and this DKIM-Signature field
    /// with an empty `b=`, without its final CRLF.
    fn header_input(&self, sig_field: usize, tags: &SigTags) -> Vec<u8> {
        let mut used = vec![false; self.fields.len()];
        let mut out = Vec::new();
        let from_extra = tags.headers.iter().any(|h| h == "from").then_some("from");
        for name in tags.headers.iter().map(String::as_str).chain(from_extra) {
            let pick = (0..self.fields.len()).rev().find(|&j| {
                !used.get(j).copied().unwrap_or(true) && self.field_name(j).eq_ignore_ascii_case(name.as_bytes())
            });
            if let Some(j) = pick {
                if let Some(u) = used.get_mut(j) {
                    *u = true;
                }
                canon::header(tags.header_canon, self.field(j), &mut out);
            }
        }
        canon::header(tags.header_canon, &without_b(self.field(sig_field)), &mut out);
        // As dkimpy: the final CRLF and any trailing whitespace go.
        let n = out.iter().rev().take_while(|&&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
        out.truncate(out.len() - n);
        out
    }

    fn field(&self, j: usize) -> &[u8] {
        self.fields.get(j).and_then(|f| self.header.get(f.start..f.end)).unwrap_or_default()
    }

    fn field_name(&self, j: usize) -> &[u8] {
        self.fields.get(j).and_then(|f| self.header.get(f.start..f.colon)).map(trim_wsp).unwrap_or_default()
    }
}

/// The field with the value of its `b=` tag deleted (§3.7): from after the `=` to the last
/// non-FWS octet of the value (whitespace before a following `;` stays, as in dkimpy).
fn without_b(field: &[u8]) -> Vec<u8> {
    let colon = memchr::memchr(b':', field).map_or(field.len(), |c| c + 1);
    let mut at = colon;
    for spec in field.get(colon..).unwrap_or_default().split(|&b| b == b';') {
        let eq = spec.iter().position(|&b| b == b'=');
        let name = eq.and_then(|e| spec.get(..e)).map(tags::trim);
        if let (Some(e), Some(b"b")) = (eq, name) {
            let last = spec.iter().rposition(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(e);
            let (cut_from, cut_to) = (at + e + 1, at + last.max(e) + 1);
            let mut out = field.get(..cut_from).unwrap_or_default().to_vec();
            out.extend_from_slice(field.get(cut_to..).unwrap_or_default());
            return out;
        }
        at += spec.len() + 1;
    }
    field.to_vec()
}

/// `header.b` for signature `i` (RFC 6008 §4).
fn header_b(c: &Checked, i: usize) -> String {
    let b_of = |e: &Entry| match &e.parsed {
        Parsed::Ok { tags, .. } => tags.b_text.clone(),
        Parsed::Bad(p, _) | Parsed::NotChecked(p) => p.b_text.clone(),
    };
    let Some(mine) = c.entries.get(i).map(b_of) else { return String::new() };
    let others: Vec<String> = c.entries.iter().map(b_of).filter(|b| *b != mine).collect();
    let mut n = HEADER_B_MIN.min(mine.len());
    while n < mine.len()
        && others.iter().any(|o| o.as_bytes().starts_with(mine.as_bytes().get(..n).unwrap_or_default()))
    {
        n += 1;
    }
    mine.get(..n).map_or_else(|| mine.clone(), str::to_owned)
}
