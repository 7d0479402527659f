//! The outbound queue's sans-IO half (issue 14, DESIGN.md §5): the queue record
//! ([`QueuedEnvelope`] in a MESSAGE record's meta bytes), per-recipient state as keyword
//! flags, the retry [`schedule`], MX [`route`] selection (RFC 5321 §5.1, RFC 7505) and
//! delivery status notifications ([`dsn`], RFC 3464). `net::outbound` drives it.
//!
//! # The queue on disk
//! The queue is the store's folder `INBOX` in its own data directory `DATA/queue/` (IMAP
//! lists only `DATA/*.lbx`, so it never shows), written through its own group-commit writer.
//! One queued message is one MESSAGE record: the body exactly as it goes out, the record's
//! date the time it was queued, and the envelope postcard-encoded in the meta bytes. A
//! recipient that is done (delivered, or bounced with its DSN already in the owner's INBOX)
//! carries the keyword `r<index>`; `\Flagged` means the delay notice was sent. A record whose
//! recipients are all done is expunged (compaction reclaims it). The keyword table of a
//! folder has 27 entries (`store::format::MAX_KEYWORDS`), so a message for more recipients
//! is split into several records of at most [`RCPTS_PER_RECORD`].
//!
//! Next attempt, attempt count and last reply are soft state (RAM, mirrored best-effort into
//! `queue/state` for `letterbox queue list`); a restart without it retries at once, which
//! RFC 5321 §4.5.4.1 allows.

pub mod dsn;
pub mod queue;
pub mod route;
pub mod schedule;

use serde::{Deserialize, Serialize};

/// Recipients in one queue record: one keyword bit each (`store::format::MAX_KEYWORDS`).
pub const RCPTS_PER_RECORD: usize = crate::store::format::MAX_KEYWORDS;
/// Longest address kept in a queue record (RFC 5321 §4.5.3.1.3 path: 256 octets).
pub const MAX_ADDRESS: usize = 256;
/// System flag meaning "the delay notice was sent" (`\Flagged`).
pub const DELAY_NOTICE_SENT: u32 = 1 << 2;
/// Version byte of [`QueuedEnvelope`]'s encoding.
const ENVELOPE_VERSION: u8 = 1;

/// The envelope of one queue record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEnvelope {
    pub version: u8,
    /// Reverse-path without brackets; empty for the null sender (then never a DSN).
    pub mail_from: String,
    /// Forward-paths; index `i` is done when the record carries keyword `r<i>`.
    pub rcpts: Vec<String>,
    /// Who submitted it (SMTP AUTH user, or the local user of `sendmail`).
    pub auth_user: Option<String>,
    /// The original Message-ID, quoted in DSNs.
    pub message_id: Option<String>,
    /// RFC 6531: an address or header needs SMTPUTF8.
    pub smtputf8: bool,
    /// RFC 6152: the body has 8-bit octets.
    pub body_8bit: bool,
}

impl QueuedEnvelope {
    pub fn new(mail_from: &str, rcpts: Vec<String>) -> QueuedEnvelope {
        QueuedEnvelope {
            version: ENVELOPE_VERSION,
            mail_from: mail_from.to_owned(),
            rcpts,
            auth_user: None,
            message_id: None,
            smtputf8: false,
            body_8bit: false,
        }
    }

    /// The meta bytes of the record.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes meta bytes; `None` for garbage or another version (the record is skipped).
    pub fn decode(b: &[u8]) -> Option<QueuedEnvelope> {
        postcard::from_bytes::<QueuedEnvelope>(b).ok().filter(|e| e.version == ENVELOPE_VERSION)
    }

    /// Splits into records of at most [`RCPTS_PER_RECORD`] recipients each.
    pub fn split(self) -> Vec<QueuedEnvelope> {
        self.rcpts.chunks(RCPTS_PER_RECORD).map(|c| QueuedEnvelope { rcpts: c.to_vec(), ..self.clone() }).collect()
    }
}

/// The keyword that marks recipient `i` done.
pub fn done_keyword(i: usize) -> String {
    format!("r{i}")
}

/// Recipient indexes marked done, from a record's keyword names.
pub fn done_set<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    names.into_iter().filter_map(|n| n.strip_prefix('r').and_then(|d| d.parse().ok())).collect()
}

/// What a remote answered for one recipient (RFC 5321 §4.2.1): 2xx, 4xx (or no answer:
/// timeouts and connection errors count as temporary, §4.5.4.1), 5xx. The text is the
/// reply as received (for the DSN's Diagnostic-Code and `queue list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    Delivered,
    Temporary(String),
    Permanent(String),
}

/// The domain of an address (after the last `@`), lowercased; empty when there is none.
pub fn domain_of(addr: &str) -> String {
    addr.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
}

/// Whether `addr` belongs to the owner (`domain`): then it goes to the store, not the queue.
pub fn is_local(addr: &str, domain: &str) -> bool {
    !addr.contains('@') || domain_of(addr).eq_ignore_ascii_case(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_splits() {
        let rcpts: Vec<String> = (0..60).map(|i| format!("u{i}@b.example")).collect();
        let e = QueuedEnvelope::new("me@a.example", rcpts);
        assert_eq!(QueuedEnvelope::decode(&e.encode()), Some(e.clone()));
        let parts = e.split();
        assert_eq!(parts.iter().map(|p| p.rcpts.len()).collect::<Vec<_>>(), vec![27, 27, 6]);
        assert_eq!(parts[2].rcpts[0], "u54@b.example");
        assert!(QueuedEnvelope::decode(b"\xff\xff").is_none());
    }

    #[test]
    fn done_keywords() {
        assert_eq!(done_keyword(26), "r26");
        assert_eq!(done_set(["r0", "$Junk", "r12", "rx"]), vec![0, 12]);
        assert!(is_local("me@A.example", "a.example") && is_local("root", "a.example"));
        assert!(!is_local("you@b.example", "a.example"));
    }
}
