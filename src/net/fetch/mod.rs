//! Fetch driver (issue 17): runs each `[[fetch]]` account — in the background inside
//! `serve` ([`start`]) or once from the shell (`letterbox fetch`, [`run_cli`]) — with the
//! sans-IO cores of `crate::fetch` over [`stream::Conn`], and stores every pulled message
//! through [`store_pulled`] (the delivery step's folder, then one durable append).
//!
//! - Exactly once: the intent / append / state / delete order of `crate::fetch` (module
//!   docs); a left-over intent is settled when the account starts.
//! - Errors back off 1, 2, 4 … 60 minutes ([`BACKOFF_MAX`]); a refused login waits at least
//!   [`AUTH_RETRY`] (remote lockouts); one log line per change of the account's state.
//! - TLS is verified (system roots or `[outbound] ca_file`); a failure stops the session
//!   with a log line and never falls back to plaintext.

pub mod imap;
pub mod pop3;
pub mod stream;

use std::collections::HashSet;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use smol::LocalExecutor;

use crate::auth::Secret;
use crate::config::fetch::{Account, Protocol};
use crate::config::Config;
use crate::fetch::state::{Done, Files, Intent, State};
use crate::store::writer::Writer;
use crate::store::Store;
use crate::util::Spool;

/// First wait after an error; doubled per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_secs(60);
/// Longest wait between attempts after errors.
pub const BACKOFF_MAX: Duration = Duration::from_secs(3600);
/// Shortest wait after the server refused the login (providers lock accounts out).
pub const AUTH_RETRY: Duration = Duration::from_secs(1800);
/// How long a reply may take (RFC 3501 §5.4's autologout is 30 minutes; 5 is plenty).
pub const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a session ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the credentials.
    Auth(String),
    /// Anything else: network, TLS, protocol, store.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Auth(s) => write!(f, "login refused: {s}"),
            Failure::Other(s) => f.write_str(s),
        }
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Other(s)
    }
}

/// Where pulled messages go: the delivery step (`net::deliver`) with the store's writer
/// thread (the server's inside `serve`, one of its own for `letterbox fetch`) and the
/// outbound queue's (for the owner's redirect and vacation rules).
#[derive(Clone)]
pub struct Sink {
    pub store: Store,
    pub writer: Writer,
    pub queue: Option<Writer>,
    pub cfg: Arc<Config>,
}

/// One account's run: its config, secret, durable files and state.
pub struct Run {
    pub acct: Account,
    pub secret: Secret,
    pub files: Files,
    pub state: State,
    pub roots: stream::Roots,
    /// POP3 messages skipped for size and logged already (no state is kept for them).
    pub skipped: HashSet<String>,
    /// The account's lock, held while this run lives.
    _lock: std::fs::File,
}

impl Run {
    /// Loads the account's secret and state and settles a left-over intent.
    pub fn open(sink: &Sink, acct: &Account, roots: stream::Roots) -> Result<Run, String> {
        let secret = acct.secret().map_err(|e| e.0)?;
        let files = Files::new(&sink.cfg.data_dir, &acct.name);
        let lock = files.lock().map_err(|e| format!("lock: {e}"))?;
        let lock = lock.ok_or("busy: another letterbox process (serve or fetch) is pulling this account")?;
        let mut state = files.load().map_err(|e| format!("state: {e}"))?;
        if let Some(intent) = files.intent().map_err(|e| format!("intent: {e}"))? {
            let landed = crate::fetch::settle(&sink.store, &intent).map_err(|e| format!("settling: {e}"))?;
            if landed {
                state.apply(&intent.done);
                files.save(&state).map_err(|e| format!("state: {e}"))?;
            }
            files.clear_intent().map_err(|e| format!("intent: {e}"))?;
            log(&acct.name, &format!("settled an interrupted pull ({}): stored={landed}", intent.token));
        }
        Ok(Run { acct: acct.clone(), secret, files, state, roots, skipped: HashSet::new(), _lock: lock })
    }

    /// The server's address (resolved now: the account may move).
    fn addr(&self) -> Result<SocketAddr, String> {
        let (h, p) = &self.acct.server;
        (h.as_str(), *p)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {h}: {e}"))?
            .next()
            .ok_or_else(|| format!("{h}: no address"))
    }
}

pub fn log(account: &str, msg: &str) {
    eprintln!("fetch {account} {msg}");
}

/// A message being received: the spool (RAM, then a file past `spool_memory`) with our
/// `Received:` on top, and the MIME structure parsed on the way.
pub struct Incoming {
    spool: Spool,
    mime: crate::mime::MimeParser,
    /// Message bytes received (without our field).
    pub received: u64,
    /// The first [`crate::fetch::HEADER_PEEK`] bytes, for the Message-ID.
    head: Vec<u8>,
}

impl Incoming {
    pub fn new(sink: &Sink, acct: &Account, protocol: &str, token: &str) -> io::Result<Incoming> {
        let mut spool = Spool::new(&sink.store.tmp_dir(), sink.cfg.limits.spool_memory);
        let date = crate::datetime::rfc5322(u64::try_from(crate::util::unix_now()).unwrap_or(0));
        let field = crate::fetch::received(&acct.server.0, &sink.cfg.domain, protocol, token, &date);
        spool.write(field.as_bytes())?;
        let mut mime = crate::mime::MimeParser::new();
        mime.push(field.as_bytes());
        Ok(Incoming { spool, mime, received: 0, head: Vec::new() })
    }

    pub fn push(&mut self, data: &[u8]) -> Result<(), String> {
        self.received += data.len() as u64;
        let room = crate::fetch::HEADER_PEEK.saturating_sub(self.head.len());
        self.head.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        self.mime.push(data);
        self.spool.write(data).map_err(|e| format!("spool: {e}"))
    }
}

impl Incoming {
    /// The pulled message's Message-ID and size (the UIDVALIDITY rule).
    pub fn identity(&self) -> Option<(String, u64)> {
        crate::fetch::message_id(&self.head).map(|m| (m, self.received))
    }
}

/// Message-ID and size of every message `account` stored in `folder` (read when a remote
/// UIDVALIDITY changed: the messages not to store again).
pub fn stored_ids(store: &Store, folder: &str, account: &str) -> HashSet<(String, u64)> {
    let Ok(f) = store.open_folder(folder) else { return HashSet::new() };
    let mut top = vec![0u8; crate::fetch::HEADER_PEEK];
    f.entries()
        .iter()
        .filter_map(|e| {
            let n = f.read_body(e, 0, &mut top).ok()?;
            crate::fetch::stored_identity(top.get(..n)?, u64::from(e.size), account)
        })
        .collect()
}

/// Stores ONE pulled message through the one delivery step (issue 16: the owner's Sieve
/// script, then the folders; the account's `into` stands for INBOX): the decision, the
/// intent naming the first folder it goes to, the durable delivery, then the state that
/// covers it.
pub async fn store_pulled(sink: &Sink, run: &mut Run, msg: Incoming, token: &str, done: Done) -> Result<u32, String> {
    let ctx = crate::net::deliver::Ctx {
        cfg: &sink.cfg,
        store: &sink.store,
        inbox: &sink.writer,
        queue: sink.queue.as_ref(),
    };
    let mut arrival = crate::net::deliver::Arrival {
        from: crate::fetch::return_path(&msg.head).unwrap_or_default(),
        spool: msg.spool,
        summary: Some(msg.mime.finish()),
        rcpts: vec![sink.cfg.owner_address()],
        details: vec![None],
        junk: false,
        inbox: Some(run.acct.into.clone()),
    };
    let name = run.acct.name.clone();
    let mut note = |l: &str| log(&name, l);
    let decision = crate::net::deliver::decide(&ctx, &mut arrival, &mut note);
    // A message the rules store nowhere (discarded, redirected) has no folder to settle
    // in: after a crash it is pulled again and the rules decide again.
    let folder = decision.folders().into_iter().next().unwrap_or_else(|| run.acct.into.clone());
    let intent = Intent { folder: folder.clone(), token: token.to_owned(), done: done.clone() };
    run.files.write_intent(&intent).map_err(|e| format!("intent: {e}"))?;
    let delivered = crate::net::deliver::carry(&ctx, arrival, decision, &mut note).await;
    let uid = match delivered.map_err(|e| format!("storing in {folder}: {e}"))? {
        crate::net::deliver::Delivered::Stored { uid, .. } => uid,
        crate::net::deliver::Delivered::Elsewhere => 0,
        // RFC 5429 §2.1: a pulled message cannot be refused at SMTP time; it stays on
        // the server side of the account (Pigeonhole's LDA keeps it too).
        crate::net::deliver::Delivered::Rejected(reason) => {
            note(&format!("the rules reject it ({reason}); pulled mail cannot be refused, not stored"));
            0
        }
    };
    run.state.apply(&done);
    run.files.save(&run.state).map_err(|e| format!("state: {e}"))?;
    run.files.clear_intent().map_err(|e| format!("intent: {e}"))?;
    Ok(uid)
}

/// One session: connect, pull what is new, (IMAP with IDLE and `watch`: keep waiting for
/// more), log out.
pub async fn session(sink: &Sink, run: &mut Run, watch: bool) -> Result<(), Failure> {
    match run.acct.protocol {
        Protocol::Imap => imap::session(sink, run, watch).await,
        Protocol::Pop3 => pop3::session(sink, run).await,
    }
}

/// The wait before the next attempt after `failures` errors in a row (the last one `f`).
pub fn backoff(failures: u32, f: &Failure) -> Duration {
    let exp = BACKOFF_MIN.saturating_mul(1u32 << failures.saturating_sub(1).min(6));
    let wait = exp.min(BACKOFF_MAX);
    match f {
        Failure::Auth(_) => wait.max(AUTH_RETRY),
        Failure::Other(_) => wait,
    }
}

/// The account's loop inside `serve`: sessions, the interval between them, backoff on
/// errors, one log line per change of state.
pub async fn run_forever(sink: Sink, acct: Account, roots: stream::Roots) {
    let (mut failures, mut last): (u32, Option<String>) = (0, None);
    // Opening fails for a bad password file, an unreadable state or a busy account: the
    // owner may fix it, so it is retried with the same backoff.
    let mut run = loop {
        match Run::open(&sink, &acct, roots.clone()) {
            Ok(r) => break r,
            Err(e) => {
                failures = failures.saturating_add(1);
                let now = format!("not started: {e}");
                if last.as_deref() != Some(now.as_str()) {
                    log(&acct.name, &now);
                    last = Some(now);
                }
                async_io::Timer::after(backoff(failures, &Failure::Other(e))).await;
            }
        }
    };
    failures = 0;
    loop {
        let result = session(&sink, &mut run, true).await;
        let (now, wait) = match &result {
            Ok(()) => ("ok".to_owned(), acct.interval),
            Err(f) => {
                failures = failures.saturating_add(1);
                let w = backoff(failures, f);
                (format!("failing: {f} (next attempt in {} min)", w.as_secs() / 60), w)
            }
        };
        if result.is_ok() {
            failures = 0;
        }
        let kind = now.split(" (next").next().map(str::to_owned);
        if kind != last {
            log(&acct.name, &now);
            last = kind;
        }
        async_io::Timer::after(wait).await;
    }
}

/// Starts every account of `cfg` on `ex` (inside `serve`).
pub fn start(ex: &Rc<LocalExecutor<'static>>, cfg: Arc<Config>, store: Store, writer: Writer, queue: Option<Writer>) {
    if cfg.fetch.is_empty() {
        return;
    }
    let roots = match stream::roots(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("letterbox: fetch: CA roots: {e}; fetch accounts not started");
            return;
        }
    };
    let sink = Sink { store, writer, queue, cfg: cfg.clone() };
    for a in &cfg.fetch {
        ex.spawn(run_forever(sink.clone(), a.clone(), roots.clone())).detach();
    }
}

/// `letterbox fetch [NAME] [--once]`: every account (or NAME) once, or forever in the
/// foreground. Exit code 0 when every session succeeded, else 75 (EX_TEMPFAIL).
pub fn run_cli(cfg: &Config, store: &Store, name: Option<&str>, once: bool) -> i32 {
    let accounts: Vec<&Account> = cfg.fetch.iter().filter(|a| name.is_none_or(|n| a.name == n)).collect();
    if accounts.is_empty() {
        eprintln!("letterbox: no [[fetch]] account{}", name.map(|n| format!(" named {n:?}")).unwrap_or_default());
        return crate::util::exit::USAGE;
    }
    let roots = match stream::roots(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("letterbox: CA roots: {e}");
            return crate::util::exit::CONFIG;
        }
    };
    let writers = Store::open(&cfg.data_dir).and_then(|s| Ok(Writer::spawn(s)?));
    let writer = match writers {
        Ok(w) => w,
        Err(e) => {
            eprintln!("letterbox: the store: {e}");
            return crate::util::exit::TEMPFAIL;
        }
    };
    #[cfg(feature = "outbound")]
    let queue = crate::outbound::queue::open(&cfg.data_dir).ok().and_then(|q| Writer::spawn(q).ok());
    #[cfg(not(feature = "outbound"))]
    let queue = None;
    let sink = Sink { store: store.clone(), writer, queue, cfg: Arc::new(cfg.clone()) };
    if !once {
        let ex = LocalExecutor::new();
        for a in accounts {
            ex.spawn(run_forever(sink.clone(), a.clone(), roots.clone())).detach();
        }
        return smol::block_on(ex.run(std::future::pending::<i32>()));
    }
    let mut code = crate::util::exit::OK;
    for a in accounts {
        let r = Run::open(&sink, a, roots.clone()).map_err(Failure::Other);
        let r = match r {
            Ok(mut run) => smol::block_on(session(&sink, &mut run, false)),
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => log(&a.name, "done"),
            Err(e) => {
                log(&a.name, &format!("failed: {e}"));
                code = crate::util::exit::TEMPFAIL;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_and_auth_waits_half_an_hour() {
        let o = Failure::Other(String::new());
        let mins: Vec<u64> = (1..=9).map(|n| backoff(n, &o).as_secs() / 60).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(1, &Failure::Auth(String::new())), AUTH_RETRY);
        assert_eq!(backoff(9, &Failure::Auth(String::new())), BACKOFF_MAX);
    }
}
