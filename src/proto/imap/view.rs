//! The selected mailbox as this session sees it (RFC 3501 §2.3.1: UIDs and message
//! sequence numbers), and the untagged updates that keep the client in step: EXISTS
//! (§7.3.1), EXPUNGE (§7.4.1, sent highest first so every number is valid when sent),
//! FETCH FLAGS (§7.4.2) and FLAGS (§7.2.6) when keywords are added; with RFC 7162 CONDSTORE
//! enabled, UID and MODSEQ in every flag update (§3.1), with QRESYNC, VANISHED instead of
//! EXPUNGE (§3.2.10) and the VANISHED (EARLIER) sets of §3.2.5.2 / §3.2.6.
//!
//! Memory (issue 5): a session keeps only what is its own: the UID list in sequence order,
//! shared (`Arc`) with every session that has seen the same folder state and copied only
//! when this session's view differs (its own EXPUNGE before the store's list catches up),
//! and its \Recent UIDs as a few ranges (RFC 3501 §2.3.2). Flags, size, date and MODSEQ
//! are looked up in the store's table by UID ([`Mailstore::metas`]), in batches.

use std::sync::Arc;

use super::api::{flag, Changes, FlagUpdate, Mailstore, MsgMeta, Snapshot};
use super::encode;
use super::types::{format_ranges, SequenceSet};

/// Messages looked up per [`Mailstore::metas`] call while walking a range.
pub const META_BATCH: u32 = 1024;
/// Own STORE MODSEQs remembered until the next update (their FETCH FLAGS were sent).
const OWN_MAX: usize = 64;
/// Ranges per `VANISHED` line (RFC 7162 §3.2.10 allows several; keeps lines bounded).
pub const VANISHED_RANGES_PER_LINE: usize = 1024;

#[derive(Debug)]
pub struct Selected {
    /// Decoded folder name (the store key).
    pub name: String,
    pub read_only: bool,
    /// UIDs in sequence order (ascending), shared with other sessions at the same state.
    uid_list: Arc<[u32]>,
    /// \Recent in this session: sorted, disjoint inclusive UID ranges.
    recent: Vec<(u32, u32)>,
    /// MODSEQs of this session's own flag changes since the last update: already reported
    /// (or silenced by .SILENT), so not reported again when the store lists them.
    own: Vec<u64>,
    pub keywords: Vec<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub generation: u64,
    /// RFC 7162 §3.1.2.1: every change up to this MODSEQ has been reported to the client.
    pub highest_modseq: u64,
    /// The session is CONDSTORE-enabled (RFC 7162 §3.1) / QRESYNC-enabled (§3.2.3).
    pub condstore: bool,
    pub qresync: bool,
    /// RFC 9051 (ENABLE IMAP4rev2): no \Recent and no RECENT responses.
    pub rev2: bool,
    /// RFC 9586 (ENABLE UIDONLY): UIDFETCH instead of FETCH, VANISHED instead of EXPUNGE.
    pub uidonly: bool,
    /// RFC 5267 live searches of this folder (`context`); gone with the view.
    #[cfg(feature = "imap-context")]
    pub live: super::context::Live,
}

impl Selected {
    pub fn new(name: String, snap: Snapshot, read_only: bool) -> Selected {
        let mut s = Selected {
            name,
            read_only,
            uid_list: snap.uids,
            recent: Vec::new(),
            own: Vec::new(),
            keywords: snap.keywords,
            uidvalidity: snap.uidvalidity,
            uidnext: snap.uidnext,
            generation: snap.generation,
            // RFC 7162 §7: positive; an untouched folder (0) is 1, see `State::next_modseq`.
            highest_modseq: snap.highest_modseq.max(1),
            condstore: false,
            qresync: false,
            rev2: false,
            uidonly: false,
            #[cfg(feature = "imap-context")]
            live: Default::default(),
        };
        s.add_recent(snap.recent_above, 0);
        s
    }

    /// Marks UIDs above both `above` and `from` (up to the highest known) as \Recent.
    fn add_recent(&mut self, above: u32, from: u32) {
        let lo = above.max(from).saturating_add(1);
        let hi = self.max_uid();
        if lo > hi || lo == 0 {
            return;
        }
        match self.recent.last_mut() {
            Some(last) if last.1.saturating_add(1) >= lo => last.1 = last.1.max(hi),
            _ => self.recent.push((lo, hi)),
        }
    }

    fn is_recent(&self, uid: u32) -> bool {
        if self.rev2 {
            return false;
        }
        let i = self.recent.partition_point(|&(a, _)| a <= uid);
        i > 0 && self.recent.get(i - 1).is_some_and(|&(_, b)| uid <= b)
    }

    pub fn count(&self) -> u32 {
        u32::try_from(self.uid_list.len()).unwrap_or(u32::MAX)
    }

    /// Messages with \Recent in this session.
    pub fn recent(&self) -> usize {
        let l = &self.uid_list;
        self.recent.iter().map(|&(a, b)| l.partition_point(|&u| u <= b) - l.partition_point(|&u| u < a)).sum()
    }

    pub fn max_uid(&self) -> u32 {
        self.uid_list.last().copied().unwrap_or(0)
    }

    /// The UID at sequence number `seq`.
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.uid_list.get((seq as usize).checked_sub(1)?).copied()
    }

    /// Message `seq` as the store has it now (`None`: not in the view, or gone from the
    /// store as well). For many messages use [`MetaCursor`].
    #[allow(dead_code)] // kept for callers that need one message (CONDSTORE work)
    pub fn meta(&self, seq: u32, store: &mut dyn Mailstore) -> Option<MsgMeta> {
        self.metas(seq, seq, store).pop().flatten()
    }

    /// Messages `first..=last` (clamped to the view), one entry per sequence number.
    pub fn metas(&self, first: u32, last: u32, store: &mut dyn Mailstore) -> Vec<Option<MsgMeta>> {
        let lo = (first.max(1) as usize) - 1;
        let hi = (last as usize).min(self.uid_list.len());
        let uids = self.uid_list.get(lo..hi).unwrap_or(&[]);
        let mut out = Vec::with_capacity(uids.len());
        store.metas(&self.name, uids, &mut out);
        out.resize(uids.len(), None);
        for (m, &u) in out.iter_mut().zip(uids) {
            match m {
                Some(m) if m.uid == u => m.recent = self.is_recent(u),
                _ => *m = None,
            }
        }
        out
    }

    /// Are RFC 5267 live searches waiting for changes?
    pub fn has_live(&self) -> bool {
        #[cfg(feature = "imap-context")]
        return !self.live.is_empty();
        #[cfg(not(feature = "imap-context"))]
        false
    }

    /// The UIDs in sequence order.
    #[cfg(feature = "imap-context")]
    pub fn uid_slice(&self) -> &[u32] {
        &self.uid_list
    }

    /// Messages by UID as the store has them now (`None`: gone), [`META_BATCH`] per lookup.
    #[cfg(feature = "imap-context")]
    pub fn metas_of(&self, uids: &[u32], store: &mut dyn Mailstore) -> Vec<(u32, Option<MsgMeta>)> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(META_BATCH as usize) {
            let mut got = Vec::with_capacity(chunk.len());
            store.metas(&self.name, chunk, &mut got);
            got.resize(chunk.len(), None);
            for (mut m, &u) in got.into_iter().zip(chunk) {
                m = m.filter(|m| m.uid == u).map(|mut m| {
                    m.recent = self.is_recent(u);
                    m
                });
                out.push((u, m));
            }
        }
        out
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uid_list.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// Sorted sequence-number ranges for a set of sequence numbers or UIDs; never expands.
    pub fn seq_ranges(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, u32)> {
        if !uid {
            return set.normalize(self.count(), true);
        }
        // RFC 3501 §6.4.8: `*` is the largest UID in use; a range matches existing UIDs.
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (a, b) in set.normalize(self.max_uid(), false) {
            let lo = self.uid_list.partition_point(|&u| u < a);
            let hi = self.uid_list.partition_point(|&u| u <= b);
            if lo < hi {
                out.push((lo as u32 + 1, hi as u32));
            }
        }
        out
    }

    /// The UIDs in sequence ranges (bounded by the mailbox size).
    pub fn uids(&self, ranges: &[(u32, u32)]) -> Vec<u32> {
        let mut v = Vec::new();
        for &(a, b) in ranges {
            let lo = (a as usize).saturating_sub(1);
            let hi = (b as usize).min(self.uid_list.len());
            v.extend_from_slice(self.uid_list.get(lo..hi).unwrap_or(&[]));
        }
        v
    }

    /// UIDs in `ranges` whose current flags satisfy `pick` (batched store lookups).
    pub fn uids_where(
        &self,
        ranges: &[(u32, u32)],
        store: &mut dyn Mailstore,
        pick: impl Fn(&MsgMeta) -> bool,
    ) -> Vec<u32> {
        let mut v = Vec::new();
        for &(a, b) in ranges {
            let mut seq = a.max(1);
            while seq <= b.min(self.count()) {
                let last = seq.saturating_add(META_BATCH - 1).min(b);
                v.extend(self.metas(seq, last, store).into_iter().flatten().filter(|m| pick(m)).map(|m| m.uid));
                match last.checked_add(1) {
                    Some(n) => seq = n,
                    None => break,
                }
            }
        }
        v
    }

    /// Every sequence number as one range (empty for an empty mailbox).
    pub fn all(&self) -> Vec<(u32, u32)> {
        match self.count() {
            0 => Vec::new(),
            n => vec![(1, n)],
        }
    }

    /// Applies store changes and writes the untagged responses for them.
    pub fn apply(&mut self, c: Changes, out: &mut Vec<u8>) {
        self.generation = c.generation;
        self.uidnext = self.uidnext.max(c.uidnext);
        self.highest_modseq = self.highest_modseq.max(c.highest_modseq);
        let top = self.max_uid();
        if let Some(now) = c.uids {
            self.replace_list(now, out);
        }
        self.set_keywords(c.keywords, out);
        let own = std::mem::take(&mut self.own);
        let updates: Vec<FlagUpdate> = c
            .flags
            .iter()
            .filter(|m| m.uid <= top && !own.contains(&m.modseq))
            .map(|m| FlagUpdate { uid: m.uid, flags: m.flags, modseq: m.modseq })
            .collect();
        self.update_flags(&updates, Report::IfChanged, out);
        if self.max_uid() > top {
            self.add_recent(c.recent_above, top);
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.count()).as_bytes());
            if !self.rev2 {
                out.extend_from_slice(format!("* {} RECENT\r\n", self.recent()).as_bytes());
            }
        }
        self.uidnext = self.uidnext.max(self.max_uid().saturating_add(1));
    }

    /// Takes the store's current UID list: UIDs this view has that it lacks are expunged
    /// (reported), UIDs above this view's highest are new (EXISTS, sent by the caller).
    fn replace_list(&mut self, now: Arc<[u32]>, out: &mut Vec<u8>) {
        if Arc::ptr_eq(&now, &self.uid_list) {
            return;
        }
        let top = self.max_uid();
        let mut gone = Vec::new();
        let mut cur = now.iter().copied().take_while(|&u| u <= top).peekable();
        for &u in self.uid_list.iter() {
            while cur.next_if(|&c| c < u).is_some() {}
            if cur.peek() != Some(&u) {
                gone.push(u);
            }
        }
        if gone.is_empty() {
            // Same messages (or only new ones): share the store's list.
            if now.len() >= self.uid_list.len() && now.get(..self.uid_list.len()) == Some(&self.uid_list[..]) {
                self.uid_list = now;
                return;
            }
        }
        self.expunge(&gone, out);
        let kept = now.partition_point(|&u| u <= top);
        if now.get(..kept) == Some(&self.uid_list[..]) {
            self.uid_list = now;
        } else {
            // The store has UIDs below our highest that this view never had (not expected:
            // UIDs ascend): keep our sequence numbers, take only the new ones.
            let mut v = self.uid_list.to_vec();
            v.extend(now.iter().copied().filter(|&u| u > top));
            self.uid_list = v.into();
        }
    }

    /// Removes `uids`, sending `* n EXPUNGE` for each, highest sequence number first, or
    /// with QRESYNC enabled `* VANISHED uids` (RFC 7162 §3.2.10).
    pub fn expunge(&mut self, uids: &[u32], out: &mut Vec<u8>) {
        let mut seqs: Vec<u32> = uids.iter().filter_map(|&u| self.seq_of(u)).collect();
        if seqs.is_empty() {
            return;
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        let mut gone: Vec<u32> = uids.iter().copied().filter(|&u| self.seq_of(u).is_some()).collect();
        gone.sort_unstable();
        gone.dedup();
        // RFC 5267 §4.3: REMOVEFROM while the sequence numbers are still valid.
        #[cfg(feature = "imap-context")]
        self.live.expunged(&gone, &self.uid_list, out);
        match self.qresync || self.uidonly {
            true => vanished_lines(out, "", &crate::util::to_ranges(&gone)),
            false => seqs.iter().for_each(|s| out.extend_from_slice(format!("* {s} EXPUNGE\r\n").as_bytes())),
        }
        let kept: Vec<u32> = self.uid_list.iter().copied().filter(|u| gone.binary_search(u).is_err()).collect();
        self.uid_list = kept.into();
    }

    /// RFC 7162 §3.2.5.2 / §3.2.6 without expunge history: the UIDs of `ranges` (clipped to
    /// `1..UIDNEXT`) that are not in the mailbox, as ranges (never expanded).
    pub fn missing_uids(&self, ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let top = self.uidnext.saturating_sub(1);
        let mut out = Vec::new();
        for &(a, b) in ranges {
            let (mut a, b) = (a.max(1), b.min(top));
            if a > b {
                continue;
            }
            let lo = self.uid_list.partition_point(|&u| u < a);
            for &u in self.uid_list.get(lo..).unwrap_or(&[]).iter().take_while(|&&u| u <= b) {
                if u > a {
                    out.push((a, u - 1));
                }
                a = u.saturating_add(1);
            }
            if a <= b {
                out.push((a, b));
            }
        }
        out
    }

    /// A grown keyword list: `* FLAGS` and `* OK [PERMANENTFLAGS]` again (§7.2.6).
    pub fn set_keywords(&mut self, keywords: Vec<String>, out: &mut Vec<u8>) {
        if keywords.len() > self.keywords.len() {
            self.keywords = keywords;
            self.flags_responses(out);
        }
    }

    /// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` (RFC 3501 §6.3.1).
    pub fn flags_responses(&self, out: &mut Vec<u8>) {
        let all = flag::SYSTEM | keyword_mask(self.keywords.len());
        out.extend_from_slice(b"* FLAGS ");
        encode::flags(out, all, &self.keywords);
        out.extend_from_slice(b"\r\n* OK [PERMANENTFLAGS ");
        let mut perm = Vec::new();
        encode::flags(&mut perm, all, &self.keywords);
        if self.keywords.len() < flag::KEYWORDS_MAX {
            perm.pop();
            perm.extend_from_slice(b" \\*)");
        }
        if self.read_only {
            perm = b"()".to_vec();
        }
        out.extend_from_slice(&perm);
        out.extend_from_slice(b"] Flags permitted\r\n");
    }

    /// New flag values, reported as `* n FETCH (FLAGS ...)` per `report` (RFC 3501 §6.4.6:
    /// .SILENT suppresses them). Own changes (`Never`, `Silent`, `Always`) are remembered by
    /// MODSEQ so the next update from the store does not report them again. With CONDSTORE
    /// enabled the lines carry UID and MODSEQ, and a silent STORE still reports the new
    /// MODSEQ (RFC 7162 §3.1, §3.1.3).
    pub fn update_flags(&mut self, updates: &[FlagUpdate], report: Report, out: &mut Vec<u8>) {
        for u in updates {
            let Some(seq) = self.seq_of(u.uid) else {
                continue;
            };
            let (send, uid, flags) = match report {
                Report::Never => (false, false, false),
                Report::Silent => (self.condstore, true, false),
                Report::IfChanged => (true, false, true),
                Report::Always { uid } => (true, uid, true),
            };
            if report != Report::IfChanged && !self.own.contains(&u.modseq) && self.own.len() < OWN_MAX {
                self.own.push(u.modseq);
            }
            if !send {
                continue;
            }
            if self.uidonly {
                // RFC 9586 §3.3: the UID is the response's number, not a data item.
                out.extend_from_slice(format!("* {} UIDFETCH (", u.uid).as_bytes());
            } else {
                out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            }
            if (uid || self.condstore) && !self.uidonly {
                out.extend_from_slice(format!("UID {} ", u.uid).as_bytes());
            }
            if self.condstore {
                out.extend_from_slice(format!("MODSEQ ({})", u.modseq).as_bytes());
                out.extend_from_slice(if flags { b" " } else { b"" });
            }
            if flags {
                out.extend_from_slice(b"FLAGS ");
                encode::msg_flags(out, u.flags, self.is_recent(u.uid), &self.keywords);
            }
            out.extend_from_slice(b")\r\n");
        }
    }
}

/// `* VANISHED [(EARLIER) ]set` lines for UID ranges, [`VANISHED_RANGES_PER_LINE`] each.
pub fn vanished_lines(out: &mut Vec<u8>, earlier: &str, ranges: &[(u32, u32)]) {
    for chunk in ranges.chunks(VANISHED_RANGES_PER_LINE) {
        out.extend_from_slice(format!("* VANISHED {earlier}{}\r\n", format_ranges(chunk)).as_bytes());
    }
}

/// Walks ascending sequence numbers, looking messages up [`META_BATCH`] at a time.
#[derive(Debug, Default)]
pub struct MetaCursor {
    first: u32,
    metas: Vec<Option<MsgMeta>>,
}

impl MetaCursor {
    /// Message `seq` (`None`: gone from the store, or not in the view).
    pub fn get(&mut self, view: &Selected, seq: u32, store: &mut dyn Mailstore) -> Option<MsgMeta> {
        let i = seq.checked_sub(self.first).map(|i| i as usize).filter(|&i| i < self.metas.len() && self.first > 0);
        if let Some(i) = i {
            return self.metas.get(i).copied().flatten();
        }
        self.first = seq;
        self.metas = view.metas(seq, seq.saturating_add(META_BATCH - 1), store);
        self.metas.first().copied().flatten()
    }
}

/// When [`Selected::update_flags`] sends FETCH FLAGS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Never,
    /// STORE .SILENT: nothing, or with CONDSTORE `UID` and `MODSEQ` only.
    Silent,
    IfChanged,
    Always {
        uid: bool,
    },
}

fn keyword_mask(n: usize) -> u32 {
    (0..n.min(flag::KEYWORDS_MAX) as u32).fold(0, |m, i| m | 1 << (i + flag::KEYWORD_SHIFT))
}
