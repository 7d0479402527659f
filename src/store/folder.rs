//! One folder file: open with recovery, catch-up on growth, appends with group commit,
//! flag changes, expunges, reads and compaction (DESIGN.md §2, properties 1–8).
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

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{self, Bad, FolderHeader, Kind, MessageFixed, HEADER_LEN, MESSAGE_FIXED};
use super::index;
use super::state::{Entry, State};
use super::{Error, ErrorKind, Result};
use crate::util::{crc32c, Crc, Spool};

/// (uid, new flags, modseq) of a message changed by a STORE.
pub type FlagChange = (u32, u32, u64);

/// How long a writer waits for another process's lock before a temporary failure.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest non-MESSAGE record read into RAM (flag and expunge lists are split below this).
pub const MAX_META_RECORD: u32 = 16 << 20;
/// Most pairs written into one FLAGS or EXPUNGE record.
const MAX_PAIRS: usize = 1 << 20;
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

/// What a scan stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    End,
    Bad { at: u64, why: Bad, total: Option<u64> },
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
}

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
    /// replaced file by its inode and reopen, as after compaction).
    pub fn with_lock<T>(&mut self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.lock()?;
        let r = f();
        self.unlock();
        r
    }

    /// Runs `f` holding this folder's exclusive lock, on its state caught up to the last
    /// record (what the next append would see).
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

    fn catch_up_unlocked(&mut self) -> Result<()> {
        let len = self.file.metadata()?.len();
        if len > self.state.end {
            // A record still being written (or a torn one) stops the scan; a writer fixes it.
            let _ = self.scan(self.state.end, len)?;
        }
        Ok(())
    }

    /// Under the lock: replays new records, truncates a torn tail, skips mid-file damage.
    fn catch_up_locked(&mut self) -> Result<()> {
        loop {
            let len = self.file.metadata()?.len();
            if len < self.state.end {
                // Shorter than what we applied: reload from scratch.
                self.state = State::new(self.state.track_entries);
                continue;
            }
            match self.scan(self.state.end, len)? {
                Stop::End => return Ok(()),
                Stop::Bad { at, why, total } => self.handle_bad(at, why, total, len)?,
            }
        }
    }

    fn handle_bad(&mut self, at: u64, why: Bad, total: Option<u64>, len: u64) -> Result<()> {
        if self.readonly {
            // Cannot repair: serve what is committed before the bad record.
            self.state.damaged.push((at, len));
            self.state.end = len;
            return Ok(());
        }
        if why != Bad::Short {
            if let Some(next) = self.next_valid_after(at, total, len)? {
                // Damage in the middle: skip it in RAM; `check --repair` quarantines it.
                self.state.damaged.push((at, next));
                self.state.end = next;
                return Ok(());
            }
            // Garbage up to the end: keep the bytes beside the folder, then cut them off.
            self.quarantine(at, len)?;
        }
        if !self.state.have_header {
            return Err(Error::new(ErrorKind::Corrupt, "folder header damaged"));
        }
        self.file.set_len(at)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Finds the next committed record after a bad one at `at`: first at its declared end,
    /// else by searching for the record magic.
    fn next_valid_after(&self, at: u64, total: Option<u64>, len: u64) -> Result<Option<u64>> {
        if let Some(t) = total {
            if at + t < len && self.valid_record_at(at + t, len)? {
                return Ok(Some(at + t));
            }
        }
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(at + 1))?;
        let mut buf = vec![0u8; IO_BUF];
        let mut base = at + 1;
        let finder = memchr::memmem::Finder::new(&format::MAGIC);
        loop {
            let n = read_full(&mut r, &mut buf)?;
            if n < format::MAGIC.len() {
                return Ok(None);
            }
            let chunk = buf.get(..n).unwrap_or(&[]);
            for off in finder.find_iter(chunk) {
                let cand = base + off as u64;
                if self.valid_record_at(cand, len)? {
                    return Ok(Some(cand));
                }
            }
            if n < buf.len() {
                return Ok(None);
            }
            // Overlap by 3 bytes so a magic split across reads is found.
            base += (n - 3) as u64;
            r.seek(SeekFrom::Start(base))?;
        }
    }

    fn valid_record_at(&self, pos: u64, len: u64) -> Result<bool> {
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(pos))?;
        Ok(read_record(&mut r, pos, len)?.is_ok())
    }

    /// Copies `from..to` into `NAME.lbx.quarantine` (appending) and syncs it.
    fn quarantine(&self, from: u64, to: u64) -> Result<()> {
        let mut zero = true;
        let mut buf = vec![0u8; IO_BUF];
        let mut pos = from;
        while pos < to && zero {
            let n = (to - pos).min(IO_BUF as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or(&mut []);
            self.file.read_exact_at(chunk, pos)?;
            zero = chunk.iter().all(|&b| b == 0);
            pos += n as u64;
        }
        if zero {
            return Ok(()); // Unwritten blocks after a power cut: nothing to keep.
        }
        let q = quarantine_path(&self.path);
        let out = OpenOptions::new().create(true).append(true).mode(0o600).open(&q)?;
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(IO_BUF as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or(&mut []);
            self.file.read_exact_at(chunk, pos)?;
            io::Write::write_all(&mut &out, chunk)?;
            pos += n as u64;
        }
        out.sync_all()?;
        eprintln!(
            "letterbox: {}: moved {} damaged bytes at offset {} to {}",
            self.path.display(),
            to - from,
            from,
            q.display()
        );
        Ok(())
    }

    /// Applies committed records from `from` up to `len`, stopping at the first bad one.
    fn scan(&mut self, from: u64, len: u64) -> Result<Stop> {
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(from))?;
        let mut pos = from;
        while pos < len {
            match read_record(&mut r, pos, len)? {
                Ok((h, covered)) => {
                    if self.state.apply(pos, &h, &covered).is_err() {
                        return Ok(Stop::Bad { at: pos, why: Bad::Garbage, total: Some(h.total()) });
                    }
                    self.unindexed += 1;
                    pos += h.total();
                }
                Err((why, total)) => return Ok(Stop::Bad { at: pos, why, total }),
            }
        }
        Ok(Stop::End)
    }

    /// Runs `write` under the lock at the end of the file, then syncs. On a write error the
    /// partial bytes are cut off again so nothing torn stays behind.
    fn write_locked<T>(&mut self, write: impl FnOnce(&mut Self, u64) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(Error::new(ErrorKind::Io, "folder handle poisoned by an earlier sync failure"));
        }
        if self.readonly {
            return Err(Error::new(ErrorKind::ReadOnly, "folder is on a read-only file system"));
        }
        self.lock()?;
        let mut start = 0;
        let r = self.catch_up_locked().and_then(|()| {
            start = self.state.end;
            let r = write(self, start);
            if r.is_err() {
                let _ = self.file.set_len(start);
            }
            r
        });
        self.unlock();
        let v = r?;
        if let Err(e) = super::fault::sync(&self.file, start) {
            self.poisoned = true;
            return Err(e.into());
        }
        if self.unindexed >= INDEX_REWRITE_RECORDS.max(self.state.entries.len() as u64 / 8) {
            self.save_index();
        }
        Ok(v)
    }

    /// Writes `bytes` at `pos` and applies the records it holds (written by us, so valid).
    fn write_records(&mut self, pos: u64, bytes: &[u8]) -> Result<()> {
        super::fault::write_at(&self.file, bytes, pos)?;
        let mut off = 0usize;
        while let Some(rec) = bytes.get(off..) {
            if rec.is_empty() {
                break;
            }
            let h = format::decode_header(rec).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let payload = rec.get(HEADER_LEN..).unwrap_or(&[]);
            let covered =
                format::covered_len(&h, payload).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let cov = payload.get(..covered).unwrap_or(&[]);
            self.state
                .apply(pos + off as u64, &h, cov)
                .map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            off += h.total() as usize;
        }
        Ok(())
    }

    /// Keyword bit for `name`, writing a KEYWORD record into `out` when new (RFC 3501 §2.3.2).
    fn keyword_bit(&mut self, name: &str, pending: &mut Vec<String>, out: &mut Vec<u8>) -> Result<u32> {
        let all = self.state.keywords.iter().chain(pending.iter());
        if let Some(i) = all.clone().position(|k| k.eq_ignore_ascii_case(name)) {
            return Ok(1 << (5 + i));
        }
        let i = self.state.keywords.len() + pending.len();
        if i >= format::MAX_KEYWORDS || name.is_empty() || name.len() > 128 {
            return Err(Error::new(ErrorKind::TooMany, "too many keywords in this folder"));
        }
        out.extend(format::encode_keyword(i as u8, name));
        pending.push(name.to_owned());
        Ok(1 << (5 + i))
    }

    /// Appends messages durably (one lock, one sync for the batch); returns their UIDs.
    pub fn append(&mut self, msgs: &mut [NewMessage]) -> Result<Vec<u32>> {
        self.write_locked(|f, start| f.append_locked(msgs, start))
    }

    fn append_locked(&mut self, msgs: &mut [NewMessage], start: u64) -> Result<Vec<u32>> {
        let mut buf = Vec::new();
        let mut pending = Vec::new();
        let mut flag_words = Vec::with_capacity(msgs.len());
        for m in msgs.iter() {
            let mut w = m.flags & format::SYSTEM_FLAGS;
            for k in &m.keywords {
                w |= self.keyword_bit(k, &mut pending, &mut buf)?;
            }
            flag_words.push(w);
        }
        let mut pos = start;
        if !buf.is_empty() {
            self.write_records(pos, &buf)?;
            pos += buf.len() as u64;
            buf.clear();
        }
        let mut uids = Vec::with_capacity(msgs.len());
        for (m, flags) in msgs.iter_mut().zip(flag_words) {
            let uid = self.state.uidnext;
            if uid == u32::MAX {
                return Err(Error::new(ErrorKind::TooMany, "UIDs exhausted: compact into a new folder"));
            }
            let fixed = MessageFixed {
                uid,
                flags,
                date: m.date,
                modseq: self.state.next_modseq(),
                meta_len: m.meta.len() as u32,
                body_crc: m.body.crc(),
                attrs: m.attrs,
            };
            let mut rec = fixed
                .encode_record_prefix(&m.meta, m.body.len())
                .filter(|_| m.meta.len() <= format::MAX_META as usize)
                .ok_or_else(|| Error::new(ErrorKind::TooBig, "message too large"))?;
            let prefix_len = rec.len();
            match m.body.in_memory() {
                Some(b) => rec.extend_from_slice(b),
                None => {
                    super::fault::write_at(&self.file, &rec, pos)?;
                    let body_at = pos + prefix_len as u64;
                    let n = m.body.len();
                    copy_into(&mut m.body.reader()?, &self.file, body_at, n)?;
                    rec.clear();
                }
            }
            if !rec.is_empty() {
                super::fault::write_at(&self.file, &rec, pos)?;
            }
            let h = format::decode_header(&fixed_header_bytes(&fixed, &m.meta, m.body.len())?)
                .map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            let mut covered = fixed.encode().to_vec();
            covered.extend_from_slice(&m.meta);
            self.state.apply(pos, &h, &covered).map_err(|_| Error::new(ErrorKind::Io, "internal record error"))?;
            pos += h.total();
            uids.push(uid);
        }
        Ok(uids)
    }

    /// Changes flags of the given UIDs (absent UIDs are skipped); one FLAGS record, one sync.
    /// Returns (uid, new flags, modseq) for every message whose flags changed.
    pub fn store_flags(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        system: u32,
        keywords: &[String],
    ) -> Result<Vec<FlagChange>> {
        self.store_flags_unless(uids, op, system, keywords, None).map(|(changed, _)| changed)
    }

    /// `store_flags` with RFC 7162 §3.1.3 UNCHANGEDSINCE: under the lock, messages whose
    /// MODSEQ is above `unchanged_since` are left alone and returned second; every other
    /// listed message gets the new MODSEQ (a FLAGS record) even if its flags stay the same.
    pub fn store_flags_unless(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        system: u32,
        keywords: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)> {
        self.write_locked(|f, start| {
            let mut buf = Vec::new();
            let mut pending = Vec::new();
            let mut bits = system & format::SYSTEM_FLAGS;
            for k in keywords {
                bits |= match op {
                    FlagOp::Remove => match f.state.keywords.iter().position(|x| x.eq_ignore_ascii_case(k)) {
                        Some(i) => 1 << (5 + i),
                        None => 0,
                    },
                    _ => f.keyword_bit(k, &mut pending, &mut buf)?,
                };
            }
            let modseq = f.state.next_modseq();
            let mut changes = Vec::new();
            let mut modified = Vec::new();
            for &uid in uids {
                let Some(e) = f.state.find(uid).ok().and_then(|i| f.state.entries.get(i)) else { continue };
                if unchanged_since.is_some_and(|n| e.modseq > n) {
                    modified.push(uid);
                    continue;
                }
                let new = match op {
                    FlagOp::Add => e.flags | bits,
                    FlagOp::Remove => e.flags & !bits,
                    FlagOp::Replace => bits,
                };
                if new != e.flags || unchanged_since.is_some() {
                    changes.push((uid, new));
                }
            }
            for chunk in changes.chunks(MAX_PAIRS) {
                buf.extend(format::encode_flags(modseq, chunk));
            }
            if !buf.is_empty() {
                f.write_records(start, &buf)?;
            }
            Ok((changes.into_iter().map(|(u, fl)| (u, fl, modseq)).collect(), modified))
        })
    }

    /// Expunges the given UIDs that exist; returns them in ascending order.
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>> {
        self.write_locked(|f, start| {
            let mut gone: Vec<u32> = uids.iter().copied().filter(|&u| f.state.find(u).is_ok()).collect();
            gone.sort_unstable();
            gone.dedup();
            let ranges = to_ranges(&gone);
            let modseq = f.state.next_modseq();
            let mut buf = Vec::new();
            for chunk in ranges.chunks(MAX_PAIRS) {
                buf.extend(format::encode_expunge(modseq, chunk));
            }
            if !buf.is_empty() {
                f.write_records(start, &buf)?;
            }
            Ok(gone)
        })
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
    pub fn meta(&self, e: &Entry) -> Result<Vec<u8>> {
        let mut m = vec![0u8; e.meta_len() as usize];
        self.file.read_exact_at(&mut m, e.record_offset() + (HEADER_LEN + MESSAGE_FIXED) as u64)?;
        Ok(m)
    }

    /// The MESSAGE attrs word of `e` (see format docs).
    pub fn attrs(&self, e: &Entry) -> Result<u32> {
        let mut b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut b, e.record_offset() + HEADER_LEN as u64)?;
        Ok(MessageFixed::decode(&b).map_or(0, |m| m.attrs))
    }

    /// Names of keywords set in a flag word.
    pub fn keyword_names(&self, flags: u32) -> Vec<&str> {
        (0..format::MAX_KEYWORDS)
            .filter(|i| flags & (1 << (5 + i)) != 0)
            .filter_map(|i| self.state.keywords.get(i).map(String::as_str))
            .collect()
    }

    /// Writes the index now (best effort: it is a cache).
    pub fn save_index(&mut self) {
        if !self.readonly
            && self.state.track_entries
            && index::save(&index::path_for(&self.path), &self.state, self.ino).is_ok()
        {
            self.unindexed = 0;
        }
    }

    /// Rewrites the folder without expunged messages and superseded records.
    pub fn compact(&mut self) -> Result<(u64, u64)> {
        if self.poisoned {
            return Err(Error::new(ErrorKind::Io, "folder handle poisoned"));
        }
        self.lock()?;
        let r = self.catch_up_locked().and_then(|()| self.compact_locked());
        self.unlock();
        let (before, after, new_file) = r?;
        self.file = new_file;
        self.ino = self.file.metadata()?.ino();
        self.state = State::new(true);
        self.catch_up_unlocked()?;
        self.save_index();
        Ok((before, after))
    }

    fn compact_locked(&mut self) -> Result<(u64, u64, File)> {
        let tmp = compact_path(&self.path);
        let out = OpenOptions::new().read(true).write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let st = &self.state;
        let mut head = format::SIGNATURE.to_vec();
        head.extend(
            FolderHeader {
                uidvalidity: st.uidvalidity,
                uidnext: st.uidnext,
                modseq: st.highest_modseq,
                created: st.created,
            }
            .encode(),
        );
        for (i, k) in st.keywords.iter().enumerate() {
            head.extend(format::encode_keyword(i as u8, k));
        }
        out.write_all_at(&head, 0)?;
        let mut pos = head.len() as u64;
        for e in &st.entries {
            pos += self.copy_message(e, &out, pos)?;
        }
        out.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            crate::sys::fsync_dir(dir)?;
        }
        Ok((st.end, pos, out))
    }

    /// Copies one message record with its current flags and MODSEQ into `out` at `pos`.
    fn copy_message(&self, e: &Entry, out: &File, pos: u64) -> Result<u64> {
        let mut fixed_b = [0u8; MESSAGE_FIXED];
        self.file.read_exact_at(&mut fixed_b, e.record_offset() + HEADER_LEN as u64)?;
        let mut fixed =
            MessageFixed::decode(&fixed_b).ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))?;
        fixed.flags = e.flags;
        fixed.modseq = e.modseq;
        let mut meta = vec![0u8; e.meta_len() as usize];
        self.file.read_exact_at(&mut meta, e.record_offset() + (HEADER_LEN + MESSAGE_FIXED) as u64)?;
        let prefix = fixed
            .encode_record_prefix(&meta, u64::from(e.size))
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, "bad message record"))?;
        out.write_all_at(&prefix, pos)?;
        let mut reader = BufReader::with_capacity(IO_BUF, &self.file);
        reader.seek(SeekFrom::Start(e.body_offset()))?;
        copy_into(&mut reader.take(u64::from(e.size)), out, pos + prefix.len() as u64, u64::from(e.size))?;
        Ok(prefix.len() as u64 + u64::from(e.size))
    }

    /// Full verification for `check`: every record from the start, every checksum.
    pub fn verify(path: &Path) -> Result<Verification> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut sig = [0u8; 8];
        if file.read_exact_at(&mut sig, 0).is_err() || sig != format::SIGNATURE {
            return Ok(Verification { records: 0, bad: vec![(0, len)], messages: 0, state: State::new(true) });
        }
        let mut state = State::new(true);
        let mut v = Verification { records: 0, bad: Vec::new(), messages: 0, state: State::new(true) };
        let mut r = BufReader::with_capacity(IO_BUF, &file);
        let mut pos = 8u64;
        r.seek(SeekFrom::Start(pos))?;
        while pos < len {
            match read_record(&mut r, pos, len)? {
                Ok((h, cov)) if state.apply(pos, &h, &cov).is_ok() => {
                    v.records += 1;
                    pos += h.total();
                }
                _ => {
                    v.bad.push((pos, len));
                    break;
                }
            }
        }
        v.messages = state.entries.len();
        v.state = state;
        Ok(v)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        self.unlock();
        if self.unindexed > 0 && !self.poisoned {
            self.save_index();
        }
    }
}

/// Result of a full verification.
#[derive(Debug, Clone)]
pub struct Verification {
    pub records: u64,
    /// Damaged spans (start, end).
    pub bad: Vec<(u64, u64)>,
    pub messages: usize,
    /// The state replayed from the file (up to the first bad record).
    pub state: State,
}

/// The record header, encoded, for a MESSAGE with this fixed part (used to apply our own
/// appends without re-reading them).
fn fixed_header_bytes(fixed: &MessageFixed, meta: &[u8], body_len: u64) -> Result<Vec<u8>> {
    fixed.encode_record_prefix(meta, body_len).ok_or_else(|| Error::new(ErrorKind::TooBig, "message too large"))
}

/// A committed record (header and covered payload), or why not and its declared length.
type RecordRead = std::result::Result<(format::RecordHeader, Vec<u8>), (Bad, Option<u64>)>;

/// Reads one record at `pos` (reader positioned there). Returns the header and covered
/// payload, or why it is not committed and its declared total length if known.
fn read_record(r: &mut impl Read, pos: u64, len: u64) -> io::Result<RecordRead> {
    let mut hb = [0u8; HEADER_LEN];
    if len - pos < HEADER_LEN as u64 {
        return Ok(Err((Bad::Short, None)));
    }
    r.read_exact(&mut hb)?;
    let h = match format::decode_header(&hb) {
        Ok(h) => h,
        Err(b) => return Ok(Err((b, None))),
    };
    let total = h.total();
    if pos + total > len {
        return Ok(Err((Bad::Short, Some(total))));
    }
    if h.kind != Kind::Message && h.len > MAX_META_RECORD {
        return Ok(Err((Bad::Garbage, Some(total))));
    }
    let first = if h.kind == Kind::Message { MESSAGE_FIXED } else { h.len as usize };
    let mut covered = vec![0u8; first];
    r.read_exact(&mut covered)?;
    let cov_len = match format::covered_len(&h, &covered) {
        Ok(c) => c,
        Err(b) => return Ok(Err((b, Some(total)))),
    };
    if cov_len > first {
        let mut meta = vec![0u8; cov_len - first];
        r.read_exact(&mut meta)?;
        covered.extend_from_slice(&meta);
    }
    if format::record_crc(h.kind, h.len, &covered) != h.crc {
        skip(r, u64::from(h.len) - cov_len as u64)?;
        return Ok(Err((Bad::Checksum, Some(total))));
    }
    if h.kind == Kind::Message {
        let fixed = MessageFixed::decode(&covered).unwrap_or_default();
        let body_crc = crc_of(r, u64::from(h.len) - cov_len as u64)?;
        if body_crc != fixed.body_crc {
            return Ok(Err((Bad::Checksum, Some(total))));
        }
    }
    Ok(Ok((h, covered)))
}

fn crc_of(r: &mut impl Read, mut n: u64) -> io::Result<u32> {
    let mut c = Crc::new();
    let mut buf = [0u8; 16 * 1024];
    while n > 0 {
        let k = n.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..k).unwrap_or(&mut []);
        r.read_exact(chunk)?;
        c.update(chunk);
        n -= k as u64;
    }
    Ok(c.finish())
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    io::copy(&mut r.take(n), &mut io::sink()).map(|_| ())
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut []))? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Copies exactly `n` bytes from `src` into `dst` at `at`.
fn copy_into(src: &mut impl Read, dst: &File, mut at: u64, n: u64) -> Result<()> {
    let mut buf = vec![0u8; IO_BUF];
    let mut left = n;
    while left > 0 {
        let k = left.min(IO_BUF as u64) as usize;
        let chunk = buf.get_mut(..k).unwrap_or(&mut []);
        src.read_exact(chunk)?;
        super::fault::write_at(dst, chunk, at)?;
        at += k as u64;
        left -= k as u64;
    }
    Ok(())
}

/// Sorted, deduplicated UIDs to inclusive ranges.
pub fn to_ranges(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(u) => last.1 = u,
            _ => out.push((u, u)),
        }
    }
    out
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
