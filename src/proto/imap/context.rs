//! RFC 5267 CONTEXT=SEARCH: live searches (§4.3 `RETURN (UPDATE)`, the `ADDTO` and
//! `REMOVEFROM` return data of §4.3 and §4.4, `CANCELUPDATE`, the `NOUPDATE` response code
//! of §4.2) and `RETURN (PARTIAL low:high)` (§4.4, kept in `esearch`). CONTEXT=SORT (with
//! feature `imap-sort`): PARTIAL in sort order (`sort`); UPDATE on SORT is always refused with
//! `OK [NOUPDATE "tag"]` (§4.2), keeping the sort values of every match would cost too much.
//!
//! A live search keeps its prepared program and its result as a sorted UID list (at most one
//! entry per message of the selected folder). Changes reach it through small hooks: the
//! view's expunge ([`Live::expunged`], REMOVEFROM before the EXPUNGE lines, so the
//! sequence numbers are still valid), and flag changes and new messages, marked by
//! [`Live::mark`] and evaluated by `Session::context_flush` before the next tagged reply or
//! IDLE update. Only the changed messages are evaluated against the program. Programs
//! that read the store (BODY, TEXT, headers, sent and save dates) are evaluated for at most
//! [`UPDATE_EVAL_MAX`] messages and [`UPDATE_SCAN_BYTES`] per change; beyond that the
//! search stops being live with `* NO [NOUPDATE "tag"]` (§4.2 allows a server to stop).
//! Programs whose answer changes without a message changing (sequence numbers, OLDER /
//! YOUNGER, RECENT) are refused live updates: the tagged OK carries `[NOUPDATE "tag"]`.

use std::io::Write as _;

use super::api::{Changes, Mailstore, MsgMeta};
use super::esearch::push_range;
use super::parser::Command;
use super::reader::{Bad, P, R};
use super::search::{Candidate, SearchKey, SEARCH_STEP_BYTES};
use super::session::Session;
use super::types::{format_ranges, SequenceSet, Tag};
use super::view::Selected;

/// The capability of this module (RFC 5267 §4).
pub const CAPABILITIES: &str = " CONTEXT=SEARCH";
/// CONTEXT=SORT: SORT with PARTIAL; its UPDATE is refused (module doc).
pub const SORT_CAPABILITY: &str = " CONTEXT=SORT";
/// Live searches per session: each costs its result (a UID per match) and work per change.
pub const LIVE_MAX: usize = 8;
/// Changed messages a text-reading program is evaluated for in one change (more: NOUPDATE).
pub const UPDATE_EVAL_MAX: usize = 256;
/// Message bytes one change may read for one live search (more: NOUPDATE): a few search steps.
pub const UPDATE_SCAN_BYTES: u64 = 4 * SEARCH_STEP_BYTES;
/// Tags in one CANCELUPDATE: more than there can be live searches is only repetition.
pub const CANCEL_TAGS_MAX: usize = 4 * LIVE_MAX;

/// One search kept live (RFC 5267 §4.3).
#[derive(Debug)]
struct LiveSearch {
    tag: String,
    uid: bool,
    key: SearchKey,
    /// The program reads message text (bounded per change, see the module doc).
    reads: bool,
    /// Matching UIDs, ascending.
    result: Vec<u32>,
}

/// The live searches of the selected folder, and the UIDs changed since they were checked.
#[derive(Debug, Default)]
pub struct Live {
    searches: Vec<LiveSearch>,
    /// Flag-changed or new UIDs not yet evaluated (at most the folder's UIDs, deduplicated).
    dirty: Vec<u32>,
}

impl Live {
    /// Any live search?
    pub fn is_empty(&self) -> bool {
        self.searches.is_empty()
    }

    /// Messages whose flags changed or that are new: evaluated at the next flush.
    pub fn mark(&mut self, uids: impl IntoIterator<Item = u32>) {
        if self.searches.is_empty() {
            return;
        }
        self.dirty.extend(uids);
        self.dirty.sort_unstable();
        self.dirty.dedup();
    }

    /// `uids` are being expunged from a view whose UID list (sequence order) is `list`:
    /// `REMOVEFROM` lines for the live results that held them.
    pub fn expunged(&mut self, uids: &[u32], list: &[u32], out: &mut Vec<u8>) {
        self.dirty.retain(|u| uids.binary_search(u).is_err());
        for s in &mut self.searches {
            let gone: Vec<u32> = uids.iter().copied().filter(|u| s.result.binary_search(u).is_ok()).collect();
            let Some(&first) = gone.first() else { continue };
            let pos = s.result.partition_point(|&u| u < first) + 1;
            let ids = ids_in(&gone, s.uid, list);
            s.result.retain(|u| gone.binary_search(u).is_err());
            update_line(out, &s.tag, s.uid, "REMOVEFROM", pos, &ids);
        }
    }
}

/// The numbers of `uids` (ascending) as a response shows them: UIDs, or their sequence
/// numbers in `list`.
fn ids_in(uids: &[u32], uid: bool, list: &[u32]) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for &u in uids {
        match uid {
            true => push_range(&mut v, u),
            false => {
                if let Ok(i) = list.binary_search(&u) {
                    push_range(&mut v, u32::try_from(i + 1).unwrap_or(u32::MAX));
                }
            }
        }
    }
    v
}

/// `* ESEARCH (TAG "t") [UID] ADDTO|REMOVEFROM (pos set)` (RFC 5267 §4.3, §6).
fn update_line(out: &mut Vec<u8>, tag: &str, uid: bool, what: &str, pos: usize, ids: &[(u32, u32)]) {
    if ids.is_empty() {
        return;
    }
    let _ = write!(out, "* ESEARCH (TAG \"{tag}\")");
    if uid {
        out.extend_from_slice(b" UID");
    }
    let _ = write!(out, " {what} ({pos} {})\r\n", format_ranges(ids));
}

/// Does the program read message text, the stored summary or the record (save date)?
fn reads(key: &SearchKey) -> bool {
    match key {
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::Sent(..)
        | SearchKey::Saved(..) => true,
        SearchKey::Not(k) => reads(k),
        SearchKey::Or(a, b) => reads(a) || reads(b),
        SearchKey::And(keys) => keys.iter().any(reads),
        _ => false,
    }
}

/// Can the answer change without a message changing (sequence numbers shift, time
/// passes, \Recent is per session)? Such programs are not kept live.
fn drifts(key: &SearchKey) -> bool {
    match key {
        SearchKey::Ranges { uid: false, .. } | SearchKey::Seq(_) | SearchKey::Age { .. } | SearchKey::Recent => true,
        SearchKey::Not(k) => drifts(k),
        SearchKey::Or(a, b) => drifts(a) || drifts(b),
        SearchKey::And(keys) => keys.iter().any(drifts),
        _ => false,
    }
}

/// RFC 5267 §6 `"CANCELUPDATE" 1*(SP quoted)`, after the command name.
pub fn cancel_update(p: &mut P) -> R<Command> {
    let mut tags = Vec::new();
    while p.eat(b' ') {
        if tags.len() >= CANCEL_TAGS_MAX {
            return Err(Bad("Too many tags"));
        }
        tags.push(String::from_utf8_lossy(&p.quoted()?).into_owned());
    }
    match tags.is_empty() {
        true => Err(Bad("CANCELUPDATE needs a tag")),
        false => Ok(Command::CancelUpdate(tags)),
    }
}

impl Session {
    /// A SEARCH with `RETURN (UPDATE)` finished with `matched`: keeps it live and returns
    /// the tagged OK text (with `[NOUPDATE "tag"]` when refused, RFC 5267 §4.2).
    pub(super) fn context_start(&mut self, tag: &Tag, key: SearchKey, uid: bool, matched: Vec<u32>) -> String {
        let refused = format!("OK [NOUPDATE \"{tag}\"] SEARCH completed, not updated");
        let Some(sel) = self.selected.as_mut() else {
            return refused;
        };
        let live = &mut sel.live;
        live.searches.retain(|s| s.tag != tag.as_str());
        if live.searches.len() >= LIVE_MAX || drifts(&key) {
            return refused;
        }
        let reads = reads(&key);
        live.searches.push(LiveSearch { tag: tag.as_str().to_owned(), uid, key, reads, result: matched });
        "OK SEARCH completed".to_owned()
    }

    /// RFC 5267 §4.3 CANCELUPDATE: ends the named live searches; an unknown tag is BAD.
    pub(super) fn cancel_update(&mut self, tag: Tag, tags: &[String]) {
        let Some(sel) = self.selected.as_mut() else {
            return self.tagged(&tag, "BAD No mailbox selected");
        };
        let known = tags.iter().all(|t| sel.live.searches.iter().any(|s| &s.tag == t));
        if !known {
            return self.tagged(&tag, "BAD Unknown search tag");
        }
        sel.live.searches.retain(|s| !tags.contains(&s.tag));
        self.tagged(&tag, "OK CANCELUPDATE completed");
    }

    /// Evaluates the marked messages against every live search: `ADDTO` / `REMOVEFROM`.
    pub(super) fn context_flush(&mut self, store: &mut dyn Mailstore) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        if sel.live.dirty.is_empty() {
            return;
        }
        let dirty = std::mem::take(&mut sel.live.dirty);
        let mut searches = std::mem::take(&mut sel.live.searches);
        let metas = sel.metas_of(&dirty, store);
        let mut out = Vec::new();
        searches.retain_mut(|s| reevaluate(s, sel, &metas, store, &mut out));
        sel.live.searches = searches;
        self.raw(out);
    }
}

/// One live search against the changed messages (`metas`: current values, `None` = gone);
/// writes its lines; `false` when it stopped being live (NOUPDATE sent).
fn reevaluate(
    s: &mut LiveSearch,
    sel: &Selected,
    metas: &[(u32, Option<MsgMeta>)],
    store: &mut dyn Mailstore,
    out: &mut Vec<u8>,
) -> bool {
    if s.reads && metas.len() > UPDATE_EVAL_MAX {
        return stop(s, out);
    }
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut scanned = 0u64;
    for &(uid, meta) in metas {
        let (Some(m), Some(seq)) = (meta, sel.seq_of(uid)) else { continue };
        let mut c = Candidate::new(&sel.name, seq, m, &sel.keywords, (sel.count(), sel.max_uid()));
        let hit = c.matches(&s.key, store);
        scanned = scanned.saturating_add(c.scanned);
        // A message that cannot be read would give a wrong answer: stop instead.
        let (Ok(hit), true) = (hit, scanned <= UPDATE_SCAN_BYTES) else {
            return stop(s, out);
        };
        match (hit, s.result.binary_search(&uid)) {
            (true, Err(_)) => added.push(uid),
            (false, Ok(_)) => removed.push(uid),
            _ => {}
        }
    }
    let list = sel.uid_slice();
    if let Some(&first) = removed.first() {
        let pos = s.result.partition_point(|&u| u < first) + 1;
        s.result.retain(|u| removed.binary_search(u).is_err());
        update_line(out, &s.tag, s.uid, "REMOVEFROM", pos, &ids_in(&removed, s.uid, list));
    }
    if let Some(&first) = added.first() {
        s.result.extend_from_slice(&added);
        s.result.sort_unstable();
        let pos = s.result.partition_point(|&u| u < first) + 1;
        update_line(out, &s.tag, s.uid, "ADDTO", pos, &ids_in(&added, s.uid, list));
    }
    true
}

/// RFC 5267 §4.2: the server stops updating this search (too much work, or a read failed).
fn stop(s: &LiveSearch, out: &mut Vec<u8>) -> bool {
    let _ = write!(out, "* NO [NOUPDATE \"{}\"] Search no longer updated\r\n", s.tag);
    false
}

/// Hook before the view takes the store's changes: its highest UID and the flag-changed
/// UIDs (nothing to remember without live searches).
pub fn before_apply(sel: &Selected, c: &Changes) -> (u32, Vec<u32>) {
    match sel.live.is_empty() {
        true => (sel.max_uid(), Vec::new()),
        false => (sel.max_uid(), c.flags.iter().map(|m| m.uid).collect()),
    }
}

/// Hook after the view took the changes: marks the flag-changed and the new messages.
pub fn after_apply(sel: &mut Selected, top: u32, flagged: Vec<u32>) {
    if sel.live.is_empty() {
        return;
    }
    let set = SequenceSet::from_ranges(&[(top.saturating_add(1), u32::MAX)]);
    let new = sel.uids(&sel.seq_ranges(&set, true));
    sel.live.mark(flagged.into_iter().chain(new));
}
