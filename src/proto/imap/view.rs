//! The selected mailbox as this session sees it (RFC 3501 §2.3.1: UIDs and message
//! sequence numbers), and the untagged updates that keep the client in step: EXISTS
//! (§7.3.1), EXPUNGE (§7.4.1, sent highest first so every number is valid when sent),
//! FETCH FLAGS (§7.4.2) and FLAGS (§7.2.6) when keywords are added.

use super::api::{flag, Changes, FlagUpdate, MsgMeta, Snapshot};
use super::encode;
use super::types::SequenceSet;

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
}

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

    /// Removes `uids`, sending `* n EXPUNGE` for each, highest sequence number first.
    pub fn expunge(&mut self, uids: &[u32], out: &mut Vec<u8>) {
        let mut seqs: Vec<u32> = uids.iter().filter_map(|&u| self.seq_of(u)).collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        for s in seqs {
            let Some(i) = (s as usize).checked_sub(1).filter(|&i| i < self.msgs.len()) else {
                continue;
            };
            self.msgs.remove(i);
            out.extend_from_slice(format!("* {s} EXPUNGE\r\n").as_bytes());
        }
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
    /// .SILENT suppresses them; changes by others are sent only if they differ).
    pub fn update_flags(&mut self, updates: &[FlagUpdate], report: Report, out: &mut Vec<u8>) {
        for u in updates {
            let Some(seq) = self.seq_of(u.uid) else {
                continue;
            };
            let Some(m) = self.msgs.get_mut(seq as usize - 1) else {
                continue;
            };
            let changed = m.flags != u.flags;
            let recent = m.recent;
            m.flags = u.flags;
            m.modseq = u.modseq;
            let (send, uid) = match report {
                Report::Never => (false, false),
                Report::IfChanged => (changed, false),
                Report::Always { uid } => (true, uid),
            };
            if !send {
                continue;
            }
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            if uid {
                out.extend_from_slice(format!("UID {} ", u.uid).as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            encode::msg_flags(out, u.flags, recent, &self.keywords);
            out.extend_from_slice(b")\r\n");
        }
    }
}

/// When [`Selected::update_flags`] sends FETCH FLAGS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Never,
    IfChanged,
    Always { uid: bool },
}

fn keyword_mask(n: usize) -> u32 {
    (0..n.min(flag::KEYWORDS_MAX) as u32).fold(0, |m, i| m | 1 << (i + flag::KEYWORD_SHIFT))
}
