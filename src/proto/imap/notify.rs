//! RFC 5465 NOTIFY, the subset the polling design allows cheaply. The driver already wakes
//! a selected session every half second to catch its folder up (IDLE); a session with
//! NOTIFY SET wakes the same way in any authenticated state and, at most every
//! [`NOTIFY_CHECK_MS`], compares what it last reported with the store:
//!
//! * §6 `SELECTED` with MessageNew, MessageExpunge or FlagChange: the selected folder's
//!   EXISTS / EXPUNGE / FETCH FLAGS go out between commands too (§5.1, §5.3; the same
//!   refresh NOOP does, so never during a command, RFC 3501 §7.4.1). `SELECTED-DELAYED`
//!   keeps them for NOOP and IDLE, as without NOTIFY (expunges are delayed, §6).
//! * Other mailboxes (§6 `PERSONAL`, `INBOXES`, `SUBSCRIBED`, `SUBTREE`, `MAILBOXES`):
//!   `* STATUS` when MESSAGES, UIDNEXT, UIDVALIDITY or HIGHESTMODSEQ moved (§5.2: the items
//!   follow the events asked for), and with `SET STATUS` once for each at SET time (§3).
//! * MailboxName (§5.4): `* LIST` for a name that appeared, `* LIST (\NonExistent)` for one
//!   that went (a RENAME is seen as both: no OLDNAME, the names are compared by polling).
//! * SubscriptionChange (§5.5): `* LIST (\Subscribed)` / `* LIST ()`.
//! * Unsupported events (AnnotationChange, the METADATA ones, unknown ones, MessageNew with
//!   fetch attributes) get `NO [BADEVENT (...)]` (§3, §6); `NOTIFY NONE` stops it all.
//! * More watched folders than [`NOTIFY_WATCH_MAX`] or more than [`NOTIFY_LINES_MAX`]
//!   responses in one check: `* OK [NOTIFICATIONOVERFLOW]` and notifications stop (§5.8), as
//!   after NONE; a SET that would watch too many at once is `NO [NOTIFICATIONOVERFLOW]`.
//!
//! Cost: a check is one folder listing, the subscription list and [`Mailstore::counts`]
//! (no UID list, no scan) per watched folder; a full snapshot only for a folder reported.

use std::collections::BTreeMap;

use super::api::Mailstore;
use super::parser::{Bad, Command, StatusItem, P, R};
use super::session::{Pending, Session, State};
use super::types::Tag;

/// The capability (RFC 5465 §3), appended to the CAPABILITY list.
pub const CAPABILITY: &str = " NOTIFY";
/// How often a notifying session compares with the store (the driver's IDLE tick).
pub const NOTIFY_CHECK_MS: u64 = 500;
/// Event groups in one NOTIFY SET: seven filters exist, more only repeat them.
pub const NOTIFY_GROUPS_MAX: usize = 16;
/// Mailbox names in one NOTIFY SET (BAD-INPUTS 116: a SET naming 1,000 is refused).
pub const NOTIFY_NAMES_MAX: usize = 100;
/// Folders a session watches for message events; more overflow (§5.8). Below the
/// driver's 64 cached folder handles, so a check never reopens (re-reads) a folder index.
pub const NOTIFY_WATCH_MAX: usize = 48;
/// Responses one check may queue; more overflow (§5.8): a flood cannot grow the queue.
pub const NOTIFY_LINES_MAX: usize = 256;
/// The events this server reports (§3 BADEVENT lists them).
const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

/// The events of one group (§5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    pub new: bool,
    pub expunge: bool,
    pub flags: bool,
    pub name: bool,
    pub subscription: bool,
}

impl Events {
    fn messages(&self) -> bool {
        self.new || self.expunge || self.flags
    }

    fn union(self, o: Events) -> Events {
        Events {
            new: self.new || o.new,
            expunge: self.expunge || o.expunge,
            flags: self.flags || o.flags,
            name: self.name || o.name,
            subscription: self.subscription || o.subscription,
        }
    }

    /// §5.2: the STATUS items that report these events.
    fn status_items(&self) -> Vec<StatusItem> {
        let mut items = Vec::new();
        if self.new || self.expunge {
            items.push(StatusItem::Messages);
        }
        if self.new {
            items.push(StatusItem::UidNext);
        }
        if self.new || self.flags {
            items.push(StatusItem::UidValidity);
        }
        if self.flags {
            items.push(StatusItem::HighestModseq);
        }
        items
    }
}

/// §6 `filter-mailboxes`, other than the selected one; names still raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Personal,
    Inboxes,
    Subscribed,
    Subtree(Vec<Vec<u8>>),
    Mailboxes(Vec<Vec<u8>>),
}

/// A parsed `NOTIFY SET`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySet {
    /// §3 `status-indicator`.
    pub status: bool,
    /// The SELECTED / SELECTED-DELAYED group's events, if there is one (§6: then the
    /// selected mailbox is not reported by the other groups).
    pub selected: Option<Events>,
    /// §6 SELECTED-DELAYED: expunges wait for NOOP/IDLE (the refresh between commands is off).
    pub delayed: bool,
    pub groups: Vec<(Filter, Events)>,
    /// An event this server does not report was asked for (→ `NO [BADEVENT]`).
    pub unsupported: bool,
}

/// RFC 5465 §8 `notify = "NOTIFY" SP (notify-set / notify-none)`, after the name;
/// `None` is NONE.
pub fn command(p: &mut P) -> R<Command> {
    p.sp()?;
    if p.keyword("NONE") {
        return Ok(Command::Notify(None));
    }
    if !p.keyword("SET") {
        return Err(Bad("NOTIFY SET or NONE expected"));
    }
    let mut set = NotifySet::default();
    p.sp()?;
    if p.keyword("STATUS") {
        set.status = true;
        p.sp()?;
    }
    let mut names = 0usize;
    loop {
        event_group(p, &mut set, &mut names)?;
        if set.groups.len() >= NOTIFY_GROUPS_MAX {
            return Err(Bad("Too many event groups"));
        }
        if !p.eat(b' ') {
            break;
        }
    }
    Ok(Command::Notify(Some(set)))
}

/// §8 `event-group = "(" filter-mailboxes SP events ")"`.
fn event_group(p: &mut P, set: &mut NotifySet, names: &mut usize) -> R<()> {
    p.expect(b'(')?;
    let filter = match p.atom()?.to_ascii_uppercase().as_slice() {
        b"SELECTED" => None,
        b"SELECTED-DELAYED" => {
            set.delayed = true;
            None
        }
        b"PERSONAL" => Some(Filter::Personal),
        b"INBOXES" => Some(Filter::Inboxes),
        b"SUBSCRIBED" => Some(Filter::Subscribed),
        b"SUBTREE" => Some(Filter::Subtree(mailboxes(p, names)?)),
        b"MAILBOXES" => Some(Filter::Mailboxes(mailboxes(p, names)?)),
        _ => return Err(Bad("Unknown mailbox filter")),
    };
    p.sp()?;
    let events = events(p, &mut set.unsupported)?;
    p.expect(b')')?;
    match filter {
        None => set.selected = Some(set.selected.unwrap_or_default().union(events)),
        Some(f) => set.groups.push((f, events)),
    }
    Ok(())
}

/// §8 `SP one-or-more-mailbox`, counted against [`NOTIFY_NAMES_MAX`].
fn mailboxes(p: &mut P, names: &mut usize) -> R<Vec<Vec<u8>>> {
    p.sp()?;
    let many = p.eat(b'(');
    let mut out = Vec::new();
    loop {
        *names += 1;
        if *names > NOTIFY_NAMES_MAX {
            return Err(Bad("Too many mailboxes in NOTIFY"));
        }
        out.push(p.mailbox()?);
        if !many || !p.eat(b' ') {
            break;
        }
    }
    if many {
        p.expect(b')')?;
    }
    Ok(out)
}

/// §8 `events = ( "(" event *(SP event) ")" ) / "NONE"`.
fn events(p: &mut P, unsupported: &mut bool) -> R<Events> {
    let mut e = Events::default();
    if p.keyword("NONE") {
        return Ok(e);
    }
    p.expect(b'(')?;
    loop {
        match p.atom()?.to_ascii_uppercase().as_slice() {
            b"MESSAGENEW" => e.new = true,
            b"MESSAGEEXPUNGE" => e.expunge = true,
            b"FLAGCHANGE" => e.flags = true,
            b"MAILBOXNAME" => e.name = true,
            b"SUBSCRIPTIONCHANGE" => e.subscription = true,
            _ => *unsupported = true,
        }
        if !p.eat(b' ') {
            break;
        }
        // MessageNew's fetch attributes (§5.1) and any `event-ext` arguments.
        if p.peek() == Some(b'(') {
            p.skip_value(0)?;
            *unsupported = true;
            if !p.eat(b' ') {
                break;
            }
        }
    }
    p.expect(b')')?;
    Ok(e)
}

/// What this session last reported of one folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    messages: usize,
    uidnext: u32,
    uidvalidity: u32,
    modseq: u64,
}

impl Seen {
    /// The values the STATUS for `ev` reports (§5.2), from [`Mailstore::counts`]: only
    /// their change is news.
    fn of((messages, uidnext, uidvalidity, modseq): (usize, u32, u32, u64), ev: Events) -> Seen {
        Seen {
            messages: if ev.new || ev.expunge { messages } else { 0 },
            uidnext: if ev.new { uidnext } else { 0 },
            uidvalidity,
            modseq: if ev.flags { modseq } else { 0 },
        }
    }
}

/// A session's NOTIFY state (folder names resolved to stored names).
#[derive(Debug)]
pub struct Notify {
    selected: Option<Events>,
    delayed: bool,
    groups: Vec<(Resolved, Events)>,
    known: BTreeMap<String, Seen>,
    names: Option<Vec<String>>,
    subscribed: Option<Vec<String>>,
    next_ms: u64,
}

/// A filter with its names as stored.
#[derive(Debug)]
enum Resolved {
    Personal,
    Inboxes,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

impl Notify {
    /// The union of the events of every group naming `folder`.
    fn events_for(&self, folder: &str, subscribed: &[String]) -> Events {
        let hit = |r: &Resolved| match r {
            Resolved::Personal => true,
            Resolved::Inboxes => folder.eq_ignore_ascii_case("INBOX"),
            Resolved::Subscribed => subscribed.binary_search_by(|s| s.as_str().cmp(folder)).is_ok(),
            Resolved::Subtree(roots) => {
                roots.iter().any(|r| folder == r || folder.strip_prefix(r.as_str()).is_some_and(|t| t.starts_with('/')))
            }
            Resolved::Mailboxes(names) => names.iter().any(|n| n == folder),
        };
        self.groups.iter().filter(|(r, _)| hit(r)).fold(Events::default(), |a, (_, e)| a.union(*e))
    }

    fn wants(&self, f: impl Fn(&Events) -> bool) -> bool {
        self.groups.iter().any(|(_, e)| f(e))
    }
}

impl Session {
    /// Does the driver have to wake this session to look for changes (NOTIFY SET active)?
    pub fn notifying(&self) -> bool {
        self.notify.is_some()
    }

    /// RFC 5465 §3 NOTIFY SET / NONE.
    pub(super) fn notify_command(&mut self, tag: Tag, set: Option<NotifySet>, now_ms: u64, store: &mut dyn Mailstore) {
        let Some(set) = set else {
            self.notify = None;
            return self.tagged(&tag, "OK NOTIFY completed");
        };
        if set.unsupported {
            return self.tagged(&tag, &format!("NO [BADEVENT ({SUPPORTED})] Event not supported"));
        }
        let mut groups = Vec::new();
        for (f, e) in set.groups {
            match self.resolve(f) {
                Some(r) => groups.push((r, e)),
                None => return self.tagged(&tag, "NO Mailbox name is not valid"),
            }
        }
        let mut n = Notify {
            selected: set.selected,
            delayed: set.delayed,
            groups,
            known: BTreeMap::new(),
            names: None,
            subscribed: None,
            next_ms: 0,
        };
        // The baseline: changes are reported from now on; with STATUS, the state now (§3).
        let mut buf = Vec::new();
        if self.notify_scan(&mut n, set.status, store, &mut buf) {
            return self.tagged(&tag, "NO [NOTIFICATIONOVERFLOW] Too many mailboxes to watch");
        }
        n.next_ms = now_ms.saturating_add(NOTIFY_CHECK_MS);
        self.raw(buf);
        self.notify = Some(Box::new(n));
        self.tagged(&tag, "OK NOTIFY completed");
    }

    /// Raw filter names as stored names; `None` if one is not a valid name.
    fn resolve(&self, f: Filter) -> Option<Resolved> {
        let names = |raw: Vec<Vec<u8>>| -> Option<Vec<String>> {
            raw.iter().map(|r| self.mailbox(r).ok().map(|m| m.as_str().to_owned())).collect()
        };
        Some(match f {
            Filter::Personal => Resolved::Personal,
            Filter::Inboxes => Resolved::Inboxes,
            Filter::Subscribed => Resolved::Subscribed,
            Filter::Subtree(raw) => Resolved::Subtree(names(raw)?),
            Filter::Mailboxes(raw) => Resolved::Mailboxes(names(raw)?),
        })
    }

    /// The hook in `poll`: between commands and during IDLE, at most every
    /// [`NOTIFY_CHECK_MS`]; `true` if it queued output.
    pub(super) fn notify_due(&mut self, now_ms: u64, store: &mut dyn Mailstore) -> bool {
        let between = matches!(self.pending, Pending::None | Pending::Idle(_));
        if !between || self.notify.as_ref().is_none_or(|n| now_ms < n.next_ms) {
            return false;
        }
        let Some(mut n) = self.notify.take() else {
            return false;
        };
        n.next_ms = now_ms.saturating_add(NOTIFY_CHECK_MS);
        let before = self.out.len();
        // §5.1/§5.3: the selected folder's changes, as NOOP reports them (IDLE already does).
        if n.selected.is_some_and(|e| e.messages()) && !n.delayed && matches!(self.pending, Pending::None) {
            self.refresh(store);
        }
        let mut buf = Vec::new();
        let overflow = self.notify_scan(&mut n, false, store, &mut buf);
        self.raw(buf);
        match overflow {
            true => self.untagged("OK [NOTIFICATIONOVERFLOW] Too many changes, notifications stopped"),
            false if self.state != State::Logout => self.notify = Some(n),
            false => {}
        }
        self.out.len() > before
    }

    /// Compares the store with what `n` knows, reporting changes into `buf` (and, if
    /// `initial`, the state of folders not known yet: SET STATUS); `true` on overflow (§5.8).
    fn notify_scan(&mut self, n: &mut Notify, initial: bool, store: &mut dyn Mailstore, buf: &mut Vec<u8>) -> bool {
        let Ok(folders) = store.folders() else {
            return false;
        };
        let mut names: Vec<String> = folders.into_iter().map(|f| f.name).collect();
        names.sort_unstable();
        let mut subscribed = store.subscriptions().unwrap_or_default();
        subscribed.sort_unstable();
        let mut lines = 0usize;
        if n.wants(|e| e.name) {
            lines += self.name_changes(n, &names, &subscribed, buf);
        }
        if n.wants(|e| e.subscription) {
            lines += self.subscription_changes(n, &subscribed, buf);
        }
        if lines > NOTIFY_LINES_MAX {
            return true;
        }
        let overflow = self.status_changes(n, initial, (&names, &subscribed), lines, store, buf);
        n.names = Some(names);
        n.subscribed = Some(subscribed);
        overflow
    }

    /// §5.2: `* STATUS` for each watched folder whose reported values moved (all of them
    /// if `initial`), `lines` already queued; `true` on overflow (§5.8).
    fn status_changes(
        &mut self,
        n: &mut Notify,
        initial: bool,
        (names, subscribed): (&[String], &[String]),
        mut lines: usize,
        store: &mut dyn Mailstore,
        buf: &mut Vec<u8>,
    ) -> bool {
        let selected = self.selected.as_ref().map(|s| s.name.clone());
        let mut known = BTreeMap::new();
        for name in names {
            let ev = n.events_for(name, subscribed);
            // §6: the selected mailbox is reported by its own group when there is one.
            let skip = n.selected.is_some() && selected.as_deref() == Some(name.as_str());
            if !ev.messages() || skip {
                continue;
            }
            if known.len() >= NOTIFY_WATCH_MAX {
                return true;
            }
            let Ok(counts) = store.counts(name) else { continue };
            let now = Seen::of(counts, ev);
            let report = n.known.get(name).map_or(initial, |was| *was != now);
            if report && lines >= NOTIFY_LINES_MAX {
                return true;
            }
            // The full snapshot only for a folder to report (rare).
            if let Some(snap) = report.then(|| store.peek(name).ok()).flatten() {
                self.status_response(buf, name, &ev.status_items(), &snap);
                lines += 1;
            }
            known.insert(name.clone(), now);
        }
        n.known = known;
        false
    }

    /// §5.4: names that appeared or went since the last check (and match a group).
    fn name_changes(&self, n: &Notify, names: &[String], subscribed: &[String], buf: &mut Vec<u8>) -> usize {
        let Some(old) = n.names.as_ref() else {
            return 0;
        };
        let mut lines = 0;
        for (name, attrs) in diff(old, names) {
            if n.events_for(name, subscribed).name {
                self.notify_list_line(buf, if attrs { "" } else { "\\NonExistent" }, name);
                lines += 1;
            }
            if lines > NOTIFY_LINES_MAX {
                break;
            }
        }
        lines
    }

    /// §5.5: subscriptions added or removed since the last check.
    fn subscription_changes(&self, n: &Notify, subscribed: &[String], buf: &mut Vec<u8>) -> usize {
        let Some(old) = n.subscribed.as_ref() else {
            return 0;
        };
        let mut lines = 0;
        for (name, added) in diff(old, subscribed) {
            if n.events_for(name, subscribed).subscription || n.events_for(name, old).subscription {
                self.notify_list_line(buf, if added { "\\Subscribed" } else { "" }, name);
                lines += 1;
            }
            if lines > NOTIFY_LINES_MAX {
                break;
            }
        }
        lines
    }

    /// `* LIST (attrs) "/" name`.
    fn notify_list_line(&self, buf: &mut Vec<u8>, attrs: &str, name: &str) {
        buf.extend_from_slice(format!("* LIST ({attrs}) \"/\" ").as_bytes());
        self.put_name(buf, &self.wire_name(name));
        buf.extend_from_slice(b"\r\n");
    }
}

/// Names in `new` but not `old` (`true`) and in `old` but not `new` (`false`); both sorted.
fn diff<'a>(old: &'a [String], new: &'a [String]) -> Vec<(&'a str, bool)> {
    let added = new.iter().filter(|n| old.binary_search(n).is_err()).map(|n| (n.as_str(), true));
    let gone = old.iter().filter(|o| new.binary_search(o).is_err()).map(|o| (o.as_str(), false));
    added.chain(gone).collect()
}
