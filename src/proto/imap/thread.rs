//! THREAD (RFC 5256 §3 `THREAD` and `UID THREAD`): ORDEREDSUBJECT and REFERENCES (the
//! §3 algorithm, steps 1-7), with the §4 `thread-list` response.
//!
//! Message-ID, In-Reply-To, Subject and Date come from the stored envelope and References
//! from the stored header fields ([`crate::mime::MimeSummary::header_fields`]); nothing is
//! read from the message. Every walk over the tree is iterative (a chain of 10,000
//! replies must not exhaust the stack, BAD-INPUTS 101) and links that would close a cycle
//! are refused (§3 step 1A/1B).

use std::collections::HashMap;
use std::io::Write as _;

use super::api::Mailstore;
use super::parser::Command;
use super::reader::{Bad, P, R};
use super::search::{search_charset, search_keys};
use super::session::Session;
use super::sort::{base_subject, sent_time, Match};
use super::types::Tag;

/// References used per message: the last ones (nearest ancestors) are the ones that place
/// it; older ones only add dummies (BAD-INPUTS 101: 10,000 references).
pub const REFS_PER_MESSAGE_MAX: usize = 64;
/// Reference ids held for one THREAD beyond each message's last one (about 100 B each):
/// past it, messages are placed by their last reference only.
pub const REF_IDS_BUDGET: usize = 32 * 1024;
/// Parent-pointer steps the cycle checks of step 1 may take in one THREAD: about 50 ms of
/// work; past it every further link is refused as if it closed a cycle, so crafted
/// reference chains cannot make threading quadratic without bound (BAD-INPUTS 101).
pub const WALK_BUDGET: u64 = 32 * 1024 * 1024;
/// Longest message id kept (RFC 5322 §2.1.1 line limit).
const MSG_ID_MAX: usize = 998;

/// RFC 5256 §5 `thread-alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgo {
    OrderedSubject,
    References,
}

/// A THREAD in progress: the algorithm and what threading needs of the matches so far
/// (read as each match is found, spread over the search's yielding steps).
#[derive(Debug)]
pub struct ThreadJob {
    pub algo: ThreadAlgo,
    pub uid: bool,
    infos: Vec<Info>,
    /// What is left of [`REF_IDS_BUDGET`].
    budget: usize,
}

impl ThreadJob {
    pub fn new(algo: ThreadAlgo, uid: bool) -> ThreadJob {
        ThreadJob { algo, uid, infos: Vec::new(), budget: REF_IDS_BUDGET }
    }

    /// One more match; returns the bytes its read counts as against the step budget.
    pub fn add(&mut self, m: Match, folder: &str, store: &mut dyn Mailstore) -> u64 {
        self.infos.push(info(&m, self.uid, folder, store, &mut self.budget));
        super::search::SUMMARY_COST
    }
}

/// RFC 5256 §5 `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`, after
/// the command name.
pub fn thread_command(p: &mut P, uid: bool) -> R<Command> {
    p.sp()?;
    let algo = match p.atom()?.to_ascii_uppercase().as_slice() {
        b"ORDEREDSUBJECT" => ThreadAlgo::OrderedSubject,
        b"REFERENCES" => ThreadAlgo::References,
        _ => return Err(Bad("Unknown threading algorithm")),
    };
    p.sp()?;
    let cs = search_charset(p)?;
    p.sp()?;
    let key = search_keys(p, cs)?;
    Ok(Command::Thread { uid, algo, key })
}

/// What threading needs of one message.
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// The number written in the response (UID or sequence number).
    pub id: u32,
    pub seq: u32,
    /// Sent date (RFC 5256 §2.2), UTC seconds.
    pub date: i64,
    pub subject: String,
    /// The subject had `Re:`, `Fwd:`, `(fwd)` or a `[fwd: ]` wrapper (§3 step 5).
    pub reply: bool,
    pub message_id: Option<String>,
    /// References (or In-Reply-To), oldest first.
    pub refs: Vec<String>,
}

/// A forest of messages (`msg`, an index into the infos) and dummies (`None`).
#[derive(Debug, Default)]
pub struct Forest {
    msg: Vec<Option<usize>>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    pub roots: Vec<usize>,
    /// What is left of [`WALK_BUDGET`].
    walk_left: u64,
}

impl Forest {
    /// Steps left of [`WALK_BUDGET`] (0: links were refused for want of it).
    #[cfg(test)]
    pub fn walks_left(&self) -> u64 {
        self.walk_left
    }

    fn node(&mut self, msg: Option<usize>) -> usize {
        self.msg.push(msg);
        self.parent.push(None);
        self.children.push(Vec::new());
        self.msg.len() - 1
    }

    fn unlink(&mut self, c: usize) {
        if let Some(p) = self.parent.get_mut(c).and_then(Option::take) {
            if let Some(ch) = self.children.get_mut(p) {
                ch.retain(|&x| x != c);
            }
        }
    }

    fn link(&mut self, p: usize, c: usize) {
        self.unlink(c);
        if let (Some(slot), Some(ch)) = (self.parent.get_mut(c), self.children.get_mut(p)) {
            *slot = Some(p);
            ch.push(c);
        }
    }

    /// Is `a` `b` or one of its ancestors? (The forest has no cycles, so this ends.) Once
    /// [`WALK_BUDGET`] is spent the answer is `true`: the caller then makes no link.
    fn is_ancestor(&mut self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        while let Some(n) = cur {
            if n == a || self.walk_left == 0 {
                return true;
            }
            self.walk_left -= 1;
            cur = self.parent.get(n).copied().flatten();
        }
        false
    }

    /// Nodes below `roots`, every child after its parent (pre-order, iterative).
    fn preorder(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.msg.len());
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.children.get(n).into_iter().flatten().rev());
        }
        out
    }
}

/// The ids between `<` and `>` in a field value (RFC 5322 §3.6.4 `msg-id`).
fn msg_ids(v: &str) -> impl Iterator<Item = &str> {
    v.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>'))
        .map(|(id, _)| id.trim())
        .filter(|id| !id.is_empty() && id.len() <= MSG_ID_MAX)
}

/// Reads what threading needs of one match (stored envelope and header fields).
fn info(m: &Match, uid: bool, folder: &str, store: &mut dyn Mailstore, budget: &mut usize) -> Info {
    let (env, references) = store.envelope(folder, m.uid, Some("references")).unwrap_or_default();
    let (subject, reply) = base_subject(env.subject.as_deref().unwrap_or(""));
    let mut refs: Vec<String> =
        references.as_deref().map(|v| msg_ids(v).map(str::to_owned).collect()).unwrap_or_default();
    // §3 step 1: no valid References, then the first id of In-Reply-To.
    if refs.is_empty() {
        refs.extend(env.in_reply_to.as_deref().and_then(|v| msg_ids(v).next()).map(str::to_owned));
    }
    let keep = REFS_PER_MESSAGE_MAX.min(budget.saturating_add(1)).max(1);
    refs.drain(..refs.len().saturating_sub(keep));
    *budget = budget.saturating_sub(refs.len().saturating_sub(1));
    Info {
        id: if uid { m.uid } else { m.seq },
        seq: m.seq,
        date: sent_time(&env, m.internal_date),
        subject: subject.to_ascii_uppercase(),
        reply,
        message_id: env.message_id.as_deref().and_then(|v| msg_ids(v).next()).map(str::to_owned),
        refs,
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3): by base subject then sent date; each subject is one
/// thread, its first message the parent of the others; threads by their first's date.
pub fn ordered_subject(infos: &[Info]) -> Forest {
    let mut order: Vec<usize> = (0..infos.len()).collect();
    let key = |i: usize| infos.get(i).map(|m| (m.subject.as_str(), m.date, m.seq));
    order.sort_by(|&a, &b| key(a).cmp(&key(b)));
    let mut f = Forest::default();
    let mut current: Option<(usize, &str)> = None;
    for i in order {
        let subject = infos.get(i).map_or("", |m| m.subject.as_str());
        let n = f.node(Some(i));
        match current {
            Some((root, s)) if s == subject => f.link(root, n),
            _ => {
                f.roots.push(n);
                current = Some((n, subject));
            }
        }
    }
    sort_siblings(&mut f, infos);
    f
}

/// THREAD=REFERENCES (RFC 5256 §3 steps 1-6).
pub fn references(infos: &[Info]) -> Forest {
    let mut f = Forest { walk_left: WALK_BUDGET, ..Forest::default() };
    link_references(&mut f, infos);
    f.roots = (0..f.msg.len()).filter(|&n| f.parent.get(n).is_some_and(Option::is_none)).collect();
    prune_dummies(&mut f);
    // Step 5 meets the roots oldest first (a dummy as its oldest child), which decides
    // which thread a subject gathers under; Dovecot orders them so too.
    promote_single(&mut f);
    let mut roots = std::mem::take(&mut f.roots);
    roots.sort_by_key(|&r| speaker(&f, r, infos).and_then(|i| infos.get(i)).map(|m| (m.date, m.seq)));
    f.roots = roots;
    group_by_subject(&mut f, infos);
    promote_single(&mut f);
    sort_siblings(&mut f, infos);
    f
}

/// Steps 1A and 1B: containers for every id, linked along each References chain.
fn link_references(f: &mut Forest, infos: &[Info]) {
    let mut table: HashMap<&str, usize> = HashMap::new();
    for (i, m) in infos.iter().enumerate() {
        // A message without a Message-ID, or with one seen already, gets a unique one.
        let own = match m.message_id.as_deref() {
            Some(id) => match table.get(id).copied() {
                Some(n) if f.msg.get(n).is_some_and(Option::is_none) => {
                    if let Some(slot) = f.msg.get_mut(n) {
                        *slot = Some(i);
                    }
                    n
                }
                Some(_) => f.node(Some(i)),
                None => {
                    let n = f.node(Some(i));
                    table.insert(id, n);
                    n
                }
            },
            None => f.node(Some(i)),
        };
        let mut prev: Option<usize> = None;
        for r in &m.refs {
            let n = *table.entry(r.as_str()).or_insert_with(|| f.node(None));
            // 1A: link only a child without a parent, never into a cycle.
            if let Some(p) = prev {
                if p != n && f.parent.get(n).is_some_and(Option::is_none) && !f.is_ancestor(n, p) {
                    f.link(p, n);
                }
            }
            prev = Some(n);
        }
        // 1B: the last reference (or none) is the parent: an earlier parent goes first,
        // then the link is made unless it closes a cycle.
        if prev.is_none_or(|p| f.parent.get(own).copied().flatten() != Some(p)) {
            f.unlink(own);
        }
        if let Some(p) = prev.filter(|&p| !f.is_ancestor(own, p)) {
            f.link(p, own);
        }
    }
}

/// Step 4: dummies without children go; a dummy's children take its place, except that
/// the children of a top-level dummy stay under it (a single one is promoted next).
/// Children before parents.
fn prune_dummies(f: &mut Forest) {
    let order = f.preorder();
    for &n in order.iter().rev() {
        let kids = std::mem::take(f.children.get_mut(n).unwrap_or(&mut Vec::new()));
        let mut new = Vec::with_capacity(kids.len());
        for c in kids {
            match f.msg.get(c).copied().flatten() {
                Some(_) => new.push(c),
                None => new.extend(std::mem::take(f.children.get_mut(c).unwrap_or(&mut Vec::new()))),
            }
        }
        for &c in &new {
            if let Some(slot) = f.parent.get_mut(c) {
                *slot = Some(n);
            }
        }
        if let Some(slot) = f.children.get_mut(n) {
            *slot = new;
        }
    }
    let roots = std::mem::take(&mut f.roots);
    for r in roots {
        let dummy = f.msg.get(r).copied().flatten().is_none();
        let kids = f.children.get(r).map_or(0, Vec::len);
        // A top-level dummy with one child is promoted by `promote_single`.
        if !dummy || kids > 0 {
            f.roots.push(r);
        }
    }
}

/// The deferred end of step 4: a top-level dummy with a single child gives way to it.
fn promote_single(f: &mut Forest) {
    for r in f.roots.iter_mut() {
        let dummy = f.msg.get(*r).copied().flatten().is_none();
        if let (true, Some(&[only])) = (dummy, f.children.get(*r).map(Vec::as_slice)) {
            if let Some(slot) = f.parent.get_mut(only) {
                *slot = None;
            }
            if let Some(ch) = f.children.get_mut(*r) {
                ch.clear();
            }
            *r = only;
        }
    }
}

/// The message that speaks for node `n` in step 5: itself, or a dummy's oldest child
/// (by sent date, then sequence number).
fn speaker(f: &Forest, n: usize, infos: &[Info]) -> Option<usize> {
    if let Some(m) = f.msg.get(n).copied().flatten() {
        return Some(m);
    }
    let kids = f.children.get(n)?.iter().filter_map(|&c| f.msg.get(c).copied().flatten());
    kids.min_by_key(|&i| infos.get(i).map(|m| (m.date, m.seq)))
}

/// Step 5: top-level threads with the same base subject are gathered (A-C).
fn group_by_subject(f: &mut Forest, infos: &[Info]) {
    let is_dummy = |f: &Forest, n: usize| f.msg.get(n).copied().flatten().is_none();
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &f.roots {
        let Some(m) = speaker(f, r, infos).and_then(|i| infos.get(i)) else { continue };
        if m.subject.is_empty() {
            continue;
        }
        let replace = match table.get(&m.subject) {
            None => true,
            Some(&old) => {
                let old_reply = speaker(f, old, infos).and_then(|i| infos.get(i)).is_some_and(|o| o.reply);
                (is_dummy(f, r) && !is_dummy(f, old)) || (!is_dummy(f, old) && old_reply && !m.reply && !is_dummy(f, r))
            }
        };
        if replace {
            table.insert(m.subject.clone(), r);
        }
    }
    let roots = std::mem::take(&mut f.roots);
    let mut kept = Vec::with_capacity(roots.len());
    let mut gone = vec![false; f.msg.len()];
    for r in roots {
        let subject = speaker(f, r, infos).and_then(|i| infos.get(i)).map(|m| (m.subject.clone(), m.reply));
        let Some((subject, reply)) = subject.filter(|(s, _)| !s.is_empty()) else {
            kept.push(r);
            continue;
        };
        let Some(&t) = table.get(&subject).filter(|&&t| t != r) else {
            kept.push(r);
            continue;
        };
        let t_reply = speaker(f, t, infos).and_then(|i| infos.get(i)).is_some_and(|o| o.reply);
        match (is_dummy(f, t), is_dummy(f, r)) {
            (true, true) => {
                let kids = std::mem::take(f.children.get_mut(r).unwrap_or(&mut Vec::new()));
                kids.into_iter().for_each(|c| f.link(t, c));
            }
            (true, false) => f.link(t, r),
            (false, true) => {
                // The dummy takes the table's place; its thread moves under it.
                f.link(r, t);
                table.insert(subject, r);
                if let Some(g) = gone.get_mut(t) {
                    *g = true;
                }
                kept.push(r);
            }
            (false, false) if !t_reply && reply => f.link(t, r),
            (false, false) => {
                let d = f.node(None);
                gone.push(false);
                f.link(d, t);
                f.link(d, r);
                table.insert(subject, d);
                if let Some(g) = gone.get_mut(t) {
                    *g = true;
                }
                kept.push(d);
            }
        }
    }
    f.roots = kept
        .into_iter()
        .filter(|&n| !gone.get(n).copied().unwrap_or(false) && f.parent.get(n).is_some_and(Option::is_none))
        .collect();
}

/// Step 6: siblings by sent date (a dummy by its first child's), ties by sequence number.
fn sort_siblings(f: &mut Forest, infos: &[Info]) {
    let mut key: Vec<(i64, u32)> = vec![(0, 0); f.msg.len()];
    let order = f.preorder();
    for &n in order.iter().rev() {
        let mut kids = std::mem::take(f.children.get_mut(n).unwrap_or(&mut Vec::new()));
        kids.sort_by_key(|&c| key.get(c).copied().unwrap_or_default());
        let own = f.msg.get(n).copied().flatten().and_then(|i| infos.get(i)).map(|m| (m.date, m.seq));
        let k = own.or_else(|| kids.first().and_then(|&c| key.get(c).copied())).unwrap_or_default();
        if let Some(slot) = key.get_mut(n) {
            *slot = k;
        }
        if let Some(slot) = f.children.get_mut(n) {
            *slot = kids;
        }
    }
    f.roots.sort_by_key(|&r| key.get(r).copied().unwrap_or_default());
}

/// Step 7 / §4 `thread-list`: `(3 6 (4 23)(44 7 96))`; a single child continues the list,
/// several are nested lists; dummies write no number. Iterative.
pub fn write(f: &Forest, infos: &[Info], out: &mut Vec<u8>) {
    enum Act {
        Text(&'static [u8]),
        Node(usize, bool),
    }
    for &r in &f.roots {
        out.push(b'(');
        let mut stack = vec![Act::Text(b")"), Act::Node(r, false)];
        while let Some(a) = stack.pop() {
            let (n, space) = match a {
                Act::Text(t) => {
                    out.extend_from_slice(t);
                    continue;
                }
                Act::Node(n, space) => (n, space),
            };
            let number = f.msg.get(n).copied().flatten().and_then(|i| infos.get(i)).map(|m| m.id);
            if let Some(id) = number {
                let _ = write!(out, "{}{id}", if space { " " } else { "" });
            }
            let wrote = number.is_some() || space;
            match f.children.get(n).map(Vec::as_slice).unwrap_or_default() {
                [] => {}
                [one] => stack.push(Act::Node(*one, wrote)),
                many => {
                    for (k, &c) in many.iter().enumerate().rev() {
                        stack.push(Act::Text(b")"));
                        stack.push(Act::Node(c, false));
                        stack.push(Act::Text(if k == 0 && wrote { b" (" } else { b"(" }));
                    }
                }
            }
        }
    }
}

impl Session {
    /// The end of a THREAD: `* THREAD` with the thread lists, then the tagged OK.
    pub(super) fn thread_finished(&mut self, tag: Tag, job: ThreadJob) {
        let infos = job.infos;
        let forest = match job.algo {
            ThreadAlgo::OrderedSubject => ordered_subject(&infos),
            ThreadAlgo::References => references(&infos),
        };
        let mut out = b"* THREAD ".to_vec();
        write(&forest, &infos, &mut out);
        if forest.roots.is_empty() {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
        self.raw_chunked(out);
        self.tagged(&tag, "OK THREAD completed");
    }
}
