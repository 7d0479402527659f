//! `letterbox doctor --config F` (issue 18): one line per check, `OK`, `WARN` or `FAIL`,
//! with what to do: the config; the certificate ([`cert`]); every listener reachable on
//! this host; the records of `letterbox dns` as the resolver sees them (MX, SPF, DKIM,
//! DMARC, MTA-STS, TLSRPT, the host's address and its PTR: forward-confirmed reverse DNS,
//! RFC 8601 §3 `iprev`); outbound port 25 (or the relay); an open-relay self-test on our own
//! SMTP listener (RFC 5321 §3.9: refuse to relay unauthenticated); free space and inodes of
//! the data directory; the clock. Exit status 0 only when no line is `FAIL`.

#[cfg(feature = "tls")]
mod cert;
mod net;

use std::fmt;
use std::path::Path;

use crate::config::Config;
use crate::util::exit;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One printed line: level, what was checked, what was found, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: Level,
    pub check: String,
    pub detail: String,
    pub todo: Option<String>,
}

impl Line {
    pub fn new(level: Level, check: &str, detail: &str) -> Line {
        Line { level, check: check.to_owned(), detail: detail.to_owned(), todo: None }
    }

    /// Adds what the owner should do.
    pub fn todo(mut self, todo: &str) -> Line {
        self.todo = Some(todo.to_owned());
        self
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "OK  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{level} {}: {}", self.check, self.detail)?;
        match &self.todo {
            Some(t) => write!(f, " -> {t}"),
            None => Ok(()),
        }
    }
}

/// Free bytes below which the data directory fails (`limits.free_space_reserve` is the floor
/// the server itself refuses mail at) and warns (a few days of mail on a small disk).
const FREE_WARN: u64 = 256 * 1024 * 1024;
/// Free inodes below which it fails and warns (each message folder needs a few files only,
/// but spool files and compaction need new ones).
const INODES_FAIL: u64 = 64;
const INODES_WARN: u64 = 4096;
/// The clock is wrong if it says a year before this (TLS and DKIM signatures need it).
const YEAR_MIN: i64 = 2024;

/// Runs every check on the config at `path`; returns the exit status.
pub fn doctor(path: Option<&Path>) -> i32 {
    let cfg = match Config::load_from(path) {
        Ok(c) => c,
        Err(e) => {
            println!("{}", Line::new(Level::Fail, "config", &e.to_string()).todo("fix the file and run doctor again"));
            return exit::CONFIG;
        }
    };
    let mut lines = vec![Line::new(Level::Ok, "config", &format!("{} is valid", cfg.path.display()))];
    let now = crate::util::unix_now();
    #[cfg(feature = "tls")]
    lines.extend(cert::check(&cfg, now));
    lines.extend(net::checks(&cfg));
    lines.extend(disk(&cfg));
    lines.push(clock(now));
    for l in &lines {
        println!("{l}");
    }
    if lines.iter().any(|l| l.level == Level::Fail) {
        1
    } else {
        exit::OK
    }
}

/// Free space and inodes of the data directory (statvfs).
fn disk(c: &Config) -> Vec<Line> {
    let (bytes, inodes) = match crate::sys::fs_free(&c.data_dir) {
        Ok(v) => v,
        Err(e) => {
            let l = Line::new(Level::Fail, "data directory", &format!("{}: {e}", c.data_dir.display()));
            return vec![l.todo("create it (letterbox serve does) and check its owner")];
        }
    };
    let mib = bytes / (1024 * 1024);
    let space = match bytes {
        b if b <= c.limits.free_space_reserve => Level::Fail,
        b if b < FREE_WARN => Level::Warn,
        _ => Level::Ok,
    };
    let files = match inodes {
        n if n < INODES_FAIL => Level::Fail,
        n if n < INODES_WARN => Level::Warn,
        _ => Level::Ok,
    };
    let mut space_line = Line::new(space, "free space", &format!("{mib} MiB in {}", c.data_dir.display()));
    if space != Level::Ok {
        space_line = space_line.todo("free some space or move data_dir (mail is refused below the reserve)");
    }
    let mut inode_line = Line::new(files, "free inodes", &format!("{inodes} in {}", c.data_dir.display()));
    if files != Level::Ok {
        inode_line = inode_line.todo("delete small files on that file system");
    }
    vec![space_line, inode_line]
}

/// The clock's year is sane (certificates and DKIM signatures carry dates). No network
/// clock is asked: the line says the time, for the owner to compare.
fn clock(now: i64) -> Line {
    let (year, month, day) = crate::datetime::civil_from_days(now.div_euclid(86_400));
    let secs = now.rem_euclid(86_400);
    let shown = format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60);
    if year < YEAR_MIN {
        Line::new(Level::Fail, "clock", &shown).todo("set the time (NTP): TLS and DKIM need it")
    } else {
        Line::new(Level::Ok, "clock", &format!("{shown} (compare it with your phone's)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_documented() {
        let l = Line::new(Level::Fail, "MX", "none").todo("publish it");
        assert_eq!(l.to_string(), "FAIL MX: none -> publish it");
        assert_eq!(Line::new(Level::Ok, "clock", "x").to_string(), "OK   clock: x");
        assert_eq!(clock(0).level, Level::Fail);
        assert_eq!(clock(1_800_000_000).level, Level::Ok);
    }
}
