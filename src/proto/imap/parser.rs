//! Hand-written parser for the IMAP commands we serve (RFC 3501 §6 and §9 ABNF, RFC 9051
//! where it relaxes it; RFC 2971 ID, RFC 5161 ENABLE, RFC 2177 IDLE, RFC 4315 UID EXPUNGE,
//! RFC 3691 UNSELECT, RFC 4959 SASL-IR; RFC 4466 select parameters and FETCH/STORE modifiers
//! with the RFC 7162 §7 CONDSTORE/QRESYNC grammar). Input is one frame from the framer: a command with
//! its literals inline, final CRLF removed. Each function is named after its ABNF rule.
//! Mailbox names are returned raw: validating them is a NO, not a BAD (BAD-INPUTS 33/34).

use crate::auth::Secret;

use super::api::StoreOp;
use super::esearch::{search_return_opts, ReturnOpts};
use super::fetch::{fetch_atts, FetchAtt};
use super::reader::date_time;
pub use super::reader::{Bad, Flag, FLAGS_MAX, P, R};
use super::search::{search_program, SearchKey};
#[cfg(feature = "imap-sort")]
use super::sort::{sort_command, Criterion};
#[cfg(feature = "imap-sort")]
use super::thread::{thread_command, ThreadAlgo};
use super::types::{is_astring_char, SequenceSet, Tag};

/// STATUS items (RFC 3501 §6.3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
    /// RFC 7162 §3.1.2.3.
    HighestModseq,
    /// RFC 8474 §4.2.
    #[cfg(feature = "objectid")]
    MailboxId,
}

/// RFC 7162 §3.2.5 `select-param =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
/// [SP known-uids] [SP seq-match-data] ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    /// UIDs the client knows (absent: all of `1:UIDNEXT-1`).
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`: message numbers and their UIDs, pairwise.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// RFC 5258 §3 selection and return options, RFC 6154 §5 SPECIAL-USE, RFC 5819 STATUS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// LIST-EXTENDED syntax was used (`\NonExistent` instead of `\Noselect`).
    pub extended: bool,
    pub sel_subscribed: bool,
    pub sel_special_use: bool,
    pub recursive_match: bool,
    pub ret_subscribed: bool,
    pub ret_children: bool,
    pub ret_special_use: bool,
    /// RFC 5819 `STATUS (items)` return option.
    pub ret_status: Option<Vec<StatusItem>>,
}

/// Patterns in one LIST (RFC 5258 `patterns`).
pub const LIST_PATTERNS_MAX: usize = 64;

#[derive(Debug)]
pub enum Command {
    /// RFC 4978 `COMPRESS algorithm` (upper case).
    Compress(String),
    /// RFC 9208 §4.2 GETQUOTA (quota root), §4.3 GETQUOTAROOT (mailbox), §4.1 SETQUOTA.
    GetQuota(Vec<u8>),
    GetQuotaRoot(Vec<u8>),
    SetQuota,
    /// RFC 5465 §3 NOTIFY SET (`Some`) or NONE.
    #[cfg(feature = "notify")]
    Notify(Option<super::notify::NotifySet>),
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: String,
        pass: Secret,
    },
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Id,
    /// RFC 5161 §3.1: the capability names (upper case); unknown ones are ignored.
    Enable(Vec<String>),
    Namespace,
    /// LIST / LSUB; RFC 5258 LIST-EXTENDED: several patterns and options.
    List {
        reference: Vec<u8>,
        patterns: Vec<Vec<u8>>,
        lsub: bool,
        opts: ListOptions,
    },
    Select {
        mailbox: Vec<u8>,
        read_only: bool,
        /// RFC 7162 §3.1.8 `(CONDSTORE)`.
        condstore: bool,
        qresync: Option<QResync>,
    },
    /// CREATE, with the RFC 6154 §3 `USE` attributes (raw, e.g. `\\Archive`).
    Create(Vec<u8>, Vec<String>),
    Delete(Vec<u8>),
    Rename(Vec<u8>, Vec<u8>),
    /// SUBSCRIBE (true) and UNSUBSCRIBE (false), RFC 3501 §6.3.6/§6.3.7.
    Subscribe(Vec<u8>, bool),
    /// COPY / UID COPY (RFC 3501 §6.4.7) and MOVE / UID MOVE (RFC 6851 §3).
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: Vec<u8>,
        mv: bool,
    },
    Status {
        mailbox: Vec<u8>,
        items: Vec<StatusItem>,
    },
    Close,
    Unselect,
    Check,
    Expunge(Option<SequenceSet>),
    /// RFC 5267 §4.3 `CANCELUPDATE 1*(SP quoted)`: the tags of live searches to end.
    #[cfg(feature = "imap-context")]
    CancelUpdate(Vec<String>),
    /// SEARCH; `ret`: RFC 4731 / RFC 5182 `RETURN (...)`, answered with ESEARCH.
    Search {
        uid: bool,
        ret: Option<ReturnOpts>,
        key: SearchKey,
    },
    /// RFC 5256 SORT / UID SORT; `ret`: RFC 5267 ESORT `RETURN (...)`.
    #[cfg(feature = "imap-sort")]
    Sort {
        uid: bool,
        ret: Option<ReturnOpts>,
        criteria: Vec<Criterion>,
        key: SearchKey,
    },
    /// RFC 5256 THREAD / UID THREAD.
    #[cfg(feature = "imap-sort")]
    Thread {
        uid: bool,
        algo: ThreadAlgo,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        atts: Vec<FetchAtt>,
        /// RFC 7162 §3.1.4.1 `(CHANGEDSINCE n)`.
        changed_since: Option<u64>,
        /// RFC 7162 §3.2.6 `VANISHED` modifier (UID FETCH with CHANGEDSINCE only).
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        op: StoreOp,
        silent: bool,
        flags: Vec<Flag>,
        /// RFC 7162 §3.1.3 `(UNCHANGEDSINCE n)`.
        unchanged_since: Option<u64>,
    },
    Idle,
}

/// The parsed front of an APPEND (everything before the message literal).
#[derive(Debug)]
pub struct AppendPrefix {
    pub tag: Tag,
    pub mailbox: Vec<u8>,
    pub flags: Vec<Flag>,
    pub date: Option<i64>,
    /// RFC 6855 §4 `"UTF8" SP "(" literal8 ")"` form.
    pub utf8: bool,
}

/// RFC 3501 §9 `command = tag SP (command-any / command-auth / command-nonauth /
/// command-select) CRLF`. The tag comes back with the error when it was readable.
pub fn command(frame: &[u8]) -> Result<(Tag, Command), (Option<Tag>, Bad)> {
    let mut p = P::new(frame);
    let tag = tag(&mut p).map_err(|e| (None, e))?;
    let cmd = (|| {
        p.sp()?;
        let cmd = command_body(&mut p)?;
        p.end()?;
        Ok(cmd)
    })();
    match cmd {
        Ok(c) => Ok((tag, c)),
        Err(e) => Err((Some(tag), e)),
    }
}

/// RFC 3501 §9 `tag`.
pub(super) fn tag(p: &mut P) -> R<Tag> {
    let t = p.take_while(|c| is_astring_char(c) && c != b'+');
    Tag::new(t).ok_or(Bad("Invalid tag"))
}

/// The command name and its arguments.
fn command_body(p: &mut P) -> R<Command> {
    let name = p.atom()?.to_ascii_uppercase();
    match name.as_slice() {
        b"CAPABILITY" => Ok(Command::Capability),
        b"NOOP" => Ok(Command::Noop),
        b"LOGOUT" => Ok(Command::Logout),
        b"STARTTLS" => Ok(Command::StartTls),
        b"NAMESPACE" => Ok(Command::Namespace),
        b"CLOSE" => Ok(Command::Close),
        b"UNSELECT" => Ok(Command::Unselect),
        #[cfg(feature = "imap-context")]
        b"CANCELUPDATE" => super::context::cancel_update(p),
        b"CHECK" => Ok(Command::Check),
        b"EXPUNGE" => Ok(Command::Expunge(None)),
        b"IDLE" => Ok(Command::Idle),
        b"LOGIN" => login(p),
        b"AUTHENTICATE" => authenticate(p),
        b"ID" => id(p),
        b"ENABLE" => enable(p),
        b"LIST" | b"LSUB" => list(p, name.as_slice() == b"LSUB"),
        b"SELECT" | b"EXAMINE" => select(p, name.as_slice() == b"EXAMINE"),
        b"CREATE" | b"DELETE" | b"SUBSCRIBE" | b"UNSUBSCRIBE" => one_mailbox(p, &name),
        b"RENAME" => rename(p),
        b"STATUS" => status(p),
        b"SEARCH" | b"FETCH" | b"STORE" => selected_command(p, &name, false),
        b"COPY" | b"MOVE" => copy(p, false, name.as_slice() == b"MOVE"),
        #[cfg(feature = "imap-sort")]
        b"SORT" => sort_command(p, false),
        #[cfg(feature = "imap-sort")]
        b"THREAD" => thread_command(p, false),
        b"UID" => uid(p),
        b"COMPRESS" => super::compress::command(p),
        #[cfg(feature = "notify")]
        b"NOTIFY" => super::notify::command(p),
        b"GETQUOTA" | b"GETQUOTAROOT" | b"SETQUOTA" => super::quota::command(p, &name),
        _ => Err(Bad("Unknown command")),
    }
}

/// RFC 3501 §9 `login = "LOGIN" SP userid SP password`.
fn login(p: &mut P) -> R<Command> {
    p.sp()?;
    let user = p.text()?;
    p.sp()?;
    let pass = Secret::new(p.astring()?);
    Ok(Command::Login { user, pass })
}

/// RFC 4959 §3 `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]`.
fn authenticate(p: &mut P) -> R<Command> {
    p.sp()?;
    let mechanism = String::from_utf8_lossy(p.atom()?).into_owned();
    let initial = match p.eat(b' ') {
        true => Some(p.take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c)).to_vec()),
        false => None,
    };
    Ok(Command::Authenticate { mechanism, initial })
}

/// RFC 2971 §4 `id = "ID" SP id-params-list`; the client's values are not used.
fn id(p: &mut P) -> R<Command> {
    p.sp()?;
    if !p.keyword("NIL") {
        p.skip_value(1)?;
    }
    Ok(Command::Id)
}

/// RFC 5161 §4 `enable = "ENABLE" 1*(SP capability)`.
fn enable(p: &mut P) -> R<Command> {
    let mut caps = Vec::new();
    while p.eat(b' ') {
        caps.push(String::from_utf8_lossy(p.atom()?).to_ascii_uppercase());
        if caps.len() > FLAGS_MAX {
            return Err(Bad("Too many capabilities"));
        }
    }
    match caps.is_empty() {
        true => Err(Bad("Capability expected")),
        false => Ok(Command::Enable(caps)),
    }
}

/// RFC 5258 §6 `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
/// [SP list-return-opts]`; LSUB is RFC 3501 §9 `lsub = "LSUB" SP mailbox SP list-mailbox`.
fn list(p: &mut P, lsub: bool) -> R<Command> {
    p.sp()?;
    let mut opts = ListOptions::default();
    if !lsub && p.peek() == Some(b'(') {
        list_select_opts(p, &mut opts)?;
        p.sp()?;
    }
    let reference = p.mailbox()?;
    p.sp()?;
    let patterns = match (lsub, p.peek()) {
        (false, Some(b'(')) => {
            opts.extended = true;
            list_patterns(p)?
        }
        _ => vec![p.list_mailbox()?],
    };
    if !lsub && p.eat(b' ') {
        list_return_opts(p, &mut opts)?;
    }
    Ok(Command::List { reference, patterns, lsub, opts })
}

/// RFC 5258 §6 `patterns = "(" list-mailbox *(SP list-mailbox) ")"`.
fn list_patterns(p: &mut P) -> R<Vec<Vec<u8>>> {
    p.expect(b'(')?;
    let mut v = vec![p.list_mailbox()?];
    while p.eat(b' ') {
        v.push(p.list_mailbox()?);
        if v.len() > LIST_PATTERNS_MAX {
            return Err(Bad("Too many patterns"));
        }
    }
    p.expect(b')')?;
    Ok(v)
}

/// `( a b c )` of atoms, upper-cased; `item` handles each and may read arguments after it.
fn option_list(p: &mut P, mut item: impl FnMut(&mut P, &[u8]) -> R<()>) -> R<()> {
    p.expect(b'(')?;
    let mut n = 0;
    while !p.eat(b')') {
        if n > 0 {
            p.sp()?;
        }
        let a = p.atom()?.to_ascii_uppercase();
        item(p, &a)?;
        n += 1;
        if n > 16 {
            return Err(Bad("Too many options"));
        }
    }
    Ok(())
}

/// RFC 5258 §6 `list-select-opts`; RFC 6154 §6 `SPECIAL-USE`. RECURSIVEMATCH needs a base
/// option (SUBSCRIBED or SPECIAL-USE); unknown options are BAD (RFC 5258 §3).
fn list_select_opts(p: &mut P, o: &mut ListOptions) -> R<()> {
    o.extended = true;
    option_list(p, |_, a| {
        match a {
            b"SUBSCRIBED" => o.sel_subscribed = true,
            b"SPECIAL-USE" => o.sel_special_use = true,
            b"RECURSIVEMATCH" => o.recursive_match = true,
            b"REMOTE" => {}
            _ => return Err(Bad("Unknown LIST selection option")),
        }
        Ok(())
    })?;
    match o.recursive_match && !o.sel_subscribed && !o.sel_special_use {
        true => Err(Bad("RECURSIVEMATCH needs another selection option")),
        false => Ok(()),
    }
}

/// RFC 5258 §6 `list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"`,
/// RFC 5819 §4 `STATUS SP "(" status-att *(SP status-att) ")"`.
fn list_return_opts(p: &mut P, o: &mut ListOptions) -> R<()> {
    if !p.keyword("RETURN") {
        return Err(Bad("RETURN expected"));
    }
    p.sp()?;
    o.extended = true;
    option_list(p, |p, a| {
        match a {
            b"SUBSCRIBED" => o.ret_subscribed = true,
            b"CHILDREN" => o.ret_children = true,
            b"SPECIAL-USE" => o.ret_special_use = true,
            b"STATUS" => {
                p.sp()?;
                o.ret_status = Some(status_atts(p)?);
            }
            _ => return Err(Bad("Unknown LIST return option")),
        }
        Ok(())
    })
}

/// RFC 3501 §9 `select = "SELECT" SP mailbox`, RFC 4466 §2.1 `[select-params]` with the
/// RFC 7162 §7 parameters CONDSTORE and QRESYNC; any other parameter is BAD, as Dovecot does.
fn select(p: &mut P, read_only: bool) -> R<Command> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    let (mut condstore, mut qresync) = (false, None);
    if p.eat(b' ') {
        p.expect(b'(')?;
        while !p.eat(b')') {
            if condstore || qresync.is_some() {
                p.sp()?;
            }
            if p.keyword("CONDSTORE") {
                condstore = true;
            } else if p.keyword("QRESYNC") && qresync.is_none() {
                p.sp()?;
                qresync = Some(qresync_param(p)?);
            } else {
                return Err(Bad("Unknown select parameter"));
            }
        }
    }
    Ok(Command::Select { mailbox, read_only, condstore, qresync })
}

/// The parenthesized value of the QRESYNC select parameter (RFC 7162 §7).
fn qresync_param(p: &mut P) -> R<QResync> {
    p.expect(b'(')?;
    let uidvalidity = p.nz_number()?;
    p.sp()?;
    let modseq = p.mod_sequence()?;
    let mut q = QResync { uidvalidity, modseq, known_uids: None, seq_match: None };
    if p.eat(b' ') && p.peek() != Some(b'(') {
        q.known_uids = Some(p.sequence_set()?);
        p.eat(b' ');
    }
    if p.eat(b'(') {
        let seqs = p.sequence_set()?;
        p.sp()?;
        let uids = p.sequence_set()?;
        p.expect(b')')?;
        q.seq_match = Some((seqs, uids));
    }
    p.expect(b')')?;
    Ok(q)
}

fn one_mailbox(p: &mut P, name: &[u8]) -> R<Command> {
    p.sp()?;
    let m = p.mailbox()?;
    Ok(match name {
        b"CREATE" => Command::Create(m, create_params(p)?),
        b"DELETE" => Command::Delete(m),
        b"SUBSCRIBE" => Command::Subscribe(m, true),
        _ => Command::Subscribe(m, false),
    })
}

/// RFC 4466 §2.2 `create-params`, of which RFC 6154 §6 `USE (\\Attr ...)` is the one known.
fn create_params(p: &mut P) -> R<Vec<String>> {
    let mut uses = Vec::new();
    if !p.eat(b' ') {
        return Ok(uses);
    }
    option_list(p, |p, a| {
        if a != b"USE" {
            return Err(Bad("Unknown CREATE parameter"));
        }
        p.sp()?;
        for f in p.flag_list_raw()? {
            uses.push(f);
        }
        Ok(())
    })?;
    Ok(uses)
}

fn rename(p: &mut P) -> R<Command> {
    p.sp()?;
    let from = p.mailbox()?;
    p.sp()?;
    Ok(Command::Rename(from, p.mailbox()?))
}

/// RFC 3501 §9 `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`.
fn status(p: &mut P) -> R<Command> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    let items = status_atts(p)?;
    Ok(Command::Status { mailbox, items })
}

/// `"(" status-att *(SP status-att) ")"` (RFC 3501 §9, RFC 8438 SIZE, RFC 8474 MAILBOXID).
fn status_atts(p: &mut P) -> R<Vec<StatusItem>> {
    p.expect(b'(')?;
    let mut items = Vec::new();
    loop {
        let a = p.atom()?.to_ascii_uppercase();
        items.push(match a.as_slice() {
            b"MESSAGES" => StatusItem::Messages,
            b"RECENT" => StatusItem::Recent,
            b"UIDNEXT" => StatusItem::UidNext,
            b"UIDVALIDITY" => StatusItem::UidValidity,
            b"UNSEEN" => StatusItem::Unseen,
            b"SIZE" => StatusItem::Size,
            b"HIGHESTMODSEQ" => StatusItem::HighestModseq,
            #[cfg(feature = "objectid")]
            b"MAILBOXID" => StatusItem::MailboxId,
            _ => return Err(Bad("Unknown status item")),
        });
        if items.len() > 16 {
            return Err(Bad("Too many status items"));
        }
        if p.eat(b')') {
            return Ok(items);
        }
        p.sp()?;
    }
}

/// RFC 3501 §9 `uid = "UID" SP (copy / fetch / search / store)`; RFC 4315 `uid-expunge`.
fn uid(p: &mut P) -> R<Command> {
    p.sp()?;
    let name = p.atom()?.to_ascii_uppercase();
    match name.as_slice() {
        b"EXPUNGE" => {
            p.sp()?;
            Ok(Command::Expunge(Some(p.sequence_set()?)))
        }
        b"SEARCH" | b"FETCH" | b"STORE" => selected_command(p, &name, true),
        b"COPY" | b"MOVE" => copy(p, true, name.as_slice() == b"MOVE"),
        #[cfg(feature = "imap-sort")]
        b"SORT" => sort_command(p, true),
        #[cfg(feature = "imap-sort")]
        b"THREAD" => thread_command(p, true),
        _ => Err(Bad("Unknown UID command")),
    }
}

/// RFC 3501 §9 `copy = "COPY" SP sequence-set SP mailbox`; RFC 6851 §3 `move`.
fn copy(p: &mut P, uid: bool, mv: bool) -> R<Command> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(Command::Copy { uid, set, mailbox, mv })
}

fn selected_command(p: &mut P, name: &[u8], uid: bool) -> R<Command> {
    p.sp()?;
    match name {
        b"SEARCH" => {
            let ret = search_return_opts(p)?;
            Ok(Command::Search { uid, ret, key: search_program(p)? })
        }
        b"FETCH" => {
            let set = p.sequence_set()?;
            p.sp()?;
            let atts = fetch_atts(p)?;
            let (mut changed_since, mut vanished) = (None, false);
            if p.eat(b' ') {
                (changed_since, vanished) = fetch_modifiers(p)?;
            }
            Ok(Command::Fetch { uid, set, atts, changed_since, vanished })
        }
        _ => store(p, uid),
    }
}

/// RFC 4466 §2.4 `fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"` with
/// RFC 7162 §7 `"CHANGEDSINCE" SP mod-sequence-valzer` and `"VANISHED"`.
fn fetch_modifiers(p: &mut P) -> R<(Option<u64>, bool)> {
    p.expect(b'(')?;
    let (mut since, mut vanished) = (None, false);
    loop {
        if p.keyword("CHANGEDSINCE") && since.is_none() {
            p.sp()?;
            since = Some(p.mod_sequence()?);
        } else if p.keyword("VANISHED") && !vanished {
            vanished = true;
        } else {
            return Err(Bad("Unknown FETCH modifier"));
        }
        if p.eat(b')') {
            return Ok((since, vanished));
        }
        p.sp()?;
    }
}

/// RFC 3501 §9 `store = "STORE" SP sequence-set SP store-att-flags`; RFC 7162 §7
/// `[SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"]` before the flags.
fn store(p: &mut P, uid: bool) -> R<Command> {
    let set = p.sequence_set()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.eat(b'(') {
        if !p.keyword("UNCHANGEDSINCE") {
            return Err(Bad("Unknown STORE modifier"));
        }
        p.sp()?;
        unchanged_since = Some(p.mod_sequence()?);
        p.expect(b')')?;
        p.sp()?;
    }
    let op = match p.peek() {
        Some(b'+') => StoreOp::Add,
        Some(b'-') => StoreOp::Remove,
        _ => StoreOp::Replace,
    };
    if op != StoreOp::Replace {
        p.i += 1;
    }
    let silent = if p.keyword("FLAGS.SILENT") {
        true
    } else if p.keyword("FLAGS") {
        false
    } else {
        return Err(Bad("FLAGS expected"));
    };
    p.sp()?;
    let flags = match p.peek() {
        Some(b'(') => p.flag_list()?,
        _ => flag_sequence(p)?,
    };
    Ok(Command::Store { uid, set, op, silent, flags, unchanged_since })
}

/// `flag *(SP flag)` without parentheses.
fn flag_sequence(p: &mut P) -> R<Vec<Flag>> {
    let mut flags: Vec<Flag> = p.flag()?.into_iter().collect();
    while p.eat(b' ') {
        flags.extend(p.flag()?);
        if flags.len() > FLAGS_MAX {
            return Err(Bad("Too many flags"));
        }
    }
    Ok(flags)
}

/// RFC 3501 §9 `append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal`,
/// up to the message literal header (included in `prefix`).
pub fn append_prefix(prefix: &[u8]) -> R<AppendPrefix> {
    let mut p = P::new(prefix);
    let tag = tag(&mut p)?;
    p.sp()?;
    if !p.keyword("APPEND") {
        return Err(Bad("APPEND expected"));
    }
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    let (flags, date, utf8) = append_opts(&mut p)?;
    literal_header_only(&mut p)?;
    Ok(AppendPrefix { tag, mailbox, flags, date, utf8 })
}

/// RFC 3502 §6 `append-opts SP` and the start of `append-data`: `[flag-list SP] [date-time
/// SP]`, then RFC 6855 §4 `"UTF8" SP "(" "~"` or RFC 3516 §4.4's optional `~` of a literal8;
/// returns the flags, the date and whether it is the UTF8 form. (APPEND and each further
/// message of a MULTIAPPEND.)
pub(super) fn append_opts(p: &mut P) -> R<(Vec<Flag>, Option<i64>, bool)> {
    let mut flags = Vec::new();
    if p.peek() == Some(b'(') {
        flags = p.flag_list()?;
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        date = Some(date_time(p)?);
        p.sp()?;
    }
    let utf8 = p.keyword("UTF8");
    if utf8 {
        p.sp()?;
        p.expect(b'(')?;
        p.expect(b'~')?;
    } else {
        p.eat(b'~');
    }
    Ok((flags, date, utf8))
}

/// `{N}` or `{N+}` then CRLF and nothing else.
pub(super) fn literal_header_only(p: &mut P) -> R<()> {
    p.expect(b'{')?;
    p.number()?;
    p.eat(b'+');
    p.expect(b'}')?;
    p.eat(b'\r');
    p.expect(b'\n')?;
    p.end()
}

/// Is this literal header (ending `prefix`) the message of an APPEND? (framer hook)
pub fn is_append_message(prefix: &[u8]) -> bool {
    let mut with_crlf = prefix.to_vec();
    with_crlf.extend_from_slice(b"\r\n");
    append_prefix(&with_crlf).is_ok()
}
