//! The POP3 session state machine (RFC 1939 §3-§7; RFC 2449 CAPA and resp-codes; RFC 2595 §4
//! STLS; RFC 3206 [SYS/TEMP] and [AUTH]; RFC 5034 SASL; RFC 8314 §3 plaintext refusal).
//! Commands are checked against the state first (`allowed`), then performed (`perform`).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::auth::{decode_plain, Secret};

use super::api::{AuthOutcome, Event, PeerInfo, Pop3Policy};
use super::command::{command, Command, ParseError};
use super::line::{Frame, LineBuffer, COMMAND_LINE_MAX, SASL_LINE_MAX};
use super::maildrop::{Maildrop, MsgError, MsgInfo};

/// Failed logins in one connection before it is closed (the throttle handles the rest).
pub const MAX_AUTH_FAILURES: u32 = 3;
/// Consecutive bad commands before the connection is closed (house style 4).
pub const MAX_ERRORS: u32 = 10;
/// LIST/UIDL lines per `Reply` event, so a large maildrop streams in ~1 KB pieces.
pub const LISTING_CHUNK: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// RFC 1939 §4; `user` holds the name from a USER awaiting PASS.
    Authorization {
        user: Option<String>,
    },
    /// "+ " sent after `AUTH PLAIN`; the next line is the client response (RFC 5034 §4).
    SaslResponse,
    CheckingCredentials,
    OpeningMaildrop,
    /// RFC 1939 §5.
    Transaction,
    Sending,
    StartingTls,
    /// RFC 1939 §6 UPDATE.
    Committing,
    Closed,
}

impl State {
    /// Waiting for the driver: input stays buffered and the autologout timer stops.
    fn is_waiting(&self) -> bool {
        matches!(
            self,
            State::CheckingCredentials
                | State::OpeningMaildrop
                | State::Sending
                | State::StartingTls
                | State::Committing
        )
    }
}

/// An unfinished multi-line LIST or UIDL reply.
#[derive(Debug, Clone, Copy)]
struct Listing {
    uidl: bool,
    next: usize,
}

const GREETING: &str = "+OK letterbox POP3 server ready";
const ERR_STATE: &str = "-ERR Command not valid in this state";
const ERR_UNKNOWN: &str = "-ERR Unknown command";
const ERR_SYNTAX: &str = "-ERR Syntax error";
const ERR_LINE: &str = "-ERR Line too long or malformed";
const ERR_TOO_MANY: &str = "-ERR Too many errors, closing";
const ERR_AUTH: &str = "-ERR [AUTH] Authentication failed";
const ERR_PLAINTEXT: &str = "-ERR [AUTH] Plaintext authentication requires TLS: use STLS";
const ERR_IN_USE: &str = "-ERR [IN-USE] Maildrop is locked by another session";
const ERR_UNAVAILABLE: &str = "-ERR [SYS/TEMP] Maildrop unavailable, try again later";
const ERR_COMMIT: &str = "-ERR [SYS/TEMP] Some deleted messages were not removed";
const ERR_NO_SUCH: &str = "-ERR No such message";
const ERR_DELETED: &str = "-ERR Message is deleted";
const BYE: &str = "+OK letterbox POP3 server signing off";

/// One POP3 connection. See the module doc for the driver loop.
#[derive(Debug)]
pub struct Session {
    policy: Arc<Pop3Policy>,
    peer: PeerInfo,
    state: State,
    input: LineBuffer,
    out: VecDeque<Event>,
    listing: Option<Listing>,
    maildrop: Option<Maildrop>,
    idle_since_ms: u64,
    auth_failures: u32,
    errors: u32,
}

impl Session {
    /// Starts a session; the greeting is the first event.
    pub fn new(policy: Arc<Pop3Policy>, peer: PeerInfo, now_ms: u64) -> Session {
        let mut session = Session {
            policy,
            peer,
            state: State::Authorization { user: None },
            input: LineBuffer::default(),
            out: VecDeque::new(),
            listing: None,
            maildrop: None,
            idle_since_ms: now_ms,
            auth_failures: 0,
            errors: 0,
        };
        session.reply(GREETING);
        session
    }

    /// Buffers client bytes; returns how many were taken (the rest after the next `poll`s).
    /// Bytes arriving during a STLS handshake or after close are consumed and dropped.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        match self.state {
            State::StartingTls | State::Closed => data.len(),
            _ => self.input.feed(data),
        }
    }

    /// The next event, or `None` until more input, a driver answer or the deadline.
    pub fn poll(&mut self, now_ms: u64) -> Option<Event> {
        loop {
            if let Some(event) = self.out.pop_front() {
                return Some(event);
            }
            if self.state.is_waiting() {
                self.idle_since_ms = now_ms;
                return None;
            }
            if let Some(chunk) = self.listing_chunk() {
                return Some(Event::Reply(chunk));
            }
            if self.state == State::Closed {
                return None;
            }
            match self.input.next(self.line_limit()) {
                Some(frame) => {
                    self.idle_since_ms = now_ms;
                    self.on_frame(frame);
                }
                None if now_ms >= self.idle_since_ms.saturating_add(self.policy.autologout_ms()) => {
                    // RFC 1939 §3: autologout closes without entering UPDATE.
                    self.reply("-ERR Autologout: idle for too long");
                    self.close();
                }
                None => return None,
            }
        }
    }

    /// When `poll` must be called even without input (autologout); `None` while waiting for
    /// the driver or after close.
    pub fn deadline(&self) -> Option<u64> {
        if self.state.is_waiting() || self.state == State::Closed {
            return None;
        }
        Some(self.idle_since_ms.saturating_add(self.policy.autologout_ms()))
    }

    /// The TLS handshake after `StartTls` succeeded: back to a fresh AUTHORIZATION state.
    pub fn tls_started(&mut self) {
        if self.state == State::StartingTls {
            self.peer.is_tls = true;
            self.state = State::Authorization { user: None };
        }
    }

    /// The driver's answer to `CheckCredentials`.
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        if self.state != State::CheckingCredentials {
            return;
        }
        self.state = State::Authorization { user: None };
        match outcome {
            AuthOutcome::Ok => self.state = State::OpeningMaildrop,
            AuthOutcome::Bad => self.auth_failed(ERR_AUTH),
            AuthOutcome::InUse => self.reply(ERR_IN_USE),
            AuthOutcome::Throttled(ms) => {
                let secs = ms.div_ceil(1_000);
                self.auth_failed(&format!("-ERR [SYS/TEMP] Too many failed logins, retry in {secs} s"));
            }
            AuthOutcome::Unavailable => self.reply(ERR_UNAVAILABLE),
        }
    }

    /// The snapshot of the locked maildrop, after `auth_result(Ok)`; enters TRANSACTION.
    pub fn open_maildrop(&mut self, msgs: Vec<MsgInfo>, uidvalidity: u32) {
        if !matches!(self.state, State::OpeningMaildrop | State::CheckingCredentials) {
            return;
        }
        let maildrop = Maildrop::new(msgs, uidvalidity);
        let (count, size) = maildrop.stat();
        self.maildrop = Some(maildrop);
        self.state = State::Transaction;
        self.reply(&format!("+OK maildrop has {count} messages ({size} octets)"));
    }

    /// The message of `SendMessage` was written in full, terminator included.
    pub fn message_sent(&mut self) {
        if self.state == State::Sending {
            self.state = State::Transaction;
        }
    }

    /// The deletions of `Commit` are durable (`true`) or failed (`false`).
    pub fn commit_result(&mut self, ok: bool) {
        if self.state != State::Committing {
            return;
        }
        if ok {
            let left = self.maildrop.as_ref().map_or(0, |m| m.stat().0);
            self.reply(&format!("{BYE} ({left} messages left)"));
        } else {
            self.reply(ERR_COMMIT);
        }
        self.close();
    }

    fn line_limit(&self) -> usize {
        match self.state {
            State::SaslResponse => SASL_LINE_MAX,
            _ => COMMAND_LINE_MAX,
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        match (frame, &self.state) {
            (Frame::Line(line), State::SaslResponse) => self.sasl_response(&line),
            (Frame::Line(line), _) => self.on_line(&line),
            (Frame::TooLong | Frame::Malformed, State::SaslResponse) => self.auth_failed(ERR_AUTH),
            (Frame::TooLong | Frame::Malformed, _) => self.error(ERR_LINE),
        }
    }

    fn on_line(&mut self, line: &[u8]) {
        match command(line) {
            Err(ParseError::Unknown) => self.error(ERR_UNKNOWN),
            Err(ParseError::Syntax) => self.error(ERR_SYNTAX),
            Ok(cmd) if !self.allowed(&cmd) => self.error(ERR_STATE),
            Ok(cmd) => {
                self.errors = 0;
                self.perform(cmd);
            }
        }
    }

    /// Is `cmd` valid in the current state (RFC 1939 §4-§5, RFC 2595 §4)?
    fn allowed(&self, cmd: &Command) -> bool {
        use Command as C;
        match self.state {
            State::Authorization { .. } => {
                matches!(cmd, C::User(_) | C::Pass(_) | C::Auth(_) | C::Stls | C::Capa | C::Quit)
            }
            State::Transaction => !matches!(cmd, C::User(_) | C::Pass(_) | C::Auth(_) | C::Stls),
            _ => false,
        }
    }

    fn perform(&mut self, cmd: Command) {
        match cmd {
            Command::User(name) => self.user(name),
            Command::Pass(pass) => self.pass(pass),
            Command::Auth(None) => self.auth_list(),
            Command::Auth(Some((mechanism, initial))) => self.auth(mechanism, initial),
            Command::Stls => self.stls(),
            Command::Capa => self.capa(),
            Command::Stat => self.stat(),
            Command::List(n) => self.list(n, false),
            Command::Uidl(n) => self.list(n, true),
            Command::Retr(n) => self.send(n, None),
            Command::Top(n, lines) => self.send(n, Some(lines)),
            Command::Dele(n) => self.dele(n),
            Command::Noop => self.reply("+OK"),
            Command::Rset => self.rset(),
            Command::Quit => self.quit(),
        }
    }

    /// RFC 8314 §3 / RFC 2595 §4: no cleartext passwords on a non-loopback plain link.
    fn plaintext_ok(&self) -> bool {
        self.peer.is_tls
            || (self.peer.ip.is_loopback() && self.policy.loopback_plaintext())
            || self.policy.allow_plaintext_auth()
    }

    /// USER (RFC 1939 §7): always "+OK" so the reply does not reveal valid names.
    fn user(&mut self, name: &str) {
        if !self.plaintext_ok() {
            return self.reply(ERR_PLAINTEXT);
        }
        self.state = State::Authorization { user: Some(name.to_owned()) };
        self.reply("+OK send PASS");
    }

    /// PASS (RFC 1939 §7): only right after a USER.
    fn pass(&mut self, pass: &[u8]) {
        if !self.plaintext_ok() {
            return self.reply(ERR_PLAINTEXT);
        }
        let State::Authorization { user: Some(user) } = &mut self.state else {
            return self.reply("-ERR USER first");
        };
        let user = std::mem::take(user);
        self.check_credentials(user, Secret::new(pass.to_vec()));
    }

    /// Bare AUTH lists mechanisms, as RFC 1734 clients expect.
    fn auth_list(&mut self) {
        let mechanisms = if self.plaintext_ok() { "PLAIN\r\n" } else { "" };
        self.reply(&format!("+OK\r\n{mechanisms}."));
    }

    /// AUTH PLAIN with or without an initial response (RFC 5034 §4; "=" is an empty one).
    fn auth(&mut self, mechanism: &str, initial: Option<&[u8]>) {
        self.state = State::Authorization { user: None };
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.reply("-ERR Unsupported SASL mechanism");
        }
        if !self.plaintext_ok() {
            return self.reply(ERR_PLAINTEXT);
        }
        match initial {
            None => {
                self.state = State::SaslResponse;
                self.reply("+ ");
            }
            Some(b"=") => self.sasl_plain(b""),
            Some(blob) => self.sasl_plain(blob),
        }
    }

    /// The client's line after "+ ": "*" cancels (RFC 5034 §4).
    fn sasl_response(&mut self, line: &[u8]) {
        self.state = State::Authorization { user: None };
        if line == b"*" {
            return self.reply("-ERR Authentication cancelled");
        }
        self.sasl_plain(line);
    }

    fn sasl_plain(&mut self, blob: &[u8]) {
        match decode_plain(blob) {
            Err(_) => self.auth_failed(ERR_AUTH),
            // Single user: acting for another identity is never authorized (RFC 4616 §2).
            Ok(c) if c.authzid.as_ref().is_some_and(|z| *z != c.authcid) => self.auth_failed(ERR_AUTH),
            Ok(c) => self.check_credentials(c.authcid, c.passwd),
        }
    }

    fn check_credentials(&mut self, user: String, pass: Secret) {
        self.state = State::CheckingCredentials;
        self.out.push_back(Event::CheckCredentials { user, pass });
    }

    fn auth_failed(&mut self, text: &str) {
        self.state = State::Authorization { user: None };
        self.auth_failures = self.auth_failures.saturating_add(1);
        self.reply(text);
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.close();
        }
    }

    /// STLS (RFC 2595 §4): buffered plaintext is dropped so it cannot be replayed as if it
    /// came over TLS.
    fn stls(&mut self) {
        if self.peer.is_tls {
            return self.reply("-ERR Already using TLS");
        }
        if !self.peer.tls_available {
            return self.reply("-ERR STLS not available");
        }
        self.reply("+OK Begin TLS negotiation");
        self.input.clear();
        self.state = State::StartingTls;
        self.out.push_back(Event::StartTls);
    }

    /// CAPA (RFC 2449 §5): USER and SASL PLAIN only where plaintext auth is allowed.
    fn capa(&mut self) {
        let authorization = matches!(self.state, State::Authorization { .. });
        let mut text = String::from("+OK Capability list follows\r\nTOP\r\nUIDL\r\n");
        if authorization && self.plaintext_ok() {
            text.push_str("USER\r\nSASL PLAIN\r\n");
        }
        if authorization && self.peer.tls_available && !self.peer.is_tls {
            text.push_str("STLS\r\n");
        }
        text.push_str("RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        text.push_str("IMPLEMENTATION letterbox\r\n.");
        self.reply(&text);
    }

    fn stat(&mut self) {
        let (count, size) = self.maildrop.as_ref().map_or((0, 0), Maildrop::stat);
        self.reply(&format!("+OK {count} {size}"));
    }

    /// LIST / UIDL (RFC 1939 §5, §7): one message, or a listing streamed by `poll`.
    fn list(&mut self, n: Option<u32>, uidl: bool) {
        let Some(drop) = self.maildrop.as_ref() else {
            return self.reply(ERR_STATE);
        };
        let Some(n) = n else {
            let (count, size) = drop.stat();
            self.listing = Some(Listing { uidl, next: 0 });
            return self.reply(&format!("+OK {count} messages ({size} octets)"));
        };
        let text = match drop.get(n) {
            Ok(m) if uidl => format!("+OK {n} {}", drop.unique_id(m.uid)),
            Ok(m) => format!("+OK {n} {}", m.size),
            Err(e) => msg_error(e).to_owned(),
        };
        self.reply(&text);
    }

    /// Up to `LISTING_CHUNK` lines of a pending listing, then its terminator.
    fn listing_chunk(&mut self) -> Option<Vec<u8>> {
        let listing = self.listing.as_mut()?;
        let drop = self.maildrop.as_ref()?;
        let mut out = Vec::new();
        for (i, n, m) in drop.live_from(listing.next).take(LISTING_CHUNK) {
            let line = match listing.uidl {
                true => format!("{n} {}\r\n", drop.unique_id(m.uid)),
                false => format!("{n} {}\r\n", m.size),
            };
            out.extend_from_slice(line.as_bytes());
            listing.next = i + 1;
        }
        if out.is_empty() {
            out.extend_from_slice(b".\r\n");
            self.listing = None;
        }
        Some(out)
    }

    /// RETR and TOP (RFC 1939 §7): the status line, then the driver streams the message.
    fn send(&mut self, n: u32, top_lines: Option<u32>) {
        let Some(drop) = self.maildrop.as_ref() else {
            return self.reply(ERR_STATE);
        };
        match drop.get(n) {
            Ok(m) => {
                let text = match top_lines {
                    None => format!("+OK {} octets", m.size),
                    Some(_) => "+OK top of message follows".to_owned(),
                };
                self.reply(&text);
                self.state = State::Sending;
                let event = Event::SendMessage { number: n, uid: m.uid, top_lines };
                self.out.push_back(event);
            }
            Err(e) => self.reply(msg_error(e)),
        }
    }

    /// DELE (RFC 1939 §5): marks only; deletion happens at QUIT.
    fn dele(&mut self, n: u32) {
        let result = self.maildrop.as_mut().map(|d| d.delete(n));
        match result {
            Some(Ok(())) => self.reply(&format!("+OK message {n} deleted")),
            Some(Err(e)) => self.reply(msg_error(e)),
            None => self.reply(ERR_STATE),
        }
    }

    fn rset(&mut self) {
        let Some(drop) = self.maildrop.as_mut() else {
            return self.reply(ERR_STATE);
        };
        drop.reset();
        let (count, size) = drop.stat();
        self.reply(&format!("+OK maildrop has {count} messages ({size} octets)"));
    }

    /// QUIT (RFC 1939 §6): in TRANSACTION, marked messages go to the driver to delete.
    fn quit(&mut self) {
        let delete = self.maildrop.as_ref().map(Maildrop::deleted_uids).unwrap_or_default();
        if delete.is_empty() {
            self.reply(BYE);
            return self.close();
        }
        self.state = State::Committing;
        self.out.push_back(Event::Commit { delete });
    }

    /// A bad line: "-ERR", and the connection closes after `MAX_ERRORS` in a row.
    fn error(&mut self, text: &str) {
        self.errors = self.errors.saturating_add(1);
        if self.errors >= MAX_ERRORS {
            self.reply(ERR_TOO_MANY);
            return self.close();
        }
        self.reply(text);
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.listing = None;
        self.out.push_back(Event::Close);
    }

    fn reply(&mut self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 2);
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.out.push_back(Event::Reply(bytes));
    }
}

fn msg_error(e: MsgError) -> &'static str {
    match e {
        MsgError::NoSuch => ERR_NO_SUCH,
        MsgError::Deleted => ERR_DELETED,
    }
}
