//! mbox and Maildir interchange: a streaming reader for mboxo, mboxrd and mboxcl2 (RFC 4155
//! and the qmail mbox(5) page), a Maildir folder reader (flags from the `:2,` info), and an
//! mboxrd writer that mutt and Python's `mailbox.mbox` read.
//!
//! Message boundaries follow what Python's `mailbox.mbox` does, so a round trip keeps every
//! byte: a message runs from the line after its `From ` line up to the next `From ` line,
//! minus one blank line just before it. mboxrd quoting: `^>*From ` gains one `>` on export
//! and loses one on import.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::datetime::{civil_from_days, days_from_civil, DAYS, MONTHS};
use crate::store::format::ATTR_EXPORT_CRLF;
use crate::util::Spool;

/// Flag bits (same as the store's system flags).
pub const SEEN: u32 = 1;
pub const ANSWERED: u32 = 2;
pub const FLAGGED: u32 = 4;
pub const DELETED: u32 = 8;
pub const DRAFT: u32 = 16;

/// Longest piece of a line handled at once; longer lines are processed in pieces.
const PIECE: usize = 64 * 1024;
/// Header bytes scanned for Status/X-Status/Content-Length.
const MAX_HEADER_SCAN: usize = 256 * 1024;

/// One imported message, its body already in a spool (CRLF line ends).
pub struct Imported {
    pub body: Spool,
    pub date: i64,
    pub flags: u32,
    pub attrs: u32,
}

/// Reads a bounded piece of a line (ending in `\n` or at PIECE bytes or EOF) into `buf`.
fn read_piece(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    r.take(PIECE as u64).read_until(b'\n', buf)
}

/// Converts one line piece to CRLF and records whether it already was CRLF.
struct LineSink {
    all_crlf: bool,
    prev_cr: bool,
}

impl LineSink {
    fn put(&mut self, spool: &mut Spool, piece: &[u8]) -> io::Result<()> {
        let mut start = 0;
        for i in memchr::memchr_iter(b'\n', piece) {
            let cr_before = if i == 0 { self.prev_cr } else { piece.get(i - 1) == Some(&b'\r') };
            if !cr_before {
                self.all_crlf = false;
                spool.write(piece.get(start..i).unwrap_or(&[]))?;
                spool.write(b"\r\n")?;
                start = i + 1;
            }
        }
        spool.write(piece.get(start..).unwrap_or(&[]))?;
        self.prev_cr = piece.last() == Some(&b'\r');
        Ok(())
    }
}

/// Streams the messages of an mbox file (mboxo, mboxrd or mboxcl2, detected).
pub struct MboxReader {
    r: BufReader<File>,
    tmp: PathBuf,
    mem: usize,
    cl2: bool,
    /// The `From ` line that starts the next message, if already read.
    next_from: Option<Vec<u8>>,
    pub bytes_read: u64,
}

impl MboxReader {
    pub fn open(path: &Path, tmp: &Path, mem: usize) -> io::Result<MboxReader> {
        let mut f = File::open(path)?;
        let cl2 = detect_cl2(&mut f)?;
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(PIECE, f);
        let mut line = Vec::new();
        // Skip anything before the first From_ line (blank lines in sloppy files).
        let mut next_from = None;
        let mut consumed = 0u64;
        loop {
            let n = read_piece(&mut r, &mut line)?;
            if n == 0 {
                break;
            }
            consumed += n as u64;
            if line.starts_with(b"From ") {
                next_from = Some(line.clone());
                break;
            }
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an mbox file: it does not start with a From line",
                ));
            }
        }
        Ok(MboxReader { r, tmp: tmp.to_path_buf(), mem, cl2, next_from, bytes_read: consumed })
    }

    /// Whether Content-Length framing (mboxcl2) was detected.
    pub fn is_cl2(&self) -> bool {
        self.cl2
    }

    /// The next message, or None at the end.
    pub fn next_message(&mut self) -> io::Result<Option<Imported>> {
        let Some(from_line) = self.next_from.take() else {
            return Ok(None);
        };
        // The From_ line was counted in `bytes_read` when it was read (found by fuzzing:
        // counting it again here overstated progress).
        let date = parse_from_line_date(&from_line).unwrap_or_else(crate::util::unix_now);
        let mut spool = Spool::new(&self.tmp, self.mem);
        let mut sink = LineSink { all_crlf: true, prev_cr: false };
        let mut head = HeaderScan::default();
        let mut line = Vec::new();
        let mut pending_blank: Option<Vec<u8>> = None;
        let mut at_line_start = true;
        loop {
            let n = read_piece(&mut self.r, &mut line)?;
            if n == 0 {
                break;
            }
            self.bytes_read += n as u64;
            if at_line_start && line.starts_with(b"From ") {
                self.next_from = Some(line.clone());
                break;
            }
            if let Some(b) = pending_blank.take() {
                sink.put(&mut spool, &b)?;
            }
            let starts = at_line_start;
            at_line_start = line.ends_with(b"\n");
            if starts && !head.done {
                head.line(&line);
                if head.done && self.cl2 {
                    if let Some(len) = head.content_length {
                        sink.put(&mut spool, &line)?;
                        self.read_exact_body(&mut spool, &mut sink, len)?;
                        self.skip_to_next_from(&mut line)?;
                        break;
                    }
                }
            }
            // Only a bare "\n" line separates messages, as in Python's mailbox module.
            if starts && line == b"\n" {
                pending_blank = Some(line.clone());
                continue;
            }
            if starts && !self.cl2 && is_quoted_from(&line) {
                sink.put(&mut spool, line.get(1..).unwrap_or(&[]))?;
            } else {
                sink.put(&mut spool, &line)?;
            }
        }
        let attrs = if sink.all_crlf && !spool.is_empty() { ATTR_EXPORT_CRLF } else { 0 };
        Ok(Some(Imported { body: spool, date, flags: head.flags, attrs }))
    }

    fn read_exact_body(&mut self, spool: &mut Spool, sink: &mut LineSink, mut len: u64) -> io::Result<()> {
        let mut buf = vec![0u8; PIECE];
        while len > 0 {
            let k = len.min(PIECE as u64) as usize;
            let chunk = buf.get_mut(..k).unwrap_or(&mut []);
            self.r.read_exact(chunk)?;
            sink.put(spool, chunk)?;
            self.bytes_read += k as u64;
            len -= k as u64;
        }
        Ok(())
    }

    fn skip_to_next_from(&mut self, line: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let n = read_piece(&mut self.r, line)?;
            if n == 0 {
                return Ok(());
            }
            self.bytes_read += n as u64;
            if line.starts_with(b"From ") {
                self.next_from = Some(line.clone());
                return Ok(());
            }
        }
    }
}

/// `^>+From ` (mboxrd quoting).
fn is_quoted_from(line: &[u8]) -> bool {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    gts > 0 && line.get(gts..).is_some_and(|r| r.starts_with(b"From "))
}

/// mboxcl2 when the first message has a Content-Length that lands exactly on EOF or on the
/// next `From ` line (after an optional blank line).
fn detect_cl2(f: &mut File) -> io::Result<bool> {
    let mut r = BufReader::new(&mut *f);
    let mut line = Vec::new();
    let mut pos = 0u64;
    let mut head = HeaderScan::default();
    let mut seen_from = false;
    while read_piece(&mut r, &mut line)? > 0 {
        pos += line.len() as u64;
        if !seen_from {
            seen_from = line.starts_with(b"From ");
            continue;
        }
        head.line(&line);
        if head.done || pos > MAX_HEADER_SCAN as u64 {
            break;
        }
    }
    let Some(len) = head.content_length.filter(|_| head.done) else {
        return Ok(false);
    };
    let total = f.metadata()?.len();
    let end = pos.saturating_add(len);
    if end == total {
        return Ok(true);
    }
    let mut after = [0u8; 7];
    let n = f.read_at_least(end, &mut after)?;
    let after = after.get(..n).unwrap_or(&[]);
    Ok(after.starts_with(b"From ") || after.starts_with(b"\nFrom ") || after.starts_with(b"\r\nFrom"))
}

trait ReadAt {
    fn read_at_least(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at_least(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut n = 0;
        while n < buf.len() {
            match self.read_at(buf.get_mut(n..).unwrap_or(&mut []), at + n as u64)? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

/// Collects Status, X-Status and Content-Length from a header section, line by line.
#[derive(Default)]
struct HeaderScan {
    done: bool,
    flags: u32,
    content_length: Option<u64>,
    scanned: usize,
}

impl HeaderScan {
    fn line(&mut self, line: &[u8]) {
        self.scanned += line.len();
        if line == b"\n" || line == b"\r\n" || self.scanned > MAX_HEADER_SCAN {
            self.done = true;
            return;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return;
        };
        let (name, value) = (line.get(..colon).unwrap_or(&[]), line.get(colon + 1..).unwrap_or(&[]));
        let value = String::from_utf8_lossy(value);
        let value = value.trim();
        if name.eq_ignore_ascii_case(b"Status") {
            self.flags |= if value.contains('R') { SEEN } else { 0 };
        } else if name.eq_ignore_ascii_case(b"X-Status") {
            for (c, f) in [('A', ANSWERED), ('F', FLAGGED), ('T', DRAFT), ('D', DELETED)] {
                if value.contains(c) {
                    self.flags |= f;
                }
            }
        } else if name.eq_ignore_ascii_case(b"Content-Length") {
            self.content_length = value.parse().ok();
        }
    }
}

/// Reads a Maildir folder (`cur/` and `new/`), oldest first.
pub fn maildir_files(dir: &Path) -> io::Result<Vec<(PathBuf, i64, u32)>> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for ent in std::fs::read_dir(&d)? {
            let ent = ent?;
            if !ent.file_type()?.is_file() {
                continue;
            }
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let mtime = ent
                .metadata()?
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            out.push((ent.path(), mtime, maildir_flags(&name)));
        }
    }
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(out)
}

/// Flags from a Maildir info suffix `:2,FRS…`.
pub fn maildir_flags(name: &str) -> u32 {
    let Some((_, info)) = name.rsplit_once(":2,") else {
        return 0;
    };
    let mut f = 0;
    for c in info.chars() {
        f |= match c {
            'S' => SEEN,
            'R' => ANSWERED,
            'F' => FLAGGED,
            'T' => DELETED,
            'D' => DRAFT,
            _ => 0,
        };
    }
    f
}

/// Reads one file as a message body with CRLF line ends.
pub fn read_message_file(path: &Path, tmp: &Path, mem: usize) -> io::Result<(Spool, u32)> {
    let mut r = BufReader::with_capacity(PIECE, File::open(path)?);
    let mut spool = Spool::new(tmp, mem);
    let mut sink = LineSink { all_crlf: true, prev_cr: false };
    let mut piece = Vec::new();
    while read_piece(&mut r, &mut piece)? > 0 {
        sink.put(&mut spool, &piece)?;
    }
    Ok((spool, 0))
}

/// Writes one message as mboxrd: From_ line, quoted body, blank separator line.
pub struct MboxWriter<W: Write> {
    out: W,
    /// What the previous message needs before the next From_ line: nothing (first), a blank
    /// separator line, or a line end plus the separator (it did not end in a newline).
    pending: &'static [u8],
}

impl<W: Write> MboxWriter<W> {
    pub fn new(out: W) -> Self {
        MboxWriter { out, pending: b"" }
    }

    /// `body` yields the stored (CRLF) bytes in chunks through `read`.
    pub fn message(&mut self, sender: &str, date: i64, keep_crlf: bool, body: &mut impl Read) -> io::Result<()> {
        self.out.write_all(self.pending)?;
        writeln!(self.out, "From {} {}", sender, asctime(date))?;
        let mut r = BufReader::with_capacity(PIECE, body);
        let mut piece = Vec::new();
        let mut at_start = true;
        let mut last = 0u8;
        while read_piece(&mut r, &mut piece)? > 0 {
            if at_start && (piece.starts_with(b"From ") || is_quoted_from(&piece)) {
                self.out.write_all(b">")?;
            }
            at_start = piece.ends_with(b"\n");
            let data: &[u8] = if !keep_crlf && piece.ends_with(b"\r\n") {
                piece.get(..piece.len() - 2).unwrap_or(&[])
            } else {
                &piece
            };
            self.out.write_all(data)?;
            if data.len() != piece.len() {
                self.out.write_all(b"\n")?;
            }
            last = piece.last().copied().unwrap_or(last);
        }
        // A last message without a final newline stays so (as Python's mailbox reads it).
        self.pending = if last == b'\n' || last == 0 { b"\n" } else { b"\n\n" };
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        if self.pending == b"\n" {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `Thu Jan  1 00:00:00 1970` (UTC), the From_ line date.
pub fn asctime(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = DAYS.get(days.rem_euclid(7) as usize).copied().unwrap_or("Thu");
    let mon = MONTHS.get(m as usize - 1).copied().unwrap_or("Jan");
    format!("{wd} {mon} {d:2} {:02}:{:02}:{:02} {y}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Parses the asctime date at the end of a From_ line: `From sender Www Mmm dd hh:mm:ss yyyy`.
pub fn parse_from_line_date(line: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = s.split_whitespace().collect();
    let n = words.len();
    let (mon, day, time, year) =
        (words.get(n.checked_sub(4)?)?, words.get(n - 3)?, words.get(n - 2)?, words.get(n - 1)?);
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let d: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let y: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next().flatten().unwrap_or(0));
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_round_trips() {
        for t in [0i64, 1_700_000_000, 951_782_400, 4_102_444_800] {
            let s = format!("From x {}", asctime(t));
            assert_eq!(parse_from_line_date(s.as_bytes()), Some(t), "{s}");
        }
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn maildir_info_flags() {
        assert_eq!(maildir_flags("123.abc:2,FRS"), FLAGGED | ANSWERED | SEEN);
        assert_eq!(maildir_flags("123.abc"), 0);
    }

    #[test]
    fn export_quotes_and_terminates() {
        let mut w = MboxWriter::new(Vec::new());
        w.message("a@b", 0, false, &mut &b"Subject: x\r\n\r\nFrom me\r\n>From you\r\nend"[..]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out, b"From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From me\n>>From you\nend");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the mbox_import fuzz target: progress counted the From_ line twice.
    #[test]
    fn bytes_read_never_exceeds_the_file() {
        let data = b"From \x0c\nFrom \t\x0cG\x00x\x0c\x00\x00\x00";
        let dir = std::env::temp_dir().join(format!("lb-mbox-regr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("in.mbox");
        std::fs::write(&p, data).unwrap();
        let mut r = MboxReader::open(&p, &dir, 4096).unwrap();
        let mut n = 0;
        while let Some(_m) = r.next_message().unwrap() {
            n += 1;
        }
        assert_eq!(n, 2);
        assert_eq!(r.bytes_read, data.len() as u64);
        let _ = std::fs::remove_dir_all(dir);
    }
}
