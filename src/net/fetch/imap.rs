//! One IMAP pull session (RFC 3501) over [`Conn`], driven by `crate::fetch::imap`: greeting,
//! STARTTLS when configured (RFC 3501 §6.2.1, required, verified), AUTHENTICATE PLAIN with
//! SASL-IR (RFC 4959) or LOGIN, then per remote folder: SELECT, `UID FETCH last+1:* (UID
//! RFC822.SIZE)`, and for each new UID the message (`BODY.PEEK[]`, streamed into the spool)
//! stored by [`store_pulled`]; with `keep = false` the message is then flagged `\Deleted`
//! and removed with `UID EXPUNGE` (RFC 4315, when UIDPLUS is offered). With `watch`, IDLE
//! (RFC 2177) on the first folder, re-issued every [`IDLE_REISSUE`], until the server says
//! there is more.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::stream::Conn;
use super::{log, store_pulled, stored_ids, Failure, Incoming, Run, Sink, READ_TIMEOUT};
use crate::config::fetch::FetchTls;
use crate::fetch::imap::{Client, Command, Event, Status, Untagged};
use crate::fetch::state::{Done, ImapMark};

/// RFC 2177 §3: servers may log out an idle client after 30 minutes; re-issue before.
pub const IDLE_REISSUE: Duration = Duration::from_secs(28 * 60);
/// Candidates kept per `UID FETCH` listing; the rest is pulled by the next round.
pub const BATCH_MAX: usize = 1000;

/// The result of one command: its status and text, and the untagged data kept.
struct Reply {
    status: Status,
    text: String,
    data: Vec<Untagged>,
    /// The FETCH responses with a UID and a size: the [`BATCH_MAX`] lowest UIDs, sorted,
    /// and whether there were more (the rest waits for the next round; taking the lowest
    /// keeps every UID below the last one taken in the batch, whatever the server's order).
    cands: Vec<(u32, u64)>,
    more: bool,
}

/// The [`BATCH_MAX`] lowest UIDs of a listing, kept as it streams in.
#[derive(Default)]
struct Lowest {
    heap: std::collections::BinaryHeap<(u32, u64)>,
    more: bool,
}

impl Lowest {
    fn push(&mut self, uid: u32, size: u64) {
        self.heap.push((uid, size));
        if self.heap.len() > BATCH_MAX {
            self.heap.pop();
            self.more = true;
        }
    }

    fn sorted(self) -> (Vec<(u32, u64)>, bool) {
        let mut v = self.heap.into_sorted_vec();
        v.dedup_by_key(|t| t.0);
        (v, self.more)
    }
}

struct Session<'a> {
    conn: Conn,
    core: Client,
    caps: Vec<String>,
    sink: &'a Sink,
    /// LOGOUT was sent: its `* BYE` is expected (RFC 3501 §6.1.3).
    logging_out: bool,
    /// After a UIDVALIDITY change: Message-ID and size of what the account already stored.
    known: Option<HashSet<(String, u64)>>,
}

pub async fn session(sink: &Sink, run: &mut Run, watch: bool) -> Result<(), Failure> {
    let addr = run.addr()?;
    let name = run.acct.server.0.clone();
    let conn = Conn::connect(addr, &name, run.acct.tls == FetchTls::Implicit, &run.roots).await?;
    let mut s = Session { conn, core: Client::new(), caps: Vec::new(), sink, logging_out: false, known: None };
    let r = s.pull_all(run, watch).await;
    if r.is_ok() {
        s.logging_out = true;
        let _ = s.command(&Command::Logout).await;
    }
    s.conn.close().await;
    r
}

impl Session<'_> {
    async fn pull_all(&mut self, run: &mut Run, watch: bool) -> Result<(), Failure> {
        self.greeting().await?;
        if run.acct.tls == FetchTls::StartTls {
            self.starttls(run).await?;
        }
        if self.core.state() == crate::fetch::imap::State::NotAuthenticated {
            self.login(run).await?;
        }
        self.capabilities().await?;
        loop {
            for f in run.acct.folders.clone() {
                while self.pull_folder(run, &f).await? {}
            }
            let idle = watch && self.caps.iter().any(|c| c == "IDLE");
            if !idle {
                return Ok(());
            }
            let first = run.acct.folders.first().cloned().unwrap_or_default();
            let cap = if run.acct.folders.len() > 1 { run.acct.interval.min(IDLE_REISSUE) } else { IDLE_REISSUE };
            self.idle(&first, cap).await?;
        }
    }

    async fn greeting(&mut self) -> Result<(), Failure> {
        loop {
            let (n, ev) = self.core.feed(self.conn.input()).map_err(|e| e.to_string())?;
            let caps = match ev {
                Some(Event::Greeting { caps, .. }) => Some(caps),
                _ => None,
            };
            self.conn.consume(n);
            if let Some(c) = caps {
                self.caps = c;
                return Ok(());
            }
            if n == 0 {
                self.conn.fill(Instant::now() + READ_TIMEOUT).await?;
            }
        }
    }

    async fn capabilities(&mut self) -> Result<(), Failure> {
        let r = self.command(&Command::Capability).await?;
        for u in r.data {
            if let Untagged::Capability(c) = u {
                self.caps = c;
            }
        }
        Ok(())
    }

    async fn starttls(&mut self, run: &Run) -> Result<(), Failure> {
        if !self.caps.iter().any(|c| c == "STARTTLS") {
            self.capabilities().await?;
        }
        if !self.caps.iter().any(|c| c == "STARTTLS") {
            return Err(Failure::Other("the server does not offer STARTTLS (tls = \"starttls\")".into()));
        }
        let r = self.command(&Command::StartTls).await?;
        if r.status != Status::Ok {
            return Err(Failure::Other(format!("STARTTLS refused: {}", r.text)));
        }
        self.conn.start_tls(&run.acct.server.0, &run.roots).await?;
        self.core.tls_started();
        self.capabilities().await
    }

    /// AUTHENTICATE PLAIN with an initial response when offered, else LOGIN.
    async fn login(&mut self, run: &Run) -> Result<(), Failure> {
        let (user, password) = (run.acct.user.as_str(), &run.secret);
        let plain = self.caps.iter().any(|c| c == "AUTH=PLAIN") && self.caps.iter().any(|c| c == "SASL-IR");
        let cmd = if plain { Command::AuthPlain { user, password } } else { Command::Login { user, password } };
        let r = self.command(&cmd).await?;
        match r.status {
            Status::Ok => Ok(()),
            _ => Err(Failure::Auth(r.text)),
        }
    }

    /// Pulls the new messages of one remote folder; true when more may be left (a full batch).
    async fn pull_folder(&mut self, run: &mut Run, folder: &str) -> Result<bool, Failure> {
        let r = self.command(&Command::Select(folder)).await?;
        if r.status != Status::Ok {
            return Err(Failure::Other(format!("SELECT {folder:?} refused: {}", r.text)));
        }
        let uidvalidity = r.data.iter().find_map(|u| match u {
            Untagged::UidValidity(v) => Some(*v),
            _ => None,
        });
        let uidvalidity = uidvalidity.ok_or_else(|| format!("SELECT {folder:?}: no UIDVALIDITY"))?;
        let uidnext = r.data.iter().find_map(|u| if let Untagged::UidNext(n) = u { Some(*n) } else { None });
        let fresh = ImapMark { uidvalidity, last: 0, recheck: 0 };
        let mut mark = run.state.imap.get(folder).copied().unwrap_or(fresh);
        if mark.uidvalidity != uidvalidity {
            self.uidvalidity_changed(run, folder, mark.uidvalidity, uidvalidity);
            mark = ImapMark { uidvalidity, last: 0, recheck: uidnext.unwrap_or(u32::MAX) };
        } else {
            self.deletions(run, folder).await?;
        }
        if mark.last.saturating_add(1) < mark.recheck && self.known.is_none() {
            // Messages that existed at the change may be stored already (also after a crash).
            let known = stored_ids(&self.sink.store, &run.acct.into, &run.acct.name);
            let n = known.len();
            log(&run.acct.name, &format!("{folder}: {n} stored messages are not stored again (Message-ID and size)"));
            self.known = Some(known);
        }
        let r = self.command(&Command::Sizes { from: mark.last.saturating_add(1) }).await?;
        // RFC 3501 §6.4.8: `n:*` also lists the last message when n is above every UID.
        let (more, from) = (r.more, mark.last);
        for (uid, size) in r.cands.into_iter().filter(|c| c.0 > from) {
            mark.last = uid;
            self.pull_one(run, folder, mark, size).await?;
        }
        Ok(more)
    }

    /// RFC 3501 §2.3.1.1: the folder's UIDs were reassigned; logged, and the deletions
    /// still to do (old UIDs) dropped.
    fn uidvalidity_changed(&mut self, run: &mut Run, folder: &str, old: u32, new: u32) {
        run.state.imap_delete.retain(|(f, _)| f != folder);
        let msg = format!("{folder}: UIDVALIDITY changed {old} -> {new}: the folder is pulled again from UID 1");
        log(&run.acct.name, &msg);
    }

    /// One message: skipped when over the size limit (left on the server), else fetched,
    /// stored, and (keep = false) deleted remotely.
    async fn pull_one(&mut self, run: &mut Run, folder: &str, mark: ImapMark, size: u64) -> Result<(), Failure> {
        let limit = self.sink.cfg.limits.message_size;
        let done = Done::Imap { folder: folder.to_owned(), mark, delete: false };
        if size > limit {
            log(
                &run.acct.name,
                &format!(
                    "{folder} UID {}: {size} bytes, over message_size {limit}: skipped, left on the server",
                    mark.last
                ),
            );
            run.state.apply(&done);
            return run.files.save(&run.state).map_err(|e| Failure::Other(format!("state: {e}")));
        }
        let token = crate::fetch::imap_token(&run.acct.name, folder, mark.uidvalidity, mark.last);
        let mut msg = Incoming::new(self.sink, &run.acct, "IMAP", &token).map_err(|e| format!("spool: {e}"))?;
        let cmd =
            self.core.command(&Command::Body { uid: mark.last, limit: size.min(limit) }).map_err(|e| e.to_string())?;
        self.conn.write(&cmd).await?;
        let r = self.collect(Some(&mut msg)).await?;
        if r.status != Status::Ok {
            return Err(Failure::Other(format!("UID FETCH {}: {}", mark.last, r.text)));
        }
        if msg.received == 0 {
            // Expunged meanwhile (RFC 3501 §6.4.8: no data for a missing UID).
            run.state.apply(&done);
            return run.files.save(&run.state).map_err(|e| Failure::Other(format!("state: {e}")));
        }
        let suspect = mark.last < mark.recheck;
        let dup = suspect && self.known.as_ref().is_some_and(|k| msg.identity().is_some_and(|id| k.contains(&id)));
        if dup {
            log(
                &run.acct.name,
                &format!("{folder} UID {}: already stored (same Message-ID and size): skipped", mark.last),
            );
            run.state.apply(&done);
            run.files.save(&run.state).map_err(|e| Failure::Other(format!("state: {e}")))?;
            return if run.acct.keep { Ok(()) } else { self.delete(mark.last).await };
        }
        let done = Done::Imap { folder: folder.to_owned(), mark, delete: !run.acct.keep };
        let uid = store_pulled(self.sink, run, msg, &token, done).await?;
        log(&run.acct.name, &format!("{folder} UID {} stored as {} size={size}", mark.last, uid));
        self.deletions(run, folder).await
    }

    /// Deletes remotely what was stored with `keep = false` (this message, and any whose
    /// deletion an earlier session did not finish), then drops them from the state.
    async fn deletions(&mut self, run: &mut Run, folder: &str) -> Result<(), Failure> {
        let todo: Vec<u32> = run.state.imap_delete.iter().filter(|(f, _)| f == folder).map(|(_, u)| *u).collect();
        if todo.is_empty() {
            return Ok(());
        }
        for uid in &todo {
            self.delete(*uid).await?;
        }
        for uid in todo {
            run.state.imap_delete.remove(&(folder.to_owned(), uid));
        }
        run.files.save(&run.state).map_err(|e| Failure::Other(format!("state: {e}")))
    }

    /// `\Deleted`, then UID EXPUNGE when the server has UIDPLUS (RFC 4315); only after the
    /// local commit.
    async fn delete(&mut self, uid: u32) -> Result<(), Failure> {
        let r = self.command(&Command::Delete { uid }).await?;
        if r.status != Status::Ok {
            return Err(Failure::Other(format!("UID STORE {uid} \\Deleted: {}", r.text)));
        }
        if self.caps.iter().any(|c| c == "UIDPLUS") {
            let r = self.command(&Command::Expunge { uid }).await?;
            if r.status != Status::Ok {
                return Err(Failure::Other(format!("UID EXPUNGE {uid}: {}", r.text)));
            }
        }
        Ok(())
    }

    /// IDLE on `folder` until new mail (EXISTS above what SELECT saw) or `cap`.
    async fn idle(&mut self, folder: &str, cap: Duration) -> Result<(), Failure> {
        let r = self.command(&Command::Select(folder)).await?;
        let mut exists = r.data.iter().find_map(|u| if let Untagged::Exists(n) = u { Some(*n) } else { None });
        let cmd = self.core.command(&Command::Idle).map_err(|e| e.to_string())?;
        self.conn.write(&cmd).await?;
        let until = Instant::now() + cap;
        let mut continued = false;
        loop {
            let (n, ev) = self.core.feed(self.conn.input()).map_err(|e| e.to_string())?;
            let (stop, fail) = match ev {
                Some(Event::Continue) => {
                    continued = true;
                    (false, None)
                }
                Some(Event::Untagged(Untagged::Exists(e))) => {
                    let grew = exists.is_none_or(|old| e > old);
                    exists = Some(e);
                    (grew, None)
                }
                Some(Event::Untagged(Untagged::Bye(t))) => (false, Some(format!("server said BYE: {t}"))),
                Some(Event::Done { text, .. }) => (false, Some(format!("IDLE refused: {text}"))),
                _ => (false, None),
            };
            self.conn.consume(n);
            if let Some(f) = fail {
                return Err(Failure::Other(f));
            }
            if stop {
                break;
            }
            if n == 0 && self.wait(until).await? {
                break;
            }
        }
        if !continued {
            return Err(Failure::Other("IDLE not accepted".into()));
        }
        let done = self.core.done().map_err(|e| e.to_string())?;
        self.conn.write(done).await?;
        self.collect(None).await.map(drop)
    }

    /// Reads until `until`: true when that time came first.
    async fn wait(&mut self, until: Instant) -> Result<bool, Failure> {
        if Instant::now() >= until {
            return Ok(true);
        }
        match self.conn.fill(until).await {
            Ok(()) => Ok(false),
            Err(e) if e.contains("timed out") && Instant::now() >= until => Ok(true),
            Err(e) => Err(Failure::Other(e)),
        }
    }

    /// Sends `cmd` and reads its reply.
    async fn command(&mut self, cmd: &Command<'_>) -> Result<Reply, Failure> {
        let bytes = self.core.command(cmd).map_err(|e| e.to_string())?;
        self.conn.write(&bytes).await?;
        self.collect(None).await
    }

    /// Reads events until the tagged completion; the message literal goes to `body`.
    async fn collect(&mut self, mut body: Option<&mut Incoming>) -> Result<Reply, Failure> {
        let (mut data, mut lowest) = (Vec::new(), Lowest::default());
        loop {
            let (n, ev) = self.core.feed(self.conn.input()).map_err(|e| e.to_string())?;
            let (mut end, got) = (None, ev.is_some());
            match ev {
                Some(Event::Body(b)) => match body.as_deref_mut() {
                    Some(m) => m.push(b)?,
                    None => return Err(Failure::Other("a message nobody asked for".into())),
                },
                Some(Event::Done { status, text }) => end = Some((status, text)),
                Some(Event::Untagged(Untagged::Bye(t))) if !self.logging_out => {
                    return Err(Failure::Other(format!("server said BYE: {t}")));
                }
                Some(Event::Untagged(Untagged::Fetch { uid: Some(uid), size: Some(size) })) => lowest.push(uid, size),
                Some(Event::Untagged(u)) if data.len() < BATCH_MAX => data.push(u),
                _ => {}
            }
            self.conn.consume(n);
            if let Some((status, text)) = end {
                let (cands, more) = lowest.sorted();
                return Ok(Reply { status, text, data, cands, more });
            }
            if n == 0 && !got {
                self.conn.fill(Instant::now() + READ_TIMEOUT).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_listing_keeps_the_lowest_uids_whatever_the_order() {
        let mut l = Lowest::default();
        for uid in (1..=BATCH_MAX as u32 + 500).rev() {
            l.push(uid, 10);
        }
        let (v, more) = l.sorted();
        assert!(more);
        assert_eq!(v.len(), BATCH_MAX);
        assert_eq!((v.first(), v.last()), (Some(&(1, 10)), Some(&(BATCH_MAX as u32, 10))));
        let mut l = Lowest::default();
        l.push(5, 1);
        l.push(3, 2);
        assert_eq!(l.sorted(), (vec![(3, 2), (5, 1)], false));
    }
}
