//! Replays POP3 example transcripts (RFC 1939 §5-§10, RFC 2449 §5-§6, RFC 2595 §4,
//! RFC 5034 §6) from `tests/transcripts/pop3/*.txt` against the sans-IO core, with an
//! in-memory driver instead of sockets (house style 13, tier 2).
//!
//! File format, one directive per line:
//! - `# …` comment, blank lines ignored;
//! - `= peer <ip>`, `= tls-available`, `= user <name> <password>`, `= uidvalidity <n>`: setup,
//!   before the first `C:`/`S:`;
//! - `= message-size <n>`: a filler message of exactly n octets; `= message <text>`: a
//!   message with `\r\n` escapes. Uids are 1, 2, … in order;
//! - `= in-use`, `= commit-fails`: driver behaviour; `= committed <uid>…`: the uids the last
//!   Commit deleted (empty: no Commit so far); `= closed`: the session has sent Close;
//! - `C: <line>`: client line (CRLF added); `S: <line>`: the next server line, exactly;
//!   `S* <prefix>`: the next server line starts with prefix.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use letterbox::proto::pop3::{AuthOutcome, DotStuffer, Event, MsgInfo, PeerInfo, Pop3Policy, Session};

/// Driver configuration collected from `=` directives before the session starts.
struct Setup {
    ip: IpAddr,
    tls_available: bool,
    user: String,
    pass: String,
    uidvalidity: u32,
    messages: Vec<Vec<u8>>,
}

/// The in-memory driver around a running session.
struct Replay {
    session: Session,
    setup: Setup,
    output: VecDeque<String>,
    pending: Vec<u8>,
    in_use: bool,
    commit_ok: bool,
    committed: Vec<u32>,
    closed: bool,
}

impl Replay {
    fn start(setup: Setup) -> Replay {
        let peer = PeerInfo { ip: setup.ip, is_tls: false, tls_available: setup.tls_available };
        let session = Session::new(Arc::new(Pop3Policy::new(false, 600_000)), peer, 0);
        let (output, pending) = (VecDeque::new(), Vec::new());
        let mut r = Replay {
            session,
            setup,
            output,
            pending,
            in_use: false,
            commit_ok: true,
            committed: Vec::new(),
            closed: false,
        };
        r.drain();
        r
    }

    fn client(&mut self, line: &str) {
        let bytes = format!("{line}\r\n").into_bytes();
        let mut fed = 0;
        while fed < bytes.len() {
            fed += self.session.feed(&bytes[fed..]);
            self.drain();
        }
    }

    fn drain(&mut self) {
        while let Some(event) = self.session.poll(1) {
            self.handle(event);
        }
        // Split written bytes into lines; every reply must end in CRLF.
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = self.pending.drain(..end + 2).take(end).collect();
            self.output.push_back(String::from_utf8(line).expect("server wrote UTF-8"));
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Reply(bytes) => self.pending.extend_from_slice(&bytes),
            Event::StartTls => self.session.tls_started(),
            Event::CheckCredentials { user, pass } => {
                let good = user == self.setup.user && pass.expose() == self.setup.pass.as_bytes();
                self.answer_auth(good);
            }
            Event::SendMessage { uid, top_lines, .. } => {
                let mut stuffer = DotStuffer::new(top_lines);
                let message = &self.setup.messages[uid as usize - 1];
                for chunk in message.chunks(5) {
                    stuffer.push(chunk, &mut self.pending);
                }
                stuffer.finish(&mut self.pending);
                self.session.message_sent();
            }
            Event::Commit { delete } => {
                self.committed = delete;
                self.session.commit_result(self.commit_ok);
            }
            Event::Close => self.closed = true,
        }
    }

    fn answer_auth(&mut self, good: bool) {
        let outcome = match (good, self.in_use) {
            (false, _) => AuthOutcome::Bad,
            (true, true) => AuthOutcome::InUse,
            (true, false) => AuthOutcome::Ok,
        };
        self.session.auth_result(outcome);
        if outcome == AuthOutcome::Ok {
            let infos = self.setup.messages.iter().zip(1..);
            let infos = infos.map(|(m, uid)| MsgInfo { uid, size: m.len() as u64 }).collect();
            self.session.open_maildrop(infos, self.setup.uidvalidity);
        }
    }

    fn server(&mut self, expected: &str, prefix: bool, at: &str) {
        let got = self.output.pop_front().unwrap_or_else(|| panic!("{at}: no server line, expected {expected:?}"));
        let ok = if prefix { got.starts_with(expected) } else { got == expected };
        assert!(ok, "{at}: expected {expected:?}, got {got:?}");
    }
}

/// A filler message of exactly `size` octets (at least 21).
fn filler(size: usize) -> Vec<u8> {
    let mut m = b"Subject: filler\r\n\r\n".to_vec();
    let body = size.checked_sub(m.len() + 2).expect("message-size too small");
    m.extend(std::iter::repeat_n(b'x', body));
    m.extend_from_slice(b"\r\n");
    m
}

fn setup_directive(setup: &mut Setup, directive: &str, arg: &str) -> bool {
    match directive {
        "peer" => setup.ip = arg.parse().expect("peer ip"),
        "tls-available" => setup.tls_available = true,
        "uidvalidity" => setup.uidvalidity = arg.parse().expect("uidvalidity"),
        "message-size" => setup.messages.push(filler(arg.parse().expect("size"))),
        "message" => setup.messages.push(arg.replace("\\r\\n", "\r\n").into_bytes()),
        "user" => {
            let (user, pass) = arg.split_once(' ').expect("user name password");
            (setup.user, setup.pass) = (user.to_owned(), pass.to_owned());
        }
        _ => return false,
    }
    true
}

fn replay(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let mut setup = Some(Setup {
        ip: "127.0.0.1".parse().expect("ip"),
        tls_available: false,
        user: "mrose".into(),
        pass: "tanstaaf".into(),
        uidvalidity: 1,
        messages: Vec::new(),
    });
    let mut replay: Option<Replay> = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("= ") {
            let (directive, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(s) = setup.as_mut() {
                if setup_directive(s, directive, arg) {
                    continue;
                }
            }
            let r = replay.get_or_insert_with(|| Replay::start(setup.take().expect("setup")));
            match directive {
                "in-use" => r.in_use = true,
                "commit-fails" => r.commit_ok = false,
                "closed" => assert!(r.closed, "{at}: session not closed"),
                "committed" => {
                    let uids: Vec<u32> = arg.split_whitespace().map(|u| u.parse().expect("uid")).collect();
                    assert_eq!(r.committed, uids, "{at}");
                }
                _ => panic!("{at}: unknown directive {directive}"),
            }
            continue;
        }
        let r = replay.get_or_insert_with(|| Replay::start(setup.take().expect("setup")));
        match line.split_at(line.len().min(3)) {
            ("C: ", client) => r.client(client),
            ("S: ", server) => r.server(server, false, &at),
            ("S* ", server) => r.server(server, true, &at),
            _ => panic!("{at}: bad transcript line {line:?}"),
        }
    }
    let r = replay.expect("empty transcript");
    assert!(r.output.is_empty(), "{name}: unexpected server lines {:?}", r.output);
}

#[test]
fn pop3_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/pop3");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("transcript dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 6, "transcripts missing in {}", dir.display());
    for path in paths {
        replay(&path);
    }
}
