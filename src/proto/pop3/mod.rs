//! POP3 server core, sans-IO: RFC 1939 (states, commands, byte-stuffing), RFC 2449 (CAPA,
//! resp-codes, PIPELINING, 255-octet lines), RFC 2595 §4 (STLS), RFC 3206 (`[SYS/TEMP]`,
//! `[AUTH]`), RFC 5034 (SASL PLAIN via AUTH), RFC 8314 §3 (no plaintext passwords off TLS).
//! No sockets, files or clocks: time is an input. APOP is not offered (MD5 is not in ring,
//! and APOP needs the password stored in clear).
//!
//! # Driver loop
//!
//! ```text
//! let mut s = Session::new(Arc::new(Pop3Policy::from_config(&cfg)), peer, now_ms);
//! loop {
//!     while let Some(event) = s.poll(now_ms) {
//!         match event {
//!             Event::Reply(bytes) => write_all(bytes),
//!             Event::StartTls => { flush(); drop any unread plaintext; handshake; s.tls_started() }
//!             Event::CheckCredentials { user, pass } => {
//!                 // auth::Throttle::check(ip, now) -> Err(ms) => s.auth_result(Throttled(ms))
//!                 // else auth::Verifier::check off the executor (smol::unblock), then
//!                 // throttle.failed/succeeded; on success try the maildrop lock:
//!                 //   held by another session => s.auth_result(InUse)
//!                 //   store error             => s.auth_result(Unavailable)
//!                 //   else s.auth_result(Ok); s.open_maildrop(snapshot, uidvalidity)
//!             }
//!             Event::SendMessage { uid, top_lines, .. } => {
//!                 let mut d = DotStuffer::new(top_lines);
//!                 // for each chunk of the stored message (until d.is_done()):
//!                 //     d.push(chunk, &mut out); write out
//!                 d.finish(&mut out); write out; s.message_sent()
//!             }
//!             Event::Commit { delete } => { delete uids durably; s.commit_result(ok) }
//!             Event::Close => { flush; close; release the maildrop lock; return }
//!         }
//!     }
//!     // wait for socket bytes or s.deadline(); then feed them (feed returns how many it
//!     // took: keep the rest and feed again after the next poll round). EOF or a write
//!     // error: drop the session and the lock; nothing is deleted without QUIT.
//!     let taken = s.feed(&bytes);
//! }
//! ```
//!
//! The maildrop lock belongs to the driver: it is taken during `CheckCredentials` and held
//! until the connection ends, so a second login gets `-ERR [IN-USE]` (RFC 1939 §8).

mod api;
mod command;
mod line;
mod maildrop;
mod session;
#[cfg(test)]
mod tests;

pub use super::dotstuff::{stuff_all, DotStuffer};
pub use api::{AuthOutcome, Event, PeerInfo, Pop3Policy, MIN_AUTOLOGOUT_MS};
pub use command::ARGUMENT_MAX;
pub use line::{COMMAND_LINE_MAX, INPUT_BUFFER_MAX, SASL_LINE_MAX};
pub use maildrop::MsgInfo;
pub use session::{Session, LISTING_CHUNK, MAX_AUTH_FAILURES, MAX_ERRORS};
