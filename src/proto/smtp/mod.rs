//! Sans-IO SMTP receiver (RFC 5321 §3-§4 as a receiving MX; RFC 1870 SIZE, RFC 2920
//! PIPELINING, RFC 6152 8BITMIME, RFC 2034 ENHANCEDSTATUSCODES, RFC 3207 STARTTLS,
//! RFC 6531 SMTPUTF8; no CHUNKING) and, on submission listeners, RFC 6409 message
//! submission with RFC 4954 AUTH (PLAIN, RFC 4616; LOGIN). No sockets, files or clock reads:
//! bytes and time go in, events come out.
//!
//! # Driving a session
//!
//! ```text
//! let mut s = Session::new(policy, PeerInfo { ip, is_tls }, now_ms);
//! loop {
//!     while let Some(ev) = s.poll(now_ms()) { handle(ev) }     // always drain first
//!     if closed { break }
//!     wait for: socket readable, or s.deadline() (ms), whichever is first;
//!     let n = s.feed(&inbuf);  inbuf.drain(..n);              // re-offer the rest later
//! }
//! ```
//!
//! - [`Session::feed`] consumes bytes up to the next point where the driver must act and
//!   returns how many it took. `0` means "poll first" (or: waiting for `delivered`,
//!   `tls_started`, or closed). Offer *all* bytes read so far: unauthorized pipelining after
//!   DATA (RFC 2920 §3.1) is detected as bytes left in the offered slice.
//! - [`Session::poll`] returns the next [`Event`]; `now_ms` is the driver's monotonic clock.
//!   A reply may be held back (tarpit for refused recipients): `poll` then returns `None`
//!   and [`Session::deadline`] says when to poll again. Past the command or session
//!   deadline, `poll` emits `421 4.4.2` and [`Event::Close`].
//! - Events: [`Event::Reply`] bytes to write, in order. [`Event::StartTls`]: the `220 2.0.0`
//!   reply was queued just before it, all bytes pipelined after STARTTLS were discarded and
//!   EHLO/MAIL/RCPT state reset (RFC 3207 §4.2); handshake, then call
//!   [`Session::tls_started`] before feeding decrypted bytes. [`Event::MessageBegin`] opens a
//!   spool (before the 354 reply), [`Event::MessageData`] carries dot-unstuffed CRLF body
//!   bytes in chunks of at most [`data::DATA_CHUNK`] + one line, [`Event::MessageEnd`] commits:
//!   the session then waits for [`Session::delivered`]. [`Event::MessageAborted`]: drop the
//!   spool, nothing is to be delivered. [`Event::Close`] after 221 or 421/550: close the
//!   connection (after writing the replies before it).
//! - [`Session::trace_headers`] builds `Return-Path:` and `Received:` to prepend.
//! - Submission ([`Policy::submission`]): EHLO offers `AUTH PLAIN LOGIN` once passwords may
//!   be sent (TLS, or the plaintext rules of the config); [`Event::CheckCredentials`] asks
//!   the driver to verify (throttled like IMAP/POP3), answered with [`Session::auth_result`].
//!   MAIL needs AUTH (530 5.7.0) and must name one of the owner's addresses or `<>`
//!   (553 5.7.1: a stolen password must not send as anyone); recipients elsewhere are
//!   accepted only when [`Policy::relay_after_auth`] (the outbound queue is there).
//!
//! # Policy choices
//! - Bare CR or LF anywhere (command or DATA) → `550 5.5.2` and close, and the message is
//!   aborted: Postfix `smtpd_forbid_bare_newline = yes` (CVE-2023-51764).
//! - Source routes `<@a,@b:x@y>` are parsed and ignored; `x@y` is judged (RFC 5321 §3.3).
//! - Bytes after an accepted DATA in the same offered slice → `554 5.5.0` and close.
//! - Refused recipients (unknown user or relay) are answered after a doubling delay from
//!   [`TARPIT_BASE_MS`] up to [`TARPIT_MAX_MS`]; the [`MAX_REFUSED_RCPTS`]th closes with 421.

pub mod address;
#[cfg(feature = "outbound")]
pub mod client;
pub mod command;
pub mod data;
pub mod reply;
mod session;
pub mod trace;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_submission;

use std::net::IpAddr;

pub use address::Mailbox;
pub use session::Session;

/// RFC 5321 §4.5.3.1.4: longest command line including CRLF.
pub const COMMAND_LINE_MAX: usize = 512;
/// Protocol errors (500/501/502/503/555) before `421 4.7.0` and close (Postfix
/// `smtpd_hard_error_limit` is 20; a mail server's peers rarely need more than a few).
pub const MAX_ERRORS: u32 = 10;
/// Over-long command lines before `421` and close (BAD-INPUTS 7).
pub const MAX_LONG_LINES: u32 = 3;
/// Refused recipients (550 5.1.1 / 5.7.1) before `421` and close (BAD-INPUTS 11).
pub const MAX_REFUSED_RCPTS: u32 = 5;
/// First tarpit delay before a refused-recipient reply; doubles with each refusal.
pub const TARPIT_BASE_MS: u64 = 1_000;
/// Tarpit delay cap: well under the client's 5-minute RCPT timeout (RFC 5321 §4.5.3.2.3).
pub const TARPIT_MAX_MS: u64 = 16_000;
/// RFC 4954 §4: an AUTH command or SASL response line may be 12,288 octets; ours carry at
/// most a PLAIN blob (`auth::SASL_BLOB_MAX`), so that plus the verb and CRLF.
pub const AUTH_LINE_MAX: usize = crate::auth::SASL_BLOB_MAX + 32;
/// AUTH attempts per session before `421` and close (each is throttled per IP as well).
pub const MAX_AUTH_FAILURES: u32 = 3;
/// Reply bytes queued before `feed` pauses for the driver to poll.
pub const OUTBOX_MAX: usize = 4 * 1024;

/// What the server accepts, shared by all sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Our host name, in the greeting, EHLO reply and `Received: by`.
    pub hostname: String,
    /// The one mail domain we accept for.
    pub domain: String,
    /// Extra local parts delivered to `user`.
    pub aliases: Vec<String>,
    /// The mailbox owner's local part.
    pub user: String,
    /// Largest message body (RFC 1870 SIZE); `config::Limits::message_size`.
    pub max_message_size: u64,
    /// Recipients per transaction (≥ 100 per RFC 5321 §4.5.3.1.8); `Limits::recipients`.
    pub max_recipients: usize,
    /// DATA line limit including CRLF (RFC 5321 §4.5.3.1.6: 1000); `Limits::smtp_line`.
    pub smtp_line: usize,
    /// A certificate is loaded: offer STARTTLS on plain connections.
    pub tls_available: bool,
    /// Idle time allowed between complete lines (RFC 5321 §4.5.3.2.7: 5 minutes).
    pub command_timeout_ms: u64,
    /// Whole-session cap against drip-feeding peers.
    pub session_timeout_ms: u64,
    /// A submission listener (RFC 6409 §3.1: ports 587 and 465): AUTH required.
    pub submission: bool,
    /// Passwords may be sent without TLS from any peer (config `allow_plaintext_auth`).
    pub allow_plaintext_auth: bool,
    /// ... or from a loopback peer (config `loopback_plaintext`).
    pub loopback_plaintext: bool,
    /// After AUTH, recipients in other domains are accepted (queued for delivery).
    pub relay_after_auth: bool,
    /// After AUTH, `Received:` names no client address (config `hide_client_ip`).
    pub hide_client_ip: bool,
    /// Each local recipient of an unauthenticated client is judged by the driver before it
    /// is accepted ([`Event::CheckRecipient`]: DNSBL and greylisting, issue 15).
    pub check_recipients: bool,
}

impl Policy {
    /// The policy for `config`, with `hostname` (the machine's FQDN, or the domain).
    pub fn from_config(config: &crate::config::Config, hostname: String, tls: bool) -> Self {
        let l = &config.limits;
        Policy {
            hostname,
            domain: config.domain.clone(),
            aliases: config.aliases.clone(),
            user: config.user.clone(),
            max_message_size: l.message_size,
            max_recipients: l.recipients,
            smtp_line: l.smtp_line,
            tls_available: tls,
            command_timeout_ms: l.smtp_command_timeout.saturating_mul(1000),
            session_timeout_ms: l.smtp_session_timeout.saturating_mul(1000),
            submission: false,
            allow_plaintext_auth: config.allow_plaintext_auth,
            loopback_plaintext: config.loopback_plaintext,
            relay_after_auth: false,
            hide_client_ip: config.hide_client_ip,
            check_recipients: false,
        }
    }
}

/// The connection as the driver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    pub ip: IpAddr,
    /// Implicit TLS (port 465): STARTTLS is then refused.
    pub is_tls: bool,
}

/// The negotiated TLS parameters, for `Received:` (e.g. "TLSv1.3", "TLS13_AES_128_GCM_SHA256").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
}

/// One accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The mailbox as written by the client (source route dropped), e.g. `Me+lists@Ex.org`.
    pub address: String,
    /// The `+tag` subaddress, without the `+`.
    pub tag: Option<String>,
    /// In another domain: to be sent on (submission after AUTH only), not stored here.
    pub remote: bool,
}

/// The envelope of one message (RFC 5321 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse-path without brackets; empty for the null sender `<>`.
    pub mail_from: String,
    pub rcpts: Vec<Recipient>,
    /// The EHLO/HELO argument.
    pub helo: String,
    /// EHLO (true) or HELO (false), for the `Received:` protocol.
    pub esmtp: bool,
    /// RFC 1870 SIZE= as declared.
    pub size_hint: Option<u64>,
    /// RFC 6531 SMTPUTF8 was given.
    pub smtputf8: bool,
    /// RFC 6152 BODY=8BITMIME was given (bytes are stored opaque either way).
    pub body_8bit: bool,
    /// The user the client authenticated as (submission), for `Received:` and the queue.
    pub auth_user: Option<String>,
}

/// Why the driver could not store a message (RFC 5321 §4.2.2 / RFC 3463).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverError {
    /// 451 4.3.0: I/O error, try later.
    Temporary,
    /// 452 4.3.1: disk full (free-space reserve reached).
    NoSpace,
    /// 552 5.3.4: over the size the store accepts.
    TooBig,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes to write to the client, in order.
    Reply(Vec<u8>),
    /// Start the TLS handshake now, then call [`Session::tls_started`].
    StartTls,
    /// Open a spool for a new message.
    MessageBegin(Envelope),
    /// Append dot-unstuffed CRLF body bytes to the spool.
    MessageData(Vec<u8>),
    /// Authenticated submission: the header section ends here without these fields; write
    /// them into the spool now (RFC 6409 §8.2 `Date:`, §8.3 `Message-ID:`), then go on.
    HeaderFixups(data::Missing),
    /// The body is complete: store it, then call [`Session::delivered`].
    MessageEnd,
    /// The body was refused midway: discard the spool, store nothing.
    MessageAborted,
    /// Verify these credentials (off the executor, throttled), then call
    /// [`Session::auth_result`] (submission only).
    CheckCredentials { user: String, pass: crate::auth::Secret },
    /// Judge this recipient (DNSBL, greylisting), then call [`Session::recipient_checked`]
    /// ([`Policy::check_recipients`] only; never after AUTH).
    CheckRecipient(RecipientCheck),
    /// Close the connection once the replies before this are written.
    Close,
}

/// What the driver judges a recipient by (RFC 5321 §4.1.1.3; RFC 6647 §2.2 triplet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientCheck {
    /// The reverse-path, empty for `<>`.
    pub mail_from: String,
    pub rcpt: String,
    pub helo: String,
}

/// The driver's answer to [`Event::CheckRecipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientVerdict {
    Accept,
    /// `451 4.7.1` with this text (greylisting, RFC 6647 §2.1; a DNS failure).
    Defer(String),
    /// `554 5.7.1` with this text (a DNSBL listing, RFC 5782 §2.1).
    Refuse(String),
}

/// Why the driver could not store a message, or would not (RFC 5321 §4.2.2 / RFC 3463).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Store(DeliverError),
    /// `550 5.7.1` with this text: the From domain's DMARC policy is reject (RFC 7489 §6.7).
    Policy(String),
}
