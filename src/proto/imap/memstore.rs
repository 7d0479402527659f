//! An in-memory [`Mailstore`] for tests and transcripts, plus [`MemStore::apply`] which
//! performs a session's write [`Event`]s the way a driver would (RFC 3501 semantics of
//! APPEND, STORE and EXPUNGE), so tests run without the real store. RFC 8514 save dates:
//! every message saved (delivered, appended, copied) gets [`MemStore::save_clock`] if set,
//! else none (the session then reports the INTERNALDATE, as for old records of the real
//! store); [`MemStore::set_save_date`] sets one directly.

use std::collections::BTreeMap;

use super::api::{
    flag, Changes, Event, FlagUpdate, FolderInfo, MailboxOp, Mailstore, MsgMeta, Snapshot, StoreError, StoreOp,
};
use super::session::Session;
use crate::mime::MimeSummary;

#[derive(Debug, Default)]
struct Folder {
    uidvalidity: u32,
    uidnext: u32,
    msgs: Vec<(MsgMeta, Vec<u8>)>,
    keywords: Vec<String>,
    /// Generation at which each uid was last touched (added or flags changed).
    touched: BTreeMap<u32, u64>,
    expunged: Vec<(u64, u32)>,
    /// RFC 8514 save date per UID (unix seconds); absent: unknown.
    saved: BTreeMap<u32, i64>,
}

/// An APPEND between `AppendStarted` and `AppendEnded`: folder, flags, keywords, date, body.
type PendingAppend = (String, u32, Vec<String>, Option<i64>, Vec<u8>);

/// See the module doc.
#[derive(Debug, Default)]
pub struct MemStore {
    folders: BTreeMap<String, Folder>,
    generation: u64,
    append: Vec<PendingAppend>,
    subscribed: std::collections::BTreeSet<String>,
    /// RFC 6154 attribute per folder name.
    special: BTreeMap<String, String>,
    /// Counts `read` calls (tests of streaming).
    pub reads: usize,
    /// What `free_space` answers (RFC 9208 quota tests); `None`: unknown.
    pub free: Option<u64>,
    /// The save date (unix seconds) given to messages saved from now on; `None`: none.
    pub save_clock: Option<i64>,
}

impl MemStore {
    pub fn new(folders: &[&str]) -> MemStore {
        let mut s = MemStore::default();
        for (i, f) in folders.iter().enumerate() {
            let folder = Folder { uidvalidity: 1000 + i as u32, uidnext: 1, ..Folder::default() };
            s.folders.insert((*f).to_owned(), folder);
        }
        s
    }

    /// Delivers a message (as SMTP would); returns its UID.
    pub fn deliver(&mut self, folder: &str, body: &[u8], flags: u32, date: i64) -> u32 {
        self.generation += 1;
        let g = self.generation;
        let Some(f) = self.folders.get_mut(folder) else {
            return 0;
        };
        let uid = f.uidnext;
        f.uidnext += 1;
        let meta = MsgMeta { uid, flags, size: body.len() as u64, internal_date: date, modseq: g, recent: false };
        f.msgs.push((meta, body.to_vec()));
        f.touched.insert(uid, g);
        if let Some(t) = self.save_clock {
            f.saved.insert(uid, t);
        }
        uid
    }

    /// Sets (or, with `None`, forgets) the save date of message `uid` in `folder`.
    pub fn set_save_date(&mut self, folder: &str, uid: u32, date: Option<i64>) {
        if let Some(f) = self.folders.get_mut(folder) {
            match date {
                Some(t) => f.saved.insert(uid, t),
                None => f.saved.remove(&uid),
            };
        }
    }

    /// Performs a write event and answers the session, as a driver does.
    pub fn apply(&mut self, event: &Event, session: &mut Session) {
        match event {
            Event::AppendStarted { folder, flags, keywords, date, .. } => {
                self.append.push((folder.clone(), *flags, keywords.clone(), *date, Vec::new()));
            }
            Event::AppendData(d) => {
                if let Some(a) = self.append.last_mut() {
                    a.4.extend_from_slice(d);
                }
            }
            Event::AppendAborted => self.append.clear(),
            Event::AppendEnded => {
                let mut validity = None;
                let mut uids = Vec::new();
                for (f, flags, kws, date, body) in std::mem::take(&mut self.append) {
                    let bits = flags | self.keyword_bits(&f, &kws);
                    uids.push(self.deliver(&f, &body, bits, date.unwrap_or(0)));
                    validity = Some(self.folders.get(&f).map_or(0, |x| x.uidvalidity));
                }
                session.append_all_done(validity.map(|v| (v, uids)).ok_or(StoreError::Io));
            }
            Event::Store { folder, uids, op, flags, keywords, unchanged_since } => {
                let modified = self.modified_since(folder, uids, *unchanged_since);
                let kept: Vec<u32> = uids.iter().copied().filter(|u| !modified.contains(u)).collect();
                let r = match kept.is_empty() {
                    true => Ok((Vec::new(), self.folders.get(folder).map(|f| f.keywords.clone()).unwrap_or_default())),
                    false => self.store(folder, &kept, *op, *flags, keywords),
                };
                session.store_done_with(r, modified);
            }
            Event::Expunge { folder, uids } => session.expunge_done(self.expunge(folder, uids)),
            Event::Copy { from, uids, to, mv } => {
                let r = self.copy(from, uids, to);
                if *mv && r.is_ok() {
                    let _ = self.expunge(from, uids);
                }
                session.copy_done(r);
            }
            Event::Mailbox(op) => session.mailbox_done(self.mailbox(op)),
            _ => {}
        }
    }

    /// A folder-level write (CREATE, DELETE, RENAME, SUBSCRIBE).
    pub fn mailbox(&mut self, op: &MailboxOp) -> Result<(), StoreError> {
        match op {
            MailboxOp::Create { name, special_use } => self.create(name, *special_use),
            MailboxOp::Delete { name } => self.delete(name),
            MailboxOp::Rename { from, to } => self.rename(from, to),
            MailboxOp::Subscribe { name, on } => self.subscribe(name, *on),
        }
    }

    pub fn create(&mut self, folder: &str, special_use: Option<&str>) -> Result<(), StoreError> {
        if self.folders.contains_key(folder) {
            return Err(StoreError::Exists);
        }
        if let Some(a) = special_use {
            self.special.insert(folder.to_owned(), a.to_owned());
        }
        let uidvalidity = 2000 + self.folders.len() as u32;
        self.folders.insert(folder.to_owned(), Folder { uidvalidity, uidnext: 1, ..Folder::default() });
        Ok(())
    }

    pub fn delete(&mut self, folder: &str) -> Result<(), StoreError> {
        self.folders.remove(folder).map(|_| ()).ok_or(StoreError::NotFound)
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        if self.folders.contains_key(to) {
            return Err(StoreError::Exists);
        }
        let f = self.folders.remove(from).ok_or(StoreError::NotFound)?;
        if from == "INBOX" {
            // RFC 3501 §6.3.5: the messages move, INBOX stays, empty, and goes on from its
            // UIDVALIDITY and UIDNEXT (as the real store does, see `Store::rename_inbox`).
            let (uidvalidity, uidnext) = (f.uidvalidity, f.uidnext);
            self.folders.insert(from.to_owned(), Folder { uidvalidity, uidnext, ..Folder::default() });
        }
        self.folders.insert(to.to_owned(), f);
        Ok(())
    }

    pub fn subscribe(&mut self, folder: &str, on: bool) -> Result<(), StoreError> {
        if on {
            self.subscribed.insert(folder.to_owned());
        } else {
            self.subscribed.remove(folder);
        }
        Ok(())
    }

    fn keyword_bits(&mut self, folder: &str, kws: &[String]) -> u32 {
        let Some(f) = self.folders.get_mut(folder) else {
            return 0;
        };
        let mut bits = 0;
        for k in kws {
            let i = match f.keywords.iter().position(|x| x.eq_ignore_ascii_case(k)) {
                Some(i) => i,
                None if f.keywords.len() < flag::KEYWORDS_MAX => {
                    f.keywords.push(k.clone());
                    f.keywords.len() - 1
                }
                None => continue,
            };
            bits |= 1 << (i as u32 + flag::KEYWORD_SHIFT);
        }
        bits
    }

    /// RFC 7162 §3.1.3: the UIDs of `uids` whose MODSEQ is above `since`.
    fn modified_since(&self, folder: &str, uids: &[u32], since: Option<u64>) -> Vec<u32> {
        let (Some(n), Some(f)) = (since, self.folders.get(folder)) else {
            return Vec::new();
        };
        f.msgs.iter().filter(|(m, _)| uids.contains(&m.uid) && m.modseq > n).map(|(m, _)| m.uid).collect()
    }

    /// RFC 3501 §6.4.6 semantics on the stored flags word (every listed message gets a new
    /// MODSEQ, as RFC 7162 §3.1.3 asks of an UNCHANGEDSINCE store).
    pub fn store(
        &mut self,
        folder: &str,
        uids: &[u32],
        op: StoreOp,
        flags: u32,
        kws: &[String],
    ) -> Result<(Vec<FlagUpdate>, Vec<String>), StoreError> {
        let bits = flags | self.keyword_bits(folder, kws);
        self.generation += 1;
        let g = self.generation;
        let f = self.folders.get_mut(folder).ok_or(StoreError::NotFound)?;
        let mut out = Vec::new();
        for (m, _) in f.msgs.iter_mut().filter(|(m, _)| uids.contains(&m.uid)) {
            m.flags = match op {
                StoreOp::Replace => bits,
                StoreOp::Add => m.flags | bits,
                StoreOp::Remove => m.flags & !bits,
            };
            m.modseq = g;
            f.touched.insert(m.uid, g);
            out.push(FlagUpdate { uid: m.uid, flags: m.flags, modseq: g });
        }
        Ok((out, f.keywords.clone()))
    }

    pub fn expunge(&mut self, folder: &str, uids: &[u32]) -> Result<Vec<u32>, StoreError> {
        self.generation += 1;
        let g = self.generation;
        let f = self.folders.get_mut(folder).ok_or(StoreError::NotFound)?;
        let gone: Vec<u32> = f.msgs.iter().map(|(m, _)| m.uid).filter(|u| uids.contains(u)).collect();
        f.msgs.retain(|(m, _)| !uids.contains(&m.uid));
        f.saved.retain(|u, _| !uids.contains(u));
        f.expunged.extend(gone.iter().map(|&u| (g, u)));
        Ok(gone)
    }

    /// COPY: the messages of `uids` appended to `to` with their flags and dates (the save
    /// date is the copy's: [`MemStore::save_clock`]).
    pub fn copy(&mut self, from: &str, uids: &[u32], to: &str) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let src = self.folders.get(from).ok_or(StoreError::NotFound)?;
        let picked: Vec<(MsgMeta, Vec<u8>)> = src.msgs.iter().filter(|(m, _)| uids.contains(&m.uid)).cloned().collect();
        if !self.folders.contains_key(to) {
            return Err(StoreError::NotFound);
        }
        let mut pairs = Vec::new();
        for (m, body) in picked {
            let uid = self.deliver(to, &body, m.flags & flag::SYSTEM, m.internal_date);
            pairs.push((m.uid, uid));
        }
        Ok((self.folders.get(to).map_or(0, |f| f.uidvalidity), pairs))
    }

    fn message(&self, folder: &str, uid: u32) -> Result<&[u8], StoreError> {
        let f = self.folders.get(folder).ok_or(StoreError::NotFound)?;
        let i = f.msgs.binary_search_by_key(&uid, |(m, _)| m.uid).map_err(|_| StoreError::NoMessage)?;
        f.msgs.get(i).map(|(_, b)| b.as_slice()).ok_or(StoreError::NoMessage)
    }
}

impl Mailstore for MemStore {
    fn free_space(&mut self) -> Option<u64> {
        self.free
    }

    fn folders(&mut self) -> Result<Vec<FolderInfo>, StoreError> {
        Ok(self
            .folders
            .keys()
            .map(|n| FolderInfo { name: n.clone(), attributes: self.special.get(n).into_iter().cloned().collect() })
            .collect())
    }

    fn open(&mut self, folder: &str) -> Result<Snapshot, StoreError> {
        let f = self.folders.get(folder).ok_or(StoreError::NotFound)?;
        let unseen = || f.msgs.iter().filter(|(m, _)| m.flags & flag::SEEN == 0);
        Ok(Snapshot {
            uidvalidity: f.uidvalidity,
            uidnext: f.uidnext,
            highest_modseq: self.generation,
            uids: f.msgs.iter().map(|(m, _)| m.uid).collect(),
            recent_above: u32::MAX,
            unseen: unseen().count() as u32,
            first_unseen: f.msgs.iter().position(|(m, _)| m.flags & flag::SEEN == 0).map_or(0, |i| i as u32 + 1),
            size: f.msgs.iter().map(|(m, _)| m.size).sum(),
            keywords: f.keywords.clone(),
            generation: self.generation,
            created: 0,
        })
    }

    fn changes(&mut self, folder: &str, since: u64) -> Result<Changes, StoreError> {
        let f = self.folders.get(folder).ok_or(StoreError::NotFound)?;
        let touched = |uid: u32| f.touched.get(&uid).is_some_and(|&g| g > since);
        let listed = f.expunged.iter().any(|(g, _)| *g > since) || f.msgs.iter().any(|(m, _)| touched(m.uid));
        Ok(Changes {
            generation: self.generation,
            uidvalidity: f.uidvalidity,
            uidnext: f.uidnext,
            highest_modseq: self.generation,
            uids: listed.then(|| f.msgs.iter().map(|(m, _)| m.uid).collect()),
            recent_above: u32::MAX,
            flags: f.msgs.iter().map(|(m, _)| *m).filter(|m| touched(m.uid)).collect(),
            keywords: f.keywords.clone(),
        })
    }

    fn metas(&mut self, folder: &str, uids: &[u32], out: &mut Vec<Option<MsgMeta>>) {
        let msgs = self.folders.get(folder).map_or(&[][..], |f| &f.msgs[..]);
        out.extend(uids.iter().map(|u| msgs.binary_search_by_key(u, |(m, _)| m.uid).ok().map(|i| msgs[i].0)));
    }

    fn expunged_since(&mut self, folder: &str, modseq: u64) -> Option<Vec<(u32, u32)>> {
        let f = self.folders.get(folder)?;
        Some(f.expunged.iter().filter(|(g, _)| *g > modseq).map(|&(_, u)| (u, u)).collect())
    }

    fn read(&mut self, folder: &str, uid: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        self.reads += 1;
        let body = self.message(folder, uid)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(body.len());
        let src = body.get(start..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        buf.get_mut(..n).unwrap_or(&mut []).copy_from_slice(src.get(..n).unwrap_or(&[]));
        Ok(n)
    }

    fn mime(&mut self, folder: &str, uid: u32) -> Result<MimeSummary, StoreError> {
        Ok(MimeSummary::parse(self.message(folder, uid)?))
    }

    fn save_date(&mut self, folder: &str, uid: u32) -> Result<Option<i64>, StoreError> {
        self.message(folder, uid)?;
        Ok(self.folders.get(folder).and_then(|f| f.saved.get(&uid).copied()))
    }

    fn subscriptions(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self.subscribed.iter().cloned().collect())
    }
}
