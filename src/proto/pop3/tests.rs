//! Session tests: bytes in, bytes out, with a fake driver answering events (house style 13,
//! tier 1). BAD-INPUTS 41-47 each have a `bad_input_NN_…` test here or in `crate::auth`.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;

const MSG1: &[u8] = b"Subject: one\r\n\r\nbody 1\r\n.dot line\r\nlast\r\n";
const MSG2: &[u8] = b"Subject: two\r\n\r\nshort\r\n";

/// A fake driver: one user, two messages, answers events at once.
struct Driver {
    s: Session,
    in_use: bool,
    commit_ok: bool,
    commits: Vec<Vec<u32>>,
    chunk: usize,
}

impl Driver {
    fn new(ip: &str, is_tls: bool) -> Driver {
        Driver::with_policy(ip, is_tls, Pop3Policy::new(false, 0))
    }

    fn with_policy(ip: &str, is_tls: bool, policy: Pop3Policy) -> Driver {
        let ip: IpAddr = ip.parse().unwrap();
        let peer = PeerInfo { ip, is_tls, tls_available: true };
        let s = Session::new(Arc::new(policy), peer, 0);
        Driver { s, in_use: false, commit_ok: true, commits: Vec::new(), chunk: 7 }
    }

    fn message(uid: u32) -> &'static [u8] {
        if uid == 1 {
            MSG1
        } else {
            MSG2
        }
    }

    /// Feeds `input` (respecting back-pressure) and returns everything written, with
    /// `<TLS>` and `<CLOSE>` markers for those events.
    fn run(&mut self, input: &[u8], now: u64) -> String {
        let mut out = Vec::new();
        let mut fed = 0;
        for _ in 0..10_000 {
            self.drain(now, &mut out);
            if fed == input.len() {
                break;
            }
            fed += self.s.feed(input.get(fed..).unwrap_or(&[]));
        }
        self.drain(now, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn drain(&mut self, now: u64, out: &mut Vec<u8>) {
        while let Some(event) = self.s.poll(now) {
            self.handle(event, out);
        }
    }

    fn handle(&mut self, event: Event, out: &mut Vec<u8>) {
        match event {
            Event::Reply(bytes) => out.extend_from_slice(&bytes),
            Event::StartTls => {
                out.extend_from_slice(b"<TLS>\r\n");
                self.s.tls_started();
            }
            Event::CheckCredentials { user, pass } => self.check(&user, &pass),
            Event::SendMessage { uid, top_lines, .. } => {
                let mut d = DotStuffer::new(top_lines);
                for chunk in Driver::message(uid).chunks(self.chunk) {
                    d.push(chunk, out);
                }
                d.finish(out);
                self.s.message_sent();
            }
            Event::Commit { delete } => {
                self.commits.push(delete);
                self.s.commit_result(self.commit_ok);
            }
            Event::Close => out.extend_from_slice(b"<CLOSE>\r\n"),
        }
    }

    fn check(&mut self, user: &str, pass: &crate::auth::Secret) {
        if user != "alice" || pass.expose() != b"pw" {
            return self.s.auth_result(AuthOutcome::Bad);
        }
        if self.in_use {
            return self.s.auth_result(AuthOutcome::InUse);
        }
        self.s.auth_result(AuthOutcome::Ok);
        let msgs = [MSG1, MSG2].iter().zip(1..).map(|(m, uid)| MsgInfo { uid, size: m.len() as u64 });
        self.s.open_maildrop(msgs.collect(), 0xabc);
    }

    fn login(&mut self) {
        self.run(b"USER alice\r\nPASS pw\r\n", 0);
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.split("\r\n").filter(|l| !l.is_empty()).collect()
}

#[test]
fn greeting_login_and_basic_transaction() {
    let mut d = Driver::new("127.0.0.1", false);
    let out = d.run(b"USER alice\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nQUIT\r\n", 0);
    let expected = "+OK letterbox POP3 server ready\r\n+OK send PASS\r\n\
        +OK maildrop has 2 messages (64 octets)\r\n+OK 2 64\r\n\
        +OK 2 messages (64 octets)\r\n1 41\r\n2 23\r\n.\r\n+OK 2 00000abc00000002\r\n\
        +OK 41 octets\r\nSubject: one\r\n\r\nbody 1\r\n..dot line\r\nlast\r\n.\r\n\
        +OK letterbox POP3 server signing off\r\n<CLOSE>\r\n";
    assert_eq!(out, expected);
    assert!(d.commits.is_empty(), "nothing marked, nothing to commit");
}

/// BAD-INPUTS 41: >255-octet command, CR or LF inside arguments → -ERR, session goes on.
#[test]
fn bad_input_41_long_command_and_cr_lf_in_arguments() {
    let mut d = Driver::new("127.0.0.1", false);
    d.run(b"", 0);
    let mut long = b"USER ".to_vec();
    long.extend_from_slice(&[b'a'; 300]);
    long.extend_from_slice(b"\r\nUSER a\rb\r\nUSER a\nPASS pw\r\nUSER a\0b\r\n");
    let out = d.run(&long, 0);
    assert_eq!(
        lines(&out),
        [
            "-ERR Line too long or malformed",
            "-ERR Line too long or malformed",
            "-ERR Line too long or malformed",
            "-ERR USER first",
            "-ERR Line too long or malformed",
        ]
    );
    // Exactly 255 octets with CRLF is still a command (RFC 2449 §4).
    let mut max = b"USER ".to_vec();
    max.extend_from_slice(&[b'a'; 248]);
    max.extend_from_slice(b"\r\n");
    assert_eq!(max.len(), COMMAND_LINE_MAX);
    assert_eq!(d.run(&max, 0), "-ERR Syntax error\r\n", "parsed: the 40-char argument rule applies");
    // Repeated garbage closes the connection.
    let out = d.run(&b"XYZZY\r\n".repeat(MAX_ERRORS as usize), 0);
    assert!(out.ends_with("-ERR Too many errors, closing\r\n<CLOSE>\r\n"), "{out}");
}

/// BAD-INPUTS 42: `TOP 1 4294967295` sends the whole message (capped), `RETR 0`,
/// overflow and double DELE → -ERR; deletion happens only at QUIT.
#[test]
fn bad_input_42_top_huge_retr_zero_double_dele() {
    let mut d = Driver::new("127.0.0.1", false);
    d.login();
    let top = d.run(b"TOP 1 4294967295\r\n", 0);
    assert_eq!(top, "+OK top of message follows\r\nSubject: one\r\n\r\nbody 1\r\n..dot line\r\nlast\r\n.\r\n");
    assert_eq!(d.run(b"TOP 1 0\r\n", 0), "+OK top of message follows\r\nSubject: one\r\n\r\n.\r\n");
    let errors = d.run(b"RETR 0\r\nRETR 3\r\nRETR 4294967296\r\nTOP 1 4294967296\r\nTOP 0 1\r\nDELE 0\r\n", 0);
    assert_eq!(
        lines(&errors),
        [
            "-ERR No such message",
            "-ERR No such message",
            "-ERR Syntax error",
            "-ERR Syntax error",
            "-ERR No such message",
            "-ERR No such message",
        ]
    );
    let out = d.run(b"DELE 1\r\nDELE 1\r\nRETR 1\r\nTOP 1 1\r\nLIST 1\r\nSTAT\r\nLIST\r\nUIDL\r\n", 0);
    assert_eq!(
        lines(&out),
        [
            "+OK message 1 deleted",
            "-ERR Message is deleted",
            "-ERR Message is deleted",
            "-ERR Message is deleted",
            "-ERR Message is deleted",
            "+OK 1 23",
            "+OK 1 messages (23 octets)",
            "2 23",
            ".",
            "+OK 1 messages (23 octets)",
            "2 00000abc00000002",
            ".",
        ]
    );
    assert_eq!(
        d.run(b"RSET\r\nSTAT\r\nDELE 2\r\n", 0),
        "+OK maildrop has 2 messages (64 octets)\r\n+OK 2 64\r\n+OK message 2 deleted\r\n"
    );
    assert!(d.commits.is_empty(), "DELE alone deletes nothing");
    assert_eq!(d.run(b"QUIT\r\n", 0), "+OK letterbox POP3 server signing off (1 messages left)\r\n<CLOSE>\r\n");
    assert_eq!(d.commits, [vec![2]]);
}

/// BAD-INPUTS 43: a second login gets [IN-USE]; a dropped or timed-out session deletes
/// nothing; autologout is at least 10 minutes.
#[test]
fn bad_input_43_locked_maildrop_dropped_session_autologout() {
    let mut second = Driver::new("127.0.0.1", false);
    second.in_use = true;
    let out = second.run(b"USER alice\r\nPASS pw\r\n", 0);
    assert!(out.ends_with("-ERR [IN-USE] Maildrop is locked by another session\r\n"), "{out}");

    let mut dropped = Driver::new("127.0.0.1", false);
    dropped.login();
    dropped.run(b"DELE 1\r\nDELE 2\r\n", 0);
    drop(dropped.s); // Connection lost: no QUIT, so no Commit was ever emitted.
    assert!(dropped.commits.is_empty());

    let mut idle = Driver::with_policy("127.0.0.1", false, Pop3Policy::new(false, 1_000));
    idle.login();
    idle.run(b"DELE 1\r\n", 5_000);
    assert_eq!(idle.s.deadline(), Some(5_000 + MIN_AUTOLOGOUT_MS), "clamped to 10 min");
    assert_eq!(idle.run(b"", 5_000 + MIN_AUTOLOGOUT_MS - 1), "");
    let out = idle.run(b"", 5_000 + MIN_AUTOLOGOUT_MS);
    assert_eq!(out, "-ERR Autologout: idle for too long\r\n<CLOSE>\r\n");
    assert!(idle.commits.is_empty() && idle.s.deadline().is_none());
    assert_eq!(idle.run(b"QUIT\r\n", u64::MAX), "", "closed sessions ignore input");
}

#[test]
fn failed_commit_reports_sys_temp() {
    let mut d = Driver::new("127.0.0.1", false);
    d.commit_ok = false;
    d.login();
    let out = d.run(b"DELE 1\r\nQUIT\r\n", 0);
    assert!(out.ends_with("-ERR [SYS/TEMP] Some deleted messages were not removed\r\n<CLOSE>\r\n"));
}

/// BAD-INPUTS 44 (core side): a throttled attempt is refused with [SYS/TEMP] and a delay.
#[test]
fn bad_input_44_throttled_login_is_refused_with_delay() {
    let mut d = Driver::new("127.0.0.1", false);
    d.run(b"USER alice\r\nPASS x\r\n", 0);
    d.run(b"USER alice\r\n", 0);
    d.s.feed(b"PASS pw\r\n");
    assert!(matches!(d.s.poll(0), Some(Event::CheckCredentials { .. })));
    assert!(d.s.poll(0).is_none() && d.s.deadline().is_none(), "waiting for the driver");
    d.s.auth_result(AuthOutcome::Throttled(1_500));
    let out = d.run(b"", 0);
    assert_eq!(out, "-ERR [SYS/TEMP] Too many failed logins, retry in 2 s\r\n");
    let out = d.run(b"USER alice\r\nPASS x\r\n", 0);
    assert!(out.ends_with("-ERR [AUTH] Authentication failed\r\n<CLOSE>\r\n"), "3rd failure closes");
}

/// BAD-INPUTS 45 (core side): the reply does not depend on which part was wrong.
#[test]
fn bad_input_45_unknown_user_and_bad_password_same_reply() {
    let mut a = Driver::new("127.0.0.1", false);
    let mut b = Driver::new("127.0.0.1", false);
    let unknown = a.run(b"USER mallory\r\nPASS pw\r\n", 0);
    let wrong = b.run(b"USER alice\r\nPASS nope\r\n", 0);
    assert_eq!(unknown, wrong);
    assert!(unknown.ends_with("+OK send PASS\r\n-ERR [AUTH] Authentication failed\r\n"));
}

/// BAD-INPUTS 46: no plaintext auth on a plain non-loopback link; CAPA hides USER and SASL
/// PLAIN and offers STLS; after STLS both appear, and pipelined plaintext is discarded.
#[test]
fn bad_input_46_plaintext_auth_refused_before_tls() {
    let mut d = Driver::new("192.0.2.9", false);
    d.run(b"", 0);
    let capa = d.run(b"CAPA\r\n", 0);
    assert!(!capa.contains("USER\r\n") && !capa.contains("SASL") && capa.contains("STLS\r\n"), "{capa}");
    let out = d.run(b"USER alice\r\nPASS pw\r\nAUTH PLAIN AGFsaWNlAHB3\r\nAUTH\r\n", 0);
    assert_eq!(
        lines(&out),
        [
            "-ERR [AUTH] Plaintext authentication requires TLS: use STLS",
            "-ERR [AUTH] Plaintext authentication requires TLS: use STLS",
            "-ERR [AUTH] Plaintext authentication requires TLS: use STLS",
            "+OK",
            ".",
        ]
    );
    let out = d.run(b"STLS\r\nUSER injected\r\nPASS pw\r\n", 0);
    assert_eq!(out, "+OK Begin TLS negotiation\r\n<TLS>\r\n", "pipelined plaintext dropped");
    let capa = d.run(b"CAPA\r\n", 0);
    assert!(capa.contains("USER\r\nSASL PLAIN\r\n") && !capa.contains("STLS"), "{capa}");
    assert_eq!(d.run(b"STLS\r\n", 0), "-ERR Already using TLS\r\n");
    let out = d.run(b"AUTH PLAIN AGFsaWNlAHB3\r\n", 0);
    assert_eq!(out, "+OK maildrop has 2 messages (64 octets)\r\n");
    let allowed = Pop3Policy::new(true, 0);
    let mut open = Driver::with_policy("192.0.2.9", false, allowed);
    assert!(open.run(b"CAPA\r\n", 0).contains("USER\r\nSASL PLAIN\r\n"));
}

/// BAD-INPUTS 47 (core side): malformed SASL, embedded NULs, a 10 KB blob → -ERR.
#[test]
fn bad_input_47_pop3_malformed_sasl_and_10kb_blob() {
    let mut d = Driver::new("127.0.0.1", false);
    d.run(b"", 0);
    let nuls = crate::auth::base64::encode(b"\0alice\0p\0w", true);
    let out = d.run(format!("AUTH PLAIN {nuls}\r\nAUTH PLAIN\r\n*\r\n").as_bytes(), 0);
    assert_eq!(lines(&out), ["-ERR [AUTH] Authentication failed", "+ ", "-ERR Authentication cancelled"]);
    let mut blob = b"AUTH PLAIN\r\n".to_vec();
    blob.extend_from_slice(&[b'A'; 10 * 1024]);
    blob.extend_from_slice(b"\r\nAUTH PLAIN !!!\r\n");
    let out = d.run(&blob, 0);
    assert_eq!(
        lines(&out),
        ["+ ", "-ERR [AUTH] Authentication failed", "-ERR [AUTH] Authentication failed", "<CLOSE>"]
    );
    let mut auth = Driver::new("127.0.0.1", false);
    let zid = crate::auth::base64::encode(b"bob\0alice\0pw", true);
    let out = auth.run(format!("AUTH PLAIN {zid}\r\nAUTH PLAIN =\r\nAUTH PLAIN\r\nAGFsaWNlAHB3\r\n").as_bytes(), 0);
    // authzid "bob" acting as "alice" is refused; "=" is an empty (malformed) response.
    assert_eq!(
        lines(&out),
        [
            "+OK letterbox POP3 server ready",
            "-ERR [AUTH] Authentication failed",
            "-ERR [AUTH] Authentication failed",
            "+ ",
            "+OK maildrop has 2 messages (64 octets)",
        ]
    );
}

#[test]
fn commands_out_of_state_are_refused() {
    let mut d = Driver::new("127.0.0.1", false);
    d.run(b"", 0);
    let out = d.run(b"STAT\r\nRETR 1\r\nNOOP\r\nPASS pw\r\n", 0);
    assert_eq!(
        lines(&out),
        [
            "-ERR Command not valid in this state",
            "-ERR Command not valid in this state",
            "-ERR Command not valid in this state",
            "-ERR USER first",
        ]
    );
    d.login();
    assert_eq!(
        d.run(b"USER alice\r\nSTLS\r\nNOOP\r\n", 0),
        "-ERR Command not valid in this state\r\n-ERR Command not valid in this state\r\n+OK\r\n"
    );
}

#[test]
fn large_listing_streams_in_chunks() {
    let policy = Arc::new(Pop3Policy::new(false, 0));
    let peer = PeerInfo { ip: "::1".parse().unwrap(), is_tls: false, tls_available: false };
    let mut s = Session::new(policy, peer, 0);
    s.feed(b"USER u\r\nPASS p\r\nLIST\r\n");
    while !matches!(s.poll(0), Some(Event::CheckCredentials { .. })) {}
    s.auth_result(AuthOutcome::Ok);
    let msgs: Vec<MsgInfo> = (1..=1000).map(|uid| MsgInfo { uid, size: 100 }).collect();
    s.open_maildrop(msgs, 1);
    let mut replies = Vec::new();
    while let Some(Event::Reply(r)) = s.poll(0) {
        assert!(r.len() <= LISTING_CHUNK * 16 + 64);
        replies.push(r);
    }
    let text = String::from_utf8(replies.concat()).unwrap();
    assert!(text.contains("+OK 1000 messages (100000 octets)\r\n1 100\r\n"));
    assert!(text.ends_with("999 100\r\n1000 100\r\n.\r\n"));
    assert!(replies.len() > 1000 / LISTING_CHUNK);
}

/// Deterministic xorshift64 (no crates) for chunk splitting.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The same session split into random chunks (input and message streaming) gives
/// byte-identical output to feeding it whole.
#[test]
fn chunk_splitting_is_deterministic() {
    let script: &[u8] = b"CAPA\r\nUSER alice\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nTOP 1 1\r\n\
        RETR 1\r\nRETR 2\r\nDELE 1\r\nLIST\r\nRSET\r\nDELE 2\r\nQUIT\r\n";
    let mut whole = Driver::new("127.0.0.1", false);
    whole.chunk = usize::MAX;
    let expected = whole.run(script, 0);
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        let mut d = Driver::new("127.0.0.1", false);
        d.chunk = 1 + (xorshift(&mut seed) % 9) as usize;
        let mut out = String::new();
        let mut rest = script;
        while !rest.is_empty() {
            let n = (1 + xorshift(&mut seed) % 12) as usize;
            let (head, tail) = rest.split_at(n.min(rest.len()));
            out.push_str(&d.run(head, 0));
            rest = tail;
        }
        assert_eq!(out, expected);
        assert_eq!(d.commits, [vec![2]]);
    }
    let message = b"a\r\n.b\r\n\r\n..c\r\n.\r\nd\ne.\r\n.";
    for _ in 0..200 {
        let top = (xorshift(&mut seed) % 4) as u32;
        let mut st = DotStuffer::new(Some(top));
        let mut out = Vec::new();
        let mut rest: &[u8] = message;
        while !rest.is_empty() {
            let (head, tail) = rest.split_at((1 + xorshift(&mut seed) % 5).min(rest.len() as u64) as usize);
            st.push(head, &mut out);
            rest = tail;
        }
        st.finish(&mut out);
        assert_eq!(out, stuff_all(message, Some(top)));
    }
}

/// Pipelined input larger than the buffer is taken in pieces and answered in order.
#[test]
fn pipelined_flood_is_back_pressured_not_dropped() {
    let mut d = Driver::new("127.0.0.1", false);
    d.login();
    let script = b"NOOP\r\n".repeat(INPUT_BUFFER_MAX / 2);
    let taken = d.s.feed(&script);
    assert_eq!(taken, INPUT_BUFFER_MAX, "buffer bound holds");
    let mut d = Driver::new("127.0.0.1", false);
    d.login();
    let out = d.run(&script, 0);
    assert_eq!(out, "+OK\r\n".repeat(INPUT_BUFFER_MAX / 2));
}

/// Random bytes (mostly printable, with CR/LF/NUL) in every state: never a panic, and the
/// session ends up closed or still answering.
#[test]
fn random_input_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    for round in 0..300 {
        let mut d = Driver::new("127.0.0.1", false);
        if round % 2 == 0 {
            d.login();
        }
        let mut input = Vec::new();
        for _ in 0..(xorshift(&mut seed) % 600) {
            let r = xorshift(&mut seed);
            let byte = match r % 16 {
                0 => b'\n',
                1 => b'\r',
                2 => 0,
                3 => b' ',
                4..=7 => b"0123456789"[(r >> 8) as usize % 10],
                _ => b"RETRTOPLISTDELEUIDLAUTHPLAINUSERPASSQUITSTLS=*"[(r >> 8) as usize % 46],
            };
            input.push(byte);
        }
        d.run(&input, 0);
        d.run(b"\r\nQUIT\r\n", 0);
    }
}

/// Slowloris (issue 8): bytes of a line that never ends do not postpone the autologout;
/// only complete commands do. One byte every 30 s of simulated time is cut at 10 minutes.
#[test]
fn dribbled_bytes_do_not_postpone_autologout() {
    let mut d = Driver::with_policy("127.0.0.1", false, Pop3Policy::new(false, 1_000));
    d.run(b"", 0);
    let mut now = 0;
    let mut out = String::new();
    for &b in b"USER alice-who-types-very-slowly-and-never-presses-enter".iter().cycle().take(100) {
        now += 30_000;
        out = d.run(&[b], now);
        if !out.is_empty() {
            break;
        }
    }
    assert_eq!(out, "-ERR Autologout: idle for too long\r\n<CLOSE>\r\n");
    assert_eq!(now, MIN_AUTOLOGOUT_MS, "cut at the first poll at or after 10 minutes");
}
