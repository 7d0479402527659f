//! The types a POP3 driver exchanges with [`super::Session`]: policy, peer facts, events out
//! (RFC 1939 §3 replies, RFC 2595 §4 STLS, §6 UPDATE commit) and answers in.

use crate::auth::Secret;
use crate::config::Config;
pub use crate::proto::{AuthOutcome, PeerInfo};

/// RFC 1939 §3: an autologout timer "MUST be of at least 10 minutes' duration".
pub const MIN_AUTOLOGOUT_MS: u64 = 10 * 60 * 1_000;

/// Settings shared by all POP3 sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Policy {
    allow_plaintext_auth: bool,
    autologout_ms: u64,
    loopback_plaintext: bool,
}

impl Pop3Policy {
    /// `autologout_ms` is raised to the RFC 1939 minimum of 10 minutes.
    pub fn new(allow_plaintext_auth: bool, autologout_ms: u64) -> Pop3Policy {
        let autologout_ms = autologout_ms.max(MIN_AUTOLOGOUT_MS);
        Pop3Policy { allow_plaintext_auth, autologout_ms, loopback_plaintext: true }
    }

    /// Whether loopback peers may send passwords without TLS (config `loopback_plaintext`;
    /// off behind a local TLS proxy, where loopback carries internet traffic).
    pub fn with_loopback_plaintext(mut self, on: bool) -> Pop3Policy {
        self.loopback_plaintext = on;
        self
    }

    pub fn loopback_plaintext(&self) -> bool {
        self.loopback_plaintext
    }

    /// `allow_plaintext_auth` and `[limits] pop3_timeout` (seconds) from the config file.
    pub fn from_config(config: &Config) -> Pop3Policy {
        let timeout_ms = config.limits.pop3_timeout.saturating_mul(1_000);
        Pop3Policy::new(config.allow_plaintext_auth, timeout_ms).with_loopback_plaintext(config.loopback_plaintext)
    }

    pub fn allow_plaintext_auth(&self) -> bool {
        self.allow_plaintext_auth
    }

    pub fn autologout_ms(&self) -> u64 {
        self.autologout_ms
    }
}

/// Output of [`Session::poll`](super::session::Session::poll), in order.
#[derive(Debug)]
pub enum Event {
    /// Bytes to write to the client.
    Reply(Vec<u8>),
    /// Flush replies, then run the TLS handshake and call `tls_started`.
    StartTls,
    /// Throttle check, verify off the executor, lock the maildrop; answer `auth_result`.
    CheckCredentials { user: String, pass: Secret },
    /// Stream message `number` (store `uid`) through a `DotStuffer::new(top_lines)`, then
    /// call `message_sent`.
    SendMessage { number: u32, uid: u32, top_lines: Option<u32> },
    /// QUIT in TRANSACTION with marked messages: delete these uids durably, then call
    /// `commit_result` (RFC 1939 §6 UPDATE state).
    Commit { delete: Vec<u32> },
    /// Flush replies and close the connection; release the maildrop lock.
    Close,
}
