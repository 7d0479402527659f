//! The client core's public types: configuration, envelope, timeouts (RFC 5321 §4.5.3.2),
//! per-recipient outcomes and the events the driver acts on.

use crate::auth::Secret;

/// RFC 5321 §4.5.3.2 client timeouts in ms; shrink them in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// §4.5.3.2.1 initial 220: 5 minutes.
    pub greeting_ms: u64,
    /// §4.5.3.2.2 MAIL: 5 minutes.
    pub mail_ms: u64,
    /// §4.5.3.2.3 RCPT: 5 minutes.
    pub rcpt_ms: u64,
    /// §4.5.3.2.4 DATA initiation (354): 2 minutes.
    pub data_init_ms: u64,
    /// §4.5.3.2.5 each data block sent: 3 minutes.
    pub data_block_ms: u64,
    /// §4.5.3.2.6 DATA termination (reply to `.`): 10 minutes.
    pub data_term_ms: u64,
    /// EHLO, STARTTLS, AUTH, QUIT: not in §4.5.3.2; 5 minutes like MAIL (Postfix's default).
    pub command_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60_000;
        Timeouts {
            greeting_ms: 5 * MIN,
            mail_ms: 5 * MIN,
            rcpt_ms: 5 * MIN,
            data_init_ms: 2 * MIN,
            data_block_ms: 3 * MIN,
            data_term_ms: 10 * MIN,
            command_ms: 5 * MIN,
        }
    }
}

/// AUTH credentials for a relay.
#[derive(Debug)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// Whether to use STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never (the connection may already be TLS: `Config::tls_active`).
    Off,
    /// RFC 7435: when offered; a refused STARTTLS continues in plaintext.
    Opportunistic,
    /// No delivery without TLS (relays).
    Required,
}

/// How to talk to this server.
#[derive(Debug)]
pub struct Config {
    /// EHLO/HELO argument (RFC 5321 §4.1.1.1: our FQDN).
    pub helo_name: String,
    pub tls: TlsMode,
    /// The connection is TLS from the start (implicit TLS, RFC 8314 §3.3).
    pub tls_active: bool,
    /// The server is on loopback: AUTH is allowed without TLS.
    pub loopback: bool,
    pub auth: Option<Credentials>,
    pub timeouts: Timeouts,
}

/// The envelope (RFC 5321 §2.3.1) and what the message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse-path without brackets; empty for the null sender.
    pub mail_from: String,
    pub rcpts: Vec<String>,
    /// Message size in octets (RFC 1870 SIZE=).
    pub size: u64,
    /// The message has octets over 127 (RFC 6152 BODY=8BITMIME).
    pub eight_bit: bool,
    /// The message has UTF-8 header fields (RFC 6532); non-ASCII addresses count anyway.
    pub smtputf8: bool,
}

/// Final state of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Delivered,
    /// Retry later (4xx, timeout, connection or protocol error).
    Temporary,
    /// Do not retry (5xx, or a requirement the server cannot meet).
    Permanent,
}

/// One recipient's result: the status and the reply (or our reason) behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptResult {
    pub rcpt: String,
    pub status: Status,
    pub reply: String,
}

/// The result of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// In the envelope's order.
    pub rcpts: Vec<RcptResult>,
    /// The transaction ran over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The server offered PIPELINING, so MAIL, RCPTs and DATA went in one write (RFC 2920).
    pub pipelining: bool,
    /// Why the session ended before its normal end, if it did.
    pub error: Option<String>,
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Event {
    /// Bytes to write, in order.
    Send(Vec<u8>),
    /// Bytes to write that carry a credential (kept out of Debug).
    SendSecret(Secret),
    /// Write everything before, discard unread input, run the TLS handshake, then call
    /// [`Client::tls_started`](super::Client::tls_started) (RFC 3207 §4.2).
    StartTls,
    /// The server said 354: stream the message through [`Client::write_body`](super::Client::write_body) and
    /// [`Client::end_body`](super::Client::end_body).
    SendMessage,
    /// The session is over: close the connection.
    Done(Outcome),
}
