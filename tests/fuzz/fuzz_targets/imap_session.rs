//! Fuzz target: the IMAP server core (framer with literals, parser, session state machine,
//! FETCH/SEARCH/STORE against the in-memory store) on arbitrary bytes in arbitrary chunks.
//! The first byte picks the chunk size and whether the session starts logged in (bit 7:
//! LOGIN alice/secret is fed first, so the fuzzer reaches the authenticated and selected
//! states without having to guess credentials). Must never panic; every reply chunk is
//! bounded (RFC 3501 §7; `OUTPUT_CHUNK`) and `feed` never takes more than it buffers.
#![no_main]
use std::sync::Arc;

use letterbox::proto::imap::{flag, AuthOutcome, Event, ImapPolicy, MemStore, PeerInfo, Session, INPUT_MAX, OUTPUT_CHUNK};
use libfuzzer_sys::fuzz_target;

const SIMPLE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Hello\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <1@x>\r\n\r\nHello world\r\n";
const MULTI: &[u8] = b"From: a@b\r\nSubject: multi\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nplain\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d\r\nSubject: inner\r\n\r\ninner\r\n--o--\r\n";

fn drive(s: &mut Session, store: &mut MemStore, now: u64) -> bool {
    // Bounded: every write event is answered at once, so the loop ends when input runs out.
    for _ in 0..100_000 {
        let Some(ev) = s.poll(now, store) else { return true };
        match ev {
            Event::Reply(b) => assert!(b.len() <= OUTPUT_CHUNK + 64 * 1024, "reply chunk of {} bytes", b.len()),
            Event::Close => return false,
            Event::StartTls => s.tls_started(),
            Event::CheckCredentials { user, pass } => {
                let ok = user == "alice" && pass.expose() == b"secret";
                s.auth_result(if ok { AuthOutcome::Ok } else { AuthOutcome::Bad });
            }
            other => store.apply(&other, s),
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else { return };
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: true, tls_available: true };
    let policy = ImapPolicy { literal_max: 4096, message_max: 8192, ..ImapPolicy::default() };
    let mut s = Session::new(Arc::new(policy), peer, 0);
    let mut store = MemStore::new(&["INBOX", "Archive", "Entwürfe"]);
    store.deliver("INBOX", SIMPLE, 0, 1_057_049_557);
    store.deliver("INBOX", MULTI, flag::SEEN, 1_057_049_600);
    store.deliver("Archive", SIMPLE, flag::FLAGGED, 1_100_000_000);
    let mut now = 0u64;
    if !drive(&mut s, &mut store, now) {
        return;
    }
    let login: &[u8] = if ctl & 0x80 != 0 { b"L LOGIN alice secret\r\n" } else { b"" };
    let chunk = usize::from(ctl & 0x3f) + 1;
    for piece in login.chunks(64).chain(input.chunks(chunk)) {
        let mut rest = piece;
        let mut stuck = 0;
        while !rest.is_empty() {
            let n = s.feed(rest);
            assert!(n <= rest.len() && n <= INPUT_MAX);
            rest = &rest[n..];
            now += 250;
            if !drive(&mut s, &mut store, now) {
                return;
            }
            stuck = if n == 0 { stuck + 1 } else { 0 };
            if stuck > 4 {
                // The core stopped taking input (a write pending forever would be a bug, but
                // a full buffer with no complete frame is not): give up on this input.
                return;
            }
        }
    }
});
