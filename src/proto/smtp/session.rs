//! The SMTP session state machine (RFC 5321 §4.1.4 command order, §4.3.2 replies,
//! RFC 2920 §3.1 pipelining, RFC 3207 §4.2 STARTTLS reset, RFC 4954 AUTH and RFC 6409
//! submission rules). "Is this command allowed now?" is decided in [`Session::command`];
//! "do it" lives in the `do_*` functions.

use std::collections::VecDeque;
use std::sync::Arc;

use super::address::{self, AddrError, Destination};
use super::command::{self, Command, CommandError, MailParams};
use super::data::{DataRx, Refusal, Step};
use super::reply::{self, Reply};
use super::{trace, DeliverError, Envelope, Event, PeerInfo, Policy, Recipient, TlsInfo};
use super::{RecipientCheck, RecipientVerdict, Refused};
use super::{AUTH_LINE_MAX, COMMAND_LINE_MAX, MAX_AUTH_FAILURES, MAX_ERRORS, MAX_LONG_LINES};
use super::{MAX_REFUSED_RCPTS, OUTBOX_MAX};
use super::{TARPIT_BASE_MS, TARPIT_MAX_MS};
use crate::auth::{base64, decode_plain, SaslError, Secret, SASL_FIELD_MAX};
use crate::proto::line::{Frame, LineFramer};
use crate::proto::AuthOutcome;

/// Queued output: an event, or a tarpit pause before the next one.
#[derive(Debug)]
enum Out {
    Event(Event),
    /// Hold the following output for `ms`; `until` is fixed at the first poll.
    Hold {
        ms: u64,
        until: Option<u64>,
    },
}

#[derive(Debug)]
enum Phase {
    Command,
    Data(DataRx),
    AwaitDelivery,
    AwaitTls,
    /// A SASL exchange waits for the client's next response line (RFC 4954 §4).
    Sasl(Sasl),
    /// The driver checks credentials ([`Event::CheckCredentials`]).
    AwaitAuth(String),
    /// The driver judges this recipient ([`Event::CheckRecipient`]).
    AwaitRecipient(Recipient),
    Closed,
}

/// Where a SASL exchange is.
#[derive(Debug)]
enum Sasl {
    /// PLAIN without an initial response: `334 ` was sent.
    Plain,
    /// LOGIN: `334 VXNlcm5hbWU6` ("Username:") was sent.
    LoginUser,
    /// LOGIN: `334 UGFzc3dvcmQ6` ("Password:") was sent for this user.
    LoginPass(String),
}

/// The open transaction after MAIL (RFC 5321 §3.3).
#[derive(Debug)]
struct Transaction {
    from: String,
    params: MailParams,
    rcpts: Vec<Recipient>,
}

/// One SMTP connection's protocol state. See the module documentation for the driver loop.
#[derive(Debug)]
pub struct Session {
    policy: Arc<Policy>,
    peer: PeerInfo,
    tls: Option<TlsInfo>,
    framer: LineFramer,
    phase: Phase,
    /// EHLO/HELO argument and whether it was EHLO.
    helo: Option<(String, bool)>,
    tx: Option<Transaction>,
    out: VecDeque<Out>,
    started_ms: u64,
    last_line_ms: u64,
    /// A line completed since the last poll (refreshes the command deadline).
    active: bool,
    errors: u32,
    long_lines: u32,
    refused_rcpts: u32,
    /// The user after a successful AUTH (submission).
    authenticated: Option<String>,
    auth_failures: u32,
}

/// What `feed` does with the rest of the offered bytes after a frame.
enum After {
    Continue,
    DiscardRest,
}

impl Session {
    /// A new session; queues the 220 greeting (RFC 5321 §4.3.1).
    pub fn new(policy: Arc<Policy>, peer: PeerInfo, now_ms: u64) -> Self {
        let mut s = Session {
            framer: LineFramer::new(COMMAND_LINE_MAX),
            tls: None,
            phase: Phase::Command,
            helo: None,
            tx: None,
            out: VecDeque::new(),
            started_ms: now_ms,
            last_line_ms: now_ms,
            active: false,
            errors: 0,
            long_lines: 0,
            refused_rcpts: 0,
            authenticated: None,
            auth_failures: 0,
            peer,
            policy,
        };
        s.framer.set_limit(s.command_limit());
        s.send(reply::greeting(&s.policy.hostname));
        s
    }

    /// Consumes bytes up to the next point where the driver must act; returns the count.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut used = 0;
        while !self.paused() {
            let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) else {
                break;
            };
            let (n, frame) = self.framer.push(rest);
            used += n;
            let Some(frame) = frame else { break };
            self.active = true;
            let more = used < input.len();
            if let After::DiscardRest = self.frame(frame, more) {
                return input.len();
            }
        }
        used
    }

    /// The next event, if any is due at `now_ms`. Emits 421 + Close past a deadline.
    pub fn poll(&mut self, now_ms: u64) -> Option<Event> {
        if std::mem::take(&mut self.active) {
            self.last_line_ms = now_ms;
        }
        if self.timeout().is_some_and(|t| now_ms >= t) {
            self.time_out();
        }
        loop {
            match self.out.front_mut()? {
                Out::Hold { until: Some(t), .. } if now_ms < *t => return None,
                Out::Hold { ms, until: until @ None } => *until = Some(now_ms.saturating_add(*ms)),
                Out::Hold { .. } => drop(self.out.pop_front()),
                Out::Event(_) => match self.out.pop_front() {
                    Some(Out::Event(e)) => return Some(e),
                    _ => return None,
                },
            }
        }
    }

    /// When the driver must call `poll` even without input (ms), if ever.
    pub fn deadline(&self) -> Option<u64> {
        let hold = match self.out.front() {
            // Not yet anchored: poll now, which starts the hold.
            Some(Out::Hold { until, .. }) => Some(until.unwrap_or(0)),
            _ => None,
        };
        [hold, self.timeout()].into_iter().flatten().min()
    }

    /// The driver's answer to [`Event::MessageEnd`]: the uid stored, or why not.
    /// Ignored unless a message is waiting for it.
    pub fn delivered(&mut self, result: Result<u32, DeliverError>) {
        self.judged(result.map_err(Refused::Store));
    }

    /// [`Session::delivered`] with a policy refusal too (`550 5.7.1`, DMARC p=reject).
    pub fn judged(&mut self, result: Result<u32, Refused>) {
        if !matches!(self.phase, Phase::AwaitDelivery) {
            return;
        }
        let bytes = match result {
            Ok(uid) => reply::stored(uid),
            Err(Refused::Store(DeliverError::Temporary)) => reply::TEMP_FAIL.to_bytes(),
            Err(Refused::Store(DeliverError::NoSpace)) => reply::NO_SPACE.to_bytes(),
            Err(Refused::Store(DeliverError::TooBig)) => reply::TOO_BIG.to_bytes(),
            Err(Refused::Policy(text)) => reply::line(550, "5.7.1", &text),
        };
        self.send(bytes);
        self.end_transaction();
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded; the client must EHLO again.
    /// On an implicit-TLS port (465, `PeerInfo::is_tls`) the driver calls it once at the
    /// start with the parameters for `Received:`.
    pub fn tls_started(&mut self, info: TlsInfo) {
        if matches!(self.phase, Phase::AwaitTls) {
            self.tls = Some(info);
            self.peer.is_tls = true;
            self.phase = Phase::Command;
        } else if self.peer.is_tls && self.tls.is_none() {
            self.tls = Some(info);
        }
    }

    /// `Return-Path:` and `Received:` for `envelope`, stamped with `unix_secs`.
    pub fn trace_headers(&self, envelope: &Envelope, unix_secs: u64) -> Vec<u8> {
        trace::trace_headers(&self.policy, &self.peer, self.tls.as_ref(), envelope, unix_secs)
    }

    fn paused(&self) -> bool {
        let waiting = matches!(
            self.phase,
            Phase::AwaitDelivery | Phase::AwaitTls | Phase::AwaitAuth(_) | Phase::AwaitRecipient(_) | Phase::Closed
        );
        let mut reply_bytes = 0;
        let blocked = self.out.iter().any(|o| match o {
            Out::Event(Event::Reply(b)) => {
                reply_bytes += b.len();
                false
            }
            _ => true,
        });
        waiting || blocked || reply_bytes > OUTBOX_MAX
    }

    /// The command or session deadline while we wait for the client.
    fn timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::Command | Phase::Data(_) | Phase::Sasl(_) => {
                let command = self.last_line_ms.saturating_add(self.policy.command_timeout_ms);
                let session = self.started_ms.saturating_add(self.policy.session_timeout_ms);
                Some(command.min(session))
            }
            _ => None,
        }
    }

    /// RFC 5321 §4.5.3.2: the client was too slow.
    fn time_out(&mut self) {
        let text = reply::closing(&self.policy.hostname, "4.4.2", "Timeout, closing connection");
        self.close(text);
    }

    fn frame(&mut self, frame: Frame, more: bool) -> After {
        match (frame, &mut self.phase) {
            (Frame::BareLf | Frame::BareCr, _) => {
                self.close(reply::BARE_NEWLINE.to_bytes());
                After::Continue
            }
            (Frame::Line, Phase::Data(_)) => {
                self.data_line();
                After::Continue
            }
            (Frame::Line, Phase::Sasl(_)) => {
                self.sasl_line();
                After::Continue
            }
            (Frame::TooLong, Phase::Sasl(_)) => {
                self.phase = Phase::Command;
                self.auth_failed(reply::AUTH_LINE_TOO_LONG);
                After::Continue
            }
            (Frame::TooLong, Phase::Data(rx)) => {
                if rx.too_long() == Step::Refused {
                    self.push(Event::MessageAborted);
                }
                After::Continue
            }
            (Frame::TooLong, _) => {
                self.long_line();
                After::Continue
            }
            (Frame::Line, _) => self.command_line(more),
        }
    }

    fn long_line(&mut self) {
        self.long_lines += 1;
        self.send(reply::LINE_TOO_LONG.to_bytes());
        if self.long_lines >= MAX_LONG_LINES {
            self.too_many_errors();
        }
    }

    /// One DATA line from the framer's buffer.
    fn data_line(&mut self) {
        let Phase::Data(rx) = &mut self.phase else {
            return;
        };
        let step = rx.line(self.framer.line());
        let at_end = if step == Step::End { rx.missing_at_end() } else { None };
        if rx.has_header_end() {
            // RFC 6409 §8: the driver adds the missing fields here, before the empty line.
            let before = rx.take_chunk(true);
            let missing = rx.take_header_end().unwrap_or_default();
            self.out.extend(before.map(|b| Out::Event(Event::MessageData(b))));
            self.out.push_back(Out::Event(Event::HeaderFixups(missing)));
        }
        let Phase::Data(rx) = &mut self.phase else {
            return;
        };
        let chunk = rx.take_chunk(step == Step::End);
        let refusal = rx.refusal();
        if let Some(chunk) = chunk {
            self.push(Event::MessageData(chunk));
        }
        if let Some(missing) = at_end {
            self.push(Event::HeaderFixups(missing));
        }
        match step {
            Step::Continue => {}
            Step::Refused => self.push(Event::MessageAborted),
            Step::End => self.end_of_data(refusal),
        }
    }

    /// RFC 5321 §4.1.1.4: after the final dot, commit or report the refusal.
    fn end_of_data(&mut self, refusal: Option<Refusal>) {
        self.framer.set_limit(self.command_limit());
        let Some(refusal) = refusal else {
            self.push(Event::MessageEnd);
            self.phase = Phase::AwaitDelivery;
            return;
        };
        let r = match refusal {
            Refusal::TooBig => reply::TOO_BIG,
            Refusal::LineTooLong => reply::DATA_LINE_TOO_LONG,
            Refusal::Loop => reply::LOOP,
        };
        self.send(r.to_bytes());
        self.end_transaction();
    }

    fn end_transaction(&mut self) {
        self.tx = None;
        self.phase = Phase::Command;
    }

    /// Command lines are 512 octets (RFC 5321 §4.5.3.1.4), but on a submission listener
    /// before AUTH they may carry a PLAIN initial response (RFC 4954 §4).
    fn command_limit(&self) -> usize {
        if self.policy.submission && self.authenticated.is_none() {
            AUTH_LINE_MAX
        } else {
            COMMAND_LINE_MAX
        }
    }

    fn command_line(&mut self, more: bool) -> After {
        let line = self.framer.line();
        if memchr::memchr(0, line).is_some() {
            self.error(reply::NUL_BYTE);
            return After::Continue;
        }
        let utf8 = self.tx.as_ref().is_some_and(|t| t.params.smtputf8);
        match command::command(line, utf8) {
            Ok(cmd) => self.command(cmd, more),
            Err(e) => {
                self.command_error(e);
                After::Continue
            }
        }
    }

    /// RFC 5321 §4.1.4 order rules: which command is allowed in which state.
    fn command(&mut self, cmd: Command, more: bool) -> After {
        let sequence_error = match (&cmd, &self.helo, &self.tx) {
            (Command::Mail { .. }, None, _) => Some(reply::NEED_HELO),
            (Command::Mail { .. }, _, Some(_)) => Some(reply::NESTED_MAIL),
            (Command::Rcpt { .. }, _, None) => Some(reply::NEED_MAIL),
            (Command::Data, _, None) => Some(reply::NEED_MAIL),
            (Command::Data, _, Some(tx)) if tx.rcpts.is_empty() => Some(reply::NEED_RCPT),
            (Command::StartTls, ..) if self.peer.is_tls => Some(reply::TLS_ACTIVE),
            (Command::StartTls, ..) if !self.policy.tls_available => Some(reply::NO_TLS),
            (Command::Auth { .. }, ..) if !self.policy.submission => Some(reply::AUTH_NOT_ENABLED),
            (Command::Auth { .. }, None, _) => Some(reply::NEED_HELO),
            (Command::Auth { .. }, _, Some(_)) => Some(reply::AUTH_IN_MAIL),
            (Command::Auth { .. }, ..) if self.authenticated.is_some() => Some(reply::AUTH_AGAIN),
            (Command::Mail { .. }, ..) if self.policy.submission && self.authenticated.is_none() => {
                Some(reply::AUTH_REQUIRED)
            }
            _ => None,
        };
        if let Some(r) = sequence_error {
            self.error(r);
            return After::Continue;
        }
        self.do_command(cmd, more)
    }

    fn do_command(&mut self, cmd: Command, more: bool) -> After {
        match cmd {
            Command::Ehlo(name) => self.do_hello(name, true),
            Command::Helo(name) => self.do_hello(name, false),
            Command::Mail { from, params } => self.do_mail(from, params),
            Command::Rcpt { to } => self.do_rcpt(to),
            Command::Data => self.do_data(more),
            Command::StartTls => return self.do_starttls(),
            Command::Auth { mechanism, initial } => self.do_auth(&mechanism, initial),
            Command::Rset => {
                self.tx = None;
                self.send(reply::OK.to_bytes());
            }
            Command::Noop => self.send(reply::OK.to_bytes()),
            Command::Vrfy => self.send(reply::VRFY.to_bytes()),
            Command::Help => self.send(reply::HELP.to_bytes()),
            Command::Quit => self.close(reply::BYE.to_bytes()),
            Command::NotImplemented => self.error(reply::NOT_IMPLEMENTED),
        }
        After::Continue
    }

    /// RFC 5321 §4.1.4: EHLO/HELO resets the transaction.
    fn do_hello(&mut self, name: String, esmtp: bool) {
        self.tx = None;
        self.helo = Some((name, esmtp));
        let host = &self.policy.hostname;
        let bytes = if esmtp {
            let offer_tls = self.policy.tls_available && !self.peer.is_tls;
            let offer_auth = self.policy.submission && self.authenticated.is_none() && self.may_send_password();
            reply::ehlo(host, self.policy.max_message_size, offer_tls, offer_auth)
        } else {
            reply::helo(host)
        };
        self.send(bytes);
    }

    /// RFC 5321 §4.1.1.2 and RFC 1870 §6.1: refuse a declared size over the limit now.
    fn do_mail(&mut self, from: Option<address::Mailbox>, params: MailParams) {
        if params.size.is_some_and(|s| s > self.policy.max_message_size) {
            self.send(reply::TOO_BIG.to_bytes());
            return;
        }
        // RFC 6409 §4.3 / §8: an authenticated sender may only use the owner's addresses.
        let owned =
            from.as_ref().is_none_or(|m| matches!(address::destination(m, &self.policy), Destination::Local { .. }));
        if self.authenticated.is_some() && !owned {
            self.error(reply::NOT_YOUR_SENDER);
            return;
        }
        let from = from.map(|m| m.text).unwrap_or_default();
        self.tx = Some(Transaction { from, params, rcpts: Vec::new() });
        self.send(reply::SENDER_OK.to_bytes());
    }

    /// RFC 5321 §4.1.1.3 and §4.5.3.1.10: judge one recipient.
    fn do_rcpt(&mut self, to: address::Mailbox) {
        let Some(tx) = self.tx.as_mut() else { return };
        if tx.rcpts.len() >= self.policy.max_recipients {
            self.send(reply::TOO_MANY_RCPTS.to_bytes());
            return;
        }
        match address::destination(&to, &self.policy) {
            Destination::Local { tag } if self.policy.check_recipients && self.authenticated.is_none() => {
                let check = RecipientCheck {
                    mail_from: tx.from.clone(),
                    rcpt: to.text.clone(),
                    helo: self.helo.as_ref().map(|h| h.0.clone()).unwrap_or_default(),
                };
                self.phase = Phase::AwaitRecipient(Recipient { address: to.text, tag, remote: false });
                self.push(Event::CheckRecipient(check));
            }
            Destination::Local { tag } => {
                tx.rcpts.push(Recipient { address: to.text, tag, remote: false });
                self.send(reply::RCPT_OK.to_bytes());
            }
            Destination::UnknownUser => self.refuse_rcpt(reply::UNKNOWN_USER),
            // RFC 6409 §3.3: the submission server sends on for its authenticated user.
            Destination::Relay if self.authenticated.is_some() && self.policy.relay_after_auth => {
                tx.rcpts.push(Recipient { address: to.text, tag: None, remote: true });
                self.send(reply::RCPT_OK.to_bytes());
            }
            Destination::Relay if self.authenticated.is_some() => self.error(reply::NO_RELAY_YET),
            Destination::Relay => self.refuse_rcpt(reply::RELAY_DENIED),
        }
    }

    /// BAD-INPUTS 11: a growing delay before each refusal, then 421 and close.
    fn refuse_rcpt(&mut self, r: Reply) {
        self.refused_rcpts += 1;
        let shift = self.refused_rcpts.saturating_sub(1).min(16);
        let ms = TARPIT_BASE_MS.saturating_mul(1 << shift).min(TARPIT_MAX_MS);
        self.out.push_back(Out::Hold { ms, until: None });
        self.send(r.to_bytes());
        if self.refused_rcpts >= MAX_REFUSED_RCPTS {
            let text = "Too many refused recipients";
            self.close(reply::closing(&self.policy.hostname, "4.7.0", text));
        }
    }

    /// RFC 5321 §4.1.1.4 with the RFC 2920 §3.1 rule that DATA ends a pipelined group.
    fn do_data(&mut self, more: bool) {
        if more {
            self.close(reply::PIPELINING.to_bytes());
            return;
        }
        let Some(tx) = self.tx.as_ref() else { return };
        let (helo, esmtp) = self.helo.clone().unwrap_or_default();
        let envelope = Envelope {
            mail_from: tx.from.clone(),
            rcpts: tx.rcpts.clone(),
            helo,
            esmtp,
            size_hint: tx.params.size,
            smtputf8: tx.params.smtputf8,
            body_8bit: tx.params.body_8bit,
            auth_user: self.authenticated.clone(),
        };
        self.push(Event::MessageBegin(envelope));
        self.send(reply::DATA_GO.to_vec());
        self.framer.set_limit(self.policy.smtp_line);
        let max = self.policy.max_message_size;
        let fix = self.policy.submission && self.authenticated.is_some();
        self.phase = Phase::Data(if fix { DataRx::with_fixups(max) } else { DataRx::new(max) });
    }

    /// RFC 3207 §4.2: reply, forget everything buffered and all EHLO/MAIL state.
    fn do_starttls(&mut self) -> After {
        self.send(reply::TLS_GO.to_bytes());
        self.push(Event::StartTls);
        self.framer.reset();
        self.helo = None;
        self.tx = None;
        self.phase = Phase::AwaitTls;
        After::DiscardRest
    }

    /// RFC 8314 §3 / RFC 2595 §3.2: a password travels only over TLS, unless the config
    /// allows plaintext (everywhere, or from loopback).
    fn may_send_password(&self) -> bool {
        self.peer.is_tls
            || self.policy.allow_plaintext_auth
            || (self.policy.loopback_plaintext && self.peer.ip.is_loopback())
    }

    /// RFC 4954 §4: starts a PLAIN or LOGIN exchange.
    fn do_auth(&mut self, mechanism: &str, initial: Option<Vec<u8>>) {
        if !self.may_send_password() {
            self.error(reply::AUTH_NEEDS_TLS);
            return;
        }
        match (mechanism, initial) {
            ("PLAIN", Some(resp)) => self.plain_response(&resp),
            ("PLAIN", None) => self.challenge(Sasl::Plain, ""),
            ("LOGIN", Some(user)) => self.login_user(&user),
            ("LOGIN", None) => self.challenge(Sasl::LoginUser, "VXNlcm5hbWU6"),
            _ => self.error(reply::AUTH_MECH),
        }
    }

    fn challenge(&mut self, next: Sasl, text: &str) {
        self.send(reply::challenge(text));
        self.framer.set_limit(AUTH_LINE_MAX);
        self.phase = Phase::Sasl(next);
    }

    /// A client response line of a SASL exchange; `*` cancels it (RFC 4954 §4).
    fn sasl_line(&mut self) {
        let line = self.framer.line().to_vec();
        let Phase::Sasl(step) = std::mem::replace(&mut self.phase, Phase::Command) else { return };
        if line == b"*" {
            self.error(reply::AUTH_CANCELLED);
            return;
        }
        match step {
            Sasl::Plain => self.plain_response(&line),
            Sasl::LoginUser => self.login_user(&line),
            Sasl::LoginPass(user) => match base64::decode(&line) {
                Ok(pass) if !pass.is_empty() && pass.len() <= SASL_FIELD_MAX => {
                    self.check(user, Secret::new(pass));
                }
                _ => self.auth_failed(reply::AUTH_BASE64),
            },
        }
    }

    /// RFC 4616 §2: `[authzid] NUL authcid NUL passwd`; an authzid other than the authcid
    /// is refused (we act for no one else).
    fn plain_response(&mut self, resp: &[u8]) {
        match decode_plain(resp) {
            Ok(c) if c.authzid.as_ref().is_none_or(|z| *z == c.authcid) => self.check(c.authcid, c.passwd),
            Ok(_) => self.auth_failed(reply::AUTH_BAD),
            Err(SaslError::Base64) => self.auth_failed(reply::AUTH_BASE64),
            Err(_) => self.auth_failed(reply::AUTH_BAD),
        }
    }

    fn login_user(&mut self, b64: &[u8]) {
        match base64::decode(b64).ok().and_then(|u| String::from_utf8(u).ok()) {
            Some(user) if !user.is_empty() && user.len() <= SASL_FIELD_MAX => {
                self.challenge(Sasl::LoginPass(user), "UGFzc3dvcmQ6");
            }
            _ => self.auth_failed(reply::AUTH_BASE64),
        }
    }

    fn check(&mut self, user: String, pass: Secret) {
        self.framer.set_limit(self.command_limit());
        self.push(Event::CheckCredentials { user: user.clone(), pass });
        self.phase = Phase::AwaitAuth(user);
    }

    /// The driver's answer to [`Event::CheckRecipient`]. A refusal counts towards
    /// [`MAX_REFUSED_RCPTS`] like an unknown user (no tarpit: the client did nothing wrong
    /// by asking, and a DNSBL-listed host is told at once).
    pub fn recipient_checked(&mut self, verdict: RecipientVerdict) {
        let Phase::AwaitRecipient(rcpt) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        match verdict {
            RecipientVerdict::Accept => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.rcpts.push(rcpt);
                }
                self.send(reply::RCPT_OK.to_bytes());
            }
            RecipientVerdict::Defer(text) => self.send(reply::line(451, "4.7.1", &text)),
            RecipientVerdict::Refuse(text) => {
                self.refused_rcpts += 1;
                self.send(reply::line(554, "5.7.1", &text));
                if self.refused_rcpts >= MAX_REFUSED_RCPTS {
                    let text = "Too many refused recipients";
                    self.close(reply::closing(&self.policy.hostname, "4.7.0", text));
                }
            }
        }
    }

    /// The driver's answer to [`Event::CheckCredentials`].
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        let Phase::AwaitAuth(user) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        match outcome {
            AuthOutcome::Ok => {
                self.authenticated = Some(user);
                self.framer.set_limit(self.command_limit());
                self.send(reply::AUTH_OK.to_bytes());
            }
            AuthOutcome::Bad => self.auth_failed(reply::AUTH_BAD),
            AuthOutcome::Throttled(_) | AuthOutcome::InUse | AuthOutcome::Unavailable => {
                self.send(reply::AUTH_TEMP.to_bytes());
            }
        }
    }

    /// A failed AUTH: the reply, and after [`MAX_AUTH_FAILURES`] the connection closes.
    fn auth_failed(&mut self, r: Reply) {
        self.framer.set_limit(self.command_limit());
        self.auth_failures += 1;
        self.send(r.to_bytes());
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.close(reply::closing(&self.policy.hostname, "4.7.0", "Too many failed authentications"));
        }
    }

    fn command_error(&mut self, e: CommandError) {
        let r = match e {
            CommandError::Unrecognized => reply::UNRECOGNIZED,
            CommandError::Syntax => reply::SYNTAX,
            CommandError::BadHelo => reply::BAD_HELO,
            CommandError::BadParam => reply::BAD_PARAM,
            CommandError::UnknownParam => reply::UNKNOWN_PARAM,
            CommandError::Sender(AddrError::Syntax) => reply::BAD_SENDER,
            CommandError::Sender(AddrError::TooLong) => reply::LONG_SENDER,
            CommandError::Recipient(AddrError::Syntax) => reply::BAD_RCPT,
            CommandError::Recipient(AddrError::TooLong) => reply::LONG_RCPT,
            CommandError::Sender(AddrError::NonAscii) => reply::NON_ASCII,
            CommandError::Recipient(AddrError::NonAscii) => reply::NON_ASCII,
        };
        self.error(r);
    }

    /// A protocol error reply; too many of them end the session.
    fn error(&mut self, r: Reply) {
        self.errors += 1;
        self.send(r.to_bytes());
        if self.errors >= MAX_ERRORS {
            self.too_many_errors();
        }
    }

    fn too_many_errors(&mut self) {
        self.close(reply::closing(&self.policy.hostname, "4.7.0", "Too many errors"));
    }

    /// Final reply then Close; an open message is aborted first.
    fn close(&mut self, bytes: Vec<u8>) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if let Phase::Data(rx) = &self.phase {
            // A refused body already sent MessageAborted.
            if rx.refusal().is_none() {
                self.push(Event::MessageAborted);
            }
        }
        self.send(bytes);
        self.push(Event::Close);
        self.phase = Phase::Closed;
    }

    /// Queues reply bytes, merging with a reply already queued (one write per batch).
    fn send(&mut self, bytes: Vec<u8>) {
        if let Some(Out::Event(Event::Reply(last))) = self.out.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.push(Event::Reply(bytes));
        }
    }

    fn push(&mut self, event: Event) {
        self.out.push_back(Out::Event(event));
    }
}
