//! IMAP session driver: moves bytes between a connection and the sans-IO core
//! (`proto::imap`), answers its reads through `mailstore` (the process's shared folder
//! handles), sends every write to the group-commit writer (`write`: APPEND, STORE,
//! EXPUNGE, COPY, CREATE, DELETE, RENAME, SUBSCRIBE; the tagged OK only after fsync), and
//! wakes selected sessions twice a second so IDLE sees deliveries by SMTP, `letterbox
//! deliver` and other sessions within a second (RFC 2177).

mod mailstore;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::auth::Secret;
use crate::proto::imap::{AuthOutcome, Event, ImapPolicy, PeerInfo, Session, State, StoreError};

use mailstore::Store;
use write::Append;

/// How often a selected session looks for changes by others (IDLE within 1 s).
const CHANGE_TICK: Duration = Duration::from_millis(500);
/// Replies gathered before a write (the core's chunks stay bounded by its own limit).
const OUT_BATCH: usize = 16 * 1024;

/// One session's side of the driver: the core's store, gathered replies, an open APPEND.
struct Driver<'a> {
    srv: &'a Server,
    peer: SocketAddr,
    store: Store<'a>,
    out: Vec<u8>,
    append: Option<Append>,
}

/// Runs one IMAP session; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr) -> String {
    let mut policy = ImapPolicy::from_config(&srv.config());
    // RFC 5032 OLDER/YOUNGER compare with the wall clock; the core counts from `now_ms`.
    let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    policy.unix_base_ms = u64::try_from(unix_ms).unwrap_or(0).saturating_sub(srv.now_ms());
    let policy = Arc::new(policy);
    let info = PeerInfo { ip: peer.ip(), is_tls: conn.is_tls(), tls_available: srv.tls().is_some() };
    let mut s = Session::new(policy, info, srv.now_ms());
    let mut d = Driver { srv, peer, store: Store::new(srv), out: Vec::new(), append: None };
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if let Err(why) = d.drain(&mut s, conn, &mut pending).await {
            return why;
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        let turn = Turn {
            deadline: d.deadline(&s),
            busy: d.append.is_some().then_some("client vanished during APPEND (nothing stored)"),
            bye: b"* BYE server shutting down\r\n",
            closed: "client closed",
        };
        if let Err(why) = srv.next_input(conn, &mut buf, &mut pending, turn).await {
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
        conn.flush(&mut self.out).await
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
            Event::StartTls => {
                let (version, cipher) = conn.start_tls(srv, &mut self.out, pending, "STARTTLS").await?;
                log("imap", &self.peer, &format!("STARTTLS {version} {cipher}"));
                s.tls_started();
            }
            Event::CheckCredentials { user, pass } => s.auth_result(self.authenticate(user, pass).await),
            Event::AppendStarted { folder, flags, keywords, date, size: _ } => {
                self.append = Some(Append::new(srv, folder, flags, keywords, date));
            }
            Event::AppendData(d) => self.append_data(&d),
            Event::AppendEnded => s.append_done(self.append_ended().await),
            Event::AppendAborted => self.append = None,
            Event::Store { folder, uids, op, flags, keywords, unchanged_since } => {
                let (r, modified) = write::store_flags(srv, folder, uids, op, flags, keywords, unchanged_since).await;
                s.store_done_with(r, modified);
            }
            Event::Copy { from, uids, to, mv } => s.copy_done(self.copy(&from, &uids, &to, mv).await),
            Event::Expunge { folder, uids } => s.expunge_done(write::expunge(srv, folder, uids).await),
            Event::Mailbox(op) => s.mailbox_done(write::mailbox(srv, &mut self.store, op).await),
            Event::Close => {
                let _ = conn.flush(&mut self.out).await;
                return Err("logout".into());
            }
        }
        Ok(())
    }

    /// Gathers a reply; writes once a batch is full.
    async fn reply(&mut self, mut b: Vec<u8>, conn: &mut Conn) -> Result<(), String> {
        if self.out.is_empty() && b.len() >= OUT_BATCH {
            // A large reply (SEARCH of a big folder) is written as it is, not copied.
            return conn.flush(&mut b).await;
        }
        self.out.extend_from_slice(&b);
        if self.out.len() >= OUT_BATCH {
            conn.flush(&mut self.out).await?;
        }
        Ok(())
    }

    /// Throttle and verify off the executor (see `Server::authenticate`).
    async fn authenticate(&self, user: String, pass: Secret) -> AuthOutcome {
        let outcome = self.srv.authenticate(&self.peer, user, pass).await.err().unwrap_or(AuthOutcome::Ok);
        log("imap", &self.peer, if outcome == AuthOutcome::Ok { "login ok" } else { "login failed" });
        outcome
    }

    /// The next bytes of an APPEND literal; a failed spool write is logged once.
    fn append_data(&mut self, d: &[u8]) {
        if let Some(a) = self.append.as_mut() {
            if let Err(e) = a.push(d) {
                log("imap", &self.peer, &format!("APPEND spool write failed (nothing will be stored): {e}"));
            }
        }
    }

    /// The literal is complete: commit what was spooled (nothing if the spool failed).
    async fn append_ended(&mut self) -> Result<(u32, u32), StoreError> {
        match self.append.take() {
            Some(a) => write::append(self.srv, a).await,
            None => Err(StoreError::Io),
        }
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
    /// catches its folder up, so IDLE and NOOP see others' changes (RFC 2177).
    fn deadline(&self, s: &Session) -> Option<Instant> {
        let deadline = s.deadline().map(|ms| self.srv.instant_of(ms));
        if s.state() != State::Selected {
            return deadline;
        }
        if let Some(name) = self.store.watched() {
            self.srv.refresh_folder(name);
        }
        let tick = Instant::now() + CHANGE_TICK;
        Some(deadline.map_or(tick, |d| d.min(tick)))
    }
}
