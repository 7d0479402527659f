//! The connection of one fetch session: TCP to the remote server, TLS from the first byte
//! (RFC 8314 §3.3) or after STARTTLS/STLS, with the certificate always verified against the
//! system roots or `[outbound] ca_file` (a failed verification fails the handshake: no
//! plaintext fallback), and reads/writes bounded by deadlines.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

/// Bytes read from the socket at once.
pub const READ_BUF: usize = 16 * 1024;
/// How long a TCP connect or a TLS handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long any write may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Trusted roots (a stand-in without TLS).
#[cfg(feature = "tls")]
pub use crate::net::client_tls::Roots;
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub struct Roots;

/// The CA roots fetch trusts: `[outbound] ca_file`, else the system bundle.
#[cfg(feature = "tls")]
pub fn roots(cfg: &crate::config::Config) -> io::Result<Roots> {
    let ca = cfg.outbound.ca_file.clone().unwrap_or_else(|| crate::net::client_tls::SYSTEM_CA_FILE.into());
    Roots::load(&ca)
}

#[cfg(not(feature = "tls"))]
pub fn roots(_: &crate::config::Config) -> io::Result<Roots> {
    Ok(Roots)
}

/// A plain or TLS connection with its unconsumed input.
pub struct Conn {
    stream: Stream,
    /// Bytes read and not yet consumed by the core (`buf[start..end]`).
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub peer: SocketAddr,
}

enum Stream {
    Plain(Async<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Box<futures_rustls::client::TlsStream<Async<TcpStream>>>),
    Closed,
}

impl Conn {
    /// Connects to `addr`; with `implicit`, runs the TLS handshake for `name` at once.
    pub async fn connect(addr: SocketAddr, name: &str, implicit: bool, roots: &Roots) -> Result<Conn, String> {
        let tcp = Async::<TcpStream>::connect(addr)
            .or(timeout(CONNECT_TIMEOUT))
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut c = Conn { stream: Stream::Plain(tcp), buf: vec![0; READ_BUF], start: 0, end: 0, peer: addr };
        if implicit {
            c.start_tls(name, roots).await?;
        }
        Ok(c)
    }

    /// The unconsumed input.
    pub fn input(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Marks `n` bytes of [`Conn::input`] consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Reads more input before `deadline`: Err on EOF, error or timeout. Unconsumed bytes
    /// (a few, when the core waits for the rest of a token) are kept in front.
    pub async fn fill(&mut self, deadline: Instant) -> Result<(), String> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end >= self.buf.len() {
            return Err("protocol error: the core left a full buffer unconsumed".into());
        }
        let Some(free) = self.buf.get_mut(self.end..) else { return Err("buffer".into()) };
        let read = async {
            match &mut self.stream {
                Stream::Plain(s) => s.read(free).await,
                #[cfg(feature = "tls")]
                Stream::Tls(s) => s.read(free).await,
                Stream::Closed => Ok(0),
            }
        };
        let n = read
            .or(async {
                async_io::Timer::at(deadline).await;
                Err(io::Error::from(io::ErrorKind::TimedOut))
            })
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.end += n;
        Ok(())
    }

    /// Writes all of `data`.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), String> {
        let w = async {
            match &mut self.stream {
                Stream::Plain(s) => s.write_all(data).await,
                #[cfg(feature = "tls")]
                Stream::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Stream::Closed => Err(io::Error::from(io::ErrorKind::NotConnected)),
            }
        };
        w.or(timeout(WRITE_TIMEOUT)).await.map_err(|e| format!("write: {e}"))
    }

    /// The TLS handshake on the plain connection, certificate verified; input read before it
    /// is discarded (RFC 3501 §6.2.1, RFC 2595 §4).
    #[cfg(feature = "tls")]
    pub async fn start_tls(&mut self, name: &str, roots: &Roots) -> Result<(), String> {
        let (cfg, _) = crate::net::client_tls::client_config(roots, true).map_err(|e| e.to_string())?;
        let server = crate::net::client_tls::server_name(name).map_err(|e| e.to_string())?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err("TLS over TLS".into());
        };
        let tls = futures_rustls::TlsConnector::from(cfg)
            .connect(server, tcp)
            .or(timeout(CONNECT_TIMEOUT))
            .await
            .map_err(|e| format!("TLS handshake with {name} failed (certificate not trusted?): {e}"))?;
        self.stream = Stream::Tls(Box::new(tls));
        (self.start, self.end) = (0, 0);
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    pub async fn start_tls(&mut self, _: &str, _: &Roots) -> Result<(), String> {
        Err("this letterbox was built without tls (cargo feature)".into())
    }

    pub async fn close(&mut self) {
        let t = Duration::from_secs(2);
        let _ = match &mut self.stream {
            Stream::Plain(s) => s.close().or(timeout(t)).await,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.close().or(timeout(t)).await,
            Stream::Closed => Ok(()),
        };
        self.stream = Stream::Closed;
    }
}

async fn timeout<T>(t: Duration) -> io::Result<T> {
    async_io::Timer::after(t).await;
    Err(io::Error::from(io::ErrorKind::TimedOut))
}
