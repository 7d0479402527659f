//! `import` (mbox variants and Maildir, in batches) and `export` (mboxrd) of whole folders.

use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

use crate::config::Config;
use crate::mbox;
use crate::store::{self, Folder, NewMessage, Store};
use crate::util::{exit, Spool};

use super::deliver::{open_or_create, valid_return_path};
use super::{report_err, ExportArgs, ImportArgs};

/// Messages and bytes per import batch (one sync each).
pub(super) const IMPORT_BATCH: usize = 256;
pub(super) const IMPORT_BATCH_BYTES: u64 = 8 << 20;

pub(super) fn import(c: &Config, s: &Store, a: &ImportArgs) -> i32 {
    let mut folder = match open_or_create(s, &a.folder, true) {
        Ok(f) => f,
        Err(e) => return report_err("import", &e),
    };
    let mut prog = Progress::new();
    let r = if a.path.is_dir() {
        import_maildir(c, s, &a.path, &mut folder, &mut prog)
    } else {
        import_mbox(c, s, &a.path, &mut folder, &mut prog)
    };
    prog.done();
    match r {
        Ok(n) => {
            // Imported light (no table in RAM): one full open writes the index, so the
            // server's first SELECT loads it instead of replaying every record (issue 9).
            drop(folder);
            if n > 0 {
                let _ = s.open_folder(&a.folder);
            }
            eprintln!("letterbox: imported {n} messages into {}", a.folder);
            exit::OK
        }
        Err(e) => {
            eprintln!("letterbox: import failed after {} messages: {e}", prog.messages);
            exit::TEMPFAIL
        }
    }
}

pub(super) fn flush(folder: &mut Folder, batch: &mut Vec<NewMessage>, bytes: &mut u64) -> io::Result<()> {
    if !batch.is_empty() {
        folder.append(batch).map_err(|e| io::Error::other(e.to_string()))?;
        batch.clear();
        *bytes = 0;
    }
    Ok(())
}

/// The MIME structure of a spooled message, for the record's meta (IMAP never re-parses).
pub(super) fn mime_meta(body: &mut Spool) -> Vec<u8> {
    let mut p = crate::mime::MimeParser::new();
    let mut buf = vec![0u8; 64 * 1024];
    if let Ok(mut r) = body.reader() {
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            p.push(buf.get(..n).unwrap_or(&[]));
        }
    }
    p.finish_meta()
}

pub(super) fn import_mbox(
    c: &Config,
    s: &Store,
    path: &Path,
    folder: &mut Folder,
    prog: &mut Progress,
) -> io::Result<u64> {
    let mut r = mbox::MboxReader::open(path, &s.tmp_dir(), c.limits.spool_memory)?;
    let (mut batch, mut bytes, mut n) = (Vec::new(), 0u64, 0u64);
    while let Some(m) = r.next_message()? {
        bytes += m.body.len();
        let mut body = m.body;
        // Issue 13: mbox imports were stored without a summary (IMAP re-parsed them).
        let meta = mime_meta(&mut body);
        batch.push(NewMessage { body, date: m.date, flags: m.flags, keywords: Vec::new(), meta, attrs: m.attrs });
        n += 1;
        prog.update(n, r.bytes_read);
        if batch.len() >= IMPORT_BATCH || bytes >= IMPORT_BATCH_BYTES {
            flush(folder, &mut batch, &mut bytes)?;
        }
    }
    flush(folder, &mut batch, &mut bytes)?;
    Ok(n)
}

pub(super) fn import_maildir(
    c: &Config,
    s: &Store,
    dir: &Path,
    folder: &mut Folder,
    prog: &mut Progress,
) -> io::Result<u64> {
    let files = mbox::maildir_files(dir)?;
    let (mut batch, mut bytes, mut n, mut total) = (Vec::new(), 0u64, 0u64, 0u64);
    for (path, mtime, flags) in files {
        let (mut body, attrs) = mbox::read_message_file(&path, &s.tmp_dir(), c.limits.spool_memory)?;
        bytes += body.len();
        total += body.len();
        let meta = mime_meta(&mut body);
        batch.push(NewMessage { body, date: mtime, flags, keywords: Vec::new(), meta, attrs });
        n += 1;
        prog.update(n, total);
        if batch.len() >= IMPORT_BATCH || bytes >= IMPORT_BATCH_BYTES {
            flush(folder, &mut batch, &mut bytes)?;
        }
    }
    flush(folder, &mut batch, &mut bytes)?;
    Ok(n)
}

/// Progress on stderr when it is a terminal.
pub(super) struct Progress {
    tty: bool,
    start: std::time::Instant,
    last: std::time::Instant,
    messages: u64,
}

impl Progress {
    fn new() -> Progress {
        let now = std::time::Instant::now();
        Progress { tty: io::stderr().is_terminal(), start: now, last: now, messages: 0 }
    }

    fn update(&mut self, messages: u64, bytes: u64) {
        self.messages = messages;
        if self.tty && self.last.elapsed().as_millis() >= 250 {
            self.last = std::time::Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{messages} messages, {:.1} MB, {:.0} msg/s   ", bytes as f64 / 1e6, messages as f64 / secs);
        }
    }

    fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

pub(super) fn export(s: &Store, a: &ExportArgs) -> i32 {
    let folder = match s.open_folder(&a.folder) {
        Ok(f) => f,
        Err(e) => return report_err("export", &e),
    };
    let r = match &a.output {
        Some(p) => std::fs::File::create(p).and_then(|f| {
            export_to(&folder, io::BufWriter::new(f))
                .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                .and_then(|f| f.sync_all())
        }),
        None => export_to(&folder, io::BufWriter::new(io::stdout().lock())).map(|_| ()),
    };
    match r {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("letterbox: export: {e}");
            1
        }
    }
}

pub(super) fn export_to<W: Write>(folder: &Folder, out: W) -> io::Result<W> {
    let mut w = mbox::MboxWriter::new(out);
    for e in folder.entries() {
        let sender = return_path(folder, e).unwrap_or_else(|| "MAILER-DAEMON".into());
        let crlf = folder.attrs(e).map_err(|e| io::Error::other(e.to_string()))? & store::format::ATTR_EXPORT_CRLF != 0;
        let mut reader = BodyReader { folder, entry: *e, pos: 0 };
        w.message(&sender, i64::from(e.date), crlf, &mut reader)?;
    }
    w.finish()
}

/// The address of a leading `Return-Path:` header, for the From_ line.
pub(super) fn return_path(folder: &Folder, e: &store::Entry) -> Option<String> {
    let mut head = [0u8; 300];
    let n = folder.read_body(e, 0, &mut head).ok()?;
    let h = head.get(..n)?;
    let rest = h.strip_prefix(b"Return-Path:")?;
    let end = memchr::memchr(b'\n', rest)?;
    let v = String::from_utf8_lossy(rest.get(..end)?).trim().trim_start_matches('<').trim_end_matches('>').to_string();
    Some(if v.is_empty() { "MAILER-DAEMON".into() } else { v }).filter(|v| valid_return_path(v))
}

/// `Read` over a stored body.
pub struct BodyReader<'a> {
    pub folder: &'a Folder,
    pub entry: store::Entry,
    pub pos: u64,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.folder.read_body(&self.entry, self.pos, buf).map_err(|e| io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}
