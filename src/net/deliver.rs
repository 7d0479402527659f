//! The one delivery step's driver (DESIGN.md §5, issue 16). Every way a message reaches
//! the owner's folders — SMTP and submission to the owner, `letterbox deliver`, `sendmail`
//! to a local address, pulled mail — ends here: the owner's active Sieve script (RFC 5228)
//! runs over the message's header (and at most `sieve::BODY_BYTES_MAX` of its body, only
//! when the script tests `body`), [`crate::delivery`] turns its outcome into a plan, and
//! this module carries the plan out: redirects (RFC 5228 §4.2, carrying
//! `X-Sieve-Redirected-From` for loop detection) and vacation replies (RFC 5230, RFC 3834,
//! once per sender and period, `store::vacation`) through the outbound queue, then the
//! folders, each append durable before the caller acknowledges. A script that fails to
//! load or run leaves an implicit keep: the message is never lost to a rule.

use crate::config::Config;
use crate::delivery::{Facts, Plan};
use crate::mime::MimeSummary;
use crate::store::writer::Writer;
use crate::store::{self, NewMessage, Store};
use crate::util::Spool;

/// Where a delivery goes.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    /// Folder look-ups (exists, the special-use map, the folder list).
    pub store: &'a Store,
    /// The owner's folders' writer.
    pub inbox: &'a Writer,
    /// The outbound queue's writer, for redirects and vacation replies.
    pub queue: Option<&'a Writer>,
}

/// One arriving message.
pub struct Arrival {
    /// The message as stored (trace fields on top).
    pub spool: Spool,
    /// The structure parsed while the message came in (None: the store parses it later).
    pub summary: Option<MimeSummary>,
    /// The envelope's reverse path, without brackets; empty for `<>`.
    pub from: String,
    /// The local recipients as given (`user+detail@domain`), in RCPT order.
    pub rcpts: Vec<String>,
    /// The `+detail` of each local recipient.
    pub details: Vec<Option<String>>,
    /// The inbound checks' junk verdict.
    pub junk: bool,
    /// The folder that stands for INBOX (keep and the default rules; a fetch account's
    /// `into`, created when missing); None: INBOX. Subaddress folders apply only to INBOX.
    pub inbox: Option<String>,
}

/// What happened to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Stored (first folder and UID); the log says where else.
    Stored { folder: String, uid: u32 },
    /// Not stored here (discarded, or only redirected).
    Elsewhere,
    /// The script rejects it (RFC 5429): nothing was stored or sent.
    Rejected(String),
}

/// Reads the header and (when the script tests `body`) the first bytes of the body.
#[cfg(feature = "sieve")]
const fn prefix_bytes(body: bool) -> usize {
    crate::mime::HEADER_BYTES_MAX + if body { crate::sieve::BODY_BYTES_MAX } else { 0 }
}

/// Runs the delivery step for `a`; `log` gets one line per noteworthy thing.
pub async fn deliver(ctx: &Ctx<'_>, mut a: Arrival, log: &mut dyn FnMut(&str)) -> store::Result<Delivered> {
    let p = decide(ctx, &mut a, log);
    carry(ctx, a, p, log).await
}

/// The decision for one message, before anything is stored (a caller that must record
/// where the message goes before it goes there, like `fetch`, looks at [`Decision::folders`]).
pub struct Decision {
    plan: Plan,
    /// The header the script saw (for the vacation reply).
    header: Option<Vec<u8>>,
}

impl Decision {
    /// The folders the message will be stored in, in order (empty: discarded, redirected
    /// only, or rejected).
    pub fn folders(&self) -> Vec<String> {
        self.plan.stores.iter().map(|t| t.folder.clone()).collect()
    }
}

/// Runs the owner's script (when there is one) and the default rules: where the message
/// goes. Nothing is stored or sent yet.
pub fn decide(ctx: &Ctx<'_>, a: &mut Arrival, log: &mut dyn FnMut(&str)) -> Decision {
    let junk_folder = if a.junk { junk_folder(ctx.store) } else { String::new() };
    let exists = |n: &str| ctx.store.folder_path(n).is_ok_and(|p| p.is_file());
    let facts = Facts {
        details: &a.details,
        junk: a.junk,
        junk_folder: &junk_folder,
        detail_folders: ctx.cfg.subaddress_folders && a.inbox.is_none(),
        folder_exists: &exists,
    };
    #[cfg(feature = "sieve")]
    let (mut plan, header) = match sieve_plan(ctx, &mut a.spool, &a.from, &a.rcpts, &facts, log) {
        Some((p, h)) => (p, Some(h)),
        None => (crate::delivery::plan_default(&facts), None),
    };
    #[cfg(not(feature = "sieve"))]
    let (mut plan, header) = (crate::delivery::plan_default(&facts), None);
    for l in &plan.log {
        log(l);
    }
    // The arrival's own INBOX (a fetch account's `into`), created when missing.
    if let Some(inbox) = &a.inbox {
        for t in plan.stores.iter_mut().filter(|t| t.folder == crate::store::INBOX) {
            t.folder = inbox.clone();
            t.create = true;
        }
    }
    Decision { plan, header }
}

/// Carries out a [`decide`]d plan: a rejection is returned before anything happens; then
/// the vacation reply, the folders and the redirects.
pub async fn carry(ctx: &Ctx<'_>, a: Arrival, d: Decision, log: &mut dyn FnMut(&str)) -> store::Result<Delivered> {
    if let Some(reason) = d.plan.reject.clone() {
        return Ok(Delivered::Rejected(reason));
    }
    #[cfg(feature = "sieve")]
    if let (Some(v), Some(h)) = (&d.plan.vacation, &d.header) {
        vacation(ctx, &a, v, h, log).await;
    }
    #[cfg(not(feature = "sieve"))]
    let _ = &d.header;
    carry_out(ctx, a, d.plan, log).await
}

/// The folder with `\Junk` (RFC 6154), "Junk" when none is marked.
fn junk_folder(store: &Store) -> String {
    store.special_use().into_iter().find(|(a, _)| a == "\\Junk").map_or_else(|| "Junk".to_owned(), |(_, n)| n)
}

/// The active script's plan and the header bytes it saw; None without an active script
/// (or when it cannot be read or no longer compiles: logged, default rules apply).
#[cfg(feature = "sieve")]
fn sieve_plan(
    ctx: &Ctx<'_>,
    spool: &mut Spool,
    from: &str,
    rcpts: &[String],
    facts: &Facts<'_>,
    log: &mut dyn FnMut(&str),
) -> Option<(Plan, Vec<u8>)> {
    let limits = crate::sieve::Limits::default();
    let (name, source) = match crate::store::scripts::Scripts::open(&ctx.cfg.data_dir).and_then(|s| s.active()) {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            log(&format!("sieve: cannot read the active script, default rules: {e}"));
            return None;
        }
    };
    let script = match compiled(&source, &limits) {
        Ok(s) => s,
        Err(e) => {
            log(&format!("sieve: script {name:?} does not compile, default rules: {e}"));
            return None;
        }
    };
    let head = match read_prefix(spool, prefix_bytes(script.requires("body"))) {
        Ok(h) => h,
        Err(e) => {
            log(&format!("sieve: cannot read the message, kept: {e}"));
            return None;
        }
    };
    let view = crate::sieve::MessageView::parse_prefix(&head, spool.len());
    let now = crate::util::unix_now();
    let env = crate::sieve::Envelope {
        from: from.to_owned(),
        to: ctx.cfg.owner_address(),
        original_to: rcpts.first().cloned().unwrap_or_else(|| ctx.cfg.owner_address()),
        // Only `mailboxexists` (RFC 5490) looks at the list: no directory read otherwise.
        folders: if script.requires("mailbox") { ctx.store.list().unwrap_or_default() } else { Vec::new() },
        zone_minutes: crate::sys::local_offset_minutes(now),
    };
    let outcome = crate::sieve::run(&script, &view, &env, &limits, now);
    let plan = crate::delivery::plan(facts, &outcome);
    let end = head.len().min(crate::mime::HEADER_BYTES_MAX);
    Some((plan, head.get(..end).unwrap_or(&[]).to_vec()))
}

/// The last script compiled, by its source: the same active script is parsed once, not
/// per message (one entry: the owner has one active script).
#[cfg(feature = "sieve")]
static COMPILED: std::sync::Mutex<Option<(Vec<u8>, std::sync::Arc<crate::sieve::Script>)>> =
    std::sync::Mutex::new(None);

/// `source` compiled, from [`COMPILED`] when it is the script compiled last.
#[cfg(feature = "sieve")]
fn compiled(
    source: &[u8],
    limits: &crate::sieve::Limits,
) -> Result<std::sync::Arc<crate::sieve::Script>, crate::sieve::Error> {
    if let Ok(c) = COMPILED.lock() {
        if let Some((_, s)) = c.as_ref().filter(|(src, _)| src.as_slice() == source) {
            return Ok(s.clone());
        }
    }
    let s = std::sync::Arc::new(crate::sieve::parse(source, limits)?);
    if let Ok(mut c) = COMPILED.lock() {
        *c = Some((source.to_vec(), s.clone()));
    }
    Ok(s)
}

/// The first `max` bytes of the spool.
#[cfg(feature = "sieve")]
fn read_prefix(spool: &mut Spool, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(max.min(spool.len() as usize));
    spool.reader()?.take(max as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Sends the vacation reply when RFC 3834 and the period allow; failures are logged, the
/// message itself is delivered regardless.
#[cfg(feature = "sieve")]
async fn vacation(ctx: &Ctx<'_>, a: &Arrival, v: &crate::sieve::Vacation, header: &[u8], log: &mut dyn FnMut(&str)) {
    let Some(queue) = ctx.queue else {
        return log("sieve: vacation needs the outbound queue; no reply");
    };
    let view = crate::sieve::MessageView::parse(header);
    let owner = ctx.cfg.owner_address();
    let mut own: Vec<String> = vec![owner.clone()];
    own.extend(ctx.cfg.aliases.iter().map(|l| format!("{l}@{}", ctx.cfg.domain)));
    own.extend(v.addresses.iter().cloned());
    own.extend(a.rcpts.iter().cloned());
    if !crate::sieve::vacation_allowed(view.fields(), &a.from, &own) {
        return log("sieve: vacation: no reply (RFC 3834: list, bulk, automatic, or not addressed to the owner)");
    }
    let now = crate::util::unix_now();
    let mut replies = crate::store::vacation::Replies::load(&ctx.cfg.data_dir);
    if !replies.due(&v.handle, &a.from, now, v.seconds) {
        return log(&format!("sieve: vacation: {} was answered within the period", a.from));
    }
    let token = u64::from(crate::util::crc32c(a.from.as_bytes())) << 32 | (now as u64 & 0xffff_ffff);
    let to = crate::delivery::vacation::ReplyTo { sender: &a.from, owner: &owner, now, token, host: ctx.cfg.host() };
    let body = crate::delivery::vacation::reply(v, &view, &to);
    match enqueue(ctx, queue, "", &a.from, &body, None).await {
        Ok(()) => {
            log(&format!("sieve: vacation reply queued to {}", a.from));
            if let Err(e) = replies.record(&v.handle, &a.from, now) {
                log(&format!("sieve: vacation state not saved: {e}"));
            }
        }
        Err(e) => log(&format!("sieve: vacation reply not queued: {e}")),
    }
}

/// Queues `body` (or the spool, when `body` is empty and `spool` given) from `from` to `to`.
async fn enqueue(
    ctx: &Ctx<'_>,
    queue: &Writer,
    from: &str,
    to: &str,
    body: &[u8],
    spool: Option<Spool>,
) -> store::Result<()> {
    #[cfg(feature = "outbound")]
    {
        let tmp = ctx.store.tmp_dir();
        let mem = ctx.cfg.limits.spool_memory;
        let spool = match spool {
            Some(s) => s,
            None => {
                let mut s = Spool::new(&tmp, mem);
                s.write(body)?;
                s
            }
        };
        let env = crate::outbound::QueuedEnvelope::new(from, vec![to.to_owned()]);
        let now = crate::util::unix_now();
        for m in crate::outbound::queue::messages(env, spool, now, &tmp, mem)? {
            queue.append(crate::outbound::queue::FOLDER, m).await?;
        }
        Ok(())
    }
    #[cfg(not(feature = "outbound"))]
    {
        let _ = (ctx, queue, from, to, body, spool);
        Err(store::Error::new(store::ErrorKind::Io, "no outbound queue in this build".to_owned()))
    }
}

/// Redirects, then the folders: each use but the last gets its own copy of the spool.
async fn carry_out(
    ctx: &Ctx<'_>,
    mut a: Arrival,
    mut plan: Plan,
    log: &mut dyn FnMut(&str),
) -> store::Result<Delivered> {
    if !plan.redirects.is_empty() && ctx.queue.is_none() {
        log("sieve: redirect needs the outbound queue; kept in INBOX");
        plan.redirects.clear();
        if plan.stores.is_empty() {
            plan.stores.push(crate::delivery::target(&Facts {
                details: &[],
                junk: false,
                junk_folder: "",
                detail_folders: false,
                folder_exists: &|_| false,
            }));
        }
    }
    let tmp = ctx.store.tmp_dir();
    let mem = ctx.cfg.limits.spool_memory;
    let mut uses = plan.stores.len() + plan.redirects.len();
    let mut first: Option<(String, u32)> = None;
    for t in plan.stores {
        uses -= 1;
        let body = if uses == 0 {
            std::mem::replace(&mut a.spool, Spool::new(&tmp, 0))
        } else {
            a.spool.duplicate(&tmp, mem)?
        };
        if t.create {
            let n = t.folder.clone();
            ctx.inbox.call_store(move |s| s.ensure(&n)).await?;
        }
        let nm = NewMessage {
            body,
            date: crate::util::unix_now(),
            flags: t.flags,
            keywords: t.keywords,
            meta: a.summary.clone().map(MimeSummary::to_meta).unwrap_or_default(),
            attrs: 0,
        };
        let uid = ctx.inbox.append(&t.folder, nm).await?;
        log(&format!("delivered folder={} uid={uid}", t.folder));
        first.get_or_insert((t.folder, uid));
    }
    let owner = ctx.cfg.owner_address();
    for r in plan.redirects {
        uses -= 1;
        let mut body = if uses == 0 {
            std::mem::replace(&mut a.spool, Spool::new(&tmp, 0))
        } else {
            a.spool.duplicate(&tmp, mem)?
        };
        body.prepend(format!("{}: {owner}\r\n", crate::delivery::REDIRECTED_FROM).as_bytes())?;
        if let Some(q) = ctx.queue {
            enqueue(ctx, q, &a.from, &r, &[], Some(body)).await?;
            log(&format!("sieve: redirected to {r}"));
        }
    }
    Ok(match first {
        Some((folder, uid)) => Delivered::Stored { folder, uid },
        None => Delivered::Elsewhere,
    })
}
