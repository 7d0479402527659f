//! Not-authenticated state (RFC 3501 §6.2): STARTTLS (§6.2.1, RFC 2595 §3.1: buffered
//! plaintext dropped, BAD-INPUTS 38), AUTHENTICATE PLAIN (§6.2.2, RFC 4616, RFC 4959
//! SASL-IR), LOGIN (§6.2.3), the capability list (§7.2.1) with LOGINDISABLED and
//! [PRIVACYREQUIRED] off TLS (RFC 2595 §3.2, RFC 5530, RFC 8314 §3), and `auth_result`.

use crate::auth::{decode_plain, Secret};

use super::api::{AuthOutcome, Event};
use super::session::{Pending, Session, State, MAX_AUTH_FAILURES};
use super::types::Tag;

impl Session {
    /// The TLS handshake after `StartTls` succeeded (RFC 2595 §3.1: fresh state, the
    /// client asks CAPABILITY again and gets the post-TLS list).
    pub fn tls_started(&mut self) {
        if matches!(self.pending, Pending::StartTls) {
            self.peer.is_tls = true;
            self.framer.clear();
            self.pending = Pending::None;
        }
    }

    /// The driver's answer to `CheckCredentials`.
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        let Pending::Credentials(tag) = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        match outcome {
            AuthOutcome::Ok => {
                self.state = State::Authenticated;
                let caps = self.capabilities();
                self.tagged(&tag, &format!("OK [CAPABILITY {caps}] Logged in"));
            }
            AuthOutcome::Bad => self.auth_failed(&tag, "NO [AUTHENTICATIONFAILED] Authentication failed"),
            AuthOutcome::Throttled(ms) => {
                let secs = ms.div_ceil(1_000);
                self.auth_failed(&tag, &format!("NO [UNAVAILABLE] Too many failed logins, retry in {secs} s"));
            }
            AuthOutcome::InUse | AuthOutcome::Unavailable => {
                self.tagged(&tag, "NO [UNAVAILABLE] Mailbox unavailable, try again later")
            }
        }
    }

    /// RFC 2595 §3.1 / RFC 3501 §6.2.1: buffered plaintext is dropped so it cannot be
    /// replayed as if it came over TLS (BAD-INPUTS 38).
    pub(super) fn starttls(&mut self, tag: Tag) {
        if self.peer.is_tls {
            return self.tagged(&tag, "BAD Already using TLS");
        }
        if !self.peer.tls_available {
            return self.tagged(&tag, "NO STARTTLS not available");
        }
        self.tagged(&tag, "OK Begin TLS negotiation now");
        self.framer.clear();
        self.pending = Pending::StartTls;
        self.out.push_back(Event::StartTls);
    }

    /// RFC 8314 §3 / RFC 2595 §3.2: no cleartext passwords on a non-loopback plain link.
    pub(super) fn plaintext_ok(&self) -> bool {
        self.peer.is_tls
            || (self.peer.ip.is_loopback() && self.policy.loopback_plaintext)
            || self.policy.allow_plaintext_auth
    }

    /// RFC 3501 §6.2.3 LOGIN; LOGINDISABLED gets NO [PRIVACYREQUIRED] (RFC 5530 §3).
    pub(super) fn login(&mut self, tag: Tag, user: String, pass: Secret) {
        if !self.plaintext_ok() {
            return self.tagged(&tag, "NO [PRIVACYREQUIRED] Use STARTTLS first");
        }
        self.pending = Pending::Credentials(tag);
        self.out.push_back(Event::CheckCredentials { user, pass });
    }

    /// RFC 3501 §6.2.2 AUTHENTICATE PLAIN with RFC 4959 initial response ("=" is empty).
    pub(super) fn authenticate(&mut self, tag: Tag, mechanism: &str, initial: Option<Vec<u8>>) {
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.tagged(&tag, "NO Unsupported authentication mechanism");
        }
        if !self.plaintext_ok() {
            return self.tagged(&tag, "NO [PRIVACYREQUIRED] Use STARTTLS first");
        }
        match initial.as_deref() {
            None => {
                self.pending = Pending::Sasl(tag);
                self.raw(b"+ \r\n".to_vec());
            }
            Some(b"=") => self.sasl_plain(tag, b""),
            Some(blob) => self.sasl_plain(tag, blob),
        }
    }

    /// The client's line after "+ ": "*" cancels (RFC 3501 §6.2.2).
    pub(super) fn sasl_response(&mut self, tag: Tag, line: &[u8]) {
        if line == b"*" {
            return self.tagged(&tag, "BAD Authentication cancelled");
        }
        self.sasl_plain(tag, line);
    }

    fn sasl_plain(&mut self, tag: Tag, blob: &[u8]) {
        match decode_plain(blob) {
            Err(_) => self.auth_failed(&tag, "NO [AUTHENTICATIONFAILED] Authentication failed"),
            // Single user: acting for another identity is never authorized (RFC 4616 §2).
            Ok(c) if c.authzid.as_ref().is_some_and(|z| *z != c.authcid) => {
                self.auth_failed(&tag, "NO [AUTHORIZATIONFAILED] Authorization failed")
            }
            Ok(c) => {
                self.pending = Pending::Credentials(tag);
                self.out.push_back(Event::CheckCredentials { user: c.authcid, pass: c.passwd });
            }
        }
    }

    pub(super) fn auth_failed(&mut self, tag: &Tag, text: &str) {
        self.auth_failures = self.auth_failures.saturating_add(1);
        self.tagged(tag, text);
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.untagged("BYE Too many failed logins");
            self.close();
        }
    }

    /// RFC 3501 §7.2.1 capability list, per state and TLS policy (RFC 2595 §3.2).
    pub(super) fn capabilities(&self) -> String {
        let mut caps = String::from(
            "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS CHILDREN MOVE CONDSTORE QRESYNC",
        );
        caps.push_str(" LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE UTF8=ACCEPT");
        caps.push_str(super::esearch::CAPABILITIES);
        #[cfg(feature = "imap-context")]
        caps.push_str(super::context::CAPABILITIES);
        #[cfg(all(feature = "imap-context", feature = "imap-sort"))]
        caps.push_str(super::context::SORT_CAPABILITY);
        #[cfg(feature = "imap-sort")]
        caps.push_str(super::sort::CAPABILITIES);
        #[cfg(feature = "imap-catenate")]
        caps.push_str(" CATENATE");
        #[cfg(feature = "notify")]
        caps.push_str(super::notify::CAPABILITY);
        caps.push_str(" STATUS=SIZE MULTIAPPEND BINARY PREVIEW UIDONLY QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE");
        #[cfg(feature = "objectid")]
        caps.push_str(" OBJECTID");
        // RFC 7889 §2: the largest APPEND this server takes.
        caps.push_str(&format!(" APPENDLIMIT={}", self.policy.message_max));
        // RFC 4978 §3: offered once COMPRESS may be used (Dovecot does the same).
        if self.policy.compress && self.state != State::NotAuthenticated {
            caps.push_str(" COMPRESS=DEFLATE");
        }
        if self.state == State::NotAuthenticated {
            if self.peer.tls_available && !self.peer.is_tls {
                caps.push_str(" STARTTLS");
            }
            caps.push_str(if self.plaintext_ok() { " AUTH=PLAIN" } else { " LOGINDISABLED" });
        }
        caps
    }
}
