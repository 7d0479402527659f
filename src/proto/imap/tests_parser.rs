//! Unit tests of the command reader: every command form RFC 3501 §9 (and the extensions
//! advertised) defines, parsed values, the framer's literals and continuations (§7.5,
//! RFC 7888), modified UTF-7 names (§5.1.3) and sequence sets (§9 `sequence-set`).

use super::framer::{Frame, Framer, Limits};
use super::parser::{command, Command};
use super::tests::xorshift;
use super::types::{decode_mutf7, encode_mutf7, Mailbox, MailboxError, SequenceSet};

fn parses(line: &str) -> bool {
    command(line.as_bytes()).is_ok()
}

#[test]
fn parser_accepts_every_command_form() {
    let good = [
        "a CAPABILITY",
        "a NOOP",
        "a LOGOUT",
        "a STARTTLS",
        "a LOGIN alice \"pa ss\"",
        "a LOGIN {5}\r\nalice {3}\r\npwd",
        "a AUTHENTICATE PLAIN",
        "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
        "a AUTHENTICATE PLAIN =",
        "a ID NIL",
        "a ID (\"name\" \"mutt\" \"version\" \"2\")",
        "a ENABLE CONDSTORE UTF8=ACCEPT",
        "a NAMESPACE",
        "a LIST \"\" *",
        "a LIST \"\" %",
        "a LSUB \"\" \"Archive/%\"",
        "a LIST \"\" \"\"",
        "a SELECT INBOX",
        "a SELECT INBOX (CONDSTORE)",
        "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        "a EXAMINE \"Archive\"",
        "a CREATE x",
        "a DELETE x",
        "a RENAME x y",
        "a SUBSCRIBE x",
        "a UNSUBSCRIBE x",
        "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)",
        "a CLOSE",
        "a UNSELECT",
        "a CHECK",
        "a EXPUNGE",
        "a UID EXPUNGE 1:3,5",
        "a SEARCH ALL",
        "a UID SEARCH CHARSET UTF-8 FROM \"alice\"",
        "a SEARCH OR (SEEN FLAGGED) NOT DELETED 1:* UID 2,4:*",
        "a SEARCH BEFORE 1-Jan-2020 SINCE \"02-Feb-2001\" ON 3-Mar-2003",
        "a SEARCH SENTBEFORE 1-Jan-2020 SENTON 1-Jan-2020 SENTSINCE 1-Jan-2000 LARGER 10 SMALLER 99999",
        "a SEARCH HEADER X-Foo bar BODY x TEXT y TO a CC b BCC c SUBJECT d KEYWORD k UNKEYWORD j",
        "a SEARCH ANSWERED UNANSWERED DRAFT UNDRAFT UNFLAGGED UNSEEN NEW OLD RECENT",
        "a FETCH 1 ALL",
        "a FETCH 1:* FAST",
        "a FETCH 1 FULL",
        "a UID FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)",
        "a FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)",
        "a FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT]<0.10>)",
        "a FETCH 1 (BODY[1.2.MIME] BODY[1.2] BODY[2.HEADER] BODY[2.TEXT] BODY.PEEK[1]<5.5>)",
        "a FETCH 1 (BODY[HEADER.FIELDS (From To)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)])",
        "a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)",
        "a FETCH 1 (FLAGS) (CHANGEDSINCE 12345)",
        "a STORE 1 +FLAGS (\\Seen)",
        "a STORE 1:2 -FLAGS.SILENT \\Deleted $Junk",
        "a UID STORE 5 FLAGS ()",
        "a IDLE",
    ];
    for g in good {
        assert!(parses(g), "should parse: {g}");
    }
    let bad = [
        "",
        "a",
        "a FOO",
        "a NOOP extra",
        "a LOGIN alice",
        "a FETCH 0 FLAGS",
        "a FETCH 1 (FLAGS",
        "a STORE 1 FLAGS (\\Bogus)",
        "a SEARCH CHARSET X-UNKNOWN-8 ALL",
        "a FETCH 1 BODY[MIME]",
        "a SELECT INBOX CONDSTORE",
        "+ NOOP",
        "a FETCH 4294967296 FLAGS",
        "a SEARCH BEFORE 32-Jan-2020",
        "a STATUS INBOX (BOGUS)",
    ];
    for b in bad {
        assert!(!parses(b), "should be BAD: {b}");
    }
}

#[test]
fn parser_values() {
    let Ok((tag, Command::Login { user, pass })) = command(b"A1 LOGIN \"al\\\"ice\" {3}\r\np w") else {
        panic!("login")
    };
    assert_eq!((tag.as_str(), user.as_str(), pass.expose()), ("A1", "al\"ice", &b"p w"[..]));
    let Ok((_, Command::Fetch { uid: true, atts, .. })) =
        command(b"a UID FETCH 1 (BODY.PEEK[1.2.HEADER.FIELDS (A b)]<3.4>)")
    else {
        panic!("fetch")
    };
    assert_eq!(atts.len(), 1);
}

#[test]
fn framer_literals_and_continuation() {
    let lim = Limits { line: 1024, literal: 100, message: 1000 };
    let mut f = Framer::default();
    f.feed(b"a LOGIN {5}\r\n");
    assert_eq!(f.next(lim), Some(Frame::Continue));
    assert_eq!(f.next(lim), None);
    f.feed(b"alice {6+}\r\nsecret\r\n");
    assert_eq!(f.next(lim), Some(Frame::Command(b"a LOGIN {5}\r\nalice {6+}\r\nsecret".to_vec())));
    f.feed(b"b APPEND INBOX (\\Seen) {4}\r\n");
    let Some(Frame::AppendStarted { size: 4, sync: true, .. }) = f.next(lim) else { panic!("append") };
    assert!(f.accept_append());
    f.feed(b"ab");
    assert_eq!(f.next(lim), Some(Frame::AppendData(b"ab".to_vec())));
    f.feed(b"cd\r\n");
    assert_eq!(f.next(lim), Some(Frame::AppendData(b"cd".to_vec())));
    assert_eq!(f.next(lim), Some(Frame::AppendFinished(true)));
}

/// Found by the imap_mutf7 fuzz target (tests/fuzz/regressions/imap_mutf7-null-shift): a
/// null shift "-&" between two BASE64 runs was accepted, so "D&nkA-&nkA-" and "D&nkCeQQ-"
/// both named the same folder. RFC 3501 §5.1.3 forbids it; runs after "&-" stay fine.
#[test]
fn mutf7_null_shift_refused() {
    assert_eq!(decode_mutf7(b"D&nkA-&nkA-"), Err(MailboxError::Encoding));
    assert_eq!(decode_mutf7(b"&AOQ-&AOQ-"), Err(MailboxError::Encoding));
    let both = "\u{e4}\u{e4}";
    assert_eq!(decode_mutf7(encode_mutf7(both).as_bytes()).as_deref(), Ok(both));
    assert_eq!(decode_mutf7(b"&AOQ-&-&AOQ-").as_deref(), Ok("\u{e4}&\u{e4}"));
    assert_eq!(decode_mutf7(b"&AOQ-x&AOQ-").as_deref(), Ok("\u{e4}x\u{e4}"));
}

#[test]
fn mutf7_round_trips() {
    for (utf8, wire) in [
        ("Entwürfe", "Entw&APw-rfe"),
        ("a&b", "a&-b"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ] {
        assert_eq!(encode_mutf7(utf8), wire);
        assert_eq!(decode_mutf7(wire.as_bytes()).as_deref(), Ok(utf8));
        assert_eq!(Mailbox::from_wire(wire.as_bytes()).map(|m| m.to_wire()), Ok(wire.to_owned()));
    }
    let mut x = 0x2545_f491_u32;
    for _ in 0..500 {
        let s: String = (0..8)
            .filter_map(|_| char::from_u32(xorshift(&mut x) % 0x3000 + 0x20))
            .filter(|c| !c.is_control())
            .collect();
        assert_eq!(decode_mutf7(encode_mutf7(&s).as_bytes()).as_deref(), Ok(s.as_str()));
    }
}

#[test]
fn sequence_sets() {
    let set = |s: &str| super::reader::P::new(s.as_bytes()).sequence_set();
    assert_eq!(set("1:4294967295").map(|s| s.normalize(10, true)), Ok(vec![(1, 10)]));
    assert_eq!(set("*:1").map(|s| s.normalize(5, true)), Ok(vec![(1, 5)]));
    assert_eq!(set("3,1:2,9:7,*").map(|s| s.normalize(8, true)), Ok(vec![(1, 3), (7, 8)]));
    assert!(set("0").is_err() && set("1:0").is_err() && set("4294967296").is_err());
    assert_eq!(set("4294967295:*").map(|s| s.normalize(4, false)), Ok(vec![(4, 4294967295)]));
    let r = set("2:4,10").map(|s| s.normalize(20, true)).unwrap_or_default();
    assert!(SequenceSet::contains(&r, 3) && SequenceSet::contains(&r, 10) && !SequenceSet::contains(&r, 5));
}
