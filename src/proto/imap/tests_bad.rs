//! One test per IMAP item of /work/shared/BAD-INPUTS.md (28-40).

use std::sync::Arc;

use super::api::{Event, ImapPolicy, PeerInfo, MIN_AUTOLOGOUT_MS};
use super::framer::INPUT_MAX;
use super::memstore::MemStore;
use super::reader::P;
use super::session::Session;
use super::tests::H;
use super::types::SEQ_RANGES_MAX;
use super::OUTPUT_CHUNK;

#[test]
fn bad_input_28_huge_literal_length_refused_before_allocating() {
    let mut h = H::new();
    for line in [&b"a LOGIN {4294967295}\r\n"[..], b"a LOGIN {99999999999999999999}\r\n", b"a LOGIN {2000}\r\n"] {
        let out = h.run(line);
        assert_eq!(out, "a BAD [TOOBIG] Literal too large or malformed\r\n");
        assert_eq!(h.s.framer.buffered(), 0);
    }
    // The small pre-login limit (imap_literal_prelogin = 1 KiB) still allows credentials.
    assert_eq!(h.run(b"b LOGIN {5}\r\n"), "+ Ready for literal data\r\n");
    assert!(h.run(b"alice secret\r\n").starts_with("b OK"));
    // After login the literal limit is imap_literal, APPEND uses message_size.
    assert!(h.run(b"c LOGIN {4294967295}\r\n").starts_with("c BAD [TOOBIG]"));
    assert!(h.run(b"d APPEND INBOX {4294967295}\r\n").starts_with("d BAD [TOOBIG]"));
}

#[test]
fn bad_input_29_many_literals_capped_in_count_and_bytes() {
    let mut h = H::new();
    h.login();
    let mut cmd = b"a SEARCH".to_vec();
    let mut out = String::new();
    for _ in 0..20 {
        cmd.extend_from_slice(b" SUBJECT {1}\r\n");
        out = h.run(&cmd);
        cmd.clear();
        cmd.push(b'x');
        if out.contains("BAD") {
            break;
        }
    }
    assert!(out.contains("a BAD [TOOBIG]"), "{out}");
    // Total bytes: five 60 KiB literals exceed COMMAND_LITERAL_TOTAL_MAX (256 KiB).
    let mut h = H::new();
    h.login();
    let chunk = vec![b'x'; 60 * 1024];
    let mut out = h.run(b"b SEARCH TEXT {61440}\r\n");
    for _ in 0..4 {
        h.run(&chunk);
        out = h.run(b" TEXT {61440}\r\n");
    }
    assert!(out.contains("b BAD [TOOBIG]"), "{out}");
}

#[test]
fn bad_input_30_oversized_nonsync_literal_never_parsed_as_commands() {
    let mut h = H::new();
    let mut input = b"a LOGIN {5000+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b"b LOGOUT\r\n".as_slice(), 500).flatten());
    let out = h.run(&input);
    assert!(out.starts_with("a BAD [TOOBIG]") && out.contains("* BYE"), "{out}");
    assert!(!out.contains("b OK") && h.closed);
}

#[test]
fn bad_input_31_deep_nesting_capped() {
    let mut h = H::new();
    h.select();
    let deep = "(".repeat(30_000);
    for cmd in [
        format!("a SEARCH {deep}ALL\r\n"),
        format!("b SELECT INBOX {deep}\r\n"),
        format!("c ID {deep}\r\n"),
        format!("d SEARCH {}ALL\r\n", "NOT ".repeat(10_000)),
    ] {
        let out = h.run(cmd.as_bytes());
        assert!(out.contains(" BAD "), "{}", out.get(..80).unwrap_or(&out));
    }
    assert!(!h.closed);
}

#[test]
fn bad_input_32_nul_in_quoted_string_is_bad() {
    let mut h = H::new();
    assert!(h.run(b"a LOGIN \"al\0ice\" secret\r\n").starts_with("a BAD"));
    assert!(h.run(b"b LOGIN {5}\r\n").starts_with('+'));
    assert!(h.run(b"al\0ce secret\r\n").starts_with("b BAD"));
}

#[test]
fn bad_input_33_path_like_and_control_mailbox_names_are_no() {
    let mut h = H::new();
    h.login();
    for name in ["..", "../x", "/etc", "a/./b", "a//b", "x/", "\"a\x01b\"", "\"a\x7fb\""] {
        let out = h.run(format!("a SELECT {name}\r\n").as_bytes());
        assert!(out.starts_with("a NO"), "{name}: {out}");
        let out = h.run(format!("b STATUS {name} (MESSAGES)\r\n").as_bytes());
        assert!(out.starts_with("b NO"), "{name}: {out}");
        let out = h.run(format!("c APPEND {name} {{1}}\r\n").as_bytes());
        assert!(out.starts_with("c NO"), "{name}: {out}");
    }
}

#[test]
fn bad_input_34_invalid_mutf7_is_no_and_round_trips() {
    let mut h = H::new();
    h.login();
    for name in ["&Jjo", "&AGE-", "&-&", "&U,BTFw", "&2D3dHQ-", "\"\u{e9}t\u{e9}\""] {
        let out = h.run(format!("a SELECT {name}\r\n").as_bytes());
        assert!(out.starts_with("a NO"), "{name}: {out}");
    }
    let list = h.run(b"l LIST \"\" Entw*\r\n");
    assert!(list.contains("\"Entw&APw-rfe\""), "{list}");
    assert!(h.run(b"s SELECT Entw&APw-rfe\r\n").contains("s OK"));
}

#[test]
fn bad_input_35_huge_sets_no_overflow_no_expansion() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"a FETCH 1:4294967295 UID\r\n");
    assert_eq!(out.matches("FETCH (UID").count(), 3, "{out}");
    let out = h.run(b"b UID FETCH 4294967295:* UID\r\nc FETCH 0 UID\r\nd FETCH 4294967296 UID\r\n");
    assert!(out.contains("* 3 FETCH (UID 3)\r\nb OK") && out.contains("c BAD") && out.contains("d BAD"), "{out}");
    let out = h.run(b"e STORE 1:4294967295 +FLAGS.SILENT (x)\r\nf SEARCH 4294967295,1:4294967295\r\n");
    assert!(out.contains("e OK") && out.contains("* SEARCH 1 2 3"), "{out}");
    // 10k ranges in one command line (< 64 KiB); only ranges are stored.
    let set: Vec<String> = (1..=10_000u32).map(|i| (i * 7).to_string()).collect();
    let out = h.run(format!("g FETCH {} UID\r\n", set.join(",")).as_bytes());
    assert!(out.ends_with("g OK FETCH completed\r\n"), "{out}");
    // 100k items: refused at the range cap, never expanded.
    let big: Vec<String> = (1..=100_000u32).map(|i| i.to_string()).collect();
    let text = big.join(",");
    assert!(P::new(text.as_bytes()).sequence_set().is_err());
    let ok = big.get(..SEQ_RANGES_MAX).map(|v| v.join(",")).unwrap_or_default();
    let set = P::new(ok.as_bytes()).sequence_set();
    assert_eq!(set.map(|s| s.normalize(u32::MAX, false)), Ok(vec![(1, SEQ_RANGES_MAX as u32)]));
}

#[test]
fn bad_input_36_fetch_body_streams_with_backpressure() {
    let mut store = MemStore::new(&["INBOX"]);
    let body = vec![b'a'; 1 << 20];
    for _ in 0..20 {
        store.deliver("INBOX", &body, 0, 0);
    }
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: false };
    let mut s = Session::new(Arc::new(ImapPolicy::default()), peer, 0);
    s.feed(b"a LOGIN alice secret\r\n");
    while let Some(ev) = s.poll(0, &mut store) {
        if let Event::CheckCredentials { .. } = ev {
            s.auth_result(super::AuthOutcome::Ok);
        }
    }
    s.feed(b"b SELECT INBOX\r\nc FETCH 1:* BODY.PEEK[]\r\n");
    let (mut total, mut polls) = (0usize, 0usize);
    while let Some(ev) = s.poll(0, &mut store) {
        let Event::Reply(bytes) = ev else { continue };
        // Each event is bounded, and nothing piles up behind it: the driver polls only
        // after writing, so a client that stops reading stops the job.
        assert!(bytes.len() <= OUTPUT_CHUNK + 1024, "{}", bytes.len());
        assert!(s.out.len() <= 1);
        total += bytes.len();
        polls += 1;
        if polls == 10 {
            assert!(store.reads <= 12, "{}", store.reads);
        }
    }
    assert!(total > 20 << 20 && polls > 1000);
    assert!(s.deadline().is_some(), "a stalled reader still hits the autologout");
}

#[test]
fn bad_input_37_idle_autologout_at_least_30_minutes() {
    let policy = ImapPolicy { autologout_ms: 1_000, ..ImapPolicy::default() };
    let policy = Arc::new(policy.checked());
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: false };
    let mut store = MemStore::new(&["INBOX"]);
    let mut s = Session::new(policy, peer, 0);
    s.feed(b"a LOGIN alice secret\r\n");
    while let Some(ev) = s.poll(0, &mut store) {
        if let Event::CheckCredentials { .. } = ev {
            s.auth_result(super::AuthOutcome::Ok);
        }
    }
    s.feed(b"b SELECT INBOX\r\nc IDLE\r\n");
    while s.poll(0, &mut store).is_some() {}
    assert!(s.deadline() >= Some(MIN_AUTOLOGOUT_MS));
    assert!(s.poll(MIN_AUTOLOGOUT_MS - 1, &mut store).is_none());
    let Some(Event::Reply(bye)) = s.poll(MIN_AUTOLOGOUT_MS, &mut store) else { panic!("no BYE") };
    assert!(bye.starts_with(b"* BYE"));
    assert!(matches!(s.poll(MIN_AUTOLOGOUT_MS, &mut store), Some(Event::Close)));
}

#[test]
fn bad_input_38_starttls_discards_pipelined_plaintext() {
    let mut h = H::with("192.0.2.9", false, true);
    h.auto_tls = false;
    let out = h.run(b"a STARTTLS\r\nb LOGIN alice secret\r\n");
    assert_eq!(out, "a OK Begin TLS negotiation now\r\n");
    assert_eq!(h.s.feed(b"c LOGOUT\r\n"), 10, "bytes during the handshake are dropped");
    h.s.tls_started();
    let out = h.run(b"d CAPABILITY\r\n");
    assert_eq!(out.matches(" OK").count(), 1, "{out}");
    assert!(out.contains("AUTH=PLAIN") && !out.contains("STARTTLS") && !h.closed, "{out}");
    assert!(h.run(b"e STARTTLS\r\n").starts_with("e BAD"));
}

#[test]
fn bad_input_39_append_dropped_mid_literal_leaves_no_message() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND INBOX {100}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    h.run(&[b'x'; 50]);
    assert!(h.events.iter().any(|e| e.starts_with("AppendStarted")));
    assert!(h.events.iter().any(|e| e.starts_with("AppendData")));
    assert!(!h.events.iter().any(|e| e.starts_with("AppendEnded")));
    // The connection drops here: the session is simply dropped.
    drop(h.s);
    let mut store = h.store;
    let snap = super::Mailstore::open(&mut store, "INBOX").map(|s| s.uids.len());
    assert_eq!(snap, Ok(3));
    // A timeout mid-literal closes with AppendAborted.
    let mut h = H::new();
    h.login();
    h.run(b"b APPEND INBOX {100+}\r\nxx");
    h.now = MIN_AUTOLOGOUT_MS * 2;
    h.run(b"");
    assert!(h.closed && h.events.iter().any(|e| e.starts_with("AppendAborted")));
}

#[test]
fn bad_input_40_overlong_line_is_bad_and_closes() {
    let mut h = H::new();
    let mut line = b"a NOOP ".to_vec();
    line.resize(70 * 1024, b'x');
    let out = h.run(&line);
    assert!(out.starts_with("* BAD [TOOBIG]") && out.contains("* BYE") && h.closed, "{out}");
    assert!(h.s.framer.buffered() <= INPUT_MAX);
}
