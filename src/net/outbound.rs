//! The outbound queue driver (issue 14): a task on the server's executor that reads the
//! queue folder (`outbound::queue`), decides with the sans-IO schedule what is due, finds
//! the route (relay, or MX by RFC 5321 §5.1 through `dns::Resolver`), hands each
//! (record, destination) to a [`Transport`] and records every recipient's outcome durably
//! before acting on it: a bounce is in the owner's INBOX before its recipient is marked
//! done (a crash repeats a bounce, never loses one); a 250 is marked done right after the
//! transaction (a crash between the two is RFC 5321 §6.1's duplicate window).
//!
//! # The seam: [`Transport`]
//! One SMTP transaction with one server: `deliver(hop, envelope, rcpts, size, message)`
//! returns one [`RcptOutcome`] per recipient, in order. Connection errors and timeouts are
//! `Temporary` for every recipient. The driver tries the next hop for the recipients still
//! temporary. Before the hops, [`Transport::prefix`] reads the queued copy once for the
//! header fields that go in front of it (the DKIM signatures). The transport of `serve` is
//! `net::outbound_client::ClientTransport` (the SMTP client: opportunistic STARTTLS to MX
//! hosts, verified TLS and AUTH to the relay, DKIM signing); [`start`] takes any.
//!
//! Limits: [`MAX_CONNECTIONS`] transactions at once, [`MAX_PER_DESTINATION`] per domain
//! (Postfix's `default_destination_concurrency_limit` idea, scaled to a router).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{self, Read};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use smol::io::AsyncRead;
use smol::LocalExecutor;

use crate::config::Config;
use crate::dns::Resolver;
use crate::outbound::dsn::{self, Action, RcptReport};
use crate::outbound::queue::{self, Item};
use crate::outbound::route::{self, Hop, RouteError};
use crate::outbound::schedule::{self, Retry, Verdict};
use crate::outbound::{domain_of, QueuedEnvelope, RcptOutcome, DELAY_NOTICE_SENT};
use crate::store::writer::Writer;
use crate::store::{Folder, NewMessage, INBOX};
use crate::util::Spool;

/// Transactions in flight at once.
pub const MAX_CONNECTIONS: usize = 4;
/// Transactions in flight to one destination (domain, or the relay).
pub const MAX_PER_DESTINATION: usize = 2;
/// How often the queue folder is looked at (new records from `sendmail`, `queue flush`).
pub const TICK: Duration = Duration::from_secs(1);

/// One SMTP transaction with one server (see the module doc).
pub trait Transport {
    /// Header fields to send before the queued copy (read once per attempt from `message`).
    fn prefix(&self, _message: &mut dyn Read) -> Vec<u8> {
        Vec::new()
    }

    /// One transaction; `size` is the octets `message` yields (RFC 1870 SIZE=).
    fn deliver(
        &self,
        hop: &Hop,
        env: &QueuedEnvelope,
        rcpts: &[String],
        size: u64,
        message: &mut (dyn AsyncRead + Unpin),
    ) -> impl Future<Output = Vec<RcptOutcome>>;
}

/// `prefix`, then the rest: the bytes a transport sends.
pub struct Prefixed<'a, R> {
    pub prefix: &'a [u8],
    pub rest: R,
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<'_, R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.prefix.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.prefix = self.prefix.get(n..).unwrap_or_default();
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.rest).poll_read(cx, buf)
    }
}

/// An `AsyncRead` over a spool already on hand (RAM, or a page-cached file).
pub struct SpoolRead<R>(pub R);

impl<R: Read + Unpin> AsyncRead for SpoolRead<R> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(self.0.read(buf))
    }
}

/// Everything the jobs share.
struct Ctx<T, R> {
    cfg: Arc<Config>,
    transport: T,
    resolver: R,
    /// The queue's own writer (flags, expunges) and the owner's (bounces).
    qwriter: Writer,
    inbox: Writer,
    folder: RefCell<Folder>,
    retry: RefCell<HashMap<u32, Retry>>,
    inflight: RefCell<HashSet<(u32, String)>>,
    per_dest: RefCell<HashMap<String, usize>>,
    active: Cell<usize>,
    data_dir: PathBuf,
    /// A finished job wakes the dispatcher (a free slot is used at once, not at the tick).
    wake: (smol::channel::Sender<()>, smol::channel::Receiver<()>),
}

/// Starts the driver on `ex`; `inbox` is the server's writer (bounces go to INBOX).
pub fn start<T, R>(
    ex: &Rc<LocalExecutor<'static>>,
    cfg: Arc<Config>,
    inbox: Writer,
    qwriter: Writer,
    transport: T,
    resolver: R,
) -> io::Result<()>
where
    T: Transport + 'static,
    R: Resolver + 'static,
{
    let qstore = queue::open(&cfg.data_dir).map_err(|e| io::Error::other(e.to_string()))?;
    let folder = qstore.open_folder(queue::FOLDER).map_err(|e| io::Error::other(e.to_string()))?;
    let ctx = Rc::new(Ctx {
        data_dir: cfg.data_dir.clone(),
        cfg,
        transport,
        resolver,
        qwriter,
        inbox,
        folder: RefCell::new(folder),
        retry: RefCell::new(HashMap::new()),
        inflight: RefCell::new(HashSet::new()),
        per_dest: RefCell::new(HashMap::new()),
        active: Cell::new(0),
        wake: smol::channel::bounded(1),
    });
    let ex2 = ex.clone();
    ex.spawn(async move { run(ex2, ctx).await }).detach();
    Ok(())
}

async fn run<T: Transport + 'static, R: Resolver + 'static>(ex: Rc<LocalExecutor<'static>>, ctx: Rc<Ctx<T, R>>) {
    let saved = queue::read_state(&ctx.data_dir);
    let mut written = String::from("\0");
    loop {
        let now = crate::util::unix_now();
        if let Err(e) = ctx.folder.borrow_mut().refresh() {
            eprintln!("letterbox: outbound: reading the queue: {e}");
        }
        let items = queue::items(&ctx.folder.borrow());
        let flush = std::fs::remove_file(queue::file(&ctx.data_dir, queue::FLUSH_FILE)).is_ok();
        restore(&ctx, &items, &saved, now, flush);
        for it in &items {
            dispatch(&ex, &ctx, it, now);
        }
        // Written only when it changed: flash wears with every write.
        let text = queue::state_text(&ctx.retry.borrow());
        if text != written && queue::write_state(&ctx.data_dir, &text).is_ok() {
            written = text;
        }
        let woken = async {
            let _ = ctx.wake.1.recv().await;
        };
        smol::future::or(woken, async {
            async_io::Timer::after(TICK).await;
        })
        .await;
    }
}

/// Soft state for records seen for the first time (from the state file when it has them);
/// state of records gone is dropped.
fn restore<T, R>(ctx: &Ctx<T, R>, items: &[Item], saved: &HashMap<u32, (u32, i64, String)>, now: i64, flush: bool) {
    let mut retry = ctx.retry.borrow_mut();
    let live: HashSet<u32> = items.iter().map(|i| i.uid).collect();
    retry.retain(|uid, _| live.contains(uid));
    for it in items {
        let r = retry.entry(it.uid).or_insert_with(|| match saved.get(&it.uid) {
            Some((attempts, next, err)) => {
                Retry { queued: it.queued, attempts: *attempts, next: *next, last_error: err.clone() }
            }
            None => Retry::restored(it.queued, now),
        });
        if flush {
            r.flush(now);
        }
    }
}

/// The destination of a recipient: the relay, or its domain.
fn destination(cfg: &Config, rcpt: &str) -> String {
    match &cfg.outbound.relay {
        Some(_) => String::from("[relay]"),
        None => domain_of(rcpt),
    }
}

/// Spawns the due (record, destination) jobs that fit in the limits.
fn dispatch<T: Transport + 'static, R: Resolver + 'static>(
    ex: &Rc<LocalExecutor<'static>>,
    ctx: &Rc<Ctx<T, R>>,
    it: &Item,
    now: i64,
) {
    let due = ctx.retry.borrow().get(&it.uid).map(|r| r.verdict(now)).unwrap_or(Verdict::Due);
    if matches!(due, Verdict::Wait(_)) {
        return;
    }
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for i in it.pending() {
        let d = destination(&ctx.cfg, it.env.rcpts.get(i).map(String::as_str).unwrap_or(""));
        match groups.iter_mut().find(|g| g.0 == d) {
            Some(g) => g.1.push(i),
            None => groups.push((d, vec![i])),
        }
    }
    for (dest, idx) in groups {
        let key = (it.uid, dest.clone());
        let busy = ctx.per_dest.borrow().get(&dest).copied().unwrap_or(0);
        if ctx.inflight.borrow().contains(&key) || ctx.active.get() >= MAX_CONNECTIONS || busy >= MAX_PER_DESTINATION {
            continue;
        }
        ctx.inflight.borrow_mut().insert(key.clone());
        *ctx.per_dest.borrow_mut().entry(dest.clone()).or_default() += 1;
        ctx.active.set(ctx.active.get() + 1);
        let (ctx2, it2) = (ctx.clone(), it.clone());
        ex.spawn(async move {
            job(&ctx2, &it2, &dest, &idx).await;
            ctx2.inflight.borrow_mut().remove(&key);
            if let Some(n) = ctx2.per_dest.borrow_mut().get_mut(&dest) {
                *n = n.saturating_sub(1);
            }
            ctx2.active.set(ctx2.active.get().saturating_sub(1));
            let _ = ctx2.wake.0.try_send(());
        })
        .detach();
    }
}

/// The hops for a destination.
async fn hops<T, R: Resolver>(ctx: &Ctx<T, R>, dest: &str, seed: u64) -> Result<Vec<Hop>, RouteError> {
    let Some((host, port)) = &ctx.cfg.outbound.relay else {
        return route::mx_hops(&ctx.resolver, dest, ctx.cfg.outbound.mx_port, seed).await;
    };
    let ips = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => route::addresses(&ctx.resolver, host).await.unwrap_or_default(),
    };
    if ips.is_empty() {
        return Err(RouteError::Temporary(format!("451 4.4.3 relay {host} has no address (DNS)")));
    }
    Ok(ips
        .into_iter()
        .map(|ip| Hop { host: host.clone(), addr: std::net::SocketAddr::new(ip, *port), relay: true })
        .collect())
}

/// Final outcomes (recipient index, outcome, the host that answered) and the last
/// temporary reply of each recipient still pending.
type Outcomes = (Vec<(usize, RcptOutcome, Option<String>)>, HashMap<usize, String>);

/// One (record, destination): route, transactions over the hops, then the outcomes.
async fn job<T: Transport, R: Resolver>(ctx: &Ctx<T, R>, it: &Item, dest: &str, idx: &[usize]) {
    let Some(mut body) = body_of(ctx, it.uid) else { return };
    let seed = u64::from(it.uid) ^ crate::util::unix_now() as u64;
    let (outcome, temp) = match hops(ctx, dest, seed).await {
        Err(RouteError::Permanent(why)) => {
            (idx.iter().map(|&i| (i, RcptOutcome::Permanent(why.clone()), None)).collect(), HashMap::new())
        }
        Err(RouteError::Temporary(why)) => (Vec::new(), idx.iter().map(|&i| (i, why.clone())).collect()),
        Ok(hops) => match try_hops(ctx, it, &hops, idx, &mut body).await {
            Some(o) => o,
            None => return,
        },
    };
    finish(ctx, it, outcome, temp).await;
}

/// Transactions over the hops in order; recipients still temporary go on to the next hop
/// (RFC 5321 §5.1: try the next MX). `None` when the body cannot be read.
async fn try_hops<T: Transport, R>(
    ctx: &Ctx<T, R>,
    it: &Item,
    hops: &[Hop],
    idx: &[usize],
    body: &mut Spool,
) -> Option<Outcomes> {
    let (mut outcome, mut temp) = (Vec::new(), HashMap::new());
    let mut remaining: Vec<usize> = idx.to_vec();
    let prefix = ctx.transport.prefix(&mut body.reader().ok()?);
    let size = body.len() + prefix.len() as u64;
    for hop in hops {
        let rcpts: Vec<String> = remaining.iter().filter_map(|&i| it.env.rcpts.get(i).cloned()).collect();
        let mut msg = Prefixed { prefix: &prefix, rest: SpoolRead(body.reader().ok()?) };
        let outs = ctx.transport.deliver(hop, &it.env, &rcpts, size, &mut msg).await;
        eprintln!("letterbox: outbound: uid {} via {} ({}): {:?}", it.uid, hop.host, hop.addr, outs);
        // A transport that answers for fewer recipients leaves the rest temporary.
        let no_reply = std::iter::repeat(RcptOutcome::Temporary("451 4.3.0 no reply".into()));
        let mut still = Vec::new();
        for (&i, o) in remaining.iter().zip(outs.into_iter().chain(no_reply)) {
            match o {
                RcptOutcome::Temporary(t) => {
                    temp.insert(i, t);
                    still.push(i);
                }
                o => {
                    temp.remove(&i);
                    outcome.push((i, o, Some(hop.host.clone())));
                }
            }
        }
        remaining = still;
        if remaining.is_empty() {
            break;
        }
    }
    Some((outcome, temp))
}

/// The record's body copied into a spool (the job then does not depend on the folder
/// handle, which may move to a compacted file meanwhile).
fn body_of<T, R>(ctx: &Ctx<T, R>, uid: u32) -> Option<Spool> {
    let f = ctx.folder.borrow();
    let e = f.entry(uid)?;
    let q = queue::file(&ctx.data_dir, "tmp");
    let mut s = Spool::new(&q, ctx.cfg.limits.spool_memory);
    let r = f.read_chunks(&e, |c| s.write(c).map_err(Into::into));
    r.ok().map(|_| s)
}

/// Records outcomes: bounces first (durable in INBOX), then the done marks; temporary
/// ones update the schedule (and give up, or send the one delay notice, by age).
async fn finish<T, R>(
    ctx: &Ctx<T, R>,
    it: &Item,
    mut outcome: Vec<(usize, RcptOutcome, Option<String>)>,
    temp: HashMap<usize, String>,
) {
    let now = crate::util::unix_now();
    let give_up = now.saturating_sub(it.queued) >= schedule::GIVE_UP_AGE;
    if give_up {
        for (i, t) in &temp {
            outcome.push((*i, RcptOutcome::Permanent(format!("giving up after 5 days: {t}")), None));
        }
    }
    let failed: Vec<RcptReport> = outcome
        .iter()
        .filter_map(|(i, o, mta)| match o {
            RcptOutcome::Permanent(r) => {
                Some(RcptReport { rcpt: it.env.rcpts.get(*i)?.clone(), reply: r.clone(), remote_mta: mta.clone() })
            }
            _ => None,
        })
        .collect();
    if !failed.is_empty() && bounce(ctx, it, Action::Failed, &failed, now).await.is_err() {
        return; // Not marked: retried, and the bounce with it.
    }
    let done: Vec<usize> = outcome.iter().map(|(i, _, _)| *i).collect();
    let uid = it.uid;
    if !done.is_empty() {
        if let Err(e) = ctx.qwriter.call(queue::FOLDER, move |f| queue::mark_done(f, uid, &done)).await {
            eprintln!("letterbox: outbound: recording uid {uid}: {e}");
        }
    }
    if give_up || temp.is_empty() {
        return;
    }
    let reply = temp.values().next().cloned().unwrap_or_default();
    if let Some(r) = ctx.retry.borrow_mut().get_mut(&uid) {
        r.failed(now, &reply);
    }
    if schedule::wants_delay_notice(it.queued, now, it.delay_notice_sent) {
        delay_notice(ctx, it, &temp, now).await;
    }
}

/// The one delay notice (RFC 3464 `Action: delayed`), then `\Flagged` so it is not repeated.
async fn delay_notice<T, R>(ctx: &Ctx<T, R>, it: &Item, temp: &HashMap<usize, String>, now: i64) {
    let delayed: Vec<RcptReport> = temp
        .iter()
        .filter_map(|(i, t)| {
            Some(RcptReport { rcpt: it.env.rcpts.get(*i)?.clone(), reply: t.clone(), remote_mta: None })
        })
        .collect();
    let uid = it.uid;
    if bounce(ctx, it, Action::Delayed, &delayed, now).await.is_ok() {
        let flag = move |f: &mut Folder| f.store_flags(&[uid], crate::store::FlagOp::Add, DELAY_NOTICE_SENT, &[]);
        let _ = ctx.qwriter.call(queue::FOLDER, flag).await;
    }
}

/// Puts a DSN in the owner's INBOX (durable before returning); none for the null sender.
async fn bounce<T, R>(
    ctx: &Ctx<T, R>,
    it: &Item,
    action: Action,
    rcpts: &[RcptReport],
    now: i64,
) -> crate::store::Result<()> {
    if it.env.mail_from.is_empty() {
        return Ok(()); // RFC 5321 §4.5.5 / §6.2: never a bounce for a bounce.
    }
    let header = {
        let f = ctx.folder.borrow();
        let mut buf = Vec::new();
        if let Some(e) = f.entry(it.uid) {
            buf.resize(dsn::MAX_QUOTED_HEADER.min(e.size as usize), 0);
            let n = f.read_body(&e, 0, &mut buf).unwrap_or(0);
            buf.truncate(n);
        }
        dsn::header_section(&buf).to_vec()
    };
    let text = dsn::render(&dsn::Report {
        action,
        hostname: &ctx.cfg.domain,
        to: &it.env.mail_from,
        arrival: it.queued.max(0) as u64,
        now: now.max(0) as u64,
        rcpts,
        original_header: &header,
        token: (u64::from(it.uid) << 32) ^ now as u64 ^ u64::from(action == Action::Delayed),
    });
    let mut body = Spool::new(&ctx.data_dir.join("tmp"), ctx.cfg.limits.spool_memory);
    body.write(&text)?;
    let msg = NewMessage { body, date: now, flags: 0, keywords: Vec::new(), meta: Vec::new(), attrs: 0 };
    ctx.inbox.append(INBOX, msg).await.map(|_| ())
}
