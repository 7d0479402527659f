//! The greylist's heap, counted by a global allocator (alone in its test binary so nothing
//! else allocates meanwhile): a flood of distinct triplets leaves the table at
//! `ENTRIES_MAX` entries of `ENTRY_BYTES` each, a check allocates only a few transient
//! bytes (the normalized addresses) once the table is full, and the figures the issue asks for are printed.
#![cfg(feature = "checks")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use letterbox::mailauth::greylist::{Decision, Greylist, Triplet, DELAY, ENTRIES_MAX, ENTRY_BYTES, FILE_MAX};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn greylist_heap_is_bounded_under_a_flood() {
    let sender = "sender@spam.example".to_owned();
    let rcpt = "me@home.example".to_owned();
    let base = LIVE.load(Ordering::Relaxed);
    let mut g = Greylist::new();
    let n = 5 * ENTRIES_MAX as u32;
    let started = std::time::Instant::now();
    let mut peak = 0;
    for i in 0..n {
        let t = Triplet { ip: IpAddr::V4(Ipv4Addr::from(i << 8)), sender: &sender, rcpt: &rcpt };
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        assert_eq!(g.check(&t, 1_700_000_000 + u64::from(i / 100)), Decision::Defer { retry_in_secs: DELAY });
        // Growing the table to its bound reallocates (old and new buffer for a moment);
        // checks against the full table are what a flood costs.
        if i >= ENTRIES_MAX as u32 {
            peak = peak.max(PEAK.load(Ordering::Relaxed) - base);
        }
    }
    let per_check = started.elapsed() / n;
    let table = LIVE.load(Ordering::Relaxed) - base;
    assert_eq!(g.len(), ENTRIES_MAX);
    assert!(table <= ENTRIES_MAX * ENTRY_BYTES, "table heap {table} bytes");
    // Transient: the normalized sender and recipient and the network prefix, a few dozen bytes.
    assert!(peak <= table + 256, "peak {peak} bytes, table {table}");
    let file = g.encode().len();
    assert_eq!(file, FILE_MAX);
    eprintln!(
        "greylist: {} entries, {table} bytes of heap ({} per entry), peak {peak} bytes during checks, \
         file {file} bytes, {per_check:?} per check of a full table",
        g.len(),
        table / g.len()
    );
}
