//! The durable state of one fetch account, in `DATA/fetch/NAME.state`, and its intent
//! record `DATA/fetch/NAME.intent` (see the module docs of `fetch` for how the two make a
//! pull exactly-once across a crash).
//!
//! The state file is text, one line per item, replaced atomically (temporary file, fsync,
//! rename, fsync of the directory):
//! - `imap UIDVALIDITY LAST RECHECK FOLDER` — per remote IMAP folder: the UIDVALIDITY seen,
//!   the highest UID pulled (or skipped for size) under it, and after a UIDVALIDITY change
//!   the UIDNEXT of then: UIDs below it may be messages already stored (the Message-ID and
//!   size rule applies to them, also in a later session after a crash);
//! - `imapdel UID FOLDER` — a message stored with `keep = false` whose remote deletion is
//!   not known to be done (deleted, and the line dropped, by the next session);
//! - `pop3 UIDL` — each POP3 unique-id pulled that is still on the server.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Largest state file read: 20,000 UIDLs of 70 bytes; a larger file is refused (corrupt).
pub const STATE_MAX: u64 = 2 << 20;

/// Per remote IMAP folder: UIDVALIDITY and the highest UID done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImapMark {
    pub uidvalidity: u32,
    pub last: u32,
    /// UIDs below this existed when the UIDVALIDITY changed (0: no change seen).
    pub recheck: u32,
}

/// The account's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub imap: BTreeMap<String, ImapMark>,
    /// (remote folder, UID) stored and still to delete remotely (`keep = false`).
    pub imap_delete: BTreeSet<(String, u32)>,
    pub uidls: BTreeSet<String>,
}

/// An append about to happen: the local folder and the message's remote id (`Received:
/// … id TOKEN`); settled on the next start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub folder: String,
    pub token: String,
    /// What the state becomes once the message is known to be stored.
    pub done: Done,
}

/// The state change an intent stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The folder's mark advances; with `delete`, its UID joins the deletions to do.
    Imap {
        folder: String,
        mark: ImapMark,
        delete: bool,
    },
    Pop3(String),
}

impl State {
    /// Parses the state file's text; unknown or bad lines are an error (never skipped:
    /// a lost line would pull mail twice).
    pub fn parse(text: &str) -> Result<State, String> {
        let mut s = State::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let bad = || format!("bad state line {line:?}");
            match line.split_once(' ') {
                Some(("imap", rest)) => {
                    let mut p = rest.splitn(4, ' ');
                    let mut num = || p.next().and_then(|x| x.parse().ok()).ok_or_else(bad);
                    let (uidvalidity, last, recheck) = (num()?, num()?, num()?);
                    let folder = p.next().ok_or_else(bad)?;
                    s.imap.insert(folder.to_owned(), ImapMark { uidvalidity, last, recheck });
                }
                Some(("imapdel", rest)) => {
                    let (uid, folder) = rest.split_once(' ').ok_or_else(bad)?;
                    s.imap_delete.insert((folder.to_owned(), uid.parse().map_err(|_| bad())?));
                }
                Some(("pop3", uidl)) if !uidl.contains(' ') => {
                    s.uidls.insert(uidl.to_owned());
                }
                _ => return Err(bad()),
            }
        }
        Ok(s)
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (f, m) in &self.imap {
            out.push_str(&format!("imap {} {} {} {f}\n", m.uidvalidity, m.last, m.recheck));
        }
        for (f, uid) in &self.imap_delete {
            out.push_str(&format!("imapdel {uid} {f}\n"));
        }
        for u in &self.uidls {
            out.push_str(&format!("pop3 {u}\n"));
        }
        out
    }

    pub fn apply(&mut self, d: &Done) {
        match d {
            Done::Imap { folder, mark, delete } => {
                self.imap.insert(folder.clone(), *mark);
                if *delete {
                    self.imap_delete.insert((folder.clone(), mark.last));
                }
            }
            Done::Pop3(u) => {
                self.uidls.insert(u.clone());
            }
        }
    }
}

impl Intent {
    fn encode(&self) -> String {
        let mut st = State::default();
        st.apply(&self.done);
        format!("{}\n{}\n{}", self.folder, self.token, st.encode())
    }

    fn parse(text: &str) -> Option<Intent> {
        let (folder, rest) = text.split_once('\n')?;
        let (token, done) = rest.split_once('\n')?;
        let st = State::parse(done).ok()?;
        let delete = !st.imap_delete.is_empty();
        let done = match (st.imap.into_iter().next(), st.uidls.into_iter().next()) {
            (Some((folder, mark)), _) => Done::Imap { folder, mark, delete },
            (None, Some(u)) => Done::Pop3(u),
            _ => return None,
        };
        Some(Intent { folder: folder.to_owned(), token: token.to_owned(), done })
    }
}

/// The files of one account under `DATA/fetch/`.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
    name: String,
}

impl Files {
    pub fn new(data_dir: &Path, account: &str) -> Files {
        Files { dir: data_dir.join("fetch"), name: account.to_owned() }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state", self.name))
    }

    fn intent_path(&self) -> PathBuf {
        self.dir.join(format!("{}.intent", self.name))
    }

    /// The account's exclusive lock (`NAME.lock`, flock), held for as long as the handle
    /// lives: `serve` and `letterbox fetch` never pull one account at the same time (both
    /// would store the same messages). `None` when another process holds it.
    pub fn lock(&self) -> io::Result<Option<std::fs::File>> {
        crate::store::create_private_dir(&self.dir)?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{}.lock", self.name)))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// The saved state (empty when none yet).
    pub fn load(&self) -> io::Result<State> {
        let p = self.state_path();
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(e),
            Ok(m) if m.len() > STATE_MAX => return Err(io::Error::other(format!("{}: too large", p.display()))),
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&p)?;
        State::parse(&text).map_err(|e| io::Error::other(format!("{}: {e}", p.display())))
    }

    /// Replaces the state durably.
    pub fn save(&self, s: &State) -> io::Result<()> {
        self.replace(&self.state_path(), s.encode().as_bytes())
    }

    /// Records the intent durably before the append.
    pub fn write_intent(&self, i: &Intent) -> io::Result<()> {
        self.replace(&self.intent_path(), i.encode().as_bytes())
    }

    /// The pending intent, if a pull was interrupted.
    pub fn intent(&self) -> io::Result<Option<Intent>> {
        match std::fs::read_to_string(self.intent_path()) {
            Ok(t) => Ok(Intent::parse(&t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the intent once the state covers it (or the append is known not to have landed).
    pub fn clear_intent(&self) -> io::Result<()> {
        match std::fs::remove_file(self.intent_path()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => crate::sys::fsync_dir(&self.dir),
        }
    }

    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        crate::store::create_private_dir(&self.dir)?;
        let tmp = path.with_extension("new");
        crate::util::write_synced(&tmp, data)?;
        std::fs::rename(&tmp, path)?;
        crate::sys::fsync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_intent_round_trip() {
        let mut s = State::default();
        s.apply(&Done::Imap {
            folder: "Old Mail".into(),
            mark: ImapMark { uidvalidity: 7, last: 42, recheck: 40 },
            delete: true,
        });
        assert!(s.imap_delete.contains(&("Old Mail".to_owned(), 42)));
        s.apply(&Done::Pop3("abc".into()));
        assert_eq!(State::parse(&s.encode()).unwrap(), s);
        assert!(State::parse("imap x 1 0 F\n").is_err());
        assert!(State::parse("imap 1 1 F\n").is_err());
        assert!(State::parse("what\n").is_err());
        let dir = std::env::temp_dir().join(format!("lb-fetch-state-{}", std::process::id()));
        let f = Files::new(&dir, "isp");
        assert_eq!(f.load().unwrap(), State::default());
        let held = f.lock().unwrap();
        assert!(held.is_some());
        assert!(Files::new(&dir, "isp").lock().unwrap().is_none(), "a second holder is refused");
        drop(held);
        assert!(f.lock().unwrap().is_some());
        f.save(&s).unwrap();
        assert_eq!(f.load().unwrap(), s);
        let i = Intent { folder: "INBOX".into(), token: "isp/abc".into(), done: Done::Pop3("abc".into()) };
        f.write_intent(&i).unwrap();
        assert_eq!(f.intent().unwrap(), Some(i));
        f.clear_intent().unwrap();
        let mark = ImapMark { uidvalidity: 1, last: 2, recheck: 0 };
        let i = Intent {
            folder: "F".into(),
            token: "t".into(),
            done: Done::Imap { folder: "A b".into(), mark, delete: true },
        };
        f.write_intent(&i).unwrap();
        assert_eq!(f.intent().unwrap(), Some(i));
        f.clear_intent().unwrap();
        assert_eq!(f.intent().unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
