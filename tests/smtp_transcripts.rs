//! Replays SMTP transcripts (`tests/transcripts/smtp/*.txt`) against the sans-IO core,
//! without sockets: RFC 5321 Appendix D examples and the RFC 1870, 2920 and 3207 flows,
//! adapted to a server for one user at example.org.
//!
//! Format, one item per line: `C: text` a client line (CRLF added); consecutive `C:` lines
//! are sent as one segment (pipelined). `S: text` the next server reply line, exact.
//! `M: text` the next line of the last stored message body. `W: ms` let time pass.
//! `#` comments and blank lines are skipped. Every server line must be matched.

use std::collections::VecDeque;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use letterbox::proto::smtp::{Event, PeerInfo, Policy, Session, TlsInfo, TARPIT_MAX_MS};

fn policy() -> Policy {
    Policy {
        hostname: "mx.example.org".into(),
        domain: "example.org".into(),
        aliases: vec!["info".into()],
        user: "alice".into(),
        max_message_size: 10_000_000,
        max_recipients: 100,
        smtp_line: 1000,
        tls_available: true,
        command_timeout_ms: 300_000,
        session_timeout_ms: 1_800_000,
        submission: false,
        allow_plaintext_auth: false,
        loopback_plaintext: true,
        relay_after_auth: false,
        hide_client_ip: false,
        check_recipients: false,
    }
}

/// The replaying driver: stores messages in memory, completes TLS at once.
struct Replay {
    s: Session,
    now: u64,
    server: VecDeque<String>,
    stored: VecDeque<String>,
    spool: Vec<u8>,
    uid: u32,
}

impl Replay {
    fn new() -> Self {
        let peer = PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), is_tls: false };
        let s = Session::new(Arc::new(policy()), peer, 0);
        Replay { s, now: 0, server: VecDeque::new(), stored: VecDeque::new(), spool: Vec::new(), uid: 0 }
    }

    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(e) = self.s.poll(self.now) {
            n += 1;
            match e {
                Event::Reply(b) => self.replies(&b),
                Event::MessageBegin(_) => self.spool.clear(),
                Event::MessageData(d) => self.spool.extend_from_slice(&d),
                Event::MessageEnd => self.store(),
                Event::StartTls => self.s.tls_started(TlsInfo { version: "TLSv1.3".into(), cipher: "X".into() }),
                Event::CheckCredentials { .. } => self.s.auth_result(letterbox::proto::AuthOutcome::Bad),
                Event::CheckRecipient(_) => self.s.recipient_checked(letterbox::proto::smtp::RecipientVerdict::Accept),
                Event::HeaderFixups(_) | Event::MessageAborted | Event::Close => {}
            }
        }
        n
    }

    fn replies(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        self.server.extend(text.split_terminator("\r\n").map(str::to_string));
    }

    fn store(&mut self) {
        self.uid += 1;
        let body = String::from_utf8_lossy(&self.spool).into_owned();
        self.stored = body.split_terminator("\r\n").map(str::to_string).collect();
        self.s.delivered(Ok(self.uid));
    }

    /// Sends one segment, waiting out tarpit holds like a patient client.
    fn send(&mut self, input: &[u8]) {
        let mut off = 0;
        loop {
            let events = self.drain();
            let n = self.s.feed(input.get(off..).unwrap_or_default());
            off += n;
            if n == 0 && events == 0 {
                match self.s.deadline() {
                    Some(d) if d > self.now && d <= self.now + TARPIT_MAX_MS => self.now = d,
                    _ => break,
                }
            }
        }
    }
}

fn run(path: &Path) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display();
    let mut r = Replay::new();
    let mut pending = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", no + 1);
        let (tag, rest) = line.split_at(line.len().min(3));
        if tag == "C: " || line == "C:" {
            pending.extend_from_slice(rest.as_bytes());
            pending.extend_from_slice(b"\r\n");
            continue;
        }
        if !pending.is_empty() {
            r.send(&std::mem::take(&mut pending));
        }
        r.drain();
        match tag {
            "S: " => assert_eq!(r.server.pop_front().as_deref(), Some(rest), "{at}"),
            "M: " | "M:" => assert_eq!(r.stored.pop_front().as_deref(), Some(rest), "{at}"),
            "W: " => {
                r.now += rest.trim().parse::<u64>().unwrap_or_else(|_| panic!("{at}: W: ms"));
            }
            _ if line.is_empty() || line.starts_with('#') => {}
            _ => panic!("{at}: unknown line {line:?}"),
        }
    }
    r.drain();
    assert!(r.server.is_empty(), "{name}: unmatched server lines {:?}", r.server);
    assert!(r.stored.is_empty(), "{name}: unmatched message lines {:?}", r.stored);
}

#[test]
fn smtp_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/smtp");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "transcripts missing in {}", dir.display());
    for f in &files {
        run(f);
    }
}
