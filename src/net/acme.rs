//! The ACME driver of `serve` (issue 18, RFC 8555): a task on the server's executor that
//! keeps the `[tls]` certificate issued by the `[acme]` CA. It runs the sans-IO order
//! (`acme::flow`) over its own HTTPS client (one `Connection: close` request per exchange,
//! certificate verified against `[acme] ca_file` or the system roots), answers challenges
//! (TLS-ALPN-01 through `tls::publish_alpn_cert`, HTTP-01 through `web::challenge::shared`),
//! installs the new key and chain durably (temporary file, fsync, rename, fsync of the
//! folder) where `[tls]` reads them, and reloads like SIGHUP so every TLS listener serves
//! it. Until the first issuance the self-signed certificate keeps serving; a failed attempt
//! replaces nothing and is retried with a doubling backoff.
//!
//! State in `DATA/acme/`: `account.key` (PKCS#8 P-256, mode 0600), `state` (account URL,
//! failures, next attempt), `key.pem` and `chain.pem` (the last issued, also used to repair
//! an install cut short by a crash).

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, LocalExecutor};

use super::client_tls::{self, Roots};
use super::Server;
use crate::acme::cert;
use crate::acme::flow::{Flow, Params, Request, Step};
use crate::acme::http::{self, ResponseReader};
use crate::acme::jws::AccountKey;
use crate::config::{AcmeChallenge, Config};

/// One request's connect, handshake, write and read, all together.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// One whole order, polls included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(600);
/// First wait after a failed attempt; doubles per failure...
pub const BACKOFF_BASE_SECS: i64 = 60;
/// ...up to a day (Let's Encrypt's failed-validation limit is 5 an hour).
pub const BACKOFF_MAX_SECS: i64 = 86_400;
/// Longest sleep between looks at the clock and the config (a SIGHUP may change `[acme]`).
pub const TICK: Duration = Duration::from_secs(5);
/// Bytes read from the CA at once (the response itself is bounded by `acme::http`).
const READ_CHUNK: usize = 8 * 1024;
/// Largest `state` file read.
const STATE_MAX: u64 = 4096;

/// Starts the driver when the config has `[acme]` (a later SIGHUP adding it needs a restart).
pub fn start(ex: &Rc<LocalExecutor<'static>>, srv: Rc<Server>) {
    if srv.config().acme.is_some() {
        ex.spawn(run(srv)).detach();
    }
}

/// What is kept between attempts and runs (`DATA/acme/state`, `key=value` lines).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub account: Option<String>,
    pub failures: u32,
    /// Unix seconds before which no attempt is made (backoff).
    pub not_before: i64,
}

impl State {
    /// Parses the file's text; unknown or bad lines are ignored (the state is advisory).
    pub fn parse(text: &str) -> State {
        let mut s = State::default();
        for l in text.lines() {
            match l.split_once('=') {
                Some(("account", v)) if v.starts_with("https://") => s.account = Some(v.to_owned()),
                Some(("failures", v)) => s.failures = v.parse().unwrap_or(0),
                Some(("not_before", v)) => s.not_before = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        s
    }

    pub fn render(&self) -> String {
        let acct = self.account.as_deref().map(|a| format!("account={a}\n")).unwrap_or_default();
        format!("{acct}failures={}\nnot_before={}\n", self.failures, self.not_before)
    }

    /// Records a failure: the next attempt after the backoff, or the server's Retry-After.
    pub fn failed(&mut self, now: i64, retry_after: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        let backoff =
            BACKOFF_BASE_SECS.saturating_mul(1 << self.failures.min(20).saturating_sub(1)).min(BACKOFF_MAX_SECS);
        let asked = retry_after.map_or(0, |d| d.as_secs().min(BACKOFF_MAX_SECS as u64) as i64);
        self.not_before = now + backoff.max(asked);
    }
}

fn acme_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("acme")
}

fn load_state(cfg: &Config) -> State {
    let p = acme_dir(cfg).join("state");
    match std::fs::metadata(&p) {
        Ok(m) if m.len() <= STATE_MAX => State::parse(&std::fs::read_to_string(&p).unwrap_or_default()),
        _ => State::default(),
    }
}

/// Writes `data` at `path` so that a crash leaves the old or the new file, whole.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    crate::util::write_synced(&tmp, data)?;
    std::fs::rename(&tmp, path)?;
    crate::sys::fsync_dir(dir)
}

fn save_state(cfg: &Config, s: &State) -> io::Result<()> {
    let dir = acme_dir(cfg);
    crate::store::create_private_dir(&dir)?;
    write_atomic(&dir.join("state"), s.render().as_bytes())
}

/// The account key, created on first use.
fn account_key(cfg: &Config) -> io::Result<AccountKey> {
    let dir = acme_dir(cfg);
    crate::store::create_private_dir(&dir)?;
    let p = dir.join("account.key");
    if let Ok(der) = std::fs::read(&p) {
        return AccountKey::from_pkcs8(&der)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a P-256 key", p.display())));
    }
    let (key, der) = AccountKey::generate().ok_or_else(|| io::Error::other("key generation failed"))?;
    write_atomic(&p, &der)?;
    Ok(key)
}

/// When the next order is due (Unix seconds): now when the served certificate is not the
/// last one issued (the self-signed fallback, or names changed), else its renewal time.
pub fn due(cfg: &Config, state: &State) -> i64 {
    let Some(tls) = &cfg.tls else { return i64::MAX };
    let ours = std::fs::read_to_string(acme_dir(cfg).join("chain.pem")).ok();
    let served = std::fs::read_to_string(&tls.cert).ok();
    let renew = match (&ours, &served) {
        (Some(o), Some(s)) if o == s => {
            let v = cert::leaf_der(o).and_then(|d| cert::validity(&d)).zip(names_of(cfg));
            v.filter(|(_, same)| *same).map(|((nb, na), _)| cert::renew_at(nb, na))
        }
        _ => None,
    };
    renew.unwrap_or(0).max(state.not_before)
}

/// Whether the names recorded with the last issuance are today's.
fn names_of(cfg: &Config) -> Option<bool> {
    let recorded = std::fs::read_to_string(acme_dir(cfg).join("names")).ok()?;
    Some(recorded.trim() == cfg.acme_names().join(","))
}

/// Repairs an install cut short (the key renamed, not yet the chain): both are written again
/// from the copies in `DATA/acme/`. Runs before the TLS config is loaded.
pub fn repair(cfg: &Config) {
    let (Some(tls), dir) = (&cfg.tls, acme_dir(cfg)) else { return };
    let (Ok(key), Ok(chain)) = (std::fs::read(dir.join("key.pem")), std::fs::read(dir.join("chain.pem"))) else {
        return;
    };
    let key_in = std::fs::read(&tls.key).ok().as_deref() == Some(key.as_slice());
    let chain_in = std::fs::read(&tls.cert).ok().as_deref() == Some(chain.as_slice());
    if key_in != chain_in {
        eprintln!("letterbox: acme: completing an interrupted certificate install");
        if let Err(e) = write_atomic(&tls.key, &key).and_then(|()| write_atomic(&tls.cert, &chain)) {
            eprintln!("letterbox: acme: repair failed: {e}");
        }
    }
}

async fn run(srv: Rc<Server>) {
    loop {
        let cfg = srv.config();
        let mut state = load_state(&cfg);
        let now = crate::util::unix_now();
        let due = due(&cfg, &state);
        if due > now {
            let nap = Duration::from_secs((due - now) as u64).min(TICK);
            if sleep_or_stop(&srv, nap).await {
                return;
            }
            continue;
        }
        let started = Instant::now();
        let result = attempt(&cfg, &state).or(async {
            async_io::Timer::after(ATTEMPT_TIMEOUT).await;
            Err(("the order took too long".to_owned(), None))
        });
        let result = result.or(async {
            let _ = srv.stop_rx.recv().await;
            Err(("server stopping".to_owned(), None))
        });
        match result.await {
            Ok(account) => {
                state = State { account: Some(account), failures: 0, not_before: 0 };
                let names = cfg.acme_names().join(",");
                eprintln!("letterbox: acme: certificate for {names} installed in {} ms", started.elapsed().as_millis());
                super::reload(&srv);
            }
            Err(_) if srv.stopping() => return,
            Err((reason, retry_after)) => {
                state.failed(crate::util::unix_now(), retry_after);
                eprintln!(
                    "letterbox: acme: order failed ({} in a row), next try in {} s, certificate unchanged: {reason}",
                    state.failures,
                    state.not_before - crate::util::unix_now()
                );
            }
        }
        if let Err(e) = save_state(&cfg, &state) {
            eprintln!("letterbox: acme: {}: {e}", acme_dir(&cfg).display());
        }
    }
}

/// Sleeps `d`; true when the server is stopping.
async fn sleep_or_stop(srv: &Server, d: Duration) -> bool {
    async {
        async_io::Timer::after(d).await;
        false
    }
    .or(async {
        let _ = srv.stop_rx.recv().await;
        true
    })
    .await
}

type Failure = (String, Option<Duration>);

/// One order; on success the new key and chain are installed. Returns the account URL.
async fn attempt(cfg: &Arc<Config>, state: &State) -> Result<String, Failure> {
    let e = |e: &dyn std::fmt::Display| (e.to_string(), None);
    let Some(acme) = &cfg.acme else { return Err(("no [acme]".into(), None)) };
    let roots = roots(acme.ca_file.as_deref()).map_err(|x| e(&x))?;
    let key = account_key(cfg).map_err(|x| e(&x))?;
    let names = cfg.acme_names();
    let (key_pem, csr_der) = cert::key_and_csr(&names).map_err(|x| e(&x))?;
    let params = Params {
        directory: acme.directory.clone(),
        contact: acme.contact.clone(),
        names: names.clone(),
        challenge: acme.challenge,
        csr_der,
        account_known: state.account.is_some(),
    };
    let mut published = Published(Vec::new());
    let (chain, account) = order(Flow::new(key, params), &roots, &mut published).await?;
    drop(published);
    install(cfg, &key_pem, &chain).map_err(|x| (format!("install: {x}"), None))?;
    Ok(account)
}

/// The challenges answerable now; withdrawn when dropped, also when the attempt is cut off by
/// its timeout or the server's stop.
struct Published(Vec<(AcmeChallenge, String, String)>);

impl Drop for Published {
    fn drop(&mut self) {
        for (kind, name, token) in &self.0 {
            withdraw(*kind, name, token);
        }
    }
}

/// Runs the flow's steps to the end: (chain PEM, account URL) or the failure.
async fn order(mut flow: Flow, roots: &Roots, published: &mut Published) -> Result<(String, String), Failure> {
    let mut step = flow.start();
    loop {
        step = match step {
            Step::Send(req) => flow.received(https(roots, &req).await),
            Step::Publish { kind, name, token, key_authorization } => {
                publish(kind, &name, &token, &key_authorization).map_err(|e| (e.to_string(), None))?;
                published.0.push((kind, name, token));
                flow.resume()
            }
            Step::Wait(d) => {
                async_io::Timer::after(d).await;
                flow.resume()
            }
            Step::Issued { chain_pem, account } => return Ok((chain_pem, account)),
            Step::Failed { reason, retry_after } => return Err((reason, retry_after)),
        }
    }
}

fn publish(kind: AcmeChallenge, name: &str, token: &str, key_authorization: &str) -> io::Result<()> {
    match kind {
        AcmeChallenge::TlsAlpn01 => {
            let (c, k) = cert::alpn_challenge_cert(name, key_authorization).map_err(io::Error::other)?;
            super::tls::publish_alpn_cert(name, c, k)
        }
        AcmeChallenge::Http01 => match crate::web::challenge::shared().insert(token, key_authorization) {
            true => Ok(()),
            false => Err(io::Error::other("the HTTP-01 token map refused the token")),
        },
    }
}

fn withdraw(kind: AcmeChallenge, name: &str, token: &str) {
    match kind {
        AcmeChallenge::TlsAlpn01 => super::tls::withdraw_alpn_cert(name),
        AcmeChallenge::Http01 => crate::web::challenge::shared().remove(token),
    }
}

/// The system's roots plus `[acme] ca_file` (an extra root, as the contract says).
fn roots(ca_file: Option<&Path>) -> io::Result<Roots> {
    let system = Path::new(client_tls::SYSTEM_CA_FILE);
    match ca_file {
        Some(extra) => {
            Roots::load(extra)?; // a configured root must be there and usable
            Roots::load_many(&[system, extra])
        }
        None => Roots::load(system),
    }
}

/// Checks the key and chain make a TLS config, then writes them: our copies first, then
/// `[tls] key` and `cert` (a crash between the two is repaired at the next start).
fn install(cfg: &Config, key_pem: &str, chain_pem: &str) -> io::Result<()> {
    let tls = cfg.tls.as_ref().ok_or_else(|| io::Error::other("no [tls] cert and key"))?;
    let dir = acme_dir(cfg);
    crate::store::create_private_dir(&dir)?;
    let (k, c) = (dir.join("key.pem"), dir.join("chain.pem"));
    write_atomic(&k.with_extension("new"), key_pem.as_bytes())?;
    write_atomic(&c.with_extension("new"), chain_pem.as_bytes())?;
    super::tls::load(&c.with_extension("new"), &k.with_extension("new"))?;
    std::fs::rename(k.with_extension("new"), &k)?;
    std::fs::rename(c.with_extension("new"), &c)?;
    crate::sys::fsync_dir(&dir)?;
    write_atomic(&dir.join("names"), cfg.acme_names().join(",").as_bytes())?;
    write_atomic(&tls.key, key_pem.as_bytes())?;
    write_atomic(&tls.cert, chain_pem.as_bytes())
}

/// `https://host[:port]/path` split; `None` for anything else.
fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) =
        rest.find('/').map_or((rest, "/"), |i| (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, 443),
    };
    let host_ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let ok = !host.is_empty() && host_ok && !path.bytes().any(|b| b <= b' ' || b == 0x7f);
    ok.then(|| (host.trim_matches(['[', ']']).to_owned(), port, path.to_owned()))
}

/// One HTTPS exchange within `REQUEST_TIMEOUT`.
async fn https(roots: &Roots, req: &Request) -> Result<http::Response, String> {
    exchange(roots, req)
        .or(async {
            async_io::Timer::after(REQUEST_TIMEOUT).await;
            Err(format!("{}: timed out", req.url))
        })
        .await
}

async fn exchange(roots: &Roots, req: &Request) -> Result<http::Response, String> {
    let (host, port, path) = split_url(&req.url).ok_or_else(|| format!("bad URL {:?}", req.url))?;
    let h = host.clone();
    let addrs =
        smol::unblock(move || std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), port)).map(Vec::from_iter))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
    let tcp = connect(&addrs).await.map_err(|e| format!("{host}: {e}"))?;
    let (cfg, _) = client_tls::client_config(roots, true).map_err(|e| e.to_string())?;
    let name = client_tls::server_name(&host).map_err(|e| e.to_string())?;
    let mut tls =
        futures_rustls::TlsConnector::from(cfg).connect(name, tcp).await.map_err(|e| format!("{host}: TLS: {e}"))?;
    let authority = if port == 443 { host.clone() } else { format!("{host}:{port}") };
    let bytes = http::request(req.method, &authority, &path, req.body.as_deref());
    tls.write_all(&bytes).await.map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    let mut reader = ResponseReader::default();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = tls.read(&mut buf).await.or_else(|e| eof_like(&e).then_some(0).ok_or(e)).map_err(|e| e.to_string())?;
        if n == 0 {
            return reader.finish().map_err(|e| e.to_string());
        }
        if let Some(r) = reader.feed(buf.get(..n).unwrap_or_default()).map_err(|e| e.to_string())? {
            return Ok(r);
        }
    }
}

/// The first address that takes the connection (`localhost` may be ::1 and 127.0.0.1).
async fn connect(addrs: &[std::net::SocketAddr]) -> io::Result<Async<std::net::TcpStream>> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match Async::<std::net::TcpStream>::connect(*a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A server that closes without close_notify ends the body like a clean close would.
fn eof_like(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_state_and_backoff() {
        assert_eq!(split_url("https://ca:14000/dir"), Some(("ca".into(), 14000, "/dir".into())));
        assert_eq!(split_url("https://ca"), Some(("ca".into(), 443, "/".into())));
        assert_eq!(split_url("https://[::1]:8443/x"), Some(("::1".into(), 8443, "/x".into())));
        assert_eq!(split_url("http://ca/dir"), None);
        assert_eq!(split_url("https://ca:x/dir"), None);
        assert_eq!(split_url("https://ca\r\nX-Evil: 1/dir"), None);
        assert_eq!(split_url("https://ca/a b"), None);
        let mut s = State { account: Some("https://ca/acct/1".into()), ..State::default() };
        s.failed(1000, None);
        assert_eq!((s.failures, s.not_before), (1, 1000 + BACKOFF_BASE_SECS));
        s.failed(1000, None);
        assert_eq!(s.not_before, 1000 + 2 * BACKOFF_BASE_SECS);
        s.failed(1000, Some(Duration::from_secs(7200)));
        assert_eq!(s.not_before, 1000 + 7200);
        for _ in 0..40 {
            s.failed(1000, None);
        }
        assert_eq!(s.not_before, 1000 + BACKOFF_MAX_SECS);
        assert_eq!(State::parse(&s.render()), s);
        assert_eq!(State::parse("garbage\nfailures=x\naccount=http://no"), State::default());
    }

    #[test]
    fn challenges_are_published_and_withdrawn_when_the_attempt_ends() {
        let tokens = crate::web::challenge::shared();
        {
            let mut p = Published(Vec::new());
            publish(AcmeChallenge::Http01, "mx.a.b", "tok-1", "tok-1.thumb").unwrap();
            p.0.push((AcmeChallenge::Http01, "mx.a.b".into(), "tok-1".into()));
            publish(AcmeChallenge::TlsAlpn01, "mx.a.b", "tok-2", "tok-2.thumb").unwrap();
            p.0.push((AcmeChallenge::TlsAlpn01, "mx.a.b".into(), "tok-2".into()));
            assert_eq!(tokens.get("tok-1").as_deref(), Some("tok-1.thumb"));
            assert!(publish(AcmeChallenge::Http01, "mx.a.b", "../etc", "x").is_err());
        }
        assert_eq!(tokens.get("tok-1"), None);
    }

    #[test]
    fn an_install_cut_between_key_and_chain_is_completed_at_start() {
        let dir = std::env::temp_dir().join(format!("letterbox-acme-repair-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d/acme")).unwrap();
        let text = "domain = \"a.b\"\nuser = \"u\"\ndata_dir = \"d\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[acme]\ndirectory = \"https://ca/d\"\n";
        let cfg = Config::parse(&dir.join("letterbox.toml"), text).unwrap();
        let (ours_key, ours_chain) = (dir.join("d/acme/key.pem"), dir.join("d/acme/chain.pem"));
        std::fs::write(&ours_key, "NEW KEY").unwrap();
        std::fs::write(&ours_chain, "NEW CHAIN").unwrap();
        // The crash came after the key's rename: the new key beside the old chain.
        std::fs::write(dir.join("k.pem"), "NEW KEY").unwrap();
        std::fs::write(dir.join("c.pem"), "OLD CHAIN").unwrap();
        repair(&cfg);
        assert_eq!(std::fs::read_to_string(dir.join("c.pem")).unwrap(), "NEW CHAIN");
        // Both old (the crash came before either rename, or the owner put their own): untouched.
        std::fs::write(dir.join("k.pem"), "OWN KEY").unwrap();
        std::fs::write(dir.join("c.pem"), "OWN CHAIN").unwrap();
        repair(&cfg);
        assert_eq!(std::fs::read_to_string(dir.join("k.pem")).unwrap(), "OWN KEY");
        // A garbage state file is ignored; the order is due at once for a certificate not ours.
        std::fs::write(dir.join("d/acme/state"), [0xffu8; 100]).unwrap();
        assert_eq!(load_state(&cfg), State::default());
        assert_eq!(due(&cfg, &load_state(&cfg)), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
