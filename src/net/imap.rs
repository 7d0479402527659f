//! IMAP session driver: moves bytes between a connection and the sans-IO core
//! (`proto::imap`), implements its `Mailstore` over the store (reads through the process's
//! shared folder handles, changes computed from MODSEQs and UID lists), sends writes to the
//! group-commit writer (APPEND, STORE, EXPUNGE: tagged OK only after fsync), and wakes
//! selected sessions twice a second so IDLE sees deliveries by SMTP, `letterbox deliver`
//! and other sessions within a second (RFC 2177).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::conn::{Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::mime::{MimeParser, MimeSummary};
use crate::proto::imap::{
    AuthOutcome, Changes, Event, FlagUpdate, FolderInfo, ImapPolicy, Mailstore, MsgMeta, PeerInfo, Session, Snapshot,
    State, StoreError, StoreOp,
};
use crate::store::{self, ErrorKind, FlagOp, NewMessage};
use crate::util::Spool;

/// How often a selected session looks for changes by others (IDLE within 1 s).
const CHANGE_TICK: Duration = Duration::from_millis(500);
/// Replies gathered before a write (the core's chunks stay bounded by its own limit).
const OUT_BATCH: usize = 16 * 1024;

/// What this session last reported for a folder, to compute `Changes`. The UID list it
/// reported is the core's view (shared, see [`shared_uids`]); it is not kept here.
#[derive(Default)]
struct Reported {
    generation: u64,
    modseq: u64,
    uidnext: u32,
}

/// The `Mailstore` of one session.
struct Store<'a> {
    srv: &'a Server,
    reported: HashMap<String, Reported>,
    /// The folder this session has SELECTed and so takes \Recent for (RFC 3501 §2.3.2).
    claiming: Option<String>,
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
fn forget_recent(folder: &str) {
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

fn store_err(e: &store::Error) -> StoreError {
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
        })
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

    fn create(&mut self, folder: &str, special_use: Option<&str>) -> Result<(), StoreError> {
        let st = &self.srv.store;
        st.create(folder).map_err(|e| store_err(&e))?;
        let Some(attr) = special_use else { return Ok(()) };
        // RFC 6154 §3: the folder exists only with its attribute (undone if that fails).
        let mut map = st.special_use();
        map.push((attr.to_owned(), folder.to_owned()));
        st.set_special_use(&map).map_err(|e| {
            let _ = st.delete(folder);
            store_err(&e)
        })
    }

    fn delete(&mut self, folder: &str) -> Result<(), StoreError> {
        self.srv.forget_folder(folder);
        self.reported.remove(folder);
        forget_recent(folder);
        self.srv.store.delete(folder).map_err(|e| store_err(&e))?;
        let map = self.srv.store.special_use();
        if map.iter().any(|(_, n)| n == folder) {
            let kept: Vec<_> = map.into_iter().filter(|(_, n)| n != folder).collect();
            let _ = self.srv.store.set_special_use(&kept);
        }
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        let st = &self.srv.store;
        if from.eq_ignore_ascii_case(store::INBOX) {
            // RFC 3501 §6.3.5: INBOX's messages move to `to`, INBOX stays, empty (durable and
            // crash-safe: see `Store::rename_inbox`). Inferior names stay where they are.
            for name in [store::INBOX, to] {
                self.srv.forget_folder(name);
                self.reported.remove(name);
                forget_recent(name);
            }
            return st.rename_inbox(to).map_err(|e| store_err(&e));
        }
        let names = st.list().map_err(|e| store_err(&e))?;
        // Inferior names move with their parent (RFC 3501 §6.3.5).
        let prefix = format!("{from}/");
        let mut moves: Vec<(String, String)> = vec![(from.to_owned(), to.to_owned())];
        moves.extend(
            names.iter().filter_map(|n| n.strip_prefix(&prefix).map(|rest| (n.clone(), format!("{to}/{rest}")))),
        );
        for (a, b) in &moves {
            self.srv.forget_folder(a);
            self.reported.remove(a);
            forget_recent(a);
            forget_recent(b);
        }
        // All together, or (after a crash, on the next start) all rolled forward; the
        // special-use attributes and subscriptions travel with their folders in that step.
        st.rename_all(&moves).map_err(|e| store_err(&e))?;
        Ok(())
    }

    fn subscribe(&mut self, folder: &str, on: bool) -> Result<(), StoreError> {
        let mut subs = self.srv.store.subscriptions();
        subs.retain(|s| s != folder);
        if on {
            subs.push(folder.to_owned());
        }
        self.srv.store.set_subscriptions(&subs).map_err(|e| store_err(&e))
    }

    fn subscriptions(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self.srv.store.subscriptions())
    }
}

/// Messages read into spools per writer batch during COPY (bounds RAM on large copies).
const COPY_BATCH: usize = 64;

/// COPY/MOVE: reads the messages through the shared handle and appends them (flags,
/// keywords, dates and MIME meta kept) to `to` through the writer, then for MOVE expunges
/// them from `from` (RFC 6851 §3.3).
async fn copy(
    srv: &Server,
    from: &str,
    uids: &[u32],
    to: &str,
    mv: bool,
) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
    srv.folder(to).map_err(|e| store_err(&e))?;
    let src = srv.folder(from).map_err(|e| store_err(&e))?;
    let spool_memory = srv.config().limits.spool_memory;
    let mut pairs = Vec::new();
    let mut validity = 0;
    for chunk in uids.chunks(COPY_BATCH) {
        let mut msgs = Vec::new();
        let mut olds = Vec::new();
        {
            let mut f = src.borrow_mut();
            for &uid in chunk {
                let Some(e) = f.state().find(uid).ok().and_then(|i| f.entries().get(i).copied()) else { continue };
                let mut spool = Spool::new(&srv.store.tmp_dir(), spool_memory);
                // A message stored without a summary gets one on the way (issue 13).
                let mut meta = f.summary_meta(&e).unwrap_or_default();
                let mut parser = meta.is_empty().then(MimeParser::new);
                f.read_chunks(&e, |c| {
                    parser.iter_mut().for_each(|p| p.push(c));
                    Ok(spool.write(c)?)
                })
                .map_err(|e| store_err(&e))?;
                if let Some(p) = parser {
                    meta = p.finish_meta();
                }
                let keywords = f.keyword_names(e.flags).into_iter().map(str::to_owned).collect();
                let attrs = f.attrs(&e).unwrap_or(0);
                msgs.push(NewMessage {
                    body: spool,
                    date: i64::from(e.date),
                    flags: e.flags & 0x1f,
                    keywords,
                    meta,
                    attrs,
                });
                olds.push(uid);
            }
        }
        let (v, new) = srv
            .writer
            .call(to, move |f| {
                let uids = f.append(&mut msgs)?;
                Ok((f.uidvalidity(), uids))
            })
            .await
            .map_err(|e| store_err(&e))?;
        validity = v;
        if mv {
            let gone = olds.clone();
            srv.writer.call(from, move |f| f.expunge(&gone)).await.map_err(|e| store_err(&e))?;
        }
        pairs.extend(olds.into_iter().zip(new));
    }
    srv.refresh_folder(to);
    srv.refresh_folder(from);
    Ok((validity, pairs))
}

/// An APPEND in progress.
struct Append {
    folder: String,
    spool: Spool,
    flags: u32,
    keywords: Vec<String>,
    date: i64,
    mime: MimeParser,
}

/// Runs one IMAP session; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr) -> String {
    let cfg = srv.config();
    let policy = Arc::new(ImapPolicy::from_config(&cfg));
    let info = PeerInfo { ip: peer.ip(), is_tls: conn.is_tls(), tls_available: srv.tls().is_some() };
    let mut s = Session::new(policy, info, srv.now_ms());
    let mut store = Store { srv, reported: HashMap::new(), claiming: None };
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut append: Option<Append> = None;
    loop {
        while let Some(ev) = s.poll(srv.now_ms(), &mut store) {
            match ev {
                Event::Reply(mut b) => {
                    if out.is_empty() && b.len() >= OUT_BATCH {
                        // A large reply (SEARCH of a big folder) is written as it is, not copied.
                        if let Err(e) = conn.flush(&mut b).await {
                            return e;
                        }
                        continue;
                    }
                    out.extend_from_slice(&b);
                    if out.len() >= OUT_BATCH {
                        if let Err(e) = conn.flush(&mut out).await {
                            return e;
                        }
                    }
                }
                Event::StartTls => {
                    if let Err(e) = conn.flush(&mut out).await {
                        return e;
                    }
                    pending.clear(); // RFC 2595 §3.1: nothing sent before the handshake counts.
                    let Some(tls) = srv.tls() else { return "STARTTLS without a certificate".into() };
                    let t = Duration::from_secs(cfg.limits.tls_handshake_timeout);
                    if let Err(e) = conn.upgrade(tls, t).await {
                        return format!("STARTTLS handshake failed: {e}");
                    }
                    s.tls_started();
                }
                Event::CheckCredentials { user, pass } => {
                    let outcome = match srv.authenticate(&peer, user, pass).await {
                        Ok(()) => AuthOutcome::Ok,
                        Err(o) => o,
                    };
                    log("imap", &peer, if outcome == AuthOutcome::Ok { "login ok" } else { "login failed" });
                    s.auth_result(outcome);
                }
                Event::AppendStarted { folder, flags, keywords, date, size: _ } => {
                    append = Some(Append {
                        folder,
                        spool: Spool::new(&srv.store.tmp_dir(), cfg.limits.spool_memory),
                        flags,
                        keywords,
                        date: date.unwrap_or_else(crate::util::unix_now),
                        mime: MimeParser::new(),
                    });
                }
                Event::AppendData(d) => {
                    if let Some(a) = append.as_mut() {
                        a.mime.push(&d);
                        let _ = a.spool.write(&d);
                    }
                }
                Event::AppendEnded => {
                    let r = match append.take() {
                        Some(a) => do_append(srv, a).await,
                        None => Err(StoreError::Io),
                    };
                    s.append_done(r);
                }
                Event::AppendAborted => append = None,
                Event::Store { folder, uids, op, flags, keywords, unchanged_since } => {
                    let op = match op {
                        StoreOp::Add => FlagOp::Add,
                        StoreOp::Remove => FlagOp::Remove,
                        StoreOp::Replace => FlagOp::Replace,
                    };
                    let r = srv
                        .writer
                        .call(&folder, move |f| {
                            let (ch, modified) = f.store_flags_unless(&uids, op, flags, &keywords, unchanged_since)?;
                            Ok((ch, modified, f.state().keywords.clone()))
                        })
                        .await;
                    srv.refresh_folder(&folder);
                    let (r, modified) = match r {
                        Ok((ch, modified, kw)) => {
                            let updates = ch.into_iter().map(|(uid, flags, modseq)| FlagUpdate { uid, flags, modseq });
                            (Ok((updates.collect(), kw)), modified)
                        }
                        Err(e) => (Err(store_err(&e)), Vec::new()),
                    };
                    s.store_done_with(r, modified);
                }
                Event::Copy { from, uids, to, mv } => {
                    let r = copy(srv, &from, &uids, &to, mv).await;
                    log(
                        "imap",
                        &peer,
                        &format!(
                            "{} {} messages to {to}: {}",
                            if mv { "move" } else { "copy" },
                            uids.len(),
                            if r.is_ok() { "ok" } else { "failed" }
                        ),
                    );
                    s.copy_done(r);
                }
                Event::Expunge { folder, uids } => {
                    let r = srv.writer.call(&folder, move |f| f.expunge(&uids)).await;
                    srv.refresh_folder(&folder);
                    s.expunge_done(r.map_err(|e| store_err(&e)));
                }
                Event::Close => {
                    let _ = conn.flush(&mut out).await;
                    return "logout".into();
                }
            }
        }
        if let Err(e) = conn.flush(&mut out).await {
            return e;
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        let mut deadline = s.deadline().map(|ms| srv.instant_of(ms));
        if s.state() == State::Selected {
            let tick = Instant::now() + CHANGE_TICK;
            deadline = Some(deadline.map_or(tick, |d| d.min(tick)));
            if let Some(name) = store.reported.keys().next().cloned() {
                srv.refresh_folder(&name);
            }
        }
        let turn = Turn {
            deadline,
            busy: append.is_some().then_some("client vanished during APPEND (nothing stored)"),
            bye: b"* BYE server shutting down\r\n",
            closed: "client closed",
        };
        if let Err(why) = srv.next_input(conn, &mut buf, &mut pending, turn).await {
            return why;
        }
    }
}

/// Commits an APPEND through the writer; the MIME structure goes into the record's meta.
async fn do_append(srv: &Server, a: Append) -> Result<(u32, u32), StoreError> {
    let uidvalidity = srv.folder(&a.folder).map_err(|e| store_err(&e))?.borrow().uidvalidity();
    let meta = a.mime.finish_meta();
    let nm = NewMessage { body: a.spool, date: a.date, flags: a.flags, keywords: a.keywords, meta, attrs: 0 };
    let uid = srv.writer.append(&a.folder, nm).await.map_err(|e| store_err(&e))?;
    srv.refresh_folder(&a.folder);
    Ok((uidvalidity, uid))
}
