//! The selected mailbox as this session sees it (RFC 3501 §2.3.1: UIDs and message
//! sequence numbers), and the untagged updates that keep the client in step: EXISTS
//! (§7.3.1), EXPUNGE (§7.4.1, sent highest first so every number is valid when sent),
//! FETCH FLAGS (§7.4.2) and FLAGS (§7.2.6) when keywords are added; with RFC 7162 CONDSTORE
//! enabled, UID and MODSEQ in every flag update (§3.1), with QRESYNC, VANISHED instead of
//! EXPUNGE (§3.2.10) and the VANISHED (EARLIER) sets of §3.2.5.2 / §3.2.6.

use super::api::{flag, Changes, FlagUpdate, MsgMeta, Snapshot};
use super::encode;
use super::types::{format_ranges, SequenceSet};

#[derive(Debug)]
pub struct Selected {
    /// Decoded folder name (the store key).
    pub name: String,
    pub read_only: bool,
    pub msgs: Vec<MsgMeta>,
    pub keywords: Vec<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub generation: u64,
    /// RFC 7162 §3.1.2.1: every change up to this MODSEQ has been reported to the client.
    pub highest_modseq: u64,
    /// The session is CONDSTORE-enabled (RFC 7162 §3.1) / QRESYNC-enabled (§3.2.3).
    pub condstore: bool,
    pub qresync: bool,
}

/// Ranges per `VANISHED` line (RFC 7162 §3.2.10 allows several; keeps lines bounded).
pub const VANISHED_RANGES_PER_LINE: usize = 1024;

impl Selected {
    pub fn new(name: String, snap: Snapshot, read_only: bool) -> Selected {
        Selected {
            name,
            read_only,
            msgs: snap.messages,
            keywords: snap.keywords,
            uidvalidity: snap.uidvalidity,
            uidnext: snap.uidnext,
            generation: snap.generation,
            highest_modseq: snap.highest_modseq,
            condstore: false,
            qresync: false,
        }
    }

    pub fn count(&self) -> u32 {
        u32::try_from(self.msgs.len()).unwrap_or(u32::MAX)
    }

    /// Messages with \Recent in this session.
    pub fn recent(&self) -> usize {
        self.msgs.iter().filter(|m| m.recent).count()
    }

    pub fn max_uid(&self) -> u32 {
        self.msgs.last().map_or(0, |m| m.uid)
    }

    pub fn meta(&self, seq: u32) -> Option<MsgMeta> {
        self.msgs.get((seq as usize).checked_sub(1)?).copied()
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.msgs.binary_search_by_key(&uid, |m| m.uid).ok().map(|i| i as u32 + 1)
    }

    /// Sorted sequence-number ranges for a set of sequence numbers or UIDs; never expands.
    pub fn seq_ranges(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, u32)> {
        if !uid {
            return set.normalize(self.count(), true);
        }
        // RFC 3501 §6.4.8: `*` is the largest UID in use; a range matches existing UIDs.
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (a, b) in set.normalize(self.max_uid(), false) {
            let lo = self.msgs.partition_point(|m| m.uid < a);
            let hi = self.msgs.partition_point(|m| m.uid <= b);
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
            let hi = (b as usize).min(self.msgs.len());
            v.extend(self.msgs.get(lo..hi).unwrap_or(&[]).iter().map(|m| m.uid));
        }
        v
    }

    /// Applies store changes and writes the untagged responses for them.
    pub fn apply(&mut self, c: Changes, out: &mut Vec<u8>) {
        self.generation = c.generation;
        self.uidnext = self.uidnext.max(c.uidnext);
        self.highest_modseq = self.highest_modseq.max(c.highest_modseq);
        self.expunge(&c.expunged, out);
        self.set_keywords(c.keywords, out);
        let updates: Vec<FlagUpdate> =
            c.flags.iter().map(|m| FlagUpdate { uid: m.uid, flags: m.flags, modseq: m.modseq }).collect();
        self.update_flags(&updates, Report::IfChanged, out);
        let before = self.msgs.len();
        let top = self.max_uid();
        self.msgs.extend(c.added.into_iter().filter(|m| m.uid > top));
        if self.msgs.len() != before {
            out.extend_from_slice(format!("* {} EXISTS\r\n* {} RECENT\r\n", self.msgs.len(), self.recent()).as_bytes());
        }
        self.uidnext = self.uidnext.max(self.max_uid().saturating_add(1));
    }

    /// Removes `uids`, sending `* n EXPUNGE` for each, highest sequence number first, or
    /// with QRESYNC enabled `* VANISHED uids` (RFC 7162 §3.2.10).
    pub fn expunge(&mut self, uids: &[u32], out: &mut Vec<u8>) {
        let mut seqs: Vec<u32> = uids.iter().filter_map(|&u| self.seq_of(u)).collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        let mut gone = Vec::new();
        for s in seqs {
            let Some(i) = (s as usize).checked_sub(1).filter(|&i| i < self.msgs.len()) else {
                continue;
            };
            let m = self.msgs.remove(i);
            match self.qresync {
                true => gone.push(m.uid),
                false => out.extend_from_slice(format!("* {s} EXPUNGE\r\n").as_bytes()),
            }
        }
        gone.reverse();
        vanished_lines(out, "", &uid_runs(&gone));
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
            let lo = self.msgs.partition_point(|m| m.uid < a);
            for m in self.msgs.get(lo..).unwrap_or(&[]).iter().take_while(|m| m.uid <= b) {
                if m.uid > a {
                    out.push((a, m.uid - 1));
                }
                a = m.uid.saturating_add(1);
            }
            if a <= b && a != 0 {
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
    /// .SILENT suppresses them; changes by others are sent only if they differ). With
    /// CONDSTORE enabled the lines carry UID and MODSEQ, and a silent STORE still reports
    /// the new MODSEQ (RFC 7162 §3.1, §3.1.3).
    pub fn update_flags(&mut self, updates: &[FlagUpdate], report: Report, out: &mut Vec<u8>) {
        for u in updates {
            let Some(seq) = self.seq_of(u.uid) else {
                continue;
            };
            let Some(m) = self.msgs.get_mut(seq as usize - 1) else {
                continue;
            };
            let changed = m.flags != u.flags || (self.condstore && m.modseq != u.modseq);
            let recent = m.recent;
            m.flags = u.flags;
            m.modseq = u.modseq;
            let (send, uid, flags) = match report {
                Report::Never => (false, false, false),
                Report::Silent => (self.condstore, true, false),
                Report::IfChanged => (changed, false, true),
                Report::Always { uid } => (true, uid, true),
            };
            if !send {
                continue;
            }
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            if uid || self.condstore {
                out.extend_from_slice(format!("UID {} ", u.uid).as_bytes());
            }
            if self.condstore {
                out.extend_from_slice(format!("MODSEQ ({})", u.modseq).as_bytes());
                out.extend_from_slice(if flags { b" " } else { b"" });
            }
            if flags {
                out.extend_from_slice(b"FLAGS ");
                encode::msg_flags(out, u.flags, recent, &self.keywords);
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

/// Ascending UIDs as runs of consecutive numbers.
fn uid_runs(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(u) => last.1 = u,
            _ => out.push((u, u)),
        }
    }
    out
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
