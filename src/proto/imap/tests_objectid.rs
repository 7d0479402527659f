//! RFC 8474 OBJECTID transcripts against the in-memory store: EMAILID across COPY and MOVE,
//! THREADID of a reply chain, MAILBOXID of CREATE, SELECT, STATUS and RENAME, the SEARCH
//! keys and their bad arguments.

use super::tests::H;

/// The value of `ITEM (value)` in the `* n FETCH` line of `out`, `NIL` when it is NIL.
fn item(out: &str, seq: u32, name: &str) -> String {
    let line = out.lines().find(|l| l.starts_with(&format!("* {seq} FETCH "))).unwrap_or_default();
    let rest = line.split_once(&format!("{name} ")).map(|(_, r)| r).unwrap_or_default();
    if rest.starts_with("NIL") {
        return "NIL".into();
    }
    rest.trim_start_matches('(').split(')').next().unwrap_or_default().to_owned()
}

/// The value inside `[MAILBOXID (...)]` or `MAILBOXID (...)` of `out`.
fn mailbox_id(out: &str) -> String {
    let rest = out.split_once("MAILBOXID (").map(|(_, r)| r).unwrap_or_default();
    rest.split(')').next().unwrap_or_default().to_owned()
}

const A: &[u8] = b"Message-ID: <a@x>\r\nSubject: a\r\n\r\nfirst body\r\n";
const B: &[u8] = b"Message-ID: <b@x>\r\nSubject: b\r\n\r\nsecond body\r\n";

#[test]
fn emailid_kept_by_copy_and_move_and_differs_between_messages() {
    let mut h = H::new();
    h.store.deliver("INBOX", A, 0, 0);
    h.store.deliver("INBOX", B, 0, 0);
    h.select();
    assert!(h.run(b"c CAPABILITY\r\n").contains(" OBJECTID"));
    let out = h.run(b"a FETCH 4:5 (EMAILID)\r\n");
    let (a, b) = (item(&out, 4, "EMAILID"), item(&out, 5, "EMAILID"));
    assert!(a.starts_with('M') && a.len() == 19, "{out}");
    assert_ne!(a, b, "{out}");
    assert!(h.run(b"b COPY 4 Archive\r\n").contains("b OK"));
    assert!(h.run(b"m MOVE 5 Archive\r\n").contains("m OK"));
    let out = h.run(b"s SELECT Archive\r\n");
    assert!(out.contains("* 2 EXISTS"), "{out}");
    let out = h.run(b"f FETCH 1:2 (UID EMAILID)\r\n");
    assert_eq!(item(&out, 1, "EMAILID"), a, "{out}");
    assert_eq!(item(&out, 2, "EMAILID"), b, "{out}");
    // RFC 8474 §6 SEARCH EMAILID: the copy is found by the original's id.
    let out = h.run(format!("g SEARCH EMAILID {b}\r\n").as_bytes());
    assert!(out.starts_with("* SEARCH 2\r\n"), "{out}");
    let out = h.run(b"h SEARCH EMAILID M0000000000000000000\r\n");
    assert!(out.starts_with("* SEARCH\r\n"), "{out}");
}

#[test]
fn threadid_shared_by_a_reply_chain_nil_without_ids() {
    let mut h = H::new();
    let root = b"Message-ID: <root@x>\r\nSubject: hi\r\n\r\nroot\r\n";
    let reply = b"Message-ID: <r1@x>\r\nIn-Reply-To: <root@x>\r\nSubject: Re: hi\r\n\r\nr1\r\n";
    let reply2 =
        b"Message-ID: <r2@x>\r\nIn-Reply-To: <r1@x>\r\nReferences: <root@x> <r1@x>\r\nSubject: Re: hi\r\n\r\nr2\r\n";
    let other = b"Message-ID: <other@x>\r\nSubject: other\r\n\r\nx\r\n";
    let bare = b"Subject: no ids\r\n\r\nx\r\n";
    for m in [&root[..], reply, reply2, other, bare] {
        h.store.deliver("INBOX", m, 0, 0);
    }
    h.select();
    let out = h.run(b"a FETCH 4:8 (THREADID)\r\n");
    let t: Vec<String> = (4..=8).map(|i| item(&out, i, "THREADID")).collect();
    assert!(t[0].starts_with('T') && t[0].len() == 17, "{out}");
    assert_eq!(t[0], t[1], "{out}");
    assert_eq!(t[0], t[2], "{out}");
    assert_ne!(t[0], t[3], "{out}");
    assert_eq!(t[4], "NIL", "{out}");
    let out = h.run(format!("b SEARCH THREADID {}\r\n", t[0]).as_bytes());
    assert!(out.starts_with("* SEARCH 4 5 6\r\n"), "{out}");
    let out = h.run(format!("c UID SEARCH NOT THREADID {}\r\n", t[0]).as_bytes());
    assert!(out.starts_with("* SEARCH 1 2 3 7 8\r\n"), "{out}");
}

#[test]
fn mailboxid_of_create_select_status_and_rename() {
    let mut h = H::new();
    h.login();
    let created = h.run(b"a CREATE Projects\r\n");
    assert!(created.starts_with("a OK [MAILBOXID (F"), "{created}");
    let id = mailbox_id(&created);
    let status = h.run(b"b STATUS Projects (MESSAGES MAILBOXID)\r\n");
    assert!(status.contains(&format!("(MESSAGES 0 MAILBOXID ({id}))")), "{status}");
    assert!(h.run(b"c RENAME Projects Work\r\n").contains("c OK"));
    let out = h.run(b"d SELECT Work\r\n");
    assert!(out.contains(&format!("* OK [MAILBOXID ({id})]")), "{out}");
    let other = mailbox_id(&h.run(b"e STATUS Archive (MAILBOXID)\r\n"));
    assert!(!other.is_empty() && other != id);
}

/// BAD-INPUTS 114: SEARCH EMAILID/THREADID with an id that is not an RFC 8474 `objectid`.
#[test]
fn search_objectid_bad_arguments() {
    let mut h = H::new();
    h.select();
    let long = "M".repeat(10 * 1024);
    for bad in [long.as_str(), "a.b", "(M1)", "\"M1\""] {
        let out = h.run(format!("a SEARCH EMAILID {bad}\r\n").as_bytes());
        assert!(out.starts_with("a BAD"), "{bad}: {out}");
        let out = h.run(format!("b SEARCH THREADID {bad}\r\n").as_bytes());
        assert!(out.starts_with("b BAD"), "{bad}: {out}");
    }
    assert!(h.run(b"c SEARCH EMAILID\r\n").starts_with("c BAD"));
    assert!(h.run(b"d STATUS INBOX (MAILBOXID)\r\n").contains("MAILBOXID (F"));
}
