//! The IMAP session state machine (RFC 3501 §3 states, §5.4 autologout, §6.1-§6.2 any-state
//! and not-authenticated commands, §7.1 status responses; RFC 2595 §3.1 STARTTLS and §3.2
//! LOGINDISABLED; RFC 4959 SASL-IR; RFC 8314 §3 plaintext refusal; RFC 2177 IDLE; RFC 5161 ENABLE and RFC 7162 §3.1
//! CONDSTORE-enabling commands).
//! "Is this command allowed now?" ([`allowed`]) is kept apart from doing it (`perform`);
//! mailbox commands live in `commands.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::api::{Event, FlagUpdate, ImapPolicy, Mailstore, PeerInfo, StoreError};
use super::fetch::FetchJob;
use super::framer::{Frame, Framer, Limits};
use super::parser::{command, Command};
use super::search::SearchJob;
use super::types::Tag;
use super::view::{Report, Selected};

/// Failed logins in one connection before it is closed (the throttle handles the rest).
pub const MAX_AUTH_FAILURES: u32 = 3;
/// Consecutive BAD commands before the connection is closed (house style 4).
pub const MAX_ERRORS: u32 = 10;

/// RFC 3501 §3 connection states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

/// What the session waits for before reading the next command.
#[derive(Debug)]
pub(super) enum Pending {
    None,
    /// "+ " sent after AUTHENTICATE PLAIN: the next line is the SASL response.
    Sasl(Tag),
    /// Driver: `auth_result`.
    Credentials(Tag),
    /// Driver: `tls_started`.
    StartTls,
    /// Client: the APPEND literal is arriving.
    AppendData(Tag),
    /// Driver: `append_done`.
    AppendCommit(Tag),
    /// RFC 4469: a checked CATENATE APPEND streaming its messages, one event per poll.
    #[cfg(feature = "imap-catenate")]
    Catenate {
        tag: Tag,
        job: super::catenate::CatenateJob,
    },
    /// Driver: `store_done`; then the FETCH that caused it, if any. `conditional`: the
    /// STORE had UNCHANGEDSINCE (RFC 7162 §3.1.3: MODIFIED in the tagged OK).
    Store {
        tag: Tag,
        uid: bool,
        silent: bool,
        fetch: Option<FetchJob>,
        conditional: bool,
    },
    /// Driver: `expunge_done`; `close` for CLOSE (no untagged EXPUNGE, then deselect).
    Expunge {
        tag: Tag,
        close: bool,
    },
    /// Driver: `copy_done`; `mv` for MOVE.
    Copy {
        tag: Tag,
        mv: bool,
    },
    /// Driver: `mailbox_done`; `done` is the tagged OK text; `created`: the folder CREATE
    /// made (its OK carries RFC 8474 `[MAILBOXID (id)]`, see [`Pending::Created`]).
    Mailbox {
        tag: Tag,
        done: &'static str,
        created: Option<String>,
    },
    /// CREATE done: at the next poll, the tagged OK with the new folder's MAILBOXID
    /// (RFC 8474 §4.1; plain OK if the folder cannot be read).
    Created {
        tag: Tag,
        name: String,
    },
    /// Streaming FETCH output, one chunk per poll; `done` is the tagged text at the end
    /// (a QRESYNC SELECT streams its changed messages this way, RFC 7162 §3.2.5).
    Fetch {
        tag: Tag,
        job: FetchJob,
        done: String,
    },
    /// Streaming SEARCH output, one chunk per poll.
    Search {
        tag: Tag,
        job: SearchJob,
    },
    /// Sends untagged updates (if `refresh`) then the tagged line, at the next poll.
    Finish {
        tag: Tag,
        text: String,
        refresh: bool,
    },
    /// "+ idling" sent; waiting for DONE (RFC 2177 §3).
    Idle(Tag),
}

impl Pending {
    fn waits_for_driver(&self) -> bool {
        matches!(
            self,
            Pending::Credentials(_)
                | Pending::StartTls
                | Pending::AppendCommit(_)
                | Pending::Store { .. }
                | Pending::Expunge { .. }
                | Pending::Copy { .. }
                | Pending::Mailbox { .. }
        )
    }
}

/// One IMAP connection. See the module doc of `proto::imap` for the driver loop.
#[derive(Debug)]
pub struct Session {
    pub(super) policy: Arc<ImapPolicy>,
    pub(super) peer: PeerInfo,
    pub(super) state: State,
    pub(super) selected: Option<Selected>,
    pub(super) framer: Framer,
    pub(super) out: VecDeque<Event>,
    pub(super) pending: Pending,
    /// When the last command arrived (also "now" for RFC 5032 OLDER/YOUNGER).
    pub(super) idle_since_ms: u64,
    pub(super) auth_failures: u32,
    errors: u32,
    /// RFC 6855 §3: ENABLE UTF8=ACCEPT was sent (mailbox names are UTF-8 on the wire).
    pub(super) utf8: bool,
    /// RFC 7162 §3.1: a CONDSTORE-enabling command was seen (for the whole connection).
    pub(super) condstore: bool,
    /// RFC 7162 §3.2.3: ENABLE QRESYNC was seen.
    pub(super) qresync: bool,
    /// RFC 3502: the APPEND whose messages are arriving.
    pub(super) multi: super::multiappend::MultiAppend,
    /// RFC 4978: COMPRESS DEFLATE succeeded on this connection.
    pub(super) compressing: bool,
    /// RFC 9051 §6.3.1: ENABLE IMAP4rev2 was sent: no RECENT responses and no \Recent
    /// flag (§7.3.2), `\NonExistent` for missing LIST parents (§7.3.1), SEARCH answered
    /// as ESEARCH (§6.4.4).
    pub(super) rev2: bool,
    /// RFC 9586: ENABLE UIDONLY was sent (see `uidonly`).
    pub(super) uidonly: bool,
    /// RFC 5182 §2.1 search result variable `$`: UID ranges (at most one per message of
    /// the selected folder); empty when nothing was saved.
    pub(super) saved: Vec<(u32, u32)>,
    /// RFC 5465: the NOTIFY SET in force.
    #[cfg(feature = "notify")]
    pub(super) notify: Option<Box<super::notify::Notify>>,
}

impl Session {
    /// Starts a session; the greeting is the first event.
    pub fn new(policy: Arc<ImapPolicy>, peer: PeerInfo, now_ms: u64) -> Session {
        let mut s = Session {
            policy,
            peer,
            state: State::NotAuthenticated,
            selected: None,
            framer: Framer::default(),
            out: VecDeque::new(),
            pending: Pending::None,
            idle_since_ms: now_ms,
            auth_failures: 0,
            errors: 0,
            utf8: false,
            condstore: false,
            qresync: false,
            multi: Default::default(),
            compressing: false,
            rev2: false,
            uidonly: false,
            saved: Vec::new(),
            #[cfg(feature = "notify")]
            notify: None,
        };
        let caps = s.capabilities();
        s.untagged(&format!("OK [CAPABILITY {caps}] letterbox IMAP4rev1 ready"));
        s
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Buffers client bytes; returns how many were taken (feed the rest after polling).
    /// Bytes arriving during a STARTTLS handshake or after logout are dropped.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        match (&self.pending, self.state) {
            (Pending::StartTls, _) | (_, State::Logout) => data.len(),
            _ => self.framer.feed(data),
        }
    }

    /// The next event, or `None` until more input, a driver answer or the deadline.
    /// Store reads happen here, through `store`.
    pub fn poll(&mut self, now_ms: u64, store: &mut dyn Mailstore) -> Option<Event> {
        loop {
            if let Some(event) = self.out.pop_front() {
                return Some(event);
            }
            if self.state == State::Logout {
                return None;
            }
            if self.pending.waits_for_driver() {
                self.idle_since_ms = now_ms;
                return None;
            }
            if self.run_pending(store) || self.notify_due(now_ms, store) {
                continue;
            }
            match self.framer.next(self.limits()) {
                Some(frame) => {
                    self.idle_since_ms = now_ms;
                    self.on_frame(frame, now_ms, store);
                }
                None if self.deadline().is_some_and(|d| now_ms >= d) => {
                    self.untagged("BYE Autologout; idle for too long");
                    self.close();
                }
                None => return None,
            }
        }
    }

    /// When `poll` must be called without input (autologout, RFC 3501 §5.4: at least
    /// 30 minutes once authenticated, also while IDLE); `None` while waiting for the driver.
    pub fn deadline(&self) -> Option<u64> {
        if self.pending.waits_for_driver() || self.state == State::Logout {
            return None;
        }
        let timeout = match self.state {
            State::NotAuthenticated => self.policy.prelogin_timeout_ms,
            _ => self.policy.autologout_ms,
        };
        Some(self.idle_since_ms.saturating_add(timeout))
    }

    fn limits(&self) -> Limits {
        let authed = self.state != State::NotAuthenticated;
        Limits {
            line: self.policy.line_max,
            literal: if authed { self.policy.literal_max } else { self.policy.literal_prelogin_max },
            message: if authed { self.policy.message_max } else { 0 },
        }
    }

    /// Work the session does without input: FETCH chunks, deferred tagged replies, IDLE
    /// updates. `true` if it queued output.
    fn run_pending(&mut self, store: &mut dyn Mailstore) -> bool {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Fetch { tag, mut job, done } => {
                let chunk = self.selected.as_ref().and_then(|sel| job.step(sel, store));
                match chunk {
                    Some(bytes) => {
                        self.raw(bytes);
                        self.pending = Pending::Fetch { tag, job, done };
                    }
                    None if job.unknown_cte => {
                        self.tagged(&tag, "NO [UNKNOWN-CTE] Cannot decode the part's transfer encoding")
                    }
                    None if job.failed => self.tagged(&tag, "NO [SERVERBUG] Some messages could not be read"),
                    None if job.gone => {
                        self.tagged(&tag, "NO [EXPUNGEISSUED] Some of the requested messages no longer exist")
                    }
                    None => self.tagged(&tag, &done),
                }
                true
            }
            Pending::Search { tag, mut job } => {
                let chunk = self.selected.as_ref().map(|sel| job.step(sel, store));
                if let Some(bytes) = chunk.filter(|b| !b.is_empty()) {
                    self.raw(bytes);
                }
                match job.done {
                    None if self.selected.is_some() => {
                        self.pending = Pending::Search { tag, job };
                        self.out.push_back(Event::Yield);
                    }
                    Some(Err(e)) => self.search_failed(tag, &job, e),
                    _ => self.search_finished(tag, job),
                }
                true
            }
            Pending::Finish { tag, text, refresh } => {
                if refresh {
                    self.refresh(store);
                }
                #[cfg(feature = "imap-context")]
                self.context_flush(store);
                // After a BYE from the refresh nothing more is said.
                if self.state != State::Logout {
                    self.tagged(&tag, &text);
                }
                true
            }
            #[cfg(feature = "imap-catenate")]
            Pending::Catenate { tag, job } => {
                self.catenate_step(tag, job, store);
                true
            }
            Pending::Created { tag, name } => {
                self.tagged(&tag, &created_text(store, &name));
                true
            }
            Pending::Idle(tag) => {
                self.pending = Pending::Idle(tag);
                self.refresh(store);
                !self.out.is_empty()
            }
            other => {
                self.pending = other;
                false
            }
        }
    }

    /// Untagged updates for the selected mailbox (allowed here: NOOP, CHECK, IDLE,
    /// APPEND/EXPUNGE completion; never during FETCH, STORE or SEARCH, RFC 3501 §7.4.1).
    ///
    /// A selected folder that another session deleted or renamed (or deleted and created
    /// again) ends the session with BYE, as RFC 2180 §3.2 allows and Dovecot does: the client
    /// reconnects and sees the folders as they are, rather than a mailbox that answers NO.
    pub(super) fn refresh(&mut self, store: &mut dyn Mailstore) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        match store.changes(&sel.name, sel.generation) {
            Ok(changes) if changes.uidvalidity == 0 || changes.uidvalidity == sel.uidvalidity => {
                let mut buf = Vec::new();
                #[cfg(feature = "imap-context")]
                let (top, flagged) = super::context::before_apply(sel, &changes);
                sel.apply(changes, &mut buf);
                #[cfg(feature = "imap-context")]
                super::context::after_apply(sel, top, flagged);
                self.raw(buf);
                #[cfg(feature = "imap-context")]
                self.context_flush(store);
            }
            Ok(_) | Err(StoreError::NotFound) => {
                self.untagged("BYE Selected mailbox was deleted or renamed, have to disconnect");
                self.close();
            }
            Err(_) => {}
        }
    }

    fn on_frame(&mut self, frame: Frame, now_ms: u64, store: &mut dyn Mailstore) {
        match frame {
            Frame::Command(line) => match std::mem::replace(&mut self.pending, Pending::None) {
                Pending::Sasl(tag) => self.sasl_response(tag, &line),
                Pending::Idle(tag) => self.idle_done(tag, &line),
                other => {
                    self.pending = other;
                    #[cfg(feature = "imap-catenate")]
                    if super::catenate::is_catenate(&line) {
                        return self.catenate_command(&line, store);
                    }
                    self.on_command(&line, now_ms, store);
                }
            },
            Frame::Continue => self.raw(b"+ Ready for literal data\r\n".to_vec()),
            Frame::AppendStarted { prefix, size, .. } => self.append_started(&prefix, size, store),
            Frame::AppendNext { line, size, .. } => self.append_next(&line, size, store),
            Frame::AppendData(bytes) => self.out.push_back(Event::AppendData(bytes)),
            Frame::AppendFinished(ok) => self.append_finished(ok),
            Frame::TooLong => {
                self.untagged("BAD [TOOBIG] Command line too long");
                self.untagged("BYE Closing connection");
                self.close();
            }
            Frame::LiteralRefused { tag, fatal } => {
                let tag = Tag::new(&tag).map_or_else(|| "*".to_owned(), |t| t.to_string());
                self.raw(format!("{tag} BAD [TOOBIG] Literal too large or malformed\r\n").into_bytes());
                if fatal {
                    self.untagged("BYE Closing connection");
                    self.close();
                } else {
                    self.count_error();
                }
            }
        }
    }

    fn on_command(&mut self, line: &[u8], now_ms: u64, store: &mut dyn Mailstore) {
        match command(line) {
            Err((tag, bad)) => {
                let tag = tag.map_or_else(|| "*".to_owned(), |t| t.to_string());
                // RFC 3501 §6.4.4: an unknown SEARCH CHARSET is a NO with BADCHARSET.
                match bad.0.starts_with("[BADCHARSET") {
                    true => self.raw(format!("{tag} NO {}\r\n", bad.0).into_bytes()),
                    false => {
                        self.raw(format!("{tag} BAD {}\r\n", bad.0).into_bytes());
                        self.count_error();
                    }
                }
            }
            Ok((tag, cmd)) if !allowed(self.state, &cmd) => {
                self.tagged(&tag, "BAD Command not valid in this state");
                self.count_error();
            }
            Ok((tag, cmd)) => {
                self.errors = 0;
                let cmd = self.resolve_saved(cmd);
                self.perform(tag, cmd, now_ms, store);
            }
        }
    }

    fn perform(&mut self, tag: Tag, cmd: Command, now_ms: u64, store: &mut dyn Mailstore) {
        #[cfg(not(feature = "notify"))]
        let _ = now_ms;
        match cmd {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                self.tagged(&tag, "OK CAPABILITY completed");
            }
            Command::Noop => self.finish(tag, "OK NOOP completed"),
            Command::Check => self.finish(tag, "OK CHECK completed"),
            Command::Logout => {
                self.untagged("BYE letterbox logging out");
                self.tagged(&tag, "OK LOGOUT completed");
                self.close();
            }
            Command::StartTls => self.starttls(tag),
            Command::Login { user, pass } => self.login(tag, user, pass),
            Command::Authenticate { mechanism, initial } => self.authenticate(tag, &mechanism, initial),
            Command::Id => {
                self.untagged("ID (\"name\" \"letterbox\")");
                self.tagged(&tag, "OK ID completed");
            }
            Command::Enable(caps) => self.enable(tag, &caps),
            Command::Compress(algorithm) => self.compress(tag, &algorithm),
            Command::GetQuota(root) => self.getquota(tag, &root, store),
            Command::GetQuotaRoot(mailbox) => self.getquotaroot(tag, &mailbox, store),
            Command::SetQuota => self.tagged(&tag, "NO [CANNOT] Quotas are set in the configuration file"),
            Command::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.tagged(&tag, "OK NAMESPACE completed");
            }
            #[cfg(feature = "notify")]
            Command::Notify(set) => self.notify_command(tag, set, now_ms, store),
            Command::Idle => {
                self.pending = Pending::Idle(tag);
                self.raw(b"+ idling\r\n".to_vec());
            }
            other => self.perform_mailbox(tag, other, store),
        }
    }

    /// RFC 5161 §3.1 ENABLE: `* ENABLED` lists what this command newly enabled; QRESYNC
    /// implies CONDSTORE (RFC 7162 §3.2.3).
    fn enable(&mut self, tag: Tag, caps: &[String]) {
        let mut enabled = Vec::new();
        for c in caps {
            match c.as_str() {
                "CONDSTORE" if !self.condstore && !enabled.contains(&"CONDSTORE") => enabled.push("CONDSTORE"),
                "QRESYNC" if !self.qresync => {
                    self.qresync = true;
                    enabled.push("QRESYNC");
                }
                "UIDONLY" if !self.uidonly => {
                    self.uidonly = true;
                    enabled.push("UIDONLY");
                }
                "IMAP4REV2" if !self.rev2 => {
                    self.rev2 = true;
                    enabled.push("IMAP4rev2");
                }
                // RFC 6855 §3: mailbox names are UTF-8 from now on.
                "UTF8=ACCEPT" if !self.utf8 => {
                    self.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
                _ => {}
            }
        }
        if enabled.iter().any(|c| *c == "CONDSTORE" || *c == "QRESYNC") {
            self.enable_condstore();
        }
        if let Some(sel) = self.selected.as_mut() {
            sel.qresync = self.qresync;
            sel.rev2 = self.rev2;
            sel.uidonly = self.uidonly;
        }
        let list: String = enabled.iter().map(|c| format!(" {c}")).collect();
        self.untagged(&format!("ENABLED{list}"));
        self.tagged(&tag, "OK ENABLE completed");
    }

    /// A CONDSTORE-enabling command (RFC 7162 §3.1): the first one while a mailbox is
    /// selected reports its HIGHESTMODSEQ.
    pub(super) fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        sel.condstore = true;
        let line = format!("OK [HIGHESTMODSEQ {}] Highest", sel.highest_modseq);
        self.untagged(&line);
    }

    /// Ends the command at the next poll, after untagged updates (NOOP, CHECK).
    pub(super) fn finish(&mut self, tag: Tag, text: &str) {
        self.pending = Pending::Finish { tag, text: text.to_owned(), refresh: true };
    }

    fn idle_done(&mut self, tag: Tag, line: &[u8]) {
        match line.eq_ignore_ascii_case(b"DONE") {
            true => self.tagged(&tag, "OK IDLE terminated"),
            false => self.tagged(&tag, "BAD Expected DONE"),
        }
    }

    fn count_error(&mut self) {
        self.errors = self.errors.saturating_add(1);
        if self.errors >= MAX_ERRORS {
            self.untagged("BYE Too many errors");
            self.close();
        }
    }

    pub(super) fn deselect(&mut self) {
        self.selected = None;
        // RFC 5182 §2.1: `$` is empty again after SELECT, EXAMINE, CLOSE and UNSELECT.
        self.saved.clear();
        if self.state == State::Selected {
            self.state = State::Authenticated;
        }
    }

    /// Spools may be open: an APPEND's literal or a CATENATE is arriving.
    fn appending(&self) -> bool {
        #[cfg(feature = "imap-catenate")]
        if matches!(self.pending, Pending::Catenate { .. }) {
            return true;
        }
        matches!(self.pending, Pending::AppendData(_))
    }

    pub(super) fn close(&mut self) {
        self.state = State::Logout;
        if self.appending() {
            self.out.push_back(Event::AppendAborted);
        }
        self.pending = Pending::None;
        self.out.push_back(Event::Close);
    }

    pub(super) fn tagged(&mut self, tag: &Tag, text: &str) {
        self.raw(format!("{tag} {text}\r\n").into_bytes());
    }

    pub(super) fn untagged(&mut self, text: &str) {
        self.raw(format!("* {text}\r\n").into_bytes());
    }

    /// Without the `notify` feature nothing is ever due.
    #[cfg(not(feature = "notify"))]
    fn notify_due(&mut self, _now_ms: u64, _store: &mut dyn Mailstore) -> bool {
        false
    }

    /// Without the `notify` feature the driver never wakes a session for it.
    #[cfg(not(feature = "notify"))]
    pub fn notifying(&self) -> bool {
        false
    }

    pub(super) fn raw(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.out.push_back(Event::Reply(bytes));
        }
    }
}

/// Is `cmd` valid in `state` (RFC 3501 §6.1-§6.4)?
pub fn allowed(state: State, cmd: &Command) -> bool {
    use Command as C;
    let any = matches!(cmd, C::Capability | C::Noop | C::Logout | C::Id);
    let nonauth = matches!(cmd, C::StartTls | C::Login { .. } | C::Authenticate { .. });
    let auth = matches!(
        cmd,
        C::Enable(_)
            | C::Compress(_)
            | C::GetQuota(_)
            | C::GetQuotaRoot(_)
            | C::SetQuota
            | C::Namespace
            | C::List { .. }
            | C::Select { .. }
            | C::Create(..)
            | C::Delete(_)
            | C::Rename(..)
            | C::Subscribe(..)
            | C::Status { .. }
            | C::Idle
    ) || notify_command(cmd);
    match state {
        State::NotAuthenticated => any || nonauth,
        State::Authenticated => any || auth,
        // Selected: everything but the not-authenticated commands.
        State::Selected => !nonauth,
        State::Logout => false,
    }
}

/// RFC 5465 §3: NOTIFY is valid once authenticated.
fn notify_command(cmd: &Command) -> bool {
    #[cfg(feature = "notify")]
    if matches!(cmd, Command::Notify(_)) {
        return true;
    }
    let _ = cmd;
    false
}

/// Store errors as tagged responses (house style 8: one place).
pub(super) fn store_error(e: StoreError, append: bool) -> &'static str {
    match e {
        StoreError::NotFound if append => "NO [TRYCREATE] No such mailbox",
        StoreError::NotFound => "NO [NONEXISTENT] No such mailbox",
        StoreError::NoMessage => "NO [EXPUNGEISSUED] Message was expunged",
        StoreError::Full => "NO [OVERQUOTA] Message too large or disk full",
        StoreError::Io => "NO [UNAVAILABLE] Temporary failure, try again later",
        StoreError::Exists => "NO [ALREADYEXISTS] Mailbox already exists",
        StoreError::Cannot => "NO [CANNOT] Not allowed for this mailbox",
    }
}

/// The tagged OK of a CREATE: with the new folder's RFC 8474 MAILBOXID when it can be read.
fn created_text(store: &mut dyn Mailstore, name: &str) -> String {
    #[cfg(feature = "objectid")]
    if let Ok(snap) = store.peek(name) {
        return format!("OK [MAILBOXID ({})] CREATE completed", super::objectid::mailbox_id(&snap));
    }
    let _ = (store, name);
    "OK CREATE completed".to_owned()
}

mod done;
