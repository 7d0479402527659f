//! SEARCH (RFC 3501 §6.4.4, §9 `search-key`; RFC 7162 §3.1.5 MODSEQ; RFC 5032 OLDER/YOUNGER;
//! RFC 8514 §4.2 SAVEDBEFORE/SAVEDON/SAVEDSINCE/SAVEDATESUPPORTED; RFC 5182 `$`): parsing
//! with a depth cap on parentheses, NOT and OR (BAD-INPUTS 31), and evaluation against one message.
//! Save-date keys compare [`Mailstore::save_date`] (one small store read per message, at most
//! once per message and program), or the INTERNALDATE where the store has no save date
//! (messages saved before it kept one); every folder supports them. Text keys match
//! substrings by Unicode simple case folding (RFC 5051 `i;unicode-casemap`) in the text a
//! person sees: header keys with RFC 2047 words decoded; BODY and TEXT (white space runs
//! and line breaks compared as one space) in each text part
//! decoded (base64 / quoted-printable, charset, HTML as text, [`crate::mime::decode`]) and
//! in attachments' file names (RFC 2231), streamed through [`Mailstore::read`] in bounded
//! chunks with a matcher that carries state across them (BAD-INPUTS 92, 93). `CHARSET`
//! accepts the charsets of [`crate::charset`] (RFC 3501 §6.4.4).

use std::io::Write as _;

use super::api::{flag, Mailstore, MsgMeta, StoreError};
use super::reader::{date, Bad, P, R};
use super::types::SequenceSet;
use super::view::{MetaCursor, Selected};
use crate::charset::{self, decode_rfc2047, param_rfc2231, Charset, FoldMatcher};
use crate::mime::decode::TextStream;
use crate::mime::{fields, MimeSummary, Part, SEARCH_FIELDS};

/// Nesting of `(`, NOT and OR in one search program.
pub const SEARCH_DEPTH_MAX: usize = 32;
/// Keys in one search program.
pub const SEARCH_KEYS_MAX: usize = 256;
/// Bytes read per step when scanning bodies.
const SCAN_CHUNK: usize = 16 * 1024;
/// Header bytes read for HEADER keys (and per header block for TEXT).
pub const SEARCH_HEADER_MAX: u64 = 64 * 1024;
/// Message bytes read per [`SearchJob::step`] at most (besides the message count): a BODY
/// search of big messages yields to other sessions every few milliseconds (128 KiB decode in
/// about 3 ms here, 30 on a slow ARM core).
pub const SEARCH_STEP_BYTES: u64 = 128 * 1024;

/// The charset names of [`crate::charset::NAMES`], for the response code literal.
macro_rules! badcharset {
    () => {
        "[BADCHARSET (UTF-8 US-ASCII ISO-8859-1 ISO-8859-2 ISO-8859-3 ISO-8859-4 ISO-8859-5 ISO-8859-6 \
ISO-8859-7 ISO-8859-8 ISO-8859-9 ISO-8859-10 ISO-8859-11 ISO-8859-13 ISO-8859-14 ISO-8859-15 ISO-8859-16 \
windows-874 windows-1250 windows-1251 windows-1252 windows-1253 windows-1254 windows-1255 windows-1256 \
windows-1257 windows-1258 KOI8-R KOI8-U IBM866 macintosh)] Unsupported charset"
    };
}
/// The `NO` text of `SEARCH CHARSET` with an unknown charset (RFC 3501 §6.4.4).
pub const BADCHARSET: &str = badcharset!();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKey {
    Before,
    On,
    Since,
}

/// RFC 3501 §6.4.4 search keys (FROM/TO/CC/BCC/SUBJECT become `Header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    /// A system flag set (`true`) or unset.
    Flag(u32, bool),
    Keyword(String, bool),
    /// RECENT (OLD is `Not(Recent)`, NEW is `And(Recent, Unseen)`).
    Recent,
    Internal(DateKey, i64),
    /// RFC 5032 OLDER (`older`) / YOUNGER: INTERNALDATE against `now` less `secs`; `now`
    /// is set by [`SearchKey::set_now`] before the search runs.
    Age {
        older: bool,
        secs: u32,
        now: i64,
    },
    Sent(DateKey, i64),
    /// RFC 8514 §4.2 SAVEDBEFORE / SAVEDON / SAVEDSINCE: the save date's day.
    Saved(DateKey, i64),
    Larger(u64),
    Smaller(u64),
    /// RFC 7162 §3.1.5: MODSEQ at least this (one MODSEQ per message: entry names ignored).
    Modseq(u64),
    Header(String, String),
    Body(String),
    Text(String),
    Seq(SequenceSet),
    Uid(SequenceSet),
    /// A set after [`SearchKey::prepare`]: normalized ranges of UIDs or sequence numbers.
    Ranges {
        uid: bool,
        ranges: Vec<(u32, u32)>,
    },
    /// RFC 8474 §6 `EMAILID objectid`.
    #[cfg(feature = "objectid")]
    EmailId(String),
    /// RFC 8474 §6 `THREADID objectid`.
    #[cfg(feature = "objectid")]
    ThreadId(String),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

impl SearchKey {
    /// Does the program use MODSEQ (RFC 7162 §3.1.5: the response then carries `(MODSEQ n)`)?
    pub fn has_modseq(&self) -> bool {
        match self {
            SearchKey::Modseq(_) => true,
            SearchKey::Not(k) => k.has_modseq(),
            SearchKey::Or(a, b) => a.has_modseq() || b.has_modseq(),
            SearchKey::And(keys) => keys.iter().any(SearchKey::has_modseq),
            _ => false,
        }
    }

    /// Gives OLDER/YOUNGER keys the time of the command (unix seconds).
    pub fn set_now(&mut self, t: i64) {
        match self {
            SearchKey::Age { now, .. } => *now = t,
            SearchKey::Not(k) => k.set_now(t),
            SearchKey::Or(a, b) => {
                a.set_now(t);
                b.set_now(t);
            }
            SearchKey::And(keys) => keys.iter_mut().for_each(|k| k.set_now(t)),
            _ => {}
        }
    }

    /// Resolves `*` and normalizes sets once, before the per-message loop.
    pub fn prepare(&mut self, max_seq: u32, max_uid: u32) {
        match self {
            SearchKey::Seq(set) => {
                let ranges = set.normalize(max_seq, false);
                *self = SearchKey::Ranges { uid: false, ranges };
            }
            SearchKey::Uid(set) => {
                let ranges = set.normalize(max_uid, false);
                *self = SearchKey::Ranges { uid: true, ranges };
            }
            SearchKey::Not(k) => k.prepare(max_seq, max_uid),
            SearchKey::Or(a, b) => {
                a.prepare(max_seq, max_uid);
                b.prepare(max_seq, max_uid);
            }
            SearchKey::And(keys) => keys.iter_mut().for_each(|k| k.prepare(max_seq, max_uid)),
            _ => {}
        }
    }
}

/// `[SP "CHARSET" SP astring] 1*(SP search-key)` after "SEARCH SP" (RFC 3501 §9 `search`).
pub fn search_program(p: &mut P) -> R<SearchKey> {
    let mut cs = Charset::Utf8;
    if p.keyword("CHARSET") {
        p.sp()?;
        cs = search_charset(p)?;
        p.sp()?;
    }
    search_keys(p, cs)
}

/// RFC 3501 §9 `astring` naming a charset of [`crate::charset`], else `NO [BADCHARSET]`.
pub fn search_charset(p: &mut P) -> R<Charset> {
    let name = p.astring()?;
    std::str::from_utf8(&name).ok().and_then(Charset::lookup).ok_or(Bad(BADCHARSET))
}

/// `search-key *(SP search-key)`, ANDed (RFC 3501 §9; RFC 5256 §5 `search-criteria`).
pub fn search_keys(p: &mut P, cs: Charset) -> R<SearchKey> {
    let mut keys = vec![search_key(p, 0, cs)?];
    while p.eat(b' ') {
        keys.push(search_key(p, 0, cs)?);
        if keys.len() > SEARCH_KEYS_MAX {
            return Err(Bad("Too many search keys"));
        }
    }
    Ok(SearchKey::And(keys))
}

/// A search string in the program's charset, as UTF-8.
fn text_in(p: &mut P, cs: Charset) -> R<String> {
    match cs {
        Charset::Utf8 => p.text(),
        _ => Ok(charset::decode(cs, &p.astring()?)),
    }
}

/// RFC 3501 §9 `search-key`.
fn search_key(p: &mut P, depth: usize, cs: Charset) -> R<SearchKey> {
    if depth > SEARCH_DEPTH_MAX {
        return Err(Bad("Search nesting too deep"));
    }
    match p.peek() {
        Some(b'(') => return paren_keys(p, depth, cs),
        Some(b'*' | b'$' | b'0'..=b'9') => return Ok(SearchKey::Seq(p.sequence_set()?)),
        _ => {}
    }
    let name = p.atom()?.to_ascii_uppercase();
    let flag_key = |bit, set| Ok(SearchKey::Flag(bit, set));
    match name.as_slice() {
        b"ALL" => Ok(SearchKey::All),
        b"ANSWERED" => flag_key(flag::ANSWERED, true),
        b"DELETED" => flag_key(flag::DELETED, true),
        b"DRAFT" => flag_key(flag::DRAFT, true),
        b"FLAGGED" => flag_key(flag::FLAGGED, true),
        b"SEEN" => flag_key(flag::SEEN, true),
        b"UNANSWERED" => flag_key(flag::ANSWERED, false),
        b"UNDELETED" => flag_key(flag::DELETED, false),
        b"UNDRAFT" => flag_key(flag::DRAFT, false),
        b"UNFLAGGED" => flag_key(flag::FLAGGED, false),
        b"UNSEEN" => flag_key(flag::SEEN, false),
        b"RECENT" => Ok(SearchKey::Recent),
        b"NEW" => Ok(SearchKey::And(vec![SearchKey::Recent, SearchKey::Flag(flag::SEEN, false)])),
        b"OLD" => Ok(SearchKey::Not(Box::new(SearchKey::Recent))),
        b"KEYWORD" | b"UNKEYWORD" => {
            p.sp()?;
            let kw = String::from_utf8_lossy(p.atom()?).into_owned();
            Ok(SearchKey::Keyword(kw, name.as_slice() == b"KEYWORD"))
        }
        b"BEFORE" | b"ON" | b"SINCE" | b"SENTBEFORE" | b"SENTON" | b"SENTSINCE" => date_key(p, &name),
        b"SAVEDBEFORE" | b"SAVEDON" | b"SAVEDSINCE" => date_key(p, &name),
        // RFC 8514 §4.2: every folder has save dates (with the INTERNALDATE as fallback).
        b"SAVEDATESUPPORTED" => Ok(SearchKey::All),
        // RFC 5032 §3 `search-key =/ ( "OLDER" / "YOUNGER" ) SP nz-number`.
        b"OLDER" | b"YOUNGER" => {
            p.sp()?;
            Ok(SearchKey::Age { older: name.as_slice() == b"OLDER", secs: p.nz_number()?, now: 0 })
        }
        b"LARGER" | b"SMALLER" => {
            p.sp()?;
            let n = u64::from(p.number()?);
            Ok(if name.as_slice() == b"LARGER" { SearchKey::Larger(n) } else { SearchKey::Smaller(n) })
        }
        b"FROM" | b"TO" | b"CC" | b"BCC" | b"SUBJECT" => {
            p.sp()?;
            Ok(SearchKey::Header(String::from_utf8_lossy(&name).into_owned(), text_in(p, cs)?))
        }
        b"HEADER" => {
            p.sp()?;
            let field = p.text()?;
            p.sp()?;
            Ok(SearchKey::Header(field, text_in(p, cs)?))
        }
        b"BODY" | b"TEXT" => {
            p.sp()?;
            let s = text_in(p, cs)?;
            Ok(if name.as_slice() == b"BODY" { SearchKey::Body(s) } else { SearchKey::Text(s) })
        }
        b"UID" => {
            p.sp()?;
            Ok(SearchKey::Uid(p.sequence_set()?))
        }
        b"MODSEQ" => modseq_key(p),
        #[cfg(feature = "objectid")]
        b"EMAILID" | b"THREADID" => {
            p.sp()?;
            let id = super::objectid::objectid(p)?;
            Ok(if name.as_slice() == b"EMAILID" { SearchKey::EmailId(id) } else { SearchKey::ThreadId(id) })
        }
        b"NOT" => {
            p.sp()?;
            Ok(SearchKey::Not(Box::new(search_key(p, depth + 1, cs)?)))
        }
        b"OR" => {
            p.sp()?;
            let a = search_key(p, depth + 1, cs)?;
            p.sp()?;
            let b = search_key(p, depth + 1, cs)?;
            Ok(SearchKey::Or(Box::new(a), Box::new(b)))
        }
        _ => Err(Bad("Unknown search key")),
    }
}

/// RFC 7162 §7 `"MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer`.
fn modseq_key(p: &mut P) -> R<SearchKey> {
    p.sp()?;
    if p.peek() == Some(b'"') {
        let name = p.quoted()?;
        if !name.to_ascii_lowercase().starts_with(b"/flags/") {
            return Err(Bad("Bad MODSEQ entry name"));
        }
        p.sp()?;
        let kind = p.atom()?.to_ascii_lowercase();
        if !matches!(kind.as_slice(), b"priv" | b"shared" | b"all") {
            return Err(Bad("Bad MODSEQ entry type"));
        }
        p.sp()?;
    }
    Ok(SearchKey::Modseq(p.mod_sequence()?))
}

fn paren_keys(p: &mut P, depth: usize, cs: Charset) -> R<SearchKey> {
    p.expect(b'(')?;
    let mut keys = vec![search_key(p, depth + 1, cs)?];
    while p.eat(b' ') {
        keys.push(search_key(p, depth + 1, cs)?);
        if keys.len() > SEARCH_KEYS_MAX {
            return Err(Bad("Too many search keys"));
        }
    }
    p.expect(b')')?;
    Ok(SearchKey::And(keys))
}

/// `BEFORE`/`ON`/`SINCE` `date`, optionally prefixed `SENT` (RFC 3501) or `SAVED` (RFC 8514).
fn date_key(p: &mut P, name: &[u8]) -> R<SearchKey> {
    p.sp()?;
    let day = date(p)?;
    let comparison = |rest: &[u8]| match rest {
        b"BEFORE" => DateKey::Before,
        b"ON" => DateKey::On,
        _ => DateKey::Since,
    };
    Ok(match (name.strip_prefix(b"SENT"), name.strip_prefix(b"SAVED")) {
        (Some(rest), _) => SearchKey::Sent(comparison(rest), day),
        (_, Some(rest)) => SearchKey::Saved(comparison(rest), day),
        _ => SearchKey::Internal(comparison(name), day),
    })
}

/// One message under evaluation; MIME and header are fetched at most once.
pub struct Candidate<'a> {
    pub folder: &'a str,
    pub seq: u32,
    pub meta: MsgMeta,
    pub keywords: &'a [String],
    /// Normalized ranges for `*` resolution are computed by the caller.
    pub max_seq: u32,
    pub max_uid: u32,
    mime: Option<MimeSummary>,
    /// [`MimeSummary::header_fields`], fetched alone when the summary is not needed.
    fields: Option<Option<Vec<(String, String)>>>,
    header: Option<Vec<u8>>,
    /// The save date ([`Mailstore::save_date`], else the INTERNALDATE), read once.
    saved: Option<i64>,
    /// Message bytes read by BODY/TEXT so far (the step budget, [`SEARCH_STEP_BYTES`]).
    pub scanned: u64,
}

impl<'a> Candidate<'a> {
    pub fn new(folder: &'a str, seq: u32, meta: MsgMeta, keywords: &'a [String], max: (u32, u32)) -> Self {
        Candidate {
            folder,
            seq,
            meta,
            keywords,
            max_seq: max.0,
            max_uid: max.1,
            mime: None,
            fields: None,
            header: None,
            saved: None,
            scanned: 0,
        }
    }

    /// Does the message match `key`? (Recursion is bounded by SEARCH_DEPTH_MAX.)
    pub fn matches(&mut self, key: &SearchKey, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        let m = self.meta;
        Ok(match key {
            SearchKey::All => true,
            SearchKey::Recent => m.recent,
            SearchKey::Flag(bit, set) => (m.flags & bit != 0) == *set,
            SearchKey::Keyword(kw, set) => self.has_keyword(kw) == *set,
            SearchKey::Internal(k, day) => date_cmp(*k, m.internal_date.div_euclid(86_400), *day),
            // RFC 5032 §3: YOUNGER n is an age of at most n seconds, OLDER n more than n.
            SearchKey::Age { older, secs, now } => (m.internal_date < now - i64::from(*secs)) == *older,
            SearchKey::Sent(k, day) => self.sent_day(store)?.is_some_and(|d| date_cmp(*k, d, *day)),
            SearchKey::Saved(k, day) => date_cmp(*k, self.save_date(store)?.div_euclid(86_400), *day),
            SearchKey::Larger(n) => m.size > *n,
            SearchKey::Smaller(n) => m.size < *n,
            SearchKey::Modseq(n) => m.modseq >= *n,
            SearchKey::Header(f, v) => self.header_match(f, v, store)?,
            SearchKey::Body(s) => self.scan(s, true, store)?,
            SearchKey::Text(s) => self.scan(s, false, store)?,
            SearchKey::Seq(set) => SequenceSet::contains(&set.normalize(self.max_seq, false), self.seq),
            SearchKey::Uid(set) => SequenceSet::contains(&set.normalize(self.max_uid, false), m.uid),
            SearchKey::Ranges { uid, ranges } => SequenceSet::contains(ranges, if *uid { m.uid } else { self.seq }),
            #[cfg(feature = "objectid")]
            SearchKey::EmailId(id) => super::objectid::email_id(store, self.folder, &m)? == *id,
            #[cfg(feature = "objectid")]
            SearchKey::ThreadId(id) => super::objectid::thread_id(self.mime(store)?).as_deref() == Some(id.as_str()),
            SearchKey::Not(k) => !self.matches(k, store)?,
            SearchKey::Or(a, b) => self.matches(a, store)? || self.matches(b, store)?,
            SearchKey::And(keys) => {
                for k in keys {
                    if !self.matches(k, store)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }

    fn has_keyword(&self, kw: &str) -> bool {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(kw))
            .is_some_and(|i| i < flag::KEYWORDS_MAX && self.meta.flags & (1 << (i as u32 + flag::KEYWORD_SHIFT)) != 0)
    }

    fn mime(&mut self, store: &mut dyn Mailstore) -> Result<&MimeSummary, StoreError> {
        if self.mime.is_none() {
            self.mime = Some(store.mime(self.folder, self.meta.uid)?);
        }
        self.mime.as_ref().ok_or(StoreError::Io)
    }

    /// RFC 8514: the save date, the INTERNALDATE where the store has none (module doc).
    fn save_date(&mut self, store: &mut dyn Mailstore) -> Result<i64, StoreError> {
        if let Some(t) = self.saved {
            return Ok(t);
        }
        let t = store.save_date(self.folder, self.meta.uid)?.unwrap_or(self.meta.internal_date);
        self.saved = Some(t);
        Ok(t)
    }

    fn sent_day(&mut self, store: &mut dyn Mailstore) -> Result<Option<i64>, StoreError> {
        let mime = self.mime(store)?;
        let date = mime.parts.first().and_then(|p| p.envelope.as_ref()).and_then(|e| e.date.clone());
        Ok(date.as_deref().and_then(rfc5322_day))
    }

    fn header_match(&mut self, field: &str, value: &str, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        // Issue 13: the fields stored with the summary answer without reading the message.
        if SEARCH_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field)) {
            if self.fields.is_none() {
                self.fields = Some(match &self.mime {
                    Some(m) => m.header_fields.clone(),
                    None => store.header_fields(self.folder, self.meta.uid)?,
                });
            }
            if let Some(Some(stored)) = &self.fields {
                return Ok(field_match(stored, field, value));
            }
        }
        if self.header.is_none() {
            let len = self.mime(store)?.parts.first().map_or(0, |p| p.header_len);
            self.header = Some(read_range(store, self.folder, self.meta.uid, 0, len.min(SEARCH_HEADER_MAX))?);
        }
        Ok(field_match(&fields(self.header.as_deref().unwrap_or(&[])), field, value))
    }

    /// BODY (`body_only`) or TEXT: the decoded text of the message (see the module doc).
    fn scan(&mut self, needle: &str, body_only: bool, store: &mut dyn Mailstore) -> Result<bool, StoreError> {
        let mut m = FoldMatcher::new(needle);
        if m.found() {
            return Ok(true);
        }
        self.mime(store)?;
        let mime = self.mime.take().unwrap_or_default();
        let found = self.scan_parts(&mime, &mut m, body_only, store);
        self.mime = Some(mime);
        found
    }

    fn scan_parts(
        &mut self,
        mime: &MimeSummary,
        m: &mut FoldMatcher,
        body_only: bool,
        store: &mut dyn Mailstore,
    ) -> Result<bool, StoreError> {
        for (i, part) in mime.parts.iter().enumerate() {
            // Header blocks: the root's for TEXT, an encapsulated message's always.
            let root = i == 0;
            let nested = part.parent.and_then(|q| mime.part(q)).is_some_and(|q| q.mime_type == "message");
            if (root && !body_only) || (!root && nested) {
                let len = part.header_len.min(SEARCH_HEADER_MAX);
                let header = read_range(store, self.folder, self.meta.uid, part.header_offset, len)?;
                self.scanned += len;
                m.reset();
                m.push(&decode_rfc2047(&header));
            }
            if let Some(name) = file_name(part) {
                m.reset();
                m.push(&name);
            }
            let leaf =
                part.mime_type == "text" || (part.mime_type == "multipart" && mime.children(i as u32).next().is_none());
            if leaf && !m.found() {
                m.reset();
                self.scan_body(part, m, store)?;
            }
            if m.found() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Streams one text part's body through its decoders into `m`, [`SCAN_CHUNK`] at a time.
    fn scan_body(&mut self, part: &Part, m: &mut FoldMatcher, store: &mut dyn Mailstore) -> Result<(), StoreError> {
        let mut text = TextStream::for_part(part);
        let mut buf = vec![0u8; SCAN_CHUNK];
        let (mut off, end) = (part.body_offset, part.body_offset.saturating_add(part.body_len));
        while off < end {
            let want = usize::try_from(end - off).unwrap_or(SCAN_CHUNK).min(SCAN_CHUNK);
            let n = store.read(self.folder, self.meta.uid, off, buf.get_mut(..want).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            self.scanned += n as u64;
            off += n as u64;
            if m.push(text.push(buf.get(..n).unwrap_or_default())) {
                return Ok(());
            }
        }
        m.push(text.finish());
        Ok(())
    }
}

/// An attachment's file name: Content-Disposition `filename` or Content-Type `name`
/// (RFC 2183 §2.3, RFC 2046 §4.5.1), RFC 2231 / RFC 2047 decoded.
fn file_name(part: &Part) -> Option<String> {
    let disposition = part.disposition.as_ref().and_then(|(_, params)| param_rfc2231(params, "filename"));
    disposition.or_else(|| param_rfc2231(&part.params, "name"))
}

/// Does an occurrence of `field` among `fields` contain `value` (RFC 3501 §6.4.4 HEADER,
/// FROM, TO, CC, BCC, SUBJECT), compared by RFC 5051 simple case folding?
fn field_match(fields: &[(String, String)], field: &str, value: &str) -> bool {
    let needle = charset::fold(value);
    let has = |s: &str| charset::fold(s).contains(&needle);
    // RFC 2047 encoded words are matched decoded as well, so `SEARCH CHARSET UTF-8
    // SUBJECT café` finds `Subject: =?UTF-8?Q?caf=C3=A9?=` (found by tests/imap_e2e.rs
    // imaplib_every_command: non-ASCII subjects were unsearchable).
    let is_address = ["from", "to", "cc", "bcc", "sender", "reply-to"].iter().any(|f| f.eq_ignore_ascii_case(field));
    fields.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case(field)
            && (has(v)
                || has(&decode_rfc2047(v.as_bytes()))
                // Addresses also match in their normalized form (comments, spaces and
                // quoting removed), as the ENVELOPE shows them.
                || (is_address && super::encode::parse_addresses(v).iter().any(|a| has(&a.display()))))
    })
}

/// Reads `len` bytes from `offset` (bounded by the callers' caps).
pub fn read_range(
    store: &mut dyn Mailstore,
    folder: &str,
    uid: u32,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut got = 0;
    while got < out.len() {
        let n = store.read(folder, uid, offset + got as u64, out.get_mut(got..).unwrap_or(&mut []))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    out.truncate(got);
    Ok(out)
}

fn date_cmp(k: DateKey, have: i64, want: i64) -> bool {
    match k {
        DateKey::Before => have < want,
        DateKey::On => have == want,
        DateKey::Since => have >= want,
    }
}

/// The day of an RFC 5322 §3.3 `date-time` (`[day-of-week ","] day month year time zone`),
/// in the sender's zone as RFC 3501 §6.4.4 SENTON compares dates "disregarding time".
pub fn rfc5322_day(s: &str) -> Option<i64> {
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    civil_day(&mut s.split_ascii_whitespace())
}

/// The day number of the next three words, `day month year` (RFC 5322 §3.3, with §4.3's
/// two- and three-digit years), without allocating (SORT and THREAD parse one per message).
pub fn civil_day<'a>(w: &mut impl Iterator<Item = &'a str>) -> Option<i64> {
    let d: u32 = w.next()?.parse().ok()?;
    let mon = w.next()?.as_bytes().get(..3)?;
    let months = [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let m = months.iter().position(|x| mon.eq_ignore_ascii_case(*x))? as u32 + 1;
    let mut y: i64 = w.next()?.parse().ok()?;
    if y < 50 {
        y += 2000;
    } else if y < 1000 {
        y += 1900;
    }
    ((1..=31).contains(&d)).then(|| crate::datetime::days_from_civil(y, m, d))
}

/// Messages evaluated per [`SearchJob::step`] at most: a SEARCH of a large folder yields to
/// other sessions between steps (one executor thread) and never holds its whole answer.
const SEARCH_STEP: u32 = 4096;

/// Where a search's matches go.
#[derive(Debug)]
pub enum Sink {
    /// The `* SEARCH` line, streamed (RFC 3501 §7.2.5).
    Line,
    /// An `* ESEARCH` answer and/or the saved result (RFC 4731, RFC 5182).
    Esearch(super::esearch::Collect),
    /// SORT (RFC 5256 §3): the matches, ordered at the end.
    #[cfg(feature = "imap-sort")]
    Sort(super::sort::SortJob),
    /// THREAD (RFC 5256 §3): the matches, threaded at the end.
    #[cfg(feature = "imap-sort")]
    Thread(super::thread::ThreadJob),
}

/// Bytes one stored summary read by SORT or THREAD counts as against [`SEARCH_STEP_BYTES`]
/// (about what a summary holds): a SORT of a big folder yields like a BODY search.
#[cfg(feature = "imap-sort")]
pub const SUMMARY_COST: u64 = 4 * 1024;

impl Sink {
    /// Takes one match; returns the bytes it cost to read (see [`SUMMARY_COST`]).
    fn push(
        &mut self,
        out: &mut Vec<u8>,
        seq: u32,
        m: &MsgMeta,
        by_uid: bool,
        store: (&str, &mut dyn Mailstore),
    ) -> u64 {
        #[cfg(not(feature = "imap-sort"))]
        let _ = store;
        match self {
            Sink::Line => {
                let _ = write!(out, " {}", if by_uid { m.uid } else { seq });
            }
            Sink::Esearch(c) => c.push(seq, m.uid, m.modseq),
            #[cfg(feature = "imap-sort")]
            Sink::Sort(s) => return s.add(super::sort::Match::new(seq, m), store.0, store.1),
            #[cfg(feature = "imap-sort")]
            Sink::Thread(t) => return t.add(super::sort::Match::new(seq, m), store.0, store.1),
        }
        0
    }
}

/// One SEARCH in progress (RFC 3501 §6.4.4): the `* SEARCH` line is streamed in chunks of
/// about [`super::OUTPUT_CHUNK`], one per poll, like FETCH output; other sinks gather the
/// matches for an answer at the end.
#[derive(Debug)]
pub struct SearchJob {
    /// Where the matches go.
    pub sink: Sink,
    /// The prepared program (kept by a live search, RFC 5267 §4.3).
    pub key: SearchKey,
    uid: bool,
    /// RFC 7162 §3.1.5: a MODSEQ key ends the line with `(MODSEQ n)`, the highest match's.
    modseq: bool,
    top: u64,
    next: u32,
    cursor: MetaCursor,
    /// `Some` once the line is complete: `Err` if a message could not be read.
    pub done: Option<Result<(), StoreError>>,
}

impl SearchJob {
    /// `key` must be [`SearchKey::prepare`]d for the view.
    pub fn new(key: SearchKey, uid: bool, modseq: bool) -> SearchJob {
        SearchJob { sink: Sink::Line, key, uid, modseq, top: 0, next: 1, cursor: MetaCursor::default(), done: None }
    }

    /// The same search with its matches going to `sink`.
    pub fn with_sink(mut self, sink: Sink) -> SearchJob {
        self.sink = sink;
        self
    }

    /// The highest MODSEQ of the matches, when the program had a MODSEQ key (RFC 7162 §3.1.5).
    pub fn modseq_top(&self) -> Option<u64> {
        self.modseq.then_some(self.top)
    }

    /// The next piece of the `* SEARCH` line (the last one ends it with CRLF).
    pub fn step(&mut self, view: &Selected, store: &mut dyn Mailstore) -> Vec<u8> {
        let mut out = Vec::new();
        let line = matches!(self.sink, Sink::Line);
        if self.next == 1 && line {
            out.extend_from_slice(b"* SEARCH");
        }
        let (count, max_uid) = (view.count(), view.max_uid());
        let stop = self.next.saturating_add(SEARCH_STEP);
        let mut scanned = 0u64;
        while self.next <= count && self.next < stop && out.len() < super::OUTPUT_CHUNK && scanned < SEARCH_STEP_BYTES {
            let seq = self.next;
            self.next += 1;
            // Gone from the store too (expunged elsewhere, compacted): matches nothing.
            let Some(m) = self.cursor.get(view, seq, store) else { continue };
            let mut c = Candidate::new(&view.name, seq, m, &view.keywords, (count, max_uid));
            let matched = c.matches(&self.key, store);
            scanned += c.scanned;
            match matched {
                Ok(true) => {
                    scanned += self.sink.push(&mut out, seq, &m, self.uid, (&view.name, &mut *store));
                    self.top = self.top.max(m.modseq);
                }
                Ok(false) => {}
                Err(e) => {
                    if line {
                        out.extend_from_slice(b"\r\n");
                    }
                    self.done = Some(Err(e));
                    return out;
                }
            }
        }
        if self.next > count {
            if self.modseq && self.top > 0 && line {
                let _ = write!(out, " (MODSEQ {})", self.top);
            }
            if line {
                out.extend_from_slice(b"\r\n");
            }
            self.done = Some(Ok(()));
        }
        out
    }
}
