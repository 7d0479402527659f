//! RFC 7162 (CONDSTORE, QRESYNC) examples replayed against the core and the in-memory
//! store: ENABLE, HIGHESTMODSEQ, FETCH MODSEQ / CHANGEDSINCE / VANISHED, STORE
//! UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, STATUS, SELECT (QRESYNC ...), VANISHED.

use super::api::{flag, StoreOp};
use super::parser::{command, Command};
use super::session::State;
use super::tests::H;

/// Logged in with QRESYNC enabled; INBOX holds UIDs 1, 2, 3 with MODSEQs 1, 2, 3.
fn qresync() -> H {
    let mut h = H::new();
    h.login();
    assert_eq!(h.run(b"e ENABLE QRESYNC\r\n"), "* ENABLED QRESYNC\r\ne OK ENABLE completed\r\n");
    h
}

/// Another session's work: UID 2 expunged (MODSEQ 4), \Seen on UID 3 (5), UID 4 new (6).
fn changes_by_others(h: &mut H) {
    h.store.expunge("INBOX", &[2]).unwrap();
    h.store.store("INBOX", &[3], StoreOp::Add, flag::SEEN, &[]).unwrap();
    h.store.deliver("INBOX", super::tests::SIMPLE, 0, 1_100_000_000);
}

#[test]
fn capabilities_and_enable() {
    let mut h = H::new();
    assert!(h.run(b"c CAPABILITY\r\n").contains(" CONDSTORE QRESYNC"));
    h.login();
    let out = h.run(b"e ENABLE QRESYNC CONDSTORE\r\n");
    assert_eq!(out, "* ENABLED QRESYNC CONDSTORE\r\ne OK ENABLE completed\r\n");
    // Already enabled: nothing new to list (RFC 5161 §3.1).
    assert_eq!(h.run(b"f ENABLE CONDSTORE\r\n"), "* ENABLED\r\nf OK ENABLE completed\r\n");
}

#[test]
fn select_sends_highestmodseq_and_fetch_modseq_enables_condstore() {
    let mut h = H::new();
    let out = h.select();
    assert!(out.contains("* OK [HIGHESTMODSEQ 3] Highest\r\n"), "{out}");
    // RFC 7162 §3.1: the first CONDSTORE-enabling command while selected repeats it.
    let out = h.run(b"f FETCH 1:3 (MODSEQ)\r\n");
    let want = "* OK [HIGHESTMODSEQ 3] Highest\r\n* 1 FETCH (MODSEQ (1))\r\n* 2 FETCH (MODSEQ (2))\r\n\
                * 3 FETCH (MODSEQ (3))\r\nf OK FETCH completed\r\n";
    assert_eq!(out, want);
    assert_eq!(h.run(b"g FETCH 1 (MODSEQ)\r\n"), "* 1 FETCH (MODSEQ (1))\r\ng OK FETCH completed\r\n");
    // Flag updates now carry UID and MODSEQ (§3.1), UID first (Thunderbird expects it).
    let out = h.run(b"s STORE 2 +FLAGS (\\Answered)\r\n");
    assert_eq!(out, "* 2 FETCH (UID 2 MODSEQ (4) FLAGS (\\Seen \\Answered))\r\ns OK STORE completed\r\n");
    let out = h.run(b"t STORE 2 -FLAGS.SILENT (\\Answered)\r\n");
    assert_eq!(out, "* 2 FETCH (UID 2 MODSEQ (5))\r\nt OK STORE completed\r\n");
}

#[test]
fn fetch_changedsince_and_implicit_modseq() {
    let mut h = H::new();
    h.select();
    // iPhone Mail sends CHANGEDSINCE 0 (modern-email/defects #29): every message.
    let out = h.run(b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)\r\n");
    assert!(out.contains("* 1 FETCH (UID 1 FLAGS () MODSEQ (1))\r\n"), "{out}");
    assert!(out.contains("* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (3))\r\na OK"), "{out}");
    let out = h.run(b"b UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2)\r\n");
    assert_eq!(out, "* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (3))\r\nb OK FETCH completed\r\n");
    assert!(h.run(b"c FETCH 1:* (FLAGS) (CHANGEDSINCE 3)\r\n").starts_with("c OK"));
    for bad in ["d FETCH 1 FLAGS (CHANGEDSINCE)", "d FETCH 1 FLAGS (FOO 1)", "d FETCH 1 FLAGS (CHANGEDSINCE x)"] {
        let out = h.run(format!("{bad}\r\n").as_bytes());
        assert!(out.starts_with("d BAD"), "{bad}: {out}");
    }
    // A FETCH that sets \Seen reports UID and MODSEQ in a CONDSTORE session (§3.1).
    let out = h.run(b"e FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])\r\n");
    assert!(out.starts_with("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"), "{out}");
    assert!(out.contains(" FLAGS (\\Seen) MODSEQ (4))\r\ne OK"), "{out}");
}

#[test]
fn store_unchangedsince_reports_modified() {
    let mut h = H::new();
    h.select();
    // RFC 7162 §3.1.3 example d105: message 3 changed after 2, so only 1 and 2 are stored.
    let out = h.run(b"s STORE 1:3 (UNCHANGEDSINCE 2) +FLAGS.SILENT (\\Deleted)\r\n");
    let want = "* OK [HIGHESTMODSEQ 3] Highest\r\n* 1 FETCH (UID 1 MODSEQ (4))\r\n* 2 FETCH (UID 2 MODSEQ (4))\r\n\
                s OK [MODIFIED 3] Conditional STORE failed\r\n";
    assert_eq!(out, want);
    // UID STORE reports UIDs; UNCHANGEDSINCE 0 always fails (§3.1.3).
    let out = h.run(b"u UID STORE 1,3 (UNCHANGEDSINCE 0) FLAGS (\\Seen)\r\n");
    assert_eq!(out, "u OK [MODIFIED 1,3] Conditional STORE failed\r\n");
    // Passing messages get a new MODSEQ even when the flags stay the same (§3.1.3).
    let out = h.run(b"v UID STORE 3 (UNCHANGEDSINCE 3) +FLAGS (\\Flagged)\r\n");
    assert_eq!(out, "* 3 FETCH (UID 3 MODSEQ (5) FLAGS (\\Flagged))\r\nv OK STORE completed\r\n");
    assert!(h.run(b"w STORE 1 (UNCHANGEDSINCE 5 FOO) +FLAGS (\\Seen)\r\n").starts_with("w BAD"));
    assert!(h.run(b"x STORE 1 (CHANGEDSINCE 5) +FLAGS (\\Seen)\r\n").starts_with("x BAD"));
}

#[test]
fn store_after_unreported_changes_lowers_highestmodseq() {
    let mut h = H::new();
    h.select();
    h.run(b"e ENABLE CONDSTORE\r\n");
    // Another session changes message 1 (MODSEQ 4); ours then gets MODSEQ 5 for message 2.
    h.store.store("INBOX", &[1], StoreOp::Add, flag::DRAFT, &[]).unwrap();
    let out = h.run(b"s STORE 2 +FLAGS (\\Answered)\r\n");
    // RFC 7162 §3.2 / §6: the unreported change is below, so the client must not take 5.
    assert_eq!(
        out,
        "* 2 FETCH (UID 2 MODSEQ (5) FLAGS (\\Seen \\Answered))\r\ns OK [HIGHESTMODSEQ 3] STORE completed\r\n"
    );
    let out = h.run(b"n NOOP\r\n");
    assert_eq!(out, "* 1 FETCH (UID 1 MODSEQ (4) FLAGS (\\Draft))\r\nn OK NOOP completed\r\n");
    let out = h.run(b"t STORE 3 +FLAGS (\\Seen)\r\n");
    assert!(out.ends_with("t OK STORE completed\r\n"), "{out}");
}

#[test]
fn search_modseq() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"s SEARCH MODSEQ 2\r\n");
    assert_eq!(out, "* OK [HIGHESTMODSEQ 3] Highest\r\n* SEARCH 2 3 (MODSEQ 3)\r\ns OK SEARCH completed\r\n");
    let out = h.run(b"t UID SEARCH MODSEQ \"/flags/\\\\draft\" all 1 NOT FLAGGED\r\n");
    assert_eq!(out, "* SEARCH 1 2 (MODSEQ 2)\r\nt OK SEARCH completed\r\n");
    assert_eq!(h.run(b"u SEARCH MODSEQ 9\r\n"), "* SEARCH\r\nu OK SEARCH completed\r\n");
    assert!(h.run(b"v SEARCH MODSEQ \"/flags/\\\\draft\" nope 1\r\n").starts_with("v BAD"));
    assert!(h.run(b"w SEARCH MODSEQ\r\n").starts_with("w BAD"));
}

#[test]
fn status_highestmodseq() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"s STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
    assert_eq!(out, "* STATUS \"INBOX\" (HIGHESTMODSEQ 3 MESSAGES 3)\r\ns OK STATUS completed\r\n");
}

#[test]
fn select_qresync_reports_vanished_and_changed() {
    let mut h = qresync();
    changes_by_others(&mut h);
    let out = h.run(b"q SELECT INBOX (QRESYNC (1000 3 1:3))\r\n");
    let tail = "* OK [HIGHESTMODSEQ 6] Highest\r\n* VANISHED (EARLIER) 2\r\n\
                * 2 FETCH (UID 3 FLAGS (\\Seen \\Flagged) MODSEQ (5))\r\n* 3 FETCH (UID 4 FLAGS () MODSEQ (6))\r\n\
                q OK [READ-WRITE] SELECT completed\r\n";
    assert!(out.ends_with(tail), "{out}");
    assert!(out.contains("* 3 EXISTS\r\n"), "{out}");
    // eM Client 11 sends both parameters (Purelymail issue 452); no known-uids means
    // 1:UIDNEXT-1. Nothing changed since MODSEQ 6: the expunge history says nothing vanished.
    let out = h.run(b"r EXAMINE INBOX (CONDSTORE QRESYNC (1000 6))\r\n");
    assert!(out.ends_with("[HIGHESTMODSEQ 6] Highest\r\nr OK [READ-ONLY] EXAMINE completed\r\n"), "{out}");
    // seq-match-data (RFC 7162 §3.2.5.2) parses; UIDVALIDITY mismatch: a plain SELECT.
    let out = h.run(b"s SELECT INBOX (QRESYNC (1000 6 1:9 (1:3 1,3,4)))\r\n");
    // All pairs still match (the client knew UID 2 was gone): nothing vanished below UID 4,
    // and known UIDs above UIDNEXT-1 were never used.
    assert!(out.contains("[HIGHESTMODSEQ 6] Highest\r\ns OK [READ-WRITE]") && !out.contains("VANISHED"), "{out}");
    let out = h.run(b"t SELECT INBOX (QRESYNC (999 1))\r\n");
    assert!(!out.contains("VANISHED") && !out.contains("FETCH") && out.contains("t OK [READ-WRITE]"), "{out}");
}

#[test]
fn qresync_parameters_parse_as_clients_send_them() {
    for line in [
        "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        "a SELECT \"INBOX\" (CONDSTORE QRESYNC (1 1))",
        "a EXAMINE INBOX (QRESYNC (1733797867 441 1:73,81:82,84:97,100:130,159,162,166:168))",
        "a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
        "a SELECT INBOX (CONDSTORE)",
        "a SELECT INBOX ()",
    ] {
        assert!(matches!(command(line.as_bytes()), Ok((_, Command::Select { .. }))), "{line}");
    }
    for line in [
        "a SELECT INBOX (QRESYNC)",
        "a SELECT INBOX (QRESYNC (0 1))",
        "a SELECT INBOX (QRESYNC (1 1 1:2 (1:2)))",
        "a SELECT INBOX (QRESYNC (1 99999999999999999999))",
        "a SELECT INBOX (FOO)",
        "a SELECT INBOX (CONDSTORE",
        "a SELECT INBOX CONDSTORE",
    ] {
        assert!(command(line.as_bytes()).is_err(), "{line}");
    }
}

#[test]
fn unknown_select_parameter_is_bad_and_the_session_goes_on() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"x SELECT INBOX (ANNOTATE)\r\ny NOOP\r\n");
    assert!(out.starts_with("x BAD") && out.ends_with("y OK NOOP completed\r\n"), "{out}");
    assert_eq!(h.s.state(), State::Selected);
}

#[test]
fn expunges_are_vanished_after_enable_qresync() {
    let mut h = qresync();
    h.run(b"s SELECT INBOX\r\n");
    let out = h.run(b"a STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb EXPUNGE\r\n");
    assert!(out.contains("* VANISHED 1\r\nb OK EXPUNGE completed\r\n") && !out.contains("EXPUNGE\r\n*"), "{out}");
    h.store.expunge("INBOX", &[2, 3]).unwrap();
    assert_eq!(h.run(b"n NOOP\r\n"), "* VANISHED 2:3\r\nn OK NOOP completed\r\n");
    assert!(h.run(b"f FETCH 1:* (FLAGS)\r\n").starts_with("f OK"));
}

#[test]
fn uid_fetch_vanished_modifier() {
    let mut h = qresync();
    changes_by_others(&mut h);
    h.run(b"s SELECT INBOX\r\n");
    let out = h.run(b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n");
    let want = "* VANISHED (EARLIER) 2\r\n* 2 FETCH (UID 3 FLAGS (\\Seen \\Flagged) MODSEQ (5))\r\n\
                * 3 FETCH (UID 4 FLAGS () MODSEQ (6))\r\na OK FETCH completed\r\n";
    assert_eq!(out, want);
    // RFC 7162 §3.2.6: only with UID FETCH and CHANGEDSINCE, after ENABLE QRESYNC.
    assert!(h.run(b"b FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n").starts_with("b BAD"));
    assert!(h.run(b"c UID FETCH 1:* (FLAGS) (VANISHED)\r\n").starts_with("c BAD"));
    let mut plain = H::new();
    plain.select();
    assert!(plain.run(b"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n").starts_with("d BAD"));
}

#[test]
fn seq_match_data_narrows_vanished() {
    let mut h = qresync();
    changes_by_others(&mut h);
    // UID 2 was expunged at MODSEQ 4: a client at MODSEQ 3 hears of it ...
    let out = h.run(b"a SELECT INBOX (QRESYNC (1000 3 1:4))\r\n");
    assert!(out.contains("* VANISHED (EARLIER) 2\r\n"), "{out}");
    // ... unless its seq-match-data says it already knew (message numbers 1, 2, 3 are UIDs
    // 1, 3, 4: nothing it knew below UID 4 is gone).
    let out = h.run(b"b SELECT INBOX (QRESYNC (1000 3 1:4 (1:3 1,3:4)))\r\n");
    assert!(!out.contains("VANISHED") && out.contains("b OK [READ-WRITE]"), "{out}");
    // A pair that no longer matches (UID 3 was message 3, now it is 2) stops the floor at 1.
    let out = h.run(b"c SELECT INBOX (QRESYNC (1000 3 1:4 (1,3 1,3)))\r\n");
    assert!(out.contains("* VANISHED (EARLIER) 2\r\n"), "{out}");
}
