//! One folder file: open with recovery, catch-up on growth, appends with group commit,
//! flag changes, expunges, reads and compaction (DESIGN.md §2, properties 1–8). This file
//! holds the handle, opening, locking and reads; `recovery.rs` the catch-up, repair and
//! verification, `write.rs` appends, flag changes and expunges, `compact.rs` compaction.
//!
//! Concurrency: every write happens under an exclusive `flock` on the folder file, after
//! catching up on records other processes appended. The lock is released before
//! `fdatasync`, so several processes' syncs share the journal commit (cross-process group
//! commit); within a process, batches of appends share one sync. A caller is told "done"
//! only after its own sync returned. A failed sync poisons the handle (never retried:
//! the page cache may have dropped the data), so the caller answers a temporary failure.
//!
//! Compaction writes `NAME.lbx.compact`, syncs it, renames it over the folder file and syncs
//! the directory. Every other handle notices the new inode after locking or on refresh and
//! reloads; UIDs, flags and MODSEQs survive.

mod compact;
mod recovery;
mod write;

pub use recovery::Verification;

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{self, Bad, FolderHeader, Kind, MessageFixed, HEADER_LEN, MESSAGE_FIXED};
use super::index;
use super::metacache::{self, MetaCache};
use super::state::{Entry, State};
use super::{Error, ErrorKind, Result};
use crate::util::{crc32c, Crc, Spool};

/// (uid, new flags, modseq) of a message changed by a STORE.
pub type FlagChange = (u32, u32, u64);

/// How long a writer waits for another process's lock before a temporary failure.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest non-MESSAGE record read into RAM (flag and expunge lists are split below this).
pub const MAX_META_RECORD: u32 = 16 << 20;
/// Records replayed past the on-disk index before it is rewritten.
const INDEX_REWRITE_RECORDS: u64 = 2048;
/// Read buffer for scans and copies.
const IO_BUF: usize = 64 * 1024;

/// A message to append: body spool plus metadata.
pub struct NewMessage {
    pub body: Spool,
    pub date: i64,
    /// Flag word; keyword bits are ignored here, use `keywords`.
    pub flags: u32,
    pub keywords: Vec<String>,
    pub meta: Vec<u8>,
    pub attrs: u32,
}

/// How a flag change combines with the current flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// An open folder.
pub struct Folder {
    path: PathBuf,
    file: File,
    ino: u64,
    state: State,
    poisoned: bool,
    /// Opened read-only (read-only file system): reads work, writes answer ReadOnly.
    readonly: bool,
    /// Records applied since the on-disk index was written.
    unindexed: u64,
    /// Whether the file-level exclusive lock is held.
    locked: bool,
    /// Summaries computed for messages stored without one, opened on first use.
    metacache: Option<MetaCache>,
    /// Meta sections read ahead (see [`Folder::meta`]): file offset of the first byte, bytes.
    meta_window: RefCell<(u64, Vec<u8>)>,
}

/// Bytes read at once for the meta sections of consecutive small messages: a SORT, THREAD
/// or first-sync FETCH over a folder of small messages makes one read per window instead of
/// one per message. Kept per open folder.
pub const META_WINDOW: usize = 16 * 1024;

impl Folder {
    /// Creates a new, empty folder file at `path` atomically (temp file, sync, hard link,
    /// directory sync); an existing folder is left alone and `Exists` returned.
    pub fn create(path: &Path, uidvalidity: u32, now: i64) -> Result<()> {
        let dir = path.parent().ok_or_else(|| Error::new(ErrorKind::BadName, "no parent"))?;
        let tmp = Self::write_empty(path, &FolderHeader { uidvalidity, uidnext: 1, modseq: 0, created: now })?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        crate::sys::fsync_dir(dir)?;
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::new(ErrorKind::Exists, "folder exists")),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a synced empty folder file beside `path` and returns its name.
    fn write_empty(path: &Path, header: &FolderHeader) -> Result<PathBuf> {
        let tmp = path.with_extension(format!("lbx.new{}", std::process::id()));
        let mut bytes = format::SIGNATURE.to_vec();
        bytes.extend(header.encode());
        let f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all_at(&bytes, 0)?;
        f.sync_all()?;
        Ok(tmp)
    }

    /// Puts a new empty folder file with `header` at `path` in one atomic rename, replacing
    /// what is there (RENAME INBOX, see `Store::rename_inbox`); the caller syncs the directory.
    pub fn create_replacing(path: &Path, header: &FolderHeader) -> Result<()> {
        let tmp = Self::write_empty(path, header)?;
        let r = std::fs::rename(&tmp, path);
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(r?)
    }

    /// Runs `f` holding this folder's exclusive lock (other writers wait, then notice a
    /// replaced file by its inode and reopen, as after compaction), on its state caught up
    /// to the last record (what the next append would see).
    pub fn with_lock_caught_up<T>(&mut self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        self.lock()?;
        let r = self.catch_up_locked().and_then(|()| f(&self.state));
        self.unlock();
        r
    }

    /// Opens a folder with its full message table, recovering a torn tail.
    pub fn open(path: &Path) -> Result<Folder> {
        Self::open_mode(path, true)
    }

    /// Opens a folder for appending only (no message table in RAM): `letterbox deliver`.
    pub fn open_light(path: &Path) -> Result<Folder> {
        Self::open_mode(path, false)
    }

    fn open_mode(path: &Path, track: bool) -> Result<Folder> {
        let (file, readonly) = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => (f, false),
            // A read-only file system (or file) still serves reads (BAD-INPUTS 56).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EROFS | libc::EACCES | libc::EPERM)) => {
                (File::open(path)?, true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::new(ErrorKind::NotFound, "no such folder"))
            }
            Err(e) => return Err(e.into()),
        };
        let ino = file.metadata()?.ino();
        let mut f = Folder {
            path: path.to_path_buf(),
            file,
            ino,
            state: State::new(track),
            poisoned: false,
            readonly,
            unindexed: 0,
            locked: false,
            metacache: None,
            meta_window: RefCell::new((0, Vec::new())),
        };
        f.lock()?;
        let r = f.load();
        f.unlock();
        r?;
        if f.unindexed > 0 && track {
            f.save_index();
        }
        Ok(f)
    }

    /// Loads state: index if it matches, then replays and repairs the tail (lock held).
    fn load(&mut self) -> Result<()> {
        let mut sig = [0u8; 8];
        self.file.read_exact_at(&mut sig, 0).map_err(|_| Error::new(ErrorKind::Corrupt, "not a folder file"))?;
        if sig != format::SIGNATURE {
            return Err(Error::new(ErrorKind::Corrupt, "not a folder file (bad signature)"));
        }
        // A compaction that died before its rename left this; we hold the lock, so no
        // compaction is running.
        if !self.readonly {
            let _ = std::fs::remove_file(compact_path(&self.path));
        }
        let track = self.state.track_entries;
        self.state = match index::load(&index::path_for(&self.path), &self.file, self.ino, track) {
            Some(st) => st,
            None => {
                self.unindexed = INDEX_REWRITE_RECORDS; // Rebuilt: write a fresh index.
                State::new(track)
            }
        };
        self.catch_up_locked()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn entries(&self) -> &[Entry] {
        &self.state.entries
    }

    pub fn uidvalidity(&self) -> u32 {
        self.state.uidvalidity
    }

    /// Acquires the exclusive lock, following a compaction's rename to the new file.
    fn lock(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() > LOCK_TIMEOUT {
                        return Err(Error::new(ErrorKind::LockTimeout, "folder lock timeout"));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
            let now_ino = std::fs::metadata(&self.path)?.ino();
            if now_ino == self.ino {
                self.locked = true;
                return Ok(());
            }
            // Replaced by compaction (or deleted and recreated): reopen and reload.
            let _ = self.file.unlock();
            self.reopen()?;
        }
    }

    fn unlock(&mut self) {
        if self.locked {
            let _ = self.file.unlock();
            self.locked = false;
        }
    }

    fn reopen(&mut self) -> Result<()> {
        self.file = if self.readonly {
            File::open(&self.path)?
        } else {
            OpenOptions::new().read(true).write(true).open(&self.path)?
        };
        self.ino = self.file.metadata()?.ino();
        // Compaction folded and deleted the meta cache (or the folder is another one).
        self.metacache = None;
        self.drop_meta_window();
        let track = self.state.track_entries;
        self.state =
            index::load(&index::path_for(&self.path), &self.file, self.ino, track).unwrap_or_else(|| State::new(track));
        self.catch_up_unlocked()?;
        Ok(())
    }

    /// Notices records appended by others (and replacement by compaction) without locking.
    /// Returns true when the folder was replaced, so callers must re-map sequence numbers.
    pub fn refresh(&mut self) -> Result<bool> {
        let now_ino = std::fs::metadata(&self.path)?.ino();
        if now_ino != self.ino {
            self.reopen()?;
            return Ok(true);
        }
        self.catch_up_unlocked()?;
        Ok(false)
    }

    /// The entry of `uid`, also if it was expunged recently and this handle still has the
    /// file it lives in (sessions may FETCH what they still show, RFC 2180 §4.1.1).
    pub fn entry(&self, uid: u32) -> Option<Entry> {
        match self.state.find(uid) {
            Ok(i) => self.state.entries.get(i).copied(),
            Err(_) => self.state.graveyard.iter().rev().find(|e| e.uid == uid).copied(),
        }
    }

    /// Reads up to `buf.len()` body bytes of `e` from `offset`.
    pub fn read_body(&self, e: &Entry, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let avail = u64::from(e.size).saturating_sub(offset);
        let n = (buf.len() as u64).min(avail) as usize;
        let dst = buf.get_mut(..n).unwrap_or(&mut []);
        self.file.read_exact_at(dst, e.body_offset() + offset)?;
        Ok(n)
    }

    /// Streams the whole body of `e` to `f` in bounded chunks.
    pub fn read_chunks(&self, e: &Entry, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut buf = vec![0u8; IO_BUF];
        let mut pos = 0u64;
        while pos < u64::from(e.size) {
            let n = self.read_body(e, pos, &mut buf)?;
            if n == 0 {
                break;
            }
            f(buf.get(..n).unwrap_or(&[]))?;
            pos += n as u64;
        }
        Ok(())
    }

    /// The whole body of a message (callers bound the size; streaming readers use read_body).
    pub fn body(&self, e: &Entry) -> Result<Vec<u8>> {
        let mut v = vec![0u8; e.size as usize];
        self.read_body(e, 0, &mut v)?;
        Ok(v)
    }

    /// The meta bytes stored with `e` (the MIME summary for messages received by the server).
    ///
    /// When the meta sections of the next messages in the file lie within [`META_WINDOW`]
    /// bytes, they are read with it and kept for the next calls. Committed records never
    /// change in place; the window is dropped when the file is replaced (compaction, reopen).
    pub fn meta(&self, e: &Entry) -> Result<Vec<u8>> {
        let start = meta_offset(e);
        let len = e.meta_len() as usize;
        if let Some(m) = self.windowed_meta(start, len) {
            return Ok(m);
        }
        let end = self.read_ahead_end(e, start + len as u64);
        let mut w = self.meta_window.borrow_mut();
        if end > start + len as u64 {
            let (at, buf) = &mut *w;
            buf.resize((end - start) as usize, 0);
            if self.file.read_exact_at(buf, start).is_ok() {
                *at = start;
                return Ok(buf.get(..len).unwrap_or_default().to_vec());
            }
            // A later record out of reach (a damaged file): this one is read alone.
            buf.clear();
        }
        drop(w);
        let mut m = vec![0u8; len];
        self.file.read_exact_at(&mut m, start)?;
        Ok(m)
    }

    /// The meta at `start` from the read-ahead window, if it holds all `len` bytes.
    fn windowed_meta(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        let w = self.meta_window.borrow();
        let from = usize::try_from(start.checked_sub(w.0)?).ok()?;
        w.1.get(from..from.checked_add(len)?).map(<[u8]>::to_vec)
    }

    /// Where a read-ahead from `e`'s meta should end: past the meta of each following live
    /// message (in file order) that ends within [`META_WINDOW`] of `e`'s; `end` when none.
    fn read_ahead_end(&self, e: &Entry, mut end: u64) -> u64 {
        const LOOKAHEAD_MAX: usize = 256;
        let start = meta_offset(e);
        let Ok(i) = self.state.find(e.uid) else { return end };
        let mut last = e.record_offset();
        for n in self.state.entries.iter().skip(i + 1).take(LOOKAHEAD_MAX) {
            let n_end = meta_offset(n) + u64::from(n.meta_len());
            if n.record_offset() <= last || n_end - start > META_WINDOW as u64 {
                break;
            }
            (last, end) = (n.record_offset(), n_end);
        }
        end
    }

    /// Forgets the read-ahead window (the file was replaced).
    pub(super) fn drop_meta_window(&mut self) {
        *self.meta_window.get_mut() = (0, Vec::new());
    }

    /// The meta of `e`: its record's, else the one computed earlier and kept in the meta
    /// cache (empty when neither has one: the caller parses the body and calls
    /// [`Folder::cache_meta`]).
    pub fn summary_meta(&mut self, e: &Entry) -> Result<Vec<u8>> {
        let m = self.meta(e)?;
        if !m.is_empty() {
            return Ok(m);
        }
        Ok(self.cached_meta(e.uid).unwrap_or_default())
    }

    /// The meta computed earlier for `uid` and kept in the meta cache.
    pub fn cached_meta(&mut self, uid: u32) -> Option<Vec<u8>> {
        self.meta_cache().get(uid)
    }

    /// Keeps the meta computed for a message stored without one (best effort: a cache).
    pub fn cache_meta(&mut self, uid: u32, meta: &[u8]) {
        self.meta_cache().put(uid, meta);
    }

    fn meta_cache(&mut self) -> &mut MetaCache {
        let (path, st) = (&self.path, &self.state);
        self.metacache.get_or_insert_with(|| MetaCache::open(path, st.uidvalidity, st.created))
    }

    /// The MESSAGE attrs word of `e` (see format docs).
    pub fn attrs(&self, e: &Entry) -> Result<u32> {
        let mut b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut b, e.record_offset() + HEADER_LEN as u64)?;
        Ok(MessageFixed::decode(&b).map_or(0, |m| m.attrs))
    }

    /// The body CRC-32C kept in `e`'s MESSAGE record (RFC 8474 EMAILID).
    pub fn body_crc_of(&self, e: &Entry) -> Result<u32> {
        let mut b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut b, e.record_offset() + HEADER_LEN as u64)?;
        MessageFixed::decode(&b).map(|m| m.body_crc).ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))
    }

    /// The save date of `e` (RFC 8514): Unix seconds when its record was written into this
    /// folder, `None` for records written before the store kept it (format docs: `saved`).
    pub fn saved_of(&self, e: &Entry) -> Result<Option<i64>> {
        let mut b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut b, e.record_offset() + HEADER_LEN as u64)?;
        let m = MessageFixed::decode(&b).ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))?;
        Ok((m.saved != 0).then_some(i64::from(m.saved)))
    }

    /// Names of keywords set in a flag word.
    pub fn keyword_names(&self, flags: u32) -> Vec<&str> {
        (0..format::MAX_KEYWORDS)
            .filter(|i| flags & (1 << (5 + i)) != 0)
            .filter_map(|i| self.state.keywords.get(i).map(String::as_str))
            .collect()
    }
}

/// File offset of the meta section of `e`'s record.
fn meta_offset(e: &Entry) -> u64 {
    e.record_offset() + (HEADER_LEN + MESSAGE_FIXED) as u64
}

impl Drop for Folder {
    fn drop(&mut self) {
        self.unlock();
        if self.unindexed > 0 && !self.poisoned {
            self.save_index();
        }
    }
}

/// Copies exactly `n` bytes from `src` into `dst` at `at`.
fn copy_into(src: &mut impl Read, dst: &File, mut at: u64, n: u64) -> Result<()> {
    let mut buf = vec![0u8; IO_BUF];
    let mut left = n;
    while left > 0 {
        let k = left.min(IO_BUF as u64) as usize;
        let chunk = buf.get_mut(..k).unwrap_or(&mut []);
        src.read_exact(chunk)?;
        crate::store::fault::write_at(dst, chunk, at)?;
        at += k as u64;
        left -= k as u64;
    }
    Ok(())
}

pub fn quarantine_path(p: &Path) -> PathBuf {
    p.with_extension("lbx.quarantine")
}

pub fn compact_path(p: &Path) -> PathBuf {
    p.with_extension("lbx.compact")
}

/// CRC-32C of an in-memory body (for callers building NewMessage without a Spool write).
pub fn body_crc(b: &[u8]) -> u32 {
    crc32c(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(d: &Path, i: usize, body_len: usize) -> NewMessage {
        let mut spool = Spool::new(d, 1 << 20);
        let body = format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(body_len));
        spool.write(body.as_bytes()).unwrap_or_default();
        let meta = format!("meta of message {i}").repeat(1 + i % 7).into_bytes();
        NewMessage { body: spool, date: 0, flags: 0, keywords: Vec::new(), meta, attrs: 0 }
    }

    /// The read-ahead window gives exactly what a direct read gives, in file order, out of
    /// order, across big and small messages, after more appends and after compaction.
    #[test]
    fn meta_read_ahead_matches_direct_reads() {
        let d = std::env::temp_dir().join(format!("lbx-metawin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_default();
        let path = d.join("INBOX.lbx");
        Folder::create(&path, 7, 0).unwrap_or_default();
        let mut f = Folder::open(&path).unwrap();
        let sizes = |i: usize| if i % 10 == 9 { 40_000 } else { 100 + i };
        let mut msgs: Vec<NewMessage> = (0..60).map(|i| message(&d, i, sizes(i))).collect();
        f.append(&mut msgs).unwrap();
        let want = |uid: u32| format!("meta of message {}", uid - 1).repeat(1 + (uid as usize - 1) % 7).into_bytes();
        let check = |f: &Folder, uids: &mut dyn Iterator<Item = u32>| {
            for uid in uids {
                let e = f.entry(uid).unwrap();
                assert_eq!(f.meta(&e).unwrap(), want(uid), "uid {uid}");
            }
        };
        check(&f, &mut (1..=60));
        assert!(!f.meta_window.borrow().1.is_empty(), "small messages were read ahead");
        check(&f, &mut (1..=60).rev());
        check(&f, &mut (1..=60).map(|u| (u * 37) % 60 + 1));
        let mut more: Vec<NewMessage> = (60..80).map(|i| message(&d, i, 50)).collect();
        f.append(&mut more).unwrap();
        check(&f, &mut (1..=80));
        f.expunge(&(1..=80).filter(|u| u % 3 == 0).collect::<Vec<_>>()).unwrap();
        f.compact().unwrap();
        check(&f, &mut (1..=80).filter(|u| u % 3 != 0));
        let _ = std::fs::remove_dir_all(&d);
    }
}
