//! The stepwise SEARCH job (RFC 3501 §6.4.4, RFC 4731 ESEARCH, RFC 5256 SORT/THREAD
//! sinks): a bounded number of messages and bytes per step, so one search never stalls the
//! other sessions on the executor.

use super::*;

/// Messages evaluated per [`SearchJob::step`] at most: a SEARCH of a large folder yields to
/// other sessions between steps (one executor thread) and never holds its whole answer.
const SEARCH_STEP: u32 = 4096;

/// Where a search's matches go.
#[derive(Debug)]
pub enum Sink {
    /// The `* SEARCH` line, streamed (RFC 3501 §7.2.5).
    Line,
    /// An `* ESEARCH` answer and/or the saved result (RFC 4731, RFC 5182).
    Esearch(super::super::esearch::Collect),
    /// SORT (RFC 5256 §3): the matches, ordered at the end.
    #[cfg(feature = "imap-sort")]
    Sort(super::super::sort::SortJob),
    /// THREAD (RFC 5256 §3): the matches, threaded at the end.
    #[cfg(feature = "imap-sort")]
    Thread(super::super::thread::ThreadJob),
}

/// Bytes one stored summary read by SORT or THREAD counts as against [`SEARCH_STEP_BYTES`]
/// (about what a summary holds): a SORT of a big folder yields like a BODY search.
#[cfg(feature = "imap-sort")]
pub const SUMMARY_COST: u64 = 4 * 1024;

impl Sink {
    /// Takes one match; returns the bytes it cost to read (see [`SUMMARY_COST`]).
    fn push(
        &mut self,
        out: &mut Vec<u8>,
        seq: u32,
        m: &MsgMeta,
        by_uid: bool,
        store: (&str, &mut dyn Mailstore),
    ) -> u64 {
        #[cfg(not(feature = "imap-sort"))]
        let _ = store;
        match self {
            Sink::Line => {
                let _ = write!(out, " {}", if by_uid { m.uid } else { seq });
            }
            Sink::Esearch(c) => c.push(seq, m.uid, m.modseq),
            #[cfg(feature = "imap-sort")]
            Sink::Sort(s) => return s.add(super::super::sort::Match::new(seq, m), store.0, store.1),
            #[cfg(feature = "imap-sort")]
            Sink::Thread(t) => return t.add(super::super::sort::Match::new(seq, m), store.0, store.1),
        }
        0
    }
}

/// One SEARCH in progress (RFC 3501 §6.4.4): the `* SEARCH` line is streamed in chunks of
/// about [`super::super::OUTPUT_CHUNK`], one per poll, like FETCH output; other sinks gather the
/// matches for an answer at the end.
#[derive(Debug)]
pub struct SearchJob {
    /// Where the matches go.
    pub sink: Sink,
    /// The prepared program (kept by a live search, RFC 5267 §4.3).
    pub key: SearchKey,
    uid: bool,
    /// RFC 7162 §3.1.5: a MODSEQ key ends the line with `(MODSEQ n)`, the highest match's.
    modseq: bool,
    top: u64,
    next: u32,
    cursor: MetaCursor,
    /// `Some` once the line is complete: `Err` if a message could not be read.
    pub done: Option<Result<(), StoreError>>,
}

impl SearchJob {
    /// `key` must be [`SearchKey::prepare`]d for the view.
    pub fn new(key: SearchKey, uid: bool, modseq: bool) -> SearchJob {
        SearchJob { sink: Sink::Line, key, uid, modseq, top: 0, next: 1, cursor: MetaCursor::default(), done: None }
    }

    /// The same search with its matches going to `sink`.
    pub fn with_sink(mut self, sink: Sink) -> SearchJob {
        self.sink = sink;
        self
    }

    /// The highest MODSEQ of the matches, when the program had a MODSEQ key (RFC 7162 §3.1.5).
    pub fn modseq_top(&self) -> Option<u64> {
        self.modseq.then_some(self.top)
    }

    /// The next piece of the `* SEARCH` line (the last one ends it with CRLF).
    pub fn step(&mut self, view: &Selected, store: &mut dyn Mailstore) -> Vec<u8> {
        let mut out = Vec::new();
        let line = matches!(self.sink, Sink::Line);
        if self.next == 1 && line {
            out.extend_from_slice(b"* SEARCH");
        }
        let (count, max_uid) = (view.count(), view.max_uid());
        let stop = self.next.saturating_add(SEARCH_STEP);
        let mut scanned = 0u64;
        while self.next <= count
            && self.next < stop
            && out.len() < super::super::OUTPUT_CHUNK
            && scanned < SEARCH_STEP_BYTES
        {
            let seq = self.next;
            self.next += 1;
            // Gone from the store too (expunged elsewhere, compacted): matches nothing.
            let Some(m) = self.cursor.get(view, seq, store) else { continue };
            let mut c = Candidate::new(&view.name, seq, m, &view.keywords, (count, max_uid));
            let matched = c.matches(&self.key, store);
            scanned += c.scanned;
            match matched {
                Ok(true) => {
                    scanned += self.sink.push(&mut out, seq, &m, self.uid, (&view.name, &mut *store));
                    self.top = self.top.max(m.modseq);
                }
                Ok(false) => {}
                Err(e) => {
                    if line {
                        out.extend_from_slice(b"\r\n");
                    }
                    self.done = Some(Err(e));
                    return out;
                }
            }
        }
        if self.next > count {
            if self.modseq && self.top > 0 && line {
                let _ = write!(out, " (MODSEQ {})", self.top);
            }
            if line {
                out.extend_from_slice(b"\r\n");
            }
            self.done = Some(Ok(()));
        }
        out
    }
}
