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
use crate::proto::smtp::{
    DeliverError, Envelope, Event, PeerInfo, Policy, RecipientVerdict, Refused, Session, TlsInfo,
};
use crate::store::ErrorKind;
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
    /// The `+detail` of each local recipient (the delivery step's subaddress rule).
    details: Vec<Option<String>>,
    /// The local recipients as given, and the reverse path (the delivery step's envelope).
    local_rcpts: Vec<String>,
    mail_from: String,
    /// Recipients in other domains: queued (issue 14); `local` says whether any stays here.
    #[cfg(feature = "outbound")]
    remote: Option<crate::outbound::QueuedEnvelope>,
    #[cfg(feature = "outbound")]
    local: bool,
    /// The inbound checks' streaming state (unauthenticated mail only, issue 15).
    #[cfg(feature = "checks")]
    checks: Option<super::checks::MessageChecks>,
}

impl Incoming {
    /// Stores a chunk of the message (without forged `Authentication-Results:` when the
    /// checks run) and feeds the MIME parser the same bytes.
    fn write(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        #[cfg(feature = "checks")]
        if let Some(c) = self.checks.as_mut() {
            let mut kept = Vec::with_capacity(data.len());
            c.push(data, &mut kept);
            return self.store_bytes(&kept);
        }
        self.store_bytes(data);
    }

    fn store_bytes(&mut self, data: &[u8]) {
        self.mime.push(data);
        if let Err(e) = self.spool.write(data) {
            self.failed = Some(spool_failed(&e));
        }
    }
}

/// Runs one SMTP session (`submission`: a submission listener, RFC 6409); returns the
/// disconnect reason for the log.
pub async fn session(srv: &Server, conn: &mut Conn, peer: SocketAddr, submission: bool) -> String {
    let cfg = srv.config();
    let mut policy = Policy::from_config(&cfg, srv.hostname.clone(), srv.tls().is_some());
    policy.submission = submission;
    // RFC 6409 §3.3: with the queue built in, an authenticated user may send anywhere.
    policy.relay_after_auth = cfg!(feature = "outbound");
    #[cfg(feature = "checks")]
    {
        policy.check_recipients = !submission && super::checks::at_rcpt(&cfg);
    }
    let policy = Arc::new(policy);
    #[cfg(feature = "checks")]
    let mut sc = super::checks::SessionChecks::default();
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
                Event::CheckRecipient(c) => {
                    #[cfg(feature = "checks")]
                    let verdict = super::checks::recipient(srv, &mut sc, peer.ip(), &c).await;
                    #[cfg(not(feature = "checks"))]
                    let verdict = {
                        let _ = c;
                        RecipientVerdict::Accept
                    };
                    if verdict != RecipientVerdict::Accept {
                        log("smtp", &peer, &format!("RCPT {:?}", verdict));
                    }
                    s.recipient_checked(verdict);
                }
                Event::MessageBegin(env) => msg = Some(begin(srv, &s, &env, &peer, submission)),
                Event::MessageData(d) => {
                    if let Some(m) = msg.as_mut() {
                        m.write(&d);
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
                        #[cfg(feature = "checks")]
                        Some(m) => deliver(srv, m, &peer, &mut sc).await,
                        #[cfg(not(feature = "checks"))]
                        Some(m) => deliver(srv, m, &peer).await,
                        None => Err(Refused::Store(DeliverError::Temporary)),
                    };
                    s.judged(r);
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
fn begin(srv: &Server, s: &Session, env: &Envelope, peer: &SocketAddr, submission: bool) -> Incoming {
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
    #[cfg(not(feature = "checks"))]
    let _ = submission;
    log("smtp", peer, &format!("MAIL from=<{}> rcpts={}", env.mail_from, env.rcpts.len()));
    Incoming {
        spool,
        mime,
        failed,
        rcpts: env.rcpts.len(),
        details: env.rcpts.iter().filter(|r| !r.remote).map(|r| r.tag.clone()).collect(),
        local_rcpts: env.rcpts.iter().filter(|r| !r.remote).map(|r| r.address.clone()).collect(),
        mail_from: env.mail_from.clone(),
        #[cfg(feature = "outbound")]
        remote: queued_envelope(env),
        #[cfg(feature = "outbound")]
        local: env.rcpts.iter().any(|r| !r.remote),
        #[cfg(feature = "checks")]
        checks: (!submission && env.auth_user.is_none() && super::checks::enabled(&cfg))
            .then(|| super::checks::MessageChecks::new(srv, &env.mail_from, &env.helo)),
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

/// Runs the checks (when on), queues for remote recipients, appends for local ones; Ok
/// only once the message is durable.
async fn deliver(
    srv: &Server,
    #[allow(unused_mut)] mut m: Incoming,
    peer: &SocketAddr,
    #[cfg(feature = "checks")] sc: &mut super::checks::SessionChecks,
) -> Result<u32, Refused> {
    #[cfg(feature = "checks")]
    if let Some(mut c) = m.checks.take() {
        let mut rest = Vec::new();
        c.end(&mut rest);
        m.store_bytes(&rest);
        if m.failed.is_none() {
            let from = from_fields(&m.mime);
            let j = super::checks::judge(srv, sc, c, peer.ip(), &from).await;
            if let Some(text) = j.reject {
                log("smtp", peer, &format!("refused: {text}"));
                return Err(Refused::Policy(text));
            }
            return store_local(srv, m, peer, Some(j)).await;
        }
    }
    if let Some(e) = m.failed {
        log("smtp", peer, &format!("not delivered: {e:?}"));
        return Err(Refused::Store(e));
    }
    #[cfg(feature = "outbound")]
    if m.remote.is_some() {
        if let Err(e) = enqueue(srv, &mut m).await {
            log("smtp", peer, &format!("queueing failed: {e}"));
            return Err(Refused::Store(store_error(&e)));
        }
        log("smtp", peer, &format!("queued size={} rcpts={}", m.spool.len(), m.rcpts));
        if !m.local {
            return Ok(0);
        }
    }
    store_local(srv, m, peer, None).await
}

/// The `From:` values of the message so far (RFC 7489 §6.6.1 needs to know if there is
/// more than one): from the header fields the MIME parser keeps for SEARCH.
#[cfg(feature = "checks")]
fn from_fields(mime: &crate::mime::MimeParser) -> Vec<String> {
    mime.root_fields("from")
}

/// What the checks add to a stored message.
#[cfg(feature = "checks")]
type Judged = Option<super::checks::Judgement>;
#[cfg(not(feature = "checks"))]
type Judged = Option<std::convert::Infallible>;

/// Hands the message for the local recipients to the delivery step (`net::deliver`: the
/// owner's Sieve script, then INBOX, a `+detail` folder, or Junk when the checks say so),
/// with the `Authentication-Results:` field on top. A script's `reject` (RFC 5429 §2.1)
/// is answered here, at SMTP time: 550 5.7.1 and nothing stored.
async fn store_local(
    srv: &Server,
    #[allow(unused_mut)] mut m: Incoming,
    peer: &SocketAddr,
    judged: Judged,
) -> Result<u32, Refused> {
    if let Some(e) = m.failed {
        log("smtp", peer, &format!("not delivered: {e:?}"));
        return Err(Refused::Store(e));
    }
    #[allow(unused_mut)]
    let mut summary = m.mime.finish();
    #[allow(unused_mut)]
    let mut junk = false;
    #[cfg(feature = "checks")]
    if let Some(j) = judged {
        if m.spool.prepend(&j.field).is_err() {
            return Err(Refused::Store(DeliverError::Temporary));
        }
        summary = summary.prepended(j.field.len() as u64);
        junk = j.junk;
    }
    #[cfg(not(feature = "checks"))]
    let _ = judged;
    let cfg = srv.config();
    let ctx = super::deliver::Ctx {
        cfg: &cfg,
        store: &srv.store,
        inbox: &srv.writer,
        #[cfg(feature = "outbound")]
        queue: Some(&srv.queue),
        #[cfg(not(feature = "outbound"))]
        queue: None,
    };
    let size = m.spool.len();
    let arrival = super::deliver::Arrival {
        spool: m.spool,
        summary: Some(summary),
        from: m.mail_from,
        rcpts: m.local_rcpts,
        details: m.details,
        junk,
        inbox: None,
    };
    let mut note = |l: &str| log("smtp", peer, l);
    match super::deliver::deliver(&ctx, arrival, &mut note).await {
        Ok(super::deliver::Delivered::Stored { uid, .. }) => {
            log("smtp", peer, &format!("delivered size={size} rcpts={}", m.rcpts));
            Ok(uid)
        }
        Ok(super::deliver::Delivered::Elsewhere) => {
            log("smtp", peer, &format!("accepted size={size}, not stored here (Sieve)"));
            Ok(0)
        }
        Ok(super::deliver::Delivered::Rejected(reason)) => {
            log("smtp", peer, &format!("rejected by Sieve: {reason}"));
            Err(Refused::Policy(reason))
        }
        Err(e) => {
            log("smtp", peer, &format!("delivery failed: {e}"));
            Err(Refused::Store(store_error(&e)))
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
