//! The owner's Sieve scripts, stored durably in `DATA/sieve/` (issue 16; RFC 5804 §1.6
//! script names, §2.4 HAVESPACE quotas, §2.8 SETACTIVE, §2.10 DELETESCRIPT refusing the
//! active script, §2.11.1 RENAMESCRIPT).
//!
//! Layout (the directory is created on the first write, mode 0700):
//!
//! ```text
//! sieve/STEM.sieve        one script; STEM is the name encoded by `store::file_stem`
//! sieve/STEM.sieve.new.P.N  a script being written by process P, write N (never listed;
//!                           a crash may leave one behind, harmless)
//! sieve/active            the active script's name, UTF-8, no newline (absent: none active)
//! sieve/active.new.P.N    the activation being written
//! ```
//!
//! Names are keys, never paths: [`valid_name`] refuses what RFC 5804 §1.6 refuses (control
//! characters, U+2028/U+2029) plus the empty name and over-long ones, and the stem encoding
//! keeps only `[A-Za-z0-9_-]`, so `/`, `.` and NUL can never reach the file system.
//!
//! Crash safety: every change is a new file written and synced under a temporary name, then
//! renamed over the old one, then the directory synced; a crash at any instant leaves the old
//! or the new script and the old or the new activation. RENAMESCRIPT of the active script is
//! three such steps (link the new name, switch `active`, unlink the old name): a crash between
//! them leaves the script under both names with one of them active, never no script.
//! Concurrent writers (the daemon and `letterbox sieve`) are not locked against each other:
//! each step is atomic (temporary names are unique per writer), and an owner editing from
//! two places at once gets the last write.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use super::fault::crash_point;

/// Scripts kept at most: an owner's rule sets are a handful; bounds LISTSCRIPTS and disk use.
pub const SCRIPTS_MAX: usize = 32;
/// One script's size: what the Sieve parser accepts (`sieve::Limits::script_bytes_max`).
pub const SCRIPT_BYTES_MAX: usize = 64 * 1024;
/// All scripts together: 16 full-size scripts; a router's flash is small.
pub const TOTAL_BYTES_MAX: u64 = 1024 * 1024;
/// A script name in bytes: long enough for a description, and its encoded stem (up to
/// three bytes per byte) plus the temporary suffix stays under the 255-byte file-name limit.
pub const NAME_BYTES_MAX: usize = 64;

const DIR: &str = "sieve";
const SUFFIX: &str = ".sieve";
const TMP_SUFFIX: &str = ".new";
const ACTIVE: &str = "active";

/// The script directory of one data directory.
#[derive(Debug, Clone)]
pub struct Scripts {
    dir: PathBuf,
}

/// RFC 5804 §1.6: a script name is UTF-8 without control characters (U+0000-U+001F,
/// U+007F-U+009F) or U+2028/U+2029; we also refuse the empty name and names over
/// [`NAME_BYTES_MAX`] bytes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && !name.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

/// The file stem of a valid name (`[A-Za-z0-9_-]` kept, every other byte `%XX`).
fn stem(name: &str) -> io::Result<String> {
    if !valid_name(name) {
        return Err(io::Error::new(ErrorKind::InvalidInput, "invalid script name"));
    }
    super::file_stem(name).map_err(|_| io::Error::new(ErrorKind::InvalidInput, "invalid script name"))
}

/// Inverse of [`stem`]; `None` for files we did not write.
fn name_of(file: &str) -> Option<String> {
    let s = file.strip_suffix(SUFFIX)?;
    let name = super::percent_decode(s)?;
    (stem(&name).ok()? == s).then_some(name)
}

fn not_found() -> io::Error {
    io::Error::new(ErrorKind::NotFound, "no such script")
}

impl Scripts {
    /// The scripts of the data directory `data_dir` (nothing is created until a write).
    pub fn open(data_dir: &Path) -> io::Result<Scripts> {
        Ok(Scripts { dir: data_dir.join(DIR) })
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        Ok(self.dir.join(format!("{}{SUFFIX}", stem(name)?)))
    }

    /// Every script as (name, active), sorted by name.
    pub fn list(&self) -> io::Result<Vec<(String, bool)>> {
        let active = self.active_name()?;
        let mut out: Vec<(String, bool)> =
            self.names()?.into_iter().map(|n| (n.clone(), active.as_deref() == Some(n.as_str()))).collect();
        out.sort();
        Ok(out)
    }

    /// The names of stored scripts (unsorted; empty before the first write).
    fn names(&self) -> io::Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in rd {
            if let Some(n) = e?.file_name().to_str().and_then(name_of) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The script `name`, or `None` when there is none (or the name is invalid).
    pub fn get(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let Ok(p) = self.path(name) else { return Ok(None) };
        match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores (or replaces) `name` durably. Refuses an invalid name (`InvalidInput`) and a
    /// script beyond the quotas (`QuotaExceeded`, see [`Scripts::have_space`]).
    pub fn put(&self, name: &str, script: &[u8]) -> io::Result<()> {
        let path = self.path(name)?;
        if !self.have_space(name, script.len() as u64) {
            return Err(io::Error::new(ErrorKind::QuotaExceeded, "script quota exceeded"));
        }
        super::create_private_dir(&self.dir)?;
        self.replace(&path, script, "sieve.put.synced")
    }

    /// Writes `path` as tmp + fsync + rename + fsync of the directory.
    /// The temporary name is unique per process and write, so two writers (the daemon's
    /// sessions, `letterbox sieve`) never rename each other's half-written file.
    fn replace(&self, path: &Path, data: &[u8], point: &str) -> io::Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!("{TMP_SUFFIX}.{}.{}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)));
        crate::util::write_synced(Path::new(&tmp), data)?;
        crash_point(point);
        std::fs::rename(&tmp, path)?;
        crate::sys::fsync_dir(&self.dir)
    }

    /// Makes `name` the active script (it must exist), or none with `None`; durable.
    pub fn activate(&self, name: Option<&str>) -> io::Result<()> {
        match name {
            Some(n) => {
                if self.get(n)?.is_none() {
                    return Err(not_found());
                }
                self.replace(&self.dir.join(ACTIVE), n.as_bytes(), "sieve.activate.synced")
            }
            None => match std::fs::remove_file(self.dir.join(ACTIVE)) {
                Ok(()) => crate::sys::fsync_dir(&self.dir),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        }
    }

    /// The name in `active`, if any (whether or not that script exists).
    fn active_name(&self) -> io::Result<Option<String>> {
        match std::fs::read(self.dir.join(ACTIVE)) {
            Ok(b) => Ok(String::from_utf8(b).ok().filter(|n| valid_name(n))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `name`; `NotFound` when absent, `ResourceBusy` when it is the active script
    /// (RFC 5804 §2.10: the ACTIVE response code).
    pub fn delete(&self, name: &str) -> io::Result<()> {
        let path = self.path(name).map_err(|_| not_found())?;
        if self.active_name()?.as_deref() == Some(name) {
            return Err(io::Error::new(ErrorKind::ResourceBusy, "the active script cannot be deleted"));
        }
        match std::fs::remove_file(path) {
            Ok(()) => crate::sys::fsync_dir(&self.dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// Renames `from` to `to` (RFC 5804 §2.11.1): `NotFound` when `from` is absent,
    /// `AlreadyExists` when `to` exists; the active script stays active under its new name.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let old = self.path(from).map_err(|_| not_found())?;
        let new = self.path(to)?;
        if !old.exists() {
            return Err(not_found());
        }
        // A hard link never replaces an existing name: the check and the step are one.
        std::fs::hard_link(&old, &new)?;
        crate::sys::fsync_dir(&self.dir)?;
        crash_point("sieve.rename.linked");
        if self.active_name()?.as_deref() == Some(from) {
            self.replace(&self.dir.join(ACTIVE), to.as_bytes(), "sieve.rename.activating")?;
            crash_point("sieve.rename.switched");
        }
        std::fs::remove_file(&old)?;
        crate::sys::fsync_dir(&self.dir)
    }

    /// The active script, name and bytes: what the delivery step runs. `None` when no script
    /// is active (or the active one vanished).
    pub fn active(&self) -> io::Result<Option<(String, Vec<u8>)>> {
        let Some(name) = self.active_name()? else { return Ok(None) };
        Ok(self.get(&name)?.map(|b| (name, b)))
    }

    /// Whether `name` may be stored with `size` bytes (RFC 5804 §2.3 HAVESPACE): within
    /// [`SCRIPT_BYTES_MAX`], [`SCRIPTS_MAX`] (a new name) and [`TOTAL_BYTES_MAX`] counting
    /// the other scripts. False also for an invalid name or an unreadable directory.
    pub fn have_space(&self, name: &str, size: u64) -> bool {
        if !valid_name(name) || size > SCRIPT_BYTES_MAX as u64 {
            return false;
        }
        let Ok(names) = self.names() else { return false };
        let others: Vec<&String> = names.iter().filter(|n| n.as_str() != name).collect();
        if others.len() >= SCRIPTS_MAX {
            return false;
        }
        let mut total = size;
        for n in others {
            let len = self.path(n).and_then(std::fs::metadata).map(|m| m.len()).unwrap_or(0);
            total = total.saturating_add(len);
        }
        total <= TOTAL_BYTES_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(name: &str) -> (PathBuf, Scripts) {
        let dir = std::env::temp_dir().join(format!("lb-scripts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = Scripts::open(&dir).unwrap();
        (dir, s)
    }

    #[test]
    fn put_get_list_activate_delete_rename() {
        let (dir, s) = scripts("cycle");
        assert_eq!(s.list().unwrap(), vec![]);
        assert!(!dir.join("sieve").exists(), "created on first write only");
        s.put("b", b"keep;").unwrap();
        s.put("a/../x", b"discard;").unwrap();
        assert_eq!(s.get("b").unwrap().unwrap(), b"keep;");
        assert_eq!(s.get("nope").unwrap(), None);
        s.activate(Some("b")).unwrap();
        assert_eq!(s.list().unwrap(), vec![("a/../x".into(), false), ("b".into(), true)]);
        assert_eq!(s.active().unwrap(), Some(("b".into(), b"keep;".to_vec())));
        assert_eq!(s.delete("b").unwrap_err().kind(), ErrorKind::ResourceBusy);
        assert_eq!(s.activate(Some("zz")).unwrap_err().kind(), ErrorKind::NotFound);
        s.rename("b", "c").unwrap();
        assert_eq!(s.active().unwrap(), Some(("c".into(), b"keep;".to_vec())), "active follows the rename");
        assert_eq!(s.rename("c", "a/../x").unwrap_err().kind(), ErrorKind::AlreadyExists);
        assert_eq!(s.rename("gone", "d").unwrap_err().kind(), ErrorKind::NotFound);
        s.put("c", b"stop;").unwrap();
        assert_eq!(s.active().unwrap().unwrap().1, b"stop;", "replaced in place");
        s.activate(None).unwrap();
        assert_eq!(s.active().unwrap(), None);
        s.delete("c").unwrap();
        assert_eq!(s.delete("c").unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(s.list().unwrap(), vec![("a/../x".into(), false)]);
        let files: Vec<String> = std::fs::read_dir(dir.join("sieve"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(files.iter().all(|f| !f.contains('/') && f.matches('.').count() == 1), "{files:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_with_path_characters_or_controls_never_become_paths() {
        for bad in ["", "a\0b", "x\ny", "\u{7f}", "\u{85}", "a\u{2028}b", &"n".repeat(NAME_BYTES_MAX + 1)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let (dir, s) = scripts("names");
        assert_eq!(s.put("a\0b", b"keep;").unwrap_err().kind(), ErrorKind::InvalidInput);
        for tricky in ["../../etc/passwd", "/abs", ".", "..", "ü.sieve", "a%2Fb"] {
            s.put(tricky, b"keep;").unwrap();
            assert_eq!(s.get(tricky).unwrap().unwrap(), b"keep;", "{tricky}");
        }
        let mut got: Vec<String> = s.list().unwrap().into_iter().map(|(n, _)| n).collect();
        got.sort();
        assert_eq!(got, [".", "..", "../../etc/passwd", "/abs", "a%2Fb", "ü.sieve"]);
        assert!(!dir.join("etc").exists() && !Path::new("/abs.sieve").exists());
        std::fs::write(dir.join("sieve/stray.txt"), b"x").unwrap();
        std::fs::write(dir.join("sieve/%zz.sieve"), b"x").unwrap();
        assert_eq!(s.list().unwrap().len(), 6, "files we did not write are not scripts");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quotas_refuse_beyond_the_limits() {
        assert_eq!(SCRIPT_BYTES_MAX, crate::sieve::Limits::default().script_bytes_max);
        let (dir, s) = scripts("quota");
        assert!(s.have_space("a", SCRIPT_BYTES_MAX as u64));
        assert!(!s.have_space("a", SCRIPT_BYTES_MAX as u64 + 1));
        let big = vec![b'#'; SCRIPT_BYTES_MAX];
        for i in 0..(TOTAL_BYTES_MAX as usize / SCRIPT_BYTES_MAX) {
            s.put(&format!("s{i}"), &big).unwrap();
        }
        assert!(!s.have_space("one-more", 1), "total bytes");
        assert_eq!(s.put("one-more", b"k").unwrap_err().kind(), ErrorKind::QuotaExceeded);
        assert!(s.have_space("s0", SCRIPT_BYTES_MAX as u64), "replacing counts the new size only");
        s.put("s0", b"keep;").unwrap();
        for i in 16..SCRIPTS_MAX {
            s.put(&format!("s{i}"), b"keep;").unwrap();
        }
        assert!(!s.have_space("new", 1), "script count");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
