//! Sans-IO SMTP client: delivers one message with its envelope over one connection, as an
//! MX client (RFC 5321 §3, §4.1) or to a relay with AUTH (RFC 4954 §4: PLAIN RFC 4616,
//! LOGIN draft-murchison-sasl-login). Extensions used when offered: PIPELINING (RFC 2920),
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC 3207),
//! opportunistic per RFC 7435 or required. No sockets and no clock: bytes and `now` go in,
//! [`Event`]s come out, and [`Client::deadline`] says when to poll without input.
//!
//! # Driving a client
//!
//! ```text
//! let mut c = Client::new(config, envelope, now);
//! loop {
//!     while let Some(ev) = c.poll(now()) { match ev {
//!         Send(b) | SendSecret(b) => write b,
//!         StartTls => { write pending; drop unread input; handshake; c.tls_started(now) }
//!         SendMessage => { for chunk in message { c.write_body(chunk, &mut out, now); write out }
//!                          c.end_body(&mut out, now); write out }
//!         Done(outcome) => return outcome,
//!     } }
//!     read with deadline c.deadline(): bytes → c.feed(&bytes, now); EOF → c.closed(now)
//! }
//! ```
//!
//! # Outcomes (per recipient)
//! 2xx → [`Status::Delivered`], 5xx → [`Status::Permanent`], 4xx, timeouts, connection
//! errors and protocol errors → [`Status::Temporary`] (RFC 5321 §4.2.1, §4.5.4.1). A
//! recipient accepted at RCPT takes the reply to the final `.` (RFC 5321 §4.1.1.4).
//!
//! # Policy choices
//! - An 8-bit message to a server without 8BITMIME fails permanently (RFC 6152 §3 allows
//!   only a 7-bit conversion or a failure; we have no converter, and sending 8-bit anyway
//!   as some MTAs do would break the RFC on the one server that enforces it).
//! - An envelope that needs SMTPUTF8 to a server without it fails permanently
//!   (RFC 6531 §3.4), as does a message larger than the server's SIZE (RFC 1870 §6),
//!   both before MAIL.
//! - EHLO refused with 5xx: HELO (RFC 5321 §4.1.4), which then fails the checks above if
//!   the message needs an extension.
//! - AUTH refused: temporary (the password is ours to fix; Postfix's
//!   `smtp_sasl_auth_soft_bounce = yes` does the same). No AUTH over plaintext except to
//!   loopback (RFC 4954 §4 "SHOULD NOT" without a protection layer).
//! - A reply line over [`REPLY_LINE_MAX`] (RFC 5321 §4.5.3.1.5 says 512; real banners run
//!   longer) fails the session as a protocol error as soon as the limit is passed.

mod api;
mod reply;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

pub use api::{Config, Credentials, Envelope, Event, Outcome, RcptResult, Status, Timeouts, TlsMode};
pub use reply::{Capabilities, Reply, ReplyError, AUTH_MECHS_MAX, REPLY_LINES_MAX, REPLY_TEXT_MAX};

use crate::auth::{base64, Secret};
use crate::proto::dotstuff::DotStuffer;
use crate::proto::line::{Frame, LineFramer};
use reply::ReplyBuilder;

/// Longest reply line accepted, CRLF included: 4 × RFC 5321 §4.5.3.1.5's 512.
pub const REPLY_LINE_MAX: usize = 2048;
/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
pub const PATH_MAX: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AwaitTls,
    /// Waiting for 235 (PLAIN, or LOGIN after the password).
    Auth,
    LoginUser,
    LoginPass,
    Transaction,
    Body,
    /// Waiting for the reply to `.`; `empty`: a lone `.` sent after a 354 with no recipient.
    DataEnd {
        empty: bool,
    },
    Quit,
    Done,
}

/// A transaction command whose reply is awaited (RFC 2920 §3.1 keeps them in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Mail,
    Rcpt(usize),
    Data,
}

/// One recipient during the session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rcpt {
    Pending,
    Accepted,
    Final(Status, String),
}

/// The client state machine; see the module documentation.
#[derive(Debug)]
pub struct Client {
    cfg: Config,
    env: Envelope,
    framer: LineFramer,
    reply: ReplyBuilder,
    phase: Phase,
    caps: Capabilities,
    tls: bool,
    /// STARTTLS was refused (opportunistic): do not ask again after the next EHLO.
    tls_refused: bool,
    rcpts: Vec<Rcpt>,
    todo: VecDeque<Cmd>,
    inflight: VecDeque<Cmd>,
    mail_failed: bool,
    out: VecDeque<Event>,
    now: u64,
    /// The reply awaited is late after this (ms).
    due: Option<u64>,
    stuffer: DotStuffer,
    error: Option<String>,
}

impl Client {
    /// A client waiting for the greeting. Bad addresses fail permanently at once; with no
    /// good recipient left, the first poll returns `Done` (no connection needed).
    pub fn new(cfg: Config, env: Envelope, now_ms: u64) -> Client {
        let rcpts = env.rcpts.iter().map(|r| check_path(r, false)).collect();
        let mut c = Client {
            framer: LineFramer::new(REPLY_LINE_MAX),
            reply: ReplyBuilder::default(),
            phase: Phase::Greeting,
            caps: Capabilities::default(),
            tls: cfg.tls_active,
            tls_refused: false,
            rcpts,
            todo: VecDeque::new(),
            inflight: VecDeque::new(),
            mail_failed: false,
            out: VecDeque::new(),
            now: now_ms,
            due: None,
            stuffer: DotStuffer::new(None),
            error: None,
            cfg,
            env,
        };
        c.arm(c.cfg.timeouts.greeting_ms);
        if let Rcpt::Final(status, why) = check_path(&c.env.mail_from, true) {
            c.fail_all(status, &why, false);
        } else if !c.rcpts.contains(&Rcpt::Pending) {
            c.finish();
        }
        c
    }

    /// Consumes server bytes; returns how many. Stops (returns less) when the driver must
    /// act first: TLS handshake, message body, or the end.
    pub fn feed(&mut self, input: &[u8], now_ms: u64) -> usize {
        self.now = now_ms;
        let mut used = 0;
        while self.reading() {
            let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) else { break };
            let (n, frame) = self.framer.push(rest);
            used += n;
            match frame {
                Some(Frame::Line) => self.line(),
                Some(Frame::TooLong) => self.protocol_error("reply line too long"),
                Some(Frame::BareLf | Frame::BareCr) => self.protocol_error("bare CR or LF in reply"),
                None if self.framer.is_discarding() => self.protocol_error("reply line too long"),
                None => {}
            }
        }
        if self.phase == Phase::Done {
            return input.len();
        }
        used
    }

    /// The next event; past the deadline the session fails as temporary.
    pub fn poll(&mut self, now_ms: u64) -> Option<Event> {
        self.now = now_ms;
        if self.due.is_some_and(|d| now_ms >= d) {
            self.timed_out();
        }
        self.out.pop_front()
    }

    /// When to poll without input (ms), while a reply or the next body chunk is awaited.
    pub fn deadline(&self) -> Option<u64> {
        self.due
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded: EHLO again (RFC 3207 §4.2).
    pub fn tls_started(&mut self, now_ms: u64) {
        self.now = now_ms;
        if self.phase == Phase::AwaitTls {
            self.tls = true;
            self.caps = Capabilities::default();
            self.ehlo();
        }
    }

    /// The connection failed or closed (`reason` for the log and the outcome).
    pub fn abort(&mut self, reason: &str, now_ms: u64) {
        self.now = now_ms;
        match self.phase {
            Phase::Done => {}
            Phase::Quit => self.finish(),
            _ => self.fail_all(Status::Temporary, reason, false),
        }
    }

    /// The server closed the connection.
    pub fn closed(&mut self, now_ms: u64) {
        self.abort("connection closed by the server", now_ms);
    }

    /// Appends the dot-stuffed form of a message chunk to `out` (RFC 5321 §4.5.2).
    pub fn write_body(&mut self, chunk: &[u8], out: &mut Vec<u8>, now_ms: u64) {
        if self.phase == Phase::Body {
            self.now = now_ms;
            self.stuffer.push(chunk, out);
            self.arm(self.cfg.timeouts.data_block_ms);
        }
    }

    /// Appends the end of the message (CRLF if missing, `.` CRLF) and awaits the reply.
    pub fn end_body(&mut self, out: &mut Vec<u8>, now_ms: u64) {
        if self.phase == Phase::Body {
            self.now = now_ms;
            std::mem::replace(&mut self.stuffer, DotStuffer::new(None)).finish(out);
            self.phase = Phase::DataEnd { empty: false };
            self.arm(self.cfg.timeouts.data_term_ms);
        }
    }

    /// The session is over (or never needed a connection: no valid recipient).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The capabilities of the last EHLO (empty after HELO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The timeouts in force (the driver bounds its writes by `data_block_ms`).
    pub fn timeouts(&self) -> Timeouts {
        self.cfg.timeouts
    }

    /// Whether TLS is off, opportunistic or required.
    pub fn tls_mode(&self) -> TlsMode {
        self.cfg.tls
    }

    fn reading(&self) -> bool {
        !matches!(self.phase, Phase::AwaitTls | Phase::Body | Phase::Done)
    }

    fn arm(&mut self, ms: u64) {
        self.due = Some(self.now.saturating_add(ms));
    }

    fn send(&mut self, bytes: Vec<u8>) {
        self.out.push_back(Event::Send(bytes));
    }

    fn line(&mut self) {
        match self.reply.line(self.framer.line()) {
            Err(e) => self.protocol_error(&e.to_string()),
            Ok(None) => {}
            Ok(Some(r)) => self.on_reply(r),
        }
    }

    /// Dispatches a complete reply on the phase (RFC 5321 §4.3.2 sequencing).
    fn on_reply(&mut self, r: Reply) {
        // RFC 5321 §3.8: 421 may come at any time; the server closes after it.
        if r.code == 421 && self.phase != Phase::Quit {
            return self.fail_all(Status::Temporary, &format!("server closing: {r}"), false);
        }
        match self.phase {
            Phase::Greeting if r.code == 220 => self.ehlo(),
            Phase::Greeting => self.refused("greeting", &r),
            Phase::Ehlo if r.class() == 2 => {
                self.caps = self.reply.caps.take().unwrap_or_default();
                self.after_ehlo();
            }
            Phase::Ehlo if r.class() == 5 => self.helo(),
            Phase::Helo if r.class() == 2 => self.after_ehlo(),
            Phase::Ehlo | Phase::Helo => self.refused("EHLO/HELO", &r),
            Phase::StartTls => self.on_starttls(&r),
            Phase::Auth if r.code == 235 => self.start_transaction(),
            Phase::LoginUser if r.code == 334 => self.login_step(false),
            Phase::LoginPass if r.code == 334 => self.login_step(true),
            Phase::Auth | Phase::LoginUser | Phase::LoginPass => self.auth_refused(&r),
            Phase::Transaction => self.on_tx_reply(r),
            Phase::DataEnd { empty } => self.on_data_end(empty, &r),
            Phase::Quit => self.finish(),
            Phase::AwaitTls | Phase::Body | Phase::Done => {}
        }
    }

    /// A 4xx/5xx where only 2xx makes sense: fail by class, say QUIT; anything else is garbage.
    fn refused(&mut self, what: &str, r: &Reply) {
        match class_status(r) {
            Some(Status::Delivered) | None => self.protocol_error(&format!("unexpected reply to {what}: {r}")),
            Some(status) => self.fail_all(status, &format!("{what} refused: {r}"), true),
        }
    }

    fn ehlo(&mut self) {
        self.reply.caps = Some(Capabilities::default());
        self.send(format!("EHLO {}\r\n", self.cfg.helo_name).into_bytes());
        self.phase = Phase::Ehlo;
        self.arm(self.cfg.timeouts.command_ms);
    }

    /// RFC 5321 §4.1.4: a server that does not know EHLO gets HELO.
    fn helo(&mut self) {
        self.reply.caps = None;
        self.caps = Capabilities::default();
        self.send(format!("HELO {}\r\n", self.cfg.helo_name).into_bytes());
        self.phase = Phase::Helo;
        self.arm(self.cfg.timeouts.command_ms);
    }

    /// After EHLO/HELO: STARTTLS, then AUTH, then the transaction.
    fn after_ehlo(&mut self) {
        let want_tls = !self.tls && !self.tls_refused && self.cfg.tls != TlsMode::Off;
        if want_tls && self.caps.starttls {
            self.send(b"STARTTLS\r\n".to_vec());
            self.phase = Phase::StartTls;
            return self.arm(self.cfg.timeouts.command_ms);
        }
        if !self.tls && self.cfg.tls == TlsMode::Required {
            return self.fail_all(Status::Temporary, "TLS is required and the server offers no STARTTLS", true);
        }
        let Some(auth) = self.cfg.auth.as_ref() else { return self.start_transaction() };
        if !self.tls && !self.cfg.loopback {
            return self.fail_all(Status::Temporary, "AUTH refused over plaintext (RFC 4954 §4)", true);
        }
        if self.caps.has_auth("PLAIN") {
            let blob = Secret::new(base64::encode(plain_blob(auth).expose(), true).into_bytes());
            self.auth_plain(blob);
        } else if self.caps.has_auth("LOGIN") {
            self.send(b"AUTH LOGIN\r\n".to_vec());
            self.phase = Phase::LoginUser;
            self.arm(self.cfg.timeouts.command_ms);
        } else {
            self.fail_all(Status::Temporary, "the server offers neither AUTH PLAIN nor LOGIN", true);
        }
    }

    /// RFC 3207 §4: 220 → handshake; otherwise plaintext (opportunistic) or failure.
    fn on_starttls(&mut self, r: &Reply) {
        if r.code == 220 {
            self.framer.reset();
            self.out.push_back(Event::StartTls);
            self.phase = Phase::AwaitTls;
            self.due = None;
        } else if !matches!(r.class(), 4 | 5) {
            self.protocol_error(&format!("unexpected reply to STARTTLS: {r}"));
        } else if self.cfg.tls == TlsMode::Required {
            self.fail_all(Status::Temporary, &format!("STARTTLS refused and TLS is required: {r}"), true);
        } else {
            // RFC 7435 §1.2: opportunistic security falls back to plaintext.
            self.tls_refused = true;
            self.after_ehlo();
        }
    }

    /// RFC 4954 §4 initial response: `AUTH PLAIN base64(\0user\0pass)`.
    fn auth_plain(&mut self, blob: Secret) {
        let line = [b"AUTH PLAIN ", blob.expose(), b"\r\n"].concat();
        self.out.push_back(Event::SendSecret(Secret::new(line)));
        self.phase = Phase::Auth;
        self.arm(self.cfg.timeouts.command_ms);
    }

    /// draft-murchison-sasl-login §2: user name after the first 334, password after the second.
    fn login_step(&mut self, password: bool) {
        let Some(auth) = self.cfg.auth.as_ref() else { return self.protocol_error("AUTH without credentials") };
        let field = if password { auth.password.expose() } else { auth.user.as_bytes() };
        let line = [base64::encode(field, true).as_bytes(), b"\r\n"].concat();
        self.out.push_back(Event::SendSecret(Secret::new(line)));
        self.phase = if password { Phase::Auth } else { Phase::LoginPass };
        self.arm(self.cfg.timeouts.command_ms);
    }

    fn auth_refused(&mut self, r: &Reply) {
        match class_status(r) {
            Some(Status::Temporary | Status::Permanent) => {
                self.fail_all(Status::Temporary, &format!("AUTH failed: {r}"), true)
            }
            _ => self.protocol_error(&format!("unexpected reply to AUTH: {r}")),
        }
    }

    /// Checks what the message needs against what the server offers, then MAIL/RCPT/DATA.
    fn start_transaction(&mut self) {
        if let Some(why) = self.unmet_need() {
            return self.fail_all(Status::Permanent, &why, true);
        }
        self.todo.push_back(Cmd::Mail);
        let pending = self.rcpts.iter().enumerate().filter(|(_, r)| **r == Rcpt::Pending);
        self.todo.extend(pending.map(|(i, _)| Cmd::Rcpt(i)).collect::<Vec<_>>());
        self.todo.push_back(Cmd::Data);
        self.phase = Phase::Transaction;
        self.pump();
    }

    /// A requirement of the message the server cannot meet (all permanent).
    fn unmet_need(&self) -> Option<String> {
        if self.needs_utf8() && !self.caps.smtputf8 {
            return Some("the envelope needs SMTPUTF8 and the server does not offer it (RFC 6531 §3.4)".into());
        }
        if self.env.eight_bit && !self.caps.eight_bit_mime {
            return Some("8-bit message and the server does not offer 8BITMIME (RFC 6152 §3)".into());
        }
        match self.caps.size {
            Some(max) if max > 0 && self.env.size > max => {
                Some(format!("message of {} octets exceeds the server's SIZE {max} (RFC 1870 §6)", self.env.size))
            }
            _ => None,
        }
    }

    /// Sends what may be sent now: everything with PIPELINING (RFC 2920 §3.1), else one.
    fn pump(&mut self) {
        let mut bytes = Vec::new();
        while let Some(&cmd) = self.todo.front() {
            if !self.caps.pipelining && !self.inflight.is_empty() {
                break;
            }
            self.todo.pop_front();
            bytes.extend_from_slice(&self.command(cmd));
            self.inflight.push_back(cmd);
        }
        if !bytes.is_empty() {
            self.send(bytes);
        }
        self.arm_for_inflight();
    }

    fn arm_for_inflight(&mut self) {
        let t = self.cfg.timeouts;
        match self.inflight.front() {
            Some(Cmd::Mail) => self.arm(t.mail_ms),
            Some(Cmd::Rcpt(_)) => self.arm(t.rcpt_ms),
            Some(Cmd::Data) => self.arm(t.data_init_ms),
            None => {}
        }
    }

    /// The command line for `cmd`, with MAIL parameters as offered (RFC 1870, 6152, 6531).
    fn command(&self, cmd: Cmd) -> Vec<u8> {
        let mut line = match cmd {
            Cmd::Mail => format!("MAIL FROM:<{}>", self.env.mail_from),
            Cmd::Rcpt(i) => format!("RCPT TO:<{}>", self.env.rcpts.get(i).map_or("", String::as_str)),
            Cmd::Data => "DATA".into(),
        };
        if cmd == Cmd::Mail {
            if self.caps.size.is_some() {
                line.push_str(&format!(" SIZE={}", self.env.size));
            }
            if self.env.eight_bit {
                line.push_str(" BODY=8BITMIME");
            }
            if self.caps.smtputf8 && self.needs_utf8() {
                line.push_str(" SMTPUTF8");
            }
        }
        line.push_str("\r\n");
        line.into_bytes()
    }

    fn needs_utf8(&self) -> bool {
        self.env.smtputf8 || !self.env.mail_from.is_ascii() || self.env.rcpts.iter().any(|r| !r.is_ascii())
    }

    /// One reply of the transaction, matched to the oldest command in flight.
    fn on_tx_reply(&mut self, r: Reply) {
        let Some(cmd) = self.inflight.pop_front() else {
            return self.protocol_error(&format!("reply without a command: {r}"));
        };
        let Some(status) = class_status(&r).filter(|_| r.class() != 3 || cmd == Cmd::Data) else {
            return self.protocol_error(&format!("unexpected reply to {cmd:?}: {r}"));
        };
        match cmd {
            Cmd::Mail => self.on_mail(status, &r),
            Cmd::Rcpt(i) => self.on_rcpt(i, status, &r),
            Cmd::Data => return self.on_data(&r),
        }
        if self.phase == Phase::Transaction {
            self.pump();
        }
    }

    fn on_mail(&mut self, status: Status, r: &Reply) {
        if status == Status::Delivered {
            return;
        }
        self.mail_failed = true;
        let why = format!("MAIL refused: {r}");
        self.settle(|s| *s == Rcpt::Pending, status, &why);
        if !self.caps.pipelining {
            self.todo.clear();
            self.quit();
        }
    }

    fn on_rcpt(&mut self, i: usize, status: Status, r: &Reply) {
        if self.mail_failed {
            return;
        }
        if let Some(rcpt) = self.rcpts.get_mut(i) {
            *rcpt = match status {
                Status::Delivered => Rcpt::Accepted,
                other => Rcpt::Final(other, r.to_string()),
            };
        }
        // Without pipelining, DATA is sent only if a recipient was accepted.
        if !self.caps.pipelining && self.todo.front() == Some(&Cmd::Data) && !self.any_accepted() {
            self.todo.clear();
            self.quit();
        }
    }

    /// DATA's reply: 354 → body (or a lone `.` when nobody was accepted, RFC 2920 §3.1).
    fn on_data(&mut self, r: &Reply) {
        if r.code == 354 && self.any_accepted() {
            self.phase = Phase::Body;
            self.out.push_back(Event::SendMessage);
            return self.arm(self.cfg.timeouts.data_block_ms);
        }
        if r.code == 354 {
            self.send(b".\r\n".to_vec());
            self.phase = Phase::DataEnd { empty: true };
            return self.arm(self.cfg.timeouts.data_term_ms);
        }
        match class_status(r) {
            Some(s @ (Status::Temporary | Status::Permanent)) => {
                self.settle(|s| *s == Rcpt::Accepted, s, &format!("DATA refused: {r}"));
                self.quit();
            }
            _ => self.protocol_error(&format!("unexpected reply to DATA: {r}")),
        }
    }

    /// RFC 5321 §4.1.1.4: the reply to `.` applies to every accepted recipient.
    fn on_data_end(&mut self, empty: bool, r: &Reply) {
        match class_status(r).filter(|_| r.class() != 3) {
            Some(_) if empty => self.quit(),
            Some(status) => {
                self.settle(|s| *s == Rcpt::Accepted, status, &r.to_string());
                self.quit();
            }
            None => self.protocol_error(&format!("unexpected reply to end of data: {r}")),
        }
    }

    fn any_accepted(&self) -> bool {
        self.rcpts.contains(&Rcpt::Accepted)
    }

    /// Gives every recipient matching `which` its final status.
    fn settle(&mut self, which: impl Fn(&Rcpt) -> bool, status: Status, why: &str) {
        for r in self.rcpts.iter_mut().filter(|r| which(r)) {
            *r = Rcpt::Final(status, why.to_owned());
        }
    }

    fn quit(&mut self) {
        self.send(b"QUIT\r\n".to_vec());
        self.phase = Phase::Quit;
        self.arm(self.cfg.timeouts.command_ms);
    }

    /// Ends the session: every unsettled recipient gets `status`; `polite` says QUIT first.
    fn fail_all(&mut self, status: Status, why: &str, polite: bool) {
        self.error.get_or_insert_with(|| why.to_owned());
        self.settle(|s| !matches!(s, Rcpt::Final(..)), status, why);
        if polite {
            self.quit();
        } else {
            self.finish();
        }
    }

    /// Garbage from the server: the stream is out of step, close without QUIT.
    fn protocol_error(&mut self, what: &str) {
        if self.phase == Phase::Quit {
            return self.finish(); // every recipient is settled: the reply to QUIT is moot
        }
        self.fail_all(Status::Temporary, &format!("protocol error: {what}"), false);
    }

    fn timed_out(&mut self) {
        let what = match self.phase {
            Phase::Quit => return self.finish(),
            Phase::Body => "sending the message",
            _ => "waiting for a reply",
        };
        self.fail_all(Status::Temporary, &format!("timeout {what} (RFC 5321 §4.5.3.2)"), false);
    }

    fn finish(&mut self) {
        let why = self.error.clone().unwrap_or_else(|| "session ended before the end of data".into());
        let rcpts = self.env.rcpts.iter().zip(&self.rcpts);
        let rcpts = rcpts.map(|(addr, r)| match r {
            Rcpt::Final(status, reply) => RcptResult { rcpt: addr.clone(), status: *status, reply: reply.clone() },
            _ => RcptResult { rcpt: addr.clone(), status: Status::Temporary, reply: why.clone() },
        });
        let outcome = Outcome {
            rcpts: rcpts.collect(),
            tls: self.tls,
            pipelining: self.caps.pipelining,
            error: self.error.clone(),
        };
        self.out.push_back(Event::Done(outcome));
        self.phase = Phase::Done;
        self.due = None;
    }
}

/// RFC 5321 §4.2.1 reply classes; 3xx counts as success where an intermediate reply is due.
fn class_status(r: &Reply) -> Option<Status> {
    match r.class() {
        2 | 3 => Some(Status::Delivered),
        4 => Some(Status::Temporary),
        5 => Some(Status::Permanent),
        _ => None,
    }
}

/// A path we can put between angle brackets: no controls, spaces or brackets, within
/// [`PATH_MAX`]; the reverse-path may be empty (RFC 5321 §4.1.1.2 null sender).
fn check_path(path: &str, reverse: bool) -> Rcpt {
    let bad_byte = path.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>' || b == 0x7f);
    if bad_byte || path.len() > PATH_MAX || (path.is_empty() && !reverse) {
        return Rcpt::Final(Status::Permanent, format!("invalid address <{}>", path.escape_debug()));
    }
    Rcpt::Pending
}

/// RFC 4616 §2: `authzid NUL authcid NUL passwd`, with an empty authzid.
fn plain_blob(a: &Credentials) -> Secret {
    Secret::new([b"\0", a.user.as_bytes(), b"\0", a.password.expose()].concat())
}
