//! IMAP session driver: moves bytes between a connection and the sans-IO core
//! (`proto::imap`), answers its reads through `mailstore` (the process's shared folder
//! handles), sends every write to the group-commit writer (`write`: APPEND, STORE,
//! EXPUNGE, COPY, CREATE, DELETE, RENAME, SUBSCRIBE; the tagged OK only after fsync), and
//! wakes selected sessions twice a second so IDLE sees deliveries by SMTP, `letterbox
//! deliver` and other sessions within a second (RFC 2177).

#[cfg(feature = "compress")]
mod compress;
#[cfg(not(feature = "compress"))]
#[path = "no_compress.rs"]
mod compress;
mod mailstore;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::auth::Secret;
use crate::proto::imap::{AuthOutcome, Event, ImapPolicy, PeerInfo, Session, State, StoreError};

use compress::Compression;
use mailstore::Store;
use write::Append;

/// How often a selected session looks for changes by others (IDLE within 1 s).
const CHANGE_TICK: Duration = Duration::from_millis(500);
/// Replies gathered before a write (the core's chunks stay bounded by its own limit).
const OUT_BATCH: usize = 16 * 1024;
/// The goodbye when the server stops between commands.
const BYE: &[u8] = b"* BYE server shutting down\r\n";

/// One session's side of the driver: the core's store, gathered replies, an open APPEND.
struct Driver<'a> {
    srv: &'a Server,
    peer: SocketAddr,
    store: Store<'a>,
    out: Vec<u8>,
    /// The messages of the APPEND in progress (several for RFC 3502 MULTIAPPEND).
    appends: Vec<Append>,
    /// RFC 4978 COMPRESS=DEFLATE, once the client turned it on.
    z: Option<Box<Compression>>,
    /// [`BYE`] as it goes on the wire (compressed once `z` is on).
    bye: Vec<u8>,
}

/// Runs one IMAP session; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr) -> String {
    let mut policy = ImapPolicy { compress: cfg!(feature = "compress"), ..ImapPolicy::from_config(&srv.config()) };
    // RFC 5032 OLDER/YOUNGER compare with the wall clock; the core counts from `now_ms`.
    let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    policy.unix_base_ms = u64::try_from(unix_ms).unwrap_or(0).saturating_sub(srv.now_ms());
    let policy = Arc::new(policy);
    let info = PeerInfo { ip: peer.ip(), is_tls: conn.is_tls(), tls_available: srv.tls().is_some() };
    let mut s = Session::new(policy, info, srv.now_ms());
    let mut d =
        Driver { srv, peer, store: Store::new(srv), out: Vec::new(), appends: Vec::new(), z: None, bye: BYE.to_vec() };
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if let Err(why) = d.drain(&mut s, conn, &mut pending).await {
            return why;
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        match d.z.as_mut().map(|z| z.inflate_into(&mut pending)) {
            Some(Ok(true)) => continue,
            Some(Err(why)) => return why,
            _ => {}
        }
        let deadline = d.deadline(&s);
        let busy = (!d.appends.is_empty()).then_some("client vanished during APPEND (nothing stored)");
        let input = match d.z.as_mut() {
            Some(z) => z.raw(),
            None => &mut pending,
        };
        let turn = Turn { deadline, busy, bye: &d.bye, closed: "client closed" };
        if let Err(why) = srv.next_input(conn, &mut buf, input, turn).await {
            return why;
        }
    }
}

impl Driver<'_> {
    /// Handles every event the core has, then writes what is gathered; Err ends the session
    /// (the reason for the log; "logout" after the core closed it).
    async fn drain(&mut self, s: &mut Session, conn: &mut Conn, pending: &mut Vec<u8>) -> Result<(), String> {
        while let Some(ev) = s.poll(self.srv.now_ms(), &mut self.store) {
            self.handle(ev, s, conn, pending).await?;
        }
        self.flush(conn).await
    }

    /// One event of the core; each write is answered to the core once it is durable.
    async fn handle(
        &mut self,
        ev: Event,
        s: &mut Session,
        conn: &mut Conn,
        pending: &mut Vec<u8>,
    ) -> Result<(), String> {
        let srv = self.srv;
        match ev {
            Event::Reply(b) => self.reply(b, conn).await?,
            Event::Yield => smol::future::yield_now().await,
            Event::StartCompress => self.start_compress(conn, pending).await?,
            Event::StartTls => {
                let (version, cipher) = conn.start_tls(srv, &mut self.out, pending, "STARTTLS").await?;
                log("imap", &self.peer, &format!("STARTTLS {version} {cipher}"));
                s.tls_started();
            }
            Event::CheckCredentials { user, pass } => s.auth_result(self.authenticate(user, pass).await),
            Event::AppendStarted { folder, flags, keywords, date, size: _ } => {
                // The spools of one APPEND share `spool_memory` of RAM; the rest spills.
                let used: u64 = self.appends.iter().map(Append::len).sum();
                let ram = srv.config().limits.spool_memory.saturating_sub(usize::try_from(used).unwrap_or(usize::MAX));
                self.appends.push(Append::new(srv, (folder, flags, keywords), date, ram));
            }
            Event::AppendData(d) => self.append_data(&d),
            Event::AppendEnded => s.append_all_done(self.append_ended().await),
            Event::AppendAborted => self.appends.clear(),
            Event::Store { folder, uids, op, flags, keywords, unchanged_since } => {
                let (r, modified) = write::store_flags(srv, folder, uids, op, flags, keywords, unchanged_since).await;
                s.store_done_with(r, modified);
            }
            Event::Copy { from, uids, to, mv } => s.copy_done(self.copy(&from, &uids, &to, mv).await),
            Event::Expunge { folder, uids } => s.expunge_done(write::expunge(srv, folder, uids).await),
            Event::Mailbox(op) => s.mailbox_done(write::mailbox(srv, &mut self.store, op).await),
            Event::Close => {
                let _ = self.flush(conn).await;
                return Err("logout".into());
            }
        }
        Ok(())
    }

    /// Gathers a reply; writes once a batch is full.
    async fn reply(&mut self, mut b: Vec<u8>, conn: &mut Conn) -> Result<(), String> {
        if self.out.is_empty() && b.len() >= OUT_BATCH {
            // A large reply (SEARCH of a big folder) is written as it is, not copied.
            return match self.z.as_mut() {
                Some(z) => z.write(conn, &b).await,
                None => conn.flush(&mut b).await,
            };
        }
        self.out.extend_from_slice(&b);
        if self.out.len() >= OUT_BATCH {
            self.flush(conn).await?;
        }
        Ok(())
    }

    /// Writes the gathered replies (compressed once COMPRESS is on).
    async fn flush(&mut self, conn: &mut Conn) -> Result<(), String> {
        match self.z.as_mut() {
            Some(z) if !self.out.is_empty() => {
                z.write(conn, &self.out).await?;
                self.out.clear();
                Ok(())
            }
            _ => conn.flush(&mut self.out).await,
        }
    }

    /// RFC 4978 §3: the tagged OK goes out as it is, input read before it is dropped (the
    /// client waits for the OK), then both directions are compressed.
    #[cfg(feature = "compress")]
    async fn start_compress(&mut self, conn: &mut Conn, pending: &mut Vec<u8>) -> Result<(), String> {
        self.flush(conn).await?;
        pending.clear();
        let (z, bye) = Compression::new(BYE);
        (self.z, self.bye) = (Some(z), bye);
        log("imap", &self.peer, "COMPRESS DEFLATE");
        Ok(())
    }

    /// Never asked for: the core offers COMPRESS only with the `compress` feature.
    #[cfg(not(feature = "compress"))]
    async fn start_compress(&mut self, _conn: &mut Conn, _pending: &mut Vec<u8>) -> Result<(), String> {
        Err("COMPRESS without the compress feature".into())
    }

    /// Throttle and verify off the executor (see `Server::authenticate`).
    async fn authenticate(&self, user: String, pass: Secret) -> AuthOutcome {
        let outcome = self.srv.authenticate(&self.peer, user, pass).await.err().unwrap_or(AuthOutcome::Ok);
        log("imap", &self.peer, if outcome == AuthOutcome::Ok { "login ok" } else { "login failed" });
        outcome
    }

    /// The next bytes of an APPEND literal; a failed spool write is logged once.
    fn append_data(&mut self, d: &[u8]) {
        if let Some(a) = self.appends.last_mut() {
            if let Err(e) = a.push(d) {
                log("imap", &self.peer, &format!("APPEND spool write failed (nothing will be stored): {e}"));
            }
        }
    }

    /// The last literal is complete: commit what was spooled, all messages or none.
    async fn append_ended(&mut self) -> Result<(u32, Vec<u32>), StoreError> {
        write::append(self.srv, std::mem::take(&mut self.appends)).await
    }

    /// COPY/MOVE through the writer, logged.
    async fn copy(&self, from: &str, uids: &[u32], to: &str, mv: bool) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let r = write::copy(self.srv, from, uids, to, mv).await;
        let what = if mv { "move" } else { "copy" };
        let how = if r.is_ok() { "ok" } else { "failed" };
        log("imap", &self.peer, &format!("{what} {} messages to {to}: {how}", uids.len()));
        r
    }

    /// The core's deadline; a selected session also wakes every [`CHANGE_TICK`] and
    /// catches its folder up, so IDLE and NOOP see others' changes (RFC 2177); so does one
    /// with RFC 5465 NOTIFY SET, whose core then compares the folders it watches.
    fn deadline(&self, s: &Session) -> Option<Instant> {
        let deadline = s.deadline().map(|ms| self.srv.instant_of(ms));
        if s.state() != State::Selected && !s.notifying() {
            return deadline;
        }
        if let Some(name) = self.store.watched() {
            self.srv.refresh_folder(name);
        }
        let tick = Instant::now() + CHANGE_TICK;
        Some(deadline.map_or(tick, |d| d.min(tick)))
    }
}
