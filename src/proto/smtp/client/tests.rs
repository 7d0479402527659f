//! Transcripts of the SMTP client core: `S:` lines are fed as server replies, `C:` lines
//! must be what the client wrote by then (`C: <message>` stands for the stuffed message).

use super::*;

const MSG: &[u8] = b"Subject: t\r\n\r\n.leading dot\r\nbody\r\n";

fn cfg() -> Config {
    Config {
        helo_name: "out.example.org".into(),
        tls: TlsMode::Opportunistic,
        tls_active: false,
        loopback: false,
        auth: None,
        timeouts: Timeouts::default(),
    }
}

fn env(rcpts: &[&str]) -> Envelope {
    Envelope {
        mail_from: "a@example.org".into(),
        rcpts: rcpts.iter().map(|r| (*r).to_owned()).collect(),
        size: MSG.len() as u64,
        eight_bit: false,
        smtputf8: false,
    }
}

/// Runs the client's events: returns its writes (one entry per Send) and the outcome.
fn drain(c: &mut Client, writes: &mut Vec<Vec<u8>>, now: u64) -> Option<Outcome> {
    while let Some(ev) = c.poll(now) {
        match ev {
            Event::Send(b) => writes.push(b),
            Event::SendSecret(s) => writes.push(s.expose().to_vec()),
            Event::StartTls => c.tls_started(now),
            Event::SendMessage => {
                let mut out = Vec::new();
                for chunk in MSG.chunks(5) {
                    c.write_body(chunk, &mut out, now);
                }
                c.end_body(&mut out, now);
                writes.push(out);
            }
            Event::Done(o) => return Some(o),
        }
    }
    None
}

/// Replays `script` against a client; returns the outcome and the writes.
fn replay(cfg: Config, env: Envelope, script: &str) -> (Outcome, Vec<Vec<u8>>) {
    let mut c = Client::new(cfg, env, 0);
    let (mut writes, mut matched, mut done) = (Vec::new(), 0usize, None);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        done = done.or(drain(&mut c, &mut writes, 0));
        let all: Vec<u8> = writes.concat();
        if let Some(s) = line.strip_prefix("S: ") {
            c.feed(format!("{s}\r\n").as_bytes(), 0);
        } else if let Some(want) = line.strip_prefix("C: ") {
            let want = if want == "<message>" { stuff_all(MSG) } else { format!("{want}\r\n").into_bytes() };
            let got = all.get(matched..).unwrap_or_default();
            assert!(
                got.starts_with(&want),
                "want {:?}\ngot {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(got)
            );
            matched += want.len();
        }
    }
    done = done.or(drain(&mut c, &mut writes, 0));
    let all = writes.concat();
    assert_eq!(matched, all.len(), "unexpected client output: {:?}", String::from_utf8_lossy(&all[matched..]));
    (done.expect("session not done"), writes)
}

fn stuff_all(m: &[u8]) -> Vec<u8> {
    crate::proto::dotstuff::stuff_all(m, None)
}

fn statuses(o: &Outcome) -> Vec<Status> {
    o.rcpts.iter().map(|r| r.status).collect()
}

const EHLO_FULL: &str = "S: 250-mx.example.net\nS: 250-PIPELINING\nS: 250-SIZE 10000\nS: 250-8BITMIME\nS: 250 SMTPUTF8";

#[test]
fn pipelined_happy_path_in_one_write() {
    let script = format!(
        "S: 220 mx.example.net ESMTP\nC: EHLO out.example.org\n{EHLO_FULL}
         C: MAIL FROM:<a@example.org> SIZE=34\nC: RCPT TO:<b@example.net>\nC: RCPT TO:<c@example.net>\nC: DATA
         S: 250 2.1.0 Ok\nS: 250 2.1.5 Ok\nS: 250 2.1.5 Ok\nS: 354 go\nC: <message>
         S: 250 2.0.0 queued as 7\nC: QUIT\nS: 221 bye"
    );
    let (o, writes) = replay(cfg(), env(&["b@example.net", "c@example.net"]), &script);
    assert_eq!(statuses(&o), [Status::Delivered, Status::Delivered]);
    assert_eq!(o.rcpts[0].reply, "250 2.0.0 queued as 7");
    assert_eq!(o.error, None);
    // RFC 2920 §3.1: MAIL, both RCPTs and DATA went out in one write.
    assert!(writes.iter().any(|w| w.starts_with(b"MAIL") && w.ends_with(b"DATA\r\n")), "{writes:?}");
}

#[test]
fn mixed_recipient_results() {
    let script = format!(
        "S: 220 mx\nC: EHLO out.example.org\n{EHLO_FULL}
         C: MAIL FROM:<a@example.org> SIZE=34\nC: RCPT TO:<b@x>\nC: RCPT TO:<c@x>\nC: RCPT TO:<d@x>\nC: DATA
         S: 250 ok\nS: 250 2.1.5 ok\nS: 450 4.2.1 mailbox busy\nS: 550 5.1.1 no such user\nS: 354 go
         C: <message>\nS: 250 2.0.0 ok\nC: QUIT\nS: 221 bye"
    );
    let (o, _) = replay(cfg(), env(&["b@x", "c@x", "d@x"]), &script);
    assert_eq!(statuses(&o), [Status::Delivered, Status::Temporary, Status::Permanent]);
    assert_eq!(o.rcpts[1].reply, "450 4.2.1 mailbox busy");
    assert_eq!(o.rcpts[2].reply, "550 5.1.1 no such user");
}

#[test]
fn without_pipelining_one_command_at_a_time_and_no_data_when_all_refused() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx
         C: MAIL FROM:<a@example.org>\nS: 250 ok\nC: RCPT TO:<b@x>\nS: 550 5.1.1 no\nC: RCPT TO:<c@x>\nS: 451 4.3.0 later
         C: QUIT\nS: 221 bye";
    let (o, writes) = replay(cfg(), env(&["b@x", "c@x"]), script);
    assert_eq!(statuses(&o), [Status::Permanent, Status::Temporary]);
    assert!(writes.iter().all(|w| !w.starts_with(b"DATA")));
}

#[test]
fn pipelined_354_without_accepted_recipient_sends_lone_dot() {
    let script = format!(
        "S: 220 mx\nC: EHLO out.example.org\n{EHLO_FULL}
         C: MAIL FROM:<a@example.org> SIZE=34\nC: RCPT TO:<b@x>\nC: DATA\nS: 250 ok\nS: 550 5.1.1 no\nS: 354 go
         C: .\nS: 554 5.5.1 no valid recipients\nC: QUIT\nS: 221 bye"
    );
    let (o, _) = replay(cfg(), env(&["b@x"]), &script);
    assert_eq!(statuses(&o), [Status::Permanent]);
    assert_eq!(o.rcpts[0].reply, "550 5.1.1 no");
}

#[test]
fn mail_refused_fails_everyone() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx\nC: MAIL FROM:<a@example.org>
         S: 553 5.7.1 sender rejected\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(cfg(), env(&["b@x", "c@x"]), script);
    assert_eq!(statuses(&o), [Status::Permanent, Status::Permanent]);
    assert!(o.rcpts[1].reply.contains("553 5.7.1 sender rejected"));
    // Pipelined: the RCPT and DATA replies are still read, in order.
    let script = format!(
        "S: 220 mx\nC: EHLO out.example.org\n{EHLO_FULL}
         C: MAIL FROM:<a@example.org> SIZE=34\nC: RCPT TO:<b@x>\nC: DATA\nS: 550 5.7.1 no\nS: 503 5.5.1 need MAIL
         S: 503 5.5.1 need RCPT\nC: QUIT\nS: 221 bye"
    );
    let (o, _) = replay(cfg(), env(&["b@x"]), &script);
    assert_eq!(statuses(&o), [Status::Permanent]);
}

#[test]
fn greeting_4xx_and_5xx() {
    let (o, _) = replay(cfg(), env(&["b@x"]), "S: 421 4.3.2 busy\n");
    assert_eq!(statuses(&o), [Status::Temporary]);
    let (o, _) = replay(cfg(), env(&["b@x"]), "S: 450 4.3.2 busy\nC: QUIT\nS: 221 bye");
    assert_eq!(statuses(&o), [Status::Temporary]);
    let (o, _) = replay(cfg(), env(&["b@x"]), "S: 554 5.7.1 go away\nC: QUIT\nS: 221 bye");
    assert_eq!(statuses(&o), [Status::Permanent]);
    assert!(o.error.unwrap().contains("554 5.7.1 go away"));
}

#[test]
fn server_closing_421_mid_session() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx\nC: MAIL FROM:<a@example.org>\nS: 250 ok
         C: RCPT TO:<b@x>\nS: 550 5.1.1 no\nC: RCPT TO:<c@x>\nS: 421 4.4.2 timeout";
    let (o, _) = replay(cfg(), env(&["b@x", "c@x"]), script);
    assert_eq!(statuses(&o), [Status::Permanent, Status::Temporary]);
    assert!(o.rcpts[1].reply.contains("421 4.4.2"));
}

#[test]
fn remote_size_smaller_fails_before_mail() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250-mx\nS: 250 SIZE 10\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(cfg(), env(&["b@x", "c@x"]), script);
    assert_eq!(statuses(&o), [Status::Permanent, Status::Permanent]);
    assert!(o.rcpts[0].reply.contains("RFC 1870"), "{o:?}");
    // SIZE 0 is "no limit" (RFC 1870 §4).
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250-mx\nS: 250 SIZE 0\nC: MAIL FROM:<a@example.org> SIZE=34
         S: 250 ok\nC: RCPT TO:<b@x>\nS: 250 ok\nC: DATA\nS: 354 go\nC: <message>\nS: 250 ok\nC: QUIT\nS: 221 bye";
    assert_eq!(statuses(&replay(cfg(), env(&["b@x"]), script).0), [Status::Delivered]);
}

#[test]
fn smtputf8_and_8bit_needs() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(cfg(), env(&["jörg@x"]), script);
    assert_eq!(statuses(&o), [Status::Permanent]);
    assert!(o.rcpts[0].reply.contains("SMTPUTF8"));
    let mut e = env(&["b@x"]);
    e.eight_bit = true;
    let (o, _) = replay(cfg(), e.clone(), script);
    assert!(o.rcpts[0].reply.contains("8BITMIME") && o.rcpts[0].status == Status::Permanent);
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250-mx\nS: 250-8BITMIME\nS: 250 SMTPUTF8
         C: MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8\nS: 250 ok\nC: RCPT TO:<jörg@x>\nS: 250 ok
         C: DATA\nS: 354 go\nC: <message>\nS: 250 ok\nC: QUIT\nS: 221 bye";
    e.rcpts = vec!["jörg@x".into()];
    assert_eq!(statuses(&replay(cfg(), e, script).0), [Status::Delivered]);
}

#[test]
fn ehlo_refused_falls_back_to_helo() {
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 502 5.5.1 what\nC: HELO out.example.org\nS: 250 mx
         C: MAIL FROM:<a@example.org>\nS: 250 ok\nC: RCPT TO:<b@x>\nS: 250 ok\nC: DATA\nS: 354 go
         C: <message>\nS: 250 ok\nC: QUIT\nS: 221 bye";
    assert_eq!(statuses(&replay(cfg(), env(&["b@x"]), script).0), [Status::Delivered]);
}

#[test]
fn multiline_greeting_and_replies() {
    let script = "S: 220-mx.example.net\nS: 220-welcome\nS: 220 go\nC: EHLO out.example.org\nS: 250-mx\nS: 250-STARTTLS\nS: 250 8BITMIME
         C: STARTTLS\nS: 220 2.0.0 go\nC: EHLO out.example.org\nS: 250-mx\nS: 250 8BITMIME
         C: MAIL FROM:<a@example.org>\nS: 250-2.1.0 ok\nS: 250 2.1.0 really\nC: RCPT TO:<b@x>\nS: 250 ok
         C: DATA\nS: 354 go\nC: <message>\nS: 250-2.0.0 ok\nS: 250 2.0.0 queued\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(cfg(), env(&["b@x"]), script);
    assert_eq!(statuses(&o), [Status::Delivered]);
    assert_eq!(o.rcpts[0].reply, "250 2.0.0 ok / 2.0.0 queued");
    assert!(o.tls);
}

#[test]
fn starttls_refused_or_missing() {
    let mut required = cfg();
    required.tls = TlsMode::Required;
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(required, env(&["b@x"]), script);
    assert_eq!(statuses(&o), [Status::Temporary]);
    assert!(o.error.unwrap().contains("TLS is required"));
    // Opportunistic: a refused STARTTLS goes on in plaintext (RFC 7435).
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 no
         C: MAIL FROM:<a@example.org>\nS: 250 ok\nC: RCPT TO:<b@x>\nS: 250 ok\nC: DATA\nS: 354 go
         C: <message>\nS: 250 ok\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(cfg(), env(&["b@x"]), script);
    assert_eq!((statuses(&o), o.tls), (vec![Status::Delivered], false));
}

fn relay(user: &str, pass: &str) -> Config {
    let mut c = cfg();
    c.tls = TlsMode::Required;
    c.tls_active = true;
    c.auth = Some(Credentials { user: user.into(), password: Secret::from(pass) });
    c
}

#[test]
fn auth_plain_and_login() {
    // RFC 4616 §2: base64("\0tim\0tanstaaftanstaaf").
    let script = "S: 220 relay\nC: EHLO out.example.org\nS: 250-relay\nS: 250 AUTH LOGIN PLAIN
         C: AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\nS: 235 2.7.0 ok\nC: MAIL FROM:<a@example.org>\nS: 250 ok
         C: RCPT TO:<b@x>\nS: 250 ok\nC: DATA\nS: 354 go\nC: <message>\nS: 250 ok\nC: QUIT\nS: 221 bye";
    assert_eq!(statuses(&replay(relay("tim", "tanstaaftanstaaf"), env(&["b@x"]), script).0), [Status::Delivered]);
    let script = "S: 220 relay\nC: EHLO out.example.org\nS: 250-relay\nS: 250 AUTH LOGIN
         C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: dGlt\nS: 334 UGFzc3dvcmQ6\nC: dGFuc3RhYWZ0YW5zdGFhZg==
         S: 535 5.7.8 bad credentials\nC: QUIT\nS: 221 bye";
    let (o, _) = replay(relay("tim", "tanstaaftanstaaf"), env(&["b@x"]), script);
    assert_eq!(statuses(&o), [Status::Temporary]);
    assert!(o.rcpts[0].reply.contains("535 5.7.8"));
}

#[test]
fn no_auth_over_plaintext_except_loopback() {
    let mut c = relay("tim", "pw");
    c.tls = TlsMode::Off;
    c.tls_active = false;
    let script = "S: 220 relay\nC: EHLO out.example.org\nS: 250-relay\nS: 250 AUTH PLAIN\nC: QUIT\nS: 221 bye";
    let (o, writes) = replay(c, env(&["b@x"]), script);
    assert_eq!(statuses(&o), [Status::Temporary]);
    assert!(writes.iter().all(|w| !w.starts_with(b"AUTH")));
    let mut c = relay("tim", "pw");
    (c.tls, c.tls_active, c.loopback) = (TlsMode::Off, false, true);
    let script = "S: 220 relay\nC: EHLO out.example.org\nS: 250-relay\nS: 250 AUTH PLAIN\nC: AUTH PLAIN AHRpbQBwdw==
         S: 235 ok\nC: MAIL FROM:<a@example.org>\nS: 421 bye";
    assert_eq!(statuses(&replay(c, env(&["b@x"]), script).0), [Status::Temporary]);
}

#[test]
fn credentials_never_in_debug() {
    let c = Client::new(relay("tim", "hunter2"), env(&["b@x"]), 0);
    let ev = Event::SendSecret(Secret::from("AUTH PLAIN aHVudGVyMg=="));
    let text = format!("{c:?} {ev:?}");
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg"), "{text}");
}

/// The whole server side of the happy path, as one byte string.
const SERVER: &[u8] = b"220-mx\r\n220 hi\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n250 2.0.0 ok\r\n221 bye\r\n";

/// Feeds `server` in the given pieces, re-offering what was not consumed.
fn run_split(pieces: &[&[u8]]) -> (Outcome, Vec<u8>) {
    let mut c = Client::new(cfg(), env(&["b@x", "c@x"]), 0);
    let (mut writes, mut pending) = (Vec::new(), Vec::new());
    for piece in pieces {
        pending.extend_from_slice(piece);
        loop {
            if let Some(o) = drain(&mut c, &mut writes, 0) {
                return (o, writes.concat());
            }
            let n = c.feed(&pending, 0);
            pending.drain(..n);
            if n == 0 {
                break;
            }
        }
    }
    (drain(&mut c, &mut writes, 0).expect("done"), writes.concat())
}

#[test]
fn split_invariance() {
    let whole = run_split(&[SERVER]);
    assert_eq!(statuses(&whole.0), [Status::Delivered, Status::Permanent]);
    for i in 0..=SERVER.len() {
        let (a, b) = SERVER.split_at(i);
        assert_eq!(run_split(&[a, b]), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = SERVER.chunks(1).collect();
    assert_eq!(run_split(&bytes), whole);
}

#[test]
fn ten_megabyte_reply_line_is_bounded() {
    let mut c = Client::new(cfg(), env(&["b@x"]), 0);
    let mut writes = Vec::new();
    c.feed(b"220 mx\r\n", 0);
    drain(&mut c, &mut writes, 0);
    c.feed(b"250-", 0);
    let chunk = vec![b'x'; 64 * 1024];
    let mut fed = 0;
    let mut outcome = None;
    while fed < 10 << 20 && outcome.is_none() {
        c.feed(&chunk, 0);
        fed += chunk.len();
        assert!(c.framer.capacity() <= REPLY_LINE_MAX, "buffer grew to {}", c.framer.capacity());
        outcome = drain(&mut c, &mut writes, 0);
    }
    let o = outcome.expect("a 10 MB line must fail the session");
    assert_eq!(fed, chunk.len(), "failed at the first chunk past the limit");
    assert_eq!(statuses(&o), [Status::Temporary]);
    assert!(o.error.unwrap().contains("too long"));
}

#[test]
fn garbage_replies_are_protocol_errors() {
    let cases: &[&[u8]] = &[
        b"hello there\r\n",
        b"220x mx\r\n",
        b"620 mx\r\n",
        b"220-mx\r\n221 mx\r\n",
        b"220 mx\n",
        b"220 mx\r\n354 what\r\n",
        b"220 mx\r\n250 mx\r\n354 early\r\n",
        b"\x00\xff\r\n",
    ];
    for case in cases {
        let (o, _) = run_split(&[case]);
        if o.rcpts[0].status == Status::Temporary && o.error.as_deref().is_some_and(|e| e.contains("protocol error")) {
            continue;
        }
        panic!("{:?}: {o:?}", String::from_utf8_lossy(case));
    }
    // Garbage in reply to QUIT changes nothing: the message was delivered.
    let script = "S: 220 mx\nC: EHLO out.example.org\nS: 250 mx\nC: MAIL FROM:<a@example.org>\nS: 250 ok
         C: RCPT TO:<b@x>\nS: 250 ok\nC: DATA\nS: 354 go\nC: <message>\nS: 250 ok\nC: QUIT\nS: garbage";
    let (o, _) = replay(cfg(), env(&["b@x"]), script);
    assert_eq!((statuses(&o), o.error), (vec![Status::Delivered], None));
    // Too many lines in one reply.
    let many = "250-x\r\n".repeat(REPLY_LINES_MAX + 1);
    let (o, _) = run_split(&[b"220 mx\r\n", many.as_bytes()]);
    assert!(o.error.unwrap().contains("too many lines"));
}

#[test]
fn deadline_expiry_is_temporary() {
    let mut t = cfg();
    t.timeouts.greeting_ms = 50;
    t.timeouts.rcpt_ms = 70;
    let timeouts = t.timeouts;
    let mut c = Client::new(t, env(&["b@x"]), 1000);
    assert_eq!(c.deadline(), Some(1050));
    assert!(c.poll(1049).is_none());
    let Some(Event::Done(o)) = c.poll(1050) else { panic!("no timeout") };
    assert_eq!(statuses(&o), [Status::Temporary]);
    assert!(o.error.unwrap().contains("timeout"));
    // Mid-transaction: the RCPT timeout applies, counted from when RCPT was sent.
    let mut c = Client::new(Config { timeouts, ..cfg() }, env(&["b@x"]), 0);
    let mut w = Vec::new();
    c.feed(b"220 mx\r\n", 0);
    drain(&mut c, &mut w, 0);
    c.feed(b"250 mx\r\n", 10);
    drain(&mut c, &mut w, 10);
    c.feed(b"250 ok\r\n", 20);
    drain(&mut c, &mut w, 20);
    assert_eq!(c.deadline(), Some(90));
    let o = drain(&mut c, &mut w, 90).expect("timed out");
    assert_eq!(statuses(&o), [Status::Temporary]);
}

#[test]
fn connection_lost_mid_data_is_temporary_and_bad_addresses_permanent() {
    let mut c = Client::new(cfg(), env(&["b@x"]), 0);
    let mut w = Vec::new();
    for r in [&b"220 mx\r\n"[..], b"250 mx\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"] {
        c.feed(r, 0);
        assert!(drain(&mut c, &mut w, 0).is_none());
    }
    c.closed(0);
    let o = drain(&mut c, &mut w, 0).expect("done");
    assert_eq!(statuses(&o), [Status::Temporary]);
    let mut e = env(&["ok@x", "bad\r\nRSET@x", ""]);
    e.mail_from = String::new();
    let mut c = Client::new(cfg(), e, 0);
    assert!(c.poll(0).is_none(), "two bad, one good: still a session");
    c.abort("test", 0);
    let Some(Event::Done(o)) = c.poll(0) else { panic!() };
    assert_eq!(statuses(&o), [Status::Temporary, Status::Permanent, Status::Permanent]);
    let mut c = Client::new(cfg(), env(&["<b@x>"]), 0);
    assert!(matches!(c.poll(0), Some(Event::Done(_))), "no good recipient: done at once");
}
