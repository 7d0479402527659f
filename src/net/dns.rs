//! The stub resolver's I/O (RFC 1035 §4.2, RFC 1123 §6.1.3.3, RFC 7766): a query goes over
//! UDP to the one configured server (`[outbound] resolver`, else the first `nameserver` of
//! /etc/resolv.conf), is retried after [`ATTEMPT_TIMEOUT`] up to [`ATTEMPTS`] times, and is
//! asked again over TCP when the answer is truncated (TC). A reply counts only when it
//! comes from the server's address (a connected socket), carries the query's random ID and
//! repeats its question (RFC 5452 §9.1); anything else is ignored until the deadline.
//! Answers are read into bounded buffers (a UDP datagram of [`UDP_BUF`], a TCP message of at
//! most 65,535 bytes by its length prefix) and cached in [`crate::dns::cache`].

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

use crate::dns::cache::Cache;
use crate::dns::wire::{self, Message};
use crate::dns::{interpret, DnsError, Rdata, Resolver, Rtype, Step, CNAME_CHAIN_MAX};

/// One UDP attempt waits this long (resolv.conf's default is 5 s; a home router's
/// forwarder answers in milliseconds or not at all).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// UDP attempts per question before it is a temporary failure.
pub const ATTEMPTS: usize = 3;
/// Receive buffer of one datagram: above the EDNS size we advertise (1,232), so a server
/// that ignores it is seen truncated by the kernel rather than overflowing anything.
pub const UDP_BUF: usize = 4096;

/// See the module docs.
pub struct StubResolver {
    server: SocketAddr,
    cache: RefCell<Cache>,
    started: Instant,
    timeout: Duration,
}

impl StubResolver {
    pub fn new(server: SocketAddr) -> Self {
        StubResolver {
            server,
            cache: RefCell::new(Cache::default()),
            started: Instant::now(),
            timeout: ATTEMPT_TIMEOUT,
        }
    }

    /// The same with another per-attempt timeout (tests of silent servers).
    pub fn with_timeout(server: SocketAddr, timeout: Duration) -> Self {
        StubResolver { timeout, ..StubResolver::new(server) }
    }

    /// Answers cached now (tests and `doctor`).
    pub fn cached(&self) -> usize {
        self.cache.borrow().len()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// One question to the server: UDP with retries, then TCP if truncated.
    async fn ask(&self, name: &str, rtype: Rtype) -> Result<Message, DnsError> {
        for _ in 0..ATTEMPTS {
            let id = random_id();
            let q = wire::query(id, name, rtype).map_err(|_| DnsError::Invalid)?;
            match with_timeout(self.timeout, self.udp(&q, id, name, rtype)).await {
                Ok(m) if m.truncated => {
                    return with_timeout(self.timeout * 2, self.tcp(&q, id, name, rtype))
                        .await
                        .map_err(|_| DnsError::Temporary);
                }
                Ok(m) => return Ok(m),
                Err(_) => continue,
            }
        }
        Err(DnsError::Temporary)
    }

    async fn udp(&self, q: &[u8], id: u16, name: &str, rtype: Rtype) -> io::Result<Message> {
        let local: SocketAddr = match self.server {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = Async::<UdpSocket>::bind(local)?;
        sock.get_ref().connect(self.server)?;
        sock.send(q).await?;
        let mut buf = vec![0u8; UDP_BUF];
        loop {
            let n = sock.recv(&mut buf).await?;
            if let Some(m) = buf.get(..n).and_then(|b| matching(b, id, name, rtype)) {
                return Ok(m);
            }
        }
    }

    async fn tcp(&self, q: &[u8], id: u16, name: &str, rtype: Rtype) -> io::Result<Message> {
        let mut s = Async::<TcpStream>::connect(self.server).await?;
        let len = u16::try_from(q.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(q);
        s.write_all(&framed).await?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await?;
        matching(&buf, id, name, rtype).ok_or_else(|| io::Error::other("not the answer to the query"))
    }
}

/// The decoded reply if it answers our query (RFC 5452 §9.1: ID and question match).
fn matching(b: &[u8], id: u16, name: &str, rtype: Rtype) -> Option<Message> {
    let m = wire::decode(b).ok()?;
    let same = m.is_response && m.id == id && m.question.as_ref().is_some_and(|(n, t)| n == name && *t == rtype);
    same.then_some(m)
}

impl Resolver for StubResolver {
    async fn lookup(&self, name: &str, rtype: Rtype) -> Result<Vec<Rdata>, DnsError> {
        let mut at = wire::normalize(name);
        for _ in 0..=CNAME_CHAIN_MAX {
            if let Some(r) = self.cache.borrow().get(&at, rtype, self.now_ms()) {
                return r;
            }
            let msg = self.ask(&at, rtype).await?;
            match interpret(&msg, &at, rtype) {
                Step::Done(r) => {
                    let ttl = r.as_ref().map_or(0, |a| a.ttl);
                    let r = r.map(|a| a.records);
                    self.cache.borrow_mut().put(&at, rtype, &r, ttl, self.now_ms());
                    return r;
                }
                Step::Follow(target) => at = target,
            }
        }
        Err(DnsError::Invalid)
    }
}

/// A query ID from the OS RNG (RFC 5452 §4.3: unpredictable IDs and source ports).
fn random_id() -> u16 {
    u16::from_be_bytes(crate::util::random_bytes())
}

async fn with_timeout<T>(t: Duration, f: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    f.or(async {
        async_io::Timer::after(t).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}
