//! Replays ManageSieve example transcripts (RFC 5804 §2.1-§2.14) from
//! `tests/transcripts/managesieve/*.txt` against the sans-IO core, with the real script
//! store (`net::managesieve::perform` on a temporary data directory) instead of sockets
//! (house style 13, tier 2). The login is alice / secret.
//!
//! File format, one directive per line:
//! - `# …` comment, blank lines ignored;
//! - `= peer <ip>`: before the first `C:`/`S:` (default 127.0.0.1; TLS is always available);
//! - `C: <line>`: client line (CRLF added; literal bytes are written as their lines);
//! - `S: <line>`: the next server line, exactly; `S* <prefix>`: it starts with prefix;
//! - `= stored <name>…`: the store holds exactly these scripts (sorted);
//! - `= active [name]`: the active script (none when no name);
//! - `= closed`: the session has sent Close.
#![cfg(feature = "sieve")]

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use letterbox::net::managesieve::perform;
use letterbox::proto::managesieve::{Event, Policy, Session};
use letterbox::proto::{AuthOutcome, PeerInfo};
use letterbox::store::scripts::Scripts;

struct Replay {
    session: Session,
    data: PathBuf,
    output: VecDeque<String>,
    partial: Vec<u8>,
    closed: bool,
}

impl Replay {
    fn start(ip: IpAddr, data: PathBuf) -> Replay {
        let peer = PeerInfo { ip, is_tls: false, tls_available: true };
        let session = Session::new(Arc::new(Policy::new(false, true)), peer, 0);
        let mut r = Replay { session, data, output: VecDeque::new(), partial: Vec::new(), closed: false };
        r.drain();
        r
    }

    fn drain(&mut self) {
        while let Some(ev) = self.session.poll(0) {
            match ev {
                Event::Reply(b) => self.partial.extend_from_slice(&b),
                Event::StartTls => self.session.tls_started(),
                Event::CheckCredentials { user, pass } => {
                    let ok = user == "alice" && pass.expose() == b"secret";
                    self.session.auth_result(if ok { AuthOutcome::Ok } else { AuthOutcome::Bad });
                }
                Event::Script(r) => {
                    let a = perform(&self.data, r);
                    self.session.script_done(a);
                }
                Event::Close => self.closed = true,
            }
        }
        while let Some(p) = self.partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.partial.drain(..p + 2).take(p).collect();
            self.output.push_back(String::from_utf8_lossy(&line).into_owned());
        }
    }

    fn client(&mut self, line: &str) {
        let bytes = format!("{line}\r\n").into_bytes();
        let mut rest = &bytes[..];
        while !rest.is_empty() && !self.closed {
            let n = self.session.feed(rest);
            rest = &rest[n..];
            self.drain();
        }
    }
}

fn replay(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let data = std::env::temp_dir().join(format!("lb-msieve-tr-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let mut r: Option<Replay> = None;
    let mut ip: IpAddr = "127.0.0.1".parse().unwrap();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(addr) = line.strip_prefix("= peer ") {
            ip = addr.parse().unwrap();
            continue;
        }
        let r = r.get_or_insert_with(|| Replay::start(ip, data.clone()));
        if let Some(c) = line.strip_prefix("C:") {
            r.client(c.strip_prefix(' ').unwrap_or(c));
        } else if let Some(s) = line.strip_prefix("S:") {
            let want = s.strip_prefix(' ').unwrap_or(s);
            assert_eq!(r.output.pop_front().as_deref(), Some(want), "{at}");
        } else if let Some(prefix) = line.strip_prefix("S* ") {
            let got = r.output.pop_front().unwrap_or_default();
            assert!(got.starts_with(prefix), "{at}: {got:?} does not start with {prefix:?}");
        } else if let Some(names) = line.strip_prefix("= stored") {
            let want: Vec<&str> = names.split_whitespace().collect();
            let got = Scripts::open(&data).unwrap().list().unwrap();
            assert_eq!(got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), want, "{at}");
        } else if let Some(name) = line.strip_prefix("= active") {
            let got = Scripts::open(&data).unwrap().active().unwrap().map(|(n, _)| n);
            assert_eq!(got.as_deref(), Some(name.trim()).filter(|n| !n.is_empty()), "{at}");
        } else if line == "= closed" {
            assert!(r.closed, "{at}: not closed");
        } else {
            panic!("{at}: unknown directive {line:?}");
        }
        assert!(!r.output.is_empty() || r.partial.is_empty(), "{at}: unterminated reply {:?}", r.partial);
    }
    let left = r.map(|r| r.output).unwrap_or_default();
    assert!(left.is_empty(), "{name}: server lines not in the transcript: {left:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn rfc5804_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/managesieve");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 4, "transcripts missing in {}", dir.display());
    for f in files {
        replay(&f);
    }
}
