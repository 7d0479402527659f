//! The Sieve interpreter: runs a validated [`Script`] over a [`MessageView`] and an
//! [`Envelope`] and returns the actions (RFC 5228 §4, §2.10). Implicit keep (§2.10.2) is
//! added unless cancelled by `discard`, `fileinto`, `redirect` (not with `:copy`, RFC 3894),
//! explicit `keep`, `reject`/`ereject`. A runtime error or an exhausted limit ends the run
//! with only an implicit keep and the error (§2.10.6): a failing script never loses mail.
//! Sans-IO: time is the `now` argument; whether a vacation reply goes out is the caller's
//! decision with its persisted state (see [`super::vacation_allowed`]).

use super::matcher::{self, MatchType};
use super::message::{address_part, addresses, date_part, parse_date, BodyPart, Envelope, MessageView};
use super::parser::{Arg, Node, Script};
use super::strings::{modify, truncate, Vars};
use super::Limits;

/// One action of the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store in INBOX with these IMAP flags (explicit or implicit keep).
    Keep { flags: Vec<String> },
    /// Store in `mailbox`; `create` it when missing (RFC 5490); `copy` kept the implicit keep.
    FileInto { mailbox: String, flags: Vec<String>, create: bool, copy: bool },
    /// Send on to `address`.
    Redirect { address: String, copy: bool },
    /// Throw away (cancels the implicit keep).
    Discard,
    /// RFC 5429 §2.2: refuse with an MDN/DSN carrying this reason.
    Reject(String),
    /// RFC 5429 §2.1: refuse at SMTP time where possible.
    Ereject(String),
    /// RFC 5230 parameters; whether to send is the caller's call.
    Vacation(Vacation),
}

/// RFC 5230 §4 vacation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    /// Minimum time between two replies to one sender (`:days` × 86400 or `:seconds`).
    pub seconds: u64,
    /// `:subject`, when given.
    pub subject: Option<String>,
    /// `:from`, when given.
    pub from: Option<String>,
    /// `:addresses`: more addresses of the owner.
    pub addresses: Vec<String>,
    /// `:mime`: `reason` is a MIME entity.
    pub mime: bool,
    /// `:handle`, or one derived from the other parameters (§4.2).
    pub handle: String,
    /// The reply text.
    pub reason: String,
}

/// The result of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Actions in script order, the implicit keep last.
    pub actions: Vec<Action>,
    /// Runtime errors; when not empty, `actions` is a lone implicit keep.
    pub errors: Vec<String>,
    /// Things to log that changed nothing else (a redirect dropped as a loop).
    pub notes: Vec<String>,
}

/// The header a redirected message carries (the delivery step adds it with the owner's
/// address): Pigeonhole's name, so loops through a Dovecot server are caught too.
pub const REDIRECTED_FROM: &str = crate::delivery::REDIRECTED_FROM;

/// RFC 5230 §4.1: `:days` default 7; clamped to one day ... 60 days (Pigeonhole's bounds).
const VACATION_DAYS_DEFAULT: u64 = 7;
const VACATION_SECONDS_MIN: u64 = 86400;
const VACATION_SECONDS_MAX: u64 = 60 * 86400;

/// Runs `script` over one message at time `now` (Unix seconds).
pub fn run(script: &Script, msg: &MessageView, env: &Envelope, limits: &Limits, now: i64) -> Outcome {
    let mut r = Run {
        msg,
        env,
        limits,
        now,
        steps: 0,
        vars: Vars::default(),
        flags: Vec::new(),
        actions: Vec::new(),
        keep_cancelled: false,
        body: None,
        notes: Vec::new(),
        variables: script.requires("variables"),
    };
    match r.block(&script.commands) {
        Ok(_) => {
            if !r.keep_cancelled {
                let flags = r.flags.clone();
                r.actions.push(Action::Keep { flags });
            }
            Outcome { actions: r.actions, errors: Vec::new(), notes: r.notes }
        }
        Err(e) => Outcome { actions: vec![Action::Keep { flags: Vec::new() }], errors: vec![e], notes: r.notes },
    }
}

enum Flow {
    Go,
    Stop,
}

struct Run<'a> {
    msg: &'a MessageView<'a>,
    env: &'a Envelope,
    limits: &'a Limits,
    now: i64,
    steps: u64,
    vars: Vars,
    flags: Vec<String>,
    actions: Vec<Action>,
    keep_cancelled: bool,
    /// The decoded body parts, computed at the first `body` test (one MIME parse per run).
    body: Option<Vec<BodyPart>>,
    notes: Vec<String>,
    variables: bool,
}

type R<T> = Result<T, String>;

impl Run<'_> {
    fn tick(&mut self, n: u64, line: u32) -> R<()> {
        self.steps += n;
        if self.steps > self.limits.steps_max {
            return Err(format!("line {line}: over the budget of {} steps", self.limits.steps_max));
        }
        Ok(())
    }

    fn block(&mut self, cmds: &[Node]) -> R<Flow> {
        let mut chain_done = false;
        for cmd in cmds {
            self.tick(1, cmd.line)?;
            let branch = match cmd.name.as_str() {
                "if" => Some(false),
                "elsif" | "else" => Some(chain_done),
                _ => None,
            };
            if let Some(skip) = branch {
                if cmd.name == "if" {
                    chain_done = false;
                }
                if skip {
                    continue;
                }
                let taken = match cmd.tests.first() {
                    Some(t) => self.test(t)?,
                    None => true,
                };
                if taken {
                    chain_done = true;
                    if let Flow::Stop = self.block(&cmd.block)? {
                        return Ok(Flow::Stop);
                    }
                }
                continue;
            }
            if let Flow::Stop = self.command(cmd)? {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }

    /// A string argument with variables expanded (RFC 5229 §3) when in use.
    fn s(&self, a: &Arg) -> String {
        self.exp(&a.string())
    }

    fn exp(&self, s: &str) -> String {
        let mut v = if self.variables { self.vars.expand(s, self.limits.string_bytes_max) } else { s.to_owned() };
        truncate(&mut v, self.limits.string_bytes_max);
        v
    }

    fn list(&self, a: Option<&Arg>) -> Vec<String> {
        a.map(Arg::strings).unwrap_or_default().iter().map(|s| self.exp(s)).collect()
    }

    fn arg(&self, n: &Node, i: usize) -> String {
        n.args.get(i).map(|a| self.s(a)).unwrap_or_default()
    }

    fn command(&mut self, n: &Node) -> R<Flow> {
        match n.name.as_str() {
            "require" => {}
            "stop" => return Ok(Flow::Stop),
            "keep" => {
                let flags = self.flags_of(n);
                self.keep_cancelled = true;
                self.push(Action::Keep { flags }, n.line)?;
            }
            "discard" => {
                self.keep_cancelled = true;
                self.push(Action::Discard, n.line)?;
            }
            "fileinto" => self.fileinto(n)?,
            "redirect" => self.redirect(n)?,
            "setflag" | "addflag" | "removeflag" => self.flag_command(n),
            "set" => self.set(n)?,
            "reject" | "ereject" => {
                let reason = self.arg(n, 0);
                self.keep_cancelled = true;
                let a = if n.name == "reject" { Action::Reject(reason) } else { Action::Ereject(reason) };
                self.push(a, n.line)?;
            }
            "vacation" => self.vacation(n)?,
            other => return Err(format!("line {}: {other} cannot run", n.line)),
        }
        Ok(Flow::Go)
    }

    /// Adds an action; duplicates collapse (RFC 5228 §2.10.3: the same keep, fileinto or
    /// redirect twice is done once; a later `:flags` replaces the earlier).
    fn push(&mut self, a: Action, line: u32) -> R<()> {
        let same = |b: &Action| match (&a, b) {
            (Action::Keep { .. }, Action::Keep { .. }) | (Action::Discard, Action::Discard) => true,
            (Action::FileInto { mailbox: m, .. }, Action::FileInto { mailbox: n, .. }) => m == n,
            (Action::Redirect { address: x, .. }, Action::Redirect { address: y, .. }) => x.eq_ignore_ascii_case(y),
            _ => false,
        };
        if let Some(prev) = self.actions.iter_mut().find(|b| same(b)) {
            *prev = a;
            return Ok(());
        }
        self.conflicts(&a, line)?;
        if self.actions.len() >= self.limits.actions_max {
            return Err(format!("line {line}: more than {} actions", self.limits.actions_max));
        }
        self.actions.push(a);
        Ok(())
    }

    /// RFC 5429 §2.3: reject/ereject cannot be combined with keep, fileinto, redirect or
    /// vacation; RFC 5230 §4.7: one vacation per run.
    fn conflicts(&self, a: &Action, line: u32) -> R<()> {
        let rejecting = |x: &Action| matches!(x, Action::Reject(_) | Action::Ereject(_));
        let delivering = |x: &Action| {
            matches!(x, Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. } | Action::Vacation(_))
        };
        let clash = self
            .actions
            .iter()
            .any(|b| (rejecting(a) && (delivering(b) || rejecting(b))) || (delivering(a) && rejecting(b)))
            || (matches!(a, Action::Vacation(_)) && self.actions.iter().any(|b| matches!(b, Action::Vacation(_))));
        if clash {
            return Err(format!("line {line}: action conflicts with an earlier one"));
        }
        Ok(())
    }

    fn fileinto(&mut self, n: &Node) -> R<()> {
        let mailbox = self.arg(n, 0);
        if mailbox.is_empty() {
            return Err(format!("line {}: fileinto with an empty mailbox name", n.line));
        }
        let copy = n.has(":copy");
        let flags = self.flags_of(n);
        if !copy {
            self.keep_cancelled = true;
        }
        if mailbox.eq_ignore_ascii_case("INBOX") && !copy {
            return self.push(Action::Keep { flags }, n.line);
        }
        self.push(Action::FileInto { mailbox, flags, create: n.has(":create"), copy }, n.line)
    }

    fn redirect(&mut self, n: &Node) -> R<()> {
        let address = self.arg(n, 0);
        let list = addresses(&address);
        let ok = list.len() == 1 && list.first().is_some_and(|a| a.contains('@'));
        if !ok {
            return Err(format!("line {}: redirect to an invalid address {address:?}", n.line));
        }
        let redirects = self.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count();
        if redirects >= self.limits.redirects_max {
            return Err(format!("line {}: more than {} redirects", n.line, self.limits.redirects_max));
        }
        if self.looped() {
            self.notes.push(format!("line {}: not redirecting to {address}: {REDIRECTED_FROM} shows a loop", n.line));
            return Ok(());
        }
        let copy = n.has(":copy");
        if !copy {
            self.keep_cancelled = true;
        }
        let address = list.into_iter().next().unwrap_or_default();
        self.push(Action::Redirect { address, copy }, n.line)
    }

    /// RFC 5228 §4.2 loop control: the message was already redirected by this owner.
    fn looped(&self) -> bool {
        let own = [&self.env.to, &self.env.original_to];
        let seen = self.msg.header(REDIRECTED_FROM).into_iter().flat_map(addresses).collect::<Vec<_>>();
        seen.iter().any(|a| own.iter().any(|o| !o.is_empty() && o.eq_ignore_ascii_case(a)))
    }

    /// RFC 5232 §5: `:flags` or, without it, the internal variable.
    fn flags_of(&self, n: &Node) -> Vec<String> {
        match n.tag(":flags") {
            Some(a) => normalize_flags(&self.list(Some(a))),
            None => self.flags.clone(),
        }
    }

    /// RFC 5232 §4: setflag/addflag/removeflag on the internal or a named variable.
    fn flag_command(&mut self, n: &Node) {
        let (var, list) = match n.args.as_slice() {
            [v, l] => (Some(self.s(v).to_ascii_lowercase()), l),
            [l] => (None, l),
            _ => return,
        };
        let given = normalize_flags(&self.list(Some(list)));
        let mut cur = match &var {
            Some(v) => normalize_flags(&[self.vars.named.get(v).cloned().unwrap_or_default()]),
            None => self.flags.clone(),
        };
        match n.name.as_str() {
            "setflag" => cur = given,
            "addflag" => cur = normalize_flags(&[cur, given].concat()),
            _ => cur.retain(|f| !given.iter().any(|g| g.eq_ignore_ascii_case(f))),
        }
        cur.truncate(self.limits.flags_max);
        match var {
            Some(v) => {
                let _ = self.store_var(v, cur.join(" "));
            }
            None => self.flags = cur,
        }
    }

    fn store_var(&mut self, name: String, mut value: String) -> R<()> {
        truncate(&mut value, self.limits.variable_bytes_max);
        if !self.vars.named.contains_key(&name) && self.vars.named.len() >= self.limits.variables_max {
            return Err(format!("more than {} variables", self.limits.variables_max));
        }
        self.vars.named.insert(name, value);
        Ok(())
    }

    /// RFC 5229 §4: `set` with modifiers.
    fn set(&mut self, n: &Node) -> R<()> {
        let name = n.args.first().map(Arg::string).unwrap_or_default().to_ascii_lowercase();
        let value = modify(&self.arg(n, 1), |t| n.has(t));
        self.store_var(name, value).map_err(|e| format!("line {}: {e}", n.line))
    }

    fn vacation(&mut self, n: &Node) -> R<()> {
        let num = |t: &str| match n.tag(t) {
            Some(Arg::Num(v)) => Some(*v),
            _ => None,
        };
        let seconds =
            num(":seconds").unwrap_or_else(|| num(":days").unwrap_or(VACATION_DAYS_DEFAULT).saturating_mul(86400));
        let seconds = seconds.clamp(VACATION_SECONDS_MIN, VACATION_SECONDS_MAX);
        let subject = n.tag(":subject").map(|a| self.s(a));
        let from = n.tag(":from").map(|a| self.s(a));
        let reason = self.arg(n, 0);
        let mime = n.has(":mime");
        let handle = n.tag(":handle").map(|a| self.s(a)).unwrap_or_else(|| {
            format!(
                "{reason}{}{}{}",
                subject.as_deref().unwrap_or(""),
                from.as_deref().unwrap_or(""),
                if mime { "<MIME>" } else { "" }
            )
        });
        let addresses = self.list(n.tag(":addresses"));
        self.push(Action::Vacation(Vacation { seconds, subject, from, addresses, mime, handle, reason }), n.line)
    }

    fn test(&mut self, t: &Node) -> R<bool> {
        self.tick(1, t.line)?;
        Ok(match t.name.as_str() {
            "true" => true,
            "false" => false,
            "not" => !self.sub(t, 0)?,
            "allof" => {
                for i in 0..t.tests.len() {
                    if !self.sub(t, i)? {
                        return Ok(false);
                    }
                }
                true
            }
            "anyof" => {
                for i in 0..t.tests.len() {
                    if self.sub(t, i)? {
                        return Ok(true);
                    }
                }
                false
            }
            "exists" => self.list(t.args.first()).iter().all(|h| !self.msg.header(h).is_empty()),
            "size" => {
                let limit = match t.args.first() {
                    Some(Arg::Num(v)) => *v,
                    _ => 0,
                };
                if t.has(":over") {
                    self.msg.size() > limit
                } else {
                    self.msg.size() < limit
                }
            }
            "mailboxexists" => self.list(t.args.first()).iter().all(|m| self.folder_exists(m)),
            _ => {
                let (values, keys) = self.values_and_keys(t)?;
                self.compare(t, &values, &keys)?
            }
        })
    }

    fn sub(&mut self, t: &Node, i: usize) -> R<bool> {
        match t.tests.get(i) {
            Some(s) => self.test(s),
            None => Ok(false),
        }
    }

    fn folder_exists(&self, m: &str) -> bool {
        m.eq_ignore_ascii_case("INBOX") || self.env.folders.iter().any(|f| f == m)
    }

    /// Runs the match of a comparison test; sets match variables on a `:matches` hit.
    fn compare(&mut self, t: &Node, values: &[String], keys: &[String]) -> R<bool> {
        let (mt, cmp) = matcher::of(t);
        let mut groups = Vec::new();
        let mut work = 0;
        let hit = matcher::test(mt, cmp, values, keys, &mut groups, &mut work);
        self.tick(work, t.line)?;
        if hit && mt == MatchType::Matches && self.variables {
            self.vars.groups = groups;
        }
        Ok(hit)
    }

    /// The values a comparison test looks at and its key list.
    fn values_and_keys(&mut self, t: &Node) -> R<(Vec<String>, Vec<String>)> {
        let first = self.list(t.args.first());
        let keys_at = |i: usize| t.args.get(i);
        Ok(match t.name.as_str() {
            "header" => (first.iter().flat_map(|h| self.msg.header_decoded(h)).collect(), self.list(keys_at(1))),
            "address" => (self.address_values(t, &first, false), self.list(keys_at(1))),
            "envelope" => (self.address_values(t, &first, true), self.list(keys_at(1))),
            "string" => (first.into_iter().filter(|s| !s.is_empty() || !is_count(t)).collect(), self.list(keys_at(1))),
            "hasflag" => {
                let (vars, keys) = if t.args.len() == 2 { (Some(first), self.list(keys_at(1))) } else { (None, first) };
                let flags = match vars {
                    Some(vs) => normalize_flags(
                        &vs.iter()
                            .map(|v| self.vars.named.get(&v.to_ascii_lowercase()).cloned().unwrap_or_default())
                            .collect::<Vec<_>>(),
                    ),
                    None => self.flags.clone(),
                };
                (flags, keys)
            }
            "body" => (self.body_values(t), first),
            "date" => (self.date_value(t, &first), self.list(keys_at(2))),
            "currentdate" => {
                let zone = self.zone(t).unwrap_or(self.env.zone_minutes);
                (
                    date_part(self.now, zone, first.first().map_or("", String::as_str)).into_iter().collect(),
                    self.list(keys_at(1)),
                )
            }
            other => return Err(format!("line {}: unknown test {other}", t.line)),
        })
    }

    fn zone(&self, t: &Node) -> Option<i32> {
        t.tag(":zone").and_then(|z| super::message::zone_offset(&self.s(z)))
    }

    /// RFC 5260 §4: the date part of the first date in the named header.
    fn date_value(&self, t: &Node, header: &[String]) -> Vec<String> {
        let part = self.arg(t, 1);
        let name = header.first().map_or("", String::as_str);
        let Some(dt) = self.msg.header(name).first().map(|v| v.rsplit(';').next().unwrap_or(v)).and_then(parse_date)
        else {
            return Vec::new();
        };
        let zone = if t.has(":originalzone") { dt.zone } else { self.zone(t).unwrap_or(self.env.zone_minutes) };
        date_part(dt.unix, zone, &part).into_iter().collect()
    }

    /// RFC 5228 §5.1/§5.4: addresses of the named headers or envelope parts.
    fn address_values(&self, t: &Node, names: &[String], envelope: bool) -> Vec<String> {
        let part = [":localpart", ":domain", ":user", ":detail"].into_iter().find(|p| t.has(p)).unwrap_or(":all");
        let mut out = Vec::new();
        for name in names {
            let addrs: Vec<String> = if envelope {
                match name.to_ascii_lowercase().as_str() {
                    "from" => vec![self.env.from.clone()],
                    "to" => vec![if self.env.original_to.is_empty() {
                        self.env.to.clone()
                    } else {
                        self.env.original_to.clone()
                    }],
                    _ => Vec::new(),
                }
            } else {
                self.msg.header(name).iter().flat_map(|v| addresses(v)).collect()
            };
            out.extend(addrs.iter().filter_map(|a| address_part(a, part)));
        }
        out
    }

    /// RFC 5173 §5: the body text the transform selects.
    fn body_values(&mut self, t: &Node) -> Vec<String> {
        if t.has(":raw") {
            return vec![self.msg.body_raw()];
        }
        let types = match t.tag(":content") {
            Some(a) => self.list(Some(a)),
            None => vec!["text".to_owned()],
        };
        let wanted = |ct: &str| {
            types.iter().any(|w| {
                let w = w.to_ascii_lowercase();
                w.is_empty() || ct == w || (!w.contains('/') && ct.split('/').next() == Some(w.as_str()))
            })
        };
        let msg = self.msg;
        let parts = self.body.get_or_insert_with(|| msg.body_parts());
        parts.iter().filter(|p| wanted(&p.content_type)).map(|p| p.text.clone()).collect()
    }
}

fn is_count(t: &Node) -> bool {
    t.has(":count")
}

/// RFC 5232 §3: a flag list is space-separated; duplicates (case-insensitive) dropped.
pub fn normalize_flags(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in list.iter().flat_map(|s| s.split_whitespace()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_owned());
        }
    }
    out
}
