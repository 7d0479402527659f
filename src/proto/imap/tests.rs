//! Unit tests: bytes in, bytes and events out, against the in-memory store.

use std::sync::Arc;

use super::api::{AuthOutcome, Event, ImapPolicy, PeerInfo};
use super::memstore::MemStore;
use super::session::{Session, State};
use super::types::{Mailbox, MailboxError};
use super::*;
use crate::mime::MimeSummary;

pub const SIMPLE: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.com, \"Carol C\" <carol@example.org>\r\nSubject: Hello\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <1@x>\r\n\r\nHello world\r\nsecond line\r\n";

pub const MULTI: &[u8] = b"From: a@b\r\nSubject: multi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--outer--\r\n";

pub const NESTED: &[u8] = b"From: x@y\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@z\r\nSubject: inner subj\r\n\r\ninner body\r\n--b1--\r\n";

/// A test driver: feeds bytes, polls, performs write events on a [`MemStore`].
pub struct H {
    pub s: Session,
    pub store: MemStore,
    pub now: u64,
    pub closed: bool,
    pub events: Vec<String>,
    pub auto_tls: bool,
}

impl H {
    pub fn with(peer_ip: &str, tls: bool, tls_available: bool) -> H {
        let peer = PeerInfo { ip: peer_ip.parse().unwrap_or([127, 0, 0, 1].into()), is_tls: tls, tls_available };
        let s = Session::new(Arc::new(ImapPolicy::default()), peer, 0);
        let mut store = MemStore::new(&["INBOX", "Archive", "Archive/2024", "Entwürfe"]);
        store.deliver("INBOX", SIMPLE, 0, 1_057_049_557);
        store.deliver("INBOX", MULTI, flag::SEEN, 1_057_049_600);
        store.deliver("INBOX", NESTED, flag::FLAGGED, 1_100_000_000);
        let mut h = H { s, store, now: 0, closed: false, events: Vec::new(), auto_tls: true };
        h.run(b"");
        h
    }

    pub fn new() -> H {
        H::with("127.0.0.1", false, true)
    }

    /// Everything the server writes until it needs more input.
    pub fn run(&mut self, input: &[u8]) -> String {
        let mut out = Vec::new();
        let mut rest = input;
        let mut stuck = 0;
        loop {
            self.drain(&mut out);
            if rest.is_empty() || self.closed {
                break;
            }
            let n = self.s.feed(rest);
            rest = rest.get(n..).unwrap_or(&[]);
            stuck = if n == 0 { stuck + 1 } else { 0 };
            assert!(stuck < 3, "session stuck with {} bytes unread", rest.len());
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        while let Some(ev) = self.s.poll(self.now, &mut self.store) {
            match ev {
                Event::Reply(b) => out.extend_from_slice(&b),
                Event::Yield => {}
                Event::Close => self.closed = true,
                Event::StartTls => {
                    self.events.push("StartTls".into());
                    if self.auto_tls {
                        self.s.tls_started();
                    }
                }
                Event::CheckCredentials { user, pass } => {
                    let ok = user == "alice" && pass.expose() == b"secret";
                    self.s.auth_result(if ok { AuthOutcome::Ok } else { AuthOutcome::Bad });
                }
                other => {
                    self.events.push(format!("{other:?}").chars().take(60).collect());
                    self.store.apply(&other, &mut self.s);
                }
            }
        }
    }

    pub fn login(&mut self) -> String {
        self.run(b"L LOGIN alice secret\r\n")
    }

    pub fn select(&mut self) -> String {
        self.login();
        self.run(b"S SELECT INBOX\r\n")
    }
}

/// A tiny deterministic PRNG for the randomised tests.
pub fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

#[test]
fn greeting_and_capabilities_follow_tls_policy() {
    let mut h = H::with("192.0.2.1", false, true);
    let out = h.run(b"a CAPABILITY\r\n");
    assert!(out.contains("STARTTLS") && out.contains("LOGINDISABLED") && !out.contains("AUTH=PLAIN"), "{out}");
    let out = h.run(b"b LOGIN alice secret\r\n");
    assert!(out.contains("b NO [PRIVACYREQUIRED]"), "{out}");
    let out = h.run(b"c STARTTLS\r\nd CAPABILITY\r\n");
    assert!(out.contains("c OK"), "{out}");
    // The pipelined CAPABILITY was discarded with the plaintext buffer.
    assert!(!out.contains("d OK"), "{out}");
    let out = h.run(b"e CAPABILITY\r\n");
    assert!(out.contains("AUTH=PLAIN") && !out.contains("STARTTLS") && !out.contains("LOGINDISABLED"), "{out}");
    let out = h.run(b"f AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(out.starts_with("f OK [CAPABILITY IMAP4rev1"), "{out}");
}

#[test]
fn authenticate_with_continuation() {
    let mut h = H::new();
    assert_eq!(h.run(b"a AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert!(h.run(b"AGFsaWNlAHdyb25n\r\n").starts_with("a NO [AUTHENTICATIONFAILED]"));
    h.run(b"b AUTHENTICATE PLAIN\r\n");
    assert!(h.run(b"*\r\n").starts_with("b BAD"));
    h.run(b"c AUTHENTICATE PLAIN\r\n");
    assert!(h.run(b"AGFsaWNlAHNlY3JldA==\r\n").starts_with("c OK"));
    assert_eq!(h.s.state(), State::Authenticated);
}

#[test]
fn select_list_status_namespace_id_enable() {
    let mut h = H::new();
    let out = h.select();
    for want in [
        "* 3 EXISTS",
        "* 0 RECENT",
        "[UNSEEN 1]",
        "[UIDVALIDITY 1000]",
        "[UIDNEXT 4]",
        "S OK [READ-WRITE]",
        "PERMANENTFLAGS",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    let out = h.run(b"l LIST \"\" *\r\n");
    assert!(out.contains("* LIST (\\HasChildren) \"/\" \"Archive\""), "{out}");
    assert!(out.contains("\"Archive/2024\"") && out.contains("\"Entw&APw-rfe\"") && out.contains("\"INBOX\""), "{out}");
    let out = h.run(b"l LIST \"\" %\r\nm LIST Archive/ %\r\nn LIST \"\" inbox\r\n");
    assert!(!out.contains("Archive/2024\"\r\nl OK"), "{out}");
    assert!(out.contains("* LIST (\\HasNoChildren) \"/\" \"Archive/2024\"\r\nm OK"), "{out}");
    assert!(out.contains("\"INBOX\"\r\nn OK"), "{out}");
    let out = h.run(b"s STATUS Entw&APw-rfe (MESSAGES UIDNEXT UNSEEN)\r\n");
    assert!(out.contains("* STATUS \"Entw&APw-rfe\" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)"), "{out}");
    let out = h.run(b"n NAMESPACE\r\ni ID (\"name\" \"x\")\r\ne ENABLE CONDSTORE UTF8=ACCEPT\r\n");
    assert!(
        out.contains("* NAMESPACE ((\"\" \"/\")) NIL NIL")
            && out.contains("* ID (")
            && out.contains("* OK [HIGHESTMODSEQ 3] Highest\r\n* ENABLED CONDSTORE UTF8=ACCEPT\r\ne OK"),
        "{out}"
    );
    // RFC 7162 §3.2.5: QRESYNC before ENABLE QRESYNC is BAD and changes nothing.
    let out = h.run(b"w SELECT INBOX (QRESYNC (1 2))\r\n");
    assert!(out.starts_with("w BAD") && h.s.state() == State::Selected, "{out}");
    let out = h.run(b"e ENABLE QRESYNC\r\nx SELECT INBOX (QRESYNC (1 2))\r\ny EXAMINE Archive (CONDSTORE)\r\n");
    assert!(out.contains("* ENABLED QRESYNC\r\n"), "{out}");
    assert!(out.contains("x OK [READ-WRITE]") && out.contains("[CLOSED]") && out.contains("y OK [READ-ONLY]"), "{out}");
    assert!(h.run(b"z SELECT Nope\r\n").contains("z NO [NONEXISTENT]"));
}

#[test]
fn state_checks() {
    let mut h = H::new();
    assert!(h.run(b"a SELECT INBOX\r\n").starts_with("a BAD"));
    h.login();
    assert!(h.run(b"b FETCH 1 FLAGS\r\n").starts_with("b BAD"));
    assert!(h.run(b"c LOGIN alice secret\r\n").starts_with("c BAD"));
    let out = h.run(b"d LOGOUT\r\n");
    assert!(out.starts_with("* BYE") && out.contains("d OK") && h.closed);
}

#[test]
fn store_fetch_flags_and_expunge() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"a STORE 1:2 +FLAGS (\\Deleted $Junk)\r\n");
    assert!(out.contains("* 1 FETCH (FLAGS (\\Deleted $Junk))"), "{out}");
    assert!(out.contains("* FLAGS (") && out.contains("a OK STORE"), "{out}");
    let out = h.run(b"b UID STORE 2 -FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(out, "b OK STORE completed\r\n");
    let out = h.run(b"c FETCH 1:* (UID FLAGS)\r\n");
    assert!(out.contains("* 2 FETCH (UID 2 FLAGS (\\Seen $Junk))"), "{out}");
    let out = h.run(b"d EXPUNGE\r\n");
    assert_eq!(out, "* 1 EXPUNGE\r\nd OK EXPUNGE completed\r\n");
    let out = h.run(b"e FETCH 1 UID\r\nf UID EXPUNGE 1:*\r\n");
    assert!(out.starts_with("* 1 FETCH (UID 2)\r\ne OK"), "{out}");
    h.run(b"g STORE 2 +FLAGS (\\Deleted)\r\n");
    let out = h.run(b"h CLOSE\r\n");
    assert_eq!(out, "h OK CLOSE completed\r\n");
    assert!(h.run(b"i STATUS INBOX (MESSAGES)\r\n").contains("(MESSAGES 1)"));
}

#[test]
fn append_with_flags_date_and_appenduid() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"a APPEND INBOX (\\Flagged) \" 7-Feb-1994 21:52:25 -0800\" {11}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(b"hello world\r\n");
    assert!(out.contains("* 4 EXISTS") && out.contains("a OK [APPENDUID 1000 4]"), "{out}");
    let out = h.run(b"b FETCH 4 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])\r\n");
    assert!(
        out.contains(
            "FLAGS (\\Flagged) INTERNALDATE \"08-Feb-1994 05:52:25 +0000\" RFC822.SIZE 11 BODY[] {11}\r\nhello world"
        ),
        "{out}"
    );
    let out = h.run(b"c APPEND Nope {1+}\r\nx\r\nd NOOP\r\n");
    assert!(out.contains("c NO [TRYCREATE]") && out.contains("d OK"), "{out}");
    let out = h.run(b"e APPEND \"Archive\" {3+}\r\nabc\r\n");
    assert!(out.contains("e OK [APPENDUID 1001 1]"), "{out}");
}

#[test]
fn search_evaluation() {
    let mut h = H::new();
    h.select();
    let cases = [
        ("ALL", "1 2 3"),
        ("SEEN", "2"),
        ("UNSEEN", "1 3"),
        ("FLAGGED", "3"),
        ("NOT FLAGGED", "1 2"),
        ("OR SEEN FLAGGED", "2 3"),
        ("(UNSEEN UNFLAGGED)", "1"),
        ("FROM alice", "1"),
        ("TO CAROL", "1"),
        ("SUBJECT multi", "2"),
        ("BODY \"SECOND line\"", "1"),
        ("TEXT \"inner subj\"", "3"),
        ("HEADER Message-ID <1@x>", "1"),
        ("LARGER 200", "2 3"),
        ("SMALLER 200", "1"),
        ("BEFORE 2-Jul-2003", "1 2"),
        ("ON 1-Jul-2003", "1 2"),
        ("SINCE 1-Jan-2004", "3"),
        ("SENTON 1-Jul-2003", "1"),
        ("SENTBEFORE 1-Jan-2000", ""),
        ("2:*", "2 3"),
        ("UID 1,3", "1 3"),
        ("NEW", ""),
        ("OLD", "1 2 3"),
        ("CHARSET US-ASCII body \"plain text\"", "2"),
        ("KEYWORD $x", ""),
        ("BODY html", "2"),
        ("NOT (2 SEEN)", "1 3"),
    ];
    for (key, want) in cases {
        let out = h.run(format!("s SEARCH {key}\r\n").as_bytes());
        let expect = format!("* SEARCH{}{want}\r\ns OK SEARCH completed\r\n", if want.is_empty() { "" } else { " " });
        assert_eq!(out, expect, "SEARCH {key}");
    }
    assert!(h.run(b"u UID SEARCH 2\r\n").starts_with("* SEARCH 2\r\n"));
}

#[test]
fn fetch_sections_and_partials() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"a FETCH 1 (BODY.PEEK[TEXT]<6.5> BODY.PEEK[HEADER.FIELDS (Subject)])\r\n");
    assert_eq!(out, "* 1 FETCH (BODY[TEXT]<6> {5}\r\nworld BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: Hello\r\n\r\n)\r\na OK FETCH completed\r\n");
    let out = h.run(b"b FETCH 2 (BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BODY.PEEK[2]<0.4> BODY.PEEK[3])\r\n");
    assert!(out.contains("BODY[1.1] {10}\r\nplain text BODY[1.2.MIME] {27}\r\nContent-Type: text/html\r\n\r\n BODY[2]<0> {4}\r\nJVBE BODY[3] NIL)"), "{out}");
    let out = h.run(b"c FETCH 3 (BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[HEADER.FIELDS.NOT (From Content-Type)])\r\n");
    assert!(out.contains("BODY[2.HEADER] {38}\r\nFrom: inner@z\r\nSubject: inner subj\r\n\r\n BODY[2.TEXT] {10}\r\ninner body BODY[2.1] {10}\r\ninner body"), "{out}");
    assert!(out.contains("{16}\r\nSubject: fwd\r\n\r\n)"), "{out}");
    let out = h.run(b"d FETCH 1 RFC822.HEADER\r\ne FETCH 1 BODY[]<0.4>\r\n");
    assert!(out.contains("RFC822.HEADER {"), "{out}");
    assert!(out.contains("* 1 FETCH (BODY[]<0> {4}\r\nFrom FLAGS (\\Seen))"), "{out}");
    let out = h.run(b"f UID FETCH 3 RFC822.TEXT\r\n");
    assert!(out.contains("* 3 FETCH (UID 3 RFC822.TEXT {") && out.contains("FLAGS (\\Seen \\Flagged)"), "{out}");
}

#[test]
fn examine_does_not_set_seen() {
    let mut h = H::new();
    h.login();
    h.run(b"x EXAMINE INBOX\r\n");
    let out = h.run(b"a FETCH 1 BODY[TEXT]\r\nb FETCH 1 FLAGS\r\n");
    assert!(out.contains("* 1 FETCH (FLAGS ())"), "{out}");
    assert!(h.run(b"c STORE 1 +FLAGS \\Seen\r\n").starts_with("c NO [READ-ONLY]"));
}

#[test]
fn envelope_and_bodystructure() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"a FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n");
    let env = "ENVELOPE (\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((NIL NIL \"bob\" \"example.com\")(\"Carol C\" NIL \"carol\" \"example.org\")) NIL NIL NIL \"<1@x>\")";
    assert!(out.contains(env), "{out}");
    assert!(
        out.contains(
            "BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 26 2 NIL NIL NIL NIL)"
        ),
        "{out}"
    );
    let out = h.run(b"b FETCH 2 BODYSTRUCTURE\r\n");
    let want = "BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)";
    assert!(out.contains(want), "{out}");
    let out = h.run(b"c FETCH 3 (BODY)\r\n");
    let want = "BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"inner subj\" ((NIL NIL \"inner\" \"z\")) ((NIL NIL \"inner\" \"z\")) ((NIL NIL \"inner\" \"z\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1) 4) \"mixed\")";
    assert!(out.contains(want), "{out}");
}

#[test]
fn idle_reports_new_mail_and_done() {
    let mut h = H::new();
    h.select();
    assert_eq!(h.run(b"i IDLE\r\n"), "+ idling\r\n");
    h.store.deliver("INBOX", b"Subject: new\r\n\r\nx\r\n", 0, 5);
    assert_eq!(h.run(b""), "* 4 EXISTS\r\n* 0 RECENT\r\n");
    h.store.expunge("INBOX", &[1]).ok();
    assert_eq!(h.run(b""), "* 1 EXPUNGE\r\n");
    assert_eq!(h.run(b"DONE\r\n"), "i OK IDLE terminated\r\n");
}

#[test]
fn mime_summary_offsets_and_serde() {
    let m = MimeSummary::parse(MULTI);
    assert_eq!(m.parts.len(), 5);
    let p = m.resolve(&[1, 2]).and_then(|i| m.part(i)).cloned().unwrap_or_else(|| m.parts[0].clone());
    let body = MULTI.get(p.body_offset as usize..(p.body_offset + p.body_len) as usize);
    assert_eq!(body, Some(&b"<p>html</p>"[..]));
    let bytes = m.clone().to_meta();
    assert!(bytes.len() < 600, "{}", bytes.len());
    assert_eq!(MimeSummary::from_meta(&bytes), Some(m));
}

#[test]
fn chunk_splitting_is_deterministic() {
    let script: &[u8] = b"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE)\r\nd APPEND INBOX {5+}\r\nhello\r\ne SEARCH TEXT hello\r\nf STORE 1 +FLAGS (\\Seen)\r\ng LOGOUT\r\n";
    let whole = H::new().run(script);
    let mut x = 0x9e37_79b9_u32;
    for _ in 0..200 {
        let mut h = H::new();
        let mut out = String::new();
        let mut rest = script;
        while !rest.is_empty() {
            let n = (xorshift(&mut x) as usize % 7 + 1).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            out.push_str(&h.run(chunk));
            rest = tail;
        }
        assert_eq!(out, whole);
    }
    let mime_whole = MimeSummary::parse(NESTED);
    let mut p = crate::mime::MimeParser::new();
    for c in NESTED.chunks(3) {
        p.push(c);
    }
    assert_eq!(p.finish(), mime_whole);
}

#[test]
fn mailbox_errors_are_no() {
    assert_eq!(Mailbox::from_wire(b"&Jjo"), Err(MailboxError::Encoding));
    assert_eq!(Mailbox::from_wire(b"&AGE-"), Err(MailboxError::Encoding));
    assert_eq!(Mailbox::from_wire(b"a/../b"), Err(MailboxError::Name));
}

#[test]
fn random_token_soup_never_panics_and_stays_bounded() {
    const TOKENS: [&str; 24] = [
        "a ",
        "FETCH ",
        "1:* ",
        "(",
        ")",
        "BODY[",
        "]",
        "{3}\r\n",
        "{2+}\r\n",
        "\r\n",
        "\"",
        "\\",
        "SEARCH ",
        "OR ",
        "NOT ",
        "STORE ",
        "+FLAGS ",
        "APPEND INBOX ",
        "IDLE\r\n",
        "DONE\r\n",
        "SELECT INBOX\r\n",
        "*",
        "<0.5>",
        "UID ",
    ];
    let mut x = 0x1234_5678_u32;
    for _ in 0..300 {
        let mut h = H::new();
        h.login();
        let mut input = String::new();
        for _ in 0..60 {
            input.push_str(TOKENS.get(xorshift(&mut x) as usize % TOKENS.len()).copied().unwrap_or(""));
        }
        let out = h.run(input.as_bytes());
        assert!(h.s.framer.buffered() <= super::INPUT_MAX + 64 * 1024);
        assert!(out.len() < 1 << 20);
    }
}

#[test]
fn search_decodes_rfc2047_words() {
    let decode_words = |v: &str| crate::charset::decode_rfc2047(v.as_bytes());
    assert_eq!(decode_words("=?UTF-8?Q?caf=C3=A9?= mime"), "caf\u{e9} mime");
    assert_eq!(decode_words("=?utf-8?B?Y2Fmw6k=?= =?ISO-8859-1?Q?_d=E9j=E0?="), "caf\u{e9} d\u{e9}j\u{e0}");
    assert_eq!(decode_words("plain =?x-unknown?Q?a?= text"), "plain =?x-unknown?Q?a?= text");
    assert_eq!(decode_words("=?UTF-8?Q?broken"), "=?UTF-8?Q?broken");
    assert_eq!(decode_words("=?UTF-8?Z?a?= =?"), "=?UTF-8?Z?a?= =?");
    assert_eq!(decode_words("a =?UTF-8?Q?=ZZ=4?= b"), "a =ZZ=4 b");
}

#[test]
fn copy_and_move_into_the_selected_folder_announce_exists_before_ok() {
    let mut h = H::new();
    h.select();
    let out = h.run(b"c COPY 1 INBOX\r\n");
    let (exists, ok) = (out.find("* 4 EXISTS"), out.find("c OK [COPYUID"));
    assert!(exists.is_some() && ok.is_some() && exists < ok, "{out}");
    let out = h.run(b"m MOVE 1 INBOX\r\n");
    let (expunge, exists, ok) = (out.find("* 1 EXPUNGE"), out.find("* 4 EXISTS"), out.find("m OK MOVE"));
    assert!(expunge.is_some() && expunge < exists && exists < ok, "{out}");
    assert_eq!(out.matches("EXPUNGE").count(), 1, "{out}");
}

#[test]
fn lsub_percent_returns_unsubscribed_parent_as_noselect() {
    let mut h = H::new();
    h.login();
    let out = h.run(b"a CREATE p/q/r\r\nb SUBSCRIBE p/q/r\r\nc LSUB \"\" p/%\r\n");
    assert!(out.contains("* LSUB (\\Noselect) \"/\" \"p/q\"\r\n") && out.contains("c OK"), "{out}");
    let out = h.run(b"d LSUB \"\" *r\r\n");
    assert!(!out.contains("Noselect") && out.contains("\"p/q/r\""), "{out}");
}

#[test]
fn append_utf8_literal8_needs_enable_and_closing_paren() {
    let mut h = H::new();
    h.select();
    // RFC 6855 §4: only once UTF8=ACCEPT is enabled (the refused {N+} literal is skipped).
    let out = h.run(b"a APPEND INBOX UTF8 (~{5+}\r\nhello)\r\nb NOOP\r\n");
    assert!(out.contains("a BAD") && out.contains("b OK"), "{out}");
    let out = h.run(b"c ENABLE UTF8=ACCEPT\r\nd APPEND INBOX (\\Seen) UTF8 (~{8+}\r\nSubj: \xc3\xa4)\r\n");
    assert!(out.contains("d OK [APPENDUID 1000 4]"), "{out}");
    let out = h.run(b"e FETCH 4 (FLAGS BODY.PEEK[])\r\n");
    assert!(out.contains("FLAGS (\\Seen) BODY[] {8}\r\nSubj: ä)"), "{out}");
    let out = h.run(b"f APPEND INBOX UTF8 (~{5}\r\n");
    assert_eq!(out, "+ Ready for literal data\r\n");
    let out = h.run(b"hello\r\ng NOOP\r\n");
    assert!(out.contains("f BAD") && out.contains("g OK") && !out.contains("f OK"), "{out}");
}

#[test]
fn list_pattern_bytes_are_bounded_over_all_patterns() {
    let mut h = H::new();
    h.login();
    let p = "%".repeat(600);
    let out = h.run(format!("a LIST \"\" (\"{p}\" \"{p}\")\r\nb LIST \"\" (\"{p}\")\r\n").as_bytes());
    assert!(out.contains("a BAD Pattern too long") && out.contains("b OK LIST"), "{out}");
    let many = vec!["x"; 65].join(" ");
    let out = h.run(format!("c LIST \"\" ({many})\r\n").as_bytes());
    assert!(out.contains("c BAD"), "{out}");
}

/// Issue 5: flags are read from the store, and an own STORE is reported once (its untagged
/// FETCH), not again when the next update lists the same change; another session's change
/// is reported at NOOP; FETCH FLAGS shows the store's current value.
#[test]
fn own_store_reported_once_others_at_noop() {
    let mut h = H::new();
    h.select();
    assert_eq!(h.run(b"a STORE 1 +FLAGS (\\Flagged)\r\n"), "* 1 FETCH (FLAGS (\\Flagged))\r\na OK STORE completed\r\n");
    assert_eq!(h.run(b"b NOOP\r\n"), "b OK NOOP completed\r\n");
    h.store.store("INBOX", &[2], StoreOp::Add, flag::ANSWERED, &[]).unwrap();
    assert_eq!(h.run(b"c FETCH 2 FLAGS\r\n"), "* 2 FETCH (FLAGS (\\Seen \\Answered))\r\nc OK FETCH completed\r\n");
    assert_eq!(h.run(b"d NOOP\r\n"), "* 2 FETCH (FLAGS (\\Seen \\Answered))\r\nd OK NOOP completed\r\n");
    assert_eq!(h.run(b"e NOOP\r\n"), "e OK NOOP completed\r\n");
    // Expunged elsewhere and gone from the store: FETCH skips it with EXPUNGEISSUED.
    h.store.expunge("INBOX", &[3]).unwrap();
    assert_eq!(
        h.run(b"f FETCH 3 FLAGS\r\n"),
        "f NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n"
    );
    assert_eq!(h.run(b"g NOOP\r\n"), "* 3 EXPUNGE\r\ng OK NOOP completed\r\n");
}

/// RFC 2180 §3.2: the selected folder deleted, renamed, or deleted and created again by
/// another session: the next update is BYE and the session ends (no tagged reply after it);
/// a folder only renamed away from an unselected session changes nothing there.
#[test]
fn selected_folder_deleted_or_renamed_elsewhere_ends_with_bye() {
    for change in ["delete", "rename", "recreate"] {
        let mut h = H::new();
        h.login();
        assert!(h.run(b"s SELECT Archive\r\n").contains("s OK"));
        match change {
            "delete" => h.store.delete("Archive").unwrap(),
            "rename" => h.store.rename("Archive", "Old").unwrap(),
            _ => {
                h.store.delete("Archive").unwrap();
                h.store.create("Archive", None).unwrap();
            }
        }
        let out = h.run(b"n NOOP\r\n");
        assert_eq!(out, "* BYE Selected mailbox was deleted or renamed, have to disconnect\r\n", "{change}");
        assert!(h.closed, "{change}");
    }
    let mut h = H::new();
    h.select();
    h.store.rename("Archive", "Old").unwrap();
    assert_eq!(h.run(b"n NOOP\r\n"), "n OK NOOP completed\r\n");
}

/// Slowloris (issue 8): before login, bytes of a command line (or of a LOGIN literal) that
/// never completes do not postpone the pre-login autologout; a complete command does.
#[test]
fn dribbled_bytes_do_not_postpone_prelogin_autologout() {
    for (opening, dribble) in
        [(&b""[..], &b"a LOGIN alice secret-that-never-ends"[..]), (b"a LOGIN {40}\r\n", b"0123456789")]
    {
        let policy = ImapPolicy { prelogin_timeout_ms: 2_000, ..ImapPolicy::default() };
        let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: true, tls_available: true };
        let mut h = H::with("127.0.0.1", true, true);
        h.s = Session::new(Arc::new(policy), peer, 0);
        h.run(b"");
        h.run(opening);
        let mut out = String::new();
        for &b in dribble.iter().cycle().take(40) {
            h.now += 250;
            out += &h.run(&[b]);
            if h.closed {
                break;
            }
        }
        assert!(h.closed && out.contains("* BYE Autologout"), "{out}");
        assert_eq!(h.now, 2_000, "cut at the pre-login deadline");
    }
}

/// Issue 13: a folder command is an event for the driver (which syncs off the executor);
/// its tagged reply, and every later command, waits for `mailbox_done`.
#[test]
fn folder_commands_wait_for_the_driver() {
    let mut store = MemStore::new(&["INBOX"]);
    let peer = PeerInfo { ip: [127, 0, 0, 1].into(), is_tls: false, tls_available: false };
    let mut s = Session::new(Arc::new(ImapPolicy::default()), peer, 0);
    s.feed(b"a LOGIN alice secret\r\nb CREATE Work\r\nc NOOP\r\n");
    let mut replies = String::new();
    let mut ops = Vec::new();
    while let Some(ev) = s.poll(0, &mut store) {
        match ev {
            Event::CheckCredentials { .. } => s.auth_result(AuthOutcome::Ok),
            Event::Reply(b) => replies.push_str(&String::from_utf8_lossy(&b)),
            Event::Mailbox(op) => ops.push(op),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ops, vec![MailboxOp::Create { name: "Work".into(), special_use: None }]);
    assert!(!replies.contains("b ") && !replies.contains("c "), "{replies}");
    assert!(s.deadline().is_none(), "waits for the driver, not the autologout");
    s.mailbox_done(Err(StoreError::Exists));
    let mut after = String::new();
    while let Some(Event::Reply(b)) = s.poll(0, &mut store) {
        after.push_str(&String::from_utf8_lossy(&b));
    }
    assert!(after.starts_with("b NO [ALREADYEXISTS]") && after.contains("\r\nc OK"), "{after}");
}
