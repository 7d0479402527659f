//! RFC 4469 CATENATE transcripts against the in-memory store (INBOX holds `SIMPLE`,
//! `MULTI`, `NESTED` as UIDs 1-3, UIDVALIDITY 1000): parts from URLs and TEXT literals,
//! BADURL and TOOBIG refusals leaving nothing appended, and the MULTIAPPEND form.

use std::sync::Arc;

use super::api::{ImapPolicy, PeerInfo};
use super::catenate::{parse_url, ImapUrl};
use super::session::Session;
use super::tests::{H, SIMPLE};
use super::*;

fn count(h: &mut H, folder: &str) -> usize {
    Mailstore::open(&mut h.store, folder).map_or(0, |s| s.uids.len())
}

fn simple_header() -> &'static [u8] {
    let end = SIMPLE.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    SIMPLE.get(..end).unwrap_or(&[])
}

#[test]
fn capability_names_catenate() {
    let mut h = H::new();
    assert!(h.run(b"a CAPABILITY\r\n").contains(" CATENATE"));
}

#[test]
fn rfc4469_example_header_url_then_text() {
    let mut h = H::new();
    h.login();
    // RFC 4469 §3 example shape: a URL to a header, then a new body as TEXT.
    let out = h.run(b"A003 APPEND Archive (\\Seen \\Draft $MDNSent) CATENATE (URL \"/INBOX;UIDVALIDITY=1000/;UID=1/;SECTION=HEADER\" TEXT {12}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(b"new body\r\n\r\n)\r\n");
    assert!(out.contains("A003 OK [APPENDUID "), "{out}");
    assert!(h.events.iter().filter(|e| e.starts_with("AppendStarted")).count() == 1);
    let out = h.run(b"s SELECT Archive\r\nf FETCH 1 BODY.PEEK[]\r\n");
    let mut want = simple_header().to_vec();
    want.extend_from_slice(b"new body\r\n\r\n");
    let text = String::from_utf8_lossy(&want);
    assert!(out.contains(&format!("BODY[] {{{}}}\r\n{text})", want.len())), "{out}");
}

#[test]
fn whole_message_section_of_part_and_partial() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND Archive CATENATE (URL \"/INBOX/;UID=1\")\r\n");
    assert!(out.contains("a OK [APPENDUID"), "{out}");
    let out = h.run(b"b APPEND Archive CATENATE (TEXT {4+}\r\nx: \n URL \"/INBOX/;uid=2/;section=1.1\")\r\n");
    assert!(out.contains("b OK"), "{out}");
    let out = h.run(b"c APPEND Archive CATENATE (URL \"/INBOX/;UID=1/;PARTIAL=6.5\")\r\n");
    assert!(out.contains("c OK"), "{out}");
    let out = h.run(b"s SELECT Archive\r\nf FETCH 1:3 BODY.PEEK[]\r\n");
    let whole = String::from_utf8_lossy(SIMPLE);
    assert!(out.contains(&format!("* 1 FETCH (BODY[] {{{}}}\r\n{whole})", SIMPLE.len())), "{out}");
    assert!(out.contains("* 2 FETCH (BODY[] {14}\r\nx: \nplain text)"), "{out}");
    assert!(out.contains("* 3 FETCH (BODY[] {5}\r\nAlice)"), "{out}");
}

#[test]
fn bad_urls_append_nothing() {
    let mut h = H::new();
    h.login();
    let before = count(&mut h, "Archive");
    for url in [
        "/INBOX;UIDVALIDITY=12345/;UID=1",
        "/INBOX/;UID=99",
        "/Nope/;UID=1",
        "/INBOX/;UID=1/;SECTION=9",
        "imap://mallory@example.com/INBOX/;UID=1",
        "/INBOX/;UID=1/;URLAUTH=anonymous",
        "/INBOX/;UID=0",
    ] {
        let cmd = format!("a APPEND Archive CATENATE (TEXT {{3+}}\r\nhi\n URL \"{url}\" TEXT {{3+}}\r\nyo\n)\r\n");
        let out = h.run(cmd.as_bytes());
        assert!(out.contains(&format!("a NO [BADURL \"{url}\"]")), "{url}: {out}");
    }
    assert_eq!(count(&mut h, "Archive"), before);
    assert!(!h.events.iter().any(|e| e.starts_with("AppendStarted")), "{:?}", h.events);
}

#[test]
fn url_mailbox_is_utf8_not_modified_utf7() {
    let mut h = H::new();
    h.login();
    assert!(h.run(b"a APPEND Entw&APw-rfe {3+}\r\nabc\r\n").contains("a OK"));
    let out = h.run(b"b APPEND Archive CATENATE (URL \"/Entw%C3%BCrfe/;UID=1\")\r\n");
    assert!(out.contains("b OK"), "{out}");
    let out = h.run(b"c APPEND Archive CATENATE (URL \"/Entw&APw-rfe/;UID=1\")\r\n");
    assert!(out.contains("c NO [BADURL"), "{out}");
}

#[test]
fn missing_folder_is_trycreate_before_urls() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND Nope CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")\r\n");
    assert!(out.contains("a NO [TRYCREATE]"), "{out}");
}

#[test]
fn too_big_by_urls_is_toobig() {
    let mut h = H::new();
    let policy = ImapPolicy { message_max: SIMPLE.len() as u64 + 5, ..ImapPolicy::default() };
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: true };
    h.s = Session::new(Arc::new(policy), peer, 0);
    h.run(b"");
    h.login();
    let out = h.run(b"a APPEND Archive CATENATE (URL \"/INBOX/;UID=1\" URL \"/INBOX/;UID=1\")\r\n");
    assert!(out.contains("a NO [TOOBIG]"), "{out}");
    assert_eq!(count(&mut h, "Archive"), 0);
    // A TEXT literal over the literal limit is refused by the framer before it is sent.
    let out = h.run(b"b APPEND Archive CATENATE (TEXT {99999999}\r\n");
    assert!(out.contains("b BAD [TOOBIG]"), "{out}");
}

#[test]
fn one_megabyte_url_is_refused_by_the_line_limit() {
    let mut h = H::new();
    h.login();
    let mut cmd = b"a APPEND Archive CATENATE (URL \"/INBOX/;UID=1/;SECTION=".to_vec();
    cmd.extend(std::iter::repeat_n(b'1', 1 << 20));
    cmd.extend_from_slice(b"\")\r\n");
    let out = h.run(&cmd);
    assert!(out.contains("BAD [TOOBIG]"), "{out}");
    assert_eq!(count(&mut h, "Archive"), 0);
}

#[test]
fn long_url_in_a_literal_is_badurl() {
    let mut h = H::new();
    h.login();
    let url = format!("/INBOX/;UID=1/;SECTION={}", "1.".repeat(3000));
    let cmd = format!("a APPEND Archive CATENATE (URL {{{}+}}\r\n{url})\r\n", url.len());
    let out = h.run(cmd.as_bytes());
    assert!(out.contains("a NO [BADURL"), "{out}");
    assert!(out.len() < 2000, "the reply quotes a bounded URL");
}

#[test]
fn multiappend_with_catenate_is_one_commit() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a APPEND Archive CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {3+}\r\nb1\n) (\\Seen) CATENATE (URL \"/INBOX/;UID=1\") {3+}\r\nb3\n\r\n");
    assert!(out.contains("a OK [APPENDUID 1000 1:3]") || out.contains("a OK [APPENDUID"), "{out}");
    assert_eq!(count(&mut h, "Archive"), 3);
    assert_eq!(h.events.iter().filter(|e| e.starts_with("AppendEnded")).count(), 1);
    // One bad URL in the second message: nothing of the first is appended either.
    let out = h.run(b"b APPEND Archive CATENATE (TEXT {3+}\r\nok\n) CATENATE (URL \"/INBOX/;UID=77\")\r\n");
    assert!(out.contains("b NO [BADURL"), "{out}");
    assert_eq!(count(&mut h, "Archive"), 3);
}

#[test]
fn referenced_bytes_stream_in_chunks() {
    let mut h = H::new();
    h.login();
    let big: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut msg = b"Subject: big\r\n\r\n".to_vec();
    msg.extend_from_slice(&big);
    let uid = h.store.deliver("INBOX", &msg, 0, 0);
    let cmd = format!("a APPEND Archive CATENATE (URL \"/INBOX/;UID={uid}/;SECTION=TEXT\")\r\n");
    let out = h.run(cmd.as_bytes());
    assert!(out.contains("a OK"), "{out}");
    let chunks = h.events.iter().filter(|e| e.starts_with("AppendData")).count();
    assert!(chunks >= 3, "40 KB in chunks of at most {CATENATE_CHUNK}: {chunks}");
    let out = h.run(b"s SELECT Archive\r\nf FETCH 1 BODY.PEEK[]\r\n");
    assert!(out.contains(&format!("BODY[] {{{}}}\r\n{}", big.len(), String::from_utf8_lossy(&big))));
}

#[test]
fn url_grammar() {
    let u = parse_url(b"/a%20b;UIDVALIDITY=7/;UID=3/;SECTION=1.HEADER/;PARTIAL=0.10");
    let want = ImapUrl {
        mailbox: b"a b".to_vec(),
        uidvalidity: Some(7),
        uid: 3,
        section: Some("1.HEADER".into()),
        partial: Some((0, 10)),
    };
    assert_eq!(u, Some(want));
    for bad in [
        &b"INBOX/;UID=1"[..],
        b"/INBOX/;UID=",
        b"/INBOX/;UID=1/;FOO=2",
        b"/INBOX/;UID=1/;PARTIAL=1.0",
        b"/IN%ZZ/;UID=1",
    ] {
        assert_eq!(parse_url(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn message_expunged_while_streaming_aborts_the_append() {
    let mut h = H::new();
    h.login();
    let big: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let uid = h.store.deliver("INBOX", &[b"Subject: big\r\n\r\n".as_slice(), &big].concat(), 0, 0);
    let cmd = format!("a APPEND Archive CATENATE (TEXT {{2+}}\r\nhi URL \"/INBOX/;UID={uid}\")\r\n");
    assert_eq!(h.s.feed(cmd.as_bytes()), cmd.len());
    // Poll by hand: the check passed, the first chunks are out, then the message goes.
    let mut seen = Vec::new();
    for _ in 0..3 {
        match h.s.poll(0, &mut h.store) {
            Some(ev) => seen.push(format!("{ev:?}").chars().take(20).collect::<String>()),
            None => break,
        }
    }
    assert!(seen.first().is_some_and(|e| e.starts_with("AppendStarted")), "{seen:?}");
    assert!(h.store.expunge("INBOX", &[uid]).is_ok());
    let mut out = String::new();
    let mut aborted = false;
    while let Some(ev) = h.s.poll(0, &mut h.store) {
        match ev {
            Event::Reply(b) => out.push_str(&String::from_utf8_lossy(&b)),
            Event::AppendAborted => aborted = true,
            Event::AppendEnded => panic!("committed a message whose part is gone"),
            _ => {}
        }
    }
    assert!(aborted && out.contains(&format!("a NO [BADURL \"/INBOX/;UID={uid}\"]")), "{out}");
    assert_eq!(count(&mut h, "Archive"), 0);
}
