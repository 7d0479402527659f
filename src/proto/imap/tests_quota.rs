//! RFC 9208 QUOTA transcripts against the in-memory store: GETQUOTA, GETQUOTAROOT,
//! SETQUOTA refused, limits from the config and the device's free space, APPEND,
//! MULTIAPPEND and COPY over quota (BAD-INPUTS 107).

use std::sync::Arc;

use super::api::{ImapPolicy, PeerInfo};
use super::session::Session;
use super::tests::{H, MULTI, NESTED, SIMPLE};

fn with_quota(storage: u64, messages: u64) -> H {
    let mut h = H::new();
    let policy = ImapPolicy { quota_storage: storage, quota_messages: messages, ..ImapPolicy::default() };
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: true };
    h.s = Session::new(Arc::new(policy), peer, 0);
    h.run(b"");
    h.login();
    h
}

fn used() -> usize {
    SIMPLE.len() + MULTI.len() + NESTED.len()
}

#[test]
fn getquota_and_getquotaroot() {
    let mut h = with_quota(100 * 1024, 10);
    let out = h.run(b"a CAPABILITY\r\n");
    assert!(out.contains(" QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE"), "{out}");
    let kib = used().div_ceil(1024);
    let out = h.run(b"b GETQUOTAROOT INBOX\r\n");
    let want = format!("* QUOTAROOT \"INBOX\" \"\"\r\n* QUOTA \"\" (STORAGE {kib} 100 MESSAGE 3 10)\r\nb OK");
    assert!(out.starts_with(&want), "{out}");
    let out = h.run(b"c GETQUOTA \"\"\r\n");
    assert!(out.starts_with(&format!("* QUOTA \"\" (STORAGE {kib} 100 MESSAGE 3 10)\r\nc OK")), "{out}");
    assert!(h.run(b"d GETQUOTA other\r\n").starts_with("d NO [NONEXISTENT]"));
    assert!(h.run(b"e GETQUOTAROOT Nope\r\n").starts_with("e NO [NONEXISTENT]"));
    assert!(h.run(b"f SETQUOTA \"\" (STORAGE 512)\r\n").starts_with("f NO [CANNOT]"));
    assert!(h.run(b"g GETQUOTA\r\n").starts_with("g BAD"));
}

#[test]
fn no_limits_configured_reports_the_device() {
    let mut h = with_quota(0, 0);
    let out = h.run(b"a GETQUOTA \"\"\r\n");
    assert!(out.starts_with("* QUOTA \"\" ()\r\na OK"), "{out}");
    // The device has 10 KiB left: STORAGE is what is used plus that.
    h.store.free = Some(10 * 1024);
    let out = h.run(b"b GETQUOTA \"\"\r\n");
    let total = (used() + 10 * 1024) / 1024;
    assert!(out.starts_with(&format!("* QUOTA \"\" (STORAGE {} {total})", used().div_ceil(1024))), "{out}");
    // ... and a configured limit above the device's room is not the one reported.
    let mut h = with_quota(1 << 30, 0);
    h.store.free = Some(10 * 1024);
    assert!(h.run(b"c GETQUOTA \"\"\r\n").contains(&format!(" {total})")));
    // An APPEND larger than the device's room is refused before its literal.
    let out = h.run(b"d APPEND INBOX {20000}\r\n");
    assert_eq!(out, "d NO [OVERQUOTA] Storage quota exceeded\r\n");
}

#[test]
fn bad_input_107_quota_exhaustion_during_append_and_copy() {
    let mut h = with_quota(used() as u64 + 100, 5);
    // 100 bytes left: 60 fit, 60 more do not (the literal is never asked for).
    assert!(h.run(b"a APPEND INBOX {60+}\r\n").is_empty());
    assert!(h.run(&[b'x'; 60]).is_empty());
    assert!(h.run(b"\r\n").contains("a OK [APPENDUID"));
    let out = h.run(b"b APPEND INBOX {60}\r\n");
    assert_eq!(out, "b NO [OVERQUOTA] Storage quota exceeded\r\n");
    // A MULTIAPPEND whose second message passes the limit stores neither.
    let out = h.run(b"c APPEND INBOX {10+}\r\n0123456789 {31+}\r\n0123456789012345678901234567890\r\nd NOOP\r\n");
    assert!(out.contains("c NO [OVERQUOTA]") && out.contains("d OK"), "{out}");
    assert!(h.run(b"e STATUS INBOX (MESSAGES)\r\n").contains("(MESSAGES 4)"));
    // Message limit 5: one more fits, a COPY of two does not; MOVE adds nothing.
    h.run(b"f SELECT INBOX\r\n");
    assert!(h.run(b"g COPY 1:2 Archive\r\n").starts_with("g NO [OVERQUOTA] Message quota exceeded"));
    assert!(h.run(b"h MOVE 1:2 Archive\r\n").contains("h OK"));
    assert!(h.run(b"i APPEND INBOX {1+}\r\nx\r\n").contains("i OK"));
    assert!(h.run(b"j APPEND INBOX {1+}\r\nx\r\n").contains("j NO [OVERQUOTA] Message quota"));
}
