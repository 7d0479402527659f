//! The queue's store side: where it lives (`DATA/queue/`, folder `INBOX` of that store),
//! turning an envelope and a spooled body into records, reading records back with their
//! per-recipient state, and the soft-state file `queue/state` (next attempt and last reply
//! per record, written best-effort by the daemon for `letterbox queue list`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::schedule::Retry;
use super::{done_keyword, done_set, QueuedEnvelope, DELAY_NOTICE_SENT};
use crate::store::{self, Folder, NewMessage, Store, INBOX};
use crate::util::Spool;

/// The queue's data directory under the owner's.
pub const QUEUE_DIR: &str = "queue";
/// The queue folder inside it.
pub const FOLDER: &str = INBOX;
/// `queue flush` creates this file; the daemon retries everything and removes it.
pub const FLUSH_FILE: &str = "flush";
/// The soft state mirrored by the daemon.
pub const STATE_FILE: &str = "state";
/// Largest state file read back (one line per record; bounded by the queue size).
pub const MAX_STATE_FILE: u64 = 16 << 20;

/// Opens (creating) the queue store of a data directory.
pub fn open(data_dir: &Path) -> store::Result<Store> {
    Store::open(&data_dir.join(QUEUE_DIR))
}

/// A copy of a spool's content into a new spool (a message for the queue and the INBOX).
pub fn copy_spool(from: &mut Spool, dir: &Path, mem_limit: usize) -> io::Result<Spool> {
    from.duplicate(dir, mem_limit)
}

/// The records for `env` (split by recipients) with the body in each; `date` = queued time.
pub fn messages(
    env: QueuedEnvelope,
    mut body: Spool,
    date: i64,
    tmp: &Path,
    mem: usize,
) -> io::Result<Vec<NewMessage>> {
    let parts = env.split();
    let mut out = Vec::with_capacity(parts.len());
    let last = parts.len().saturating_sub(1);
    for (i, e) in parts.into_iter().enumerate() {
        let b =
            if i == last { std::mem::replace(&mut body, Spool::new(tmp, 0)) } else { copy_spool(&mut body, tmp, mem)? };
        out.push(NewMessage { body: b, date, flags: 0, keywords: Vec::new(), meta: e.encode(), attrs: 0 });
    }
    Ok(out)
}

/// One queue record as read back.
#[derive(Debug, Clone)]
pub struct Item {
    pub uid: u32,
    pub queued: i64,
    pub size: u32,
    pub env: QueuedEnvelope,
    pub done: Vec<usize>,
    pub delay_notice_sent: bool,
}

impl Item {
    /// Indexes of recipients not yet done.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.env.rcpts.len()).filter(|i| !self.done.contains(i)).collect()
    }
}

/// The record `e` of `folder`, or `None` when its envelope does not decode (logged once by
/// the caller; such a record is left alone for `queue delete`).
pub fn item(folder: &Folder, e: &store::Entry) -> Option<Item> {
    let env = QueuedEnvelope::decode(&folder.meta(e).ok()?)?;
    let names = folder.keyword_names(e.flags);
    Some(Item {
        uid: e.uid,
        queued: i64::from(e.date),
        size: e.size,
        done: done_set(names.iter().copied()),
        delay_notice_sent: e.flags & DELAY_NOTICE_SENT != 0,
        env,
    })
}

/// Every decodable record, oldest first.
pub fn items(folder: &Folder) -> Vec<Item> {
    folder.entries().iter().filter_map(|e| item(folder, e)).collect()
}

/// Marks recipients done (one FLAGS record, synced) and expunges the record when none is
/// left; returns whether it was expunged.
pub fn mark_done(folder: &mut Folder, uid: u32, idx: &[usize]) -> store::Result<bool> {
    let kws: Vec<String> = idx.iter().map(|&i| done_keyword(i)).collect();
    if !kws.is_empty() {
        folder.store_flags(&[uid], store::FlagOp::Add, 0, &kws)?;
    }
    let finished = match folder.entry(uid) {
        Some(e) => item(folder, &e).is_some_and(|it| it.pending().is_empty()),
        None => false,
    };
    if finished {
        folder.expunge(&[uid])?;
    }
    Ok(finished)
}

/// Path of a file in the queue directory.
pub fn file(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(QUEUE_DIR).join(name)
}

/// The soft state as text: `uid<TAB>attempts<TAB>next<TAB>last error` lines.
pub fn state_text(state: &HashMap<u32, Retry>) -> String {
    let mut uids: Vec<&u32> = state.keys().collect();
    uids.sort();
    let mut text = String::new();
    for u in uids {
        if let Some(r) = state.get(u) {
            let err: String = r.last_error.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            text.push_str(&format!("{u}\t{}\t{}\t{err}\n", r.attempts, r.next));
        }
    }
    text
}

/// Replaces the state file with `text`; not synced (losing it only makes a restart retry
/// sooner).
pub fn write_state(data_dir: &Path, text: &str) -> io::Result<()> {
    let tmp = file(data_dir, ".state.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file(data_dir, STATE_FILE))
}

/// Reads the soft state back: uid → (attempts, next, last error).
pub fn read_state(data_dir: &Path) -> HashMap<u32, (u32, i64, String)> {
    let p = file(data_dir, STATE_FILE);
    let text = match std::fs::metadata(&p) {
        Ok(m) if m.len() <= MAX_STATE_FILE => std::fs::read_to_string(&p).unwrap_or_default(),
        _ => String::new(),
    };
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, '\t');
            let uid = f.next()?.parse().ok()?;
            let attempts = f.next()?.parse().ok()?;
            let next = f.next()?.parse().ok()?;
            Some((uid, (attempts, next, f.next().unwrap_or("").to_owned())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_state_across_reopen() {
        let dir = std::env::temp_dir().join(format!("lbx-queue-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let q = open(&dir).unwrap();
        let rcpts: Vec<String> = (0..30).map(|i| format!("u{i}@b.example")).collect();
        let mut body = Spool::new(&q.tmp_dir(), 1024);
        body.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
        let msgs = messages(QueuedEnvelope::new("me@a.example", rcpts), body, 1000, &q.tmp_dir(), 1024);
        let mut msgs = msgs.unwrap();
        let mut f = q.open_folder(FOLDER).unwrap();
        let uids = f.append(&mut msgs).unwrap();
        assert_eq!(uids.len(), 2);
        assert!(!mark_done(&mut f, uids[1], &[0, 2]).unwrap());
        let f = q.open_folder(FOLDER).unwrap();
        let it = items(&f);
        assert_eq!(it.len(), 2);
        assert_eq!((it[0].env.rcpts.len(), it[1].env.rcpts.len()), (27, 3));
        assert_eq!(it[1].pending(), vec![1]);
        assert_eq!(f.body(&f.entry(uids[0]).unwrap()).unwrap(), b"Subject: x\r\n\r\nhi\r\n");
        let mut f = q.open_folder(FOLDER).unwrap();
        assert!(mark_done(&mut f, uids[1], &[1]).unwrap());
        assert_eq!(items(&q.open_folder(FOLDER).unwrap()).len(), 1);
        let mut st = HashMap::new();
        st.insert(7, Retry { queued: 1, attempts: 2, next: 99, last_error: "451 4.3.0\r\nlater".into() });
        write_state(&dir, &state_text(&st)).unwrap();
        assert_eq!(read_state(&dir).get(&7), Some(&(2, 99, "451 4.3.0  later".to_owned())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
