//! The IMAP writes, all through the store's writer thread so the executor never waits on
//! disk (DESIGN.md §1): APPEND (RFC 3501 §6.3.11, spooled, RFC 4315 APPENDUID), STORE
//! (§6.4.6, RFC 7162 §3.1.3 UNCHANGEDSINCE), EXPUNGE (§6.4.3), COPY/MOVE (§6.4.7, RFC 6851)
//! and the folder-level CREATE, DELETE, RENAME, SUBSCRIBE (§6.3.3-§6.3.7). Each answer
//! comes after the change is durable.

use crate::mime::MimeParser;
use crate::net::Server;
use crate::proto::imap::{FlagUpdate, MailboxOp, StoreError, StoreOp};
use crate::store::{self, FlagOp, NewMessage};
use crate::util::Spool;

use super::mailstore::{forget_recent, store_err, Store};

/// An APPEND in progress.
pub(super) struct Append {
    folder: String,
    spool: Spool,
    flags: u32,
    keywords: Vec<String>,
    date: i64,
    mime: MimeParser,
    /// RAM the spool may use (a converted copy gets the same).
    ram: usize,
    /// The literal held a NUL byte: binary parts are stored as base64 (`crate::mime::binary`).
    nul: bool,
    /// Set by the first failed spool write: the APPEND answers NO and stores nothing.
    failed: Option<StoreError>,
}

impl Append {
    /// `spool_ram`: bytes the spool keeps in RAM before it spills to a file.
    pub(super) fn new(
        srv: &Server,
        (folder, flags, keywords): (String, u32, Vec<String>),
        date: Option<i64>,
        spool_ram: usize,
    ) -> Append {
        let spool = Spool::new(&srv.store.tmp_dir(), spool_ram);
        let date = date.unwrap_or_else(crate::util::unix_now);
        Append {
            folder,
            spool,
            flags,
            keywords,
            date,
            mime: MimeParser::new(),
            ram: spool_ram,
            nul: false,
            failed: None,
        }
    }

    /// Spools the next bytes of the literal; the error (once) is for the log.
    pub(super) fn push(&mut self, data: &[u8]) -> Result<(), std::io::Error> {
        if self.failed.is_some() {
            return Ok(());
        }
        self.mime.push(data);
        self.nul |= memchr::memchr(0, data).is_some();
        self.spool.write(data).inspect_err(|e| self.failed = Some(spool_err(e)))
    }

    /// Bytes spooled so far.
    pub(super) fn len(&self) -> u64 {
        self.spool.len()
    }
}

/// A failed spool write: disk full is `NO [OVERQUOTA]` (Dovecot answers ENOSPC so), any
/// other error `NO [UNAVAILABLE]` (RFC 5530 §3).
fn spool_err(e: &std::io::Error) -> StoreError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::Full,
        _ => StoreError::Io,
    }
}

/// Commits an APPEND through the writer; the MIME structure goes into the record's meta.
/// Several messages (RFC 3502 MULTIAPPEND) are one locked write and one sync, all or none;
/// a spool that failed stores nothing.
pub(super) async fn append(srv: &Server, appends: Vec<Append>) -> Result<(u32, Vec<u32>), StoreError> {
    let folder = appends.first().map(|a| a.folder.clone()).ok_or(StoreError::Io)?;
    let mut msgs = Vec::with_capacity(appends.len());
    for a in appends {
        if let Some(e) = a.failed {
            return Err(e);
        }
        let (date, flags, keywords) = (a.date, a.flags, a.keywords.clone());
        let (body, meta) = storable(srv, a).await?;
        msgs.push(NewMessage { body, date, flags, keywords, meta, attrs: 0 });
    }
    let uidvalidity = srv.folder(&folder).map_err(|e| store_err(&e))?.borrow().uidvalidity();
    let uids = match msgs.len() {
        // One message joins the group commit of other sessions' appends.
        1 => match msgs.pop() {
            Some(nm) => vec![srv.writer.append(&folder, nm).await.map_err(|e| store_err(&e))?],
            None => return Err(StoreError::Io),
        },
        _ => srv.writer.call(&folder, move |f| f.append(&mut msgs)).await.map_err(|e| store_err(&e))?,
    };
    srv.refresh_folder(&folder);
    Ok((uidvalidity, uids))
}

/// The spool and MIME meta to store: as received, or, when the literal held NUL bytes in
/// parts declared `binary`, a copy with those parts as base64 (RFC 3516 §4.4, see
/// `crate::mime::binary`), made off the executor.
async fn storable(srv: &Server, a: Append) -> Result<(Spool, Vec<u8>), StoreError> {
    let summary = a.mime.finish();
    if !a.nul || !crate::mime::binary::needs_conversion(&summary) {
        return Ok((a.spool, summary.to_meta()));
    }
    let (mut from, dir, ram) = (a.spool, srv.store.tmp_dir(), a.ram);
    smol::unblock(move || {
        let mut to = Spool::new(&dir, ram);
        let mut mime = MimeParser::new();
        let mut reader = from.reader()?;
        crate::mime::binary::to_base64(&summary, &mut reader, &mut |b: &[u8]| {
            mime.push(b);
            to.write(b)
        })?;
        Ok((to, mime.finish_meta()))
    })
    .await
    .map_err(|e: std::io::Error| spool_err(&e))
}

/// The new flags and keyword list of a STORE, or its error.
pub(super) type StoreResult = Result<(Vec<FlagUpdate>, Vec<String>), StoreError>;

/// STORE: changes flags under the folder lock; also returns the UIDs UNCHANGEDSINCE
/// skipped (RFC 7162 §3.1.3).
pub(super) async fn store_flags(
    srv: &Server,
    folder: String,
    uids: Vec<u32>,
    op: StoreOp,
    flags: u32,
    keywords: Vec<String>,
    unchanged_since: Option<u64>,
) -> (StoreResult, Vec<u32>) {
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
    match r {
        Ok((ch, modified, kw)) => {
            let updates = ch.into_iter().map(|(uid, flags, modseq)| FlagUpdate { uid, flags, modseq });
            (Ok((updates.collect(), kw)), modified)
        }
        Err(e) => (Err(store_err(&e)), Vec::new()),
    }
}

/// EXPUNGE / CLOSE: removes `uids`; returns the UIDs removed.
pub(super) async fn expunge(srv: &Server, folder: String, uids: Vec<u32>) -> Result<Vec<u32>, StoreError> {
    let r = srv.writer.call(&folder, move |f| f.expunge(&uids)).await;
    srv.refresh_folder(&folder);
    r.map_err(|e| store_err(&e))
}

/// Messages read into spools per writer batch during COPY (bounds RAM on large copies).
const COPY_BATCH: usize = 64;

/// COPY/MOVE: reads the messages through the shared handle and appends them (flags,
/// keywords, dates and MIME meta kept) to `to` through the writer, then for MOVE expunges
/// them from `from` (RFC 6851 §3.3).
pub(super) async fn copy(
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

/// CREATE, DELETE, RENAME, SUBSCRIBE: the disk work (each step fsyncs the data directory)
/// runs on the writer thread, so a slow sync stalls no other session; this session's
/// caches of the folders it touched are dropped once it is done.
pub(super) async fn mailbox(srv: &Server, store: &mut Store<'_>, op: MailboxOp) -> Result<(), StoreError> {
    let r = match op {
        MailboxOp::Create { name, special_use } => {
            srv.writer.call_store(move |st| create(st, &name, special_use)).await
        }
        MailboxOp::Subscribe { name, on } => srv.writer.call_store(move |st| subscribe(st, &name, on)).await,
        MailboxOp::Delete { name } => {
            let gone = name.clone();
            let r = srv.writer.call_store(move |st| delete(st, &gone)).await;
            store.forget(&name);
            r
        }
        MailboxOp::Rename { from, to } => {
            let (f, t) = (from.clone(), to.clone());
            let r = srv.writer.call_store(move |st| rename(st, &f, &t)).await;
            for (a, b) in r.as_deref().unwrap_or(&[(from, to)]) {
                store.forget(a);
                forget_recent(b);
            }
            r.map(|_| ())
        }
    };
    r.map_err(|e| store_err(&e))
}

/// CREATE; RFC 6154 §3: the folder exists only with its attribute (undone if that fails).
/// The core checked that no existing folder has the attribute; checked again here, where
/// writes are serial, in case another session's CREATE took it meanwhile (`NO [CANNOT]`).
fn create(st: &store::Store, folder: &str, special_use: Option<&str>) -> store::Result<()> {
    let mut map = st.special_use();
    if let Some(attr) = special_use {
        let names = st.list()?;
        if map.iter().any(|(a, n)| a == attr && names.contains(n)) {
            return Err(store::Error::new(store::ErrorKind::BadName, "special-use attribute taken meanwhile"));
        }
    }
    st.create(folder)?;
    let Some(attr) = special_use else { return Ok(()) };
    map.push((attr.to_owned(), folder.to_owned()));
    st.set_special_use(&map).inspect_err(|_| {
        let _ = st.delete(folder);
    })
}

/// DELETE; the folder's special-use attribute goes with it.
fn delete(st: &store::Store, folder: &str) -> store::Result<()> {
    st.delete(folder)?;
    let map = st.special_use();
    if map.iter().any(|(_, n)| n == folder) {
        let kept: Vec<_> = map.into_iter().filter(|(_, n)| n != folder).collect();
        let _ = st.set_special_use(&kept);
    }
    Ok(())
}

/// RENAME; returns the `(old, new)` names that moved (the folder and its inferiors; for
/// INBOX, INBOX and `to`, whose contents changed).
fn rename(st: &store::Store, from: &str, to: &str) -> store::Result<Vec<(String, String)>> {
    if from.eq_ignore_ascii_case(store::INBOX) {
        // RFC 3501 §6.3.5: INBOX's messages move to `to`, INBOX stays, empty (durable and
        // crash-safe: see `Store::rename_inbox`). Inferior names stay where they are.
        st.rename_inbox(to)?;
        return Ok(vec![(store::INBOX.to_owned(), store::INBOX.to_owned()), (to.to_owned(), to.to_owned())]);
    }
    // Inferior names move with their parent (RFC 3501 §6.3.5). Listed here, on the writer,
    // so no folder created meanwhile by this process is left behind.
    let prefix = format!("{from}/");
    let mut moves: Vec<(String, String)> = vec![(from.to_owned(), to.to_owned())];
    for n in st.list()? {
        if let Some(rest) = n.strip_prefix(&prefix) {
            let b = format!("{to}/{rest}");
            moves.push((n, b));
        }
    }
    // All together, or (after a crash, on the next start) all rolled forward; the
    // special-use attributes and subscriptions travel with their folders in that step.
    st.rename_all(&moves)?;
    Ok(moves)
}

/// SUBSCRIBE / UNSUBSCRIBE: the persisted list with or without `folder`.
fn subscribe(st: &store::Store, folder: &str, on: bool) -> store::Result<()> {
    let mut subs = st.subscriptions();
    subs.retain(|s| s != folder);
    if on {
        subs.push(folder.to_owned());
    }
    st.set_subscriptions(&subs)
}
