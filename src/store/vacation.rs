//! The vacation responder's memory (RFC 5230 §4.2, RFC 3834 §2): who was answered, under
//! which handle, and when, so each sender gets one reply per period. A small text file in
//! the data directory (`vacation.state`), one `unix-seconds key` line per reply, written
//! whole (temporary file, fsync, rename, directory fsync) so a crash leaves the old or the
//! new table, never a torn one. Keys are a hash of handle and sender: the file names no
//! addresses.

use std::io;
use std::path::{Path, PathBuf};

/// The state file's name under the data directory.
pub const FILE: &str = "vacation.state";
/// Senders remembered: a holiday's worth of correspondents; the oldest are forgotten first
/// (a forgotten sender may get a second reply, never a flood).
pub const ENTRIES_MAX: usize = 2048;
/// RFC 5230 §4.1 caps `:days` (we clamp to 60 days): older entries can never block a reply.
pub const KEEP_SECONDS: i64 = 60 * 86400;
/// A larger file is not ours (ENTRIES_MAX lines of at most 40 bytes, with room).
const FILE_BYTES_MAX: u64 = 256 * 1024;

/// The table, loaded from and saved to `DATA/vacation.state`.
pub struct Replies {
    path: PathBuf,
    entries: Vec<(i64, u64)>,
}

impl Replies {
    /// Loads the table (missing or unreadable lines are skipped: at worst, one more reply).
    pub fn load(data_dir: &Path) -> Replies {
        let path = data_dir.join(FILE);
        let text = match std::fs::metadata(&path) {
            Ok(m) if m.len() <= FILE_BYTES_MAX => std::fs::read_to_string(&path).unwrap_or_default(),
            _ => String::new(),
        };
        let entries = text
            .lines()
            .filter_map(|l| {
                let (t, k) = l.split_once(' ')?;
                Some((t.parse().ok()?, u64::from_str_radix(k, 16).ok()?))
            })
            .take(ENTRIES_MAX)
            .collect();
        Replies { path, entries }
    }

    /// True when no reply to `sender` under `handle` went out in the last `seconds`.
    pub fn due(&self, handle: &str, sender: &str, now: i64, seconds: u64) -> bool {
        let k = key(handle, sender);
        let period = i64::try_from(seconds).unwrap_or(i64::MAX);
        !self.entries.iter().any(|&(t, e)| e == k && now.saturating_sub(t) < period)
    }

    /// Records a reply and saves the table durably.
    pub fn record(&mut self, handle: &str, sender: &str, now: i64) -> io::Result<()> {
        let k = key(handle, sender);
        self.entries.retain(|&(t, e)| e != k && now.saturating_sub(t) < KEEP_SECONDS);
        self.entries.push((now, k));
        let over = self.entries.len().saturating_sub(ENTRIES_MAX);
        self.entries.drain(..over);
        let text: String = self.entries.iter().map(|(t, e)| format!("{t} {e:016x}\n")).collect();
        let tmp = self.path.with_extension("new");
        crate::util::write_synced(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &self.path)?;
        match self.path.parent() {
            Some(dir) => crate::sys::fsync_dir(dir),
            None => Ok(()),
        }
    }
}

/// 64 bits of SHA-256 over the handle and the lowercased sender.
fn key(handle: &str, sender: &str) -> u64 {
    let mut c = ring::digest::Context::new(&ring::digest::SHA256);
    c.update(handle.as_bytes());
    c.update(&[0]);
    c.update(sender.to_ascii_lowercase().as_bytes());
    let d = c.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(d.as_ref().get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reply_per_sender_and_handle_per_period_survives_a_reload() {
        let dir = std::env::temp_dir().join(format!("lb-vac-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Replies::load(&dir);
        assert!(r.due("h", "a@b.example", 1000, 86400));
        r.record("h", "a@b.example", 1000).unwrap();
        let r = Replies::load(&dir);
        assert!(!r.due("h", "A@B.example", 1000 + 86399, 86400));
        assert!(r.due("h", "a@b.example", 1000 + 86400, 86400));
        assert!(r.due("other", "a@b.example", 1001, 86400));
        assert!(r.due("h", "c@b.example", 1001, 86400));
        // Bounded: the oldest are forgotten.
        let mut r = Replies::load(&dir);
        r.entries = (0..ENTRIES_MAX as i64 + 4).map(|i| (2000 + i, key("h", &format!("s{i}@x")))).collect();
        r.record("h", &format!("s{}@x", ENTRIES_MAX + 4), 2000 + ENTRIES_MAX as i64 + 4).unwrap();
        let r = Replies::load(&dir);
        assert_eq!(r.entries.len(), ENTRIES_MAX);
        assert!(r.due("h", "s0@x", 3000, 86400));
        assert!(!r.due("h", &format!("s{}@x", ENTRIES_MAX + 4), 5000, 86400));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
