//! IMAP server core, sans-IO (part 1): RFC 3501 (IMAP4rev1: states §3, commands §6,
//! responses §7, grammar §9), with RFC 9051 relaxations where harmless, RFC 7888 LITERAL+,
//! RFC 4959 SASL-IR, RFC 2971 ID, RFC 5161 ENABLE, RFC 2177 IDLE, RFC 2342 NAMESPACE,
//! RFC 3691 UNSELECT, RFC 4315 UIDPLUS, RFC 3348 CHILDREN, RFC 2595 STARTTLS and
//! LOGINDISABLED, RFC 8314 §3 (no plaintext passwords off TLS), RFC 7162 CONDSTORE and
//! QRESYNC (§3.2.5.2 VANISHED (EARLIER) is exact from the store's per-folder expunge history,
//! `Mailstore::expunged_since`; when that history does not reach back to the client's MODSEQ,
//! every known UID that is gone is listed), RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE and
//! CREATE-SPECIAL-USE, RFC 6855 UTF8=ACCEPT (mailbox names), RFC 7889 APPENDLIMIT, RFC 4731
//! ESEARCH and RFC 5182 SEARCHRES (`esearch`), RFC 5256 SORT and THREAD with RFC 5957
//! SORT=DISPLAY (`sort`, `thread`; feature `imap-sort`), RFC 5032 WITHIN and RFC 8514
//! SAVEDATE (the save date the store keeps per message, `Mailstore::save_date`; the
//! INTERNALDATE for messages saved before it kept one), RFC 8438 STATUS=SIZE, RFC 3502
//! MULTIAPPEND (`multiappend`), RFC 4469 CATENATE without URLAUTH (`catenate`; feature
//! `imap-catenate`: RFC 5092 relative URLs to this user's messages), RFC 3516 BINARY (`binary`, streamed decoding), RFC 4978
//! COMPRESS=DEFLATE (`compress`, codec in [`deflate`]), RFC 9208 QUOTA (`quota`: STORAGE and MESSAGE
//! of one root `""`, from the config and the device's free space), RFC 8970 PREVIEW (`preview`),
//! RFC 8474 OBJECTID (`objectid`, feature `objectid`: MAILBOXID, EMAILID and THREADID derived from what the
//! store keeps, no format change), RFC 9586 UIDONLY (`uidonly`), RFC 5267 CONTEXT=SEARCH (`context`:
//! live searches, PARTIAL; feature `imap-context`), RFC 5465 NOTIFY (`notify`, feature `notify`: the
//! subset a polling design gives cheaply). No sockets, files or clocks (OLDER/YOUNGER take the wall
//! clock from `ImapPolicy::unix_base_ms` plus `now_ms`).
//!
//! Layers: [`framer`] (bounded lines and literals) → `parser` (ABNF rules) → `session`
//! (state machine; `allowed` then `perform`) → `commands`, `fetch`, `search` → `encode`.
//!
//! # Driver loop
//!
//! ```text
//! let policy = Arc::new(ImapPolicy::from_config(&cfg));
//! let mut s = Session::new(policy, peer, now_ms);          // greeting is the first Reply
//! loop {
//!     while let Some(event) = s.poll(now_ms, &mut store) {  // store: &mut dyn Mailstore
//!         match event {
//!             Event::Reply(bytes) => write_all(bytes).await,   // poll again only once written
//!             Event::Yield => yield_now().await,              // between steps of a SEARCH
//!             Event::StartTls => { flush; drop unread plaintext; handshake; s.tls_started() }
//!             Event::StartCompress => { flush; drop unread input; deflate/inflate from now on }
//!             Event::CheckCredentials { user, pass } => {
//!                 // Throttle::check, Verifier::check off the executor, then
//!                 s.auth_result(AuthOutcome::Ok | Bad | Throttled(ms) | Unavailable)
//!             }
//!             Event::AppendStarted { folder, flags, keywords, date, size } => open a spool
//!                 // (RFC 3502: several before one AppendEnded, all for one commit),
//!             Event::AppendData(chunk) => spool.write(chunk),     // ≤ framer::INPUT_MAX each
//!             Event::AppendEnded => { commit all spools at once via the writer, await fsync;
//!                                     s.append_all_done(Ok((uidvalidity, uids)) or Err(e)) }
//!             Event::AppendAborted => discard the spools,
//!             Event::Store { folder, uids, op, flags, keywords, unchanged_since } => {
//!                 // apply (RFC 3501 §6.4.6) durably; new keywords get the next free bit;
//!                 // RFC 7162 §3.1.3: skip messages whose MODSEQ > unchanged_since, under the lock
//!                 s.store_done_with(Ok((vec![FlagUpdate { uid, flags, modseq }], keyword_list)), skipped)
//!             }
//!             Event::Expunge { folder, uids } => s.expunge_done(Ok(uids_removed)),
//!             Event::Copy { from, uids, to, mv } => s.copy_done(Ok((uidvalidity, pairs))),
//!             Event::Mailbox(op) => { CREATE/DELETE/RENAME/SUBSCRIBE durably, off the executor;
//!                                     s.mailbox_done(Ok(()) or Err(e)) }
//!             Event::Close => { flush; close; if a spool is open, discard it; return }
//!         }
//!     }
//!     // wait for socket bytes, a folder-changed notification (IDLE), or s.deadline();
//!     // feed returns how many bytes it took: keep the rest and feed again after polling.
//!     // EOF: drop the session; an open APPEND spool is discarded (no partial message).
//!     let taken = s.feed(&bytes);
//! }
//! ```
//!
//! # Store interaction
//!
//! * Reads are synchronous calls on the [`Mailstore`] passed to `poll`: `folders` (LIST,
//!   APPEND target check), `open` (SELECT/EXAMINE/STATUS snapshot), `changes(folder,
//!   generation)` (NOOP, CHECK, IDLE polls, after APPEND/EXPUNGE: the core turns them into
//!   EXISTS/EXPUNGE/FETCH FLAGS only at those points, never during FETCH, STORE or SEARCH,
//!   RFC 3501 §7.4.1), `read(folder, uid, offset, buf)` (bodies, streamed in
//!   [`OUTPUT_CHUNK`] pieces, one `Reply` per `poll`: the driver's write is the
//!   backpressure), `mime(folder, uid)` ([`crate::mime::MimeSummary`], stored at delivery or computed once and kept).
//! * Writes are events; while one is outstanding `poll` returns `None` and input stays
//!   buffered. Each has exactly one callback: `auth_result`, `append_done`, `store_done`,
//!   `expunge_done`, `tls_started`. FETCH of a body without .PEEK first emits a `Store`
//!   (add `\Seen` to the unseen UIDs), then streams.
//! * The selected folder is held as its UID list, shared (`Arc<[u32]>`) between sessions
//!   at the same folder state, plus \Recent UID ranges; flags, sizes and dates are read
//!   through `metas(folder, uids)` in batches (issue 5).
//! * SEARCH BODY/TEXT scans messages synchronously inside `poll` (16 KiB reads).
//! * IDLE: on every `poll` while idling the core calls `changes`; the driver should poll
//!   when the store signals a change to the folder. Cap the number of IDLE sessions in the
//!   driver (BAD-INPUTS 37); the autologout stays ≥ 30 minutes.
//!
//! # Limits
//!
//! | name | value | bounds |
//! |---|---|---|
//! | `ImapPolicy::line_max` (`imap_line`) | 64 KiB | one command line; over: `* BAD [TOOBIG]`, BYE, close |
//! | `ImapPolicy::literal_prelogin_max` (`imap_literal_prelogin`) | 1 KiB | any literal before login |
//! | `ImapPolicy::literal_max` (`imap_literal`, ≥ 4096) | 64 KiB | non-APPEND literals after login |
//! | `ImapPolicy::message_max` (`message_size`) | 64 MiB | the APPEND literal (streamed, never buffered) |
//! | `ImapPolicy::autologout_ms` (`imap_idle_timeout`, ≥ 30 min) / `prelogin_timeout_ms` | 31 min / 60 s | autologout |
//! | [`INPUT_MAX`] | 16 KiB | unparsed input held; `feed` takes no more |
//! | [`LITERALS_MAX`] / [`COMMAND_LITERAL_TOTAL_MAX`] | 16 / 256 KiB | literals per command |
//! | [`DECODE_CHUNK`] | 16 KiB | raw bytes decoded per step of a BINARY fetch (and its size pass) |
//! | [`PREVIEW_CHARS`] / [`PREVIEW_READ`] / [`PREVIEW_READ_MAX`] | 256 / 4 KiB / 64 KiB | PREVIEW text, read step, bytes read |
//! | [`OBJECTID_MAX`] / [`THREAD_ROOT_MAX`] / [`api::CRC_READ`] | 255 / 998 / 16 KiB | SEARCH EMAILID/THREADID argument, Message-ID bytes hashed, EMAILID read step (stores without a kept CRC) |
//! | [`APPEND_MESSAGES_MAX`] | 64 | messages in one MULTIAPPEND (each may hold a spool file) |
//! | `CATENATE_PARTS_MAX` / `URL_MAX` / `CATENATE_CHUNK` | 64 / 1 KiB / 16 KiB | CATENATE parts per message, URL length, referenced bytes copied per `poll` (TEXT parts: `imap_literal`) |
//! | [`OUTPUT_CHUNK`] | 16 KiB | FETCH output per `poll` |
//! | [`HEADER_FIELDS_MAX`] / [`SEARCH_HEADER_MAX`] | 256 / 64 KiB | header bytes read for HEADER.FIELDS / SEARCH HEADER |
//! | [`PAREN_DEPTH_MAX`] / [`SEARCH_DEPTH_MAX`] / [`SECTION_DEPTH_MAX`] | 8 / 32 / 32 | nesting |
//! | [`SEARCH_KEYS_MAX`] / [`FETCH_ATTS_MAX`] / [`FLAGS_MAX`] | 256 / 64 / 64 | list lengths |
//! | [`types::SEQ_RANGES_MAX`] | 32768 | ranges in one sequence set (never expanded) |
//! | [`types::MAILBOX_MAX`] / [`KEYWORD_MAX`] / [`LIST_PATTERN_MAX`] | 255 / 64 / 1024 | names |
//! | [`MAX_ERRORS`] / [`MAX_AUTH_FAILURES`] | 10 / 3 | then BYE and close |
//! | `crate::mime::{DEPTH_MAX, PARTS_MAX, HEADER_BYTES_MAX}` | 20 / 1000 / 64 KiB | MIME structure |

pub mod api;
mod binary;
#[cfg(feature = "imap-catenate")]
mod catenate;
mod commands;
mod compress;
#[cfg(feature = "imap-context")]
mod context;
// The RFC 4978 DEFLATE codec (feature `compress`).
#[cfg(feature = "compress")]
pub mod deflate;
pub mod encode;
mod esearch;
mod fetch;
pub mod framer;
#[cfg(feature = "compress")]
pub mod huffman;
mod list;
mod login;
/// Test support (the in-memory `Mailstore` of the transcripts, unit tests and the fuzz
/// target): built for tests and with the `test-support` feature only, never in the binary.
#[cfg(any(test, feature = "test-support"))]
pub mod memstore;
mod multiappend;
#[cfg(feature = "notify")]
mod notify;
#[cfg(feature = "objectid")]
mod objectid;
mod parser;
mod preview;
mod quota;
pub mod reader;
mod search;
mod session;
#[cfg(feature = "imap-sort")]
mod sort;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bad;
#[cfg(test)]
mod tests_binary;
#[cfg(all(test, feature = "imap-catenate"))]
mod tests_catenate;
#[cfg(test)]
mod tests_condstore;
#[cfg(all(test, feature = "imap-context", feature = "imap-sort"))]
mod tests_context;
#[cfg(test)]
mod tests_multiappend;
#[cfg(all(test, feature = "notify"))]
mod tests_notify;
#[cfg(all(test, feature = "objectid"))]
mod tests_objectid;
#[cfg(test)]
mod tests_parser;
#[cfg(test)]
mod tests_preview;
#[cfg(test)]
mod tests_quota;
#[cfg(test)]
mod tests_search;
#[cfg(all(test, feature = "imap-sort"))]
mod tests_sort;
#[cfg(test)]
mod tests_uidonly;
#[cfg(feature = "imap-sort")]
mod thread;
pub mod types;
mod uidonly;
mod view;

pub use api::{
    flag, AuthOutcome, Changes, EnvelopeField, Event, FlagUpdate, FolderInfo, ImapPolicy, Mailstore, MsgMeta,
};
pub use api::{MailboxOp, PeerInfo, Snapshot, StoreError, StoreOp, LITERAL_FLOOR, MIN_AUTOLOGOUT_MS};
pub use binary::DECODE_CHUNK;
#[cfg(feature = "imap-catenate")]
pub use catenate::{CATENATE_CHUNK, CATENATE_PARTS_MAX, URL_MAX};
pub use commands::KEYWORD_MAX;
pub use encode::{parse_addresses, Address};
pub use fetch::{FETCH_ATTS_MAX, HEADER_FIELDS_MAX, OUTPUT_CHUNK, SECTION_DEPTH_MAX};
pub use framer::{COMMAND_LITERAL_TOTAL_MAX, INPUT_MAX, LITERALS_MAX};
pub use list::{pattern_match, LIST_PATTERN_MAX};
#[cfg(any(test, feature = "test-support"))]
pub use memstore::MemStore;
pub use multiappend::APPEND_MESSAGES_MAX;
#[cfg(feature = "notify")]
pub use notify::{NOTIFY_CHECK_MS, NOTIFY_GROUPS_MAX, NOTIFY_LINES_MAX, NOTIFY_NAMES_MAX, NOTIFY_WATCH_MAX};
#[cfg(feature = "objectid")]
pub use objectid::{OBJECTID_MAX, THREAD_ROOT_MAX};
pub use preview::{PREVIEW_CHARS, PREVIEW_READ, PREVIEW_READ_MAX};
pub use reader::{FLAGS_MAX, PAREN_DEPTH_MAX};
pub use search::{SEARCH_DEPTH_MAX, SEARCH_HEADER_MAX, SEARCH_KEYS_MAX};
pub use session::{Session, State, MAX_AUTH_FAILURES, MAX_ERRORS};
pub use types::{Mailbox, MailboxError, SequenceSet, Tag};
