//! `letterbox serve`: the I/O layer. One thread runs a smol `LocalExecutor` with every
//! listener and session; the store writer thread does all disk writes (group commit).
//! Connection caps (global and per IP) answer with the protocol's "busy" reply; the accept
//! loop survives EMFILE (BAD-INPUTS 58); on implicit-TLS ports the reply follows the
//! handshake, and the close lets the client read it. Input a session's core has not taken
//! is capped at `PENDING_MAX`: past it the driver stops reading and TCP's window holds the
//! client back (BAD-INPUTS 60); output is written before the core is polled again, each
//! write bounded by `limits.write_timeout`, and both kernel socket buffers are capped.
//! SIGHUP reloads config and certificate for new sessions; SIGTERM stops accepting, lets
//! sessions finish or say goodbye, then exits. When started as root with `run_as`,
//! privileges are dropped after binding and loading keys, before any byte is read from the
//! network.

#[cfg(feature = "acme")]
pub mod acme;
#[cfg(feature = "checks")]
pub mod checks;
#[cfg(all(any(feature = "outbound", feature = "acme", feature = "fetch"), feature = "tls"))]
pub mod client_tls;

pub mod conn;
pub mod deliver;
pub mod dns;
pub mod embedded;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "web")]
pub mod http;
#[cfg(feature = "imap")]
pub mod imap;
#[cfg(feature = "sieve")]
pub mod managesieve;
#[cfg(feature = "outbound")]
pub mod outbound;
#[cfg(feature = "outbound")]
pub mod outbound_client;
#[cfg(feature = "pop3")]
pub mod pop3;
pub mod smtp;
#[cfg(feature = "outbound")]
pub mod smtp_client;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::{Async, LocalExecutor};

use crate::auth::{Throttle, Verifier};
use crate::config::Config;
use crate::proto::AuthOutcome;
use crate::store::writer::Writer;
use crate::store::{Folder, Store};

use conn::Conn;
use tls::ServerConfig;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Smtp,
    /// RFC 6409 port 587: STARTTLS, then AUTH.
    Submission,
    /// RFC 8314 §3.3 port 465: implicit TLS, then AUTH.
    Submissions,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    /// RFC 5804 port 4190: STARTTLS, then AUTHENTICATE.
    ManageSieve,
    /// Plain HTTP (issue 18): ACME HTTP-01, autoconfig, the help page.
    Http,
    /// HTTPS (implicit TLS): autoconfig, autodiscover, the MTA-STS policy.
    Https,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Smtp => "smtp",
            Proto::Submission => "submission",
            Proto::Submissions => "submissions",
            Proto::Imap => "imap",
            Proto::Imaps => "imaps",
            Proto::Pop3 => "pop3",
            Proto::Pop3s => "pop3s",
            Proto::ManageSieve => "managesieve",
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }

    /// Whether this build has the protocol (cargo features `imap`, `pop3`; SMTP always).
    fn built_in(self) -> bool {
        match self {
            Proto::Smtp | Proto::Submission => true,
            Proto::Submissions => tls::BUILT_IN,
            Proto::Imap => cfg!(feature = "imap"),
            Proto::Pop3 => cfg!(feature = "pop3"),
            Proto::Imaps => cfg!(feature = "imap") && tls::BUILT_IN,
            Proto::Pop3s => cfg!(feature = "pop3") && tls::BUILT_IN,
            Proto::ManageSieve => cfg!(feature = "sieve"),
            Proto::Http => cfg!(feature = "web"),
            Proto::Https => cfg!(feature = "web") && tls::BUILT_IN,
        }
    }

    fn implicit_tls(self) -> bool {
        matches!(self, Proto::Imaps | Proto::Pop3s | Proto::Submissions | Proto::Https)
    }

    /// The reply sent when the server is too busy to take a connection.
    fn busy_reply(self) -> &'static [u8] {
        match self {
            Proto::Smtp | Proto::Submission | Proto::Submissions => {
                b"421 4.7.0 Too many connections, try again later\r\n"
            }
            // RFC 5530 §3: UNAVAILABLE, a temporary failure (the client tries again later).
            Proto::Imap | Proto::Imaps => b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
            // RFC 3206 §4: SYS/TEMP, a temporary system problem.
            Proto::Pop3 | Proto::Pop3s => b"-ERR [SYS/TEMP] Too many connections, try again later\r\n",
            // RFC 5804 §1.3: TRYLATER, a temporary condition.
            Proto::ManageSieve => b"BYE (TRYLATER) \"Too many connections, try again later\"\r\n",
            // RFC 9110 §15.6.4: 503, the server is overloaded for now.
            Proto::Http | Proto::Https => {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            }
        }
    }
}

/// State shared by every session of the process.
pub struct Server {
    cfg: RefCell<Arc<Config>>,
    pub store: Store,
    pub writer: Writer,
    /// The outbound queue's writer (its own store in `DATA/queue/`, issue 14).
    #[cfg(feature = "outbound")]
    pub queue: Writer,
    tls: RefCell<Option<Arc<ServerConfig>>>,
    verifier: RefCell<Arc<Verifier>>,
    pub throttle: RefCell<Throttle>,
    per_ip: RefCell<HashMap<IpAddr, usize>>,
    total: Cell<usize>,
    /// Connections over a cap being answered (`refuse_busy`).
    refusing: Cell<usize>,
    /// The POP3 maildrop lock (RFC 1939 §8): one TRANSACTION session at a time.
    pub pop3_locked: Cell<bool>,
    started: Instant,
    /// Closed when the server stops: sessions waiting for input then say goodbye.
    stop_tx: Sender<()>,
    pub stop_rx: Receiver<()>,
    pub hostname: String,
    /// Read handles of folders, shared by every session (one index in RAM per folder).
    folders: RefCell<HashMap<String, Rc<RefCell<Folder>>>>,
    /// The inbound checks' resolver and greylist (issue 15); `None` when every check is off.
    #[cfg(feature = "checks")]
    pub checks: Option<checks::Checks>,
}

/// Kernel send buffer per connection: enough for LAN speed, small enough that 1,000 stalled
/// readers cannot pin 4 GiB of kernel memory on a router.
const SEND_BUFFER: i32 = 128 * 1024;

/// Kernel receive buffer per connection: like `SEND_BUFFER`, LAN speed for uploads, and a
/// client flooding a session the server has stopped reading pins at most this much.
const RECV_BUFFER: i32 = 128 * 1024;

/// Input read but not yet taken by the protocol core, per session. Every core keeps its
/// partial lines and literals itself (each under its own limit: SMTP's line and DATA chunk,
/// IMAP `framer::INPUT_MAX`, POP3 `line::INPUT_BUFFER_MAX`), so bytes left here are ones it
/// refused: its buffer is full or its reply is held back (the SMTP tarpit). Past one read's
/// worth the driver stops reading and TCP's receive window holds the client back instead of
/// RAM (BAD-INPUTS 60: 64 MiB of pipelined lines during a tarpit grew the server 63 MiB).
pub const PENDING_MAX: usize = conn::READ_BUF;

/// Connections over a cap answered at once (each may hold a TLS handshake, ~40 KiB, for up
/// to `tls_handshake_timeout`): refusing a flood never costs more than 16 sessions' RAM.
const REFUSALS_MAX: usize = 16;

/// How long a refused client gets to read the busy reply and close its side.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Folder read handles kept open at most (each holds its message table).
const OPEN_FOLDERS_MAX: usize = 64;

impl Server {
    /// The shared read handle of `name`, opened on first use and caught up with the file.
    pub fn folder(&self, name: &str) -> crate::store::Result<Rc<RefCell<Folder>>> {
        let canon = crate::store::canonical(name)?;
        let f = self.folder_cached(&canon)?;
        f.borrow_mut().refresh()?;
        Ok(f)
    }

    /// The shared read handle without catching up (reads of known messages).
    pub fn folder_cached(&self, name: &str) -> crate::store::Result<Rc<RefCell<Folder>>> {
        let canon = crate::store::canonical(name)?;
        if let Some(f) = self.folders.borrow().get(&canon) {
            return Ok(f.clone());
        }
        let f = Rc::new(RefCell::new(self.store.open_folder(&canon)?));
        let mut m = self.folders.borrow_mut();
        if m.len() >= OPEN_FOLDERS_MAX {
            m.retain(|_, v| Rc::strong_count(v) > 1);
        }
        m.insert(canon, f.clone());
        Ok(f)
    }

    /// Drops the shared handle of a deleted or renamed folder.
    pub fn forget_folder(&self, name: &str) {
        if let Ok(canon) = crate::store::canonical(name) {
            self.folders.borrow_mut().remove(&canon);
        }
    }

    /// Subscribed folder names (RFC 3501 §6.3.6), one per line in `subscriptions`.
    /// Catches a cached handle up after a write (ignores folders not open here).
    pub fn refresh_folder(&self, name: &str) {
        let f = self.folders.borrow().get(name).cloned();
        if let Some(f) = f {
            if let Ok(mut f) = f.try_borrow_mut() {
                let _ = f.refresh();
            }
        }
    }

    /// Throttle, then verify off the executor (PBKDF2 is slow on purpose), shared by POP3
    /// and IMAP (BAD-INPUTS 44/45).
    pub async fn authenticate(
        &self,
        peer: &SocketAddr,
        user: String,
        pass: crate::auth::Secret,
    ) -> Result<(), AuthOutcome> {
        let ip = peer.ip();
        // BAD-INPUTS 44: an attempt inside the per-IP delay (2 s doubling to 15 s) waits it
        // out, so the delay slows guessing without failing a client that retries after a
        // typo; only a lockout (longer than the delay cap) is refused at once. Found by
        // tests/pop3_e2e.rs: the retry used to get an immediate "-ERR [SYS/TEMP]".
        loop {
            let wait = self.throttle.borrow().check(ip, self.now_ms());
            match wait {
                Ok(()) => break,
                Err(ms) if ms <= crate::auth::MAX_DELAY_MS => {
                    log("auth", peer, &format!("login delayed {ms} ms"));
                    async_io::Timer::after(Duration::from_millis(ms)).await;
                }
                Err(ms) => return Err(AuthOutcome::Throttled(ms)),
            }
        }
        let v = self.verifier();
        let ok = smol::unblock(move || v.check(&user, &pass)).await;
        if ok {
            self.throttle.borrow_mut().succeeded(ip);
            Ok(())
        } else {
            self.throttle.borrow_mut().failed(ip, self.now_ms());
            Err(AuthOutcome::Bad)
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.cfg.borrow().clone()
    }

    pub fn tls(&self) -> Option<Arc<ServerConfig>> {
        self.tls.borrow().clone()
    }

    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.borrow().clone()
    }

    /// Milliseconds since start: the clock the protocol cores see.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The wall-clock instant of a core deadline.
    pub fn instant_of(&self, ms: u64) -> Instant {
        self.started + Duration::from_millis(ms)
    }

    pub fn stopping(&self) -> bool {
        self.stop_tx.is_closed()
    }

    /// Reads from `conn` until data, EOF, `deadline` or server stop (then `TimedOut` with
    /// `stopping()` true): the wait every session driver makes between commands.
    /// One wait of every session driver's read loop: more bytes into `pending`, or the
    /// session's end as `Err(reason)` for the log: the client closed (`turn.closed`, or
    /// `turn.busy` while a message is half received), a read error, or the server stopping
    /// between commands (then `turn.bye` is sent first).
    pub async fn next_input(
        &self,
        conn: &mut Conn,
        buf: &mut [u8],
        pending: &mut Vec<u8>,
        turn: Turn<'_>,
    ) -> Result<(), String> {
        // Room left under PENDING_MAX; none: wait for the core's deadline (or the stop)
        // without reading, so the unconsumed input stays in the kernel (BAD-INPUTS 60).
        let room = PENDING_MAX.saturating_sub(pending.len()).min(buf.len());
        let read = match buf.get_mut(..room).filter(|b| !b.is_empty()) {
            Some(b) => self.read_or_stop(conn, b, turn.deadline).await,
            None => Ok(self.wait_or_stop(turn.deadline).await),
        };
        match read {
            Ok(conn::Read::Data(n)) => {
                pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                Ok(())
            }
            Ok(conn::Read::TimedOut) if self.stopping() && turn.busy.is_none() => {
                let _ = conn.write_all(turn.bye, conn::write_timeout()).await;
                Err("server stopping".into())
            }
            Ok(conn::Read::TimedOut) => Ok(()),
            Ok(conn::Read::Eof) => Err(turn.busy.unwrap_or(turn.closed).into()),
            Err(e) => Err(format!("read error: {e}")),
        }
    }

    /// Waits for `deadline` (forever if none) or the server's stop, reading nothing.
    async fn wait_or_stop(&self, deadline: Option<Instant>) -> conn::Read {
        let timer = async {
            match deadline {
                Some(d) => {
                    let _ = async_io::Timer::at(d).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        timer
            .or(async {
                let _ = self.stop_rx.recv().await;
            })
            .await;
        conn::Read::TimedOut
    }

    pub async fn read_or_stop(
        &self,
        conn: &mut Conn,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<conn::Read> {
        conn.read_until(buf, deadline)
            .or(async {
                let _ = self.stop_rx.recv().await;
                Ok(conn::Read::TimedOut)
            })
            .await
    }
}

/// How a session waits for its next bytes (see `Server::next_input`).
pub struct Turn<'a> {
    /// The protocol core's next deadline.
    pub deadline: Option<Instant>,
    /// While a message is half received: the reason if the client vanishes now. A stopping
    /// server waits for it (the sender gets its answer first).
    pub busy: Option<&'a str>,
    /// The protocol's goodbye when the server stops between commands.
    pub bye: &'a [u8],
    /// The reason when the client closes between commands.
    pub closed: &'a str,
}

/// Feeds the protocol core what was read; true when it took something (then the session
/// handles the core's events before reading again).
pub fn feed_pending(pending: &mut Vec<u8>, feed: impl FnOnce(&[u8]) -> usize) -> bool {
    if pending.is_empty() {
        return false;
    }
    let n = feed(pending).min(pending.len());
    pending.drain(..n);
    n > 0
}

/// Holds a connection slot; releases it on drop.
struct Slot<'a> {
    srv: &'a Server,
    ip: IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.srv.total.set(self.srv.total.get().saturating_sub(1));
        let mut m = self.srv.per_ip.borrow_mut();
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn take_slot(srv: &Server, ip: IpAddr) -> Option<Slot<'_>> {
    let l = srv.config().limits.clone();
    let mut m = srv.per_ip.borrow_mut();
    let n = m.entry(ip).or_insert(0);
    if srv.total.get() >= l.connections || *n >= l.connections_per_ip {
        if *n == 0 {
            m.remove(&ip);
        }
        return None;
    }
    *n += 1;
    srv.total.set(srv.total.get() + 1);
    Some(Slot { srv, ip })
}

/// Over a cap: the protocol's busy reply, then a close the client reads as one (issue 13:
/// closing at once reset clients, which then showed ECONNRESET, not the reason). On an
/// implicit-TLS port the first bytes must be TLS (RFC 8314 §3): the reply follows the
/// handshake. Beyond `REFUSALS_MAX` at once (a flood) plain ports get the reply without
/// waiting for the client's close, and TLS ports are closed.
async fn refuse_busy(srv: &Server, proto: Proto, mut conn: Conn) {
    if srv.refusing.get() >= REFUSALS_MAX {
        if !proto.implicit_tls() {
            let _ = conn.write_all(proto.busy_reply(), REFUSAL_TIMEOUT).await;
        }
        return conn.close().await;
    }
    srv.refusing.set(srv.refusing.get() + 1);
    let tls = srv.tls().filter(|_| proto.implicit_tls());
    let t = Duration::from_secs(srv.config().limits.tls_handshake_timeout);
    let ready = match tls {
        Some(tls) => conn.upgrade(tls, t).await.is_ok(),
        None => !proto.implicit_tls(),
    };
    if ready && conn.write_all(proto.busy_reply(), REFUSAL_TIMEOUT).await.is_ok() {
        conn.close_draining(REFUSAL_TIMEOUT).await;
    }
    conn.close().await;
    srv.refusing.set(srv.refusing.get().saturating_sub(1));
}

/// One log line per session event; never bodies or passwords.
pub fn log(proto: &str, peer: &SocketAddr, msg: &str) {
    eprintln!("{proto} {peer} {msg}");
}

/// Loads the TLS config named by `cfg`, if any.
fn load_tls(cfg: &Config) -> io::Result<Option<Arc<ServerConfig>>> {
    cfg.tls.as_ref().map(|t| tls::load(&t.cert, &t.key)).transpose()
}

fn make_verifier(cfg: &Config) -> io::Result<Arc<Verifier>> {
    Verifier::new(&cfg.user, cfg.password_hash.as_deref()).map(Arc::new).map_err(|_| {
        io::Error::other(format!(
            "{}: password_hash: not a valid hash (set it with letterbox passwd)",
            cfg.path.display()
        ))
    })
}

/// Runs the server until SIGTERM. Returns the process exit code.
pub fn serve(explicit: Option<&Path>) -> i32 {
    let cfg = match embedded::load_or_create(explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("letterbox: {e}");
            return crate::util::exit::CONFIG;
        }
    };
    match run(cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("letterbox: {e}");
            1
        }
    }
}

/// A generated config (`init`, the embedded default) fitted to this build: listeners of
/// protocols left out (and the implicit-TLS ones without TLS) set to `[]`, and without TLS
/// the `[tls]` table commented out, so that it starts.
pub fn without_absent_protocols(text: String) -> String {
    let mut absent: Vec<&str> = Vec::new();
    if !cfg!(feature = "imap") {
        absent.extend(["imap ", "imaps "]);
    }
    if !cfg!(feature = "pop3") {
        absent.extend(["pop3 ", "pop3s "]);
    }
    if !cfg!(feature = "sieve") {
        absent.push("managesieve ");
    }
    if !cfg!(feature = "web") {
        absent.extend(["http ", "https "]);
    }
    if !tls::BUILT_IN {
        absent.extend(["imaps ", "pop3s ", "submissions ", "https "]);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_tls = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_tls = !tls::BUILT_IN && line.starts_with("[tls]");
        }
        if in_tls {
            out.push_str("# ");
            out.push_str(line);
            if line.starts_with("[tls]") {
                out.push_str("  # not in this build (cargo feature tls)");
            }
        } else if absent.iter().any(|k| line.starts_with(k)) {
            let key = line.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("{key} = []  # not in this build (cargo feature)"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn bind_all(cfg: &Config) -> io::Result<Vec<(Proto, TcpListener)>> {
    let l = &cfg.listen;
    let mut out = Vec::new();
    for (proto, addrs) in [
        (Proto::Smtp, &l.smtp),
        (Proto::Submission, &l.submission),
        (Proto::Submissions, &l.submissions),
        (Proto::Imap, &l.imap),
        (Proto::Imaps, &l.imaps),
        (Proto::Pop3, &l.pop3),
        (Proto::Pop3s, &l.pop3s),
        (Proto::ManageSieve, &l.managesieve),
        (Proto::Http, &l.http),
        (Proto::Https, &l.https),
    ] {
        if !addrs.is_empty() && !proto.built_in() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "listen.{0}: this letterbox was built without {0} (cargo feature); remove the key",
                    proto.name()
                ),
            ));
        }
        for a in addrs {
            let s =
                TcpListener::bind(a).map_err(|e| io::Error::new(e.kind(), format!("{} on {a}: {e}", proto.name())))?;
            out.push((proto, s));
        }
    }
    Ok(out)
}

fn drop_privileges(cfg: &Config) -> io::Result<()> {
    let root = crate::sys::euid() == 0;
    match (&cfg.run_as, root) {
        (Some(user), true) => {
            let (uid, gid) = crate::sys::lookup_user(user)?;
            chown_tree(&cfg.data_dir, uid, gid)?;
            crate::sys::drop_privileges(uid, gid)?;
            eprintln!("letterbox: running as {user} (uid {uid})");
        }
        (None, true) => eprintln!("letterbox: warning: running as root; set run_as in the config"),
        _ => {}
    }
    Ok(())
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    crate::store::create_private_dir(dir)?;
    crate::sys::chown(dir, uid, gid)?;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            chown_tree(&p, uid, gid)?;
        } else {
            crate::sys::chown(&p, uid, gid)?;
        }
    }
    Ok(())
}

fn run(cfg: Config) -> io::Result<()> {
    if let Some(key) = cfg.checks.unsupported() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("checks.{key}: this letterbox was built without checks (cargo feature); turn it off"),
        ));
    }
    if cfg.acme.is_some() && !cfg!(feature = "acme") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "[acme]: this letterbox was built without acme (cargo feature); remove the table",
        ));
    }
    if !cfg!(feature = "fetch") && !cfg.fetch.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "[[fetch]]: this letterbox was built without fetch (cargo feature); remove the accounts",
        ));
    }
    let listeners = bind_all(&cfg)?;
    #[cfg(feature = "acme")]
    acme::repair(&cfg);
    let tls = load_tls(&cfg)?;
    let verifier = make_verifier(&cfg)?;
    drop_privileges(&cfg)?;
    let store = Store::open(&cfg.data_dir).map_err(|e| io::Error::other(format!("{}: {e}", cfg.data_dir.display())))?;
    for f in crate::store::SPECIAL_FOLDERS {
        let _ = store.ensure(f);
    }
    let writer = Writer::spawn_with(store.clone(), cfg.limits.compact_threshold)?;
    #[cfg(feature = "outbound")]
    let queue = outbound_writer(&cfg)?;
    conn::set_write_timeout(cfg.limits.write_timeout);
    crate::sys::install_signal_flags();
    let (stop_tx, stop_rx) = smol::channel::bounded(1);
    // Built even with every check off: a SIGHUP may turn them on.
    #[cfg(feature = "checks")]
    let checks = Some(checks::Checks::new(&cfg));
    let srv = Rc::new(Server {
        throttle: RefCell::new(Throttle::new(cfg.limits.auth_failures_lockout)),
        hostname: cfg.domain.clone(),
        cfg: RefCell::new(Arc::new(cfg)),
        store,
        #[cfg(feature = "outbound")]
        queue: queue.clone(),
        writer: writer.clone(),
        tls: RefCell::new(tls),
        verifier: RefCell::new(verifier),
        per_ip: RefCell::new(HashMap::new()),
        total: Cell::new(0),
        refusing: Cell::new(0),
        pop3_locked: Cell::new(false),
        started: Instant::now(),
        stop_tx,
        stop_rx,
        folders: RefCell::new(HashMap::new()),
        #[cfg(feature = "checks")]
        checks,
    });
    if srv.store.subscriptions_if_any().is_none() {
        // First start: every folder a mail app expects is subscribed (LSUB shows them).
        let mut subs = vec![crate::store::INBOX.to_owned()];
        subs.extend(crate::store::SPECIAL_FOLDERS.iter().map(|s| s.to_string()));
        let _ = srv.store.set_subscriptions(&subs);
    }
    let ex = Rc::new(LocalExecutor::new());
    for (proto, l) in listeners {
        let addr = l.local_addr()?;
        eprintln!("letterbox: {} listening on {addr}", proto.name());
        let l = Async::new(l)?;
        ex.spawn(accept_loop(ex.clone(), srv.clone(), proto, l)).detach();
    }
    #[cfg(feature = "fetch")]
    fetch::start(&ex, srv.config(), srv.store.clone(), writer.clone(), fetch_queue(&srv));
    #[cfg(feature = "outbound")]
    start_outbound(&ex, srv.config(), writer, queue)?;
    #[cfg(feature = "acme")]
    acme::start(&ex, srv.clone());
    smol::block_on(ex.run(signals(srv.clone())));
    // Stop: sessions waiting for input are told to go; give in-flight work time to finish.
    let until = Instant::now() + Duration::from_secs(20);
    smol::block_on(ex.run(async {
        while srv.total.get() > 0 && Instant::now() < until {
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
    }));
    #[cfg(feature = "checks")]
    if let Some(c) = srv.checks.as_ref() {
        c.save();
    }
    eprintln!("letterbox: stopped");
    Ok(())
}

/// The queue's writer for pulled mail's redirect and vacation rules.
#[cfg(feature = "fetch")]
fn fetch_queue(srv: &Server) -> Option<crate::store::writer::Writer> {
    #[cfg(feature = "outbound")]
    return Some(srv.queue.clone());
    #[cfg(not(feature = "outbound"))]
    {
        let _ = srv;
        None
    }
}

/// The queue store's writer thread (`DATA/queue/`).
#[cfg(feature = "outbound")]
fn outbound_writer(cfg: &Config) -> io::Result<Writer> {
    let q = crate::outbound::queue::open(&cfg.data_dir).map_err(|e| io::Error::other(format!("queue: {e}")))?;
    Writer::spawn_with(q, cfg.limits.compact_threshold)
}

/// Starts the delivery driver with the SMTP client transport (`outbound_client`) and the
/// stub resolver of `[outbound] resolver`.
#[cfg(feature = "outbound")]
fn start_outbound(ex: &Rc<LocalExecutor<'static>>, cfg: Arc<Config>, inbox: Writer, queue: Writer) -> io::Result<()> {
    // A relay password readable by others refuses the start (like ssh's keys).
    let password = cfg.outbound.relay_password().map_err(|e| io::Error::other(e.0))?;
    let ns = cfg.outbound.dns_server();
    let transport = outbound_client::ClientTransport::new(&cfg, password);
    outbound::start(ex, cfg, inbox, queue, transport, dns::StubResolver::new(ns))
}

/// Polls the signal flags: SIGHUP reloads, SIGTERM returns (stopping the server).
async fn signals(srv: Rc<Server>) {
    loop {
        async_io::Timer::after(Duration::from_millis(200)).await;
        if crate::sys::term_requested() {
            eprintln!("letterbox: stopping");
            srv.stop_tx.close();
            return;
        }
        if crate::sys::take_hup() {
            reload(&srv);
        }
    }
}

pub(crate) fn reload(srv: &Server) {
    let path = srv.config().path.clone();
    let r = Config::load(&path).and_then(|c| {
        let tls = load_tls(&c).map_err(|e| crate::config::ConfigError(e.to_string()))?;
        let v = make_verifier(&c).map_err(|e| crate::config::ConfigError(e.to_string()))?;
        Ok((c, tls, v))
    });
    match r {
        Ok((c, tls, v)) => {
            conn::set_write_timeout(c.limits.write_timeout);
            *srv.cfg.borrow_mut() = Arc::new(c);
            *srv.tls.borrow_mut() = tls;
            *srv.verifier.borrow_mut() = v;
            eprintln!("letterbox: reloaded {}", path.display());
        }
        Err(e) => eprintln!("letterbox: reload failed, keeping the old config: {e}"),
    }
}

async fn accept_loop(ex: Rc<LocalExecutor<'static>>, srv: Rc<Server>, proto: Proto, l: Async<TcpListener>) {
    let mut last_err_log = Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = l.accept().or(async {
            let _ = srv.stop_rx.recv().await;
            Err(io::Error::other("stopping"))
        });
        match accepted.await {
            Ok((stream, peer)) => {
                let srv2 = srv.clone();
                ex.spawn(async move { handle(srv2, proto, stream, peer).await }).detach();
            }
            Err(_) if srv.stopping() => return,
            Err(e) => {
                // EMFILE/ENFILE and friends: back off, log at most every 10 s, keep accepting.
                if last_err_log.elapsed() > Duration::from_secs(10) {
                    eprintln!("letterbox: {} accept: {e}", proto.name());
                    last_err_log = Instant::now();
                }
                async_io::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(srv: Rc<Server>, proto: Proto, stream: Async<std::net::TcpStream>, peer: SocketAddr) {
    let _ = stream.get_ref().set_nodelay(true);
    let _ = crate::sys::set_send_buffer(stream.get_ref(), SEND_BUFFER);
    let _ = crate::sys::set_recv_buffer(stream.get_ref(), RECV_BUFFER);
    let mut conn = Conn::Plain(stream);
    let Some(_slot) = take_slot(&srv, peer.ip()) else {
        refuse_busy(&srv, proto, conn).await;
        return;
    };
    log(proto.name(), &peer, "connect");
    if proto.implicit_tls() {
        let Some(tls) = srv.tls() else {
            log(proto.name(), &peer, "disconnect: no certificate configured");
            return;
        };
        let t = Duration::from_secs(srv.config().limits.tls_handshake_timeout);
        if let Err(e) = conn.upgrade(tls, t).await {
            log(proto.name(), &peer, &format!("disconnect: TLS handshake failed: {e}"));
            return;
        }
        if conn.is_acme_validation() {
            conn.close().await;
            log(proto.name(), &peer, "disconnect: ACME TLS-ALPN-01 validation answered");
            return;
        }
        if let Some((v, c)) = conn.tls_info() {
            log(proto.name(), &peer, &format!("TLS {v} {c}"));
        }
    }
    let reason = match proto {
        #[cfg(feature = "pop3")]
        Proto::Pop3 | Proto::Pop3s => pop3::session(&srv, &mut conn, peer).await,
        #[cfg(feature = "sieve")]
        Proto::ManageSieve => managesieve::session(&srv, &mut conn, peer).await,
        Proto::Smtp => smtp::session(&srv, &mut conn, peer, false).await,
        Proto::Submission | Proto::Submissions => smtp::session(&srv, &mut conn, peer, true).await,
        #[cfg(feature = "imap")]
        Proto::Imap | Proto::Imaps => imap::session(&srv, &mut conn, peer).await,
        #[cfg(feature = "web")]
        Proto::Http | Proto::Https => http::session(&srv, &mut conn, peer, proto == Proto::Https).await,
        // Never bound (bind_all refuses listeners of protocols left out of the build).
        #[allow(unreachable_patterns)]
        _ => "protocol not built in".to_owned(),
    };
    conn.close().await;
    log(proto.name(), &peer, &format!("disconnect: {reason}"));
}
