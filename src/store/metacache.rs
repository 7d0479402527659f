//! The meta cache: the meta sections (MIME summaries) computed after delivery for messages
//! stored without one (files written by older versions, imports by them), so each such
//! message is parsed once, not on every FETCH ENVELOPE, BODYSTRUCTURE or SEARCH (issue 13).
//! Like the index it is a cache, never the truth: checksummed, written without fsync,
//! ignored when damaged or stale, and deleted by compaction, which folds its entries into
//! the rewritten MESSAGE records.
//!
//! # File format, version 1 (`NAME.mcx` next to `NAME.lbx`)
//!
//! All integers are little-endian.
//!
//! ```text
//! file   = "LBMC" version:4 = 1 | uidvalidity:4 | created:8 | entry*
//! entry  = uid:4 | len:4 | crc:4 | meta:len
//! ```
//!
//! * `uidvalidity` and `created` are the folder HEADER's: a file with other values (or
//!   another magic or version) belongs to a deleted folder and is started afresh.
//! * `uid` is a message of the folder (never 0), `len` at most [`MAX_META`]; `meta` is the
//!   section as a MESSAGE record would hold it (see `crate::mime`'s meta format).
//!   `crc` is CRC-32C over `uid len meta`.
//! * Entries are appended (one `write` each, `O_APPEND`); a later entry for a UID overrides
//!   an earlier one. Opening reads only the 12-byte entry headers; the first header that is
//!   not plausible (UID 0, `len` over the limit or past the end of the file: a torn tail)
//!   ends the file, and the next append cuts it there. The CRC is checked on each read; an
//!   entry that fails it is forgotten and computed again.
//!
//! RAM: one map entry (UID → offset, length) per cached message, ~24 bytes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::format::MAX_META;
use crate::util::Crc;

const MAGIC: &[u8; 4] = b"LBMC";
const VERSION: u32 = 1;
/// File header: magic, version, uidvalidity, created.
pub const FILE_HEADER: usize = 20;
/// Entry header: uid, len, crc.
pub const ENTRY_HEADER: usize = 12;

/// `NAME.lbx` → `NAME.mcx`.
pub fn path_for(folder: &Path) -> PathBuf {
    folder.with_extension("mcx")
}

/// The file header for a folder.
pub fn encode_file_header(uidvalidity: u32, created: i64) -> [u8; FILE_HEADER] {
    let mut h = [0u8; FILE_HEADER];
    h[..4].copy_from_slice(MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&uidvalidity.to_le_bytes());
    h[12..20].copy_from_slice(&created.to_le_bytes());
    h
}

/// One entry as written.
pub fn encode_entry(uid: u32, meta: &[u8]) -> Vec<u8> {
    let len = (meta.len() as u32).to_le_bytes();
    let mut c = Crc::new();
    c.update(&uid.to_le_bytes());
    c.update(&len);
    c.update(meta);
    let mut out = Vec::with_capacity(ENTRY_HEADER + meta.len());
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&len);
    out.extend_from_slice(&c.finish().to_le_bytes());
    out.extend_from_slice(meta);
    out
}

/// A plausible entry header: `(uid, len)`.
pub fn decode_entry_header(b: &[u8]) -> Option<(u32, u32)> {
    let uid = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
    let len = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
    (uid != 0 && len <= MAX_META).then_some((uid, len))
}

/// The meta of a whole entry (header and `len` bytes) if its CRC matches and it is `uid`'s.
pub fn verify_entry(b: &[u8], uid: u32) -> Option<&[u8]> {
    let (u, len) = decode_entry_header(b)?;
    let crc = u32::from_le_bytes(b.get(8..12)?.try_into().ok()?);
    let meta = b.get(ENTRY_HEADER..ENTRY_HEADER + len as usize)?;
    let mut c = Crc::new();
    c.update(b.get(..8)?);
    c.update(meta);
    (u == uid && c.finish() == crc).then_some(meta)
}

/// Scans entry headers through `read_at` from [`FILE_HEADER`] to `file_len`: the map of
/// UIDs to (offset, len) and where the plausible entries end.
pub fn scan(file_len: u64, mut read_at: impl FnMut(u64, &mut [u8]) -> bool) -> (HashMap<u32, (u64, u32)>, u64) {
    let mut map = HashMap::new();
    let mut pos = FILE_HEADER as u64;
    let mut h = [0u8; ENTRY_HEADER];
    while pos + ENTRY_HEADER as u64 <= file_len && read_at(pos, &mut h) {
        let Some((uid, len)) = decode_entry_header(&h) else { break };
        let end = pos + (ENTRY_HEADER as u64) + u64::from(len);
        if end > file_len {
            break;
        }
        map.insert(uid, (pos, len));
        pos = end;
    }
    (map, pos.min(file_len.max(FILE_HEADER as u64)))
}

/// An open meta cache of one folder.
pub struct MetaCache {
    file: Option<File>,
    map: HashMap<u32, (u64, u32)>,
    /// The file must be cut to this length before the next append (a torn or bad tail).
    cut_to: Option<u64>,
}

impl MetaCache {
    /// Opens (or starts afresh) the cache of the folder at `folder`; never fails: a cache
    /// that cannot be opened is empty and drops what it is given.
    pub fn open(folder: &Path, uidvalidity: u32, created: i64) -> MetaCache {
        let path = path_for(folder);
        // A read-only file system still serves what is cached (writes then fail quietly).
        let opened = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .or_else(|_| File::open(&path));
        let Ok(file) = opened else {
            return MetaCache { file: None, map: HashMap::new(), cut_to: None };
        };
        let want = encode_file_header(uidvalidity, created);
        let mut have = [0u8; FILE_HEADER];
        let len = file.metadata().map_or(0, |m| m.len());
        if file.read_exact_at(&mut have, 0).is_err() || have != want {
            // New, stale (another folder by this name) or damaged: start afresh.
            let fresh = file.set_len(0).and_then(|()| (&file).write_all(&want));
            let file = fresh.ok().map(|()| file);
            return MetaCache { file, map: HashMap::new(), cut_to: None };
        }
        let (map, end) = scan(len, |pos, buf| file.read_exact_at(buf, pos).is_ok());
        MetaCache { file: Some(file), map, cut_to: (end < len).then_some(end) }
    }

    /// The cached meta of `uid`, if any and intact.
    pub fn get(&mut self, uid: u32) -> Option<Vec<u8>> {
        let (pos, len) = *self.map.get(&uid)?;
        let mut b = vec![0u8; ENTRY_HEADER + len as usize];
        let ok = self.file.as_ref()?.read_exact_at(&mut b, pos).is_ok();
        match verify_entry(&b, uid).filter(|_| ok) {
            Some(meta) => Some(meta.to_vec()),
            None => {
                self.map.remove(&uid);
                None
            }
        }
    }

    /// Remembers the meta of `uid` (best effort: a failed write only costs a re-parse).
    pub fn put(&mut self, uid: u32, meta: &[u8]) {
        if meta.is_empty() || meta.len() > MAX_META as usize {
            return;
        }
        if let Some((pos, len)) = self.append(uid, meta).ok().flatten() {
            self.map.insert(uid, (pos, len));
        }
    }

    fn append(&mut self, uid: u32, meta: &[u8]) -> io::Result<Option<(u64, u32)>> {
        let Some(file) = self.file.as_mut() else { return Ok(None) };
        if let Some(end) = self.cut_to.take() {
            file.set_len(end)?;
        }
        let entry = encode_entry(uid, meta);
        file.write_all(&entry)?;
        // O_APPEND leaves the position at the end of this write, wherever it landed.
        let end = file.stream_position()?;
        Ok(end.checked_sub(entry.len() as u64).map(|pos| (pos, meta.len() as u32)))
    }

    /// Entries known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lbx-mcx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        dir.join("INBOX.lbx")
    }

    #[test]
    fn round_trip_across_reopen() {
        let f = folder("rt");
        let mut c = MetaCache::open(&f, 7, 100);
        assert!(c.is_empty());
        c.put(1, b"one");
        c.put(5, b"five");
        c.put(1, b"uno");
        assert_eq!(c.get(1).as_deref(), Some(&b"uno"[..]));
        let mut c = MetaCache::open(&f, 7, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(1).as_deref(), Some(&b"uno"[..]));
        assert_eq!(c.get(5).as_deref(), Some(&b"five"[..]));
        assert_eq!(c.get(2), None);
        // Another folder by this name (new UIDVALIDITY): started afresh.
        let mut c = MetaCache::open(&f, 8, 100);
        assert_eq!(c.get(1), None);
        assert_eq!(std::fs::metadata(path_for(&f)).map(|m| m.len()).ok(), Some(FILE_HEADER as u64));
    }

    #[test]
    fn torn_tail_and_damage_are_recovered() {
        let f = folder("torn");
        let mut c = MetaCache::open(&f, 1, 0);
        c.put(1, b"first");
        c.put(2, b"second");
        let p = path_for(&f);
        let full = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        // Torn in the middle of entry 2: entry 1 survives, the tail is cut on the next put.
        let file = OpenOptions::new().write(true).open(&p).ok();
        file.as_ref().map(|x| x.set_len(full - 3));
        let mut c = MetaCache::open(&f, 1, 0);
        assert_eq!((c.len(), c.get(2)), (1, None));
        c.put(3, b"third");
        let mut c = MetaCache::open(&f, 1, 0);
        assert_eq!(c.get(3).as_deref(), Some(&b"third"[..]));
        assert_eq!(c.get(1).as_deref(), Some(&b"first"[..]));
        // A flipped byte in entry 1's meta: its CRC fails, it is forgotten.
        let at = FILE_HEADER as u64 + ENTRY_HEADER as u64;
        file.as_ref().map(|x| x.write_all_at(b"X", at));
        let mut c = MetaCache::open(&f, 1, 0);
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(3).as_deref(), Some(&b"third"[..]));
        // Garbage header: nothing cached, never a panic.
        let _ = std::fs::write(&p, b"LBMCjunk");
        let mut c = MetaCache::open(&f, 1, 0);
        assert_eq!(c.get(1), None);
    }

    #[test]
    fn scan_stops_at_implausible_headers() {
        let mut file = encode_file_header(1, 0).to_vec();
        file.extend(encode_entry(4, b"abc"));
        let good = file.len() as u64;
        file.extend(encode_entry(0, b"zero uid"));
        file.extend(encode_entry(9, b"after"));
        let read = |pos: u64, buf: &mut [u8]| {
            let src = file.get(pos as usize..pos as usize + buf.len());
            src.map(|s| buf.copy_from_slice(s)).is_some()
        };
        let (map, end) = scan(file.len() as u64, read);
        assert_eq!((map.len(), end), (1, good));
        let mut big = (5u32).to_le_bytes().to_vec();
        big.extend((MAX_META + 1).to_le_bytes());
        assert_eq!(decode_entry_header(&big), None);
        let e = encode_entry(4, b"abc");
        assert_eq!(verify_entry(&e, 4), Some(&b"abc"[..]));
        assert_eq!(verify_entry(&e, 5), None);
        assert_eq!(verify_entry(e.get(..e.len() - 1).unwrap_or_default(), 4), None);
    }
}
