//! Replays IMAP example transcripts (RFC 3501 §6 examples, RFC 2177 IDLE, RFC 7888
//! LITERAL+, RFC 4315 UIDPLUS, RFC 2595 STARTTLS) from `tests/transcripts/imap/*.txt`
//! against the sans-IO core and the in-memory store: no sockets (house style 13, tier 2).
//!
//! File format, one directive per line:
//! - `# …` comment, blank lines ignored;
//! - `= peer <ip>`, `= tls-available`: connection facts, before the first `C:`;
//! - `= folder <name>`: an extra folder (INBOX always exists);
//! - `= message <folder> <flag-bits> <unix-date> <text>`: a delivered message, `\r\n`
//!   escapes in text; UIDs are 1, 2, … per folder;
//! - `C: <line>`: a client line (CRLF added); the output so far is collected;
//! - `S: <line>`: the next server line, exactly, except that `{*}` matches any run of
//!   characters; `S* <prefix>`: the next line starts with prefix;
//! - `= closed`: the session has closed. Every transcript must consume all output.
//!
//! Credentials: user `alice`, password `secret`.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use letterbox::proto::imap::{AuthOutcome, Event, ImapPolicy, MemStore, PeerInfo, Session};

struct Replay {
    session: Option<Session>,
    store: MemStore,
    folders: Vec<String>,
    peer: PeerInfo,
    lines: VecDeque<String>,
    partial: String,
    closed: bool,
}

impl Replay {
    fn session(&mut self) -> &mut Session {
        if self.session.is_none() {
            let s = Session::new(Arc::new(ImapPolicy::default()), self.peer, 0);
            self.session = Some(s);
            self.pump();
        }
        self.session.as_mut().expect("session was just created")
    }

    fn send(&mut self, line: &str) {
        let bytes = format!("{line}\r\n").into_bytes();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = self.session().feed(rest);
            rest = &rest[n..];
            self.pump();
            if n == 0 {
                break;
            }
        }
    }

    fn pump(&mut self) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        while let Some(ev) = s.poll(0, &mut self.store) {
            match ev {
                Event::Reply(b) => self.partial.push_str(&String::from_utf8_lossy(&b)),
                Event::Close => self.closed = true,
                Event::StartTls => s.tls_started(),
                Event::CheckCredentials { user, pass } => {
                    let ok = user == "alice" && pass.expose() == b"secret";
                    s.auth_result(if ok { AuthOutcome::Ok } else { AuthOutcome::Bad });
                }
                other => self.store.apply(&other, s),
            }
        }
        while let Some(i) = self.partial.find("\r\n") {
            let line: String = self.partial.drain(..i + 2).collect();
            self.lines.push_back(line.trim_end_matches("\r\n").to_owned());
        }
    }
}

/// `{*}` in `pattern` matches any run of characters.
fn wild_match(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("{*}").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn replay(path: &Path) {
    let text = std::fs::read_to_string(path).expect("transcript readable");
    let name = path.display();
    let mut r = Replay {
        session: None,
        store: MemStore::default(),
        folders: vec!["INBOX".into()],
        peer: PeerInfo { ip: "127.0.0.1".parse().expect("ip"), is_tls: false, tls_available: false },
        lines: VecDeque::new(),
        partial: String::new(),
        closed: false,
    };
    let mut messages = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", no + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("= ") {
            let mut w = rest.splitn(5, ' ');
            match w.next() {
                Some("peer") => r.peer.ip = w.next().expect("ip").parse().expect("ip"),
                Some("tls-available") => r.peer.tls_available = true,
                Some("folder") => r.folders.push(w.next().expect("name").to_owned()),
                Some("message") => {
                    let (f, bits, date) =
                        (w.next().expect("folder"), w.next().expect("flags"), w.next().expect("date"));
                    let body = w.next().unwrap_or("").replace("\\r\\n", "\r\n");
                    messages.push((
                        f.to_owned(),
                        bits.parse::<u32>().expect("bits"),
                        date.parse::<i64>().expect("date"),
                        body,
                    ));
                }
                Some("closed") => {
                    r.pump();
                    assert!(r.closed, "{at}: expected the session to be closed");
                }
                other => panic!("{at}: unknown directive {other:?}"),
            }
            continue;
        }
        if r.session.is_none() {
            let folders: Vec<&str> = r.folders.iter().map(String::as_str).collect();
            r.store = MemStore::new(&folders);
            for (f, bits, date, body) in messages.drain(..) {
                r.store.deliver(&f, body.as_bytes(), bits, date);
            }
            r.session();
        }
        if let Some(c) = line.strip_prefix("C: ") {
            r.send(c);
        } else if let Some(s) = line.strip_prefix("S: ") {
            let got = r.lines.pop_front().unwrap_or_else(|| panic!("{at}: no more output, expected {s:?}"));
            assert!(wild_match(s, &got), "{at}:\n expected {s:?}\n      got {got:?}");
        } else if let Some(s) = line.strip_prefix("S* ") {
            let got = r.lines.pop_front().unwrap_or_else(|| panic!("{at}: no more output, expected {s:?}"));
            assert!(got.starts_with(s), "{at}:\n expected prefix {s:?}\n             got {got:?}");
        } else {
            panic!("{at}: cannot parse {line:?}");
        }
    }
    assert!(r.lines.is_empty(), "{name}: unexpected output left: {:?}", r.lines);
}

#[test]
fn imap_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/imap");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    assert!(paths.len() >= 5);
    for p in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        replay(p);
    }
}
