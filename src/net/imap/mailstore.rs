//! The IMAP core's `Mailstore` over the store: reads through the process's shared folder
//! handles (RFC 3501 §6.3.1 SELECT, §6.3.10 STATUS, §6.4.5 FETCH), changes for NOOP/IDLE
//! computed from MODSEQs and UID lists (RFC 3501 §7.4.1, RFC 7162 §3.1), and the \Recent
//! claims shared by the sessions of the process (RFC 3501 §2.3.2).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::mime::{MimeParser, MimeSummary};
use crate::net::Server;
use crate::proto::imap::{Changes, EnvelopeField, FolderInfo, Mailstore, MsgMeta, Snapshot, StoreError};
use crate::store::{self, ErrorKind};

/// What this session last reported for a folder, to compute `Changes`. The UID list it
/// reported is the core's view (shared, see [`shared_uids`]); it is not kept here.
#[derive(Default)]
struct Reported {
    generation: u64,
    modseq: u64,
    uidnext: u32,
}

/// The `Mailstore` of one session.
pub(super) struct Store<'a> {
    srv: &'a Server,
    reported: HashMap<String, Reported>,
    /// The folder this session has SELECTed and so takes \Recent for (RFC 3501 §2.3.2).
    claiming: Option<String>,
}

impl<'a> Store<'a> {
    pub(super) fn new(srv: &'a Server) -> Store<'a> {
        Store { srv, reported: HashMap::new(), claiming: None }
    }

    /// A folder deleted or renamed: its shared handle, what this session reported of it and
    /// its \Recent claims go (a successor may reuse UIDVALIDITY and UIDs).
    pub(super) fn forget(&mut self, folder: &str) {
        self.srv.forget_folder(folder);
        self.reported.remove(folder);
        forget_recent(folder);
    }

    /// A folder this session reported on, if any (the selected one: a session reports one).
    pub(super) fn watched(&self) -> Option<&str> {
        self.reported.keys().next().map(String::as_str)
    }
}

thread_local! {
    /// Per folder: (UIDVALIDITY, highest UID already announced as recent to some session).
    /// Process-wide for the sessions of this thread (sessions share one executor thread).
    static RECENT_CLAIMED: std::cell::RefCell<HashMap<String, (u32, u32)>> =
        std::cell::RefCell::new(HashMap::new());
}

/// A folder's UID list as last handed to a session, and the state it matches.
struct SharedList {
    uidvalidity: u32,
    modseq: u64,
    uidnext: u32,
    list: Weak<[u32]>,
}

thread_local! {
    /// Per folder: the UID list sessions at the folder's current state share (issue 5: 100
    /// sessions on one folder hold one list, not 100). Weak: the list lives as long as a
    /// session shows it; a dead entry's allocation is freed at the next `shared_uids`.
    static UID_LISTS: std::cell::RefCell<HashMap<String, SharedList>> = std::cell::RefCell::new(HashMap::new());
}

/// The UID list of `st`, shared with every session that already got the same list.
fn shared_uids(folder: &str, st: &store::state::State) -> Arc<[u32]> {
    UID_LISTS.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|_, s| s.list.strong_count() > 0);
        if let Some(s) = m.get_mut(folder) {
            if let Some(list) = s.list.upgrade() {
                let same = s.uidvalidity == st.uidvalidity
                    && ((s.modseq == st.highest_modseq && s.uidnext == st.uidnext)
                        || (list.len() == st.entries.len() && list.iter().zip(&st.entries).all(|(u, e)| *u == e.uid)));
                if same {
                    s.modseq = st.highest_modseq;
                    s.uidnext = st.uidnext;
                    return list;
                }
            }
        }
        let list: Arc<[u32]> = st.entries.iter().map(|e| e.uid).collect();
        let entry = SharedList {
            uidvalidity: st.uidvalidity,
            modseq: st.highest_modseq,
            uidnext: st.uidnext,
            list: Arc::downgrade(&list),
        };
        m.insert(folder.to_owned(), entry);
        list
    })
}

/// The highest UID of `folder` already recent in some session (0 after a UIDVALIDITY change).
fn recent_claimed(folder: &str, uidvalidity: u32) -> u32 {
    RECENT_CLAIMED.with(|m| m.borrow().get(folder).filter(|(v, _)| *v == uidvalidity).map_or(0, |(_, u)| *u))
}

/// A deleted or renamed folder: its successor may reuse UIDVALIDITY and UIDs.
pub(super) fn forget_recent(folder: &str) {
    RECENT_CLAIMED.with(|m| m.borrow_mut().remove(folder));
}

/// Marks every UID of `folder` up to `uid` as announced.
fn claim_recent_upto(folder: &str, uidvalidity: u32, uid: u32) {
    RECENT_CLAIMED.with(|m| {
        let mut m = m.borrow_mut();
        let e = m.entry(folder.to_owned()).or_insert((uidvalidity, 0));
        if e.0 != uidvalidity {
            *e = (uidvalidity, 0);
        }
        e.1 = e.1.max(uid);
    });
}

pub(super) fn store_err(e: &store::Error) -> StoreError {
    match e.kind {
        ErrorKind::NotFound => StoreError::NotFound,
        ErrorKind::BadName => StoreError::Cannot,
        ErrorKind::Exists => StoreError::Exists,
        ErrorKind::NoSpace | ErrorKind::TooBig | ErrorKind::TooMany => StoreError::Full,
        _ => StoreError::Io,
    }
}

fn meta_of(e: &store::Entry) -> MsgMeta {
    MsgMeta {
        uid: e.uid,
        flags: e.flags,
        size: u64::from(e.size),
        internal_date: i64::from(e.date),
        modseq: e.modseq,
        recent: false,
    }
}

impl Mailstore for Store<'_> {
    fn folders(&mut self) -> Result<Vec<FolderInfo>, StoreError> {
        let names = self.srv.store.list().map_err(|e| store_err(&e))?;
        let special = self.srv.store.special_use();
        Ok(names
            .into_iter()
            .map(|name| {
                let attributes = special.iter().filter(|(_, n)| *n == name).map(|(a, _)| a.clone()).collect();
                FolderInfo { name, attributes }
            })
            .collect())
    }

    fn open(&mut self, folder: &str) -> Result<Snapshot, StoreError> {
        let mut snap = self.peek(folder)?;
        let rep = self.reported.entry(folder.to_owned()).or_default();
        rep.generation += 1;
        rep.modseq = snap.highest_modseq;
        rep.uidnext = snap.uidnext;
        snap.generation = rep.generation;
        Ok(snap)
    }

    /// The data directory's free space less `free_space_reserve` (RFC 9208 quota).
    fn free_space(&mut self) -> Option<u64> {
        let free = crate::sys::free_space(self.srv.store.dir()).ok()?;
        Some(free.saturating_sub(self.srv.config().limits.free_space_reserve))
    }

    fn peek(&mut self, folder: &str) -> Result<Snapshot, StoreError> {
        let f = self.srv.folder(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let st = f.state();
        let mut unseen = 0u32;
        let mut first_unseen = 0u32;
        let mut size = 0u64;
        for (i, e) in st.entries.iter().enumerate() {
            if e.flags & crate::proto::imap::flag::SEEN == 0 {
                unseen += 1;
                if first_unseen == 0 {
                    first_unseen = u32::try_from(i + 1).unwrap_or(u32::MAX);
                }
            }
            size += u64::from(e.size);
        }
        Ok(Snapshot {
            uidvalidity: st.uidvalidity,
            uidnext: st.uidnext,
            highest_modseq: st.highest_modseq,
            uids: shared_uids(folder, st),
            recent_above: recent_claimed(folder, st.uidvalidity),
            unseen,
            first_unseen,
            size,
            keywords: st.keywords.clone(),
            generation: 0,
            created: st.created,
        })
    }

    /// Cheap (no UID list, no scan): NOTIFY calls it for every watched folder each tick.
    fn counts(&mut self, folder: &str) -> Result<(usize, u32, u32, u64), StoreError> {
        let f = self.srv.folder(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let st = f.state();
        Ok((st.entries.len(), st.uidnext, st.uidvalidity, st.highest_modseq))
    }

    fn claim_recent(&mut self, folder: &str) {
        if let Ok(f) = self.srv.folder(folder) {
            let f = f.borrow();
            let st = f.state();
            claim_recent_upto(folder, st.uidvalidity, st.uidnext.saturating_sub(1));
        }
        self.claiming = Some(folder.to_owned());
    }

    fn changes(&mut self, folder: &str, _generation: u64) -> Result<Changes, StoreError> {
        let f = self.srv.folder(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let st = f.state();
        let rep = self.reported.entry(folder.to_owned()).or_default();
        let mut c = Changes {
            generation: rep.generation,
            uidvalidity: st.uidvalidity,
            uidnext: st.uidnext,
            highest_modseq: st.highest_modseq,
            keywords: st.keywords.clone(),
            ..Changes::default()
        };
        if st.highest_modseq == rep.modseq && st.uidnext == rep.uidnext {
            return Ok(c);
        }
        // Expunges and arrivals: the core compares its list with the current one.
        c.uids = Some(shared_uids(folder, st));
        c.recent_above = recent_claimed(folder, st.uidvalidity);
        c.flags = st.entries.iter().filter(|e| e.modseq > rep.modseq && e.uid < rep.uidnext).map(meta_of).collect();
        if self.claiming.as_deref() == Some(folder) {
            claim_recent_upto(folder, st.uidvalidity, st.uidnext.saturating_sub(1));
        }
        rep.generation += 1;
        rep.modseq = st.highest_modseq;
        rep.uidnext = st.uidnext;
        c.generation = rep.generation;
        Ok(c)
    }

    fn expunged_since(&mut self, folder: &str, modseq: u64) -> Option<Vec<(u32, u32)>> {
        let f = self.srv.folder(folder).ok()?;
        let f = f.borrow();
        f.state().expunged_since(modseq)
    }

    fn metas(&mut self, folder: &str, uids: &[u32], out: &mut Vec<Option<MsgMeta>>) {
        let Ok(f) = self.srv.folder_cached(folder) else {
            out.extend(uids.iter().map(|_| None));
            return;
        };
        let f = f.borrow();
        let entries = f.entries();
        // Both ascend: the next entry usually is the one; otherwise search what is left.
        let mut at = 0usize;
        for &u in uids {
            let rest = entries.get(at..).unwrap_or(&[]);
            let found = match rest.first() {
                Some(e) if e.uid == u => Ok(0),
                _ => rest.binary_search_by_key(&u, |e| e.uid),
            };
            match found {
                Ok(i) => {
                    out.push(rest.get(i).map(meta_of));
                    at += i + 1;
                }
                Err(i) => {
                    // Expunged by another session: its bytes may still be readable.
                    out.push(f.entry(u).map(|e| meta_of(&e)));
                    at += i;
                }
            }
        }
    }

    fn read(&mut self, folder: &str, uid: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
        f.read_body(&e, offset, buf).map_err(|e| store_err(&e))
    }

    /// The body CRC-32C kept in the message's record (RFC 8474 EMAILID without a re-read).
    fn body_crc(&mut self, folder: &str, uid: u32) -> Result<u32, StoreError> {
        let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
        f.body_crc_of(&e).map_err(|e| store_err(&e))
    }

    /// The `saved` word of the message's record (one small read; `None` for records
    /// written before the store kept it).
    fn save_date(&mut self, folder: &str, uid: u32) -> Result<Option<i64>, StoreError> {
        let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
        let f = f.borrow();
        let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
        f.saved_of(&e).map_err(|e| store_err(&e))
    }

    fn mime(&mut self, folder: &str, uid: u32) -> Result<MimeSummary, StoreError> {
        let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
        let mut f = f.borrow_mut();
        let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
        // Stored with the message at delivery, or computed once and kept in the folder's
        // meta cache: no re-read of the message (issues 5, 13).
        let decode = |m: Vec<u8>| MimeSummary::from_meta(&m);
        let stored = f.meta(&e).ok().and_then(decode).or_else(|| f.cached_meta(uid).and_then(decode));
        if let Some(s) = stored {
            return Ok(s);
        }
        // Stored without one (older versions) or an undecodable one: parse once, persist.
        let mut p = MimeParser::new();
        f.read_chunks(&e, |c| {
            p.push(c);
            Ok(())
        })
        .map_err(|e| store_err(&e))?;
        let summary = p.finish();
        f.cache_meta(uid, &summary.clone().to_meta());
        Ok(summary)
    }

    fn envelope(&mut self, folder: &str, uid: u32, field: Option<&str>) -> Result<EnvelopeField, StoreError> {
        let quick = {
            let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
            let f = f.borrow();
            let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
            f.meta(&e).ok().and_then(|m| {
                let root = MimeSummary::root_from_meta(&m)?;
                Some((root.envelope.unwrap_or_default(), field.and_then(|n| MimeSummary::field_from_meta(&m, n))))
            })
        };
        // Stored without a meta (older versions) or an undecodable one: the summary's way.
        match quick {
            Some(q) => Ok(q),
            None => {
                let s = self.mime(folder, uid)?;
                let env = s.parts.into_iter().next().and_then(|p| p.envelope).unwrap_or_default();
                Ok((env, field.and_then(|n| crate::proto::imap::api::last_field(s.header_fields, n))))
            }
        }
    }

    fn header_fields(&mut self, folder: &str, uid: u32) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let fast = {
            let f = self.srv.folder_cached(folder).map_err(|e| store_err(&e))?;
            let f = f.borrow();
            let e = f.entry(uid).ok_or(StoreError::NoMessage)?;
            f.meta(&e).ok().and_then(|m| MimeSummary::fields_from_meta(&m))
        };
        // From the record's meta trailer; else the summary's way (meta cache, parse).
        match fast {
            Some(fields) => Ok(Some(fields)),
            None => Ok(self.mime(folder, uid)?.header_fields),
        }
    }

    fn subscriptions(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self.srv.store.subscriptions())
    }
}
