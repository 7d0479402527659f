//! The mailbox store: one append-only, checksummed file per folder in the owner's data
//! directory, plus a cache index per folder (DESIGN.md §2). The record format is specified in
//! [`format`](mod@format); concurrency, recovery and compaction in [`folder`].
//!
//! Layout of the data directory (created mode 0700):
//!
//! ```text
//! INBOX.lbx  INBOX.idx          folder file and its index
//! INBOX.mcx                     meta cache: summaries computed for messages stored without
//!                               one (a cache like the index; see `metacache`)
//! Sent.lbx   Sent.idx           other folders: name encoded by `file_stem`
//! *.lbx.quarantine              damaged bytes moved aside by recovery or `check --repair`
//! tmp/                          spill files of messages being received (unlinked at once)
//! subscriptions                 subscribed folder names, one per line (IMAP SUBSCRIBE)
//! special-use                   `\Attribute name` per line (RFC 6154; absent: the defaults)
//! INBOX.rename                  journal of a RENAME INBOX in progress (see `rename_inbox`)
//! folders.rename                journal of another RENAME in progress (see `rename_all`)
//! greylist                      greylisting state (`mailauth::greylist`, feature `checks`)
//! sieve/                        the owner's Sieve scripts and which is active (`scripts`, feature `sieve`)
//! ```
//!
//! Folder names are keys, never paths: `file_stem` keeps `[A-Za-z0-9_-]` and
//! percent-encodes every other byte (including `.` and `/`), so no name can reach outside the
//! directory; names with empty, `.` or `..` components or control characters are refused.

pub mod fault;
pub mod folder;
pub mod format;
pub mod index;
pub mod metacache;
#[cfg(feature = "sieve")]
pub mod scripts;
pub mod state;
pub mod vacation;
pub mod writer;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use folder::{FlagOp, Folder, NewMessage};
pub use state::Entry;

/// Store error classes; protocols map them to replies in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Disk full or quota (SMTP 452, sysexits 75).
    NoSpace,
    /// Read-only file system (SMTP 451).
    ReadOnly,
    /// Any other I/O failure, including a failed sync (SMTP 451).
    Io,
    /// Another process held the lock too long (SMTP 451).
    LockTimeout,
    TooBig,
    TooMany,
    Corrupt,
    NotFound,
    Exists,
    BadName,
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
}

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error { kind, msg: msg.into() }
    }

    /// Whether the sender should retry later (SMTP 4xx, sysexits 75).
    pub fn is_temporary(&self) -> bool {
        matches!(self.kind, ErrorKind::NoSpace | ErrorKind::ReadOnly | ErrorKind::Io | ErrorKind::LockTimeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        let kind = match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorKind::NoSpace,
            Some(libc::EROFS) => ErrorKind::ReadOnly,
            _ => ErrorKind::Io,
        };
        Error { kind, msg: e.to_string() }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Longest folder name in bytes.
pub const MAX_NAME: usize = 200;
/// The folder that always exists.
pub const INBOX: &str = "INBOX";
/// Folders every mail app expects, created at the first start (RFC 6154 SPECIAL-USE).
pub const SPECIAL_FOLDERS: [&str; 5] = ["Sent", "Drafts", "Trash", "Junk", "Archive"];

/// Their RFC 6154 attributes, in the same order.
pub const SPECIAL_USES: [&str; 5] = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"];
/// The special-use map: one `\Attribute name` per line (see `Store::special_use`).
const SPECIAL_USE_FILE: &str = "special-use";
/// Subscribed folder names, one per line (see `Store::subscriptions`).
const SUBSCRIPTIONS_FILE: &str = "subscriptions";
/// Journal of a RENAME INBOX in progress (see `Store::rename_inbox`).
const INBOX_RENAME_JOURNAL: &str = "INBOX.rename";
/// Journal of a folder RENAME in progress: `from<TAB>to` lines (see `Store::rename_all`).
const RENAME_JOURNAL: &str = "folders.rename";

/// A data directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed, mode 0700) a data directory with its INBOX.
    pub fn open(dir: &Path) -> Result<Store> {
        create_private_dir(dir)?;
        let s = Store { dir: dir.to_path_buf() };
        s.ensure(INBOX)?;
        s.recover_inbox_rename()?;
        s.recover_rename()?;
        Ok(s)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where spill files go.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// The folder file for a validated name.
    pub fn folder_path(&self, name: &str) -> Result<PathBuf> {
        let stem = file_stem(&canonical(name)?)?;
        Ok(self.dir.join(format!("{stem}.lbx")))
    }

    /// Creates the folder if it does not exist yet.
    pub fn ensure(&self, name: &str) -> Result<()> {
        match self.create(name) {
            Err(e) if e.kind == ErrorKind::Exists => Ok(()),
            r => r,
        }
    }

    /// Creates a folder; `Exists` if it is there.
    pub fn create(&self, name: &str) -> Result<()> {
        let p = self.folder_path(name)?;
        if p.exists() {
            return Err(Error::new(ErrorKind::Exists, "folder exists"));
        }
        Folder::create(&p, new_uidvalidity(), crate::util::unix_now())
    }

    pub fn open_folder(&self, name: &str) -> Result<Folder> {
        Folder::open(&self.folder_path(name)?)
    }

    /// Append-only handle without the message table (for `deliver`).
    pub fn open_folder_light(&self, name: &str) -> Result<Folder> {
        Folder::open_light(&self.folder_path(name)?)
    }

    /// Deletes a folder, its index and its meta cache (INBOX cannot be deleted).
    pub fn delete(&self, name: &str) -> Result<()> {
        let canon = canonical(name)?;
        if canon == INBOX {
            return Err(Error::new(ErrorKind::BadName, "INBOX cannot be deleted"));
        }
        let p = self.folder_path(&canon)?;
        std::fs::remove_file(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::new(ErrorKind::NotFound, "no such folder"),
            _ => e.into(),
        })?;
        let _ = std::fs::remove_file(index::path_for(&p));
        let _ = std::fs::remove_file(metacache::path_for(&p));
        crate::sys::fsync_dir(&self.dir)?;
        Ok(())
    }

    /// Renames one folder (see `rename_all`).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.rename_all(&[(from.to_owned(), to.to_owned())])
    }

    /// Renames folders, each `(from, to)` pair, as one step that a crash cannot cut in
    /// half: RENAME of a folder with its inferiors (RFC 3501 §6.3.5; the caller handles
    /// INBOX's special rename). No target may exist (`Exists`), and none is ever replaced.
    ///
    /// Under the data directory's lock (other renames and recoveries wait):
    ///
    /// 1. journal `folders.rename` (the pairs) written, synced, renamed into place,
    ///    directory synced;
    /// 2. every target hard-linked to its source (same inode: appenders keep writing into
    ///    it), directory synced;
    /// 3. every source name and its index unlinked, directory synced;
    /// 4. the special-use map (RFC 6154) and the subscriptions rewritten for the new
    ///    names, then the journal removed.
    ///
    /// After a crash, `Store::open` rolls the journal forward: a pair whose source and
    /// target share an inode loses its source name; a source without a target is linked,
    /// then unlinked. So the folders end up all renamed or (crash before 1) none, and no
    /// two names share a folder file.
    pub fn rename_all(&self, moves: &[(String, String)]) -> Result<()> {
        let mut pairs = Vec::with_capacity(moves.len());
        for (a, b) in moves {
            let (a, b) = (canonical(a)?, canonical(b)?);
            let (pa, pb) = (self.folder_path(&a)?, self.folder_path(&b)?);
            pairs.push((a, b, pa, pb));
        }
        let _dir_lock = self.lock_dir()?;
        for (_, _, pa, pb) in &pairs {
            if !pa.exists() {
                return Err(Error::new(ErrorKind::NotFound, "no such folder"));
            }
            if pb.exists() {
                return Err(Error::new(ErrorKind::Exists, "target exists"));
            }
        }
        let journal = self.dir.join(RENAME_JOURNAL);
        let tmp = self.dir.join(format!("{RENAME_JOURNAL}.new"));
        let text: String = pairs.iter().map(|(a, b, _, _)| format!("{a}\t{b}\n")).collect();
        crate::util::write_synced(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &journal)?;
        crate::sys::fsync_dir(&self.dir)?;
        fault::crash_point("rename.journal");
        for (i, (_, _, pa, pb)) in pairs.iter().enumerate() {
            if let Err(e) = std::fs::hard_link(pa, pb) {
                // Undone: the links made so far go, then the journal.
                for (_, _, _, made) in pairs.iter().take(i) {
                    let _ = std::fs::remove_file(made);
                }
                let _ = std::fs::remove_file(&journal);
                let _ = crate::sys::fsync_dir(&self.dir);
                return Err(match e.kind() {
                    io::ErrorKind::AlreadyExists => Error::new(ErrorKind::Exists, "target exists"),
                    _ => e.into(),
                });
            }
        }
        crate::sys::fsync_dir(&self.dir)?;
        fault::crash_point("rename.linked");
        for (_, _, pa, _) in &pairs {
            std::fs::remove_file(pa)?;
            let _ = std::fs::remove_file(index::path_for(pa));
            let _ = std::fs::remove_file(metacache::path_for(pa));
        }
        crate::sys::fsync_dir(&self.dir)?;
        fault::crash_point("rename.unlinked");
        let names: Vec<(String, String)> = pairs.into_iter().map(|(a, b, _, _)| (a, b)).collect();
        self.carry_names(&names)?;
        std::fs::remove_file(&journal)?;
        Ok(())
    }

    /// Step 4 of `rename_all` (and of its recovery): a renamed folder's special-use
    /// attribute (RFC 6154) and its subscription move to the new name. Idempotent.
    fn carry_names(&self, pairs: &[(String, String)]) -> Result<()> {
        let new_name = |n: &str| pairs.iter().find(|(a, _)| a == n).map(|(_, b)| b.clone());
        let map = self.special_use();
        if map.iter().any(|(_, n)| new_name(n).is_some()) {
            let renamed: Vec<(String, String)> =
                map.into_iter().map(|(attr, n)| (attr, new_name(&n).unwrap_or(n))).collect();
            self.set_special_use(&renamed)?;
        }
        let subs = self.subscriptions();
        if subs.iter().any(|n| new_name(n).is_some()) {
            let renamed: Vec<String> = subs.into_iter().map(|n| new_name(&n).unwrap_or(n)).collect();
            self.set_subscriptions(&renamed)?;
        }
        Ok(())
    }

    /// Subscribed folder names (IMAP SUBSCRIBE, RFC 3501 §6.3.6); `None` before the first
    /// start wrote the list.
    pub fn subscriptions_if_any(&self) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join(SUBSCRIPTIONS_FILE)).ok()?;
        Some(text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// Subscribed folder names (empty before the first start wrote the list).
    pub fn subscriptions(&self) -> Vec<String> {
        self.subscriptions_if_any().unwrap_or_default()
    }

    /// Replaces the subscription list (temp file, sync, rename, directory sync).
    pub fn set_subscriptions(&self, names: &[String]) -> Result<()> {
        let mut text = names.join("\n");
        text.push('\n');
        let tmp = self.dir.join(format!("{SUBSCRIPTIONS_FILE}.new"));
        crate::util::write_synced(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, self.dir.join(SUBSCRIPTIONS_FILE))?;
        crate::sys::fsync_dir(&self.dir)?;
        Ok(())
    }

    /// Recovery of an interrupted `rename_all`: rolls its journal forward (see there).
    fn recover_rename(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let journal = self.dir.join(RENAME_JOURNAL);
        if !journal.exists() {
            return Ok(());
        }
        let _dir_lock = self.lock_dir()?;
        let Ok(text) = std::fs::read_to_string(&journal) else {
            return Ok(()); // Finished meanwhile by the process that held the lock.
        };
        let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let mut names = Vec::new();
        for line in text.lines() {
            let Some((a, b)) = line.split_once('\t') else { continue };
            let (Ok(pa), Ok(pb)) = (self.folder_path(a), self.folder_path(b)) else { continue };
            match (inode(&pa), inode(&pb)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(_), None) => std::fs::hard_link(&pa, &pb)?,
                (None, Some(_)) => {
                    // Done already (the special-use map may still name the old folder).
                    names.push((a.to_owned(), b.to_owned()));
                    continue;
                }
                // Never started, or a different folder took the name since.
                _ => continue,
            }
            names.push((a.to_owned(), b.to_owned()));
            crate::sys::fsync_dir(&self.dir)?;
            std::fs::remove_file(&pa)?;
            let _ = std::fs::remove_file(index::path_for(&pa));
            let _ = std::fs::remove_file(metacache::path_for(&pa));
        }
        crate::sys::fsync_dir(&self.dir)?;
        self.carry_names(&names)?;
        std::fs::remove_file(&journal)?;
        crate::sys::fsync_dir(&self.dir)?;
        Ok(())
    }

    /// The data directory's exclusive lock (flock on the directory itself), held while
    /// folder names change; released when the returned handle drops.
    fn lock_dir(&self) -> Result<std::fs::File> {
        let f = std::fs::File::open(&self.dir)?;
        f.lock()?;
        Ok(f)
    }

    /// RFC 3501 §6.3.5 RENAME INBOX: every message of INBOX moves to the new folder `to`
    /// (UIDVALIDITY, UIDs and flags kept) and INBOX starts again empty. The whole INBOX file
    /// changes name, so no message is ever copied.
    ///
    /// The new INBOX keeps INBOX's UIDVALIDITY and goes on from its UIDNEXT and MODSEQ, as
    /// Dovecot's does: to a client, and to every session that has INBOX selected, the old
    /// messages were expunged (EXPUNGE, or VANISHED for QRESYNC) and new mail gets new UIDs.
    /// A fresh UIDVALIDITY would tell a cached client the same thing, but a session that
    /// stays selected cannot be told of it (RFC 3501 has no untagged UIDVALIDITY change), so
    /// it would see UID 1 again for a different message.
    ///
    /// Order of writes, all under INBOX's exclusive lock (appenders wait, then see the new
    /// inode and reopen, as after compaction):
    ///
    /// 1. journal `INBOX.rename` (the target name) written, synced, renamed into place,
    ///    directory synced;
    /// 2. hard link `INBOX.lbx` → `TO.lbx` (fails if `TO` exists), directory synced;
    /// 3. a synced empty folder file renamed over `INBOX.lbx`, directory synced;
    /// 4. journal removed.
    ///
    /// What recovery (`Store::open`, under the same lock) sees after a crash: before 1 or
    /// during 1, nothing changed (a `.new` temp file at most); after 1, the journal. If
    /// `TO.lbx` and `INBOX.lbx` are then the same inode, step 2 happened and step 3 did not:
    /// recovery does step 3 (the messages are in `TO`, once). Otherwise (no `TO.lbx`: step 2
    /// never reached the disk; a different inode: step 3 is done) it only removes the
    /// journal. So each message ends up in exactly one of the two folders, and the two
    /// names never share one file after `open`. Step 2 is synced before step 3 can reach the
    /// disk, so INBOX is never emptied while `TO` is missing.
    pub fn rename_inbox(&self, to: &str) -> Result<()> {
        let to = canonical(to)?;
        if to == INBOX {
            return Err(Error::new(ErrorKind::Exists, "INBOX always exists"));
        }
        let (inbox, target) = (self.folder_path(INBOX)?, self.folder_path(&to)?);
        let mut handle = Folder::open_light(&inbox)?;
        handle.with_lock_caught_up(|old| {
            if target.exists() {
                return Err(Error::new(ErrorKind::Exists, "target exists"));
            }
            let journal = self.dir.join(INBOX_RENAME_JOURNAL);
            let tmp = self.dir.join(format!("{INBOX_RENAME_JOURNAL}.new"));
            crate::util::write_synced(&tmp, to.as_bytes())?;
            std::fs::rename(&tmp, &journal)?;
            crate::sys::fsync_dir(&self.dir)?;
            fault::crash_point("rename_inbox.journal");
            if let Err(e) = std::fs::hard_link(&inbox, &target) {
                let _ = std::fs::remove_file(&journal);
                return Err(match e.kind() {
                    io::ErrorKind::AlreadyExists => Error::new(ErrorKind::Exists, "target exists"),
                    _ => e.into(),
                });
            }
            crate::sys::fsync_dir(&self.dir)?;
            fault::crash_point("rename_inbox.linked");
            self.finish_inbox_rename(&inbox, old)?;
            let _ = std::fs::remove_file(&journal);
            Ok(())
        })
    }

    /// Step 3 of `rename_inbox`: a new empty INBOX over the old name (the old file lives on
    /// as the target), then its stale index goes. It continues `old`: same UIDVALIDITY, the
    /// same UIDNEXT (no UID is ever used twice) and a MODSEQ one above the old highest (the
    /// expunge of everything is a change, RFC 7162 §3.2.10).
    fn finish_inbox_rename(&self, inbox: &Path, old: &state::State) -> Result<()> {
        let header = format::FolderHeader {
            uidvalidity: old.uidvalidity,
            uidnext: old.uidnext.max(1),
            modseq: old.highest_modseq.saturating_add(1),
            created: crate::util::unix_now(),
        };
        Folder::create_replacing(inbox, &header)?;
        crate::sys::fsync_dir(&self.dir)?;
        let _ = std::fs::remove_file(index::path_for(inbox));
        let _ = std::fs::remove_file(metacache::path_for(inbox));
        Ok(())
    }

    /// Recovery of an interrupted `rename_inbox` (see there), under INBOX's lock.
    fn recover_inbox_rename(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let journal = self.dir.join(INBOX_RENAME_JOURNAL);
        if !journal.exists() {
            return Ok(());
        }
        let inbox = self.folder_path(INBOX)?;
        // Waits for a rename in progress (it holds the lock), then follows its new INBOX.
        let mut handle = Folder::open_light(&inbox)?;
        handle.with_lock_caught_up(|old| {
            let Ok(to) = std::fs::read_to_string(&journal) else {
                return Ok(()); // Finished meanwhile by the process that held the lock.
            };
            let same = |a: &Path, b: &Path| -> bool {
                match (std::fs::metadata(a), std::fs::metadata(b)) {
                    (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
                    _ => false,
                }
            };
            if let Ok(target) = self.folder_path(&to) {
                if same(&inbox, &target) {
                    self.finish_inbox_rename(&inbox, old)?;
                }
            }
            std::fs::remove_file(&journal)?;
            crate::sys::fsync_dir(&self.dir)?;
            Ok(())
        })
    }

    /// Folders with a special-use attribute (RFC 6154 §2): `(attribute, folder)` pairs from
    /// the `special-use` file, or [`SPECIAL_FOLDERS`] while it does not exist.
    pub fn special_use(&self) -> Vec<(String, String)> {
        match std::fs::read_to_string(self.dir.join(SPECIAL_USE_FILE)) {
            Ok(text) => text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(a, n)| (a.to_owned(), n.to_owned()))
                .filter(|(a, n)| SPECIAL_USES.contains(&a.as_str()) && canonical(n).is_ok())
                .take(SPECIAL_USES.len())
                .collect(),
            Err(_) => SPECIAL_USES.iter().zip(SPECIAL_FOLDERS).map(|(a, n)| ((*a).to_owned(), n.to_owned())).collect(),
        }
    }

    /// Replaces the special-use map (temp file, sync, rename, directory sync).
    pub fn set_special_use(&self, map: &[(String, String)]) -> Result<()> {
        let text: String = map.iter().map(|(a, n)| format!("{a} {n}\n")).collect();
        let tmp = self.dir.join(format!("{SPECIAL_USE_FILE}.new"));
        crate::util::write_synced(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, self.dir.join(SPECIAL_USE_FILE))?;
        crate::sys::fsync_dir(&self.dir)?;
        Ok(())
    }

    /// All folder names, INBOX first, then sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for ent in std::fs::read_dir(&self.dir)? {
            let ent = ent?;
            let fname = ent.file_name();
            let Some(f) = fname.to_str() else { continue };
            if let Some(stem) = f.strip_suffix(".lbx") {
                if let Some(n) = decode_stem(stem) {
                    names.push(n);
                }
            }
        }
        names.sort_by(|a, b| (a != INBOX, a).cmp(&(b != INBOX, b)));
        Ok(names)
    }

    /// Bytes free for new mail.
    pub fn free_space(&self) -> Result<u64> {
        Ok(crate::sys::free_space(&self.dir)?)
    }
}

/// Validates a folder name and canonicalises INBOX (case-insensitive, RFC 3501 §5.1).
pub fn canonical(name: &str) -> Result<String> {
    let bad = |m: &str| Err(Error::new(ErrorKind::BadName, m.to_owned()));
    if name.is_empty() || name.len() > MAX_NAME {
        return bad("folder name empty or too long");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("control character in folder name");
    }
    if name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return bad("empty, '.' or '..' component in folder name");
    }
    if name.eq_ignore_ascii_case(INBOX) {
        return Ok(INBOX.to_owned());
    }
    Ok(name.to_owned())
}

/// Encodes a canonical name as a file stem (see module docs).
pub fn file_stem(name: &str) -> Result<String> {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.len() > 240 {
        return Err(Error::new(ErrorKind::BadName, "folder name too long"));
    }
    Ok(s)
}

/// Inverse of `file_stem`; `None` for stems we did not write.
pub fn decode_stem(stem: &str) -> Option<String> {
    let name = percent_decode(stem)?;
    canonical(&name).ok().filter(|c| file_stem(c).ok().as_deref() == Some(stem))
}

/// The `%XX` escapes of a file stem undone (stems of folders and of Sieve scripts); `None`
/// for a broken escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(stem: &str) -> Option<String> {
    let b = stem.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A UIDVALIDITY that differs between folder incarnations: seconds since the epoch, as
/// Dovecot does (RFC 3501 §2.3.1.1 only asks that it change when UIDs are reused).
/// Within one process it also strictly increases, so a folder deleted and re-created in
/// the same second still gets a new value (imaptest `uidvalidity`).
fn new_uidvalidity() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = (crate::util::unix_now() as u64 & 0xFFFF_FFFF).max(1) as u32;
    let prev = LAST.fetch_max(now, Ordering::SeqCst);
    if prev >= now {
        LAST.fetch_add(1, Ordering::SeqCst).wrapping_add(1).max(1)
    } else {
        now
    }
}

/// Creates `dir` with mode 0700 (leaves an existing directory's mode alone).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_keys_never_paths() {
        for bad in ["", "..", "../x", "a/../b", "/etc", "a//b", "x\ny", "a/", "\u{7f}"] {
            assert!(canonical(bad).is_err(), "{bad:?}");
        }
        assert_eq!(canonical("inbox").unwrap(), "INBOX");
        let stem = file_stem("Archive/2024.old ü").unwrap();
        assert!(!stem.contains('/') && !stem.contains('.'), "{stem}");
        assert_eq!(decode_stem(&stem).unwrap(), "Archive/2024.old ü");
        assert_eq!(decode_stem("not%zz"), None);
    }
}
