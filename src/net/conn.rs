//! A client connection, plain or TLS (RFC 8446 / RFC 5246 via rustls), with the STARTTLS
//! upgrade (RFC 3207, RFC 2595), reads bounded by a deadline, and a draining close that
//! lets a refused peer read the last reply (RFC 1122 §4.2.2.13).

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use futures_rustls::{server::TlsStream, LazyConfigAcceptor};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

use super::tls::ServerConfig;
use super::Server;

/// Bytes read from the socket at once (one buffer per connection).
pub const READ_BUF: usize = 8 * 1024;
/// Bytes read and dropped at most while waiting for a refused peer's close.
pub const DRAIN_MAX: usize = 64 * 1024;
/// How long a write may stall before the client is considered gone (`limits.write_timeout`,
/// set at start and on reload; process-wide because every session shares the limit).
static WRITE_TIMEOUT_SECS: AtomicU64 = AtomicU64::new(120);

/// Sets the stall limit of every session's writes.
pub fn set_write_timeout(secs: u64) {
    WRITE_TIMEOUT_SECS.store(secs.max(1), Ordering::Relaxed);
}

/// The current stall limit of writes.
pub fn write_timeout() -> Duration {
    Duration::from_secs(WRITE_TIMEOUT_SECS.load(Ordering::Relaxed))
}

/// The transport of one session.
pub enum Conn {
    Plain(Async<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream<Async<TcpStream>>>),
    /// Transient state during an upgrade or after a failure.
    Closed,
}

/// What a deadline-bounded read produced.
pub enum Read {
    Data(usize),
    Eof,
    TimedOut,
}

impl Conn {
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return matches!(self, Conn::Tls(_));
        #[cfg(not(feature = "tls"))]
        false
    }

    /// TLS protocol version and cipher suite, for logs and the Received header.
    #[cfg(not(feature = "tls"))]
    pub fn tls_info(&self) -> Option<(String, String)> {
        None
    }

    /// TLS protocol version and cipher suite, for logs and the Received header.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<(String, String)> {
        let Conn::Tls(t) = self else { return None };
        let (_, c) = t.get_ref();
        let v = c.protocol_version().map(|v| format!("{v:?}").replace('_', "."))?;
        let s = c.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()))?;
        Some((v, s))
    }

    /// Whether the handshake chose ALPN `acme-tls/1`: an RFC 8737 validation, closed at once
    /// (§3: no application data follows).
    pub fn is_acme_validation(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Conn::Tls(t) = self {
            return t.get_ref().1.alpn_protocol() == Some(super::tls::ACME_TLS_ALPN);
        }
        false
    }

    /// Reads into `buf`, giving up at `deadline`.
    pub async fn read_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<Read> {
        let read = async {
            let n = match self {
                Conn::Plain(s) => s.read(buf).await?,
                #[cfg(feature = "tls")]
                Conn::Tls(s) => s.read(buf).await?,
                Conn::Closed => 0,
            };
            Ok(if n == 0 { Read::Eof } else { Read::Data(n) })
        };
        match deadline {
            Some(d) => {
                read.or(async {
                    async_io::Timer::at(d).await;
                    Ok(Read::TimedOut)
                })
                .await
            }
            None => read.await,
        }
    }

    /// Writes everything, giving up after `timeout` (a reader that does not read).
    pub async fn write_all(&mut self, data: &[u8], timeout: Duration) -> io::Result<()> {
        let w = async {
            match self {
                Conn::Plain(s) => s.write_all(data).await,
                #[cfg(feature = "tls")]
                Conn::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Conn::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        };
        w.or(async {
            async_io::Timer::after(timeout).await;
            Err(io::Error::from(io::ErrorKind::TimedOut))
        })
        .await
    }

    /// Writes and clears gathered replies; the error is the disconnect reason for the log.
    pub async fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if !out.is_empty() {
            self.write_all(out, write_timeout()).await.map_err(|e| format!("write error: {e}"))?;
            out.clear();
        }
        Ok(())
    }

    /// Runs the server handshake on a plain connection (implicit TLS or STARTTLS). Any
    /// plaintext the caller buffered must already be discarded (RFC 3207 §4.2).
    #[cfg(not(feature = "tls"))]
    pub async fn upgrade(&mut self, cfg: Arc<ServerConfig>, _timeout: Duration) -> io::Result<()> {
        match *cfg {}
    }

    /// Runs the server handshake on a plain connection (implicit TLS or STARTTLS). Any
    /// plaintext the caller buffered must already be discarded (RFC 3207 §4.2).
    #[cfg(feature = "tls")]
    pub async fn upgrade(&mut self, cfg: Arc<ServerConfig>, timeout: Duration) -> io::Result<()> {
        let Conn::Plain(_) = self else { return Err(io::Error::other("already TLS")) };
        let Conn::Plain(s) = std::mem::replace(self, Conn::Closed) else { return Err(io::Error::other("not plain")) };
        let tls = async {
            // The hello picks the config: an RFC 8737 validation gets the challenge's.
            let start = LazyConfigAcceptor::new(futures_rustls::rustls::server::Acceptor::default(), s).await?;
            let cfg = super::tls::for_hello(&start.client_hello()).unwrap_or(cfg);
            start.into_stream(cfg).await
        };
        let tls = tls
            .or(async {
                async_io::Timer::after(timeout).await;
                Err(io::Error::from(io::ErrorKind::TimedOut))
            })
            .await?;
        *self = Conn::Tls(Box::new(tls));
        Ok(())
    }

    /// Closes so that the peer reads what was written, not a reset: our close (TLS
    /// close_notify, TCP FIN), then whatever the peer still sends is read and dropped until
    /// it closes too, for at most `timeout` and [`DRAIN_MAX`] bytes. Closing a socket with
    /// unread input sends RST (RFC 1122 §4.2.2.13), which can discard our last reply.
    pub async fn close_draining(&mut self, timeout: Duration) {
        self.close_draining_up_to(timeout, DRAIN_MAX).await
    }

    /// [`Conn::close_draining`] with a byte budget of its own (the HTTP listener reads an
    /// oversized request's rest, as web servers' lingering close does). Bytes are dropped as
    /// they come, 1 KiB at a time: the budget bounds time on the wire, not memory.
    pub async fn close_draining_up_to(&mut self, timeout: Duration, max: usize) {
        let until = Instant::now() + timeout;
        let tcp = match std::mem::replace(self, Conn::Closed) {
            Conn::Plain(s) => s,
            #[cfg(feature = "tls")]
            Conn::Tls(mut t) => {
                let _ = t.close().or(timer_ok(until)).await;
                t.into_inner().0
            }
            Conn::Closed => return,
        };
        let _ = tcp.get_ref().shutdown(std::net::Shutdown::Write);
        let mut buf = [0u8; 1024];
        let mut left = max;
        while left > 0 {
            match (&tcp).read(&mut buf).or(async { timer_ok(until).await.map(|()| 0) }).await {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    }

    /// The STARTTLS upgrade of every protocol (SMTP STARTTLS, IMAP STARTTLS, POP3 STLS):
    /// sends the gathered replies (the go-ahead among them), discards whatever the client
    /// sent before the handshake (RFC 3207 §4.2, RFC 2595 §3.1: such bytes must not count
    /// as sent over TLS), then runs the handshake within `limits.tls_handshake_timeout`.
    /// Returns the TLS version and cipher suite, or the disconnect reason for the log.
    pub async fn start_tls(
        &mut self,
        srv: &Server,
        out: &mut Vec<u8>,
        pending: &mut Vec<u8>,
        cmd: &str,
    ) -> Result<(String, String), String> {
        self.flush(out).await?;
        pending.clear();
        let tls = srv.tls().ok_or_else(|| format!("{cmd} without a certificate"))?;
        let timeout = Duration::from_secs(srv.config().limits.tls_handshake_timeout);
        self.upgrade(tls, timeout).await.map_err(|e| format!("{cmd} handshake failed: {e}"))?;
        Ok(self.tls_info().unwrap_or_default())
    }

    pub async fn close(&mut self) {
        match self {
            Conn::Plain(s) => {
                let _ = s.close().await;
            }
            #[cfg(feature = "tls")]
            Conn::Tls(s) => {
                let _ = s
                    .close()
                    .or(async {
                        async_io::Timer::after(Duration::from_secs(2)).await;
                        Ok(())
                    })
                    .await;
            }
            Conn::Closed => {}
        }
        *self = Conn::Closed;
    }
}

/// Ok at `until`: the losing side of a race with a timer.
async fn timer_ok(until: Instant) -> io::Result<()> {
    async_io::Timer::at(until).await;
    Ok(())
}
