//! Test-only fault injection under the store's file operations (issue 8): with the cargo
//! feature `fault-injection` and `LETTERBOX_FAULT=KIND@N` in the environment, the Nth
//! write or sync (counted per process) misbehaves:
//!
//! * `sync-eio@N`: the Nth `fdatasync` fails with EIO without syncing (BAD-INPUTS 53);
//! * `write-enospc@N`: the Nth write fails with ENOSPC (BAD-INPUTS 50);
//! * `tear@N`: the Nth write stores only half its bytes, then the process aborts (a crash
//!   in the middle of a write, BAD-INPUTS 51/52);
//! * `lose-unsynced@N`: at the Nth sync, everything written since the last sync is cut off
//!   and the process aborts: a power cut dropping the page cache (BAD-INPUTS 52);
//! * `spill-enospc@N` / `spill-eio@N`: from the Nth write to a message spool's spill file
//!   on (a large APPEND, DATA or COPY, see `util::Spool`), every one fails with ENOSPC /
//!   EIO: a full disk stays full (BAD-INPUTS 50);
//! * `stall@PATH`: every directory sync (`sys::fsync_dir`: CREATE, DELETE, RENAME, the
//!   subscription and special-use files) waits while the file PATH exists, after creating
//!   `PATH.stalled`: a slow SD card under test control (issue 13: such a stall must not
//!   stop other sessions);
//! * `crash@NAME`: the process aborts at the named [`crash_point`] (all earlier writes and
//!   syncs done): `rename_inbox.journal`, `rename_inbox.linked`, `rename.journal`,
//!   `rename.linked`, `rename.unlinked`; Sieve scripts (`store::scripts`): `sieve.put.synced`,
//!   `sieve.activate.synced`, `sieve.rename.linked`, `sieve.rename.activating`,
//!   `sieve.rename.switched`.
//!
//! Without the feature every hook is an inlined `Ok(())`.

use std::fs::File;
use std::io;

#[cfg(feature = "fault-injection")]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static WRITES: AtomicU64 = AtomicU64::new(0);
    static SYNCS: AtomicU64 = AtomicU64::new(0);
    static SPILLS: AtomicU64 = AtomicU64::new(0);

    fn plan() -> &'static Option<(String, u64)> {
        static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let v = std::env::var("LETTERBOX_FAULT").ok()?;
            let (kind, n) = v.split_once('@')?;
            Some((kind.to_owned(), n.parse().ok()?))
        })
    }

    fn hit(kind: &str, counter: &AtomicU64) -> bool {
        match plan() {
            Some((k, n)) if k == kind => counter.fetch_add(1, Ordering::SeqCst) + 1 == *n,
            _ => false,
        }
    }

    pub fn write_at(file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
        let kind = plan().as_ref().map(|p| p.0.as_str()).unwrap_or("");
        if kind == "write-enospc" && hit("write-enospc", &WRITES) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if kind == "tear" && hit("tear", &WRITES) {
            let half = buf.get(..buf.len() / 2).unwrap_or(&[]);
            file.write_all_at(half, pos)?;
            eprintln!("letterbox: fault injection: torn write, aborting");
            std::process::abort();
        }
        file.write_all_at(buf, pos)
    }

    pub fn sync(file: &File, synced_len: u64) -> io::Result<()> {
        let kind = plan().as_ref().map(|p| p.0.as_str()).unwrap_or("");
        if kind == "sync-eio" && hit("sync-eio", &SYNCS) {
            eprintln!("letterbox: fault injection: fdatasync EIO");
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if kind == "lose-unsynced" && hit("lose-unsynced", &SYNCS) {
            file.set_len(synced_len)?;
            file.sync_all()?;
            eprintln!("letterbox: fault injection: power cut, unsynced data lost");
            std::process::abort();
        }
        file.sync_data()
    }

    pub fn spill_write(file: &mut File, buf: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let kind = plan().as_ref().map(|p| p.0.as_str()).unwrap_or("");
        let errno = match kind {
            "spill-enospc" => libc::ENOSPC,
            "spill-eio" => libc::EIO,
            _ => return file.write_all(buf),
        };
        let nth = SPILLS.fetch_add(1, Ordering::SeqCst) + 1;
        if plan().as_ref().is_some_and(|p| nth >= p.1) {
            eprintln!("letterbox: fault injection: spool write {kind}");
            return Err(io::Error::from_raw_os_error(errno));
        }
        file.write_all(buf)
    }

    /// Longest a stall lasts, should a test never release it.
    const STALL_MAX: std::time::Duration = std::time::Duration::from_secs(60);

    pub fn stall_point() {
        let v = std::env::var("LETTERBOX_FAULT").unwrap_or_default();
        let Some(gate) = v.strip_prefix("stall@").map(std::path::Path::new) else { return };
        if !gate.exists() {
            return;
        }
        let mut marker = gate.as_os_str().to_owned();
        marker.push(".stalled");
        let _ = std::fs::write(&marker, b"");
        eprintln!("letterbox: fault injection: directory sync stalled");
        let start = std::time::Instant::now();
        while gate.exists() && start.elapsed() < STALL_MAX {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn crash_point(name: &str) {
        let v = std::env::var("LETTERBOX_FAULT").unwrap_or_default();
        if v.strip_prefix("crash@") == Some(name) {
            eprintln!("letterbox: fault injection: crash at {name}");
            std::process::abort();
        }
    }
}

/// A named point between two durable steps of a multi-step store operation.
#[inline]
pub fn crash_point(name: &str) {
    #[cfg(feature = "fault-injection")]
    imp::crash_point(name);
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

/// Before a directory sync: waits while a test holds the `stall@PATH` gate.
#[inline]
pub fn stall_point() {
    #[cfg(feature = "fault-injection")]
    imp::stall_point();
}

/// Writes all of `buf` at `pos` (the store's only write path for folder files).
#[inline]
pub fn write_at(file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    return imp::write_at(file, buf, pos);
    #[cfg(not(feature = "fault-injection"))]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf, pos)
    }
}

/// Writes all of `buf` at the end of a spool's spill file (`util::Spool`).
#[inline]
pub fn spill_write(file: &mut File, buf: &[u8]) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    return imp::spill_write(file, buf);
    #[cfg(not(feature = "fault-injection"))]
    {
        use std::io::Write;
        file.write_all(buf)
    }
}

/// `fdatasync`; `synced_len` is the file length at the previous successful sync.
#[inline]
pub fn sync(file: &File, synced_len: u64) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    return imp::sync(file, synced_len);
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = synced_len;
        file.sync_data()
    }
}
