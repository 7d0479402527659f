//! Session tests: one `bad_input_NN_*` test per SMTP item of BAD-INPUTS.md (1-27), the
//! RFC behaviours they rest on, and a chunking-invariance property test.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::data::DATA_CHUNK;
use super::*;

pub(super) fn policy() -> Policy {
    Policy {
        hostname: "mx.example.org".into(),
        domain: "example.org".into(),
        aliases: vec!["info".into()],
        user: "alice".into(),
        max_message_size: 10_000,
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

/// A fake driver: delivers every message as uid 7, completes TLS at once, waits out holds.
pub(super) struct Driver {
    pub(super) s: Session,
    pub(super) now: u64,
    pub(super) replies: Vec<u8>,
    pub(super) events: Vec<Event>,
    pub(super) body: Vec<u8>,
    max_chunk: usize,
    pub(super) closed: bool,
}

impl Driver {
    pub(super) fn with(policy: Policy) -> Self {
        Self::with_peer(policy, PeerInfo { ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), is_tls: false })
    }

    pub(super) fn with_peer(policy: Policy, peer: PeerInfo) -> Self {
        let s = Session::new(Arc::new(policy), peer, 0);
        let mut d = Driver {
            s,
            now: 0,
            replies: Vec::new(),
            events: Vec::new(),
            body: Vec::new(),
            max_chunk: 0,
            closed: false,
        };
        d.drain();
        d
    }

    pub(super) fn new() -> Self {
        Self::with(policy())
    }

    /// A session after EHLO and MAIL FROM, replies cleared.
    fn in_mail() -> Self {
        let mut d = Self::new();
        d.send(b"EHLO client.example\r\nMAIL FROM:<bob@example.net>\r\n");
        d.replies.clear();
        d
    }

    /// A session in DATA for alice, replies and events cleared.
    fn in_data() -> Self {
        let mut d = Self::in_mail();
        d.send(b"RCPT TO:<alice@example.org>\r\n");
        d.send(b"DATA\r\n");
        assert!(d.text().ends_with("354 End data with <CR><LF>.<CR><LF>\r\n"), "{}", d.text());
        d.replies.clear();
        d.events.clear();
        d
    }

    pub(super) fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(e) = self.s.poll(self.now) {
            n += 1;
            match e {
                Event::Reply(b) => self.replies.extend_from_slice(&b),
                Event::MessageData(d) => {
                    self.max_chunk = self.max_chunk.max(d.len());
                    self.body.extend_from_slice(&d);
                }
                Event::MessageEnd => {
                    self.events.push(Event::MessageEnd);
                    self.s.delivered(Ok(7));
                }
                Event::StartTls => {
                    self.events.push(Event::StartTls);
                    let info = TlsInfo { version: "TLSv1.3".into(), cipher: "AES".into() };
                    self.s.tls_started(info);
                }
                Event::HeaderFixups(m) => {
                    // Marks where the driver would write the fields (tests_submission.rs).
                    self.body.extend_from_slice(format!("<fix date={} id={}>", m.date, m.message_id).as_bytes());
                    self.events.push(Event::HeaderFixups(m));
                }
                Event::Close => self.closed = true,
                e => self.events.push(e),
            }
        }
        n
    }

    /// Offers `input` as one segment (re-offering the rest as the session asks).
    pub(super) fn send(&mut self, input: &[u8]) {
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

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.replies).into_owned()
    }

    fn codes(&self) -> Vec<String> {
        self.text().lines().map(|l| l.chars().take(9).collect()).collect()
    }

    fn count(&self, event: &Event) -> usize {
        self.events.iter().filter(|e| *e == event).count()
    }

    pub(super) fn begins(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, Event::MessageBegin(_))).count()
    }
}

/// Asserts the message was refused midway: aborted, never committed, connection closed.
fn assert_refused_and_closed(d: &Driver) {
    assert_eq!(d.count(&Event::MessageAborted), 1, "{:?}", d.events);
    assert_eq!(d.count(&Event::MessageEnd), 0);
    assert!(d.text().contains("550 5.5.2"), "{}", d.text());
    assert!(d.closed);
}

#[test]
fn rfc5321_basic_transaction() {
    let mut d = Driver::in_data();
    d.send(b"Subject: hi\r\n\r\nbody\r\n.\r\n");
    assert_eq!(d.body, b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(d.codes(), ["250 2.0.0"]);
    d.send(b"QUIT\r\n");
    assert!(d.closed);
}

#[test]
fn bad_input_01_lf_dot_lf_never_ends_data() {
    let mut d = Driver::in_data();
    d.send(b"hello\n.\nMAIL FROM:<x@y>\r\n");
    assert_refused_and_closed(&d);
}

#[test]
fn bad_input_02_only_crlf_dot_crlf_ends_data() {
    for fake in [&b"x\r\n.\nQUIT\r\n"[..], b"x\n.\r\nQUIT\r\n", b"x\r.\rQUIT\r\n"] {
        let mut d = Driver::in_data();
        d.send(fake);
        assert_refused_and_closed(&d);
        assert!(!d.text().contains("221"));
    }
}

#[test]
fn bad_input_03_bare_cr_or_lf_in_a_line_is_refused() {
    let mut d = Driver::in_data();
    d.send(b"a\rb\r\n.\r\n");
    assert_refused_and_closed(&d);
    let mut d = Driver::new();
    d.send(b"NOOP\nNOOP\r\n");
    assert_eq!(d.codes(), ["220 mx.ex", "550 5.5.2"]);
    assert!(d.closed);
}

#[test]
fn bad_input_04_smuggled_commands_stay_body() {
    let mut d = Driver::in_data();
    let smuggle = b"x\r\n..\r\nMAIL FROM:<e@vil>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n.\r\n";
    d.send(smuggle);
    assert_eq!(d.codes(), ["250 2.0.0"]);
    assert_eq!(d.body, b"x\r\n.\r\nMAIL FROM:<e@vil>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    // With a fake end (bare LF), one reply and the session ends: nothing is run.
    let mut d = Driver::in_data();
    d.send(b"x\r\n.\nMAIL FROM:<e@vil>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    assert_eq!(d.codes().len(), 1);
    assert_eq!(d.begins(), 0);
}

#[test]
fn bad_input_05_dot_unstuffing() {
    let mut d = Driver::in_data();
    d.send(b"..x\r\n...\r\n.\r\n");
    assert_eq!(d.body, b".x\r\n..\r\n");
}

#[test]
fn bad_input_06_long_data_line_is_refused_with_bounded_memory() {
    let mut d = Driver::in_data();
    d.send(&vec![b'a'; 2 << 20]);
    assert!(d.events.is_empty() && d.body.is_empty());
    d.send(b"\r\nmore\r\n.\r\nNOOP\r\n");
    assert_eq!(d.count(&Event::MessageAborted), 1);
    assert_eq!(d.codes(), ["554 5.6.0", "250 2.0.0"]);
    assert_eq!(d.count(&Event::MessageEnd), 0);
    // A line of exactly 1000 octets with CRLF is fine.
    let mut d = Driver::in_data();
    let mut line = vec![b'b'; 998];
    line.extend_from_slice(b"\r\n.\r\n");
    d.send(&line);
    assert_eq!(d.count(&Event::MessageEnd), 1);
}

#[test]
fn bad_input_07_long_command_500_then_close() {
    let mut d = Driver::new();
    let mut long = vec![b'N'; 600];
    long.extend_from_slice(b"\r\n");
    d.send(&long);
    assert_eq!(d.codes().last().map(String::as_str), Some("500 5.5.2"));
    d.send(&long);
    d.send(&long);
    assert!(d.text().contains("421 4.7.0"));
    assert!(d.closed);
    // 510 octets plus CRLF is within the limit.
    let mut d = Driver::new();
    let mut ok = b"NOOP ".to_vec();
    ok.extend_from_slice(&[b'x'; 505]);
    ok.extend_from_slice(b"\r\n");
    d.send(&ok);
    assert_eq!(d.codes().last().map(String::as_str), Some("250 2.0.0"));
}

#[test]
fn bad_input_08_nul_in_command_is_501_not_truncated() {
    let mut d = Driver::new();
    d.send(b"NOOP\0QUIT\r\n");
    assert_eq!(d.codes(), ["220 mx.ex", "501 5.5.2"]);
    assert!(!d.closed);
}

#[test]
fn bad_input_09_data_before_354_is_unauthorized_pipelining() {
    let mut d = Driver::in_mail();
    d.send(b"RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    assert_eq!(d.codes(), ["250 2.1.5", "554 5.5.0"]);
    assert_eq!(d.begins(), 0);
    assert!(d.closed);
}

#[test]
fn bad_input_10_many_recipients_get_452() {
    let mut d = Driver::in_mail();
    let many: Vec<u8> = (0..150).flat_map(|i| format!("RCPT TO:<alice+{i}@example.org>\r\n").into_bytes()).collect();
    d.send(&many);
    let codes = d.codes();
    assert_eq!(codes.iter().filter(|c| *c == "250 2.1.5").count(), 100);
    assert_eq!(codes.iter().filter(|c| *c == "452 4.5.3").count(), 50);
}

#[test]
fn bad_input_11_unknown_recipients_are_tarpitted_then_disconnected() {
    let mut d = Driver::in_mail();
    let mut holds = Vec::new();
    for i in 0..5 {
        let before = d.now;
        d.send(format!("RCPT TO:<nobody{i}@example.org>\r\n").as_bytes());
        holds.push(d.now - before);
    }
    assert_eq!(holds, [1_000, 2_000, 4_000, 8_000, 16_000]);
    assert_eq!(d.codes().iter().filter(|c| *c == "550 5.1.1").count(), 5);
    assert!(d.text().ends_with("Too many refused recipients\r\n"));
    assert!(d.closed);
}

#[test]
fn bad_input_12_size_over_limit_or_overflowing() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.c> SIZE=10001\r\n");
    assert_eq!(d.codes().last().map(String::as_str), Some("552 5.3.4"));
    d.send(b"MAIL FROM:<a@b.c> SIZE=184467440737095516160\r\nMAIL FROM:<a@b.c> SIZE=1e3\r\n");
    assert_eq!(d.codes().get(9..), Some(&["501 5.5.4".to_string(), "501 5.5.4".into()][..]));
    d.send(b"MAIL FROM:<a@b.c> SIZE=10000\r\n");
    assert_eq!(d.codes().last().map(String::as_str), Some("250 2.1.0"));
}

#[test]
fn bad_input_13_oversize_body_without_size_is_discarded() {
    let mut d = Driver::in_data();
    let line = [b'z'; 98];
    for _ in 0..200 {
        d.send(&line);
        d.send(b"\r\n");
    }
    assert_eq!(d.count(&Event::MessageAborted), 1);
    assert!(d.codes().is_empty(), "the reply waits for the final dot");
    d.send(b".\r\n");
    assert_eq!(d.codes(), ["552 5.3.4"]);
    assert_eq!(d.count(&Event::MessageEnd), 0);
}

#[test]
fn bad_input_14_slowloris_hits_command_and_session_deadlines() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nNO");
    assert_eq!(d.s.deadline(), Some(300_000));
    d.now = 299_999;
    d.drain();
    assert!(!d.closed);
    d.now = 300_000;
    d.drain();
    assert!(d.text().contains("421 4.4.2 mx.example.org Timeout"));
    assert!(d.closed);
    // A line every minute still ends at the session cap.
    let mut d = Driver::in_data();
    while !d.closed {
        d.now += 60_000;
        d.send(b"x\r\n");
    }
    assert_eq!(d.now, 1_800_000);
    assert_eq!(d.count(&Event::MessageAborted), 1);
}

#[test]
fn bad_input_15_starttls_discards_pipelined_bytes_and_resets() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nSTARTTLS\r\nNOOP\r\nMAIL FROM:<a@b.c>\r\n");
    assert!(d.text().ends_with("250 SMTPUTF8\r\n220 2.0.0 Ready to start TLS\r\n"));
    assert_eq!(d.count(&Event::StartTls), 1);
    d.replies.clear();
    d.send(b"MAIL FROM:<a@b.c>\r\nEHLO c\r\n");
    assert_eq!(d.codes().first().map(String::as_str), Some("503 5.5.1"));
    assert!(!d.text().contains("STARTTLS"), "not offered again: {}", d.text());
}

#[test]
fn bad_input_16_second_starttls_is_refused() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nSTARTTLS\r\n");
    d.send(b"EHLO c\r\nSTARTTLS\r\n");
    assert_eq!(d.codes().last().map(String::as_str), Some("503 5.5.1"));
    assert_eq!(d.count(&Event::StartTls), 1);
}

#[test]
fn bad_input_17_foreign_domain_is_relay_denied() {
    let mut d = Driver::in_mail();
    d.send(b"RCPT TO:<alice@example.net>\r\nRCPT TO:<alice@[192.0.2.1]>\r\n");
    assert_eq!(d.codes(), ["550 5.7.1", "550 5.7.1"]);
}

#[test]
fn bad_input_18_percent_bang_and_quoted_local_parts_are_opaque() {
    let mut d = Driver::in_mail();
    d.send(b"RCPT TO:<v%x@example.org>\r\nRCPT TO:<x!v@example.org>\r\n");
    d.send(b"RCPT TO:<\"v@x\"@example.org>\r\nRCPT TO:<\"alice\"@EXAMPLE.org>\r\n");
    assert_eq!(d.codes(), ["550 5.1.1", "550 5.1.1", "550 5.1.1", "250 2.1.5"]);
}

#[test]
fn bad_input_19_source_route_is_ignored() {
    let mut d = Driver::in_mail();
    d.send(b"RCPT TO:<@example.org:v@x.net>\r\nRCPT TO:<@x.net,@y.net:alice@example.org>\r\n");
    assert_eq!(d.codes(), ["550 5.7.1", "250 2.1.5"]);
}

#[test]
fn bad_input_20_over_long_parts_or_missing_brackets() {
    let local = "a".repeat(65);
    let label = "d".repeat(60);
    let domain = [label.as_str(); 5].join(".");
    let mut d = Driver::in_mail();
    for rcpt in [format!("<{local}@example.org>"), format!("<a@{domain}>"), "alice@example.org".into()] {
        d.send(format!("RCPT TO:{rcpt}\r\n").as_bytes());
    }
    let long_path = format!("<@{},@{}:a@b.c>", &domain[..200], &domain[..100]);
    d.send(format!("RCPT TO:{long_path}\r\nRCPT TO:\r\n").as_bytes());
    assert_eq!(d.codes(), ["501 5.1.3"; 5]);
}

#[test]
fn bad_input_21_shell_and_crlf_in_addresses() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nMAIL FROM:<;sh;>\r\nMAIL FROM:<`id`@x.y>\r\n");
    assert_eq!(d.codes().get(8..), Some(&["501 5.1.7".to_string(), "250 2.1.0".into()][..]));
    d.send(b"RCPT TO:<a\r@example.org>\r\n");
    assert!(d.closed, "bare CR inside an address closes the session");
}

#[test]
fn bad_input_22_data_before_rcpt() {
    let mut d = Driver::in_mail();
    d.send(b"DATA\r\n");
    assert_eq!(d.codes(), ["503 5.5.1"]);
    assert_eq!(d.begins(), 0);
}

#[test]
fn bad_input_23_eight_bit_headers_are_opaque() {
    let mut d = Driver::in_data();
    let msg = b"Subject: \xff\xfe caf\xc3\xa9\r\n\r\n\x80\r\n.\r\n";
    d.send(msg);
    assert_eq!(d.body, &msg[..msg.len() - 3]);
    assert_eq!(d.count(&Event::MessageEnd), 1);
}

#[test]
fn bad_input_24_non_ascii_address_needs_smtputf8() {
    let mut d = Driver::new();
    d.send("EHLO c\r\nMAIL FROM:<jörg@x.de>\r\nMAIL FROM:<jörg@x.de> SMTPUTF8\r\n".as_bytes());
    assert_eq!(d.codes().get(8..), Some(&["553 5.6.7".to_string(), "250 2.1.0".into()][..]));
    let mut d = Driver::in_mail();
    d.send("RCPT TO:<alïce@example.org>\r\n".as_bytes());
    assert_eq!(d.codes(), ["553 5.6.7"]);
}

#[test]
fn bad_input_25_many_headers_parse_linearly_in_bounded_chunks() {
    // The SMTP core does not parse MIME (parts and nesting are mime.rs's); headers are lines.
    let mut p = policy();
    p.max_message_size = 64 << 20;
    let mut d = Driver::with(p);
    d.send(b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n");
    d.send(b"DATA\r\n");
    let headers: Vec<u8> = (0..500_000).flat_map(|_| *b"X-A: b\r\n").collect();
    d.send(&headers);
    d.send(b"\r\n.\r\n");
    assert_eq!(d.body.len(), headers.len() + 2);
    assert!(d.max_chunk <= DATA_CHUNK + 1000);
}

#[test]
fn bad_input_26_too_many_received_headers_is_a_loop() {
    let mut d = Driver::in_data();
    let hops: Vec<u8> = (0..51).flat_map(|_| *b"Received: from a by b\r\n").collect();
    d.send(&hops);
    d.send(b"\r\nbody\r\n.\r\n");
    assert_eq!(d.codes(), ["554 5.4.6"]);
    assert_eq!(d.count(&Event::MessageEnd), 0);
    // 50 are fine, and Received: in the body does not count.
    let mut d = Driver::in_data();
    d.send(&hops[23..]);
    d.send(b"\r\n");
    d.send(&hops);
    d.send(b".\r\n");
    assert_eq!(d.codes(), ["250 2.0.0"]);
}

#[test]
fn bad_input_27_no_chunking_bdat_not_implemented() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nBDAT 5 LAST\r\nhello");
    assert!(!d.text().contains("CHUNKING"));
    assert!(d.text().contains("502 5.5.1"));
}

#[test]
fn ehlo_advertises_extensions_in_multiline_form() {
    let mut d = Driver::new();
    d.send(b"ehlo client.example\r\n");
    let want = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n\
                250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n";
    assert!(d.text().ends_with(want), "{}", d.text());
}

#[test]
fn envelope_keeps_subaddress_and_params() {
    let mut d = Driver::new();
    d.send(b"EHLO c\r\nMAIL FROM:<> BODY=8BITMIME SIZE=5\r\nRCPT TO:<Alice+Lists@Example.ORG>\r\n");
    d.send(b"DATA\r\n");
    let Some(Event::MessageBegin(env)) = d.events.first() else { panic!("{:?}", d.events) };
    assert_eq!(env.mail_from, "");
    assert_eq!(env.rcpts.first().map(|r| r.tag.as_deref()), Some(Some("Lists")));
    assert_eq!((env.size_hint, env.body_8bit, env.smtputf8), (Some(5), true, false));
}

#[test]
fn trace_headers_format() {
    let d = Driver::in_data();
    let env = Envelope {
        mail_from: "bob@example.net".into(),
        rcpts: vec![Recipient { address: "alice@example.org".into(), tag: None, remote: false }],
        helo: "client.example".into(),
        esmtp: true,
        size_hint: None,
        smtputf8: false,
        body_8bit: false,
        auth_user: None,
    };
    let got = d.s.trace_headers(&env, 1_795_763_619);
    let want = "Return-Path: <bob@example.net>\r\n\
                Received: from client.example ([192.0.2.1])\r\n\
                \tby mx.example.org with ESMTP\r\n\
                \tfor <alice@example.org>;\r\n\
                \tFri, 27 Nov 2026 07:13:39 +0000\r\n";
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn delivery_errors_map_to_replies() {
    for (err, code) in [
        (DeliverError::Temporary, "451 4.3.0"),
        (DeliverError::NoSpace, "452 4.3.1"),
        (DeliverError::TooBig, "552 5.3.4"),
    ] {
        let mut d = Driver::in_data();
        d.s.feed(b".\r\n");
        while let Some(e) = d.s.poll(0) {
            if e == Event::MessageEnd {
                d.s.delivered(Err(err));
            } else if let Event::Reply(b) = e {
                d.replies.extend_from_slice(&b);
            }
        }
        assert_eq!(d.codes(), [code]);
    }
}

/// Deterministic xorshift64 (no crates).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BODY_LINES: &[&[u8]] = &[
    b"..dots\r\n",
    b"Received: x\r\n",
    b"\r\n",
    b"body line\r\n",
    b"\xff\xfe\r\n",
    b"MAIL FROM:<e@vil>\r\n",
    b".\0x\r\n",
    b" .\r\n",
];
const NOISE: &[&[u8]] = &[
    b"NOOP\r\n",
    b"RSET\r\n",
    b"VRFY x\r\n",
    b"HELP\r\n",
    b"HELO x\r\n",
    b"\0\r\n",
    b"RCPT TO:<no@example.org>\r\n",
    b"MAIL FROM:<> SIZE=99999999\r\n",
    b"XYZZY\r\n",
];

/// Random noise without CR or LF, then CRLF.
fn garbage(rng: &mut XorShift, out: &mut Vec<u8>) {
    out.extend((0..rng.below(1100)).map(|_| b"ab .:<>@\0\xc3"[rng.below(10)]));
    out.extend_from_slice(b"\r\n");
}

fn pick<'a>(rng: &mut XorShift, list: &[&'a [u8]]) -> &'a [u8] {
    list.get(rng.below(list.len())).copied().unwrap_or_default()
}

/// One transaction's command turn, ending with DATA (where a client waits for 354).
fn command_turn(rng: &mut XorShift, turn: &mut Vec<u8>) {
    if rng.below(3) == 0 {
        turn.extend_from_slice(b"EHLO a.b\r\n");
    }
    if rng.below(8) == 0 {
        turn.extend_from_slice(pick(rng, NOISE));
    }
    turn.extend_from_slice(b"MAIL FROM:<a@b.c> BODY=8BITMIME\r\n");
    for _ in 0..=rng.below(3) {
        turn.extend_from_slice(b"RCPT TO:<alice+t@example.org>\r\n");
    }
    turn.extend_from_slice(b"DATA\r\n");
}

/// A client stream as turns; a turn ends after DATA and STARTTLS, where a correct client
/// waits for the reply (pipelining and the STARTTLS discard depend on segment boundaries).
fn random_turns(rng: &mut XorShift) -> Vec<Vec<u8>> {
    let mut turns = vec![b"EHLO a.b\r\n".to_vec()];
    for _ in 0..30 {
        let mut turn = turns.pop().unwrap_or_default();
        command_turn(rng, &mut turn);
        turns.push(turn);
        let mut body = Vec::new();
        for _ in 0..rng.below(60) {
            match rng.below(40) {
                0 => garbage(rng, &mut body),
                1 if rng.below(30) == 0 => body.extend_from_slice(b"bare\n"),
                _ => body.extend_from_slice(pick(rng, BODY_LINES)),
            }
        }
        body.extend_from_slice(b".\r\n");
        turns.push(body);
        if rng.below(25) == 0 {
            turns.push(b"STARTTLS\r\n".to_vec());
            turns.push(b"EHLO a.b\r\n".to_vec());
        }
    }
    turns
}

/// Replays turns split at random points; returns replies and the non-reply events.
fn replay(turns: &[Vec<u8>], rng: &mut XorShift) -> (Vec<u8>, Vec<Event>, Vec<u8>) {
    let mut d = Driver::new();
    d.s = Session::new(Arc::new(policy()), PeerInfo { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), is_tls: false }, 0);
    d.replies.clear();
    for turn in turns {
        let mut rest = turn.as_slice();
        while !rest.is_empty() && !d.closed {
            let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(300)));
            d.send(piece);
            rest = tail;
        }
    }
    (d.replies, d.events, d.body)
}

#[test]
fn property_same_events_for_any_chunking() {
    let mut stats = (0, 0, 0);
    for seed in 1..40u64 {
        let turns = random_turns(&mut XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let whole = replay(&turns, &mut XorShift(1));
        stats.0 += whole.0.len();
        stats.1 += whole.1.len();
        stats.2 += whole.2.len();
        for split_seed in 2..6 {
            let split = replay(&turns, &mut XorShift(split_seed));
            let at = whole.0.iter().zip(&split.0).position(|(a, b)| a != b);
            let near = |r: &[u8]| {
                String::from_utf8_lossy(r.get(at.unwrap_or(0).saturating_sub(80)..).unwrap_or_default())
                    .chars()
                    .take(200)
                    .collect::<String>()
            };
            assert!(whole == split, "seed {seed} split {split_seed}: {:?} vs {:?}", near(&whole.0), near(&split.0));
        }
    }
    // The streams must reach deep into sessions, not stop at the first bad byte.
    assert!(stats.0 > 40_000 && stats.1 > 200 && stats.2 > 10_000, "{stats:?}");
}

#[test]
fn trace_headers_tls_ipv6_many_recipients() {
    let policy = policy();
    let peer = PeerInfo { ip: "2001:db8::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), is_tls: true };
    let tls = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256 (x)\r\n".into() };
    let rcpt = |a: &str| Recipient { address: a.into(), tag: None, remote: false };
    let env = Envelope {
        mail_from: String::new(),
        rcpts: vec![rcpt("alice@example.org"), rcpt("info@example.org")],
        helo: "[192.0.2.9]".into(),
        esmtp: true,
        size_hint: None,
        smtputf8: true,
        body_8bit: true,
        auth_user: None,
    };
    let got = trace::trace_headers(&policy, &peer, Some(&tls), &env, 0);
    let want = "Return-Path: <>\r\n\
                Received: from [192.0.2.9] ([IPv6:2001:db8::1])\r\n\
                \tby mx.example.org with UTF8SMTPS (TLSv1.3 TLS13_AES_128_GCM_SHA256x);\r\n\
                \tThu, 1 Jan 1970 00:00:00 +0000\r\n";
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn policy_from_config_converts_seconds() {
    let text = "domain = \"example.org\"\nuser = \"alice\"\ndata_dir = \"d\"\n";
    let Ok(config) = crate::config::Config::parse(std::path::Path::new("t.toml"), text) else {
        panic!("config did not parse");
    };
    let p = Policy::from_config(&config, "mx.example.org".into(), false);
    assert_eq!((p.command_timeout_ms, p.smtp_line, p.max_recipients), (300_000, 1000, 100));
}

#[test]
fn recipient_checks_hold_the_reply_until_the_driver_decides() {
    let mut p = policy();
    p.check_recipients = true;
    let mut d = Driver::with(p);
    d.send(b"EHLO client.example\r\nMAIL FROM:<bob@example.net>\r\n");
    d.replies.clear();
    // Pipelined: the second RCPT and DATA wait while the first is judged.
    d.send(b"RCPT TO:<alice+x@example.org>\r\nRCPT TO:<info@example.org>\r\nDATA\r\n");
    let check = RecipientCheck {
        mail_from: "bob@example.net".into(),
        rcpt: "alice+x@example.org".into(),
        helo: "client.example".into(),
    };
    assert_eq!(d.events, vec![Event::CheckRecipient(check)]);
    assert_eq!(d.text(), "", "no reply before the verdict");
    d.events.clear();
    d.s.recipient_checked(RecipientVerdict::Defer("Greylisted, please try again in 300 seconds".into()));
    d.send(b"RCPT TO:<info@example.org>\r\nDATA\r\n");
    assert!(d.text().starts_with("451 4.7.1 Greylisted, please try again in 300 seconds\r\n"), "{}", d.text());
    assert!(matches!(d.events.as_slice(), [Event::CheckRecipient(c)] if c.rcpt == "info@example.org"));
    d.events.clear();
    d.s.recipient_checked(RecipientVerdict::Accept);
    d.send(b"");
    assert!(d.text().contains("250 2.1.5"), "{}", d.text());
    // A refusal is 554 5.7.1 with the driver's text, control characters dropped.
    d.replies.clear();
    d.send(b"RSET\r\nMAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.org>\r\n");
    d.s.recipient_checked(RecipientVerdict::Refuse("Client host 192.0.2.1 blocked using bl.test\r\n250 ok".into()));
    d.send(b"");
    assert!(d.text().ends_with("554 5.7.1 Client host 192.0.2.1 blocked using bl.test250 ok\r\n"), "{}", d.text());
    // Unknown users are refused as before, never asked about.
    let mut p = policy();
    p.check_recipients = true;
    let mut d = Driver::with(p);
    d.send(b"EHLO c\r\nMAIL FROM:<bob@example.net>\r\nRCPT TO:<unknown@example.org>\r\n");
    assert!(d.events.iter().all(|e| !matches!(e, Event::CheckRecipient(_))), "unknown users are refused, not checked");
}

#[test]
fn reply_line_drops_controls_and_cuts_long_text() {
    assert_eq!(reply::line(554, "5.7.1", "a\r\nb\tc"), b"554 5.7.1 abc\r\n");
    let long = "é".repeat(3000);
    let r = reply::line(451, "4.7.1", &long);
    assert!(r.len() <= 512 && r.ends_with(b"\r\n"), "{}", r.len());
    assert!(String::from_utf8(r).is_ok(), "cut on a character boundary");
}
