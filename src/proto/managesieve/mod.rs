//! ManageSieve server core, sans-IO (RFC 5804; issue 16): the greeting and CAPABILITY
//! (§1.7), STARTTLS (§2.2), AUTHENTICATE with SASL PLAIN (§2.1, RFC 4616), HAVESPACE (§2.5),
//! PUTSCRIPT with validation (§2.6), LISTSCRIPTS (§2.7), SETACTIVE (§2.8), GETSCRIPT (§2.9),
//! DELETESCRIPT (§2.10), RENAMESCRIPT (§2.11.1), CHECKSCRIPT (§2.12), NOOP (§2.13),
//! UNAUTHENTICATE (§2.14), LOGOUT (§2.3); response codes of §1.3. Passwords are refused off
//! TLS except on loopback (RFC 8314 §3, as IMAP and POP3). No sockets, files or clocks.
//!
//! # Driver loop
//!
//! ```text
//! let mut s = Session::new(policy, peer, now_ms);
//! loop {
//!     while let Some(event) = s.poll(now_ms) {
//!         match event {
//!             Event::Reply(bytes) => write_all(bytes),
//!             Event::StartTls => { flush; drop unread plaintext; handshake; s.tls_started() }
//!             Event::CheckCredentials { user, pass } => s.auth_result(throttle + verify),
//!             Event::Script(request) => s.script_done(perform request on store::scripts),
//!             Event::Close => { flush; close; return }
//!         }
//!     }
//!     // wait for bytes or s.deadline(); feed them (feed returns how many it took).
//! }
//! ```

mod framer;
mod session;
#[cfg(test)]
mod tests;

pub use framer::{Arg, Parsed, ARGS_MAX, DISCARD_MAX, INPUT_MAX, LINE_MAX, LITERAL_MAX, QUOTED_MAX};
pub use session::{
    failure_of, Answer, Event, Failure, Policy, Request, Session, IDLE_TIMEOUT_MS, MAX_AUTH_FAILURES, MAX_ERRORS,
};
