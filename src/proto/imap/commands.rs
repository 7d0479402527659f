//! Authenticated- and selected-state commands (RFC 3501 §6.3 SELECT/EXAMINE/CREATE/
//! DELETE/RENAME/STATUS/APPEND, §6.4 CLOSE/EXPUNGE/SEARCH/FETCH/STORE; RFC 3691 UNSELECT;
//! RFC 4315 UID EXPUNGE and APPENDUID; RFC 6154 §3 CREATE-SPECIAL-USE; RFC 6855 §3 UTF-8
//! mailbox names; RFC 7162 CONDSTORE/QRESYNC in SELECT, STATUS, SEARCH, FETCH and STORE).
//! LIST and LSUB are in `list.rs`. Reads go through the [`Mailstore`]; writes become
//! [`Event`]s answered by the driver's callbacks.

use super::api::{flag, Event, MailboxOp, Mailstore, Snapshot, StoreOp};
use super::esearch::{Collect, ReturnOpts};
use super::fetch::{FetchAtt, FetchJob};
use super::parser::{append_prefix, Command, Flag, QResync, StatusItem};
use super::search::{SearchJob, SearchKey, Sink};
use super::session::{store_error, Pending, Session, State};
use super::types::{encode_mutf7, Mailbox, MailboxError, SequenceSet, Tag, DELIMITER};
use super::view::Selected;
use crate::store::SPECIAL_USES;

/// SELECT parameters: CONDSTORE and QRESYNC (RFC 7162 §3.1.8, §3.2.5).
type SelectParams = (bool, Option<QResync>);
/// FETCH modifiers: CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4.1, §3.2.6).
type FetchMods = (Option<u64>, bool);

/// RFC 7162 §3.2.5 after a SELECT with QRESYNC and the right UIDVALIDITY: `VANISHED
/// (EARLIER)` for the known UIDs (default `1:UIDNEXT-1`) expunged since the client's MODSEQ
/// (exact from the store's expunge history; every known UID no longer present when the
/// history does not reach that far, §3.2.5.2), then a job sending `FETCH (UID FLAGS MODSEQ)`
/// for every message changed since the client's MODSEQ.
fn resync(sel: &Selected, q: &QResync, store: &mut dyn Mailstore, out: &mut Vec<u8>) -> FetchJob {
    let top = sel.uidnext.saturating_sub(1);
    let mut known = match &q.known_uids {
        Some(set) => set.normalize(top, false),
        None => vec![(1, top)],
    };
    // §3.2.5.2: below the last still-matching (seq, UID) pair nothing the client knew is gone.
    if let Some(floor) = q.seq_match.as_ref().and_then(|(seqs, uids)| matching_floor(sel, seqs, uids)) {
        known = known.into_iter().filter(|&(_, b)| b > floor).map(|(a, b)| (a.max(floor + 1), b)).collect();
    }
    super::view::vanished_lines(out, "(EARLIER) ", &vanished_earlier(sel, &known, q.modseq, store));
    let mut job = FetchJob::new(vec![FetchAtt::Uid, FetchAtt::Flags, FetchAtt::Modseq], sel.all());
    job.changed_since = Some(q.modseq);
    job
}

/// The UIDs of `known` (sorted ranges) that are gone: those expunged after `modseq` when
/// the store still has that history, else every one not in the mailbox (§3.2.5.2).
fn vanished_earlier(sel: &Selected, known: &[(u32, u32)], modseq: u64, store: &mut dyn Mailstore) -> Vec<(u32, u32)> {
    let Some(mut gone) = store.expunged_since(&sel.name, modseq) else {
        return sel.missing_uids(known);
    };
    gone.sort_unstable();
    let mut log: Vec<(u32, u32)> = Vec::with_capacity(gone.len());
    for (a, b) in gone {
        match log.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => log.push((a, b)),
        }
    }
    let mut both = Vec::new();
    let (mut i, mut j) = (0, 0);
    while let (Some(&(a, b)), Some(&(c, d))) = (known.get(i), log.get(j)) {
        let (lo, hi) = (a.max(c), b.min(d));
        if lo <= hi {
            both.push((lo, hi));
        }
        if b < d {
            i += 1;
        } else {
            j += 1;
        }
    }
    sel.missing_uids(&both)
}

/// Pairs of seq-match-data examined (the sets are walked, never expanded into memory).
const SEQ_MATCH_MAX: u32 = 100_000;

/// RFC 7162 §3.2.5.2 `seq-match-data`: the highest UID of the pairs (message number, UID),
/// taken in order, that all still match this mailbox; `None` if the first does not (or the
/// sets differ in size, then the data is ignored).
fn matching_floor(sel: &Selected, seqs: &SequenceSet, uids: &SequenceSet) -> Option<u32> {
    let mut s = seqs.normalize(u32::MAX, false).into_iter().flat_map(|(a, b)| a..=b);
    let mut u = uids.normalize(u32::MAX, false).into_iter().flat_map(|(a, b)| a..=b);
    let mut floor = None;
    for _ in 0..SEQ_MATCH_MAX {
        match (s.next(), u.next()) {
            (Some(seq), Some(uid)) if sel.seq_of(uid) == Some(seq) => floor = Some(uid),
            (None, None) => return floor,
            _ => break,
        }
    }
    floor
}

/// Longest keyword name accepted in STORE / APPEND.
pub const KEYWORD_MAX: usize = 64;

impl Session {
    /// A mailbox name from the wire: modified UTF-7 (RFC 3501 §5.1.3), or UTF-8 once
    /// UTF8=ACCEPT is enabled (RFC 6855 §3; invalid UTF-8 is refused).
    pub(super) fn mailbox(&self, raw: &[u8]) -> Result<Mailbox, MailboxError> {
        match self.utf8 {
            true => Mailbox::from_utf8(String::from_utf8(raw.to_vec()).map_err(|_| MailboxError::Encoding)?),
            false => Mailbox::from_wire(raw),
        }
    }

    /// A folder name to create or change: as `mailbox`, a trailing delimiter dropped.
    fn folder_name(&self, raw: &[u8]) -> Result<String, MailboxError> {
        let trimmed = match raw.strip_suffix(&[DELIMITER as u8]) {
            Some(t) if !t.is_empty() => t,
            _ => raw,
        };
        self.mailbox(trimmed).map(|m| m.as_str().to_owned())
    }

    /// A stored (UTF-8) name as the client sees it: modified UTF-7 unless UTF8=ACCEPT.
    pub(super) fn wire_name(&self, name: &str) -> String {
        match self.utf8 {
            true => name.to_owned(),
            false => encode_mutf7(name),
        }
    }

    /// Appends a wire name as an IMAP string (RFC 6855 §3: UTF-8 quoted once enabled).
    pub(super) fn put_name(&self, buf: &mut Vec<u8>, wire: &str) {
        super::encode::mailbox(buf, wire, self.utf8);
    }

    pub(super) fn name_error(&self, e: MailboxError) -> &'static str {
        match (e, self.utf8) {
            (MailboxError::Encoding, false) => "NO Mailbox name is not valid modified UTF-7",
            (MailboxError::Encoding, true) => "NO Mailbox name is not valid UTF-8",
            (MailboxError::Name, _) => "NO [CANNOT] Invalid mailbox name",
        }
    }

    pub(super) fn perform_mailbox(&mut self, tag: Tag, cmd: Command, store: &mut dyn Mailstore) {
        if self.uidonly && super::uidonly::uses_sequence_numbers(&cmd) {
            return self.tagged(&tag, "BAD [UIDREQUIRED] Message sequence numbers are off (UIDONLY)");
        }
        match cmd {
            Command::List { reference, patterns, lsub, opts } => {
                self.list(tag, &reference, &patterns, lsub, &opts, store)
            }
            Command::Select { mailbox, read_only, condstore, qresync } => {
                self.select(tag, &mailbox, read_only, (condstore, qresync), store)
            }
            Command::Status { mailbox, items } => self.status(tag, &mailbox, &items, store),
            Command::Rename(a, b) => self.rename(tag, &a, &b),
            Command::Create(m, uses) => self.create(tag, &m, &uses, store),
            Command::Delete(m) => self.delete(tag, &m),
            Command::Subscribe(m, on) => match self.folder_name(&m) {
                Err(e) => self.tagged(&tag, self.name_error(e)),
                Ok(name) => {
                    let done = if on { "OK SUBSCRIBE completed" } else { "OK UNSUBSCRIBE completed" };
                    self.mailbox_op(tag, MailboxOp::Subscribe { name, on }, done)
                }
            },
            Command::Copy { uid, set, mailbox, mv } => self.copy(tag, uid, &set, &mailbox, mv, store),
            Command::Close => self.close_mailbox(tag, store),
            Command::Unselect => {
                self.deselect();
                self.tagged(&tag, "OK UNSELECT completed");
            }
            Command::Expunge(uids) => self.expunge(tag, uids, store),
            Command::Search { uid, ret, key } => self.search(tag, uid, ret, key),
            #[cfg(feature = "imap-context")]
            Command::CancelUpdate(tags) => self.cancel_update(tag, &tags),
            #[cfg(feature = "imap-sort")]
            Command::Sort { uid, ret, criteria, key } => {
                self.search_into(tag, uid, key, super::sort::sort_job(criteria, uid, ret))
            }
            #[cfg(feature = "imap-sort")]
            Command::Thread { uid, algo, key } => {
                let sink = Sink::Thread(super::thread::ThreadJob::new(algo, uid));
                self.search_into(tag, uid, key, sink)
            }
            Command::Fetch { uid, set, atts, changed_since, vanished } => {
                self.fetch(tag, uid, &set, atts, (changed_since, vanished), store)
            }
            Command::Store { uid, set, op, silent, flags, unchanged_since } => {
                self.store(tag, uid, &set, op, silent, &flags, unchanged_since)
            }
            _ => self.tagged(&tag, "BAD Command not valid in this state"),
        }
    }

    /// RFC 3501 §6.3.3 CREATE: a trailing delimiter only says a child is intended.
    /// RFC 6154 §3 `USE (\\Attr)`: one supported attribute not yet used by another folder,
    /// else `NO [USEATTR]` (as Dovecot).
    fn create(&mut self, tag: Tag, raw: &[u8], uses: &[String], store: &mut dyn Mailstore) {
        let name = match self.folder_name(raw) {
            Ok(n) => n,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return self.tagged(&tag, "NO [ALREADYEXISTS] INBOX always exists");
        }
        if has_wildcard(&name) {
            return self.tagged(&tag, WILDCARD_NO);
        }
        let special = match uses {
            [] => None,
            [one] => match SPECIAL_USES.iter().find(|a| a.eq_ignore_ascii_case(one)) {
                Some(a) => Some(*a),
                None => return self.tagged(&tag, "NO [USEATTR] Unsupported special-use attribute"),
            },
            _ => return self.tagged(&tag, "NO [USEATTR] One special-use attribute per mailbox"),
        };
        if let Some(attr) = special {
            let used = match store.folders() {
                Ok(all) => all.iter().any(|f| f.attributes.iter().any(|a| a == attr)),
                Err(e) => return self.tagged(&tag, store_error(e, false)),
            };
            if used {
                return self.tagged(&tag, "NO [USEATTR] Special-use attribute already in use");
            }
        }
        self.pending = Pending::Mailbox {
            tag,
            done: "OK CREATE completed",
            created: cfg!(feature = "objectid").then(|| name.clone()),
        };
        self.out.push_back(Event::Mailbox(MailboxOp::Create { name, special_use: special }));
    }

    /// A folder-level write goes to the driver; the tagged reply waits for `mailbox_done`.
    fn mailbox_op(&mut self, tag: Tag, op: MailboxOp, done: &'static str) {
        self.pending = Pending::Mailbox { tag, done, created: None };
        self.out.push_back(Event::Mailbox(op));
    }

    /// RFC 3501 §6.3.4 DELETE (INBOX and the selected folder are refused).
    fn delete(&mut self, tag: Tag, raw: &[u8]) {
        let name = match self.folder_name(raw) {
            Ok(n) => n,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return self.tagged(&tag, "NO [CANNOT] INBOX cannot be deleted");
        }
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            self.deselect();
        }
        self.mailbox_op(tag, MailboxOp::Delete { name }, "OK DELETE completed");
    }

    /// RFC 3501 §6.3.5 RENAME; renaming INBOX moves its messages into the new folder and
    /// leaves INBOX empty (the store does that durably).
    fn rename(&mut self, tag: Tag, a: &[u8], b: &[u8]) {
        let (from, to) = match (self.folder_name(a), self.folder_name(b)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return self.tagged(&tag, self.name_error(e)),
        };
        if to == "INBOX" {
            return self.tagged(&tag, "NO [ALREADYEXISTS] INBOX always exists");
        }
        if has_wildcard(&to) {
            return self.tagged(&tag, WILDCARD_NO);
        }
        if self.selected.as_ref().is_some_and(|s| s.name == from) {
            self.deselect();
        }
        self.mailbox_op(tag, MailboxOp::Rename { from, to }, "OK RENAME completed");
    }

    /// RFC 3501 §6.4.7 COPY, RFC 6851 MOVE: the driver copies durably, then `copy_done`.
    fn copy(&mut self, tag: Tag, uid: bool, set: &SequenceSet, raw: &[u8], mv: bool, store: &mut dyn Mailstore) {
        let to = match self.folder_name(raw) {
            Ok(n) => n,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if mv && sel.read_only {
            return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let uids = sel.uids(&sel.seq_ranges(set, uid));
        if uids.is_empty() {
            let cmd = if mv { "MOVE" } else { "COPY" };
            return self.tagged(&tag, &format!("OK {cmd} completed"));
        }
        let from = sel.name.clone();
        // RFC 9208 §4.3: a COPY that would pass a limit stores nothing (a MOVE adds nothing).
        if !mv {
            let mut metas = Vec::new();
            store.metas(&from, &uids, &mut metas);
            let bytes = metas.iter().flatten().map(|m| m.size).sum();
            if let Some(text) = self.over_quota(bytes, uids.len() as u64, store) {
                return self.tagged(&tag, &text);
            }
        }
        self.pending = Pending::Copy { tag, mv };
        self.out.push_back(Event::Copy { from, uids, to, mv });
    }

    /// RFC 3501 §6.3.1 SELECT / §6.3.2 EXAMINE, with RFC 7162 §3.1.8 CONDSTORE and
    /// §3.2.5 QRESYNC parameters; HIGHESTMODSEQ is sent with every SELECT (§3.1.2.1).
    fn select(&mut self, tag: Tag, raw: &[u8], read_only: bool, params: SelectParams, store: &mut dyn Mailstore) {
        let (condstore, qresync) = params;
        // RFC 7162 §3.2.5: QRESYNC without ENABLE QRESYNC first is BAD (nothing changes).
        if qresync.is_some() && !self.qresync {
            return self.tagged(&tag, "BAD QRESYNC not enabled");
        }
        if self.selected.is_some() {
            self.deselect();
            // RFC 7162 §3.2.11: [CLOSED] marks the end of the old mailbox's responses.
            self.untagged("OK [CLOSED] Previous mailbox closed");
        }
        let name = match self.mailbox(raw) {
            Ok(m) => m,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        let snap = match store.open(name.as_str()) {
            Ok(s) => s,
            Err(e) => return self.tagged(&tag, store_error(e, false)),
        };
        if condstore {
            self.enable_condstore();
        }
        let first_unseen = snap.first_unseen;
        #[cfg(feature = "objectid")]
        let mailbox_id = super::objectid::mailbox_id(&snap);
        let mut sel = Selected::new(name.as_str().to_owned(), snap, read_only);
        sel.condstore = self.condstore;
        sel.qresync = self.qresync;
        sel.rev2 = self.rev2;
        sel.uidonly = self.uidonly;
        let mut buf = Vec::new();
        sel.flags_responses(&mut buf);
        buf.extend_from_slice(format!("* {} EXISTS\r\n", sel.count()).as_bytes());
        if !self.rev2 {
            buf.extend_from_slice(format!("* {} RECENT\r\n", sel.recent()).as_bytes());
        }
        if !read_only {
            store.claim_recent(name.as_str());
        }
        if first_unseen > 0 {
            buf.extend_from_slice(format!("* OK [UNSEEN {first_unseen}] First unseen\r\n").as_bytes());
        }
        buf.extend_from_slice(format!("* OK [UIDVALIDITY {}] UIDs valid\r\n", sel.uidvalidity).as_bytes());
        buf.extend_from_slice(format!("* OK [UIDNEXT {}] Predicted next UID\r\n", sel.uidnext).as_bytes());
        #[cfg(feature = "objectid")]
        buf.extend_from_slice(format!("* OK [MAILBOXID ({mailbox_id})] Ok\r\n").as_bytes());
        buf.extend_from_slice(format!("* OK [HIGHESTMODSEQ {}] Highest\r\n", sel.highest_modseq).as_bytes());
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let done = format!("OK [{mode}] {} completed", if read_only { "EXAMINE" } else { "SELECT" });
        let resync = qresync.filter(|q| q.uidvalidity == sel.uidvalidity).map(|q| resync(&sel, &q, store, &mut buf));
        self.raw(buf);
        self.selected = Some(sel);
        self.state = State::Selected;
        match resync {
            Some(job) => self.pending = Pending::Fetch { tag, job, done },
            None => self.tagged(&tag, &done),
        }
    }

    /// RFC 3501 §6.3.10 STATUS (a snapshot that leaves the selected folder's view alone);
    /// RFC 7162 §3.1.2.3 HIGHESTMODSEQ.
    fn status(&mut self, tag: Tag, raw: &[u8], items: &[StatusItem], store: &mut dyn Mailstore) {
        let name = match self.mailbox(raw) {
            Ok(m) => m,
            Err(e) => return self.tagged(&tag, self.name_error(e)),
        };
        let snap = match store.peek(name.as_str()) {
            Ok(s) => s,
            Err(e) => return self.tagged(&tag, store_error(e, false)),
        };
        let mut buf = Vec::new();
        self.status_response(&mut buf, name.as_str(), items, &snap);
        self.raw(buf);
        self.tagged(&tag, "OK STATUS completed");
    }

    /// `* STATUS name (items)`: the one place STATUS items are computed (STATUS and the
    /// RFC 5819 LIST-STATUS return option).
    pub(super) fn status_response(&mut self, buf: &mut Vec<u8>, name: &str, items: &[StatusItem], snap: &Snapshot) {
        if items.contains(&StatusItem::HighestModseq) {
            self.enable_condstore();
        }
        let values: Vec<String> = items
            .iter()
            .map(|i| match i {
                StatusItem::Messages => format!("MESSAGES {}", snap.uids.len()),
                StatusItem::Recent => format!("RECENT {}", snap.recent()),
                StatusItem::UidNext => format!("UIDNEXT {}", snap.uidnext),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", snap.uidvalidity),
                StatusItem::Unseen => format!("UNSEEN {}", snap.unseen),
                StatusItem::Size => format!("SIZE {}", snap.size),
                StatusItem::HighestModseq => format!("HIGHESTMODSEQ {}", snap.highest_modseq.max(1)),
                #[cfg(feature = "objectid")]
                StatusItem::MailboxId => format!("MAILBOXID ({})", super::objectid::mailbox_id(snap)),
            })
            .collect();
        buf.extend_from_slice(b"* STATUS ");
        self.put_name(buf, &self.wire_name(name));
        buf.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
    }

    /// RFC 3501 §6.4.2 CLOSE: silently expunges \Deleted messages unless read-only.
    fn close_mailbox(&mut self, tag: Tag, store: &mut dyn Mailstore) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let uids = match sel.read_only {
            true => Vec::new(),
            false => sel.uids_where(&sel.all(), store, |m| m.flags & flag::DELETED != 0),
        };
        if uids.is_empty() {
            self.deselect();
            return self.tagged(&tag, "OK CLOSE completed");
        }
        let folder = sel.name.clone();
        self.pending = Pending::Expunge { tag, close: true };
        self.out.push_back(Event::Expunge { folder, uids });
    }

    /// RFC 3501 §6.4.3 EXPUNGE and RFC 4315 §2.1 UID EXPUNGE.
    fn expunge(&mut self, tag: Tag, set: Option<SequenceSet>, store: &mut dyn Mailstore) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if sel.read_only {
            return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let ranges = match set {
            Some(s) => sel.seq_ranges(&s, true),
            None => sel.all(),
        };
        let uids = sel.uids_where(&ranges, store, |m| m.flags & flag::DELETED != 0);
        if uids.is_empty() {
            return self.finish(tag, "OK EXPUNGE completed");
        }
        let folder = sel.name.clone();
        self.pending = Pending::Expunge { tag, close: false };
        self.out.push_back(Event::Expunge { folder, uids });
    }

    /// RFC 3501 §6.4.4 SEARCH / UID SEARCH: streamed from `poll` (Pending::Search). With a
    /// MODSEQ key the response ends `(MODSEQ n)`, the highest of the matches (RFC 7162 §3.1.5).
    /// RFC 4731 / RFC 5182: with `RETURN (...)` the answer is `* ESEARCH` and/or `$`.
    fn search(&mut self, tag: Tag, uid: bool, ret: Option<ReturnOpts>, key: SearchKey) {
        // RFC 9051 §6.4.4: in IMAP4rev2 a SEARCH without RETURN is RETURN (ALL), answered
        // with ESEARCH (there is no `* SEARCH` response in rev2).
        let ret = ret.or_else(|| self.rev2.then(|| ReturnOpts { all: true, ..ReturnOpts::default() }));
        let sink = match ret {
            Some(opts) => Sink::Esearch(Collect::new(opts, uid)),
            None => Sink::Line,
        };
        self.search_into(tag, uid, key, sink);
    }

    /// Starts the stepwise search of SEARCH, SORT and THREAD; `sink` takes the matches.
    fn search_into(&mut self, tag: Tag, uid: bool, mut key: SearchKey, sink: Sink) {
        let with_modseq = key.has_modseq();
        if with_modseq {
            self.enable_condstore();
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        key.prepare(sel.count(), sel.max_uid());
        let now_ms = self.policy.unix_base_ms.saturating_add(self.idle_since_ms);
        key.set_now(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX));
        self.pending = Pending::Search { tag, job: SearchJob::new(key, uid, with_modseq).with_sink(sink) };
    }

    /// RFC 3501 §6.4.5 FETCH / §6.4.8 UID FETCH. Body items without .PEEK set \Seen first
    /// (a Store event), then the output streams from `poll`. RFC 7162: MODSEQ and
    /// CHANGEDSINCE enable CONDSTORE (§3.1.4), VANISHED sends the expunged UIDs of the set
    /// first (§3.2.6).
    fn fetch(
        &mut self,
        tag: Tag,
        uid: bool,
        set: &SequenceSet,
        mut atts: Vec<FetchAtt>,
        mods: FetchMods,
        store: &mut dyn Mailstore,
    ) {
        let (changed_since, vanished) = mods;
        if vanished && !(uid && self.qresync && changed_since.is_some()) {
            return self.tagged(&tag, "BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        }
        if changed_since.is_some() || atts.contains(&FetchAtt::Modseq) {
            self.enable_condstore();
        }
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if uid && !atts.contains(&FetchAtt::Uid) {
            atts.insert(0, FetchAtt::Uid);
        }
        let ranges = sel.seq_ranges(set, uid);
        let sets_seen = !sel.read_only && atts.iter().any(FetchAtt::sets_seen);
        if sets_seen && !atts.contains(&FetchAtt::Flags) {
            atts.push(FetchAtt::Flags);
        }
        // RFC 7162 §3.1: a FETCH that sets \Seen reports UID and MODSEQ too; CHANGEDSINCE
        // implies MODSEQ (§3.1.4.1).
        if condstore && sets_seen && !atts.contains(&FetchAtt::Uid) {
            atts.insert(0, FetchAtt::Uid);
        }
        if (changed_since.is_some() || (condstore && sets_seen)) && !atts.contains(&FetchAtt::Modseq) {
            atts.push(FetchAtt::Modseq);
        }
        if vanished {
            let uid_ranges = set.normalize(sel.uidnext.saturating_sub(1), false);
            let since = changed_since.unwrap_or(0);
            let mut buf = Vec::new();
            super::view::vanished_lines(&mut buf, "(EARLIER) ", &vanished_earlier(sel, &uid_ranges, since, store));
            self.raw(buf);
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let unseen: Vec<u32> = match sets_seen {
            true => sel.uids_where(&ranges, store, |m| m.flags & flag::SEEN == 0),
            false => Vec::new(),
        };
        if self.uidonly {
            // RFC 9586 §3.3: no UID data item in a UIDFETCH response.
            atts.retain(|a| *a != FetchAtt::Uid);
        }
        let mut job = FetchJob::new(atts, ranges);
        job.changed_since = changed_since;
        if unseen.is_empty() {
            self.pending = Pending::Fetch { tag, job, done: "OK FETCH completed".into() };
            return;
        }
        let folder = sel.name.clone();
        self.pending = Pending::Store { tag, uid, silent: true, fetch: Some(job), conditional: false };
        self.out.push_back(Event::Store {
            folder,
            uids: unseen,
            op: StoreOp::Add,
            flags: flag::SEEN,
            keywords: Vec::new(),
            unchanged_since: None,
        });
    }

    /// RFC 3501 §6.4.6 STORE / UID STORE; RFC 7162 §3.1.3 UNCHANGEDSINCE.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: Tag,
        uid: bool,
        set: &SequenceSet,
        op: StoreOp,
        silent: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
    ) {
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if sel.read_only {
            return self.tagged(&tag, "NO [READ-ONLY] Mailbox is read-only");
        }
        let Some((bits, keywords)) = split_flags(flags) else {
            return self.tagged(&tag, "BAD Invalid keyword");
        };
        let uids = sel.uids(&sel.seq_ranges(set, uid));
        if uids.is_empty() {
            return self.tagged(&tag, "OK STORE completed");
        }
        let folder = sel.name.clone();
        let conditional = unchanged_since.is_some();
        self.pending = Pending::Store { tag, uid, silent, fetch: None, conditional };
        self.out.push_back(Event::Store { folder, uids, op, flags: bits, keywords, unchanged_since });
    }

    /// An APPEND literal was announced (RFC 3501 §6.3.11): check the command before
    /// taking any of it; a refused synchronizing literal is never sent by the client.
    pub(super) fn append_started(&mut self, prefix: &[u8], size: u64, store: &mut dyn Mailstore) {
        let checked = self.check_append(prefix, store).and_then(|(tag, event)| {
            // RFC 9208 §4.3: refused before the literal is taken.
            match self.over_quota(size, 1, store) {
                Some(text) => Err((Some(tag), text)),
                None => Ok((tag, event)),
            }
        });
        let (tag, event) = match checked {
            Ok(ok) => ok,
            Err((tag, text)) => {
                self.framer.reject_append();
                let tag = tag.map_or_else(|| "*".to_owned(), |t| t.to_string());
                return self.raw(format!("{tag} {text}\r\n").into_bytes());
            }
        };
        if self.framer.accept_append() {
            self.raw(b"+ Ready for literal data\r\n".to_vec());
        }
        let Event::AppendStarted { folder, flags, keywords, date, .. } = event else {
            return;
        };
        self.multiappend_begin(&folder, size);
        self.out.push_back(Event::AppendStarted { folder, flags, keywords, date, size });
        self.pending = Pending::AppendData(tag);
    }

    fn check_append(&self, prefix: &[u8], store: &mut dyn Mailstore) -> Result<(Tag, Event), (Option<Tag>, String)> {
        let p = append_prefix(prefix).map_err(|b| (None, format!("BAD {}", b.0)))?;
        let tag = p.tag.clone();
        let fail = |text: &str| (Some(tag.clone()), text.to_owned());
        if !matches!(self.state, State::Authenticated | State::Selected) {
            return Err(fail("BAD Command not valid in this state"));
        }
        if p.utf8 && !self.utf8 {
            return Err(fail("BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT"));
        }
        let name = self.mailbox(&p.mailbox).map_err(|e| fail(self.name_error(e)))?;
        let folders = store.folders().map_err(|e| fail(store_error(e, true)))?;
        if !folders.iter().any(|f| f.name == name.as_str()) {
            return Err(fail(store_error(super::api::StoreError::NotFound, true)));
        }
        let (flags, keywords) = split_flags(&p.flags).ok_or_else(|| fail("BAD Invalid keyword"))?;
        let folder = name.as_str().to_owned();
        Ok((p.tag, Event::AppendStarted { folder, flags, keywords, date: p.date, size: 0 }))
    }

    /// The APPEND literal ended: commit (CRLF followed) or abort.
    pub(super) fn append_finished(&mut self, ok: bool) {
        let Pending::AppendData(tag) = std::mem::replace(&mut self.pending, Pending::None) else {
            return;
        };
        if ok {
            self.pending = Pending::AppendCommit(tag);
            self.out.push_back(Event::AppendEnded);
        } else {
            self.out.push_back(Event::AppendAborted);
            self.tagged(&tag, "BAD Expected CRLF after the message literal");
        }
    }
}

/// New names may not hold the LIST wildcards (RFC 3501 §6.3.8; Dovecot refuses them too):
/// such a folder could never be listed on its own.
fn has_wildcard(name: &str) -> bool {
    name.contains(['*', '%'])
}

const WILDCARD_NO: &str = "NO [CANNOT] Mailbox name may not contain * or %";

/// System bits and keyword names; `None` for an over-long keyword.
pub(super) fn split_flags(flags: &[Flag]) -> Option<(u32, Vec<String>)> {
    let mut bits = 0;
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::System(b) => bits |= b,
            Flag::Keyword(k) if k.len() > KEYWORD_MAX => return None,
            Flag::Keyword(k) => keywords.push(k.clone()),
        }
    }
    Some((bits, keywords))
}
