//! Outbound SMTP driver: one message with its envelope to one server address, over
//! `Async<TcpStream>` and futures-rustls, driven by the sans-IO core
//! (`proto::smtp::client`). The queue and the retry scheduler call [`deliver`] once per
//! (destination, address) and act on the per-recipient [`Outcome`].
//!
//! - Connect within [`Target::connect_timeout`]; every wait on the server is bounded by the
//!   core's RFC 5321 §4.5.3.2 deadlines, every write by the data-block timeout.
//! - TLS: [`TlsPolicy::Opportunistic`] (MX, RFC 7435) verifies the certificate, logs the
//!   result and goes on without verification when it fails; [`TlsPolicy::Required`] and
//!   [`TlsPolicy::Implicit`] (relays; RFC 3207 STARTTLS or RFC 8314 §3.3 port 465) refuse a
//!   certificate that does not verify. [`TlsPolicy::None`] to a relay only on loopback.
//! - Buffers: one [`READ_BUF`] read buffer, input bounded by [`PENDING_MAX`], the message
//!   read in [`BODY_CHUNK`] pieces; a server's reply lines are bounded by the core.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use smol::Async;

#[cfg(feature = "tls")]
pub use super::client_tls::{Roots, SYSTEM_CA_FILE};
use super::log;
use crate::proto::smtp::client::{Client, Config, Credentials, Envelope, Event, Outcome, Status, Timeouts, TlsMode};

/// Bytes read from the socket at once.
pub const READ_BUF: usize = 4 * 1024;
/// Unconsumed server bytes held (the core consumes all input except while the message is
/// being sent): a server talking over our DATA cannot grow it.
pub const PENDING_MAX: usize = 2 * READ_BUF;
/// Message bytes read and stuffed per write.
pub const BODY_CHUNK: usize = 16 * 1024;
/// Postfix's `smtp_connect_timeout` (30 s): an MX that does not answer SYN is skipped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Stands for the trusted roots in a build without TLS.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub struct Roots;

/// Debian's CA bundle path, named in a build without TLS too.
#[cfg(not(feature = "tls"))]
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[cfg(not(feature = "tls"))]
impl Roots {
    pub fn empty() -> Roots {
        Roots
    }

    /// Nothing to load without TLS: no certificate is ever checked.
    pub fn load(_path: &std::path::Path) -> io::Result<Roots> {
        Ok(Roots)
    }
}

/// How to use TLS with this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Plaintext only (`relay_tls = "none"`: loopback relays).
    None,
    /// STARTTLS when offered, certificate verified and logged, not required (RFC 7435).
    Opportunistic,
    /// STARTTLS with a verified certificate, or no delivery.
    Required,
    /// TLS from the first byte (port 465), verified.
    Implicit,
}

/// Where and how to deliver.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The MX or relay host name: SNI and the name the certificate must carry.
    pub server_name: String,
    pub tls: TlsPolicy,
    /// A relay (smarthost): `TlsPolicy::None` is then allowed only to loopback.
    pub relay: bool,
    /// EHLO argument: the configured host name.
    pub helo_name: String,
    pub auth: Option<Credentials>,
    pub timeouts: Timeouts,
    pub connect_timeout: Duration,
}

/// How the session's TLS ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsStatus {
    Plain,
    Verified,
    /// Encrypted, but the certificate did not verify (the reason); opportunistic only.
    Unverified(String),
}

/// The outcome of [`deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub tls: TlsStatus,
}

/// The transport: plain, or TLS after STARTTLS or from the start.
enum Stream {
    Plain(Async<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<Async<TcpStream>>>),
    Closed,
}

/// The session clock: ms since the session began, as the core counts time.
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn instant(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// Delivers `message` (CRLF lines, `envelope.size` octets) to `target`; never fails
/// otherwise than through the outcome's per-recipient statuses. An opportunistic STARTTLS
/// whose handshake fails is retried once in plaintext on a new connection (RFC 7435 §1.3:
/// fall back rather than not deliver; Postfix's `smtp_tls_security_level = may` does so).
pub async fn deliver(
    mut target: Target,
    roots: &Roots,
    envelope: Envelope,
    message: &mut (impl AsyncRead + Unpin),
) -> Report {
    let fallback = (target.tls == TlsPolicy::Opportunistic && target.auth.is_none()).then(|| envelope.clone());
    let (report, handshake_failed) = attempt(&mut target, roots, envelope, message).await;
    match fallback {
        Some(envelope) if handshake_failed => {
            log("smtp-out", &target.addr, "STARTTLS handshake failed: retrying in plaintext (RFC 7435)");
            target.tls = TlsPolicy::None;
            attempt(&mut target, roots, envelope, message).await.0
        }
        _ => report,
    }
}

/// One connection's delivery; also says whether a STARTTLS handshake failed.
async fn attempt(
    target: &mut Target,
    roots: &Roots,
    envelope: Envelope,
    message: &mut (impl AsyncRead + Unpin),
) -> (Report, bool) {
    let clock = Clock(Instant::now());
    let (addr, loopback) = (target.addr, target.addr.ip().is_loopback());
    let mut status = TlsStatus::Plain;
    let cfg = Config {
        helo_name: target.helo_name.clone(),
        tls: match target.tls {
            TlsPolicy::None | TlsPolicy::Implicit => TlsMode::Off,
            TlsPolicy::Opportunistic if !cfg!(feature = "tls") => TlsMode::Off,
            TlsPolicy::Opportunistic => TlsMode::Opportunistic,
            TlsPolicy::Required => TlsMode::Required,
        },
        tls_active: target.tls == TlsPolicy::Implicit,
        loopback,
        auth: target.auth.take(),
        timeouts: target.timeouts,
    };
    let mut client = Client::new(cfg, envelope, clock.now());
    let mut handshake_failed = false;
    let connected = match client.is_done() {
        true => Err("no valid recipient: not connecting".to_owned()),
        false => connect(target, roots, &mut status, loopback).await,
    };
    let outcome = match connected {
        Err(e) => {
            client.abort(&e, clock.now());
            next_outcome(&mut client, &clock)
        }
        Ok(mut stream) => {
            let mut s = Session {
                stream: &mut stream,
                client: &mut client,
                clock: &clock,
                addr,
                status: &mut status,
                handshake_failed: false,
            };
            let o = s.run(roots, &target.server_name, message).await;
            handshake_failed = s.handshake_failed;
            stream.close().await;
            o
        }
    };
    log_outcome(&addr, &outcome, &status);
    (Report { outcome, tls: status }, handshake_failed)
}

/// The first `Done` of a client that was aborted before any I/O.
fn next_outcome(client: &mut Client, clock: &Clock) -> Outcome {
    while let Some(ev) = client.poll(clock.now()) {
        if let Event::Done(o) = ev {
            return o;
        }
    }
    Outcome { rcpts: Vec::new(), tls: false, pipelining: false, error: Some("no outcome".into()) }
}

/// TCP connect (and the implicit-TLS handshake) within the connect timeout.
async fn connect(t: &Target, roots: &Roots, status: &mut TlsStatus, loopback: bool) -> Result<Stream, String> {
    if t.relay && t.tls == TlsPolicy::None && !loopback {
        return Err("relay_tls = \"none\" is allowed only to a loopback relay".into());
    }
    let tcp = Async::<TcpStream>::connect(t.addr)
        .or(async {
            async_io::Timer::after(t.connect_timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        })
        .await
        .map_err(|e| format!("connect to {}: {e}", t.addr))?;
    let mut stream = Stream::Plain(tcp);
    if t.tls == TlsPolicy::Implicit {
        *status = handshake(&mut stream, roots, &t.server_name, true, t.connect_timeout).await?;
    }
    Ok(stream)
}

/// One connected session: the event loop between the socket and the core.
struct Session<'a> {
    stream: &'a mut Stream,
    client: &'a mut Client,
    clock: &'a Clock,
    addr: SocketAddr,
    status: &'a mut TlsStatus,
    /// A STARTTLS handshake failed (the connection is then unusable).
    handshake_failed: bool,
}

impl Session<'_> {
    async fn run(&mut self, roots: &Roots, name: &str, message: &mut (impl AsyncRead + Unpin)) -> Outcome {
        let mut buf = vec![0u8; READ_BUF];
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        let write_timeout = Duration::from_millis(self.client_timeouts().data_block_ms);
        loop {
            while let Some(ev) = self.client.poll(self.clock.now()) {
                let step = match ev {
                    Event::Send(b) => {
                        out.extend_from_slice(&b);
                        Ok(())
                    }
                    Event::SendSecret(s) => {
                        out.extend_from_slice(s.expose());
                        Ok(())
                    }
                    Event::StartTls => {
                        pending.clear(); // RFC 3207 §4.2: nothing read before the handshake counts.
                        self.starttls(&mut out, roots, name, write_timeout).await
                    }
                    Event::SendMessage => self.body(&mut out, message, write_timeout).await,
                    Event::Done(o) => {
                        let _ = self.stream.write(&out, write_timeout).await;
                        return o;
                    }
                };
                if let Err(e) = step {
                    self.client.abort(&e, self.clock.now());
                }
            }
            if let Err(e) = self.flush(&mut out, write_timeout).await {
                self.client.abort(&e, self.clock.now());
                continue;
            }
            let n = self.client.feed(&pending, self.clock.now());
            pending.drain(..n.min(pending.len()));
            if n > 0 {
                continue;
            }
            self.read(&mut buf, &mut pending).await;
        }
    }

    fn client_timeouts(&self) -> Timeouts {
        self.client.timeouts()
    }

    /// One read until the core's deadline; EOF and errors go to the core.
    async fn read(&mut self, buf: &mut [u8], pending: &mut Vec<u8>) {
        let deadline = self.client.deadline().map(|ms| self.clock.instant(ms));
        let now = self.clock.now();
        match self.stream.read_until(buf, deadline).await {
            Ok(Some(0)) => self.client.closed(now),
            Ok(Some(n)) if pending.len() + n > PENDING_MAX => {
                self.client.abort("protocol error: server sent data nobody asked for", now)
            }
            Ok(Some(n)) => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Ok(None) => {} // the deadline: the next poll times the core out
            Err(e) => self.client.abort(&format!("read error: {e}"), now),
        }
    }

    async fn flush(&mut self, out: &mut Vec<u8>, timeout: Duration) -> Result<(), String> {
        if !out.is_empty() {
            self.stream.write(out, timeout).await?;
            out.clear();
        }
        Ok(())
    }

    /// Writes what precedes STARTTLS, runs the handshake, logs the certificate verdict.
    async fn starttls(&mut self, out: &mut Vec<u8>, roots: &Roots, name: &str, t: Duration) -> Result<(), String> {
        self.flush(out, t).await?;
        let mandatory = self.client.tls_mode() == TlsMode::Required;
        *self.status = handshake(self.stream, roots, name, mandatory, t).await.inspect_err(|_| {
            self.handshake_failed = true;
        })?;
        let how = match &*self.status {
            TlsStatus::Unverified(why) => {
                format!("certificate NOT verified ({why}); delivering anyway (RFC 7435 opportunistic TLS)")
            }
            _ => "certificate verified".into(),
        };
        log("smtp-out", &self.addr, &format!("STARTTLS {}: {how}", self.stream.tls_info()));
        self.client.tls_started(self.clock.now());
        Ok(())
    }

    /// Streams the message in chunks, dot-stuffed by the core, then `.`.
    async fn body(&mut self, out: &mut Vec<u8>, msg: &mut (impl AsyncRead + Unpin), t: Duration) -> Result<(), String> {
        self.flush(out, t).await?;
        let mut chunk = vec![0u8; BODY_CHUNK];
        loop {
            let n = msg.read(&mut chunk).await.map_err(|e| format!("reading the message: {e}"))?;
            if n == 0 {
                break;
            }
            self.client.write_body(chunk.get(..n).unwrap_or_default(), out, self.clock.now());
            self.flush(out, t).await?;
        }
        self.client.end_body(out, self.clock.now());
        self.flush(out, t).await
    }
}

impl Stream {
    /// Reads once; `None` when `deadline` passed first.
    async fn read_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<Option<usize>> {
        let read = async {
            match self {
                Stream::Plain(s) => s.read(buf).await.map(Some),
                #[cfg(feature = "tls")]
                Stream::Tls(s) => s.read(buf).await.map(Some),
                Stream::Closed => Ok(Some(0)),
            }
        };
        let Some(d) = deadline else { return read.await };
        read.or(async {
            async_io::Timer::at(d).await;
            Ok(None)
        })
        .await
    }

    /// Writes everything within `timeout` (RFC 5321 §4.5.3.2.5 data block: 3 minutes).
    async fn write(&mut self, data: &[u8], timeout: Duration) -> Result<(), String> {
        let w = async {
            match self {
                Stream::Plain(s) => s.write_all(data).await,
                #[cfg(feature = "tls")]
                Stream::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Stream::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        };
        w.or(async {
            async_io::Timer::after(timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        })
        .await
        .map_err(|e| format!("write error: {e}"))
    }

    async fn close(&mut self) {
        let t = Duration::from_secs(2);
        let _ = match self {
            Stream::Plain(s) => s.close().or(timer_ok(t)).await,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.close().or(timer_ok(t)).await,
            Stream::Closed => Ok(()),
        };
        *self = Stream::Closed;
    }

    /// Protocol version and cipher suite for the log.
    fn tls_info(&self) -> String {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(t) => {
                let c = t.get_ref().1;
                let version = c.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
                let suite = c.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
                format!("{version} {suite}")
            }
            _ => "plain".into(),
        }
    }
}

async fn timer_ok(t: Duration) -> io::Result<()> {
    async_io::Timer::after(t).await;
    Ok(())
}

/// Runs the client handshake on a plain stream; the verdict on the certificate.
#[cfg(feature = "tls")]
async fn handshake(
    s: &mut Stream,
    roots: &Roots,
    name: &str,
    mandatory: bool,
    t: Duration,
) -> Result<TlsStatus, String> {
    let (cfg, verdict) = super::client_tls::client_config(roots, mandatory).map_err(|e| e.to_string())?;
    let server = super::client_tls::server_name(name).map_err(|e| e.to_string())?;
    let Stream::Plain(tcp) = std::mem::replace(s, Stream::Closed) else { return Err("TLS over TLS".into()) };
    let tls = futures_rustls::TlsConnector::from(cfg)
        .connect(server, tcp)
        .or(async {
            async_io::Timer::after(t).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        })
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    *s = Stream::Tls(Box::new(tls));
    let verdict = verdict.lock().ok().and_then(|v| v.clone());
    Ok(match verdict {
        Some(Err(why)) => TlsStatus::Unverified(why),
        _ => TlsStatus::Verified,
    })
}

#[cfg(not(feature = "tls"))]
async fn handshake(_: &mut Stream, _: &Roots, _: &str, _: bool, _: Duration) -> Result<TlsStatus, String> {
    Err("this letterbox was built without tls (cargo feature)".into())
}

/// One log line per recipient: status and the server's reply, never the message.
fn log_outcome(addr: &SocketAddr, o: &Outcome, tls: &TlsStatus) {
    for r in &o.rcpts {
        let status = match r.status {
            Status::Delivered => "delivered",
            Status::Temporary => "deferred",
            Status::Permanent => "failed",
        };
        log("smtp-out", addr, &format!("to=<{}> {status} tls={tls:?}: {}", r.rcpt, r.reply));
    }
}
