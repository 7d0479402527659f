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

mod eval;
mod job;
#[cfg(feature = "imap-sort")]
pub use eval::civil_day;
pub use eval::{read_range, Candidate};
#[cfg(feature = "imap-sort")]
pub use job::SUMMARY_COST;
pub use job::{SearchJob, Sink};
