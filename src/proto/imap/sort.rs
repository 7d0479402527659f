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
use super::esearch::{push_range, saved_keys, search_return_opts, ReturnOpts};
use super::parser::Command;
use super::reader::{Bad, P, R};
use super::search::{search_charset, search_keys};
use super::session::Session;
use super::types::Tag;
use crate::charset::decode_rfc2047;
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

/// A SORT in progress: its criteria and the matches found so far with their keys (taken as
/// each match is found, so the reads are spread over the search's yielding steps).
#[derive(Debug)]
pub struct SortJob {
    pub criteria: Vec<Criterion>,
    pub uid: bool,
    /// RFC 5267 ESORT result options (and RFC 5182 SAVE).
    pub ret: Option<ReturnOpts>,
    keyed: Vec<(Vec<Val>, Match)>,
}

impl SortJob {
    /// One more match; returns the bytes its keys count as against the step budget.
    pub fn add(&mut self, m: Match, folder: &str, store: &mut dyn Mailstore) -> u64 {
        let needs_env = self.criteria.iter().any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
        let env = if needs_env { envelope_of(store, folder, m.uid) } else { Envelope::default() };
        self.keyed.push((self.criteria.iter().map(|c| value(c.key, &m, &env)).collect(), m));
        if needs_env {
            super::search::SUMMARY_COST
        } else {
            0
        }
    }
}

/// RFC 5256 §5 `sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria`, after the
/// command name; `search-criteria = charset 1*(SP search-key)`; RFC 5267 §3.2 ESORT
/// `search-return-opts` before the criteria.
pub fn sort_command(p: &mut P, uid: bool) -> R<Command> {
    p.sp()?;
    let ret = search_return_opts(p)?;
    let criteria = sort_criteria(p)?;
    p.sp()?;
    let cs = search_charset(p)?;
    p.sp()?;
    let key = search_keys(p, cs)?;
    Ok(Command::Sort { uid, ret, criteria, key })
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
    store.envelope(folder, uid, None).map(|(env, _)| env).unwrap_or_default()
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
/// its addr-spec; compared by i;unicode-casemap (RFC 5051, [`casemap`]).
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
    casemap(name.as_deref().map_or_else(spec, |n| n.trim().to_owned()).as_str())
}

/// RFC 5051 `i;unicode-casemap` as Dovecot applies it: each character's simple titlecase
/// (its upper case when that is one character), then decomposed ([`DECOMPOSE`]).
pub fn casemap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut up = c.to_uppercase();
        let t = match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        };
        let row = u16::try_from(u32::from(t)).ok().and_then(|cp| DECOMPOSE.binary_search_by_key(&cp, |r| r.0).ok());
        match row.and_then(|i| DECOMPOSE.get(i)) {
            Some(&(_, base, mark)) => {
                out.push(char::from(base));
                out.extend(char::from_u32(0x300 + u32::from(mark)));
            }
            None => out.push(t),
        }
    }
    out
}

/// RFC 5051 §2 step 2 for the Latin letters a display name mostly holds: the canonical
/// decomposition of upper-case U+00A0..U+024F letters that are one ASCII letter and one
/// combining mark (U+0300 + the third value), generated from Python's `unicodedata`; other
/// characters are kept as they are. 111 rows, 444 bytes.
const DECOMPOSE: [(u16, u8, u8); 111] = [
    (0x00C0, b'A', 0x00),
    (0x00C1, b'A', 0x01),
    (0x00C2, b'A', 0x02),
    (0x00C3, b'A', 0x03),
    (0x00C4, b'A', 0x08),
    (0x00C5, b'A', 0x0A),
    (0x00C7, b'C', 0x27),
    (0x00C8, b'E', 0x00),
    (0x00C9, b'E', 0x01),
    (0x00CA, b'E', 0x02),
    (0x00CB, b'E', 0x08),
    (0x00CC, b'I', 0x00),
    (0x00CD, b'I', 0x01),
    (0x00CE, b'I', 0x02),
    (0x00CF, b'I', 0x08),
    (0x00D1, b'N', 0x03),
    (0x00D2, b'O', 0x00),
    (0x00D3, b'O', 0x01),
    (0x00D4, b'O', 0x02),
    (0x00D5, b'O', 0x03),
    (0x00D6, b'O', 0x08),
    (0x00D9, b'U', 0x00),
    (0x00DA, b'U', 0x01),
    (0x00DB, b'U', 0x02),
    (0x00DC, b'U', 0x08),
    (0x00DD, b'Y', 0x01),
    (0x0100, b'A', 0x04),
    (0x0102, b'A', 0x06),
    (0x0104, b'A', 0x28),
    (0x0106, b'C', 0x01),
    (0x0108, b'C', 0x02),
    (0x010A, b'C', 0x07),
    (0x010C, b'C', 0x0C),
    (0x010E, b'D', 0x0C),
    (0x0112, b'E', 0x04),
    (0x0114, b'E', 0x06),
    (0x0116, b'E', 0x07),
    (0x0118, b'E', 0x28),
    (0x011A, b'E', 0x0C),
    (0x011C, b'G', 0x02),
    (0x011E, b'G', 0x06),
    (0x0120, b'G', 0x07),
    (0x0122, b'G', 0x27),
    (0x0124, b'H', 0x02),
    (0x0128, b'I', 0x03),
    (0x012A, b'I', 0x04),
    (0x012C, b'I', 0x06),
    (0x012E, b'I', 0x28),
    (0x0130, b'I', 0x07),
    (0x0134, b'J', 0x02),
    (0x0136, b'K', 0x27),
    (0x0139, b'L', 0x01),
    (0x013B, b'L', 0x27),
    (0x013D, b'L', 0x0C),
    (0x0143, b'N', 0x01),
    (0x0145, b'N', 0x27),
    (0x0147, b'N', 0x0C),
    (0x014C, b'O', 0x04),
    (0x014E, b'O', 0x06),
    (0x0150, b'O', 0x0B),
    (0x0154, b'R', 0x01),
    (0x0156, b'R', 0x27),
    (0x0158, b'R', 0x0C),
    (0x015A, b'S', 0x01),
    (0x015C, b'S', 0x02),
    (0x015E, b'S', 0x27),
    (0x0160, b'S', 0x0C),
    (0x0162, b'T', 0x27),
    (0x0164, b'T', 0x0C),
    (0x0168, b'U', 0x03),
    (0x016A, b'U', 0x04),
    (0x016C, b'U', 0x06),
    (0x016E, b'U', 0x0A),
    (0x0170, b'U', 0x0B),
    (0x0172, b'U', 0x28),
    (0x0174, b'W', 0x02),
    (0x0176, b'Y', 0x02),
    (0x0178, b'Y', 0x08),
    (0x0179, b'Z', 0x01),
    (0x017B, b'Z', 0x07),
    (0x017D, b'Z', 0x0C),
    (0x01A0, b'O', 0x1B),
    (0x01AF, b'U', 0x1B),
    (0x01CD, b'A', 0x0C),
    (0x01CF, b'I', 0x0C),
    (0x01D1, b'O', 0x0C),
    (0x01D3, b'U', 0x0C),
    (0x01E6, b'G', 0x0C),
    (0x01E8, b'K', 0x0C),
    (0x01EA, b'O', 0x28),
    (0x01F4, b'G', 0x01),
    (0x01F8, b'N', 0x00),
    (0x0200, b'A', 0x0F),
    (0x0202, b'A', 0x11),
    (0x0204, b'E', 0x0F),
    (0x0206, b'E', 0x11),
    (0x0208, b'I', 0x0F),
    (0x020A, b'I', 0x11),
    (0x020C, b'O', 0x0F),
    (0x020E, b'O', 0x11),
    (0x0210, b'R', 0x0F),
    (0x0212, b'R', 0x11),
    (0x0214, b'U', 0x0F),
    (0x0216, b'U', 0x11),
    (0x0218, b'S', 0x26),
    (0x021A, b'T', 0x26),
    (0x021E, b'H', 0x0C),
    (0x0226, b'A', 0x07),
    (0x0228, b'E', 0x27),
    (0x022E, b'O', 0x07),
    (0x0232, b'Y', 0x04),
];

/// RFC 5322 §3.3 `date-time` in unix seconds (UTC); obsolete zone names (§4.3) count,
/// unknown ones as `+0000`.
pub fn rfc5322_time(s: &str) -> Option<i64> {
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    let mut w = s.split_ascii_whitespace();
    let day = super::search::civil_day(&mut w)?;
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
    let names: [(&str, i64); 8] =
        [("EDT", -4), ("EST", -5), ("CDT", -5), ("CST", -6), ("MDT", -6), ("MST", -7), ("PDT", -7), ("PST", -8)];
    names.iter().find(|(n, _)| z.eq_ignore_ascii_case(n)).map_or(0, |(_, h)| h * 3600)
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
fn order(job: SortJob) -> Vec<Match> {
    let mut keyed = job.keyed;
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
    pub(super) fn sort_finished(&mut self, tag: Tag, job: SortJob) {
        let (uid, ret) = (job.uid, job.ret);
        let sorted = order(job);
        let id = |m: &Match| if uid { m.uid } else { m.seq };
        match ret {
            Some(opts) => {
                if let Some(line) = esort_line(&tag, uid, opts, &sorted, id) {
                    self.raw_chunked(line);
                }
                if opts.save {
                    self.saved = saved_of(opts, &sorted);
                }
                // RFC 5267 §4.2: CONTEXT=SORT live updates are refused (the sort values of
                // every match would have to be kept); the result itself is complete.
                if opts.update {
                    return self.tagged(&tag, &format!("OK [NOUPDATE \"{tag}\"] SORT completed, not updated"));
                }
            }
            None => {
                let mut out = b"* SORT".to_vec();
                for m in &sorted {
                    let _ = write!(out, " {}", id(m));
                }
                out.extend_from_slice(b"\r\n");
                self.raw_chunked(out);
            }
        }
        self.tagged(&tag, "OK SORT completed");
    }

    /// `$` inside SORT and THREAD search programs (RFC 5182 §2.2).
    pub(super) fn resolve_saved_sort(&self, cmd: Command) -> Command {
        match cmd {
            Command::Sort { uid, ret, criteria, mut key } => {
                saved_keys(&mut key, &self.saved);
                Command::Sort { uid, ret, criteria, key }
            }
            Command::Thread { uid, algo, mut key } => {
                saved_keys(&mut key, &self.saved);
                Command::Thread { uid, algo, key }
            }
            other => other,
        }
    }
}

/// RFC 5267 §3.2 ESORT: the `* ESEARCH` line, MIN/MAX the first and last in sort order and
/// ALL in sort order (a range only for an ascending run); `None` for SAVE alone.
fn esort_line(tag: &Tag, uid: bool, o: ReturnOpts, sorted: &[Match], id: impl Fn(&Match) -> u32) -> Option<Vec<u8>> {
    if !(o.min || o.max || o.all || o.count || o.update || o.partial.is_some()) {
        return None;
    }
    let mut out = format!("* ESEARCH (TAG \"{tag}\")").into_bytes();
    if uid {
        out.extend_from_slice(b" UID");
    }
    if let (true, Some(m)) = (o.min, sorted.first()) {
        let _ = write!(out, " MIN {}", id(m));
    }
    if let (true, Some(m)) = (o.max, sorted.last()) {
        let _ = write!(out, " MAX {}", id(m));
    }
    if o.count {
        let _ = write!(out, " COUNT {}", sorted.len());
    }
    if o.all && !sorted.is_empty() {
        let _ = write!(out, " ALL {}", runs_of(sorted, &id));
    }
    if let Some((lo, hi)) = o.partial {
        // RFC 5267 §4.4: positions `lo..=hi` of the sorted result (1-based), in sort order.
        let (a, b) = ((lo as usize).saturating_sub(1), (hi as usize).min(sorted.len()));
        let part = sorted.get(a..b).unwrap_or_default();
        let _ = match part.is_empty() {
            true => write!(out, " PARTIAL ({lo}:{hi} NIL)"),
            false => write!(out, " PARTIAL ({lo}:{hi} {})", runs_of(part, &id)),
        };
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// Matches in sort order as a set: a range only for an ascending run (`3:4,2`).
fn runs_of(sorted: &[Match], id: &impl Fn(&Match) -> u32) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for m in sorted {
        match runs.last_mut() {
            Some(r) if r.1.checked_add(1) == Some(id(m)) => r.1 = id(m),
            _ => runs.push((id(m), id(m))),
        }
    }
    super::types::format_ranges(&runs)
}

/// The UID ranges SAVE keeps (RFC 5182 §2.4: only MIN and/or MAX, else every match).
fn saved_of(o: ReturnOpts, sorted: &[Match]) -> Vec<(u32, u32)> {
    let mut uids: Vec<u32> = match (o.min || o.max) && !o.all && !o.count {
        true => [(o.min, sorted.first()), (o.max, sorted.last())]
            .into_iter()
            .filter_map(|(want, m)| m.filter(|_| want).map(|m| m.uid))
            .collect(),
        false => sorted.iter().map(|m| m.uid).collect(),
    };
    uids.sort_unstable();
    let mut v = Vec::new();
    uids.into_iter().for_each(|u| push_range(&mut v, u));
    v
}

/// Starts SORT / UID SORT (RFC 5256 §3) on the selected folder.
pub fn sort_job(criteria: Vec<Criterion>, uid: bool, ret: Option<ReturnOpts>) -> super::search::Sink {
    super::search::Sink::Sort(SortJob { criteria, uid, ret, keyed: Vec::new() })
}

/// The capabilities of this module and `thread` (RFC 5256, RFC 5957), appended to the
/// CAPABILITY list.
pub const CAPABILITIES: &str = " ESORT SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES";
