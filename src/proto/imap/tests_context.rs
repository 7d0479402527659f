//! Unit tests: RFC 5267 CONTEXT=SEARCH (live searches: ADDTO, REMOVEFROM, CANCELUPDATE,
//! NOUPDATE) and PARTIAL, also on SORT (CONTEXT=SORT), against the in-memory store.

use super::api::{flag, StoreOp};
use super::context::{LIVE_MAX, UPDATE_EVAL_MAX};
use super::tests::{H, SIMPLE};

fn selected() -> H {
    let mut h = H::new();
    h.select();
    h
}

#[test]
fn capability_lists_context_search_and_sort() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"c CAPABILITY\r\n");
    assert!(out.contains(" CONTEXT=SEARCH"), "{out}");
    assert!(out.contains(" CONTEXT=SORT"), "{out}");
}

/// Own STORE, EXPUNGE and new mail change a live search; CANCELUPDATE ends it.
#[test]
fn update_follows_own_changes_until_cancelled() {
    let mut h = selected();
    // 1 unseen, 2 \Seen, 3 \Flagged.
    let out = h.run(b"a SEARCH RETURN (UPDATE ALL) SEEN\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") ALL 2\r\na OK SEARCH completed\r\n");
    let out = h.run(b"b STORE 1,3 +FLAGS (\\Seen)\r\n");
    assert_eq!(
        out,
        "* 1 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS (\\Seen \\Flagged))\r\n\
         * ESEARCH (TAG \"a\") ADDTO (1 1,3)\r\nb OK STORE completed\r\n"
    );
    let out = h.run(b"c STORE 2 -FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") REMOVEFROM (2 2)\r\nc OK STORE completed\r\n");
    // A flag change that leaves the answer alone says nothing.
    assert_eq!(h.run(b"d STORE 1 +FLAGS.SILENT (\\Answered)\r\n"), "d OK STORE completed\r\n");
    // Expunge: REMOVEFROM first, with the sequence number still valid.
    h.run(b"e STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    let out = h.run(b"f EXPUNGE\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") REMOVEFROM (1 1)\r\n* 1 EXPUNGE\r\nf OK EXPUNGE completed\r\n");
    // New mail, delivered elsewhere: at the next NOOP, after EXISTS.
    h.store.deliver("INBOX", SIMPLE, flag::SEEN, 1_200_000_000);
    let out = h.run(b"g NOOP\r\n");
    assert!(out.ends_with("* ESEARCH (TAG \"a\") ADDTO (2 3)\r\ng OK NOOP completed\r\n"), "{out}");
    assert!(out.starts_with("* 3 EXISTS\r\n"), "{out}");
    assert_eq!(h.run(b"h CANCELUPDATE \"a\"\r\n"), "h OK CANCELUPDATE completed\r\n");
    assert_eq!(h.run(b"i STORE 1 -FLAGS.SILENT (\\Seen)\r\n"), "i OK STORE completed\r\n");
    // Unknown tags, no tag: BAD.
    assert!(h.run(b"j CANCELUPDATE \"a\"\r\n").starts_with("j BAD"));
    assert!(h.run(b"k CANCELUPDATE\r\n").starts_with("k BAD"));
}

/// UID SEARCH: UIDs in the updates; another session's changes arrive at NOOP.
#[test]
fn uid_update_sees_other_sessions_changes() {
    let mut h = selected();
    let out = h.run(b"a UID SEARCH RETURN (UPDATE) FLAGGED\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") UID\r\na OK SEARCH completed\r\n");
    h.store.store("INBOX", &[1, 2], StoreOp::Add, flag::FLAGGED, &[]).unwrap();
    let out = h.run(b"b NOOP\r\n");
    assert!(out.ends_with("* ESEARCH (TAG \"a\") UID ADDTO (1 1:2)\r\nb OK NOOP completed\r\n"), "{out}");
    h.store.expunge("INBOX", &[2]).unwrap();
    let out = h.run(b"c NOOP\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") UID REMOVEFROM (2 2)\r\n* 2 EXPUNGE\r\nc OK NOOP completed\r\n");
    // UNSELECT ends every live search.
    h.run(b"d UNSELECT\r\n");
    h.run(b"e SELECT INBOX\r\n");
    h.store.store("INBOX", &[1], StoreOp::Remove, flag::FLAGGED, &[]).unwrap();
    assert!(!h.run(b"f NOOP\r\n").contains("ESEARCH"));
}

/// A program that reads bodies is evaluated for the changed messages only, and stops being
/// live (NOUPDATE) when one change brings more than UPDATE_EVAL_MAX of them.
#[test]
fn body_update_is_bounded_per_change() {
    let mut h = selected();
    let out = h.run(b"a SEARCH RETURN (UPDATE) BODY world SEEN\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\")\r\na OK SEARCH completed\r\n");
    let out = h.run(b"b STORE 1:3 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") ADDTO (1 1)\r\nb OK STORE completed\r\n");
    // A flag-only live search next to it keeps going through the same burst.
    h.run(b"c SEARCH RETURN (UPDATE) SEEN\r\n");
    for i in 0..=UPDATE_EVAL_MAX {
        h.store.deliver("INBOX", SIMPLE, flag::SEEN, 1_200_000_000 + i as i64);
    }
    let out = h.run(b"d NOOP\r\n");
    let top = 3 + UPDATE_EVAL_MAX + 1;
    assert!(out.contains("* NO [NOUPDATE \"a\"] "), "{out}");
    assert!(out.contains(&format!("* ESEARCH (TAG \"c\") ADDTO (4 4:{top})\r\n")), "{out}");
    // "a" is gone; "c" still live.
    assert!(h.run(b"e CANCELUPDATE \"a\"\r\n").starts_with("e BAD"));
    let out = h.run(b"f STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"c\") REMOVEFROM (1 1)\r\nf OK STORE completed\r\n");
}

/// BAD-INPUTS 115: many concurrent UPDATE searches: at most LIVE_MAX stay live, the rest
/// are answered with `OK [NOUPDATE "tag"]`; a repeated tag replaces its search.
#[test]
fn context_updates_are_bounded_per_session() {
    let mut h = selected();
    for i in 0..LIVE_MAX {
        let out = h.run(format!("t{i} SEARCH RETURN (UPDATE) SEEN\r\n").as_bytes());
        assert!(out.ends_with(&format!("t{i} OK SEARCH completed\r\n")), "{out}");
    }
    let out = h.run(b"t0 SEARCH RETURN (UPDATE) FLAGGED\r\n");
    assert!(out.ends_with("t0 OK SEARCH completed\r\n"), "{out}");
    for i in 0..100 {
        let out = h.run(format!("x{i} SEARCH RETURN (UPDATE) SEEN\r\n").as_bytes());
        assert!(out.ends_with(&format!("x{i} OK [NOUPDATE \"x{i}\"] SEARCH completed, not updated\r\n")), "{out}");
    }
    let out = h.run(b"s STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(out.matches("ADDTO").count(), LIVE_MAX - 1, "{out}");
    // Programs whose answer drifts without a change are refused.
    let out = h.run(b"u CANCELUPDATE \"t1\"\r\n");
    assert_eq!(out, "u OK CANCELUPDATE completed\r\n");
    for prog in ["1:2", "RECENT", "YOUNGER 10", "NOT 2"] {
        let out = h.run(format!("v SEARCH RETURN (UPDATE) {prog}\r\n").as_bytes());
        assert!(out.ends_with("v OK [NOUPDATE \"v\"] SEARCH completed, not updated\r\n"), "{prog}: {out}");
    }
    let huge = format!("w CANCELUPDATE {}\r\n", vec!["\"t2\""; 1000].join(" "));
    assert!(h.run(huge.as_bytes()).starts_with("w BAD"));
}

/// BAD-INPUTS 115: PARTIAL ranges up to 4294967295, reversed, empty, or malformed.
#[test]
fn partial_range_full_u32() {
    let mut h = selected();
    let out = h.run(b"a SEARCH RETURN (PARTIAL 1:4294967295) ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"a\") PARTIAL (1:4294967295 1:3)\r\na OK SEARCH completed\r\n");
    let out = h.run(b"b SEARCH RETURN (PARTIAL 4294967295:4294967295) ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"b\") PARTIAL (4294967295:4294967295 NIL)\r\nb OK SEARCH completed\r\n");
    let out = h.run(b"c UID SEARCH RETURN (PARTIAL 3:2 COUNT) ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"c\") UID COUNT 3 PARTIAL (2:3 2:3)\r\nc OK SEARCH completed\r\n");
    for bad in ["1", "1:*", "*:1", "0:1", "1:4294967296", ""] {
        let out = h.run(format!("d SEARCH RETURN (PARTIAL {bad}) ALL\r\n").as_bytes());
        assert!(out.starts_with("d BAD"), "{bad}: {out}");
    }
    // CONTEXT=SORT: positions in sort order; a live SORT is refused.
    let out = h.run(b"e SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"e\") PARTIAL (1:2 3,2)\r\ne OK SORT completed\r\n");
    let out = h.run(b"f SORT RETURN (UPDATE ALL) (ARRIVAL) UTF-8 ALL\r\n");
    assert_eq!(out, "* ESEARCH (TAG \"f\") ALL 1:3\r\nf OK [NOUPDATE \"f\"] SORT completed, not updated\r\n");
}

/// RFC 5267 §4.3 with RFC 2177: while idling, new mail reaches the live search too.
#[test]
fn idle_reports_addto_with_exists() {
    let mut h = selected();
    h.run(b"a UID SEARCH RETURN (UPDATE MIN) UNSEEN\r\n");
    assert_eq!(h.run(b"b IDLE\r\n"), "+ idling\r\n");
    let uid = h.store.deliver("INBOX", SIMPLE, 0, 1_200_000_000);
    let out = h.run(b"");
    assert!(out.starts_with("* 4 EXISTS\r\n"), "{out}");
    assert!(out.ends_with(&format!("* ESEARCH (TAG \"a\") UID ADDTO (3 {uid})\r\n")), "{out}");
    assert_eq!(h.run(b"DONE\r\n"), "b OK IDLE terminated\r\n");
}
