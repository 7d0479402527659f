//! In-RAM state of one folder, built by applying records in file order (see `format`):
//! the message table (32 bytes per message, DESIGN.md §2.6), UID and MODSEQ counters
//! (RFC 3501 §2.3.1.1, RFC 7162 §3.1) and the keyword table.

use super::format::{self, FolderHeader, Kind, MessageFixed, RecordHeader, HEADER_LEN, MESSAGE_FIXED};

/// One live message: exactly 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    pub uid: u32,
    pub flags: u32,
    /// Body size in bytes (RFC822.SIZE).
    pub size: u32,
    /// Internal date, Unix seconds (clamped to 0..=u32::MAX).
    pub date: u32,
    pub modseq: u64,
    /// Record offset (low 48 bits) and meta length (high 16 bits).
    pub pos: u64,
}

impl Entry {
    /// File offset of the record.
    pub fn record_offset(&self) -> u64 {
        self.pos & 0xFFFF_FFFF_FFFF
    }

    pub fn meta_len(&self) -> u32 {
        (self.pos >> 48) as u32
    }

    /// File offset of the body's first byte.
    pub fn body_offset(&self) -> u64 {
        self.record_offset() + (HEADER_LEN + MESSAGE_FIXED) as u64 + u64::from(self.meta_len())
    }

    /// Bytes the whole record takes on disk.
    pub fn record_len(&self) -> u64 {
        self.body_offset() - self.record_offset() + u64::from(self.size)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.date.to_le_bytes());
        out.extend_from_slice(&self.modseq.to_le_bytes());
        out.extend_from_slice(&self.pos.to_le_bytes());
    }

    pub fn decode(b: &[u8; 32]) -> Entry {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
        Entry {
            uid: u32_at(0),
            flags: u32_at(4),
            size: u32_at(8),
            date: u32_at(12),
            modseq: u64_at(16),
            pos: u64_at(24),
        }
    }
}

/// Everything known about a folder after applying records up to `end`.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// UID of the last MESSAGE record applied (UIDs ascend in file order; compaction keeps a
    /// higher `uidnext` floor in HEADER, so this is tracked apart from it).
    pub last_uid: u32,
    pub highest_modseq: u64,
    pub created: i64,
    pub keywords: Vec<String>,
    /// Live messages in ascending UID order; not kept in light mode (deliver).
    pub entries: Vec<Entry>,
    pub track_entries: bool,
    /// Bytes of live MESSAGE records (for reclaimable space).
    pub live_bytes: u64,
    /// File offset after the last applied record.
    pub end: u64,
    /// Offset and CRC field of the last applied record (the index records them).
    pub last_pos: u64,
    pub last_crc: u32,
    /// Byte spans skipped as damaged, and whether a HEADER was seen.
    pub damaged: Vec<(u64, u64)>,
    pub have_header: bool,
    /// The last expunged messages: their bytes stay in the file until compaction, so an
    /// IMAP session that still shows them can FETCH them (RFC 2180 §4.1.1).
    pub graveyard: std::collections::VecDeque<Entry>,
    /// Recent EXPUNGE records as (MODSEQ, first UID, last UID), for QRESYNC (RFC 7162
    /// §3.2.5.2); complete for changes above `expunge_floor`, at most [`EXPUNGE_LOG_MAX`].
    pub expunge_log: std::collections::VecDeque<(u64, u32, u32)>,
    /// Expunges at or below this MODSEQ may be missing from `expunge_log` (the log's window,
    /// the index the state was loaded from, or the compaction that dropped the records).
    pub expunge_floor: u64,
}

/// Expunged UID ranges remembered per folder (16 bytes each).
pub const EXPUNGE_LOG_MAX: usize = 1024;

/// Expunged entries remembered for sessions that still show them.
pub const GRAVEYARD_MAX: usize = 1024;

/// Why a committed record could not be applied (a logic error on disk, never expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl State {
    pub fn new(track_entries: bool) -> State {
        State { track_entries, end: format::SIGNATURE.len() as u64, ..State::default() }
    }

    /// The MODSEQ of the next change. RFC 7162 §7 makes mod-sequence values positive, so an
    /// untouched folder (MODSEQ 0 on disk) is reported with HIGHESTMODSEQ 1 and its first
    /// change gets 2: a client that saw the empty folder then misses nothing.
    pub fn next_modseq(&self) -> u64 {
        self.highest_modseq.max(1) + 1
    }

    /// UID ranges expunged after `modseq` (unsorted), or `None` when the log may be
    /// incomplete that far back (RFC 7162 §3.2.5.2: then every missing known UID is reported).
    pub fn expunged_since(&self, modseq: u64) -> Option<Vec<(u32, u32)>> {
        (modseq >= self.expunge_floor)
            .then(|| self.expunge_log.iter().filter(|e| e.0 > modseq).map(|e| (e.1, e.2)).collect())
    }

    /// After compaction (the old file's EXPUNGE records are gone from the new one): the
    /// history the old state had goes in front of what was replayed since, so QRESYNC stays
    /// exact across a compaction (RFC 7162 §3.2.5.2).
    pub fn keep_expunge_history(&mut self, older: std::collections::VecDeque<(u64, u32, u32)>, floor: u64) {
        let newer = std::mem::replace(&mut self.expunge_log, older);
        self.expunge_log.extend(newer);
        self.expunge_floor = floor;
        self.trim_expunge_log();
    }

    /// Keeps the newest [`EXPUNGE_LOG_MAX`] ranges; the floor rises past what is dropped.
    fn trim_expunge_log(&mut self) {
        while self.expunge_log.len() > EXPUNGE_LOG_MAX {
            match self.expunge_log.pop_front() {
                Some((m, _, _)) => self.expunge_floor = self.expunge_floor.max(m),
                None => break,
            }
        }
    }

    /// Position of `uid` in the table.
    pub fn find(&self, uid: u32) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&uid, |e| e.uid)
    }

    /// Bytes of the file not used by live messages (what compaction would reclaim).
    pub fn reclaimable(&self) -> u64 {
        let header = format::SIGNATURE.len() as u64 + (HEADER_LEN + 24) as u64;
        self.end.saturating_sub(self.live_bytes + header)
    }

    /// Applies one committed record found at `pos`. `covered` is its checksummed payload prefix
    /// (whole payload for non-MESSAGE kinds); `body_len` the MESSAGE body length.
    pub fn apply(&mut self, pos: u64, h: &RecordHeader, covered: &[u8]) -> Result<(), Invalid> {
        if !self.have_header && h.kind != Kind::Header {
            return Err(Invalid);
        }
        match h.kind {
            Kind::Header => self.apply_header(covered)?,
            Kind::Message => self.apply_message(pos, h, covered)?,
            Kind::Flags => self.apply_flags(covered)?,
            Kind::Expunge => self.apply_expunge(covered)?,
            Kind::Keyword => {
                let (idx, name) = format::decode_keyword(covered).ok_or(Invalid)?;
                let idx = usize::from(idx);
                if self.keywords.len() < idx {
                    return Err(Invalid);
                }
                self.keywords.truncate(idx);
                self.keywords.push(name);
            }
        }
        self.end = pos + h.total();
        self.last_pos = pos;
        self.last_crc = h.crc;
        Ok(())
    }

    fn apply_header(&mut self, p: &[u8]) -> Result<(), Invalid> {
        if self.have_header {
            return Err(Invalid);
        }
        let fh = FolderHeader::decode(p).ok_or(Invalid)?;
        self.have_header = true;
        self.uidvalidity = fh.uidvalidity;
        self.uidnext = fh.uidnext.max(1);
        self.highest_modseq = fh.modseq;
        // A compacted file starts at its predecessor's MODSEQ: older expunges are gone.
        self.expunge_floor = fh.modseq;
        self.created = fh.created;
        Ok(())
    }

    fn apply_message(&mut self, pos: u64, h: &RecordHeader, p: &[u8]) -> Result<(), Invalid> {
        let m = MessageFixed::decode(p).ok_or(Invalid)?;
        if m.uid <= self.last_uid || m.uid == u32::MAX {
            return Err(Invalid);
        }
        self.last_uid = m.uid;
        self.uidnext = self.uidnext.max(m.uid + 1);
        self.highest_modseq = self.highest_modseq.max(m.modseq);
        self.live_bytes += h.total();
        if self.track_entries {
            let size = h.len - MESSAGE_FIXED as u32 - m.meta_len;
            let date = m.date.clamp(0, i64::from(u32::MAX)) as u32;
            let pos = pos | (u64::from(m.meta_len) << 48);
            self.entries.push(Entry { uid: m.uid, flags: m.flags, size, date, modseq: m.modseq, pos });
        }
        Ok(())
    }

    fn apply_flags(&mut self, p: &[u8]) -> Result<(), Invalid> {
        let (modseq, pairs) = format::decode_pairs(p).ok_or(Invalid)?;
        self.highest_modseq = self.highest_modseq.max(modseq);
        if self.track_entries {
            for (uid, flags) in pairs {
                if let Ok(i) = self.find(uid) {
                    if let Some(e) = self.entries.get_mut(i) {
                        e.flags = flags;
                        e.modseq = modseq;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_expunge(&mut self, p: &[u8]) -> Result<(), Invalid> {
        let (modseq, ranges) = format::decode_pairs(p).ok_or(Invalid)?;
        self.highest_modseq = self.highest_modseq.max(modseq);
        if self.track_entries {
            for &(a, b) in &ranges {
                self.expunge_log.push_back((modseq, a.min(b), a.max(b)));
                self.trim_expunge_log();
            }
            let mut freed = 0u64;
            let mut ranges = ranges;
            ranges.sort_unstable();
            let grave = &mut self.graveyard;
            self.entries.retain(|e| {
                // Ranges are sorted by start: the candidate is the last one starting <= uid.
                let i = ranges.partition_point(|&(a, _)| a <= e.uid);
                let gone = i > 0 && ranges.get(i - 1).is_some_and(|&(_, b)| e.uid <= b);
                if gone {
                    freed += e.record_len();
                    if grave.len() >= GRAVEYARD_MAX {
                        grave.pop_front();
                    }
                    grave.push_back(*e);
                }
                !gone
            });
            self.live_bytes = self.live_bytes.saturating_sub(freed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_32_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
        let e = Entry { uid: 7, flags: 3, size: 4096, date: 1_700_000_000, modseq: 99, pos: (12u64 << 48) | 1234 };
        let mut b = Vec::new();
        e.encode(&mut b);
        let arr: [u8; 32] = b.as_slice().try_into().unwrap();
        assert_eq!(Entry::decode(&arr), e);
        assert_eq!(e.record_offset(), 1234);
        assert_eq!(e.meta_len(), 12);
        assert_eq!(e.body_offset(), 1234 + 16 + 40 + 12);
    }
}
