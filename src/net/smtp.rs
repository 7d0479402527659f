//! SMTP session driver: moves bytes between a connection and the sans-IO receiver
//! (`proto::smtp`), spools each message (RAM up to a limit, then a file), prepends the trace
//! headers (RFC 5321 §4.4) and hands it to the group-commit writer. `250` is sent only after
//! the writer's `fdatasync` returned (DESIGN.md §2.4); any failure answers 451/452 and
//! leaves nothing visible. The free-space reserve is checked when a message begins
//! (BAD-INPUTS 50).

use std::net::SocketAddr;
use std::sync::Arc;

use super::conn::{Conn, READ_BUF};
use super::{feed_pending, log, Server, Turn};
use crate::proto::smtp::{DeliverError, Envelope, Event, PeerInfo, Policy, Session, TlsInfo};
use crate::store::{ErrorKind, NewMessage, INBOX};
use crate::util::Spool;

/// A message being received.
struct Incoming {
    spool: Spool,
    /// MIME structure computed while the body streams in, stored with the message so IMAP
    /// never re-reads it for ENVELOPE/BODYSTRUCTURE/SEARCH (issues 5, 13).
    mime: crate::mime::MimeParser,
    /// Set when the spool could not be written or the disk is below the reserve.
    failed: Option<DeliverError>,
    rcpts: usize,
    /// Recipients in other domains: queued (issue 14); `local` says whether any stays here.
    #[cfg(feature = "outbound")]
    remote: Option<crate::outbound::QueuedEnvelope>,
    #[cfg(feature = "outbound")]
    local: bool,
}

/// Runs one SMTP session (`submission`: a submission listener, RFC 6409); returns the
/// disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr, submission: bool) -> String {
    let cfg = srv.config();
    let mut policy = Policy::from_config(&cfg, srv.hostname.clone(), srv.tls().is_some());
    policy.submission = submission;
    // RFC 6409 §3.3: with the queue built in, an authenticated user may send anywhere.
    policy.relay_after_auth = cfg!(feature = "outbound");
    let policy = Arc::new(policy);
    let mut s = Session::new(policy, PeerInfo { ip: peer.ip(), is_tls: conn.is_tls() }, srv.now_ms());
    if let Some((version, cipher)) = conn.tls_info() {
        s.tls_started(TlsInfo { version, cipher });
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut pending: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut msg: Option<Incoming> = None;
    loop {
        while let Some(ev) = s.poll(srv.now_ms()) {
            match ev {
                Event::Reply(b) => out.extend_from_slice(&b),
                Event::StartTls => {
                    let (version, cipher) = match conn.start_tls(srv, &mut out, &mut pending, "STARTTLS").await {
                        Ok(info) => info,
                        Err(why) => return why,
                    };
                    log("smtp", &peer, &format!("STARTTLS {version} {cipher}"));
                    s.tls_started(TlsInfo { version, cipher });
                }
                Event::CheckCredentials { user, pass } => {
                    let outcome = match srv.authenticate(&peer, user, pass).await {
                        Ok(()) => crate::proto::AuthOutcome::Ok,
                        Err(o) => o,
                    };
                    let ok = outcome == crate::proto::AuthOutcome::Ok;
                    log("smtp", &peer, if ok { "login ok" } else { "login failed" });
                    s.auth_result(outcome);
                }
                Event::MessageBegin(env) => msg = Some(begin(srv, &s, &env, &peer)),
                Event::MessageData(d) => {
                    if let Some(m) = msg.as_mut().filter(|m| m.failed.is_none()) {
                        m.mime.push(&d);
                        if let Err(e) = m.spool.write(&d) {
                            m.failed = Some(spool_failed(&e));
                        }
                    }
                }
                Event::HeaderFixups(missing) => {
                    if let Some(m) = msg.as_mut().filter(|m| m.failed.is_none()) {
                        let fields = fixup_fields(missing, &srv.hostname);
                        m.mime.push(&fields);
                        if m.spool.write(&fields).is_err() {
                            m.failed = Some(DeliverError::Temporary);
                        }
                    }
                }
                Event::MessageEnd => {
                    let r = match msg.take() {
                        Some(m) => deliver(srv, m, &peer).await,
                        None => Err(DeliverError::Temporary),
                    };
                    s.delivered(r);
                }
                Event::MessageAborted => {
                    msg = None;
                    log("smtp", &peer, "message refused during DATA");
                }
                Event::Close => {
                    let _ = conn.flush(&mut out).await;
                    return "closed by server".into();
                }
            }
        }
        if let Err(e) = conn.flush(&mut out).await {
            return e;
        }
        if feed_pending(&mut pending, |p| s.feed(p)) {
            continue;
        }
        let turn = Turn {
            deadline: s.deadline().map(|ms| srv.instant_of(ms)),
            busy: msg.is_some().then_some("client vanished during DATA (nothing delivered)"),
            bye: b"421 4.3.2 Service shutting down\r\n",
            closed: "client closed",
        };
        if let Err(why) = srv.next_input(conn, &mut buf, &mut pending, turn).await {
            return why;
        }
    }
}

/// Opens the spool with the trace headers, or marks the message as refused for lack of space.
fn begin(srv: &Server, s: &Session, env: &Envelope, peer: &SocketAddr) -> Incoming {
    let cfg = srv.config();
    let mut spool = Spool::new(&srv.store.tmp_dir(), cfg.limits.spool_memory);
    let need = cfg.limits.free_space_reserve.saturating_add(env.size_hint.unwrap_or(0));
    let failed = match srv.store.free_space() {
        Ok(free) if free < need => Some(DeliverError::NoSpace),
        _ => None,
    };
    let trace = s.trace_headers(env, crate::util::unix_now().max(0) as u64);
    let failed = failed.or_else(|| spool.write(&trace).err().map(|e| spool_failed(&e)));
    let mut mime = crate::mime::MimeParser::new();
    mime.push(&trace);
    log("smtp", peer, &format!("MAIL from=<{}> rcpts={}", env.mail_from, env.rcpts.len()));
    Incoming {
        spool,
        mime,
        failed,
        rcpts: env.rcpts.len(),
        #[cfg(feature = "outbound")]
        remote: queued_envelope(env),
        #[cfg(feature = "outbound")]
        local: env.rcpts.iter().any(|r| !r.remote),
    }
}

/// The queue envelope of the remote recipients, if there are any.
#[cfg(feature = "outbound")]
fn queued_envelope(env: &Envelope) -> Option<crate::outbound::QueuedEnvelope> {
    let rcpts: Vec<String> = env.rcpts.iter().filter(|r| r.remote).map(|r| r.address.clone()).collect();
    if rcpts.is_empty() {
        return None;
    }
    let mut q = crate::outbound::QueuedEnvelope::new(&env.mail_from, rcpts);
    q.auth_user = env.auth_user.clone();
    q.smtputf8 = env.smtputf8;
    q.body_8bit = env.body_8bit;
    Some(q)
}

/// Queues the message for its remote recipients (durable before returning); the spool
/// stays with the caller when local recipients need it too.
#[cfg(feature = "outbound")]
async fn enqueue(srv: &Server, m: &mut Incoming) -> Result<(), crate::store::Error> {
    let Some(env) = m.remote.take() else { return Ok(()) };
    let cfg = srv.config();
    let tmp = srv.store.tmp_dir();
    let body = if m.local {
        crate::outbound::queue::copy_spool(&mut m.spool, &tmp, cfg.limits.spool_memory)?
    } else {
        std::mem::replace(&mut m.spool, crate::util::Spool::new(&tmp, 0))
    };
    let now = crate::util::unix_now();
    for msg in crate::outbound::queue::messages(env, body, now, &tmp, cfg.limits.spool_memory)? {
        srv.queue.append(crate::outbound::queue::FOLDER, msg).await?;
    }
    Ok(())
}

/// A failed spool write: 452 4.3.1 when the disk is full (RFC 3463 §3.4), else 451.
fn spool_failed(e: &std::io::Error) -> DeliverError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => DeliverError::NoSpace,
        _ => DeliverError::Temporary,
    }
}

/// Appends through the writer; Ok only once the message is durable.
async fn deliver(srv: &Server, m: Incoming, peer: &SocketAddr) -> Result<u32, DeliverError> {
    if let Some(e) = m.failed {
        log("smtp", peer, &format!("not delivered: {e:?}"));
        return Err(e);
    }
    let size = m.spool.len();
    #[cfg(feature = "outbound")]
    if m.remote.is_some() {
        let mut m = m;
        if let Err(e) = enqueue(srv, &mut m).await {
            log("smtp", peer, &format!("queueing failed: {e}"));
            return Err(store_error(&e));
        }
        log("smtp", peer, &format!("queued size={size} rcpts={}", m.rcpts));
        if !m.local {
            return Ok(0);
        }
        return store_local(srv, m, peer, size).await;
    }
    store_local(srv, m, peer, size).await
}

/// Appends the message to INBOX for the local recipients.
async fn store_local(srv: &Server, m: Incoming, peer: &SocketAddr, size: u64) -> Result<u32, DeliverError> {
    let nm = NewMessage {
        body: m.spool,
        date: crate::util::unix_now(),
        flags: 0,
        keywords: Vec::new(),
        meta: m.mime.finish_meta(),
        attrs: 0,
    };
    match srv.writer.append(INBOX, nm).await {
        Ok(uid) => {
            log("smtp", peer, &format!("delivered size={size} uid={uid} rcpts={}", m.rcpts));
            Ok(uid)
        }
        Err(e) => {
            log("smtp", peer, &format!("delivery failed: {e}"));
            Err(store_error(&e))
        }
    }
}

/// RFC 6409 §8.2/§8.3: the `Date:` (now, UTC) and `Message-ID:` a submission lacked.
fn fixup_fields(missing: crate::proto::smtp::data::Missing, hostname: &str) -> Vec<u8> {
    let now = crate::util::unix_now().max(0) as u64;
    let mut out = String::new();
    if missing.date {
        out.push_str(&format!("Date: {}\r\n", crate::datetime::rfc5322(now)));
    }
    if missing.message_id {
        let hex: String = crate::util::random_bytes::<8>().iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("Message-ID: <{now}.{hex}@{hostname}>\r\n"));
    }
    out.into_bytes()
}

/// A store error as the SMTP reply class (RFC 3463 §3.4, §3.5).
fn store_error(e: &crate::store::Error) -> DeliverError {
    match e.kind {
        ErrorKind::NoSpace => DeliverError::NoSpace,
        ErrorKind::TooBig => DeliverError::TooBig,
        _ => DeliverError::Temporary,
    }
}
