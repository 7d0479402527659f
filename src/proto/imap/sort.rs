//! SORT (RFC 5256 §3 `SORT` and `UID SORT`: ARRIVAL, CC, DATE, FROM, REVERSE, SIZE,
//! SUBJECT, TO; §2.1 base subject; §2.2 sent date) and SORT=DISPLAY (RFC 5957 §3
//! DISPLAYFROM, DISPLAYTO).
//!
//! The search runs as any SEARCH does (stepwise, yielding); its matches are then ordered by
//! keys taken from the stored structure of each message ([`Mailstore::mime`]: the envelope
//! FETCH ENVELOPE answers from), never by reading the message, and from the store's
//! per-message table (size, internal date). Memory is one small key record per match, so
//! bounded by the folder's message count.

use std::cmp::Ordering;
use std::io::Write as _;

use super::api::{Mailstore, MsgMeta};
use super::encode::parse_addresses;
use super::esearch::saved_keys;
use super::parser::Command;
use super::reader::{Bad, P, R};
use super::search::{search_charset, search_keys};
use super::session::Session;
use super::types::Tag;
use crate::charset::{decode_rfc2047, fold};
use crate::mime::Envelope;

/// Criteria in one SORT: nine keys exist, each with or without REVERSE.
pub const SORT_CRITERIA_MAX: usize = 18;
/// Rounds of RFC 5256 §2.1 steps 2-5 on one subject; each removes at least one character,
/// this caps the work on a subject of thousands of `Re:` (BAD-INPUTS 101).
const SUBJECT_ROUNDS_MAX: usize = 4096;

/// RFC 5256 §3 `sort-key`, RFC 5957 §3 DISPLAYFROM / DISPLAYTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// RFC 5256 §3 `sort-criterion = ["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    pub key: SortKey,
    pub reverse: bool,
}

/// A match of the search: what the ordering needs from the store's table.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    pub seq: u32,
    pub uid: u32,
    pub size: u64,
    pub internal_date: i64,
}

impl Match {
    pub fn new(seq: u32, m: &MsgMeta) -> Match {
        Match { seq, uid: m.uid, size: m.size, internal_date: m.internal_date }
    }
}

/// A SORT in progress: its criteria and the matches found so far.
#[derive(Debug)]
pub struct SortJob {
    pub criteria: Vec<Criterion>,
    pub uid: bool,
    pub matches: Vec<Match>,
}

/// RFC 5256 §5 `sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria`, after the
/// command name; `search-criteria = charset 1*(SP search-key)`.
pub fn sort_command(p: &mut P, uid: bool) -> R<Command> {
    p.sp()?;
    let criteria = sort_criteria(p)?;
    p.sp()?;
    let cs = search_charset(p)?;
    p.sp()?;
    let key = search_keys(p, cs)?;
    Ok(Command::Sort { uid, criteria, key })
}

/// RFC 5256 §5 `sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"`.
pub fn sort_criteria(p: &mut P) -> R<Vec<Criterion>> {
    p.expect(b'(')?;
    let mut v = Vec::new();
    loop {
        let reverse = p.keyword("REVERSE");
        if reverse {
            p.sp()?;
        }
        let key = match p.atom()?.to_ascii_uppercase().as_slice() {
            b"ARRIVAL" => SortKey::Arrival,
            b"CC" => SortKey::Cc,
            b"DATE" => SortKey::Date,
            b"FROM" => SortKey::From,
            b"SIZE" => SortKey::Size,
            b"SUBJECT" => SortKey::Subject,
            b"TO" => SortKey::To,
            b"DISPLAYFROM" => SortKey::DisplayFrom,
            b"DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(Bad("Unknown sort key")),
        };
        v.push(Criterion { key, reverse });
        if v.len() > SORT_CRITERIA_MAX {
            return Err(Bad("Too many sort criteria"));
        }
        if p.eat(b')') {
            return Ok(v);
        }
        p.sp()?;
    }
}

/// One key value: numbers (dates, sizes) or text already in its comparator's form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Num(i64),
    Text(String),
}

/// The message's envelope, or an empty one (a summary that cannot be read sorts as empty).
pub fn envelope_of(store: &mut dyn Mailstore, folder: &str, uid: u32) -> Envelope {
    store.mime(folder, uid).ok().and_then(|m| m.parts.into_iter().next()).and_then(|p| p.envelope).unwrap_or_default()
}

/// The value of `key` for one message (RFC 5256 §3, RFC 5957 §3).
fn value(key: SortKey, m: &Match, env: &Envelope) -> Val {
    let text = |s: String| Val::Text(s);
    match key {
        SortKey::Arrival => Val::Num(m.internal_date),
        SortKey::Size => Val::Num(i64::try_from(m.size).unwrap_or(i64::MAX)),
        SortKey::Date => Val::Num(sent_time(env, m.internal_date)),
        SortKey::Subject => text(base_subject(env.subject.as_deref().unwrap_or("")).0.to_ascii_uppercase()),
        SortKey::From => text(addr_mailbox(env.from.as_deref())),
        SortKey::To => text(addr_mailbox(env.to.as_deref())),
        SortKey::Cc => text(addr_mailbox(env.cc.as_deref())),
        SortKey::DisplayFrom => text(display(env.from.as_deref())),
        SortKey::DisplayTo => text(display(env.to.as_deref())),
    }
}

/// RFC 5256 §2.2: the Date field in UTC, else the INTERNALDATE.
pub fn sent_time(env: &Envelope, internal: i64) -> i64 {
    env.date.as_deref().and_then(rfc5322_time).unwrap_or(internal)
}

/// RFC 5256 §3 FROM/TO/CC: the addr-mailbox of the first address, i;ascii-casemap.
fn addr_mailbox(field: Option<&str>) -> String {
    let first = field.map(parse_addresses).and_then(|a| a.into_iter().next());
    first.and_then(|a| a.mailbox).unwrap_or_default().to_ascii_uppercase()
}

/// RFC 5957 §3: the first address's display name (RFC 2047 decoded) if not empty, else
/// its addr-spec; compared by i;unicode-casemap (RFC 5051).
fn display(field: Option<&str>) -> String {
    let Some(a) = field.map(parse_addresses).and_then(|a| a.into_iter().next()) else {
        return String::new();
    };
    let name = a.name.as_deref().map(|n| decode_rfc2047(n.as_bytes())).filter(|n| !n.trim().is_empty());
    let spec = || match (&a.mailbox, &a.host) {
        (Some(m), Some(h)) => format!("{m}@{h}"),
        (Some(m), None) => m.clone(),
        _ => String::new(),
    };
    fold(name.as_deref().map_or_else(spec, |n| n.trim().to_owned()).as_str())
}

/// RFC 5322 §3.3 `date-time` in unix seconds (UTC); obsolete zone names (§4.3) count,
/// unknown ones as `+0000`.
pub fn rfc5322_time(s: &str) -> Option<i64> {
    let day = super::search::rfc5322_day(s)?;
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    let mut w = s.split_whitespace().skip(3);
    let mut hms = w.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m) = (hms.next()??, hms.next()??);
    let sec = hms.next().flatten().unwrap_or(0);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&sec) {
        return None;
    }
    let zone = w.next().map_or(0, zone_offset);
    Some(day * 86_400 + h * 3600 + m * 60 + sec - zone)
}

/// Seconds east of UTC of an RFC 5322 §3.3 `zone` or §4.3 `obs-zone`.
fn zone_offset(z: &str) -> i64 {
    let b = z.as_bytes();
    if let (Some(&sign @ (b'+' | b'-')), Some(d)) = (b.first(), z.get(1..5)) {
        let n: i64 = d.parse().unwrap_or(0);
        let secs = (n / 100) * 3600 + (n % 100) * 60;
        return if sign == b'-' { -secs } else { secs };
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => 0,
    };
    hours * 3600
}

/// RFC 5256 §2.1 base subject: RFC 2047 decoded, white space runs as one space, then
/// trailers `(fwd)`, leaders `Re:`/`Fw:`/`Fwd:` with `[blob]`s, and `[fwd: ...]` wrappers
/// removed until nothing changes. `true` if anything marked it a reply or forward (used by
/// THREAD=REFERENCES, §3 step 5).
pub fn base_subject(raw: &str) -> (String, bool) {
    let decoded = decode_rfc2047(raw.as_bytes());
    let spaced: String = decoded.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = spaced.as_str();
    let mut reply = false;
    let mut rounds = 0;
    loop {
        rounds += 1;
        // Step 2: subj-trailer.
        while let Some(r) = strip_suffix_ci(s.trim_end(), "(fwd)") {
            s = r;
            reply = true;
        }
        s = s.trim_end();
        // Steps 3 and 4: subj-leader and a leading subj-blob.
        while rounds < SUBJECT_ROUNDS_MAX {
            rounds += 1;
            s = s.trim_start();
            if let Some(r) = strip_refwd(s) {
                s = r;
                reply = true;
            } else if let Some(r) = strip_blob(s).filter(|r| !r.trim().is_empty()) {
                s = r;
            } else {
                break;
            }
        }
        // Step 5: subj-fwd-hdr ... subj-fwd-trl.
        match strip_prefix_ci(s, "[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) if rounds < SUBJECT_ROUNDS_MAX => {
                s = inner;
                reply = true;
            }
            _ => return (s.to_owned(), reply),
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    let head = s.get(..p.len())?;
    head.eq_ignore_ascii_case(p).then(|| s.get(p.len()..)).flatten()
}

fn strip_suffix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(p.len())?;
    s.get(cut..)?.eq_ignore_ascii_case(p).then(|| s.get(..cut)).flatten()
}

/// RFC 5256 §5 `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_refwd(s: &str) -> Option<&str> {
    let r = strip_prefix_ci(s, "re").or_else(|| strip_prefix_ci(s, "fwd")).or_else(|| strip_prefix_ci(s, "fw"))?;
    let r = r.trim_start();
    let r = strip_blob(r).unwrap_or(r);
    r.strip_prefix(':')
}

/// RFC 5256 §5 `subj-blob = "[" *BLOBCHAR "]" *WSP`, BLOBCHAR excluding `[` and `]`.
fn strip_blob(s: &str) -> Option<&str> {
    let r = s.strip_prefix('[')?;
    let end = r.find([']', '['])?;
    (r.as_bytes().get(end) == Some(&b']')).then(|| r.get(end + 1..).map(str::trim_start)).flatten()
}

/// Orders `job`'s matches (RFC 5256 §3: ties in sequence-number order).
pub fn order(job: &SortJob, folder: &str, store: &mut dyn Mailstore) -> Vec<Match> {
    let needs_env = job.criteria.iter().any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
    let mut keyed: Vec<(Vec<Val>, Match)> = job
        .matches
        .iter()
        .map(|m| {
            let env = if needs_env { envelope_of(store, folder, m.uid) } else { Envelope::default() };
            (job.criteria.iter().map(|c| value(c.key, m, &env)).collect(), *m)
        })
        .collect();
    keyed.sort_by(|(a, ma), (b, mb)| compare(&job.criteria, a, b).then(ma.seq.cmp(&mb.seq)));
    keyed.into_iter().map(|(_, m)| m).collect()
}

fn compare(criteria: &[Criterion], a: &[Val], b: &[Val]) -> Ordering {
    for ((c, x), y) in criteria.iter().zip(a).zip(b) {
        let o = x.cmp(y);
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl Session {
    /// The end of a SORT: `* SORT` with the ordered numbers, then the tagged OK.
    pub(super) fn sort_finished(&mut self, tag: Tag, job: SortJob, store: &mut dyn Mailstore) {
        let Some(sel) = self.selected.as_ref() else {
            return self.tagged(&tag, "OK SORT completed");
        };
        let mut out = b"* SORT".to_vec();
        for m in order(&job, &sel.name, store) {
            let _ = write!(out, " {}", if job.uid { m.uid } else { m.seq });
        }
        out.extend_from_slice(b"\r\n");
        self.raw(out);
        self.tagged(&tag, "OK SORT completed");
    }

    /// `$` inside SORT and THREAD search programs (RFC 5182 §2.2).
    pub(super) fn resolve_saved_sort(&self, cmd: Command) -> Command {
        match cmd {
            Command::Sort { uid, criteria, mut key } => {
                saved_keys(&mut key, &self.saved);
                Command::Sort { uid, criteria, key }
            }
            Command::Thread { uid, algo, mut key } => {
                saved_keys(&mut key, &self.saved);
                Command::Thread { uid, algo, key }
            }
            other => other,
        }
    }
}

/// Starts SORT / UID SORT (RFC 5256 §3) on the selected folder.
pub fn sort_job(criteria: Vec<Criterion>, uid: bool) -> super::search::Sink {
    super::search::Sink::Sort(SortJob { criteria, uid, matches: Vec::new() })
}

/// The capabilities of this module and `thread` (RFC 5256, RFC 5957), appended to the
/// CAPABILITY list.
pub const CAPABILITIES: &str = " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES";
