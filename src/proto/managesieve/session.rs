//! The ManageSieve session state machine (RFC 5804 §2) and its response encoding (§1.3,
//! §4 `response`). Commands are checked against the state first (`allowed`), then performed.
//! Store work leaves as [`Event::Script`] and comes back through [`Session::script_done`].

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::Arc;

use crate::auth::{decode_plain, Secret};
use crate::config::Config;
use crate::proto::{AuthOutcome, PeerInfo};
use crate::store::scripts::valid_name;

use super::framer::{self, Arg, Parsed, DISCARD_MAX, INPUT_MAX};

/// Idle time before the server closes (RFC 5804 sets none; IMAP's 30 minutes, RFC 3501 §5.4).
pub const IDLE_TIMEOUT_MS: u64 = 30 * 60 * 1_000;
/// Failed logins in one connection before it is closed (the throttle handles the rest).
pub const MAX_AUTH_FAILURES: u32 = 3;
/// Consecutive bad commands before the connection is closed (house style 4).
pub const MAX_ERRORS: u32 = 10;

/// Settings shared by all ManageSieve sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    allow_plaintext_auth: bool,
    loopback_plaintext: bool,
}

impl Policy {
    pub fn new(allow_plaintext_auth: bool, loopback_plaintext: bool) -> Policy {
        Policy { allow_plaintext_auth, loopback_plaintext }
    }

    /// `allow_plaintext_auth` and `loopback_plaintext` from the config, as IMAP and POP3.
    pub fn from_config(config: &Config) -> Policy {
        Policy::new(config.allow_plaintext_auth, config.loopback_plaintext)
    }
}

/// Store work for the driver (`store::scripts::Scripts`); answer with `script_done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    List,
    Get(String),
    Put {
        name: String,
        script: Vec<u8>,
    },
    /// `None`: no script active (SETACTIVE "", RFC 5804 §2.8).
    Activate(Option<String>),
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    HaveSpace {
        name: String,
        size: u64,
    },
}

/// A successful store answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Done,
    List(Vec<(String, bool)>),
    Script(Option<Vec<u8>>),
    Space(bool),
}

/// Why the store refused (mapped to RFC 5804 §1.3 response codes in one place, `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NotFound,
    Active,
    Exists,
    Quota,
    BadName,
    Unavailable,
}

/// The `Failure` of a `store::scripts` error kind.
pub fn failure_of(kind: ErrorKind) -> Failure {
    match kind {
        ErrorKind::NotFound => Failure::NotFound,
        ErrorKind::ResourceBusy => Failure::Active,
        ErrorKind::AlreadyExists => Failure::Exists,
        ErrorKind::QuotaExceeded | ErrorKind::StorageFull => Failure::Quota,
        ErrorKind::InvalidInput => Failure::BadName,
        _ => Failure::Unavailable,
    }
}

/// Output of [`Session::poll`], in order.
#[derive(Debug)]
pub enum Event {
    /// Bytes to write to the client.
    Reply(Vec<u8>),
    /// Flush replies, drop unread plaintext, run the TLS handshake, call `tls_started`.
    StartTls,
    /// Throttle and verify; answer `auth_result`.
    CheckCredentials { user: String, pass: Secret },
    /// Perform on the script store; answer `script_done`.
    Script(Request),
    /// Flush replies and close the connection.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NonAuth,
    /// The `""` continuation was sent after AUTHENTICATE "PLAIN" (RFC 5804 §2.1).
    SaslResponse,
    CheckingCredentials,
    StartingTls,
    Auth,
    /// Waiting for `script_done`; the command is kept to shape the answer.
    Storing(Pending),
    Closed,
}

/// The command whose store request is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    List,
    Get,
    Other,
    HaveSpace,
}

/// One ManageSieve connection. See the module doc for the driver loop.
#[derive(Debug)]
pub struct Session {
    policy: Arc<Policy>,
    peer: PeerInfo,
    state: State,
    input: Vec<u8>,
    /// Bytes of an over-limit literal still to drop.
    skip: u64,
    /// Drop input up to and including the next LF (the rest of a bad command).
    skip_line: bool,
    out: VecDeque<Event>,
    idle_since_ms: u64,
    auth_failures: u32,
    errors: u32,
}

impl Session {
    /// Starts a session; the greeting (the capability list, RFC 5804 §1.7) is the first event.
    pub fn new(policy: Arc<Policy>, peer: PeerInfo, now_ms: u64) -> Session {
        let mut s = Session {
            policy,
            peer,
            state: State::NonAuth,
            input: Vec::new(),
            skip: 0,
            skip_line: false,
            out: VecDeque::new(),
            idle_since_ms: now_ms,
            auth_failures: 0,
            errors: 0,
        };
        s.capability();
        s
    }

    /// Takes client bytes; returns how many (the rest after the next `poll`s).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        if matches!(self.state, State::StartingTls | State::Closed) {
            return data.len();
        }
        let mut used = 0;
        if self.input.is_empty() {
            used = self.discard(data);
        }
        let rest = data.get(used..).unwrap_or(&[]);
        let take = rest.len().min(INPUT_MAX.saturating_sub(self.input.len()));
        self.input.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        used + take
    }

    /// Applies `skip` and `skip_line` to `data`; returns how many bytes were dropped.
    fn discard(&mut self, data: &[u8]) -> usize {
        let n = usize::try_from(self.skip).unwrap_or(usize::MAX).min(data.len());
        self.skip -= n as u64;
        if self.skip > 0 || !self.skip_line {
            return n;
        }
        let rest = data.get(n..).unwrap_or(&[]);
        match memchr::memchr(b'\n', rest) {
            Some(p) => {
                self.skip_line = false;
                n + p + 1
            }
            None => data.len(),
        }
    }

    /// The next event, or `None` until more input, a driver answer or the deadline.
    pub fn poll(&mut self, now_ms: u64) -> Option<Event> {
        loop {
            if let Some(event) = self.out.pop_front() {
                return Some(event);
            }
            if self.is_waiting() {
                self.idle_since_ms = now_ms;
                return None;
            }
            if self.state == State::Closed {
                return None;
            }
            let dropped = self.discard_buffered();
            match self.next_input() {
                Some(()) => self.idle_since_ms = now_ms,
                None if now_ms >= self.idle_since_ms.saturating_add(IDLE_TIMEOUT_MS) => {
                    self.bye("Disconnected for inactivity");
                }
                None if dropped => self.idle_since_ms = now_ms,
                None => return None,
            }
        }
    }

    /// Drops buffered bytes under `skip`/`skip_line`; true if any went.
    fn discard_buffered(&mut self) -> bool {
        let input = std::mem::take(&mut self.input);
        let n = self.discard(&input);
        self.input = input;
        self.input.drain(..n.min(self.input.len()));
        n > 0
    }

    fn is_waiting(&self) -> bool {
        matches!(self.state, State::CheckingCredentials | State::StartingTls | State::Storing(_))
    }

    /// When `poll` must be called without input (idle timeout); `None` while waiting.
    pub fn deadline(&self) -> Option<u64> {
        if self.is_waiting() || self.state == State::Closed {
            return None;
        }
        Some(self.idle_since_ms.saturating_add(IDLE_TIMEOUT_MS))
    }

    /// The TLS handshake after `StartTls` succeeded: capabilities again (RFC 5804 §2.2).
    pub fn tls_started(&mut self) {
        if self.state == State::StartingTls {
            self.peer.is_tls = true;
            self.state = State::NonAuth;
            self.capability();
        }
    }

    /// The driver's answer to `CheckCredentials`.
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        if self.state != State::CheckingCredentials {
            return;
        }
        self.state = State::NonAuth;
        match outcome {
            AuthOutcome::Ok => {
                self.state = State::Auth;
                self.ok("Logged in");
            }
            AuthOutcome::Throttled(ms) => self
                .auth_failed(&format!("NO (TRYLATER) \"Too many failed logins, retry in {} s\"", ms.div_ceil(1_000))),
            AuthOutcome::Unavailable => self.line("NO (TRYLATER) \"Try again later\""),
            AuthOutcome::Bad | AuthOutcome::InUse => self.auth_failed("NO \"Authentication failed\""),
        }
    }

    /// The driver's answer to `Script`.
    pub fn script_done(&mut self, result: Result<Answer, Failure>) {
        let State::Storing(pending) = self.state else { return };
        self.state = State::Auth;
        match (pending, result) {
            (_, Err(f)) => self.failed(f),
            (Pending::List, Ok(Answer::List(names))) => self.listing(&names),
            (Pending::Get, Ok(Answer::Script(Some(script)))) => {
                let mut r = string(&script);
                r.extend_from_slice(b"\r\nOK \"Getscript completed\"\r\n");
                self.out.push_back(Event::Reply(r));
            }
            (Pending::Get, Ok(Answer::Script(None))) => self.failed(Failure::NotFound),
            (Pending::HaveSpace, Ok(Answer::Space(false))) => {
                self.line("NO (QUOTA) \"Not enough space for that script\"")
            }
            _ => self.ok("Completed"),
        }
    }

    /// RFC 5804 §1.3 response codes for store refusals.
    fn failed(&mut self, f: Failure) {
        self.line(match f {
            Failure::NotFound => "NO (NONEXISTENT) \"No such script\"",
            Failure::Active => "NO (ACTIVE) \"The active script cannot be deleted\"",
            Failure::Exists => "NO (ALREADYEXISTS) \"A script of that name exists\"",
            Failure::Quota => "NO (QUOTA) \"Script quota exceeded\"",
            Failure::BadName => "NO \"Invalid script name\"",
            Failure::Unavailable => "NO (TRYLATER) \"Storage unavailable, try again later\"",
        });
    }

    /// LISTSCRIPTS (RFC 5804 §2.7): one `"name" [ACTIVE]` line per script, then OK.
    fn listing(&mut self, names: &[(String, bool)]) {
        let mut r = Vec::new();
        for (name, active) in names {
            r.extend_from_slice(&string(name.as_bytes()));
            r.extend_from_slice(if *active { b" ACTIVE\r\n" } else { b"\r\n" });
        }
        r.extend_from_slice(b"OK \"Listscripts completed\"\r\n");
        self.out.push_back(Event::Reply(r));
    }

    /// Parses and handles the next command, if a whole one (or an error) is buffered.
    fn next_input(&mut self) -> Option<()> {
        let parsed = if self.state == State::SaslResponse {
            framer::parse_response(&self.input)
        } else {
            framer::parse(&self.input)
        };
        match parsed {
            Parsed::Incomplete if self.input.len() >= INPUT_MAX => {
                self.bye("Command too long");
                Some(())
            }
            Parsed::Incomplete => None,
            Parsed::Command { used, name, args } => {
                self.input.drain(..used.min(self.input.len()));
                self.on_command(&name, args);
                Some(())
            }
            Parsed::Bad { at, why } => {
                self.input.drain(..at.min(self.input.len()));
                self.skip_line = true;
                self.bad(why);
                Some(())
            }
            Parsed::TooLong => {
                self.input.clear();
                self.skip_line = true;
                self.bad("Line too long");
                Some(())
            }
            Parsed::LiteralTooBig { used, size } => {
                self.too_big(used, size);
                Some(())
            }
        }
    }

    /// A literal over `LITERAL_MAX`: skip it and the rest of its line, or close when huge.
    fn too_big(&mut self, used: usize, size: u64) {
        if size > DISCARD_MAX {
            return self.bye("Literal too large");
        }
        self.input.drain(..used.min(self.input.len()));
        self.skip = size;
        self.skip_line = true;
        if self.state == State::SaslResponse {
            return self.auth_failed("NO \"Authentication failed\"");
        }
        self.bad_with("NO (QUOTA/MAXSIZE) \"Literal too large\"");
    }

    fn on_command(&mut self, name: &str, args: Vec<Arg>) {
        if self.state == State::SaslResponse {
            return self.sasl_response(args);
        }
        if !self.allowed(name) {
            let known = KNOWN.contains(&name);
            return self.bad(if known { "Command not valid in this state" } else { "Unknown command" });
        }
        self.errors = 0;
        self.perform(name, args);
    }

    /// Is `name` valid in the current state (RFC 5804 §2: which commands need AUTHENTICATE)?
    fn allowed(&self, name: &str) -> bool {
        match (self.state, name) {
            (_, "CAPABILITY" | "NOOP" | "LOGOUT") => true,
            (State::NonAuth, "AUTHENTICATE") => true,
            (State::NonAuth, "STARTTLS") => !self.peer.is_tls && self.peer.tls_available,
            (State::Auth, n) => AUTH_COMMANDS.contains(&n),
            _ => false,
        }
    }

    fn perform(&mut self, name: &str, args: Vec<Arg>) {
        let mut a = args.into_iter();
        let (first, second) = (a.next(), a.next());
        match name {
            "CAPABILITY" => self.capability(),
            "NOOP" => self.noop(first),
            "LOGOUT" => {
                self.ok("Logout completed");
                self.close();
            }
            "STARTTLS" => {
                self.ok("Begin TLS negotiation now");
                self.input.clear();
                self.state = State::StartingTls;
                self.out.push_back(Event::StartTls);
            }
            "AUTHENTICATE" => self.authenticate(first, second),
            "UNAUTHENTICATE" => {
                self.state = State::NonAuth;
                self.ok("Unauthenticated");
            }
            "CHECKSCRIPT" => self.checkscript(first),
            _ => self.script_command(name, first, second),
        }
    }

    /// The commands that become a store request.
    fn script_command(&mut self, name: &str, first: Option<Arg>, second: Option<Arg>) {
        let request = match (name, first, second) {
            ("LISTSCRIPTS", None, None) => Some((Pending::List, Request::List)),
            ("GETSCRIPT", Some(n), None) => name_of(n).map(|n| (Pending::Get, Request::Get(n))),
            ("DELETESCRIPT", Some(n), None) => name_of(n).map(|n| (Pending::Other, Request::Delete(n))),
            ("SETACTIVE", Some(n), None) => activation(n).map(|n| (Pending::Other, Request::Activate(n))),
            ("RENAMESCRIPT", Some(f), Some(t)) => match (name_of(f), name_of(t)) {
                (Some(from), Some(to)) => Some((Pending::Other, Request::Rename { from, to })),
                _ => None,
            },
            ("HAVESPACE", Some(n), Some(Arg::Atom(size))) => match (name_of(n), size.parse::<u64>()) {
                (Some(name), Ok(size)) => Some((Pending::HaveSpace, Request::HaveSpace { name, size })),
                _ => None,
            },
            ("PUTSCRIPT", Some(n), Some(Arg::Str(script))) => return self.putscript(n, script),
            _ => return self.bad("Syntax error in arguments"),
        };
        match request {
            Some((pending, r)) => self.request(pending, r),
            None => self.failed(Failure::BadName),
        }
    }

    fn request(&mut self, pending: Pending, r: Request) {
        self.state = State::Storing(pending);
        self.out.push_back(Event::Script(r));
    }

    /// PUTSCRIPT (RFC 5804 §2.6): the script is compiled first; errors name the line.
    fn putscript(&mut self, name: Arg, script: Vec<u8>) {
        let Some(name) = name_of(name) else { return self.failed(Failure::BadName) };
        if let Err(e) = compile(&script) {
            return self.no_text(&e);
        }
        self.request(Pending::Other, Request::Put { name, script });
    }

    /// CHECKSCRIPT (RFC 5804 §2.12): compile only.
    fn checkscript(&mut self, script: Option<Arg>) {
        let Some(Arg::Str(script)) = script else { return self.bad("Syntax error in arguments") };
        match compile(&script) {
            Ok(()) => self.ok("Script is valid"),
            Err(e) => self.no_text(&e),
        }
    }

    /// NOOP (RFC 5804 §2.13) echoes an optional tag: `OK (TAG "x") "Done"`.
    fn noop(&mut self, tag: Option<Arg>) {
        match tag {
            Some(Arg::Str(t)) => {
                let mut r = b"OK (TAG ".to_vec();
                r.extend_from_slice(&string(&t));
                r.extend_from_slice(b") \"Done\"\r\n");
                self.out.push_back(Event::Reply(r));
            }
            _ => self.ok("Done"),
        }
    }

    /// RFC 8314 §3: no cleartext passwords on a non-loopback plain link.
    fn plaintext_ok(&self) -> bool {
        self.peer.is_tls
            || (self.peer.ip.is_loopback() && self.policy.loopback_plaintext)
            || self.policy.allow_plaintext_auth
    }

    /// AUTHENTICATE "PLAIN" [initial-response] (RFC 5804 §2.1).
    fn authenticate(&mut self, mechanism: Option<Arg>, initial: Option<Arg>) {
        let Some(Arg::Str(m)) = mechanism else { return self.bad("Syntax error in arguments") };
        if !m.eq_ignore_ascii_case(b"PLAIN") {
            return self.line("NO \"Unsupported SASL mechanism\"");
        }
        if !self.plaintext_ok() {
            return self.line("NO (ENCRYPT-NEEDED) \"Use STARTTLS first\"");
        }
        match initial {
            Some(Arg::Str(blob)) => self.credentials(&blob),
            Some(Arg::Atom(_)) => self.bad("Syntax error in arguments"),
            None => {
                self.state = State::SaslResponse;
                self.out.push_back(Event::Reply(b"\"\"\r\n".to_vec()));
            }
        }
    }

    /// The client's SASL response: a string, or `"*"` to cancel (RFC 5804 §2.1).
    fn sasl_response(&mut self, args: Vec<Arg>) {
        self.state = State::NonAuth;
        match args.into_iter().next() {
            Some(Arg::Str(b)) if b == b"*" => self.line("NO \"Authentication cancelled\""),
            Some(Arg::Str(b)) => self.credentials(&b),
            _ => self.auth_failed("NO \"Authentication failed\""),
        }
    }

    fn credentials(&mut self, blob: &[u8]) {
        match decode_plain(blob) {
            // Single user: acting for another identity is never authorized (RFC 4616 §2).
            Ok(c) if c.authzid.as_ref().is_none_or(|z| *z == c.authcid) => {
                self.state = State::CheckingCredentials;
                self.out.push_back(Event::CheckCredentials { user: c.authcid, pass: c.passwd });
            }
            _ => self.auth_failed("NO \"Authentication failed\""),
        }
    }

    fn auth_failed(&mut self, text: &str) {
        self.state = State::NonAuth;
        self.auth_failures = self.auth_failures.saturating_add(1);
        self.line(text);
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.bye("Too many failed logins");
        }
    }

    /// The capability response (RFC 5804 §1.7), also the greeting.
    fn capability(&mut self) {
        let mut r = String::from("\"IMPLEMENTATION\" \"letterbox\"\r\n");
        let sasl = if self.state == State::Auth || !self.plaintext_ok() { "" } else { "PLAIN" };
        r.push_str(&format!("\"SASL\" \"{sasl}\"\r\n"));
        r.push_str(&format!("\"SIEVE\" \"{}\"\r\n", crate::sieve::CAPABILITIES.join(" ")));
        if self.state == State::NonAuth && !self.peer.is_tls && self.peer.tls_available {
            r.push_str("\"STARTTLS\"\r\n");
        }
        let redirects = crate::sieve::Limits::default().redirects_max;
        r.push_str(&format!("\"MAXREDIRECTS\" \"{redirects}\"\r\n\"UNAUTHENTICATE\"\r\n\"VERSION\" \"1.0\"\r\nOK\r\n"));
        self.out.push_back(Event::Reply(r.into_bytes()));
    }

    fn ok(&mut self, text: &str) {
        self.line(&format!("OK \"{text}\""));
    }

    /// NO with a free text (compile errors), encoded as a string.
    fn no_text(&mut self, text: &str) {
        let mut r = b"NO ".to_vec();
        r.extend_from_slice(&string(text.as_bytes()));
        r.extend_from_slice(b"\r\n");
        self.out.push_back(Event::Reply(r));
    }

    fn line(&mut self, text: &str) {
        self.out.push_back(Event::Reply(format!("{text}\r\n").into_bytes()));
    }

    fn bad(&mut self, why: &str) {
        self.bad_with(&format!("NO \"{why}\""));
    }

    /// A refused command: counts toward `MAX_ERRORS`.
    fn bad_with(&mut self, reply: &str) {
        if self.state == State::SaslResponse {
            self.state = State::NonAuth;
        }
        self.errors = self.errors.saturating_add(1);
        self.line(reply);
        if self.errors >= MAX_ERRORS {
            self.bye("Too many errors");
        }
    }

    fn bye(&mut self, why: &str) {
        self.line(&format!("BYE \"{why}\""));
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.input = Vec::new();
        self.out.push_back(Event::Close);
    }
}

/// Every command name of RFC 5804 §2 we implement.
const KNOWN: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "UNAUTHENTICATE",
    "HAVESPACE",
    "PUTSCRIPT",
    "LISTSCRIPTS",
    "SETACTIVE",
    "GETSCRIPT",
    "DELETESCRIPT",
    "RENAMESCRIPT",
    "CHECKSCRIPT",
];

/// The commands of the authenticated state (RFC 5804 §2.4-§2.14).
const AUTH_COMMANDS: &[&str] = &[
    "HAVESPACE",
    "PUTSCRIPT",
    "LISTSCRIPTS",
    "SETACTIVE",
    "GETSCRIPT",
    "DELETESCRIPT",
    "RENAMESCRIPT",
    "CHECKSCRIPT",
    "UNAUTHENTICATE",
];

/// A script name argument: a UTF-8 string that `valid_name` accepts (RFC 5804 §1.6).
fn name_of(arg: Arg) -> Option<String> {
    match arg {
        Arg::Str(b) => String::from_utf8(b).ok().filter(|n| valid_name(n)),
        Arg::Atom(_) => None,
    }
}

/// SETACTIVE's argument: `""` deactivates.
fn activation(arg: Arg) -> Option<Option<String>> {
    match &arg {
        Arg::Str(b) if b.is_empty() => Some(None),
        _ => name_of(arg).map(Some),
    }
}

/// Compiles a script with the default limits; the error names the line.
fn compile(script: &[u8]) -> Result<(), String> {
    crate::sieve::check_upload(script, &crate::sieve::Limits::default()).map(|_| ()).map_err(|e| e.to_string())
}

/// A response string (RFC 5804 §4 `string`): quoted when short and free of CR, LF and NUL,
/// else a literal `{n}` CRLF octets.
fn string(b: &[u8]) -> Vec<u8> {
    if b.len() <= framer::QUOTED_MAX && !b.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0)) {
        let mut r = Vec::with_capacity(b.len() + 2);
        r.push(b'"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                r.push(b'\\');
            }
            r.push(c);
        }
        r.push(b'"');
        return r;
    }
    let mut r = format!("{{{}}}\r\n", b.len()).into_bytes();
    r.extend_from_slice(b);
    r
}
