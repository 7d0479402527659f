//! Sans-IO protocol cores: SMTP (RFC 5321), POP3 (RFC 1939), IMAP (RFC 3501/9051),
//! ManageSieve (RFC 5804).
//! Each core consumes bytes and the current time and produces replies and store actions;
//! none of them opens a socket, a file or reads a clock.
pub mod dotstuff;
#[cfg(feature = "imap")]
pub mod imap;
pub mod line;
#[cfg(feature = "sieve")]
pub mod managesieve;
#[cfg(feature = "pop3")]
pub mod pop3;
pub mod smtp;

use std::net::IpAddr;

/// What the driver knows about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    pub ip: IpAddr,
    /// Implicit TLS (ports 993/995, RFC 8314 §3.3) or after STLS.
    pub is_tls: bool,
    /// A certificate is loaded, so STLS can be offered.
    pub tls_available: bool,
}

/// The driver's answer to a core's credentials check (POP3 and IMAP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials good (POP3: and the maildrop lock taken: call `open_maildrop` next).
    Ok,
    /// Wrong user or password (one answer for both, BAD-INPUTS 45).
    Bad,
    /// Another session holds the POP3 maildrop lock (RFC 2449 §8.1.2 [IN-USE]).
    InUse,
    /// The throttle refused the attempt; retry after this many ms (BAD-INPUTS 44).
    Throttled(u64),
    /// The store could not be opened (RFC 3206 [SYS/TEMP]).
    Unavailable,
}
