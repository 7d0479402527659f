//! RFC 3502 MULTIAPPEND transcripts (and RFC 8438 STATUS=SIZE advertised), against the
//! in-memory store: all messages or none.

use std::sync::Arc;

use super::api::{ImapPolicy, PeerInfo};
use super::multiappend::{next_message, uid_set};
use super::session::Session;
use super::tests::H;
use super::*;

fn inbox_count(h: &mut H) -> usize {
    Mailstore::open(&mut h.store, "INBOX").map_or(0, |s| s.uids.len())
}

/// A logged-in harness whose APPEND limit is `message_max` bytes.
fn small_limit(message_max: u64) -> H {
    let mut h = H::new();
    let policy = ImapPolicy { message_max, ..ImapPolicy::default() };
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: true };
    h.s = Session::new(Arc::new(policy), peer, 0);
    h.run(b"");
    h.login();
    h
}

#[test]
fn capabilities_name_multiappend_and_status_size() {
    let mut h = H::new();
    let out = h.run(b"a CAPABILITY\r\n");
    assert!(out.contains(" MULTIAPPEND") && out.contains(" STATUS=SIZE"), "{out}");
    h.login();
    let out = h.run(b"b STATUS INBOX (MESSAGES SIZE)\r\n");
    let size = SIMPLE_LEN + super::tests::MULTI.len() + super::tests::NESTED.len();
    assert!(out.contains(&format!("(MESSAGES 3 SIZE {size})")), "{out}");
}

const SIMPLE_LEN: usize = super::tests::SIMPLE.len();

#[test]
fn rfc3502_example_three_messages_one_commit() {
    let mut h = H::new();
    h.select();
    // RFC 3502 §6.3.11 example shape: synchronizing literals, each with its own options.
    let out = h.run(b"A003 APPEND INBOX (\\Seen) \"7-Feb-1994 21:52:25 -0800\" {5}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(b"hello (\\Flagged) {5}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    assert_eq!(inbox_count(&mut h), 3, "nothing is stored before the command ends");
    let out = h.run(b"world {3}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(b"abc\r\n");
    assert!(out.contains("* 6 EXISTS") && out.contains("A003 OK [APPENDUID 1000 4:6] APPEND completed"), "{out}");
    assert_eq!(h.events.iter().filter(|e| e.starts_with("AppendStarted")).count(), 3);
    assert_eq!(h.events.iter().filter(|e| e.starts_with("AppendEnded")).count(), 1);
    let out = h.run(b"b FETCH 4:6 (FLAGS BODY.PEEK[])\r\n");
    assert!(out.contains("* 4 FETCH (FLAGS (\\Seen) BODY[] {5}\r\nhello)"), "{out}");
    assert!(out.contains("* 5 FETCH (FLAGS (\\Flagged) BODY[] {5}\r\nworld)"), "{out}");
    assert!(out.contains("* 6 FETCH (FLAGS () BODY[] {3}\r\nabc)"), "{out}");
}

#[test]
fn multiappend_with_nonsync_literals_in_one_write() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND Archive {2+}\r\nab {2+}\r\ncd \"01-Jan-2020 00:00:00 +0000\" {2+}\r\nef\r\nb NOOP\r\n");
    assert!(out.starts_with("a OK [APPENDUID 1001 1:3]") && out.contains("b OK"), "{out}");
    assert!(!out.contains('+'), "no continuation for LITERAL+: {out}");
}

#[test]
fn bad_input_106_third_literal_over_limit_appends_none() {
    let mut h = small_limit(10);
    let out = h.run(b"a APPEND INBOX {3}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    h.run(b"one {3}\r\n");
    let out = h.run(b"two {11}\r\n");
    assert_eq!(out, "a NO [TOOBIG] Message too large\r\n");
    assert!(h.events.iter().any(|e| e.starts_with("AppendAborted")));
    assert_eq!(inbox_count(&mut h), 3);
    // The client sends no literal after the NO; the session goes on with commands.
    assert!(h.run(b"b NOOP\r\n").contains("b OK"));
    // A non-synchronizing one is read and dropped: its bytes are never taken as commands.
    let out = h.run(b"c APPEND INBOX {3+}\r\none {3+}\r\ntwo {12+}\r\nd LOGOUT\r\nxx\r\ne NOOP\r\n");
    assert!(out.contains("c NO [TOOBIG]") && out.contains("e OK") && !h.closed, "{out}");
    assert_eq!(inbox_count(&mut h), 3);
}

#[test]
fn bad_input_106_refused_nonsync_multiappend_is_skipped_whole() {
    let mut h = H::new();
    h.login();
    // The first message names a missing folder: every later {N+} literal is skipped too.
    let out = h.run(b"c APPEND Nope {1+}\r\nx {18+}\r\nd DELETE Archive\r\n {3+}\r\nabc\r\ne NOOP\r\n");
    assert!(out.contains("c NO [TRYCREATE]") && out.contains("e OK"), "{out}");
    assert!(!out.contains("d "), "literal bytes ran as a command: {out}");
    assert!(h.run(b"f STATUS Archive (MESSAGES)\r\n").contains("(MESSAGES 0)"));
}

#[test]
fn bad_input_106_client_gone_mid_multiappend_appends_none() {
    let mut h = H::new();
    h.login();
    h.run(b"a APPEND INBOX {3+}\r\none {3+}\r\ntwo {100+}\r\nxx");
    assert_eq!(h.events.iter().filter(|e| e.starts_with("AppendStarted")).count(), 3);
    assert!(!h.events.iter().any(|e| e.starts_with("AppendEnded")));
    drop(h.s);
    let mut store = h.store;
    assert_eq!(Mailstore::open(&mut store, "INBOX").map(|s| s.uids.len()), Ok(3));
}

#[test]
fn bad_syntax_or_too_many_messages_abort_the_command() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND INBOX {1+}\r\nx (\\Bogus) {1+}\r\ny\r\nb NOOP\r\n");
    assert!(out.contains("a BAD") && out.contains("b OK"), "{out}");
    let out = h.run(b"c APPEND INBOX {1+}\r\nx garbage\r\nd NOOP\r\n");
    assert!(out.contains("c BAD") && out.contains("d OK"), "{out}");
    let mut cmd = b"e APPEND INBOX {1+}\r\nx".to_vec();
    for _ in 0..APPEND_MESSAGES_MAX {
        cmd.extend_from_slice(b" {1+}\r\nx");
    }
    cmd.extend_from_slice(b"\r\nf NOOP\r\n");
    let out = h.run(&cmd);
    assert!(out.contains("e NO [LIMIT]") && out.contains("f OK"), "{out}");
    assert_eq!(inbox_count(&mut h), 3);
}

#[test]
fn utf8_form_in_later_messages() {
    let mut h = H::new();
    h.login();
    h.run(b"a ENABLE UTF8=ACCEPT\r\n");
    let out = h.run(b"b APPEND INBOX UTF8 (~{2+}\r\nab) UTF8 (~{2+}\r\ncd) {2+}\r\nef\r\n");
    assert!(out.contains("b OK [APPENDUID 1000 4:6]"), "{out}");
}

#[test]
fn next_message_grammar_and_uid_sets() {
    assert!(next_message(b" {3}\r\n").is_ok());
    let m = next_message(b" (\\Seen kw) \"01-Jan-2020 00:00:00 +0000\" {3+}\r\n");
    assert_eq!(m.map(|m| (m.flags.len(), m.date)), Ok((2, Some(1_577_836_800))));
    assert!(next_message(b" UTF8 (~{3}\r\n").is_ok_and(|m| m.utf8));
    assert!(next_message(b"{3}\r\n").is_err());
    assert!(next_message(b" {3} x\r\n").is_err());
    assert_eq!(uid_set(&[4, 5, 6, 9, 11, 12]), "4:6,9,11:12");
    assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    assert_eq!(uid_set(&[]), "");
}
