//! ESEARCH (RFC 4731: §3.1 `SEARCH RETURN (MIN MAX ALL COUNT)`, §3.2 the `ESEARCH`
//! response with sequence sets) and SEARCHRES (RFC 5182: §2.1 `RETURN (SAVE)` and the
//! search result variable `$`, §2.2 `$` in later commands, §2.4 SAVE with MIN/MAX).
//!
//! The saved result is kept as UID ranges, so messages expunged later simply drop out of it
//! (§2.1: "the server MUST remove [expunged messages] from the search result"). It is reset
//! to empty by SELECT, EXAMINE, CLOSE and UNSELECT (§2.1) and by a failed SAVE search.

use std::io::Write as _;

use super::parser::Command;
use super::reader::{Bad, P, R};
use super::search::{SearchJob, SearchKey, Sink};
use super::session::{store_error, Session};
use super::types::{format_ranges, SequenceSet, Tag};
use super::view::Selected;

/// The capabilities of this module (RFC 4731, RFC 5182), appended to the CAPABILITY list.
/// RFC 5032 WITHIN and RFC 8514 SAVEDATE (search keys in `search`) are listed here too.
pub const CAPABILITIES: &str = " ESEARCH SEARCHRES WITHIN SAVEDATE";

/// Options in one `RETURN (...)`: five exist; more can only repeat them (BAD-INPUTS 103).
pub const RETURN_OPTS_MAX: usize = 8;

/// RFC 4731 §3.1 / RFC 5182 §2.1 result options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOpts {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// RFC 5182 SAVE: keep the result as `$`.
    pub save: bool,
    /// RFC 5267 §4.3 UPDATE: keep the search live (`context`).
    pub update: bool,
    /// RFC 5267 §4.4 PARTIAL: the matches at these 1-based positions (low <= high).
    pub partial: Option<(u32, u32)>,
}

impl ReturnOpts {
    /// Is anything besides SAVE asked for (else no ESEARCH response, RFC 5182 §2.1)?
    fn reports(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some() || self.update
    }
}

/// RFC 4731 §7 `search-return-opts = SP "RETURN" SP "(" [search-return-opt
/// *(SP search-return-opt)] ")"`, at the start of the SEARCH arguments; `None` without
/// RETURN. `RETURN ()` means `ALL` (§3.1). Unknown options are BAD (RFC 4466 §2.6).
pub fn search_return_opts(p: &mut P) -> R<Option<ReturnOpts>> {
    if !p.keyword("RETURN") {
        return Ok(None);
    }
    p.sp()?;
    p.expect(b'(')?;
    let mut o = ReturnOpts::default();
    let mut n = 0;
    while !p.eat(b')') {
        if n > 0 {
            p.sp()?;
        }
        n += 1;
        if n > RETURN_OPTS_MAX {
            return Err(Bad("Too many RETURN options"));
        }
        match p.atom()?.to_ascii_uppercase().as_slice() {
            b"MIN" => o.min = true,
            b"MAX" => o.max = true,
            b"ALL" => o.all = true,
            b"COUNT" => o.count = true,
            b"SAVE" => o.save = true,
            b"UPDATE" if cfg!(feature = "imap-context") => o.update = true,
            b"PARTIAL" if cfg!(feature = "imap-context") => o.partial = Some(partial_range(p)?),
            _ => return Err(Bad("Unknown RETURN option")),
        }
    }
    if n == 0 {
        o.all = true;
    }
    p.sp()?;
    Ok(Some(o))
}

/// RFC 5267 §6 `partial-range = nz-number ":" nz-number` after `PARTIAL SP`; the ends may
/// come in either order (imaptest `search-partial`: `4:2` is `2:4`); `*` is BAD.
fn partial_range(p: &mut P) -> R<(u32, u32)> {
    p.sp()?;
    let a = p.nz_number()?;
    p.expect(b':')?;
    let b = p.nz_number()?;
    Ok((a.min(b), a.max(b)))
}

/// Matches of one ESEARCH, gathered in ascending order (UIDs ascend with sequence numbers).
#[derive(Debug, Default)]
pub struct Collect {
    opts: ReturnOpts,
    uid: bool,
    count: u32,
    /// (sequence number, UID) of the first and last match.
    first: Option<(u32, u32)>,
    last: Option<(u32, u32)>,
    /// MODSEQ of the first and last match (RFC 7162 §3.1.5: MIN/MAX alone report theirs).
    first_modseq: u64,
    last_modseq: u64,
    /// ALL: matches as numbered in the response, as ranges (at most one per message).
    all: Vec<(u32, u32)>,
    /// SAVE: matching UIDs as ranges.
    saved: Vec<(u32, u32)>,
    /// PARTIAL: the matches at the asked positions, as numbered in the response.
    partial: Vec<(u32, u32)>,
    /// UPDATE: every matching UID (at most one per message), the live result's start.
    matched: Vec<u32>,
}

impl Collect {
    pub fn new(opts: ReturnOpts, uid: bool) -> Collect {
        Collect { opts, uid, ..Collect::default() }
    }

    /// One more match (in ascending order).
    pub fn push(&mut self, seq: u32, uid: u32, modseq: u64) {
        self.count = self.count.saturating_add(1);
        if self.first.is_none() {
            self.first = Some((seq, uid));
            self.first_modseq = modseq;
        }
        self.last = Some((seq, uid));
        self.last_modseq = modseq;
        if self.opts.all {
            push_range(&mut self.all, if self.uid { uid } else { seq });
        }
        if self.opts.save {
            push_range(&mut self.saved, uid);
        }
        if let Some((lo, hi)) = self.opts.partial {
            if (lo..=hi).contains(&self.count) {
                push_range(&mut self.partial, if self.uid { uid } else { seq });
            }
        }
        if self.opts.update {
            self.matched.push(uid);
        }
    }

    /// UPDATE: the matching UIDs, ascending (taken once, for the live search).
    #[cfg(feature = "imap-context")]
    pub fn take_matched(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.matched)
    }

    /// The `* ESEARCH` line (RFC 4731 §3.2), or `None` for SAVE alone (RFC 5182 §2.1).
    /// `modseq`: the highest MODSEQ of the matches when the program had a MODSEQ key
    /// (RFC 7162 §3.1.5).
    pub fn line(&self, tag: &Tag, modseq: Option<u64>) -> Option<Vec<u8>> {
        if !self.opts.reports() {
            return None;
        }
        let mut out = format!("* ESEARCH (TAG \"{tag}\")").into_bytes();
        if self.uid {
            out.extend_from_slice(b" UID");
        }
        let id = |(seq, uid): (u32, u32)| if self.uid { uid } else { seq };
        if let (true, Some(f)) = (self.opts.min, self.first) {
            let _ = write!(out, " MIN {}", id(f));
        }
        if let (true, Some(l)) = (self.opts.max, self.last) {
            let _ = write!(out, " MAX {}", id(l));
        }
        if self.opts.count {
            let _ = write!(out, " COUNT {}", self.count);
        }
        if self.opts.all && !self.all.is_empty() {
            let _ = write!(out, " ALL {}", format_ranges(&self.all));
        }
        if let Some((lo, hi)) = self.opts.partial {
            let set = match self.partial.is_empty() {
                true => "NIL".to_owned(),
                false => format_ranges(&self.partial),
            };
            let _ = write!(out, " PARTIAL ({lo}:{hi} {set})");
        }
        if let (Some(top), true) = (modseq, self.count > 0) {
            // RFC 7162 §3.1.5: with only MIN and/or MAX, the MODSEQ of the messages
            // returned; with ALL or COUNT, the highest of all matches.
            let o = self.opts;
            let m = if o.all || o.count {
                top
            } else {
                let min = if o.min { self.first_modseq } else { 0 };
                let max = if o.max { self.last_modseq } else { 0 };
                min.max(max)
            };
            let _ = write!(out, " MODSEQ {m}");
        }
        out.extend_from_slice(b"\r\n");
        Some(out)
    }

    /// The UID ranges to keep as `$`: RFC 5182 §2.4, SAVE with only MIN and/or MAX keeps
    /// just those messages.
    pub fn saved(&self) -> Vec<(u32, u32)> {
        let o = self.opts;
        if (o.min || o.max) && !o.all && !o.count {
            let mut v = Vec::new();
            for (want, m) in [(o.min, self.first), (o.max, self.last)] {
                if let (true, Some((_, uid))) = (want, m) {
                    push_range(&mut v, uid);
                }
            }
            return v;
        }
        self.saved.clone()
    }
}

/// Appends `n` (ascending, or equal to the last) to merged ranges.
pub fn push_range(v: &mut Vec<(u32, u32)>, n: u32) {
    match v.last_mut() {
        Some(last) if n >= last.0 && n <= last.1 => {}
        Some(last) if last.1.checked_add(1) == Some(n) => last.1 = n,
        _ => v.push((n, n)),
    }
}

impl Session {
    /// RFC 5182 §2.2: replaces `$` in `cmd` with the saved result (UIDs, or this view's
    /// sequence numbers for a command without UID).
    pub(super) fn resolve_saved(&self, cmd: Command) -> Command {
        let Some(sel) = self.selected.as_ref() else {
            return cmd;
        };
        let saved = &self.saved;
        let set = |s: SequenceSet, uid: bool| match s.is_saved() {
            true => saved_set(sel, saved, uid),
            false => s,
        };
        match cmd {
            Command::Fetch { uid, set: s, atts, changed_since, vanished } => {
                Command::Fetch { uid, set: set(s, uid), atts, changed_since, vanished }
            }
            Command::Store { uid, set: s, op, silent, flags, unchanged_since } => {
                Command::Store { uid, set: set(s, uid), op, silent, flags, unchanged_since }
            }
            Command::Copy { uid, set: s, mailbox, mv } => Command::Copy { uid, set: set(s, uid), mailbox, mv },
            Command::Expunge(Some(s)) => Command::Expunge(Some(set(s, true))),
            Command::Search { uid, ret, mut key } => {
                saved_keys(&mut key, saved);
                Command::Search { uid, ret, key }
            }
            #[cfg(feature = "imap-sort")]
            other => self.resolve_saved_sort(other),
            #[cfg(not(feature = "imap-sort"))]
            other => other,
        }
    }

    /// The end of a SEARCH (also SORT, THREAD): its response line(s), `$` and the tagged OK.
    pub(super) fn search_finished(&mut self, tag: Tag, job: SearchJob) {
        let modseq = job.modseq_top();
        match job.sink {
            Sink::Line => self.tagged(&tag, "OK SEARCH completed"),
            #[allow(unused_mut)] // `c` is changed by the live search (feature imap-context)
            Sink::Esearch(mut c) => {
                if let Some(line) = c.line(&tag, modseq) {
                    self.raw_chunked(line);
                }
                if c.opts.save {
                    self.saved = c.saved();
                }
                #[cfg(feature = "imap-context")]
                if c.opts.update {
                    let text = self.context_start(&tag, job.key, c.uid, c.take_matched());
                    return self.tagged(&tag, &text);
                }
                self.tagged(&tag, "OK SEARCH completed");
            }
            #[cfg(feature = "imap-sort")]
            Sink::Sort(s) => self.sort_finished(tag, s),
            #[cfg(feature = "imap-sort")]
            Sink::Thread(t) => self.thread_finished(tag, t),
        }
    }

    /// A long response line (ESEARCH ALL, SORT, THREAD of a big folder) as replies of at
    /// most [`super::OUTPUT_CHUNK`] bytes, like FETCH output.
    pub(super) fn raw_chunked(&mut self, line: Vec<u8>) {
        match line.len() <= super::OUTPUT_CHUNK {
            true => self.raw(line),
            false => line.chunks(super::OUTPUT_CHUNK).for_each(|c| self.raw(c.to_vec())),
        }
    }

    /// A SEARCH that could not be read to the end: a SAVE leaves `$` empty (RFC 5182 §2.1).
    pub(super) fn search_failed(&mut self, tag: Tag, job: &SearchJob, e: super::api::StoreError) {
        let save = match &job.sink {
            Sink::Esearch(c) => c.opts.save,
            #[cfg(feature = "imap-sort")]
            Sink::Sort(s) => s.ret.is_some_and(|r| r.save),
            _ => false,
        };
        if save {
            self.saved.clear();
        }
        self.tagged(&tag, store_error(e, false));
    }
}

/// `$` as a set in the command's numbering: UIDs, or the view's sequence numbers.
pub(super) fn saved_set(sel: &Selected, saved: &[(u32, u32)], uid: bool) -> SequenceSet {
    let uids = SequenceSet::from_ranges(saved);
    match uid {
        true => uids,
        false => SequenceSet::from_ranges(&sel.seq_ranges(&uids, true)),
    }
}

/// `$` inside a search program (RFC 5182 §2.2): the saved messages, by UID.
pub(super) fn saved_keys(key: &mut SearchKey, saved: &[(u32, u32)]) {
    match key {
        SearchKey::Seq(s) | SearchKey::Uid(s) if s.is_saved() => *key = SearchKey::Uid(SequenceSet::from_ranges(saved)),
        SearchKey::Not(k) => saved_keys(k, saved),
        SearchKey::Or(a, b) => {
            saved_keys(a, saved);
            saved_keys(b, saved);
        }
        SearchKey::And(keys) => keys.iter_mut().for_each(|k| saved_keys(k, saved)),
        _ => {}
    }
}
