//! LIST and LSUB: RFC 3501 §6.3.8-§6.3.9 (wildcards, `""` pattern), RFC 5258
//! LIST-EXTENDED (selection options SUBSCRIBED/REMOTE/RECURSIVEMATCH, return options
//! SUBSCRIBED/CHILDREN, several patterns, `\NonExistent`, `\Subscribed`, CHILDINFO),
//! RFC 3348 CHILDREN (`\HasChildren` / `\HasNoChildren`), RFC 6154 §2 and §5 SPECIAL-USE
//! (attributes, selection and return option) and RFC 5819 LIST-STATUS (a `* STATUS` after
//! each selectable mailbox listed). Names are matched in their wire form (modified UTF-7,
//! or UTF-8 after RFC 6855 UTF8=ACCEPT).

use std::collections::{BTreeMap, HashSet};

use super::api::{FolderInfo, Mailstore};
use super::parser::ListOptions;
use super::session::{store_error, Session};
use super::types::{Tag, DELIMITER};

/// Longest LIST pattern, and most pattern bytes in one LIST (RFC 5258 allows several): the
/// matcher is O(pattern x name) per candidate name.
pub const LIST_PATTERN_MAX: usize = 1024;

/// One name of a LIST answer, before encoding.
#[derive(Debug, Default)]
struct Row {
    /// Index into the store's folder list when the folder exists.
    folder: Option<usize>,
    subscribed: bool,
    /// RFC 5258 §3.5 CHILDINFO ("SUBSCRIBED"): a subscribed descendant the patterns miss.
    childinfo: bool,
}

/// INBOX first, then byte order (RFC 3501 leaves the order free; Dovecot does this too).
fn order_key(name: &str) -> (bool, String) {
    (name != "INBOX", name.to_owned())
}

/// Every proper ancestor of `name` (`a`, `a/b` for `a/b/c`).
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(DELIMITER).map(move |(i, _)| name.get(..i).unwrap_or(""))
}

impl Session {
    /// RFC 3501 §6.3.8 LIST / §6.3.9 LSUB and their extensions (module doc).
    pub(super) fn list(
        &mut self,
        tag: Tag,
        reference: &[u8],
        patterns: &[Vec<u8>],
        lsub: bool,
        opts: &ListOptions,
        store: &mut dyn Mailstore,
    ) {
        let cmd = if lsub { "LSUB" } else { "LIST" };
        if let [only] = patterns {
            if only.is_empty() {
                // §6.3.8: the hierarchy delimiter and the root name.
                self.untagged(&format!("{cmd} (\\Noselect) \"/\" \"\""));
                return self.tagged(&tag, &format!("OK {cmd} completed"));
            }
        }
        let mut full: Vec<Vec<u8>> = Vec::new();
        for p in patterns.iter().filter(|p| !p.is_empty()) {
            let mut f = reference.to_vec();
            f.extend_from_slice(p);
            full.push(f);
        }
        if full.iter().map(Vec::len).sum::<usize>() > LIST_PATTERN_MAX {
            return self.tagged(&tag, "BAD Pattern too long");
        }
        let folders = match store.folders() {
            Ok(f) => f,
            Err(e) => return self.tagged(&tag, store_error(e, false)),
        };
        let need_subs = lsub || opts.sel_subscribed || opts.ret_subscribed;
        let subs = match need_subs.then(|| store.subscriptions()).transpose() {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => return self.tagged(&tag, store_error(e, false)),
        };
        let rows = match lsub {
            true => self.lsub_rows(&full, &folders, &subs),
            false => self.list_rows(&full, &folders, &subs, opts),
        };
        let mut buf = Vec::new();
        for ((_, name), row) in &rows {
            self.list_line(&mut buf, cmd, name, row, &folders, lsub, opts);
            if let (Some(items), Some(_)) = (&opts.ret_status, row.folder) {
                // RFC 5819 §2: STATUS right after the mailbox's LIST line; a mailbox that
                // cannot be opened just gets no STATUS.
                if let Ok(snap) = store.peek(name) {
                    self.status_response(&mut buf, name, items, &snap);
                }
            }
        }
        self.raw(buf);
        self.tagged(&tag, &format!("OK {cmd} completed"));
    }

    fn matches(&self, patterns: &[Vec<u8>], name: &str) -> bool {
        let wire = self.wire_name(name);
        patterns.iter().any(|p| pattern_match(p, wire.as_bytes()))
    }

    /// LIST: existing folders and their missing ancestors (`\NonExistent`/`\Noselect`
    /// parents, RFC 5258 §3), or the subscribed / special-use ones when selected so.
    fn list_rows(
        &self,
        patterns: &[Vec<u8>],
        folders: &[FolderInfo],
        subs: &[String],
        opts: &ListOptions,
    ) -> BTreeMap<(bool, String), Row> {
        let mut rows: BTreeMap<(bool, String), Row> = BTreeMap::new();
        let index: BTreeMap<&str, usize> = folders.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect();
        let subscribed: HashSet<&str> = subs.iter().map(String::as_str).collect();
        let add = |rows: &mut BTreeMap<(bool, String), Row>, name: &str| {
            let row = rows.entry(order_key(name)).or_default();
            row.folder = index.get(name).copied();
            row.subscribed = subscribed.contains(name);
        };
        if opts.sel_subscribed {
            for s in subs.iter().filter(|s| self.matches(patterns, s)) {
                add(&mut rows, s);
            }
            if opts.recursive_match {
                for s in subs.iter().filter(|s| !self.matches(patterns, s)) {
                    for a in ancestors(s).filter(|a| self.matches(patterns, a)) {
                        add(&mut rows, a);
                        if let Some(r) = rows.get_mut(&order_key(a)) {
                            r.childinfo = true;
                        }
                    }
                }
            }
        } else {
            // Each name (a folder or a shared ancestor) is matched once.
            let mut seen: HashSet<&str> = HashSet::new();
            for f in folders {
                for a in ancestors(&f.name).chain(std::iter::once(f.name.as_str())) {
                    if seen.insert(a) && self.matches(patterns, a) {
                        add(&mut rows, a);
                    }
                }
            }
        }
        if opts.sel_special_use {
            rows.retain(|_, r| r.folder.and_then(|i| folders.get(i)).is_some_and(|f| !f.attributes.is_empty()));
        }
        rows
    }

    /// LSUB: subscribed names; a subscribed name the pattern misses whose unsubscribed
    /// parent it matches (`%`) brings the parent, flagged \Noselect (RFC 3501 §6.3.9).
    fn lsub_rows(
        &self,
        patterns: &[Vec<u8>],
        folders: &[FolderInfo],
        subs: &[String],
    ) -> BTreeMap<(bool, String), Row> {
        let mut rows: BTreeMap<(bool, String), Row> = BTreeMap::new();
        let index: BTreeMap<&str, usize> = folders.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect();
        let subscribed: HashSet<&str> = subs.iter().map(String::as_str).collect();
        for s in subs {
            let folder = index.get(s.as_str()).copied();
            if self.matches(patterns, s) {
                rows.insert(order_key(s), Row { folder, subscribed: true, childinfo: false });
                continue;
            }
            for a in ancestors(s).filter(|a| !subscribed.contains(a) && self.matches(patterns, a)) {
                rows.entry(order_key(a)).or_default();
            }
        }
        rows
    }

    /// `* LIST (attrs) "/" name [(CHILDINFO ("SUBSCRIBED"))]`.
    #[allow(clippy::too_many_arguments)]
    fn list_line(
        &self,
        buf: &mut Vec<u8>,
        cmd: &str,
        name: &str,
        row: &Row,
        folders: &[FolderInfo],
        lsub: bool,
        opts: &ListOptions,
    ) {
        let mut attrs: Vec<&str> = Vec::new();
        let info = row.folder.and_then(|i| folders.get(i));
        match info {
            None if lsub && row.subscribed => {}
            // RFC 9051 §6.3.9: IMAP4rev2 has only the extended form.
            None if opts.extended || self.rev2 => attrs.push("\\NonExistent"),
            None => attrs.push("\\Noselect"),
            Some(_) => {}
        }
        if !lsub && row.subscribed && (opts.sel_subscribed || opts.ret_subscribed) {
            attrs.push("\\Subscribed");
        }
        if let Some(f) = info {
            attrs.extend(f.attributes.iter().map(String::as_str));
        }
        // RFC 3348 children attributes (not for LSUB's \Noselect parents, as Dovecot).
        let prefix = format!("{name}{DELIMITER}");
        let children = folders.iter().any(|o| o.name.starts_with(&prefix));
        match children {
            _ if lsub && info.is_none() && !row.subscribed => {}
            true => attrs.push("\\HasChildren"),
            false => attrs.push("\\HasNoChildren"),
        }
        buf.extend_from_slice(format!("* {cmd} ({}) \"/\" ", attrs.join(" ")).as_bytes());
        self.put_name(buf, &self.wire_name(name));
        if row.childinfo {
            buf.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        buf.extend_from_slice(b"\r\n");
    }
}

/// RFC 3501 §6.3.8 wildcards: `*` matches anything, `%` anything but the delimiter.
/// INBOX matches case-insensitively. Dynamic programming, O(pattern x name).
pub fn pattern_match(pattern: &[u8], name: &[u8]) -> bool {
    let inbox = |s: &[u8]| s.len() >= 5 && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"INBOX"));
    let (pattern, name) = match inbox(pattern) && inbox(name) {
        true => (pattern.get(5..).unwrap_or(&[]), name.get(5..).unwrap_or(&[])),
        false => (pattern, name),
    };
    let mut row = vec![false; name.len() + 1];
    if let Some(empty) = row.first_mut() {
        *empty = true;
    }
    for &pc in pattern {
        let mut next = vec![false; name.len() + 1];
        for j in 0..=name.len() {
            let prev = row.get(j).copied().unwrap_or(false);
            let left = j.checked_sub(1).and_then(|k| next.get(k).copied()).unwrap_or(false);
            let diag = j.checked_sub(1).and_then(|k| row.get(k).copied()).unwrap_or(false);
            let c = j.checked_sub(1).and_then(|k| name.get(k).copied());
            let hit = match pc {
                b'*' => prev || (left && c.is_some()),
                b'%' => prev || (left && c.is_some_and(|c| c != b'/')),
                _ => diag && c == Some(pc),
            };
            if let Some(slot) = next.get_mut(j) {
                *slot = hit;
            }
        }
        row = next;
    }
    row.last().copied().unwrap_or(false)
}
