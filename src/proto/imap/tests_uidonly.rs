//! RFC 9586 UIDONLY transcripts against the in-memory store.

use super::tests::H;

#[test]
fn uidonly_fetch_store_expunge_and_refusals() {
    let mut h = H::new();
    assert!(h.run(b"a CAPABILITY\r\n").contains(" UIDONLY"));
    h.login();
    let out = h.run(b"b ENABLE UIDONLY\r\n");
    assert!(out.starts_with("* ENABLED UIDONLY\r\n"), "{out}");
    h.run(b"c SELECT INBOX\r\n");
    for cmd in ["FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 Archive", "MOVE 1 Archive"] {
        let out = h.run(format!("d {cmd}\r\n").as_bytes());
        assert!(out.starts_with("d BAD [UIDREQUIRED]"), "{cmd}: {out}");
    }
    let out = h.run(b"e UID FETCH 2:3 (FLAGS)\r\n");
    assert_eq!(out, "* 2 UIDFETCH (FLAGS (\\Seen))\r\n* 3 UIDFETCH (FLAGS (\\Flagged))\r\ne OK FETCH completed\r\n");
    let out = h.run(b"f UID FETCH 1 (UID)\r\n");
    assert_eq!(out, "* 1 UIDFETCH ()\r\nf OK FETCH completed\r\n");
    let out = h.run(b"g UID STORE 1 +FLAGS (\\Deleted)\r\n");
    assert!(out.starts_with("* 1 UIDFETCH (FLAGS (\\Deleted))\r\ng OK"), "{out}");
    let out = h.run(b"h EXPUNGE\r\n");
    assert!(out.starts_with("* VANISHED 1\r\nh OK"), "{out}");
    assert!(h.run(b"i UID SEARCH ALL\r\n").contains("* SEARCH 2 3"));
}
