//! Fuzz target: SORT and THREAD (RFC 5256) and ESEARCH/SEARCHRES (RFC 4731, RFC 5182) in the
//! IMAP core over a random folder. The input is split at NUL bytes: the first piece is the
//! argument text of one SORT or THREAD command (criteria parser, charset, search keys), each
//! other piece becomes a message whose Subject (with random Re:/Fwd:/[blob] leaders),
//! Message-ID, References, In-Reply-To and Date come from its bytes (duplicates, cycles and
//! self-references included). Must never panic; THREAD must name every message exactly once
//! and SORT must answer a permutation of the folder.
#![no_main]
use std::sync::Arc;

use letterbox::proto::imap::{AuthOutcome, Event, ImapPolicy, MemStore, PeerInfo, Session};
use libfuzzer_sys::fuzz_target;

/// Messages built per input (the folder stays small so each run is quick).
const MESSAGES_MAX: usize = 48;

const LEADERS: [&str; 8] = ["Re: ", "FWD: ", "fw:", "[list] ", "Re[2]: ", "[Fwd: ", " (fwd)", "re "];
const ZONES: [&str; 5] = ["+0000", "-1200", "+1400", "EST", "xyz"];

/// One message from its piece of input.
fn message(piece: &[u8]) -> Vec<u8> {
    let b = |i: usize| piece.get(i).copied().unwrap_or(0);
    let mut subject = String::new();
    for i in 0..usize::from(b(0) % 4) {
        subject.push_str(LEADERS[usize::from(b(1 + i)) % LEADERS.len()]);
    }
    subject.push_str(["plan", "", "x", "Plan"][usize::from(b(5) % 4)]);
    subject.push_str(&String::from_utf8_lossy(piece.get(12..).unwrap_or_default()).replace(['\r', '\n'], " "));
    let mut m = format!("Subject: {subject}\r\n");
    if b(6) % 8 != 0 {
        m.push_str(&format!("Message-ID: <{}@f>\r\n", b(6) % 32));
    }
    let refs: Vec<String> = (0..usize::from(b(7) % 5)).map(|i| format!("<{}@f>", b(8 + i) % 32)).collect();
    match b(7) >> 6 {
        0 => m.push_str(&format!("References: {}\r\n", refs.join(" "))),
        1 => m.push_str(&format!("In-Reply-To: {}\r\n", refs.first().map_or("<x>", String::as_str))),
        _ => {}
    }
    if b(11) % 4 != 0 {
        let zone = ZONES[usize::from(b(11)) % ZONES.len()];
        m.push_str(&format!("Date: {} Jan 2020 {:02}:{:02} {zone}\r\n", 1 + b(10) % 28, b(9) % 24, b(8) % 60));
    }
    m.push_str("From: a@b\r\n\r\nbody\r\n");
    m.into_bytes()
}

/// Polls until the session wants input; returns everything it wrote.
fn drive(s: &mut Session, store: &mut MemStore) -> String {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(ev) = s.poll(0, store) else { break };
        match ev {
            Event::Reply(b) => out.extend_from_slice(&b),
            Event::Close => break,
            Event::CheckCredentials { .. } => s.auth_result(AuthOutcome::Ok),
            other => store.apply(&other, s),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn run(s: &mut Session, store: &mut MemStore, line: &[u8]) -> String {
    let mut rest = line;
    let mut out = String::new();
    while !rest.is_empty() {
        let n = s.feed(rest);
        rest = &rest[n..];
        out.push_str(&drive(s, store));
        if n == 0 {
            break;
        }
    }
    out
}

/// The numbers of the untagged `name` line.
fn numbers(out: &str, name: &str) -> Vec<u32> {
    let line = out.lines().find(|l| l.starts_with(name)).unwrap_or("");
    let digits = line.trim_start_matches(name).replace(['(', ')'], " ");
    digits.split_whitespace().filter_map(|n| n.parse().ok()).collect()
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let args: Vec<u8> = pieces.next().unwrap_or_default().iter().copied().filter(|&c| c != b'\r' && c != b'\n').collect();
    let mut store = MemStore::new(&["INBOX"]);
    let mut count = 0u32;
    for (i, piece) in pieces.take(MESSAGES_MAX).enumerate() {
        store.deliver("INBOX", &message(piece), 0, 1_500_000_000 + i as i64);
        count += 1;
    }
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: true, tls_available: true };
    let mut s = Session::new(Arc::new(ImapPolicy::default()), peer, 0);
    drive(&mut s, &mut store);
    run(&mut s, &mut store, b"l LOGIN alice secret\r\ns SELECT INBOX\r\n");
    // The fuzzer's own command: SORT or THREAD, UID or not, by its first byte.
    let name = match args.first().copied().unwrap_or(0) % 4 {
        0 => "SORT",
        1 => "UID SORT",
        2 => "THREAD",
        _ => "UID THREAD",
    };
    let mut line = format!("f {name} ").into_bytes();
    line.extend_from_slice(args.get(1..).unwrap_or_default());
    line.extend_from_slice(b"\r\n");
    let out = run(&mut s, &mut store, &line);
    assert!(out.contains("f OK") || out.contains("f BAD") || out.contains("f NO"), "{out}");
    // Invariants over the whole folder.
    let all: Vec<u32> = (1..=count).collect();
    for alg in ["REFERENCES", "ORDEREDSUBJECT"] {
        let out = run(&mut s, &mut store, format!("t THREAD {alg} UTF-8 ALL\r\n").as_bytes());
        let mut got = numbers(&out, "* THREAD");
        got.sort_unstable();
        assert_eq!(got, all, "{alg}: {out}");
    }
    for key in ["SUBJECT", "REVERSE DATE", "DISPLAYFROM", "SIZE ARRIVAL"] {
        let out = run(&mut s, &mut store, format!("o SORT ({key}) UTF-8 ALL\r\n").as_bytes());
        let mut got = numbers(&out, "* SORT");
        got.sort_unstable();
        assert_eq!(got, all, "{key}: {out}");
    }
    let out = run(&mut s, &mut store, b"e SEARCH RETURN (SAVE MIN MAX COUNT) ALL\r\nr UID FETCH $ (FLAGS)\r\n");
    assert!(out.contains("r OK"), "{out}");
});
