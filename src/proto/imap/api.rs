//! The types an IMAP driver exchanges with [`super::Session`]: the policy (limits), the
//! [`Mailstore`] read trait (RFC 3501 §6.3-§6.4 data the core reads synchronously), the
//! events out (replies and store writes, RFC 3501 §6.3.11 APPEND, §6.4.3 EXPUNGE, §6.4.6
//! STORE) and the answers in.

use std::io;
use std::sync::Arc;

use crate::auth::Secret;
use crate::config::{Config, Limits};
use crate::mime::MimeSummary;

pub use crate::proto::{AuthOutcome, PeerInfo};

/// RFC 3501 §5.4: an autologout timer "MUST be of at least 30 minutes' duration" once
/// authenticated (also while IDLE; RFC 2177 §3).
pub const MIN_AUTOLOGOUT_MS: u64 = 30 * 60 * 1_000;
/// RFC 7888 §4: LITERAL- caps non-synchronizing literals at 4096; we also cap synchronizing
/// non-APPEND literals by policy, this is the smallest post-login value allowed.
pub const LITERAL_FLOOR: u64 = 4096;
/// Bytes read per step by the default [`Mailstore::body_crc`] (one buffer per call).
pub const CRC_READ: usize = 16 * 1024;

/// System flag bits of a message's `flags` word (the store's `Entry` layout): bits 5..31
/// are keywords, index `bit - 5` into the folder's keyword list.
pub mod flag {
    pub const SEEN: u32 = 1;
    pub const ANSWERED: u32 = 1 << 1;
    pub const FLAGGED: u32 = 1 << 2;
    pub const DELETED: u32 = 1 << 3;
    pub const DRAFT: u32 = 1 << 4;
    pub const SYSTEM: u32 = 0x1f;
    pub const KEYWORD_SHIFT: u32 = 5;
    pub const KEYWORDS_MAX: usize = 27;
}

/// Settings shared by all IMAP sessions (from `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapPolicy {
    pub allow_plaintext_auth: bool,
    /// Config `loopback_plaintext`: whether loopback peers may send passwords without TLS
    /// (off behind a local TLS proxy, where loopback carries internet traffic; as POP3).
    pub loopback_plaintext: bool,
    /// `imap_line`: longest command line (between literals), CRLF included.
    pub line_max: usize,
    /// `imap_literal`: largest non-APPEND literal after login.
    pub literal_max: u64,
    /// `imap_literal_prelogin`: largest literal before login (credentials only).
    pub literal_prelogin_max: u64,
    /// `message_size`: largest APPEND literal.
    pub message_max: u64,
    /// `imap_idle_timeout` (ms): autologout once authenticated, raised to 30 min.
    pub autologout_ms: u64,
    /// `imap_prelogin_timeout` (ms): autologout before login.
    pub prelogin_timeout_ms: u64,
    /// The driver can compress (RFC 4978 COMPRESS=DEFLATE is offered and accepted).
    pub compress: bool,
    /// `quota_storage`: RFC 9208 STORAGE limit in bytes over all folders; 0: none.
    pub quota_storage: u64,
    /// `quota_messages`: RFC 9208 MESSAGE limit over all folders; 0: none.
    pub quota_messages: u64,
    /// Wall-clock time (unix ms) at the driver's `now_ms` 0, for RFC 5032 OLDER/YOUNGER
    /// (the core has no clock of its own); 0 when `now_ms` is unix time itself.
    pub unix_base_ms: u64,
}

impl ImapPolicy {
    /// `allow_plaintext_auth` and `[limits]` from the config file.
    pub fn from_config(config: &Config) -> ImapPolicy {
        ImapPolicy {
            loopback_plaintext: config.loopback_plaintext,
            ..ImapPolicy::from_limits(&config.limits, config.allow_plaintext_auth)
        }
    }

    pub fn from_limits(l: &Limits, allow_plaintext_auth: bool) -> ImapPolicy {
        ImapPolicy {
            allow_plaintext_auth,
            loopback_plaintext: true,
            line_max: l.imap_line,
            literal_max: l.imap_literal,
            literal_prelogin_max: l.imap_literal_prelogin,
            message_max: l.message_size,
            autologout_ms: l.imap_idle_timeout.saturating_mul(1_000),
            prelogin_timeout_ms: l.imap_prelogin_timeout.saturating_mul(1_000),
            compress: false,
            quota_storage: l.quota_storage,
            quota_messages: l.quota_messages,
            unix_base_ms: 0,
        }
        .checked()
    }

    /// Raises values below their RFC floors (RFC 3501 §5.4; RFC 7888 §4).
    pub fn checked(mut self) -> ImapPolicy {
        self.autologout_ms = self.autologout_ms.max(MIN_AUTOLOGOUT_MS);
        self.literal_max = self.literal_max.max(LITERAL_FLOOR);
        self.line_max = self.line_max.max(1024);
        self
    }
}

impl Default for ImapPolicy {
    fn default() -> ImapPolicy {
        ImapPolicy::from_limits(&Limits::default(), false)
    }
}

/// One message as the core sees it (its sequence number is its position in [`Snapshot::uids`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgMeta {
    pub uid: u32,
    /// System flags and keyword bits, see [`flag`].
    pub flags: u32,
    /// RFC822.SIZE: exact bytes `read` returns.
    pub size: u64,
    /// INTERNALDATE, unix seconds (UTC).
    pub internal_date: i64,
    pub modseq: u64,
    /// RFC 3501 §2.3.2 \Recent: this session is the first to see the message.
    pub recent: bool,
}

/// A root envelope and one stored header field's value ([`Mailstore::envelope`]).
pub type EnvelopeField = (crate::mime::Envelope, Option<String>);

/// The last value of field `name` among stored header fields.
pub fn last_field(fields: Option<Vec<(String, String)>>, name: &str) -> Option<String> {
    fields?.into_iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A folder as listed by [`Mailstore::folders`]; `name` is decoded UTF-8 with `/` levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub name: String,
    /// RFC 3501 §7.2.2 / RFC 6154 attributes, e.g. `\Sent`, `\Noselect`.
    pub attributes: Vec<String>,
}

/// A folder's state when opened. The UID list is shared, not copied, by sessions that see
/// the same state (issue 5: per-session RAM does not grow with the folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    /// UIDs of the messages, ascending (message sequence order).
    pub uids: Arc<[u32]>,
    /// UIDs above this are \Recent for this session (RFC 3501 §2.3.2); `u32::MAX`: none.
    pub recent_above: u32,
    /// Messages without \Seen, and the sequence number of the first one (0: none).
    pub unseen: u32,
    pub first_unseen: u32,
    /// Sum of RFC822.SIZE (STATUS SIZE, RFC 8438).
    pub size: u64,
    /// Keyword names; bit `5 + i` of `flags` is `keywords[i]`.
    pub keywords: Vec<String>,
    /// Opaque change counter passed back to [`Mailstore::changes`].
    pub generation: u64,
    /// When the folder was created (unix seconds; 0: unknown), kept across RENAME: with
    /// `uidvalidity` the seed of its RFC 8474 MAILBOXID.
    pub created: i64,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            uidvalidity: 0,
            uidnext: 0,
            highest_modseq: 0,
            uids: Arc::from(Vec::new()),
            recent_above: u32::MAX,
            unseen: 0,
            first_unseen: 0,
            size: 0,
            keywords: Vec::new(),
            generation: 0,
            created: 0,
        }
    }
}

impl Snapshot {
    /// Messages \Recent for this session.
    pub fn recent(&self) -> usize {
        self.uids.len() - self.uids.partition_point(|&u| u <= self.recent_above)
    }
}

/// What changed in a folder since a generation (RFC 3501 §7.4.1 / §7.3.1 / §7.4.2 FLAGS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub generation: u64,
    /// The folder's UIDVALIDITY now (0 if unknown): a different one than the session
    /// selected means the folder under that name is another one (deleted and recreated).
    pub uidvalidity: u32,
    pub uidnext: u32,
    /// The folder's HIGHESTMODSEQ these changes bring the session up to (RFC 7162 §3.1.2.1);
    /// 0 if unknown.
    pub highest_modseq: u64,
    /// The folder's UID list now, if messages were expunged or added: UIDs the session
    /// shows that are missing are expunged, UIDs above its highest are new.
    pub uids: Option<Arc<[u32]>>,
    /// New UIDs above this are \Recent for this session; `u32::MAX`: none.
    pub recent_above: u32,
    /// Messages whose flags changed (current values).
    pub flags: Vec<MsgMeta>,
    /// The full keyword list (it only grows).
    pub keywords: Vec<String>,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes {
            generation: 0,
            uidvalidity: 0,
            uidnext: 0,
            highest_modseq: 0,
            uids: None,
            recent_above: u32::MAX,
            flags: Vec::new(),
            keywords: Vec::new(),
        }
    }
}

/// Why a store call failed; mapped to response codes in one place (session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// No such folder (`NO [NONEXISTENT]`, APPEND: `NO [TRYCREATE]`).
    NotFound,
    /// No such message (expunged meanwhile).
    NoMessage,
    /// Too big or disk full (`NO [OVERQUOTA]`).
    Full,
    /// I/O error (`NO [UNAVAILABLE]`, generic text).
    Io,
    /// CREATE/RENAME target exists (`NO [ALREADYEXISTS]`, RFC 5530).
    Exists,
    /// The operation is refused for this folder (`NO [CANNOT]`, e.g. DELETE INBOX).
    Cannot,
}

impl From<io::Error> for StoreError {
    fn from(_: io::Error) -> StoreError {
        StoreError::Io
    }
}

/// Synchronous reads the core makes during [`super::Session::poll`]. The driver passes its
/// implementation into each `poll`. Reads must be quick (page cache, in-RAM index); writes
/// never go through this trait, they are [`Event`]s (folder-level ones [`MailboxOp`]s), so
/// no fsync runs inside `poll`.
pub trait Mailstore {
    /// All folders (INBOX included).
    fn folders(&mut self) -> Result<Vec<FolderInfo>, StoreError>;
    /// The current state of `folder` for SELECT / EXAMINE: later `changes` are relative
    /// to it.
    fn open(&mut self, folder: &str) -> Result<Snapshot, StoreError>;
    /// The current state of `folder` for STATUS and LIST-STATUS, without disturbing what
    /// `changes` reports for a selected folder.
    fn peek(&mut self, folder: &str) -> Result<Snapshot, StoreError> {
        self.open(folder)
    }
    /// What RFC 5465 NOTIFY compares each check: `(messages, uidnext, uidvalidity,
    /// highest_modseq)` of `folder`, without the UID list or flag counts `peek` builds.
    fn counts(&mut self, folder: &str) -> Result<(usize, u32, u32, u64), StoreError> {
        self.peek(folder).map(|s| (s.uids.len(), s.uidnext, s.uidvalidity, s.highest_modseq))
    }
    /// SELECT (not EXAMINE) of `folder`: this session takes \Recent for every message in
    /// it, and for later arrivals reported by `changes` (RFC 3501 §2.3.2).
    fn claim_recent(&mut self, _folder: &str) {}
    /// Changes to `folder` after `generation` (NOOP, CHECK, IDLE, after writes).
    fn changes(&mut self, folder: &str, generation: u64) -> Result<Changes, StoreError>;
    /// The current data of `uids` (ascending) into `out`, one entry per UID, in order:
    /// `None` for a message gone from the store. `recent` is left false (the view's).
    fn metas(&mut self, folder: &str, uids: &[u32], out: &mut Vec<Option<MsgMeta>>);
    /// UID ranges expunged from `folder` after `modseq` (RFC 7162 §3.2.5.2), or `None` if
    /// that history is not known (then QRESYNC reports every known UID that is gone).
    fn expunged_since(&mut self, _folder: &str, _modseq: u64) -> Option<Vec<(u32, u32)>> {
        None
    }
    /// Up to `buf.len()` bytes of message `uid` from `offset`; 0 at the end.
    fn read(&mut self, folder: &str, uid: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError>;
    /// The CRC-32C of message `uid`'s bytes (RFC 8474 EMAILID). The default reads the
    /// message through [`Mailstore::read`]; a store that keeps the checksum answers from it.
    fn body_crc(&mut self, folder: &str, uid: u32) -> Result<u32, StoreError> {
        let mut crc = crate::util::Crc::new();
        let mut buf = vec![0u8; CRC_READ];
        let mut pos = 0u64;
        loop {
            let n = self.read(folder, uid, pos, &mut buf)?;
            if n == 0 {
                return Ok(crc.finish());
            }
            crc.update(buf.get(..n).unwrap_or(&[]));
            pos += n as u64;
        }
    }
    /// RFC 8514 save date of message `uid`: unix seconds when it was saved into `folder`
    /// (APPEND, COPY, MOVE, delivery, import), or `None` when the store does not know it
    /// (then the session reports the INTERNALDATE). The default knows none.
    fn save_date(&mut self, _folder: &str, _uid: u32) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
    /// The cached MIME structure of message `uid` (computed at delivery, see `crate::mime`).
    fn mime(&mut self, folder: &str, uid: u32) -> Result<MimeSummary, StoreError>;
    /// Just [`MimeSummary::header_fields`] of message `uid` (SEARCH header keys); a store
    /// may answer it without decoding the whole summary.
    /// The root envelope and, with `field`, that header field's last stored value: what
    /// SORT and THREAD need (RFC 5256), without the rest of the structure.
    fn envelope(&mut self, folder: &str, uid: u32, field: Option<&str>) -> Result<EnvelopeField, StoreError> {
        let s = self.mime(folder, uid)?;
        let env = s.parts.into_iter().next().and_then(|p| p.envelope).unwrap_or_default();
        Ok((env, field.and_then(|name| last_field(s.header_fields, name))))
    }

    fn header_fields(&mut self, folder: &str, uid: u32) -> Result<Option<Vec<(String, String)>>, StoreError> {
        Ok(self.mime(folder, uid)?.header_fields)
    }
    /// Bytes that may still be written to the store's device (RFC 9208 quota: the device's
    /// real free space, minus any reserve the store keeps); `None` if unknown.
    fn free_space(&mut self) -> Option<u64> {
        None
    }
    /// Subscribed names, for LSUB (§6.3.9).
    fn subscriptions(&mut self) -> Result<Vec<String>, StoreError>;
}

/// A folder-level write (RFC 3501 §6.3.3-§6.3.7), done durably by the driver before it
/// calls [`super::Session::mailbox_done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxOp {
    /// CREATE (§6.3.3): a new empty folder; `Exists` if it is there. With `special_use`
    /// (RFC 6154 §3, checked unused by the core) the folder gets it, or is not created.
    Create { name: String, special_use: Option<&'static str> },
    /// DELETE (§6.3.4): removes the folder and its messages.
    Delete { name: String },
    /// RENAME (§6.3.5), inferior names with it; INBOX's special rename (all its messages
    /// move to `to`, INBOX stays, empty) is the store's job.
    Rename { from: String, to: String },
    /// SUBSCRIBE / UNSUBSCRIBE (§6.3.6-7): the persisted list gains or loses `name`.
    Subscribe { name: String, on: bool },
}

/// How STORE changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    Replace,
    Add,
    Remove,
}

/// A flag change reported by the driver after a [`Event::Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagUpdate {
    pub uid: u32,
    pub flags: u32,
    pub modseq: u64,
}

/// Output of [`super::Session::poll`], in order. Writes wait for their callback: the core
/// polls no further input (returns `None`) until the driver answers.
#[derive(Debug)]
pub enum Event {
    /// Bytes to write to the client (at most about [`super::OUTPUT_CHUNK`] each).
    Reply(Vec<u8>),
    /// A long command (SEARCH) paused between steps: let other sessions run, then poll again.
    Yield,
    /// Flush replies, discard unread plaintext, run the TLS handshake, call `tls_started`.
    StartTls,
    /// RFC 4978 §3: flush replies (the tagged OK goes uncompressed), discard unread input,
    /// then deflate everything written and inflate everything read from now on.
    StartCompress,
    /// Throttle, verify, then `auth_result` (as POP3; `InUse` is treated as `Unavailable`).
    CheckCredentials { user: String, pass: Secret },
    /// An APPEND literal starts: open a spool for `size` bytes. An RFC 3502 MULTIAPPEND
    /// gives one per message (same folder) before its single `AppendEnded`.
    AppendStarted {
        folder: String,
        flags: u32,
        keywords: Vec<String>,
        /// INTERNALDATE from the command, unix seconds; `None` means now.
        date: Option<i64>,
        size: u64,
    },
    /// The next bytes of the APPEND literal, in order.
    AppendData(Vec<u8>),
    /// The last literal is complete and the command valid: commit every spool of the
    /// command in one durable write (all or none), call `append_all_done` (or `append_done`).
    AppendEnded,
    /// The command failed after `AppendStarted`: discard its spools. (A dropped connection
    /// gives neither `AppendEnded` nor this: the driver discards the spool then too.)
    AppendAborted,
    /// Change flags of `uids` in `folder`; call `store_done` (or `store_done_with`).
    Store {
        folder: String,
        uids: Vec<u32>,
        op: StoreOp,
        /// System flag bits (see [`flag`]).
        flags: u32,
        keywords: Vec<String>,
        /// RFC 7162 §3.1.3 UNCHANGEDSINCE: skip (and report as modified) messages whose
        /// MODSEQ is above this, checked under the write lock; every other listed message
        /// gets the new MODSEQ even when its flags stay the same.
        unchanged_since: Option<u64>,
    },
    /// Remove `uids` from `folder` durably; call `expunge_done` with the UIDs removed.
    Expunge { folder: String, uids: Vec<u32> },
    /// COPY `uids` of `from` to `to` (flags, keywords and dates kept); with `mv` also
    /// expunge them from `from` (RFC 6851). Call `copy_done` with the target UIDVALIDITY and
    /// the (source, new) UID pairs in order.
    Copy { from: String, uids: Vec<u32>, to: String, mv: bool },
    /// CREATE, DELETE, RENAME, SUBSCRIBE or UNSUBSCRIBE: do it durably (off the executor:
    /// these fsync the data directory), then call `mailbox_done`.
    Mailbox(MailboxOp),
    /// Flush replies and close the connection.
    Close,
}
