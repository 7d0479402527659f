//! Unit tests: SEARCH on decoded text (issue 19) against the in-memory store.

use super::api::Event;
use super::search::{BADCHARSET, SEARCH_STEP_BYTES};
use super::tests::H;

const B64_LATIN1: &[u8] = b"Subject: =?ISO-8859-1?Q?R=E9sum=E9?=\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\nTGUgY2Fm6SBlc3QgcHLqdC4=\r\n";
const HTML_QP: &[u8] = b"Subject: html\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=C3=9Cbersicht &amp; Pl=\r\nan</p><script>var hidden=3D1;</script>\r\n";
const ATTACHED: &[u8] = b"Subject: att\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0*=utf-8''%C3%84rger;\r\n filename*1=\".zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n\r\nnested body\r\n--b--\r\n";

fn searched(h: &mut H, key: &str) -> String {
    let out = h.run(format!("s SEARCH {key}\r\n").as_bytes());
    assert!(out.ends_with("s OK SEARCH completed\r\n"), "{key}: {out}");
    out.lines().next().unwrap_or("").trim_start_matches("* SEARCH").trim().to_owned()
}

fn harness() -> H {
    let mut h = H::new();
    for m in [B64_LATIN1, HTML_QP, ATTACHED] {
        h.store.deliver("INBOX", m, 0, 1_100_000_000);
    }
    h.select();
    h
}

#[test]
fn body_and_text_search_decoded_parts() {
    let mut h = harness();
    // Messages 1-3 are tests::H's own; 4-6 the ones above.
    let cases = [
        ("BODY \"CAFÉ EST PRÊT\"", "4"),
        ("BODY TGUgY2Fm", ""),
        ("SUBJECT \"résumé\"", "4"),
        ("TEXT \"RÉSUMÉ\"", "4"),
        ("BODY \"résumé\"", ""),
        ("BODY \"übersicht & plan\"", "5"),
        ("BODY hidden", ""),
        ("BODY amp", ""),
        ("BODY \"ärger.zip\"", "6"),
        ("BODY \"привет\"", "6"),
        ("BODY \"NESTED body\"", "6"),
        ("BODY UEsDBA", ""),
        ("TEXT \"Subject: att\"", "6"),
        ("BODY \"SECOND line\"", "1"),
        // A line break reads as a space; runs of white space as one.
        ("BODY \"world  second\"", "1"),
    ];
    for (key, want) in cases {
        assert_eq!(searched(&mut h, &format!("CHARSET UTF-8 {key}")), want, "{key}");
    }
}

#[test]
fn search_charset_converts_the_needle_and_refuses_unknown_charsets() {
    let mut h = harness();
    let out = h.run(b"s SEARCH CHARSET ISO-8859-1 BODY {4+}\r\ncaf\xe9\r\n");
    assert!(out.starts_with("* SEARCH 4\r\n"), "{out}");
    let out = h.run(b"s SEARCH CHARSET KOI8-R BODY {6+}\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n");
    assert!(out.starts_with("* SEARCH 6\r\n"), "{out}");
    let out = h.run(b"s SEARCH CHARSET X-MAC-KLINGON ALL\r\n");
    assert_eq!(out, format!("s NO {BADCHARSET}\r\n"));
    assert!(BADCHARSET.contains(crate::charset::NAMES), "the response lists every charset");
    assert!(h.run(b"t NOOP\r\n").starts_with("t OK"), "NO is not a protocol error");
}

#[test]
fn body_search_yields_after_a_step_budget_of_bytes() {
    // BAD-INPUTS 93: a BODY search of big messages is cut into steps by bytes read, so one
    // executor thread serves other sessions between them.
    let mut h = H::new();
    let big: Vec<u8> = [&b"Subject: big\r\n\r\n"[..], &b"0123456789abcdef\r\n".repeat(40_000)].concat();
    let n = 24;
    for _ in 0..n {
        h.store.deliver("INBOX", &big, 0, 1_100_000_000);
    }
    h.select();
    h.s.feed(b"s SEARCH BODY nowhere\r\n");
    let (mut yields, mut reads) = (0, h.store.reads);
    let mut most = 0;
    while let Some(ev) = h.s.poll(0, &mut h.store) {
        match ev {
            Event::Reply(b) if b.starts_with(b"s OK") => break,
            Event::Yield => {
                yields += 1;
                most = most.max(h.store.reads - reads);
                reads = h.store.reads;
            }
            _ => {}
        }
    }
    let total = (n * big.len()) as u64;
    // A step ends once it has read the budget: at most the budget plus one message.
    let per_step = SEARCH_STEP_BYTES + big.len() as u64;
    assert!(yields as u64 >= total / per_step - 1, "{yields} pauses for {total} bytes");
    // Reads of SCAN_CHUNK (16 KiB) per step: the budget plus one message at most.
    assert!(
        most as u64 <= (SEARCH_STEP_BYTES + big.len() as u64) / (16 * 1024) + n as u64 * 2,
        "{most} reads in one step"
    );
}

fn fetched(h: &mut H, cmd: &str) -> String {
    let out = h.run(format!("f {cmd}\r\n").as_bytes());
    assert!(out.ends_with("f OK FETCH completed\r\n"), "{cmd}: {out}");
    out.lines().next().unwrap_or("").to_owned()
}

#[test]
fn fetch_savedate_is_when_the_message_was_saved_into_this_folder() {
    // RFC 8514 §4.1: APPEND with an explicit date-time, then COPY, each save dated anew.
    let mut h = H::new();
    h.select();
    h.store.save_clock = Some(1_700_000_000);
    let out = h.run(b"a APPEND INBOX \"01-Jan-2001 00:00:00 +0000\" {9+}\r\nSubject: \r\n");
    assert!(out.contains("a OK [APPENDUID 1000 4]"), "{out}");
    let want = "* 4 FETCH (SAVEDATE \"14-Nov-2023 22:13:20 +0000\" INTERNALDATE \"01-Jan-2001 00:00:00 +0000\")";
    assert_eq!(fetched(&mut h, "FETCH 4 (SAVEDATE INTERNALDATE)"), want);
    h.store.save_clock = Some(1_750_000_000);
    assert!(h.run(b"c COPY 4 Archive\r\n").contains("c OK [COPYUID"));
    // The original keeps its save date; the copy has the copy's.
    assert_eq!(fetched(&mut h, "FETCH 4 SAVEDATE"), "* 4 FETCH (SAVEDATE \"14-Nov-2023 22:13:20 +0000\")");
    assert!(h.run(b"s SELECT Archive\r\n").contains("s OK"));
    let want = "* 1 FETCH (SAVEDATE \"15-Jun-2025 15:06:40 +0000\" INTERNALDATE \"01-Jan-2001 00:00:00 +0000\")";
    assert_eq!(fetched(&mut h, "FETCH 1 (SAVEDATE INTERNALDATE)"), want);
}

#[test]
fn fetch_savedate_falls_back_to_the_internaldate_when_the_store_has_none() {
    // Messages saved before the store kept save dates (MemStore without a clock).
    let mut h = H::new();
    h.select();
    let want = "* 1 FETCH (SAVEDATE \"01-Jul-2003 08:52:37 +0000\" INTERNALDATE \"01-Jul-2003 08:52:37 +0000\")";
    assert_eq!(fetched(&mut h, "FETCH 1 (SAVEDATE INTERNALDATE)"), want);
    h.store.set_save_date("INBOX", 1, Some(86_400 * 365));
    assert_eq!(fetched(&mut h, "FETCH 1 SAVEDATE"), "* 1 FETCH (SAVEDATE \"01-Jan-1971 00:00:00 +0000\")");
}

#[test]
fn saved_search_keys_select_by_save_date_not_internaldate() {
    // H's messages: INTERNALDATE 1-Jul-2003 (1, 2) and 9-Nov-2004 (3).
    let mut h = H::new();
    let day = |d: i64| d * 86_400;
    let may10 = crate::datetime::days_from_civil(2020, 5, 10);
    h.store.set_save_date("INBOX", 1, Some(day(may10) + 86_399));
    h.store.set_save_date("INBOX", 3, Some(day(may10 + 1)));
    // Message 2 has none: its INTERNALDATE stands in.
    h.select();
    let cases = [
        ("SAVEDON 10-May-2020", "1"),
        ("SAVEDSINCE 10-May-2020", "1 3"),
        ("SAVEDSINCE 11-May-2020", "3"),
        ("SAVEDBEFORE 10-May-2020", "2"),
        ("SAVEDBEFORE 11-May-2020", "1 2"),
        ("SAVEDON 1-Jul-2003", "2"),
        ("SINCE 10-May-2020", ""),
        ("ON 1-Jul-2003", "1 2"),
        ("OR SAVEDON 10-May-2020 SAVEDON 11-May-2020", "1 3"),
        ("NOT SAVEDSINCE 1-Jan-2010", "2"),
        ("SAVEDATESUPPORTED SAVEDSINCE 1-Jan-2004", "1 3"),
    ];
    for (key, want) in cases {
        assert_eq!(searched(&mut h, key), want, "{key}");
    }
    assert!(h.run(b"b SEARCH SAVEDON 32-May-2020\r\n").starts_with("b BAD"));
}
