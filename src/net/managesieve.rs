//! ManageSieve session driver (RFC 5804; issue 16): moves bytes between a connection and the
//! sans-IO core (`proto::managesieve`), authenticates through `Server::authenticate` (the
//! throttle and password check of IMAP and POP3), runs STARTTLS, and performs script
//! requests on `store::scripts` off the executor (they fsync).

use std::net::SocketAddr;
use std::sync::Arc;

use super::conn::{Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::auth::Secret;
use crate::proto::managesieve::{failure_of, Answer, Event, Failure, Policy, Request, Session};
use crate::proto::{AuthOutcome, PeerInfo};
use crate::store::scripts::Scripts;

/// Runs one ManageSieve session; returns the disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr) -> String {
    let cfg = srv.config();
    let policy = Arc::new(Policy::from_config(&cfg));
    let info = PeerInfo { ip: peer.ip(), is_tls: conn.is_tls(), tls_available: srv.tls().is_some() };
    let mut s = Session::new(policy, info, srv.now_ms());
    let data_dir = cfg.data_dir.clone();
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        match drain(srv, &peer, &data_dir, &mut s, conn, &mut out, &mut pending).await {
            Ok(true) => return "logout".into(),
            Ok(false) => {}
            Err(e) => return e,
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        let turn = Turn {
            deadline: s.deadline().map(|ms| srv.instant_of(ms)),
            busy: None,
            bye: b"BYE (TRYLATER) \"Server shutting down\"\r\n",
            closed: "client closed",
        };
        if let Err(why) = srv.next_input(conn, &mut buf, &mut pending, turn).await {
            return why;
        }
    }
}

/// Handles every pending event; Ok(true) when the session is over.
async fn drain(
    srv: &Server,
    peer: &SocketAddr,
    data_dir: &std::path::Path,
    s: &mut Session,
    conn: &mut Conn,
    out: &mut Vec<u8>,
    pending: &mut Vec<u8>,
) -> Result<bool, String> {
    while let Some(ev) = s.poll(srv.now_ms()) {
        match ev {
            Event::Reply(b) => out.extend_from_slice(&b),
            Event::StartTls => {
                let (version, cipher) = conn.start_tls(srv, out, pending, "STARTTLS").await?;
                log("managesieve", peer, &format!("STARTTLS {version} {cipher}"));
                s.tls_started();
            }
            Event::CheckCredentials { user, pass } => s.auth_result(authenticate(srv, peer, user, pass).await),
            Event::Script(r) => {
                let what = describe(&r);
                let dir = data_dir.to_owned();
                let result = smol::unblock(move || perform(&dir, r)).await;
                if let Err(f) = &result {
                    log("managesieve", peer, &format!("{what}: refused ({f:?})"));
                } else if !what.is_empty() {
                    log("managesieve", peer, &what);
                }
                s.script_done(result);
            }
            Event::Close => {
                conn.flush(out).await?;
                return Ok(true);
            }
        }
    }
    conn.flush(out).await?;
    Ok(false)
}

async fn authenticate(srv: &Server, peer: &SocketAddr, user: String, pass: Secret) -> AuthOutcome {
    match srv.authenticate(peer, user, pass).await {
        Ok(()) => {
            log("managesieve", peer, "login ok");
            AuthOutcome::Ok
        }
        Err(outcome) => {
            log("managesieve", peer, "login failed");
            outcome
        }
    }
}

/// The log line of a changing request (reads are not logged).
fn describe(r: &Request) -> String {
    match r {
        Request::Put { name, script } => format!("PUTSCRIPT {name:?} ({} bytes)", script.len()),
        Request::Activate(name) => format!("SETACTIVE {name:?}"),
        Request::Delete(name) => format!("DELETESCRIPT {name:?}"),
        Request::Rename { from, to } => format!("RENAMESCRIPT {from:?} {to:?}"),
        Request::List | Request::Get(_) | Request::HaveSpace { .. } => String::new(),
    }
}

/// One request on the script store (blocking: the session runs it off the executor; the
/// transcript replayer, tests/managesieve_transcripts.rs, calls it directly).
pub fn perform(data_dir: &std::path::Path, r: Request) -> Result<Answer, Failure> {
    let scripts = Scripts::open(data_dir).map_err(|e| failure_of(e.kind()))?;
    let done = |r: std::io::Result<()>| r.map(|()| Answer::Done).map_err(|e| failure_of(e.kind()));
    match r {
        Request::List => scripts.list().map(Answer::List).map_err(|e| failure_of(e.kind())),
        Request::Get(name) => scripts.get(&name).map(Answer::Script).map_err(|e| failure_of(e.kind())),
        Request::Put { name, script } => done(scripts.put(&name, &script)),
        Request::Activate(name) => done(scripts.activate(name.as_deref())),
        Request::Delete(name) => done(scripts.delete(&name)),
        Request::Rename { from, to } => done(scripts.rename(&from, &to)),
        Request::HaveSpace { name, size } => Ok(Answer::Space(scripts.have_space(&name, size))),
    }
}
