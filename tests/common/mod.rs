//! Shared helpers for integration tests: a temporary letterbox home with a config, and the
//! real binary built by cargo.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_letterbox");

/// A temporary folder with `letterbox.toml` (domain example.org, user alice, data in data/).
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(name: &str) -> Home {
        Self::with_config(name, "")
    }

    /// `extra` is appended to the config (e.g. "[limits]\nmessage_size = 1000\n").
    pub fn with_config(name: &str, extra: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("letterbox-test-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = format!(
            "domain = \"example.org\"\naliases = [\"postmaster\"]\nuser = \"alice\"\ndata_dir = \"data\"\n{extra}"
        );
        std::fs::write(dir.join("letterbox.toml"), cfg).unwrap();
        Home { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("letterbox.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).arg("--config").arg(self.config());
        c
    }

    /// Runs a subcommand with `--config`, stdin from `input`.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let t = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        t.join().unwrap();
        out
    }

    pub fn deliver(&self, msg: &[u8]) -> i32 {
        self.run(&["deliver"], msg).status.code().unwrap_or(-1)
    }

    pub fn store(&self) -> letterbox::store::Store {
        letterbox::store::Store::open(&self.data()).unwrap()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deterministic xorshift64* for reproducible "random" tests (seed printed by callers).
pub struct Rng(pub u64);

impl Rng {
    pub fn from_env(default: u64) -> Rng {
        let seed = std::env::var("LETTERBOX_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        eprintln!("seed = {seed} (set LETTERBOX_SEED to reproduce)");
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A CRLF message with a unique subject and `size` body bytes.
pub fn message(id: &str, size: usize) -> Vec<u8> {
    let mut m =
        format!("From: test@example.net\r\nTo: alice@example.org\r\nSubject: {id}\r\nMessage-ID: <{id}@test>\r\n\r\n")
            .into_bytes();
    let line = format!("{id} body line 0123456789 abcdefghijklmnopqrstuvwxyz\r\n");
    while m.len() < size {
        m.extend_from_slice(line.as_bytes());
    }
    m
}

/// Lists (uid, flags, body) of a folder through the library.
pub fn contents(store: &letterbox::store::Store, folder: &str) -> Vec<(u32, u32, Vec<u8>)> {
    let f = store.open_folder(folder).unwrap();
    f.entries().iter().map(|e| (e.uid, e.flags, f.body(e).unwrap())).collect()
}

pub fn check_clean(home: &Home) {
    let out = home.run(&["check"], b"");
    assert!(
        out.status.success(),
        "check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}
