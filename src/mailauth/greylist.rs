//! Greylisting as RFC 6647 describes it, keyed on the (client, MAIL FROM, RCPT TO) triplet
//! at RCPT time: the first delivery attempt of a triplet is deferred with 451 4.7.1
//! (RFC 3463 X.7.1, delivery not authorized, as a transient 4xx), a retry after [`DELAY`] and within
//! [`WINDOW`] passes, and a passed triplet keeps passing for [`PASSED_MAX_AGE`] after its
//! last use. A deferred sender retries as RFC 5321 §4.5.4.1 requires of every client.
//!
//! The core ([`Greylist`]) is sans-IO: the caller gives the time (`now`, Unix seconds) and
//! decides when to save; [`load`] and [`save`] at the end of the file are the only file code.
//! A triplet is stored as a 64-bit hash, never as text, so an entry is [`ENTRY_BYTES`] bytes
//! whatever the addresses; the table holds at most [`ENTRIES_MAX`] of them.
//!
//! The client address counts by network (large senders retry from another host of the same
//! farm): an IPv4 client by its /24, an IPv6 client by its /64 (the smallest prefix an end
//! site is given, RFC 6177, and one host can walk its whole /64 with temporary addresses,
//! RFC 8981). An IPv4-mapped IPv6 address counts as the IPv4 address. Sender and
//! recipient are case-folded; the sender's local part also loses a `+extension` and has
//! each run of digits replaced by `#`, as postgrey does, so a mailing list's per-message
//! VERP return paths make one triplet rather than one a message.
//! No client auto-whitelist (postgrey's `--auto-whitelist-clients`): senders with a passing
//! aligned SPF or DKIM result skip greylisting altogether (issue 15), which covers the big
//! senders that postgrey's list is for.
//!
//! File format (all integers little-endian), written whole by [`Greylist::encode`]:
//!
//! ```text
//! "LBGL"  version:u32 (= 1)  count:u32 (≤ ENTRIES_MAX)
//! count × { key:u64  first_seen:u32  last_pass:u32 (0 = not passed yet) }   keys ascending
//! crc32c:u32 of everything before it
//! ```
//!
//! Times are Unix seconds as `u32` (good until 2106; later clocks saturate).

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;

use crate::util::crc32c;

/// 300 s: postgrey's default and what the issue asks for; short enough for senders that
/// retry after 5–15 minutes (Postfix, Exim), long enough that a spam run has moved on.
pub const DELAY: u64 = 300;
/// A pending triplet passes only if retried within 36 h (issue 15): far longer than any
/// retry schedule's first intervals (RFC 5321 §4.5.4.1 gives up only after 4–5 days).
pub const WINDOW: u64 = 36 * 3600;
/// A passed triplet is kept 36 days after it last passed (postgrey's `--max-age` default):
/// a correspondent who writes monthly is not delayed again, and stale entries still expire.
pub const PASSED_MAX_AGE: u64 = 36 * 24 * 3600;
/// Entries kept: 4096 × 16 bytes = 64 KiB of RAM and a 64 KiB file, a few percent of a
/// 128 MB router's spare memory; a single-user server meets far fewer distinct triplets
/// within 36 h (a flood beyond it evicts, see [`Greylist::check`]).
pub const ENTRIES_MAX: usize = 4096;
/// Bytes of one entry in RAM and on file (hash, first seen, last pass).
pub const ENTRY_BYTES: usize = 16;
/// How often the caller should save a dirty list: a crash loses at most this much state,
/// which costs a sender one more deferral; a full list rewritten every minute is at most
/// 64 KiB × 1440 ≈ 90 MiB a day written to flash, and only while mail arrives.
pub const SAVE_INTERVAL: u64 = 60;
/// The state file's name in the data directory.
pub const FILE_NAME: &str = "greylist";

/// File magic.
const MAGIC: &[u8; 4] = b"LBGL";
/// File format version.
const VERSION: u32 = 1;
/// Magic, version, count.
const HEAD_BYTES: usize = 12;
/// Largest valid file: a fuller one is refused before it is read.
pub const FILE_MAX: usize = HEAD_BYTES + ENTRIES_MAX * ENTRY_BYTES + 4;

/// The greylisting triplet: client address, MAIL FROM, RCPT TO (addresses without `<>`).
#[derive(Debug, Clone, Copy)]
pub struct Triplet<'a> {
    pub ip: IpAddr,
    /// The reverse-path; empty for the null sender.
    pub sender: &'a str,
    pub rcpt: &'a str,
}

/// What to answer the RCPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Pass,
    /// 451 4.7.1; the triplet passes in `retry_in_secs` seconds.
    Defer {
        retry_in_secs: u64,
    },
}

/// Why a state file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its head or its count says.
    Truncated,
    /// Not a greylist file, or another version.
    Format,
    /// More than [`ENTRIES_MAX`] entries, or bytes after the last.
    Size,
    Checksum,
    /// Keys not strictly ascending (a file [`Greylist::encode`] did not write).
    Order,
}

/// One triplet's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u64,
    first_seen: u32,
    /// Last time it passed; `None` while pending.
    last_pass: Option<NonZeroU32>,
}

impl Entry {
    /// Pending past the window, or passed and unused for [`PASSED_MAX_AGE`].
    fn expired(&self, now: u32) -> bool {
        match self.last_pass {
            None => age(now, self.first_seen) > WINDOW,
            Some(p) => age(now, p.get()) > PASSED_MAX_AGE,
        }
    }
}

/// The greylist table: entries sorted by key (binary search; a 64 KiB memmove at most on
/// insert, which is cheaper than a hash map's slack on a router).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Greylist {
    entries: Vec<Entry>,
    dirty: bool,
}

impl Greylist {
    pub fn new() -> Self {
        Greylist::default()
    }

    /// Number of triplets held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the state changed since it was created, decoded or [`Greylist::mark_saved`].
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Records that the current state is on disk.
    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    /// Decides for `t` at `now` and records the attempt. First sight: recorded, deferred
    /// for [`DELAY`]. Retried too early: deferred for the rest (the first-seen time stays).
    /// Retried within [`WINDOW`]: passes, and keeps passing for [`PASSED_MAX_AGE`] after
    /// each pass. After the window or the max age: starts over. A full table first drops
    /// expired entries, then the oldest pending one, then the least recently passed one, so
    /// a flood of new triplets cannot flush the passed correspondents while any pending
    /// entry is left to evict.
    pub fn check(&mut self, t: &Triplet, now: u64) -> Decision {
        let (now, key) = (stamp(now), key(t));
        match self.entries.binary_search_by_key(&key, |e| e.key) {
            Ok(i) => self.retry(i, now),
            Err(_) => {
                self.insert(key, now);
                Decision::Defer { retry_in_secs: DELAY }
            }
        }
    }

    /// A triplet seen before.
    fn retry(&mut self, i: usize, now: u32) -> Decision {
        let Some(e) = self.entries.get_mut(i) else { return Decision::Defer { retry_in_secs: DELAY } };
        let waited = age(now, e.first_seen);
        let before = *e;
        let decision = if e.expired(now) {
            *e = Entry { key: e.key, first_seen: now, last_pass: None };
            Decision::Defer { retry_in_secs: DELAY }
        } else if e.last_pass.is_none() && waited < DELAY {
            Decision::Defer { retry_in_secs: DELAY - waited }
        } else {
            // A clock that went back never moves the last pass back.
            e.last_pass = e.last_pass.max(NonZeroU32::new(now.max(1)));
            Decision::Pass
        };
        self.dirty |= *e != before;
        decision
    }

    /// Records a new pending triplet, making room first when the table is full.
    fn insert(&mut self, key: u64, now: u32) {
        if self.entries.len() >= ENTRIES_MAX {
            self.make_room(now);
        }
        let at = self.entries.partition_point(|e| e.key < key);
        self.entries.insert(at, Entry { key, first_seen: now, last_pass: None });
        self.dirty = true;
    }

    /// Drops every expired entry or, when none is, the oldest pending one, else the least
    /// recently passed; one scan of the table (a flood pays it on every new triplet).
    fn make_room(&mut self, now: u32) {
        let mut expired = false;
        let mut victim: Option<(usize, (bool, u32))> = None;
        for (i, e) in self.entries.iter().enumerate() {
            expired |= e.expired(now);
            let rank = (e.last_pass.is_some(), e.last_pass.map_or(e.first_seen, NonZeroU32::get));
            if victim.is_none_or(|(_, r)| rank < r) {
                victim = Some((i, rank));
            }
        }
        if expired {
            self.entries.retain(|e| !e.expired(now));
        } else if let Some((i, _)) = victim {
            self.entries.remove(i);
        }
    }

    /// The state file's bytes (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_BYTES + self.entries.len() * ENTRY_BYTES + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.key.to_le_bytes());
            out.extend_from_slice(&e.first_seen.to_le_bytes());
            out.extend_from_slice(&e.last_pass.map_or(0, NonZeroU32::get).to_le_bytes());
        }
        out.extend_from_slice(&crc32c(&out).to_le_bytes());
        out
    }

    /// Reads a state file's bytes; anything [`Greylist::encode`] did not write is an error
    /// (the caller starts empty: senders are only deferred once more). Never allocates more
    /// than [`ENTRIES_MAX`] entries.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (body, crc) = bytes.split_last_chunk::<4>().ok_or(DecodeError::Truncated)?;
        let (head, table) = body.split_first_chunk::<HEAD_BYTES>().ok_or(DecodeError::Truncated)?;
        if head.get(..4) != Some(MAGIC.as_slice()) || le32(head, 4) != Some(VERSION) {
            return Err(DecodeError::Format);
        }
        let count = le32(head, 8).and_then(|n| usize::try_from(n).ok()).ok_or(DecodeError::Format)?;
        if count > ENTRIES_MAX {
            return Err(DecodeError::Size);
        }
        match table.len().cmp(&(count * ENTRY_BYTES)) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated),
            std::cmp::Ordering::Greater => return Err(DecodeError::Size),
            std::cmp::Ordering::Equal => {}
        }
        if crc32c(body) != u32::from_le_bytes(*crc) {
            return Err(DecodeError::Checksum);
        }
        let entries: Vec<Entry> = table.chunks_exact(ENTRY_BYTES).map(entry).collect();
        if entries.windows(2).any(|w| matches!(w, [a, b] if a.key >= b.key)) {
            return Err(DecodeError::Order);
        }
        Ok(Greylist { entries, dirty: false })
    }
}

/// One 16-byte record (`chunks_exact` gives exactly [`ENTRY_BYTES`]).
fn entry(b: &[u8]) -> Entry {
    let key = b.first_chunk::<8>().map_or(0, |k| u64::from_le_bytes(*k));
    Entry { key, first_seen: le32(b, 8).unwrap_or(0), last_pass: le32(b, 12).and_then(NonZeroU32::new) }
}

/// The little-endian `u32` at `at`, if `b` holds it.
fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)?.try_into().ok().map(u32::from_le_bytes)
}

/// Seconds from `then` to `now`; 0 when the clock went back.
fn age(now: u32, then: u32) -> u64 {
    u64::from(now.saturating_sub(then))
}

/// Unix seconds as stored.
fn stamp(now: u64) -> u32 {
    u32::try_from(now).unwrap_or(u32::MAX)
}

/// The triplet's 64-bit key: the first 8 bytes of SHA-256 over the network prefix and the
/// normalized addresses, each length-prefixed so no two triplets share an input. A chance
/// collision among 4096 entries has odds of about 2⁻⁴²; making one on purpose needs a
/// second preimage of 64 bits, and would only let a sender skip a 5-minute delay.
fn key(t: &Triplet) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"letterbox greylist v1\0");
    let net = network(t.ip);
    let sender = normalize_sender(t.sender);
    let rcpt = t.rcpt.to_lowercase();
    for part in [net.as_slice(), sender.as_bytes(), rcpt.as_bytes()] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let d = ctx.finish();
    d.as_ref().first_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b))
}

/// The client's network: family tag and the /24 (IPv4) or /64 (IPv6) prefix.
fn network(ip: IpAddr) -> Vec<u8> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => [&[4u8][..], v4.octets().get(..3).unwrap_or(&[])].concat(),
        IpAddr::V6(v6) => [&[6u8][..], v6.octets().get(..8).unwrap_or(&[])].concat(),
    }
}

/// Case-folded sender with the local part's `+extension` dropped and digit runs as `#`
/// (postgrey's VERP handling), so `list+bounce-1234=x@l.org` and `…-5678…` are one sender.
fn normalize_sender(sender: &str) -> String {
    let s = sender.to_lowercase();
    let Some((local, domain)) = s.rsplit_once('@') else { return s };
    let local = local.split_once('+').map_or(local, |(l, _)| l);
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    for c in local.chars() {
        let digit = c.is_ascii_digit();
        if !digit {
            out.push(c);
        } else if !in_digits {
            out.push('#');
        }
        in_digits = digit;
    }
    out.push('@');
    out.push_str(domain);
    out
}

/// Reads the state file; a missing, unreadable, oversized or corrupt file gives an empty
/// list (logged unless missing): the cost is one more deferral per sender.
pub fn load(path: &Path) -> Greylist {
    let read = std::fs::File::open(path).and_then(|f| {
        let mut bytes = Vec::new();
        f.take(FILE_MAX as u64 + 1).read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    let bytes = match read {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Greylist::new(),
        Err(e) => {
            eprintln!("letterbox: {}: {e}; greylisting starts empty", path.display());
            return Greylist::new();
        }
    };
    Greylist::decode(&bytes).unwrap_or_else(|e| {
        eprintln!("letterbox: {}: not a valid greylist file ({e:?}); greylisting starts empty", path.display());
        Greylist::new()
    })
}

/// Replaces the state file atomically: a temporary file written and synced, renamed over
/// `path`, the directory synced; a crash leaves the old file or the new one, whole. The
/// caller clears [`Greylist::dirty`] with [`Greylist::mark_saved`] on success.
pub fn save(path: &Path, g: &Greylist) -> io::Result<()> {
    save_bytes(path, &g.encode())
}

/// [`save`] of bytes [`Greylist::encode`] made (on the executor; the write goes elsewhere).
pub fn save_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(tmp, path)?;
    crate::sys::fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn t<'a>(ip: &str, sender: &'a str, rcpt: &'a str) -> (IpAddr, &'a str, &'a str) {
        (ip.parse().unwrap(), sender, rcpt)
    }

    fn check(g: &mut Greylist, (ip, sender, rcpt): (IpAddr, &str, &str), now: u64) -> Decision {
        g.check(&Triplet { ip, sender, rcpt }, now)
    }

    fn defer(secs: u64) -> Decision {
        Decision::Defer { retry_in_secs: secs }
    }

    /// The `i`th of many distinct triplets (distinct /24 networks and senders).
    fn nth(i: u32) -> (IpAddr, String) {
        (IpAddr::V4(std::net::Ipv4Addr::from(i << 8)), format!("s{}x@spam.example", char::from(b'a' + (i % 26) as u8)))
    }

    fn flood(g: &mut Greylist, range: std::ops::Range<u32>, now: u64) {
        for i in range {
            let (ip, s) = nth(i);
            // The sender's digits would fold to `#`: distinctness comes from the /24.
            assert_eq!(g.check(&Triplet { ip, sender: &s, rcpt: "me@home.example" }, now), defer(DELAY));
        }
    }

    #[test]
    fn first_sight_defers_too_early_defers_for_the_rest_then_passes() {
        let mut g = Greylist::new();
        let a = t("192.0.2.10", "alice@example.org", "me@home.example");
        assert!(!g.dirty());
        assert_eq!(check(&mut g, a, T0), defer(300));
        assert!(g.dirty());
        g.mark_saved();
        assert_eq!(check(&mut g, a, T0 + 60), defer(240));
        assert_eq!(check(&mut g, a, T0 + 299), defer(1), "an early retry keeps the first-seen time");
        assert!(!g.dirty(), "an early retry changes nothing");
        assert_eq!(check(&mut g, a, T0 + 300), Decision::Pass);
        assert!(g.dirty());
        g.mark_saved();
        assert_eq!(check(&mut g, a, T0 + 300), Decision::Pass);
        assert!(!g.dirty(), "a pass in the same second changes nothing");
        assert_eq!(check(&mut g, a, T0 + 301), Decision::Pass);
        assert!(g.dirty(), "the last pass moved");
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn a_retry_after_the_window_starts_over() {
        let mut g = Greylist::new();
        let a = t("192.0.2.10", "alice@example.org", "me@home.example");
        assert_eq!(check(&mut g, a, T0), defer(300));
        assert_eq!(check(&mut g, a, T0 + WINDOW), Decision::Pass, "the window's last second still passes");
        let b = t("192.0.2.10", "bob@example.org", "me@home.example");
        assert_eq!(check(&mut g, b, T0), defer(300));
        assert_eq!(check(&mut g, b, T0 + WINDOW + 1), defer(300));
        assert_eq!(check(&mut g, b, T0 + WINDOW + 201), defer(100), "restarted at the late retry");
        assert_eq!(check(&mut g, b, T0 + WINDOW + 301), Decision::Pass);
    }

    #[test]
    fn passed_entries_live_36_days_after_their_last_pass() {
        let mut g = Greylist::new();
        let a = t("192.0.2.10", "alice@example.org", "me@home.example");
        check(&mut g, a, T0);
        assert_eq!(check(&mut g, a, T0 + 600), Decision::Pass);
        let day = 86_400;
        assert_eq!(check(&mut g, a, T0 + 600 + 30 * day), Decision::Pass, "30 days later");
        let last = T0 + 600 + 30 * day;
        assert_eq!(check(&mut g, a, last + PASSED_MAX_AGE), Decision::Pass, "refreshed by the last pass");
        let last = last + PASSED_MAX_AGE;
        assert_eq!(check(&mut g, a, last + PASSED_MAX_AGE + 1), defer(300), "unused for longer: greylisted again");
    }

    #[test]
    fn clients_count_by_ipv4_24_and_ipv6_64() {
        let mut g = Greylist::new();
        let (s, r) = ("alice@example.org", "me@home.example");
        check(&mut g, t("192.0.2.10", s, r), T0);
        assert_eq!(check(&mut g, t("192.0.2.200", s, r), T0 + 300), Decision::Pass, "same /24");
        assert_eq!(check(&mut g, t("::ffff:192.0.2.7", s, r), T0 + 300), Decision::Pass, "IPv4-mapped");
        assert_eq!(check(&mut g, t("192.0.3.10", s, r), T0 + 300), defer(300), "another /24");
        check(&mut g, t("2001:db8:1:2::1", s, r), T0);
        assert_eq!(check(&mut g, t("2001:db8:1:2:ffff:ab:cd:ef", s, r), T0 + 300), Decision::Pass, "same /64");
        assert_eq!(check(&mut g, t("2001:db8:1:3::1", s, r), T0 + 300), defer(300), "another /64");
        assert_eq!(check(&mut g, t("::c000:20a", s, r), T0 + 300), defer(300), "IPv4-compatible is IPv6");
        assert_eq!(g.len(), 5);
    }

    #[test]
    fn addresses_are_case_folded_and_verp_senders_are_one_sender() {
        let mut g = Greylist::new();
        check(&mut g, t("192.0.2.10", "Alice@Example.ORG", "Me@Home.Example"), T0);
        assert_eq!(check(&mut g, t("192.0.2.10", "alice@example.org", "me@home.example"), T0 + 300), Decision::Pass);
        check(&mut g, t("198.51.100.1", "list+bounces-1234=me=home.example@lists.example", "me@home.example"), T0);
        let next = t("198.51.100.1", "list+bounces-5678=me=home.example@lists.example", "me@home.example");
        assert_eq!(check(&mut g, next, T0 + 300), Decision::Pass, "+extension dropped");
        check(&mut g, t("198.51.100.1", "bounce-17-abc@news.example", "me@home.example"), T0);
        assert_eq!(
            check(&mut g, t("198.51.100.1", "bounce-4242-abc@news.example", "me@home.example"), T0 + 300),
            Decision::Pass
        );
        for (s, r) in [("bounce-x-abc@news.example", "me@home.example"), ("alice@example.org", "other@home.example")] {
            assert_eq!(check(&mut g, t("192.0.2.10", s, r), T0 + 300), defer(300), "{s} {r}");
        }
        assert_eq!(normalize_sender("A.B+Tag@X.Org"), "a.b@x.org");
        assert_eq!(normalize_sender("u12v345w@d1.example"), "u#v#w@d1.example");
        assert_eq!(normalize_sender(""), "");
        // The null sender and an empty recipient are triplets like any other.
        assert_eq!(check(&mut g, t("192.0.2.10", "", ""), T0), defer(300));
    }

    #[test]
    fn the_clock_going_back_defers_without_losing_the_entry() {
        let mut g = Greylist::new();
        let a = t("192.0.2.10", "alice@example.org", "me@home.example");
        check(&mut g, a, T0);
        assert_eq!(check(&mut g, a, T0 - 1000), defer(300));
        assert_eq!(check(&mut g, a, T0 + 300), Decision::Pass);
        assert_eq!(check(&mut g, a, T0 + 100), Decision::Pass, "passed stays passed");
        assert_eq!(check(&mut g, a, T0 + 300 + PASSED_MAX_AGE), Decision::Pass, "the last pass did not move back");
        assert_eq!(check(&mut g, a, u64::MAX), defer(300), "a clock past 2106 saturates, never panics");
    }

    /// BAD-INPUTS 82: a flood of distinct triplets keeps the table at ENTRIES_MAX entries
    /// of ENTRY_BYTES each, and evicts pending entries before passed ones.
    #[test]
    fn greylist_flood_of_distinct_triplets_stays_bounded() {
        assert_eq!(std::mem::size_of::<Entry>(), ENTRY_BYTES);
        let mut g = Greylist::new();
        let friend = t("203.0.113.5", "friend@example.org", "me@home.example");
        check(&mut g, friend, T0);
        assert_eq!(check(&mut g, friend, T0 + 300), Decision::Pass);
        let started = std::time::Instant::now();
        flood(&mut g, 1..(3 * ENTRIES_MAX as u32), T0 + 400);
        let per_check = started.elapsed() / (3 * ENTRIES_MAX as u32);
        assert_eq!(g.len(), ENTRIES_MAX);
        let ram = g.entries.capacity() * std::mem::size_of::<Entry>();
        assert!(ram <= ENTRIES_MAX * ENTRY_BYTES, "{ram} bytes");
        assert_eq!(g.encode().len(), FILE_MAX);
        eprintln!("full table: {ram} bytes of entries, file {} bytes, {per_check:?} per check", FILE_MAX);
        assert_eq!(check(&mut g, friend, T0 + 500), Decision::Pass, "a passed entry outlives the flood");
        // The oldest pending entries went first: the last ENTRIES_MAX - 1 flooders are there.
        let (ip, s) = nth(3 * ENTRIES_MAX as u32 - 1);
        assert_eq!(g.check(&Triplet { ip, sender: &s, rcpt: "me@home.example" }, T0 + 700), Decision::Pass);
        let (ip, s) = nth(1);
        assert_eq!(g.check(&Triplet { ip, sender: &s, rcpt: "me@home.example" }, T0 + 700), defer(DELAY));
    }

    #[test]
    fn a_full_table_drops_expired_entries_first_then_the_least_recently_passed() {
        let mut g = Greylist::new();
        flood(&mut g, 0..ENTRIES_MAX as u32 - 1, T0);
        let friend = t("203.0.113.5", "friend@example.org", "me@home.example");
        check(&mut g, friend, T0);
        assert_eq!(check(&mut g, friend, T0 + 300), Decision::Pass);
        assert_eq!(g.len(), ENTRIES_MAX);
        // After the window every pending entry has expired: one new triplet clears them all.
        let late = T0 + WINDOW + 1;
        assert_eq!(check(&mut g, t("198.51.100.1", "new@example.net", "me@home.example"), late), defer(300));
        assert_eq!(g.len(), 2, "expired pending entries dropped, the passed one kept");
        assert_eq!(check(&mut g, friend, late), Decision::Pass);
        // A table of passed entries only evicts the one that passed longest ago.
        let mut g = Greylist::new();
        for i in 0..ENTRIES_MAX as u32 {
            let (ip, s) = nth(i);
            let tr = Triplet { ip, sender: &s, rcpt: "me@home.example" };
            g.check(&tr, T0);
            assert_eq!(g.check(&tr, T0 + 300 + u64::from(i)), Decision::Pass);
        }
        check(&mut g, t("198.51.100.1", "new@example.net", "me@home.example"), T0 + 10_000);
        assert_eq!(g.len(), ENTRIES_MAX);
        let (ip, s) = nth(0);
        assert_eq!(g.check(&Triplet { ip, sender: &s, rcpt: "me@home.example" }, T0 + 10_001), defer(300));
        let (ip, s) = nth(1);
        assert_eq!(g.check(&Triplet { ip, sender: &s, rcpt: "me@home.example" }, T0 + 10_001), Decision::Pass);
    }

    fn sample() -> Greylist {
        let mut g = Greylist::new();
        let a = t("192.0.2.10", "alice@example.org", "me@home.example");
        check(&mut g, a, T0);
        check(&mut g, a, T0 + 400);
        check(&mut g, t("2001:db8::1", "bob@example.net", "me@home.example"), T0 + 100);
        flood(&mut g, 0..50, T0 + 200);
        g
    }

    #[test]
    fn state_round_trips_through_encode_and_decode() {
        let g = sample();
        let bytes = g.encode();
        assert_eq!(bytes.len(), HEAD_BYTES + g.len() * ENTRY_BYTES + 4);
        assert_eq!(bytes.get(..4), Some(&b"LBGL"[..]));
        let mut back = Greylist::decode(&bytes).unwrap();
        assert!(!back.dirty());
        assert_eq!(back.entries, g.entries);
        assert_eq!(back.encode(), bytes);
        // Behaviour continues: the passed entry passes, the pending ones wait out their delay.
        assert_eq!(check(&mut back, t("192.0.2.99", "alice@example.org", "me@home.example"), T0 + 500), Decision::Pass);
        let bob = t("2001:db8::2", "bob@example.net", "me@home.example");
        assert_eq!(check(&mut back, bob, T0 + 300), defer(100));
        assert_eq!(check(&mut back, bob, T0 + 400), Decision::Pass);
        assert_eq!(Greylist::decode(&Greylist::new().encode()), Ok(Greylist::new()));
    }

    /// Files written by a Python script from the module doc's format (also the fuzz seeds
    /// in scripts/fuzz.sh): empty, and one pending plus one passed entry.
    #[test]
    fn files_written_from_the_documented_format_decode() {
        let empty = b"LBGL\x01\0\0\0\0\0\0\0\x83\x06\xf5\xe4";
        assert_eq!(Greylist::decode(empty), Ok(Greylist::new()));
        let two = b"LBGL\x01\0\0\0\x02\0\0\0\x34\x12\0\0\0\0\0\0\0\xf1\x53\x65\0\0\0\0\
                    \x10\x32\x54\x76\x98\xba\xdc\xfe\0\xf1\x53\x65\x90\xf2\x53\x65\x95\xe4\x1c\x91";
        let g = Greylist::decode(two).unwrap();
        let pass = NonZeroU32::new(1_700_000_400);
        let want = [
            Entry { key: 0x1234, first_seen: 1_700_000_000, last_pass: None },
            Entry { key: 0xfedc_ba98_7654_3210, first_seen: 1_700_000_000, last_pass: pass },
        ];
        assert_eq!(g.entries, want);
        assert_eq!(g.encode(), two);
    }

    /// Rewrites the trailing CRC so a forged body gets past it.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        b.truncate(b.len() - 4);
        let crc = crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    /// BAD-INPUTS 83: truncated, bit-flipped and forged state files are refused, never a
    /// panic nor an allocation beyond ENTRIES_MAX.
    #[test]
    fn greylist_corrupt_truncated_or_forged_state_is_refused() {
        let good = sample().encode();
        for n in 0..good.len() {
            assert!(Greylist::decode(&good[..n]).is_err(), "truncated to {n}");
        }
        for bit in 0..good.len() * 8 {
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(Greylist::decode(&b).is_err(), "bit {bit} flipped");
        }
        let mut b = good.clone();
        b.extend_from_slice(&[0; ENTRY_BYTES]);
        assert_eq!(Greylist::decode(&reseal(b)), Err(DecodeError::Size), "bytes past the count");
        let mut b = good.clone();
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Greylist::decode(&reseal(b)), Err(DecodeError::Size), "a forged huge count");
        let mut b = good.clone();
        b[4] = 2;
        assert_eq!(Greylist::decode(&reseal(b)), Err(DecodeError::Format), "another version");
        let mut b = good.clone();
        let (first, second) = (b[12..28].to_vec(), b[28..44].to_vec());
        b[12..28].copy_from_slice(&second);
        b[28..44].copy_from_slice(&first);
        assert_eq!(Greylist::decode(&reseal(b)), Err(DecodeError::Order), "keys out of order");
        let mut b = good.clone();
        let dup = b[12..28].to_vec();
        b[28..44].copy_from_slice(&dup);
        assert_eq!(Greylist::decode(&reseal(b)), Err(DecodeError::Order), "a duplicate key");
        // A file of ENTRIES_MAX + 1 entries, sealed: refused by its count.
        let mut big = b"LBGL".to_vec();
        big.extend_from_slice(&1u32.to_le_bytes());
        big.extend_from_slice(&(ENTRIES_MAX as u32 + 1).to_le_bytes());
        for k in 0..=ENTRIES_MAX as u64 {
            big.extend_from_slice(&k.to_le_bytes());
            big.extend_from_slice(&[0; 8]);
        }
        big.extend_from_slice(&crc32c(&big).to_le_bytes());
        assert_eq!(Greylist::decode(&big), Err(DecodeError::Size));
    }

    #[test]
    fn save_replaces_the_file_and_load_falls_back_to_empty() {
        let dir = std::env::temp_dir().join(format!("lbx-greylist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        assert!(load(&path).is_empty(), "no file: empty");
        let g = sample();
        save(&path, &g).unwrap();
        assert_eq!(load(&path).entries, g.entries);
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)], "no temporary file left");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, &bytes).unwrap();
        assert!(load(&path).is_empty(), "truncated: empty");
        std::fs::write(&path, vec![0u8; FILE_MAX * 2]).unwrap();
        assert!(load(&path).is_empty(), "oversized: empty");
        save(&path, &Greylist::new()).unwrap();
        assert!(load(&path).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
