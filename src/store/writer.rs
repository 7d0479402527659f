//! The store writer thread: every write of the server process goes through one thread that
//! batches concurrent requests, so N sessions' appends share one lock and one `fdatasync`
//! (group commit, DESIGN.md §2.4). The executor never blocks on disk: callers await a
//! reply channel. Folder-level writes (IMAP CREATE, DELETE, RENAME, subscriptions: each
//! fsyncs the data directory) run here too, in order with the appends queued before them.
//!
//! Gathering: when the previous batch had several writers, the next batch waits a moment
//! (at most half the previous batch's write+sync time, never more than [`MAX_GATHER`]) for
//! as many requests as the previous batch had, instead of syncing the first arrival alone.
//! Writers acknowledged together submit again together, only a few microseconds apart;
//! without the wait the first of them goes alone and every other sync carries one message.
//! Fewer, fuller syncs mean more deliveries/s where the disk is the bottleneck, and fewer
//! bytes written per message: every sync writes the file's partial last page, and the next
//! batch dirties that page again (PostgreSQL's `commit_delay`/`commit_siblings` idea, made
//! adaptive).

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use smol::channel::{self, Receiver, Sender};

use super::{Error, ErrorKind, Folder, NewMessage, Result, Store};

/// Most requests folded into one batch.
pub const MAX_BATCH: usize = 256;
/// Most bytes of message bodies folded into one batch.
pub const MAX_BATCH_BYTES: u64 = 16 << 20;
/// Longest a batch waits for the writers of the previous batch (see the module doc).
pub const MAX_GATHER: Duration = Duration::from_millis(2);
/// Requests that may wait for the writer; senders wait (backpressure) beyond it.
pub const QUEUE: usize = 1024;

/// A closure run on the writer thread with its handle of a folder.
pub type WriterCall = Box<dyn FnOnce(Result<&mut Folder>) + Send>;

/// A closure run on the writer thread with the data directory (folder-level writes).
pub type StoreCall = Box<dyn FnOnce(&Store) + Send>;

/// Appends for one folder inside a batch, with their reply channels.
type Group = (String, Vec<NewMessage>, Vec<Sender<Result<u32>>>);

/// One write request and its reply channel.
pub enum Request {
    Append {
        folder: String,
        msg: NewMessage,
        reply: Sender<Result<u32>>,
    },
    /// Any other write (flags, expunge, compaction) run on the writer's handle of `folder`;
    /// the closure sends its own reply.
    Call {
        folder: String,
        f: WriterCall,
    },
    /// A write on the data directory rather than one folder; the closure replies.
    Dir {
        f: StoreCall,
    },
}

/// A cloneable handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    tx: Sender<Request>,
}

impl Writer {
    /// Starts the writer thread for `store` (no automatic compaction).
    pub fn spawn(store: Store) -> std::io::Result<Writer> {
        Self::spawn_with(store, u64::MAX)
    }

    /// Starts the writer thread; a folder whose reclaimable bytes pass `compact_threshold`
    /// after a write is compacted in the background of the sessions (issue 6).
    pub fn spawn_with(store: Store, compact_threshold: u64) -> std::io::Result<Writer> {
        let (tx, rx) = channel::bounded(QUEUE);
        thread::Builder::new().name("store-writer".into()).spawn(move || run(store, rx, compact_threshold))?;
        Ok(Writer { tx })
    }

    /// Appends a message durably; resolves with its UID once it is synced.
    pub async fn append(&self, folder: &str, msg: NewMessage) -> Result<u32> {
        let (reply, rx) = channel::bounded(1);
        let req = Request::Append { folder: folder.to_owned(), msg, reply };
        self.tx.send(req).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())?
    }

    /// Runs `f` on the writer thread with its handle of `folder` and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        folder: &str,
        f: impl FnOnce(&mut Folder) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, rx) = channel::bounded(1);
        let f = Box::new(move |folder: Result<&mut Folder>| {
            let _ = reply.try_send(folder.and_then(f));
        });
        self.tx.send(Request::Call { folder: folder.to_owned(), f }).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())?
    }

    /// Runs `f` on the writer thread with the data directory and returns its result.
    pub async fn call_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, rx) = channel::bounded(1);
        let f = Box::new(move |store: &Store| {
            let _ = reply.try_send(f(store));
        });
        self.tx.send(Request::Dir { f }).await.map_err(|_| gone())?;
        rx.recv().await.map_err(|_| gone())?
    }

    /// Blocking form of `append` for threads outside the executor.
    pub fn append_blocking(&self, folder: &str, msg: NewMessage) -> Result<u32> {
        smol::block_on(self.append(folder, msg))
    }
}

fn gone() -> Error {
    Error::new(ErrorKind::Io, "store writer stopped")
}

fn run(store: Store, rx: Receiver<Request>, compact_threshold: u64) {
    let mut folders: HashMap<String, Folder> = HashMap::new();
    // Appends in the previous batch, and how long writing and syncing it took.
    let (mut expected, mut last_sync) = (1usize, Duration::ZERO);
    while let Ok(first) = rx.recv_blocking() {
        if !matches!(first, Request::Append { .. }) {
            run_one(&store, &mut folders, first, compact_threshold);
            continue;
        }
        let mut batch = vec![first];
        let mut bytes = size_of(&batch[0]);
        let mut other = None;
        let deadline = Instant::now() + (last_sync / 2).min(MAX_GATHER);
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(r) => Some(r),
                Err(_) if batch.len() < expected => recv_until(&rx, deadline),
                Err(_) => None,
            };
            match next {
                Some(r @ Request::Append { .. }) => {
                    bytes += size_of(&r);
                    batch.push(r);
                }
                Some(r) => {
                    // Keep order: appends queued before the call are written first.
                    other = Some(r);
                    break;
                }
                None => break,
            }
        }
        expected = batch.len();
        let t = Instant::now();
        append_batch(&store, &mut folders, batch);
        last_sync = t.elapsed();
        if let Some(r) = other {
            run_one(&store, &mut folders, r, compact_threshold);
        }
    }
}

/// Runs a request that is not an append (a folder call or a data-directory write).
fn run_one(store: &Store, folders: &mut HashMap<String, Folder>, req: Request, compact_threshold: u64) {
    match req {
        Request::Call { folder, f } => {
            f(folder_for(store, folders, &folder));
            maybe_compact(folders, &folder, compact_threshold);
        }
        Request::Dir { f } => f(store),
        append @ Request::Append { .. } => append_batch(store, folders, vec![append]),
    }
}

/// The next request if one arrives before `deadline`.
fn recv_until(rx: &Receiver<Request>, deadline: Instant) -> Option<Request> {
    if Instant::now() >= deadline {
        return None;
    }
    smol::block_on(smol::future::or(async { rx.recv().await.ok() }, async {
        async_io::Timer::at(deadline).await;
        None
    }))
}

/// Compacts `name` when expunged and superseded records pass the threshold. Readers keep
/// their old file open until they refresh, so no session waits on this.
fn maybe_compact(folders: &mut HashMap<String, Folder>, name: &str, threshold: u64) {
    let Some(f) = folders.get_mut(name) else { return };
    if f.state().reclaimable() < threshold {
        return;
    }
    match f.compact() {
        Ok((before, after)) => eprintln!("letterbox: compacted {name}: {before} -> {after} bytes"),
        Err(e) => {
            eprintln!("letterbox: compacting {name} failed: {e}");
            folders.remove(name);
        }
    }
}

fn size_of(r: &Request) -> u64 {
    match r {
        Request::Append { msg, .. } => msg.body.len(),
        Request::Call { .. } | Request::Dir { .. } => 0,
    }
}

/// Groups appends by folder; each group is one locked write and one sync.
fn append_batch(store: &Store, folders: &mut HashMap<String, Folder>, batch: Vec<Request>) {
    let mut groups: Vec<Group> = Vec::new();
    for req in batch {
        let Request::Append { folder, msg, reply } = req else { continue };
        match groups.iter_mut().find(|g| g.0 == folder) {
            Some(g) => {
                g.1.push(msg);
                g.2.push(reply);
            }
            None => groups.push((folder, vec![msg], vec![reply])),
        }
    }
    for (name, mut msgs, replies) in groups {
        let r = folder_for(store, folders, &name).and_then(|f| f.append(&mut msgs));
        if r.as_ref().is_err_and(|e| e.is_temporary()) {
            // A failed sync poisons the handle: reopen (and re-verify) on the next request.
            folders.remove(&name);
        }
        match r {
            Ok(uids) => {
                for (reply, uid) in replies.into_iter().zip(uids) {
                    let _ = reply.try_send(Ok(uid));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.try_send(Err(Error::new(e.kind, e.msg.clone())));
                }
            }
        }
    }
}

fn folder_for<'a>(store: &Store, folders: &'a mut HashMap<String, Folder>, name: &str) -> Result<&'a mut Folder> {
    if !folders.contains_key(name) {
        let f = store.open_folder(name)?;
        folders.insert(name.to_owned(), f);
    }
    folders.get_mut(name).ok_or_else(gone)
}
