//! POP3 session driver: moves bytes between a connection and the sans-IO core
//! (`proto::pop3`), runs authentication off the executor with the per-IP throttle, holds
//! the maildrop lock (RFC 1939 §8), streams RETR/TOP from the store, and commits deletions
//! through the writer thread before `+OK` (RFC 1939 §6).

use std::net::SocketAddr;
use std::sync::Arc;

use super::conn::{write_timeout, Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::auth::Secret;
use crate::proto::pop3::{AuthOutcome, DotStuffer, Event, MsgInfo, PeerInfo, Pop3Policy, Session};
use crate::store::{Folder, INBOX};

/// Chunk of a message read from the store at once.
const SEND_CHUNK: usize = 64 * 1024;

/// Releases the maildrop lock when the session ends, however it ends.
struct MaildropLock<'a>(&'a Server);

impl Drop for MaildropLock<'_> {
    fn drop(&mut self) {
        self.0.pop3_locked.set(false);
    }
}

struct Driver<'a> {
    srv: &'a Server,
    peer: SocketAddr,
    lock: Option<MaildropLock<'a>>,
    folder: Option<Folder>,
    out: Vec<u8>,
}

/// Runs one POP3 session; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr) -> String {
    let cfg = srv.config();
    let policy = Arc::new(Pop3Policy::from_config(&cfg));
    let info = PeerInfo { ip: peer.ip(), is_tls: conn.is_tls(), tls_available: srv.tls().is_some() };
    let mut s = Session::new(policy, info, srv.now_ms());
    let mut d = Driver { srv, peer, lock: None, folder: None, out: Vec::new() };
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        match d.drain(&mut s, conn, &mut pending).await {
            Ok(true) => return "quit".into(),
            Ok(false) => {}
            Err(e) => return e,
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        let turn = Turn {
            deadline: s.deadline().map(|ms| srv.instant_of(ms)),
            busy: None,
            bye: b"-ERR [SYS/TEMP] server shutting down\r\n",
            closed: "client closed (nothing deleted)",
        };
        if let Err(why) = srv.next_input(conn, &mut buf, &mut pending, turn).await {
            return why;
        }
    }
}

impl Driver<'_> {
    /// Handles every pending event; Ok(true) when the session is over.
    async fn drain(&mut self, s: &mut Session, conn: &mut Conn, pending: &mut Vec<u8>) -> Result<bool, String> {
        while let Some(ev) = s.poll(self.srv.now_ms()) {
            match ev {
                Event::Reply(b) => self.out.extend_from_slice(&b),
                Event::StartTls => {
                    let (version, cipher) = conn.start_tls(self.srv, &mut self.out, pending, "STLS").await?;
                    log("pop3", &self.peer, &format!("STLS {version} {cipher}"));
                    s.tls_started();
                }
                Event::CheckCredentials { user, pass } => {
                    let outcome = self.authenticate(user, pass).await;
                    s.auth_result(outcome);
                    if outcome == AuthOutcome::Ok {
                        self.open_maildrop(s);
                    }
                }
                Event::SendMessage { uid, top_lines, .. } => {
                    conn.flush(&mut self.out).await?;
                    self.send_message(conn, uid, top_lines).await?;
                    s.message_sent();
                }
                Event::Commit { delete } => {
                    let n = delete.len();
                    let r = self.srv.writer.call(INBOX, move |f| f.expunge(&delete)).await;
                    if let Err(e) = &r {
                        log("pop3", &self.peer, &format!("delete failed: {e}"));
                    } else {
                        log("pop3", &self.peer, &format!("deleted {n} messages"));
                    }
                    s.commit_result(r.is_ok());
                }
                Event::Close => {
                    conn.flush(&mut self.out).await?;
                    return Ok(true);
                }
            }
        }
        conn.flush(&mut self.out).await?;
        Ok(false)
    }

    /// Throttle, verify off the executor (PBKDF2 is slow on purpose), then the lock.
    async fn authenticate(&mut self, user: String, pass: Secret) -> AuthOutcome {
        if let Err(outcome) = self.srv.authenticate(&self.peer, user, pass).await {
            log("pop3", &self.peer, "login failed");
            return outcome;
        }
        if self.srv.pop3_locked.get() {
            return AuthOutcome::InUse;
        }
        match self.srv.store.open_folder(INBOX) {
            Ok(f) => {
                self.srv.pop3_locked.set(true);
                self.lock = Some(MaildropLock(self.srv));
                self.folder = Some(f);
                log("pop3", &self.peer, "login ok");
                AuthOutcome::Ok
            }
            Err(e) => {
                log("pop3", &self.peer, &format!("maildrop unavailable: {e}"));
                AuthOutcome::Unavailable
            }
        }
    }

    fn open_maildrop(&mut self, s: &mut Session) {
        if let Some(f) = &self.folder {
            let msgs = f.entries().iter().map(|e| MsgInfo { uid: e.uid, size: u64::from(e.size) }).collect();
            s.open_maildrop(msgs, f.uidvalidity());
        }
    }

    /// Streams a stored message, dot-stuffed, in bounded chunks.
    async fn send_message(&mut self, conn: &mut Conn, uid: u32, top: Option<u32>) -> Result<(), String> {
        let f = self.folder.as_ref().ok_or("no maildrop")?;
        let e = f.state().find(uid).ok().and_then(|i| f.entries().get(i).copied()).ok_or("message vanished")?;
        let mut d = DotStuffer::new(top);
        let mut chunk = vec![0u8; SEND_CHUNK];
        let mut out = Vec::with_capacity(SEND_CHUNK + SEND_CHUNK / 8);
        let mut pos = 0u64;
        while pos < u64::from(e.size) && !d.is_done() {
            let n = f.read_body(&e, pos, &mut chunk).map_err(|e| format!("read error: {e}"))?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            out.clear();
            d.push(chunk.get(..n).unwrap_or(&[]), &mut out);
            conn.write_all(&out, write_timeout()).await.map_err(|e| format!("write error: {e}"))?;
        }
        out.clear();
        d.finish(&mut out);
        conn.write_all(&out, write_timeout()).await.map_err(|e| format!("write error: {e}"))
    }
}
