//! The folder index: a cache of the folder's `State` so that opening a large folder does not
//! replay it (DESIGN.md §2.6). It is rebuilt from the folder file when missing, corrupt or
//! stale, so it is written without fsync.
//!
//! ```text
//! index = "LBIX" version:4 head_len:4 head:head_len head_crc:4 entries:(32*count) entries_crc:4
//! head  = postcard(Head)          (see the struct; integers are varints)
//! entry = uid:4 flags:4 size:4 date:4 modseq:8 pos:8      (state::Entry)
//! ```
//!
//! It is valid for a folder file when the inode matches, the file is at least `covered`
//! bytes long, and the record at `last_pos` has the CRC field `last_crc` and ends at
//! `covered`. Records after `covered` are replayed on open.
//!
//! The CRCs catch damage; the index is also checked against the file where that is cheap:
//! the message table must fit the bytes covered (in file order, UIDs ascending below
//! UIDNEXT), and the last record covered must agree with the head's counters (a MESSAGE
//! there is the table's last entry with the head's last UID; a FLAGS or EXPUNGE names only
//! UIDs below UIDNEXT). An index that passes and still lies (only a tampered data directory
//! has one) can mislead the next write, never what is already committed: appends go after
//! `covered`, a valid record boundary, and recovery sets aside a record that collides.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{self, HEADER_LEN};
use super::state::{Entry, State};
use crate::util::crc32c;

const MAGIC: &[u8; 4] = b"LBIX";
/// 2: the head carries the expunge history (QRESYNC across restarts and compactions).
const VERSION: u32 = 2;
/// Largest head accepted (keywords and damage list are small).
const MAX_HEAD: u32 = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Head {
    ino: u64,
    covered: u64,
    last_pos: u64,
    last_crc: u32,
    uidvalidity: u32,
    uidnext: u32,
    last_uid: u32,
    highest_modseq: u64,
    created: i64,
    keywords: Vec<String>,
    live_bytes: u64,
    count: u64,
    damaged: Vec<(u64, u64)>,
    /// `State::expunge_floor` and `State::expunge_log` (at most `EXPUNGE_LOG_MAX` ranges):
    /// a compacted file no longer has the EXPUNGE records they came from.
    expunge_floor: u64,
    expunge_log: VecDeque<(u64, u32, u32)>,
}

/// `NAME.lbx` → `NAME.idx`.
pub fn path_for(folder: &Path) -> PathBuf {
    folder.with_extension("idx")
}

/// Bytes of entries encoded per write while saving.
const SAVE_CHUNK: usize = 64 * 1024;

/// Writes the index atomically (temp file + rename; no sync: it is a cache).
pub fn save(path: &Path, st: &State, ino: u64) -> io::Result<()> {
    let head = Head {
        ino,
        covered: st.end,
        last_pos: st.last_pos,
        last_crc: st.last_crc,
        uidvalidity: st.uidvalidity,
        uidnext: st.uidnext,
        last_uid: st.last_uid,
        highest_modseq: st.highest_modseq,
        created: st.created,
        keywords: st.keywords.clone(),
        live_bytes: st.live_bytes,
        count: st.entries.len() as u64,
        damaged: st.damaged.clone(),
        expunge_floor: st.expunge_floor,
        expunge_log: st.expunge_log.clone(),
    };
    let hb = postcard::to_stdvec(&head).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(SAVE_CHUNK + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(hb.len() as u32).to_le_bytes());
    out.extend_from_slice(&hb);
    out.extend_from_slice(&crc32c(&hb).to_le_bytes());
    let tmp = path.with_extension(format!("idx.tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    // Streamed in chunks: peak RAM is the table, not the table plus a copy of it (issue 9).
    let mut crc = crate::util::Crc::new();
    for chunk in st.entries.chunks(SAVE_CHUNK / 32) {
        let start = out.len();
        for e in chunk {
            e.encode(&mut out);
        }
        crc.update(out.get(start..).unwrap_or(&[]));
        f.write_all(&out)?;
        out.clear();
    }
    out.extend_from_slice(&crc.finish().to_le_bytes());
    f.write_all(&out)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Loads the index if it is valid for `folder` (inode `ino`); `None` means rebuild.
pub fn load(path: &Path, folder: &File, ino: u64, track_entries: bool) -> Option<State> {
    let mut f = File::open(path).ok()?;
    let mut fixed = [0u8; 12];
    f.read_exact(&mut fixed).ok()?;
    if fixed.get(0..4)? != MAGIC || fixed.get(4..8)? != VERSION.to_le_bytes() {
        return None;
    }
    let head_len = u32::from_le_bytes(fixed.get(8..12)?.try_into().ok()?);
    if head_len > MAX_HEAD {
        return None;
    }
    let mut hb = vec![0u8; head_len as usize + 4];
    f.read_exact(&mut hb).ok()?;
    let (body, crc) = hb.split_at_checked(head_len as usize)?;
    if crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let head: Head = postcard::from_bytes(body).ok()?;
    if head.ino != ino || !matches_file(&head, folder) {
        return None;
    }
    let mut st = State::new(track_entries);
    if track_entries {
        st.entries = read_entries(&mut f, head.count)?;
        if !table_fits(&st.entries, &head) {
            return None;
        }
    }
    if !last_record_agrees(&head, folder, track_entries.then(|| st.entries.last())) {
        return None;
    }
    st.uidvalidity = head.uidvalidity;
    st.uidnext = head.uidnext;
    st.last_uid = head.last_uid;
    st.highest_modseq = head.highest_modseq;
    st.expunge_floor = head.expunge_floor.min(head.highest_modseq);
    st.expunge_log = head.expunge_log;
    if st.expunge_log.len() > super::state::EXPUNGE_LOG_MAX {
        return None;
    }
    st.created = head.created;
    st.keywords = head.keywords;
    st.live_bytes = head.live_bytes;
    st.end = head.covered;
    st.last_pos = head.last_pos;
    st.last_crc = head.last_crc;
    st.damaged = head.damaged;
    st.have_header = true;
    Some(st)
}

/// The table must describe records inside the bytes the index covers, in file order, with
/// ascending UIDs below UIDNEXT and MODSEQs up to the highest. The CRCs catch damage; this
/// catches a table that does not belong to the file (a bug, or a forged cache), which would
/// otherwise send reads, and allocations sized by them, anywhere.
fn table_fits(entries: &[Entry], head: &Head) -> bool {
    let mut prev_uid = 0u32;
    let mut prev_end = format::SIGNATURE.len() as u64;
    for e in entries {
        let start = e.record_offset();
        let end = start.saturating_add(e.record_len());
        if e.uid <= prev_uid || e.uid >= head.uidnext || start < prev_end || end > head.covered {
            return false;
        }
        if e.modseq > head.highest_modseq {
            return false;
        }
        prev_uid = e.uid;
        prev_end = end;
    }
    true
}

/// Largest FLAGS or EXPUNGE payload read to check it against the head (a STORE or EXPUNGE
/// of a few messages; a bigger one is taken on the CRC's word).
const CHECK_PAYLOAD_MAX: u32 = 64 * 1024;

/// The last record covered, checked against the head's counters. A MESSAGE there is the
/// newest message there is (nothing after it could have expunged it): it must be the table's
/// last entry, carry the head's last UID, and be below UIDNEXT and HIGHESTMODSEQ. A FLAGS or
/// EXPUNGE there names only UIDs below UIDNEXT, at a MODSEQ up to the highest. This catches
/// counters that do not belong to the file, which would make the next append reuse a UID.
/// `last` is the table's last entry (`None` when the table is not loaded).
fn last_record_agrees(head: &Head, folder: &File, last: Option<Option<&Entry>>) -> bool {
    let mut hb = [0u8; HEADER_LEN];
    if head.last_uid >= head.uidnext || folder.read_exact_at(&mut hb, head.last_pos).is_err() {
        return false;
    }
    let Ok(h) = format::decode_header(&hb) else { return false };
    let payload_at = head.last_pos + HEADER_LEN as u64;
    match h.kind {
        format::Kind::Message => {
            let mut fixed = [0u8; format::MESSAGE_FIXED];
            if folder.read_exact_at(&mut fixed, payload_at).is_err() {
                return false;
            }
            let Some(m) = format::MessageFixed::decode(&fixed) else { return false };
            m.uid == head.last_uid
                && m.modseq <= head.highest_modseq
                && last.is_none_or(|e| e.is_some_and(|e| e.uid == m.uid && e.record_offset() == head.last_pos))
        }
        format::Kind::Flags | format::Kind::Expunge if h.len <= CHECK_PAYLOAD_MAX => {
            let mut payload = vec![0u8; h.len as usize];
            if folder.read_exact_at(&mut payload, payload_at).is_err() {
                return false;
            }
            let Some((modseq, pairs)) = format::decode_pairs(&payload) else { return false };
            // FLAGS pairs are (uid, flags), EXPUNGE pairs (first, last) UIDs.
            let top = |&(a, b): &(u32, u32)| if h.kind == format::Kind::Flags { a } else { a.max(b) };
            modseq <= head.highest_modseq && pairs.iter().all(|p| top(p) < head.uidnext)
        }
        _ => true,
    }
}

fn matches_file(head: &Head, folder: &File) -> bool {
    let len = folder.metadata().map(|m| m.len()).unwrap_or(0);
    let mut hb = [0u8; HEADER_LEN];
    if head.covered > len || folder.read_exact_at(&mut hb, head.last_pos).is_err() {
        return false;
    }
    match format::decode_header(&hb) {
        Ok(h) => h.crc == head.last_crc && head.last_pos + h.total() == head.covered,
        Err(_) => false,
    }
}

fn read_entries(f: &mut File, count: u64) -> Option<Vec<Entry>> {
    let bytes = count.checked_mul(32)?;
    // Bound by the index file's real size before allocating.
    if bytes > f.metadata().ok()?.len() {
        return None;
    }
    // Streamed in chunks so peak RAM is the table itself, not the table plus its bytes.
    let mut entries = Vec::with_capacity(usize::try_from(count).ok()?);
    let mut crc = crate::util::Crc::new();
    let mut buf = vec![0u8; 32 * 2048];
    let mut left = bytes;
    let mut last_uid = 0u32;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..k)?;
        f.read_exact(chunk).ok()?;
        crc.update(chunk);
        for c in chunk.chunks_exact(32) {
            let e = Entry::decode(c.try_into().ok()?);
            // UIDs must ascend strictly, or the table is unusable.
            if e.uid <= last_uid {
                return None;
            }
            last_uid = e.uid;
            entries.push(e);
        }
        left -= k as u64;
    }
    let mut tail = [0u8; 4];
    f.read_exact(&mut tail).ok()?;
    (crc.finish().to_le_bytes() == tail).then_some(entries)
}
