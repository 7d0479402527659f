//! Reading a folder file back: catch-up on records other processes appended, repair of a
//! torn tail (cut off) and of damage in the middle (skipped in RAM, kept aside by
//! `check --repair`), and the full verification behind `letterbox check` (DESIGN.md §2,
//! properties 3, 6 and 7; the record format is in [`crate::store::format`]).

use super::*;

/// What a scan stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    End,
    Bad { at: u64, why: Bad, total: Option<u64> },
}

impl Folder {
    pub(super) fn catch_up_unlocked(&mut self) -> Result<()> {
        let len = self.file.metadata()?.len();
        if len > self.state.end {
            // A record still being written (or a torn one) stops the scan; a writer fixes it.
            let _ = self.scan(self.state.end, len)?;
        }
        Ok(())
    }

    /// Under the lock: replays new records, truncates a torn tail, skips mid-file damage.
    pub(super) fn catch_up_locked(&mut self) -> Result<()> {
        loop {
            let len = self.file.metadata()?.len();
            if len < self.state.end {
                // Shorter than what we applied: reload from scratch.
                self.state = State::new(self.state.track_entries);
                continue;
            }
            match self.scan(self.state.end, len)? {
                Stop::End => return Ok(()),
                Stop::Bad { at, why, total } => self.handle_bad(at, why, total, len)?,
            }
        }
    }

    pub(super) fn handle_bad(&mut self, at: u64, why: Bad, total: Option<u64>, len: u64) -> Result<()> {
        if self.readonly {
            // Cannot repair: serve what is committed before the bad record.
            self.state.damaged.push((at, len));
            self.state.end = len;
            return Ok(());
        }
        if why != Bad::Short {
            if let Some(next) = self.next_valid_after(at, total, len)? {
                // Damage in the middle: skip it in RAM; `check --repair` quarantines it.
                self.state.damaged.push((at, next));
                self.state.end = next;
                return Ok(());
            }
            // Garbage up to the end: keep the bytes beside the folder, then cut them off.
            self.quarantine(at, len)?;
        }
        if !self.state.have_header {
            return Err(Error::new(ErrorKind::Corrupt, "folder header damaged"));
        }
        self.file.set_len(at)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Finds the next committed record after a bad one at `at`: first at its declared end,
    /// else by searching for the record magic.
    pub(super) fn next_valid_after(&self, at: u64, total: Option<u64>, len: u64) -> Result<Option<u64>> {
        if let Some(t) = total {
            if at + t < len && self.valid_record_at(at + t, len)? {
                return Ok(Some(at + t));
            }
        }
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(at + 1))?;
        let mut buf = vec![0u8; IO_BUF];
        let mut base = at + 1;
        let finder = memchr::memmem::Finder::new(&format::MAGIC);
        loop {
            let n = crate::util::read_full(&mut r, &mut buf)?;
            if n < format::MAGIC.len() {
                return Ok(None);
            }
            let chunk = buf.get(..n).unwrap_or(&[]);
            for off in finder.find_iter(chunk) {
                let cand = base + off as u64;
                if self.valid_record_at(cand, len)? {
                    return Ok(Some(cand));
                }
            }
            if n < buf.len() {
                return Ok(None);
            }
            // Overlap by 3 bytes so a magic split across reads is found.
            base += (n - 3) as u64;
            r.seek(SeekFrom::Start(base))?;
        }
    }

    pub(super) fn valid_record_at(&self, pos: u64, len: u64) -> Result<bool> {
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(pos))?;
        Ok(read_record(&mut r, pos, len)?.is_ok())
    }

    /// Copies `from..to` into `NAME.lbx.quarantine` (appending) and syncs it.
    pub(super) fn quarantine(&self, from: u64, to: u64) -> Result<()> {
        let mut zero = true;
        let mut buf = vec![0u8; IO_BUF];
        let mut pos = from;
        while pos < to && zero {
            let n = (to - pos).min(IO_BUF as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or(&mut []);
            self.file.read_exact_at(chunk, pos)?;
            zero = chunk.iter().all(|&b| b == 0);
            pos += n as u64;
        }
        if zero {
            return Ok(()); // Unwritten blocks after a power cut: nothing to keep.
        }
        let q = quarantine_path(&self.path);
        let out = OpenOptions::new().create(true).append(true).mode(0o600).open(&q)?;
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(IO_BUF as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or(&mut []);
            self.file.read_exact_at(chunk, pos)?;
            io::Write::write_all(&mut &out, chunk)?;
            pos += n as u64;
        }
        out.sync_all()?;
        eprintln!(
            "letterbox: {}: moved {} damaged bytes at offset {} to {}",
            self.path.display(),
            to - from,
            from,
            q.display()
        );
        Ok(())
    }

    /// Applies committed records from `from` up to `len`, stopping at the first bad one.
    pub(super) fn scan(&mut self, from: u64, len: u64) -> Result<Stop> {
        let mut r = BufReader::with_capacity(IO_BUF, &self.file);
        r.seek(SeekFrom::Start(from))?;
        let mut pos = from;
        while pos < len {
            match read_record(&mut r, pos, len)? {
                Ok((h, covered)) => {
                    if self.state.apply(pos, &h, &covered).is_err() {
                        return Ok(Stop::Bad { at: pos, why: Bad::Garbage, total: Some(h.total()) });
                    }
                    self.unindexed += 1;
                    pos += h.total();
                }
                Err((why, total)) => return Ok(Stop::Bad { at: pos, why, total }),
            }
        }
        Ok(Stop::End)
    }

    /// Full verification for `check`: every record from the start, every checksum.
    pub fn verify(path: &Path) -> Result<Verification> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut sig = [0u8; 8];
        if file.read_exact_at(&mut sig, 0).is_err() || sig != format::SIGNATURE {
            return Ok(Verification { records: 0, bad: vec![(0, len)], messages: 0, state: State::new(true) });
        }
        let mut state = State::new(true);
        let mut v = Verification { records: 0, bad: Vec::new(), messages: 0, state: State::new(true) };
        let mut r = BufReader::with_capacity(IO_BUF, &file);
        let mut pos = 8u64;
        r.seek(SeekFrom::Start(pos))?;
        while pos < len {
            match read_record(&mut r, pos, len)? {
                Ok((h, cov)) if state.apply(pos, &h, &cov).is_ok() => {
                    v.records += 1;
                    pos += h.total();
                }
                _ => {
                    v.bad.push((pos, len));
                    break;
                }
            }
        }
        v.messages = state.entries.len();
        v.state = state;
        Ok(v)
    }
}

/// Result of a full verification.
#[derive(Debug, Clone)]
pub struct Verification {
    pub records: u64,
    /// Damaged spans (start, end).
    pub bad: Vec<(u64, u64)>,
    pub messages: usize,
    /// The state replayed from the file (up to the first bad record).
    pub state: State,
}

/// A committed record (header and covered payload), or why not and its declared length.
type RecordRead = std::result::Result<(format::RecordHeader, Vec<u8>), (Bad, Option<u64>)>;

/// Reads one record at `pos` (reader positioned there). Returns the header and covered
/// payload, or why it is not committed and its declared total length if known.
pub(super) fn read_record(r: &mut impl Read, pos: u64, len: u64) -> io::Result<RecordRead> {
    let mut hb = [0u8; HEADER_LEN];
    if len - pos < HEADER_LEN as u64 {
        return Ok(Err((Bad::Short, None)));
    }
    r.read_exact(&mut hb)?;
    let h = match format::decode_header(&hb) {
        Ok(h) => h,
        Err(b) => return Ok(Err((b, None))),
    };
    let total = h.total();
    if pos + total > len {
        return Ok(Err((Bad::Short, Some(total))));
    }
    if h.kind != Kind::Message && h.len > MAX_META_RECORD {
        return Ok(Err((Bad::Garbage, Some(total))));
    }
    let first = if h.kind == Kind::Message { MESSAGE_FIXED } else { h.len as usize };
    let mut covered = vec![0u8; first];
    r.read_exact(&mut covered)?;
    let cov_len = match format::covered_len(&h, &covered) {
        Ok(c) => c,
        Err(b) => return Ok(Err((b, Some(total)))),
    };
    if cov_len > first {
        let mut meta = vec![0u8; cov_len - first];
        r.read_exact(&mut meta)?;
        covered.extend_from_slice(&meta);
    }
    if format::record_crc(h.kind, h.len, &covered) != h.crc {
        skip(r, u64::from(h.len) - cov_len as u64)?;
        return Ok(Err((Bad::Checksum, Some(total))));
    }
    if h.kind == Kind::Message {
        let fixed = MessageFixed::decode(&covered).unwrap_or_default();
        let body_crc = crc_of(r, u64::from(h.len) - cov_len as u64)?;
        if body_crc != fixed.body_crc {
            return Ok(Err((Bad::Checksum, Some(total))));
        }
    }
    Ok(Ok((h, covered)))
}

pub(super) fn crc_of(r: &mut impl Read, mut n: u64) -> io::Result<u32> {
    let mut c = Crc::new();
    let mut buf = [0u8; 16 * 1024];
    while n > 0 {
        let k = n.min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..k).unwrap_or(&mut []);
        r.read_exact(chunk)?;
        c.update(chunk);
        n -= k as u64;
    }
    Ok(c.finish())
}

pub(super) fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    io::copy(&mut r.take(n), &mut io::sink()).map(|_| ())
}
