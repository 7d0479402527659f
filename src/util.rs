//! Small shared helpers: CRC-32C (Castagnoli, as in iSCSI RFC 3720 §B.4 and ext4 metadata),
//! sysexits codes (sysexits.h, used by `deliver` as MTAs expect), and a message spool that
//! keeps small messages in RAM and spills large ones to a file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// sysexits.h codes returned by `letterbox deliver` (Postfix/fetchmail/procmail read them).
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 64;
    pub const DATAERR: i32 = 65;
    pub const SOFTWARE: i32 = 70;
    pub const CANTCREAT: i32 = 73;
    /// Permission denied: a Sieve `reject` (dovecot-lda -e).
    pub const NOPERM: i32 = 77;
    pub const TEMPFAIL: i32 = 75;
    pub const CONFIG: i32 = 78;
}

const CRC_POLY: u32 = 0x82F6_3B78; // CRC-32C reflected polynomial.

/// Slicing-by-8 tables, built at compile time.
static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ CRC_POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// Streaming CRC-32C.
#[derive(Clone, Copy, Debug)]
pub struct Crc(u32);

impl Default for Crc {
    fn default() -> Self {
        Crc(!0)
    }
}

impl Crc {
    pub fn new() -> Crc {
        Crc::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        let t = &CRC_TABLES;
        let mut c = self.0;
        let mut chunks = data.chunks_exact(8);
        for b in &mut chunks {
            let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            c = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][b[4] as usize]
                ^ t[2][b[5] as usize]
                ^ t[1][b[6] as usize]
                ^ t[0][b[7] as usize];
        }
        for &b in chunks.remainder() {
            c = (c >> 8) ^ t[0][((c ^ b as u32) & 0xff) as usize];
        }
        self.0 = c;
    }

    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// The CRC-32C of `a ‖ b` from `crc32c(a)`, `crc32c(b)` and `b`'s length, without reading
/// either (zlib's `crc32_combine`: appending `len_b` zero bytes is a linear map over GF(2),
/// applied by repeated squaring). Lets a spool gain a prefix after its body is written.
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    if len_b == 0 {
        return crc_a;
    }
    // odd: the operator for one zero bit; squared twice: four zero bits.
    let mut odd = [0u32; 32];
    odd[0] = 0x82F6_3B78;
    for (n, row) in odd.iter_mut().enumerate().skip(1) {
        *row = 1 << (n - 1);
    }
    let mut even = gf2_square(&odd);
    odd = gf2_square(&even);
    let (mut crc, mut len) = (crc_a, len_b);
    loop {
        even = gf2_square(&odd);
        if len & 1 != 0 {
            crc = gf2_times(&even, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
        odd = gf2_square(&even);
        if len & 1 != 0 {
            crc = gf2_times(&odd, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
    }
    crc ^ crc_b
}

fn gf2_times(mat: &[u32; 32], vec: u32) -> u32 {
    mat.iter().enumerate().filter(|(i, _)| vec >> i & 1 != 0).fold(0, |sum, (_, row)| sum ^ row)
}

fn gf2_square(mat: &[u32; 32]) -> [u32; 32] {
    let mut sq = [0u32; 32];
    for (out, row) in sq.iter_mut().zip(mat) {
        *out = gf2_times(mat, *row);
    }
    sq
}

/// CRC-32C of one buffer.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(data);
    c.finish()
}

/// Bytes a spool may gain in front after its body ([`Spool::prepend`]): trace and
/// authentication header fields are a few hundred bytes; 16 KiB bounds a caller's mistake.
pub const SPOOL_PREFIX_MAX: usize = 16 * 1024;

/// A message being received: RAM up to a limit, then a temporary file (already unlinked) in
/// the data directory. Tracks length and the CRC-32C of what was stored, so the store never
/// re-reads a body to checksum it. A failed spill write (ENOSPC, EIO) fails the spool for
/// good: every later write and `reader` return an error, so a message missing bytes can
/// never be committed, even by a caller that ignored the first error.
pub struct Spool {
    /// Bytes put in front of a spilled body by [`Spool::prepend`] (in RAM: at most
    /// [`SPOOL_PREFIX_MAX`]); a body still in RAM takes them into `mem` instead.
    head: Vec<u8>,
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    crc: Crc,
    mem_limit: usize,
    dir: std::path::PathBuf,
    failed: bool,
}

impl Spool {
    /// `dir` is where a spill file goes (the store's `tmp/`), so the final copy stays on one
    /// file system.
    pub fn new(dir: &Path, mem_limit: usize) -> Spool {
        let dir = dir.to_path_buf();
        Spool { head: Vec::new(), mem: Vec::new(), file: None, len: 0, crc: Crc::new(), mem_limit, dir, failed: false }
    }

    /// Puts `data` in front of what was written (header fields known only once the body is
    /// in, such as `Authentication-Results:`, RFC 8601 §5). Length and CRC are updated
    /// without reading the body ([`crc32c_combine`]); a spilled body is not rewritten.
    pub fn prepend(&mut self, data: &[u8]) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("spool failed by an earlier write error"));
        }
        if self.head.len() + data.len() > SPOOL_PREFIX_MAX {
            return Err(io::Error::other("spool prefix over its limit"));
        }
        if self.file.is_none() {
            self.mem.splice(0..0, data.iter().copied());
        } else {
            self.head.splice(0..0, data.iter().copied());
        }
        let crc = crc32c_combine(crc32c(data), self.crc.finish(), self.len);
        self.crc = Crc(!crc);
        self.len += data.len() as u64;
        Ok(())
    }

    /// A copy of the content in a new spool (one message stored in two places).
    pub fn duplicate(&mut self, dir: &Path, mem_limit: usize) -> io::Result<Spool> {
        let mut to = Spool::new(dir, mem_limit);
        let mut r = self.reader()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(to);
            }
            to.write(buf.get(..n).unwrap_or(&[]))?;
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn crc(&self) -> u32 {
        self.crc.finish()
    }

    /// Whether a write failed (the content is incomplete and will not be read).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Appends bytes, spilling to disk once the RAM limit is passed. Length and CRC count
    /// only bytes that were stored; an error fails the spool (see the type's doc).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("spool failed by an earlier write error"));
        }
        if let Err(e) = self.put(data) {
            self.failed = true;
            self.file = None;
            self.mem = Vec::new();
            return Err(e);
        }
        self.crc.update(data);
        self.len += data.len() as u64;
        Ok(())
    }

    /// Stores `data` in RAM or in the spill file (created, with the RAM part, on first need).
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.mem.len() + data.len() <= self.mem_limit {
            self.mem.extend_from_slice(data);
            return Ok(());
        }
        if self.file.is_none() {
            let mut f = temp_file(&self.dir)?;
            crate::store::fault::spill_write(&mut f, &self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match self.file.as_mut() {
            Some(f) => crate::store::fault::spill_write(f, data),
            None => Err(io::Error::other("spool file missing")),
        }
    }

    /// The bytes in RAM when the message never spilled.
    pub fn in_memory(&self) -> Option<&[u8]> {
        if self.file.is_none() && !self.failed {
            Some(&self.mem)
        } else {
            None
        }
    }

    /// A reader over the whole content from the start.
    pub fn reader(&mut self) -> io::Result<SpoolReader<'_>> {
        if self.failed {
            return Err(io::Error::other("spool incomplete after a write error"));
        }
        match self.file.as_mut() {
            Some(f) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(SpoolReader::File(&self.head[..], f))
            }
            None => Ok(SpoolReader::Mem(&self.mem[..])),
        }
    }
}

/// Reads a spool's content.
pub enum SpoolReader<'a> {
    Mem(&'a [u8]),
    /// The prepended bytes, then the spill file.
    File(&'a [u8], &'a mut File),
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpoolReader::Mem(m) => m.read(buf),
            SpoolReader::File(head, _) if !head.is_empty() => head.read(buf),
            SpoolReader::File(_, f) => f.read(buf),
        }
    }
}

/// Creates an anonymous temporary file in `dir` (created, opened, then unlinked at once, so
/// a crash leaves nothing behind).
pub fn temp_file(dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(dir)?;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    for attempt in 0..100u32 {
        let name = dir.join(format!(".spool-{}-{}-{}", std::process::id(), nanos, attempt));
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&name) {
            Ok(f) => {
                std::fs::remove_file(&name)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("cannot create a spool file"))
}

/// Writes `data` to a new file `path` (mode 0600) and syncs it.
pub fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Ascending, deduplicated UIDs as inclusive runs of consecutive numbers.
pub fn to_ranges(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(u) => last.1 = u,
            _ => out.push((u, u)),
        }
    }
    out
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Bytes from the OS RNG (query IDs, Message-IDs); all zero should the RNG fail, which
/// costs unpredictability there, never correctness.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b
}

/// Reads until `buf` is full or the input ends; the bytes read (`Read::read_exact` without
/// the error at a short end).
pub fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut []))? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_ranges_joins_consecutive_uids() {
        assert_eq!(to_ranges(&[]), vec![]);
        assert_eq!(to_ranges(&[1, 2, 3, 5, 7, 8, u32::MAX]), vec![(1, 3), (5, 5), (7, 8), (u32::MAX, u32::MAX)]);
        assert_eq!(to_ranges(&[u32::MAX - 1, u32::MAX]), vec![(u32::MAX - 1, u32::MAX)]);
    }

    #[test]
    fn crc32c_known_vectors() {
        // RFC 3720 §B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut c = Crc::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xE306_9283);
    }

    #[test]
    fn spool_spills_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("lb-spool-{}", std::process::id()));
        let mut s = Spool::new(&dir, 10);
        s.write(b"hello ").unwrap();
        assert!(s.in_memory().is_some());
        s.write(b"world, longer").unwrap();
        assert!(s.in_memory().is_none());
        let mut out = Vec::new();
        s.reader().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello world, longer");
        assert_eq!(s.crc(), crc32c(b"hello world, longer"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn crc32c_combine_equals_the_crc_of_the_concatenation() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for split in [0, 1, 7, 8, 9, 100, 4095, 4999, 5000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc32c_combine(crc32c(a), crc32c(b), b.len() as u64), crc32c(&data), "split {split}");
        }
    }

    #[test]
    fn spool_prepend_in_ram_and_after_a_spill() {
        let dir = std::env::temp_dir().join(format!("lb-spool-pre-{}", std::process::id()));
        for limit in [1000, 10] {
            let mut s = Spool::new(&dir, limit);
            s.write(b"Subject: x\r\n\r\nbody that is long\r\n").unwrap();
            s.prepend(b"B: 2\r\n").unwrap();
            s.prepend(b"A: 1\r\n").unwrap();
            let want = b"A: 1\r\nB: 2\r\nSubject: x\r\n\r\nbody that is long\r\n";
            let mut out = Vec::new();
            s.reader().unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, want, "limit {limit}");
            assert_eq!((s.len(), s.crc()), (want.len() as u64, crc32c(want)), "limit {limit}");
            assert_eq!(s.in_memory().is_some(), limit == 1000);
            assert!(s.prepend(&vec![b'x'; SPOOL_PREFIX_MAX + 1]).is_err(), "the prefix is bounded");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn spool_write_error_fails_it_for_good() {
        // A spill directory that cannot be created (its parent is a file): the spill fails.
        let file = std::env::temp_dir().join(format!("lb-spool-file-{}", std::process::id()));
        std::fs::write(&file, b"").unwrap();
        let mut s = Spool::new(&file.join("tmp"), 4);
        s.write(b"abc").unwrap();
        assert!(s.write(b"defgh").is_err());
        assert!(s.failed());
        assert_eq!((s.len(), s.crc()), (3, crc32c(b"abc")), "only stored bytes are counted");
        assert!(s.write(b"i").is_err(), "a failed spool stays failed");
        assert!(s.in_memory().is_none() && s.reader().is_err(), "nothing incomplete can be read");
        let _ = std::fs::remove_file(file);
    }
}
