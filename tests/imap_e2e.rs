//! End-to-end IMAP tests (issue 5): Python imaplib for every command, two concurrent
//! sessions and IDLE, curl imap:// (STARTTLS) and imaps://, a 10,000-message INBOX's
//! ENVELOPE and BODYSTRUCTURE, session RSS, and BAD-INPUTS 28-40 and 44-49 over a real
//! socket against the real `letterbox serve` binary on loopback.

mod common;

use std::process::Command;
use std::time::Instant;

use common::*;

/// What these scripts add to the shared raw clients (tests/common/raw_client.py).
const PY: &str = r#"
def msg(i, extra=b""):
    return (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: m%d\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            b"Message-ID: <m%d@example.net>\r\n\r\nline one\r\n.dot line\r\n" % (i, i)) + extra + b"last line %d\r\n" % i
"#;

fn py(srv: &Server, script: &str) -> String {
    srv.py(PY, script)
}

/// `letterbox SUBCOMMAND --config ...` for this server, as a Python list.
fn argv_py(srv: &Server, subcommand: &str) -> String {
    format!("{:?}", letterbox_argv(&[subcommand, "--config", &srv.home.config().display().to_string()]))
}

fn inbox(srv: &Server) -> Vec<Vec<u8>> {
    contents(&srv.home.store(), "INBOX").into_iter().map(|(_, _, b)| b).collect()
}

/// Where a Python script can leave files for the Rust side.
fn out_dir(srv: &Server) -> String {
    srv.home.dir.display().to_string()
}

#[test]
fn imaplib_every_command() {
    let srv = Server::start("imap-every", "", "");
    let script = r#"
OUT = os.environ.get("OUT", "")
mime = (b"From: Carol <carol@example.net>\r\nTo: alice@example.org, Dave <dave@example.com>\r\nCc: eve@example.com\r\n"
        b"Subject: =?UTF-8?Q?caf=C3=A9?= mime\r\nDate: Tue, 03 Mar 2026 11:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"hello caf\xc3\xa9 plain part\r\n--XX\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
        b"AAECAwQFBgcICQ==\r\n--XX--\r\n")
big = b"".join(b"body line %05d with some text\r\n" % i for i in range(3000))
send([msg(1), msg(2, big), mime])
# Not authenticated: CAPABILITY, NOOP, STARTTLS, LOGIN (quoted), LOGOUT.
M = imaplib.IMAP4("127.0.0.1", IMAP)
caps = ok(M.capability())[0].split()
for c in [b"IMAP4rev1", b"STARTTLS", b"IDLE", b"LITERAL+", b"SASL-IR", b"UIDPLUS", b"NAMESPACE", b"ENABLE", b"ID", b"UNSELECT", b"AUTH=PLAIN"]:
    assert c in caps, (c, caps)
ok(M.noop())
ok(M.starttls(ssl_context=CTX))
caps = ok(M.capability())[0].split()
assert b"STARTTLS" not in caps and b"AUTH=PLAIN" in caps, caps
ok(M.login(USER, PASS))
caps = ok(M.capability())[0].split()
assert b"AUTH=PLAIN" not in caps and b"IDLE" in caps, caps
assert M.logout()[0] == "BYE"
# LOGIN with literal strings (imaplib sends the password as a synchronizing literal).
M = imaplib.IMAP4("127.0.0.1", IMAP)
M.literal = PASS.encode()
ok(M._simple_command("LOGIN", USER))
M.logout()
c = C()
c.send(b"a LOGIN {5+}\r\nalice {%d+}\r\n%s\r\n" % (len(PASS), PASS.encode()))
r = c.resp(b"a"); assert last(r) == b"OK", r
# AUTHENTICATE PLAIN without SASL-IR (imaplib waits for "+"), then with SASL-IR (raw).
M = imaplib.IMAP4("127.0.0.1", IMAP)
ok(M.authenticate("PLAIN", lambda _: b"\0" + USER.encode() + b"\0" + PASS.encode()))
M.logout()
c = C()
r = c.cmd(b"AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0" + PASS.encode()))
assert last(r) == b"OK", r
# Authenticated: ID, ENABLE, NAMESPACE, LIST, LSUB, STATUS.
M = imap()
typ, dat = M._simple_command("ID", '("name" "e2e")'); assert typ == "OK"
assert M.untagged_responses.get("ID", [b""])[0].startswith(b"("), M.untagged_responses
typ, dat = M._simple_command("ENABLE", "CONDSTORE"); assert typ == "OK", dat
typ, dat = M.namespace(); assert typ == "OK" and dat[0].startswith(b"(("), dat
folders = ok(M.list())
names = {}
for l in folders:
    m = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) "?([^"]*)"?$', l); assert m, l
    names[m.group(2).decode()] = m.group(1).decode()
for f, a in [("INBOX", None), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"), ("Archive", "\\Archive")]:
    assert f in names, (f, names)
    assert a is None or a in names[f], (f, names[f])
assert ok(M.list('""', "INBOX")) != [None]
ok(M.lsub())
st = ok(M.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)"))[0]
assert b"MESSAGES 3" in st and b"UIDNEXT 4" in st and b"UNSEEN 3" in st, st
# EXAMINE is read-only: a non-PEEK fetch does not set \Seen.
typ, dat = M.select("INBOX", readonly=True); assert typ == "OK" and dat == [b"3"], dat
assert "READ-ONLY" in M.untagged_responses, M.untagged_responses
ok(M.fetch("1", "(BODY[TEXT])"))
assert b"\\Seen" not in ok(M.fetch("1", "(FLAGS)"))[0]
assert M.store("1", "+FLAGS", "\\Seen")[0] == "NO"
ok(M.unselect())
# SELECT; every FETCH item.
typ, dat = M.select("INBOX"); assert typ == "OK" and dat == [b"3"], dat
r = ok(M.fetch("1:3", "(FLAGS INTERNALDATE RFC822.SIZE UID)"))
assert len(r) == 3 and b"UID 1" in r[0] and b"UID 3" in r[2] and b"INTERNALDATE \"" in r[0], r
sizes = [int(re.search(rb"RFC822.SIZE (\d+)", x).group(1)) for x in r]
full = []
for i in (1, 2, 3):
    d = ok(M.fetch(str(i), "(BODY.PEEK[])"))
    full.append(d[0][1])
    assert len(d[0][1]) == sizes[i - 1], (i, len(d[0][1]), sizes[i - 1])
    if OUT: open(OUT + "/%d.eml" % i, "wb").write(d[0][1])
assert full[0].endswith(msg(1)) and full[1].endswith(msg(2, big)) and full[2].endswith(mime)
if OUT:
    open(OUT + "/sent3.eml", "wb").write(mime); open(OUT + "/sent1.eml", "wb").write(msg(1))
assert b"\\Seen" not in ok(M.fetch("1:3", "(FLAGS)"))[0]
env = ok(M.fetch("3", "(ENVELOPE)"))[0]
assert b'"Tue, 03 Mar 2026 11:00:00 +0100"' in env and b'"=?UTF-8?Q?caf=C3=A9?= mime"' in env, env
assert b'(("Carol" NIL "carol" "example.net"))' in env and b'("Dave" NIL "dave" "example.com")' in env, env
bs = ok(M.fetch("3", "(BODYSTRUCTURE)"))[0]
assert b'"MIXED"' in bs.upper() and b'"XX"' in bs and b'"BASE64"' in bs.upper() and b'"ATTACHMENT"' in bs.upper(), bs
b1 = ok(M.fetch("1", "(BODY)"))[0]
assert b'("TEXT" "PLAIN"' in b1.upper(), b1
d = ok(M.fetch("3", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[2])"))
flat = b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in d)
assert b"hello caf\xc3\xa9 plain part" in flat and b"AAECAwQFBgcICQ==" in flat and b"Content-Disposition: attachment" in flat, flat
d = ok(M.fetch("2", "(BODY.PEEK[TEXT]<0.20> BODY.PEEK[]<10.5>)"))
flat = b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in d)
assert b"BODY[TEXT]<0> {20}" in flat and b"BODY[]<10> {5}" in flat, flat
texts = [x[1] for x in d if isinstance(x, tuple)]
assert texts[0] == b"line one\r\n.dot line\r" and texts[1] == full[1][10:15], texts
d = ok(M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"))
assert d[0][1] == b"From: Bob <bob@example.net>\r\nSubject: m1\r\n\r\n", d
# Issue 13.4: the item is echoed with the names as sent (atoms, as Dovecot/Cyrus/UW-IMAP), so a
# client that looks it up by the string it sent finds it; a name that is no atom stays quoted.
assert d[0][0].endswith(b"BODY[HEADER.FIELDS (SUBJECT FROM)] {44}"), d
d = ok(M.fetch("1", '(BODY.PEEK[HEADER.FIELDS ("X]Odd" Subject)])'))
assert b'BODY[HEADER.FIELDS ("X]Odd" Subject)]' in d[0][0], d
d = ok(M.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM DATE MESSAGE-ID TO)])"))
assert b"Subject" not in d[0][1] and d[0][1].endswith(b"\r\n\r\n"), d
head, _, text = full[0].partition(b"\r\n\r\n")
assert ok(M.fetch("1", "(BODY.PEEK[HEADER])"))[0][1] == head + b"\r\n\r\n"
assert ok(M.fetch("1", "(RFC822.HEADER)"))[0][1] == head + b"\r\n\r\n"
assert b"\\Seen" not in ok(M.fetch("1", "(FLAGS)"))[0]
assert ok(M.fetch("1", "(RFC822.TEXT)"))[0][1] == text
assert b"\\Seen" in ok(M.fetch("1", "(FLAGS)"))[0], "RFC822.TEXT did not set \\Seen"
assert ok(M.fetch("2", "(BODY[TEXT])"))[0][1] == full[1].partition(b"\r\n\r\n")[2]
assert b"\\Seen" in ok(M.fetch("2", "(FLAGS)"))[0]
assert ok(M.uid("FETCH", "3", "(RFC822)"))[0][1] == full[2]
assert b"\\Seen" in ok(M.fetch("3", "(FLAGS)"))[0]
# STORE / UID STORE: +FLAGS, -FLAGS, FLAGS, .SILENT, keywords.
r = ok(M.store("1", "+FLAGS", "(\\Flagged $Work)"))
assert b"\\Flagged" in r[0] and b"$Work" in r[0], r
# CONDSTORE was enabled above: a silent STORE still reports the new MODSEQ, no FLAGS
# (RFC 7162 §3.1, §3.1.3).
r = ok(M.store("1", "-FLAGS.SILENT", "(\\Seen)"))
assert len(r) == 1 and b"UID 1 MODSEQ (" in r[0] and b"FLAGS" not in r[0], r
r = ok(M.uid("STORE", "2", "FLAGS", "(\\Answered \\Seen Later)"))
assert b"\\Answered" in r[0] and b"Later" in r[0] and b"UID 2" in r[0], r
r = ok(M.fetch("1:2", "(FLAGS)"))
assert b"\\Seen" not in r[0] and b"$Work" in r[0] and b"\\Answered" in r[1], r
# SEARCH / UID SEARCH.
def S(*c, uid=False, charset=None):
    r = ok(M.uid("SEARCH", *c) if uid else M.search(charset, *c))
    return r[0].split()
assert S("ALL") == [b"1", b"2", b"3"]
assert S("FLAGGED") == [b"1"] and S("UNSEEN") == [b"1"] and S("SEEN") == [b"2", b"3"]
assert S("KEYWORD", "$Work") == [b"1"] and S("UNKEYWORD", "$Work") == [b"2", b"3"]
assert S("ANSWERED") == [b"2"] and S("NOT", "ANSWERED") == [b"1", b"3"]
assert S("OR", "FLAGGED", "ANSWERED") == [b"1", b"2"]
assert S("LARGER", "10000") == [b"2"] and S("SMALLER", "10000") == [b"1", b"3"]
assert S("SUBJECT", "m2") == [b"2"] and S("FROM", "carol") == [b"3"] and S("TO", "dave") == [b"3"]
assert S("HEADER", "Message-ID", "m1@") == [b"1"]
for c, want in [(("BODY", '"line 02999"'), [b"2"]), (("TEXT", "Carol"), [b"3"]), (("TEXT", "m1@example"), [b"1"]), (("TEXT", '"plain part"'), [b"3"]), (("BODY", "Carol"), [])]:
    assert S(*c) == want, (c, S(*c), want)
assert S("SENTON", "2-Mar-2026") == [b"1", b"2"] and S("SENTSINCE", "3-Mar-2026") == [b"3"]
assert S("SINCE", "1-Jan-2020") == [b"1", b"2", b"3"] and S("BEFORE", "1-Jan-2020") == []
assert S("2:*") == [b"2", b"3"] and S("1,3") == [b"1", b"3"]
assert S("UID", "2:3", uid=True) == [b"2", b"3"] and S("FLAGGED", uid=True) == [b"1"]
M.literal = "caf\u00e9".encode()
assert S("BODY", charset="UTF-8") == [b"3"]
# RFC 2047 encoded words match decoded (and raw).
M.literal = "caf\u00e9 mime".encode()
assert S("SUBJECT", charset="UTF-8") == [b"3"]
assert S("SUBJECT", "C3=A9") == [b"3"] and S("SUBJECT", "mime") == [b"3"]
# APPEND (flags + date) with APPENDUID; CHECK; EXPUNGE; UID EXPUNGE; CLOSE.
date = imaplib.Time2Internaldate(time.mktime((2025, 1, 2, 3, 4, 5, 0, 0, -1)))
typ, dat = M.append("INBOX", "(\\Draft \\Deleted $Custom)", date, msg(4)); assert typ == "OK", dat
m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", dat[0]); assert m and m.group(2) == b"4", dat
ok(M.noop())
r = ok(M.fetch("4", "(UID FLAGS INTERNALDATE BODY.PEEK[])"))
assert b"UID 4" in r[0][0] and b"\\Draft" in r[0][0] and b"$Custom" in r[0][0] and b"02-Jan-2025" in r[0][0], r
assert r[0][1] == msg(4), r
ok(M.check())
ok(M.store("2", "+FLAGS.SILENT", "\\Deleted"))
ok(M.uid("EXPUNGE", "2"))                       # UID EXPUNGE: only UID 2 (4 is \Deleted too)
assert S("ALL", uid=True) == [b"1", b"3", b"4"], S("ALL", uid=True)
r = ok(M.expunge()); assert r == [b"2", b"3"], r    # imaplib keeps UID EXPUNGE's "* 2"; UID 4 was seq 3
assert S("ALL", uid=True) == [b"1", b"3"]
ok(M.store("1", "+FLAGS.SILENT", "\\Deleted"))
ok(M.close())
assert M.state == "AUTH"
st = ok(M.status("INBOX", "(MESSAGES UIDNEXT)"))[0]
assert b"MESSAGES 1" in st and b"UIDNEXT 5" in st, st
# SELECT with a CONDSTORE parameter (RFC 7162 §3.1.8) must not be BAD.
c = C(); c.login()
r = c.cmd(b"SELECT INBOX (CONDSTORE)"); assert last(r) == b"OK", r
# IDLE: a delivery shows up as EXISTS; DONE ends it.
ok(M.select("INBOX"))
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
assert M.readline().startswith(b"+"), "no continuation for IDLE"
send([msg(5)])
l = M.readline(); assert re.match(rb"\* 2 EXISTS", l), l
M.send(b"DONE\r\n")
while True:
    l = M.readline()
    if l.startswith(tag): break
assert b"OK" in l, l
assert M.logout()[0] == "BYE"
print("ok")
"#;
    py(&srv, &script.replace("os.environ.get(\"OUT\", \"\")", &format!("{:?}", out_dir(&srv))));
    // Bodies fetched are the stored bytes; the stored bytes are what SMTP delivered.
    let store = srv.home.store();
    let all = contents(&store, "INBOX");
    assert_eq!(all.len(), 2);
    let got = std::fs::read(srv.home.dir.join("3.eml")).unwrap();
    assert_eq!(all[0].2, got, "BODY[] of UID 3 differs from the store");
    assert!(strip_trace(&got).starts_with(b"From: Carol"), "trace headers not where expected");
    // After the trace headers, exactly what went in over SMTP.
    let sent3 = std::fs::read(srv.home.dir.join("sent3.eml")).unwrap();
    assert_eq!(strip_trace(&got), &sent3[..], "UID 3 is not the SMTP message byte for byte");
    let got1 = std::fs::read(srv.home.dir.join("1.eml")).unwrap();
    let sent1 = std::fs::read(srv.home.dir.join("sent1.eml")).unwrap();
    assert_eq!(strip_trace(&got1), &sent1[..], "UID 1 is not the SMTP message byte for byte");
    check_clean(&srv.home);
}

#[test]
fn two_sessions_idle_see_each_others_changes() {
    let srv = Server::start("imap-idle", "", "");
    let script = r#"
import subprocess
A = C(); A.login()
r = A.cmd(b"SELECT INBOX"); assert b"* 0 EXISTS" in r, r
B = imap(); ok(B.select("INBOX"))
A.send(b"i IDLE\r\n"); assert A.line().startswith(b"+"), "no IDLE continuation"
def expect(pat):
    t0 = time.time()
    while True:
        l = A.line()
        assert l, "connection closed"
        if re.match(pat, l): return l
lat = {}
t0 = time.time(); send([msg(1)]); expect(rb"\* 1 EXISTS"); lat["smtp EXISTS"] = time.time() - t0
t0 = time.time()
subprocess.run(DELIVER, input=msg(2), check=True)
expect(rb"\* 2 EXISTS"); lat["deliver EXISTS"] = time.time() - t0
ok(B.noop())
t0 = time.time(); ok(B.store("1", "+FLAGS.SILENT", "(\\Flagged $Shared)"))
l = expect(rb"\* 1 FETCH \(.*FLAGS"); lat["flag FETCH"] = time.time() - t0
assert b"\\Flagged" in l and b"$Shared" in l, l
ok(B.store("2", "+FLAGS.SILENT", "\\Deleted"))
t0 = time.time(); ok(B.expunge())
expect(rb"\* 2 EXPUNGE"); lat["EXPUNGE"] = time.time() - t0
A.send(b"DONE\r\n")
r = A.resp(b"i"); assert last(r) == b"OK", r
for k, v in lat.items():
    print("IDLE latency %-15s %.3f s" % (k, v))
    assert v < 1.5, (k, v)
# Sequence numbers agree after DONE, and A's change reaches B at its next NOOP.
r = A.cmd(b"FETCH 1:* (UID FLAGS)")
assert len([l for l in r if l.startswith(b"* ")]) == 1 and r[0].startswith(b"* 1 FETCH (UID 1 "), r
assert b"\\Flagged" in r[0], r
ok(B.noop())   # absorb the state B already knows
r = A.cmd(b"STORE 1 -FLAGS (\\Flagged)"); assert last(r) == b"OK", r
B.untagged_responses.clear()
ok(B.noop())
f = B.untagged_responses.get("FETCH", [])
assert f and b"\\Flagged" not in f[-1] and b"$Shared" in f[-1], f
send([msg(3)])
time.sleep(0.2)
typ, dat = B.noop(); assert B.untagged_responses.get("EXISTS", [b""])[-1] == b"2", B.untagged_responses
r = A.cmd(b"NOOP"); assert b"* 2 EXISTS" in r, r
B.untagged_responses.clear(); r = ok(B.fetch("1:*", "(UID)")); assert r == [b"1 (UID 1)", b"2 (UID 3)"], r
r = A.cmd(b"FETCH 1:* (UID)"); assert r[:2] == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"], r
"#;
    let out = py(&srv, &script.replace("DELIVER", &argv_py(&srv, "deliver")));
    eprint!("{out}");
}

/// RFC 2180 §4.1: a message another session expunged stays FETCHable while its bytes are
/// in the file; once compaction removed them, FETCH answers `NO [EXPUNGEISSUED]` (RFC 5530,
/// as Dovecot) for it and still returns the others; the EXPUNGE comes at the next NOOP.
#[test]
fn fetch_of_message_expunged_elsewhere_and_compacted_is_expungeissued() {
    let srv = Server::start("imap-expungeissued", "", "");
    let script = r#"
import subprocess
send([msg(1), msg(2), msg(3)])
A = C(); A.login()
r = A.cmd(b"SELECT INBOX"); assert b"* 3 EXISTS" in r, r
B = imap(); ok(B.select("INBOX"))
ok(B.store("2", "+FLAGS.SILENT", "\\Deleted")); ok(B.expunge())
r = A.cmd(b"FETCH 2 (UID FLAGS)"); assert last(r) == b"OK" and b"\\Deleted" in r[0], r
subprocess.run(COMPACT, check=True)
ok(B.noop())   # B's refresh reopens the shared handle on the compacted file
r = A.cmd(b"FETCH 2 (FLAGS)")
assert r[-1].startswith(b"t") and b"NO [EXPUNGEISSUED]" in r[-1] and len(r) == 1, r
r = A.cmd(b"FETCH 1:3 (UID BODY.PEEK[])")
assert b"NO [EXPUNGEISSUED]" in r[-1], r
assert b"* 1 FETCH (UID 1 " in r[0] and any(l.startswith(b"* 3 FETCH (UID 3 ") for l in r), r
assert not any(l.startswith(b"* 2 FETCH") for l in r), r
r = A.cmd(b"SEARCH ALL"); assert r[0] == b"* SEARCH 1 3" and last(r) == b"OK", r
r = A.cmd(b"NOOP"); assert b"* 2 EXPUNGE" in r and last(r) == b"OK", r
r = A.cmd(b"FETCH 1:* (UID)"); assert r[:2] == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"] and last(r) == b"OK", r
"#;
    let out = py(&srv, &script.replace("COMPACT", &argv_py(&srv, "compact")));
    eprint!("{out}");
}

#[test]
fn curl_imap_starttls_and_imaps() {
    let srv = Server::start("imap-curl", "loopback_plaintext = false", "");
    py(&srv, "send([msg(1), msg(2)])");
    let stored = inbox(&srv);
    let auth = format!("alice:{PASSWORD}");
    let imap = format!("imap://127.0.0.1:{}", srv.imap);
    let imaps = format!("imaps://127.0.0.1:{}", srv.imaps);
    let list = String::from_utf8(curl(&["-k", "--ssl-reqd", "-u", &auth, &format!("{imap}/")])).unwrap();
    for f in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(list.contains("* LIST (") && list.contains(f), "{f} not listed: {list}");
    }
    let m1 = curl(&["-k", "--ssl-reqd", "-u", &auth, &format!("{imap}/INBOX;UID=1")]);
    assert_eq!(m1, stored[0], "curl imap:// UID 1 differs");
    let m2 = curl(&["-k", "-u", &auth, &format!("{imaps}/INBOX;UID=2")]);
    assert_eq!(m2, stored[1], "curl imaps:// UID 2 differs");
    let search = String::from_utf8(curl(&["-k", "-u", &auth, &format!("{imaps}/INBOX?SUBJECT%20m2")])).unwrap();
    assert!(search.contains("* SEARCH 2"), "{search}");
    // Without TLS the password is refused here (loopback_plaintext = false): curl fails.
    let o = Command::new("curl").args(["-sS", "-u", &auth, &format!("{imap}/INBOX;UID=1")]).output().unwrap();
    assert!(!o.status.success(), "plaintext LOGIN accepted");
    // A wrong password fails over TLS too.
    let o = Command::new("curl").args(["-sS", "-k", "-u", "alice:wrong", &format!("{imaps}/")]).output().unwrap();
    assert!(!o.status.success());
}

/// An mbox of `n` messages (every third one multipart), written to `path`.
fn write_mbox(path: &std::path::Path, n: usize, body_bytes: usize) {
    let mut out = Vec::with_capacity(n * (body_bytes + 600));
    let filler = "x".repeat(70);
    for i in 0..n {
        out.extend_from_slice(b"From sender@example.net Mon Mar  2 10:00:00 2026\n");
        out.extend_from_slice(
            format!(
                "From: Sender {i} <s{i}@example.net>\nTo: alice@example.org\nSubject: bulk {i}\nDate: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <b{i}@example.net>\n"
            )
            .as_bytes(),
        );
        if i % 3 == 0 {
            out.extend_from_slice(b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nplain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n");
        } else {
            out.extend_from_slice(b"\n");
        }
        let mut written = 0;
        while written < body_bytes {
            out.extend_from_slice(filler.as_bytes());
            out.push(b'\n');
            written += 71;
        }
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

fn import(srv: &Server, n: usize, body_bytes: usize) {
    let mbox = srv.home.dir.join("bulk.mbox");
    write_mbox(&mbox, n, body_bytes);
    let t = Instant::now();
    let out = srv.home.run(&["import", mbox.to_str().unwrap()], b"");
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    eprintln!("imported {n} messages in {:.2} s", t.elapsed().as_secs_f64());
    let _ = std::fs::remove_file(mbox);
}

#[test]
fn ten_thousand_messages_envelope_and_bodystructure() {
    let srv = Server::start("imap-10k", "", "");
    import(&srv, 10_000, 200);
    let hwm0 = srv.status_kib("VmHWM:");
    let out = py(
        &srv,
        r#"
c = C(timeout=60); c.login()
t0 = time.time()
r = c.cmd(b"SELECT INBOX"); assert b"* 10000 EXISTS" in r, r
sel = time.time() - t0
t0 = time.time()
c.send(b"f FETCH 1:* (ENVELOPE BODYSTRUCTURE)\r\n")
n = 0; multi = 0; size = 0
while True:
    l = c.line(); size += len(l) + 2
    if l.startswith(b"f "): break
    assert l.startswith(b"* %d FETCH (" % (n + 1)), l[:100]
    assert b"ENVELOPE (\"Mon, 02 Mar 2026 10:00:00 +0000\" \"bulk %d\"" % n in l, l[:200]
    if b'"ALTERNATIVE"' in l.upper(): multi += 1
    n += 1
el = time.time() - t0
assert l.startswith(b"f OK"), l
assert n == 10000 and multi == 3334, (n, multi)
print("SELECT 10000: %.3f s; FETCH 1:* (ENVELOPE BODYSTRUCTURE): %d responses, %d bytes in %.2f s" % (sel, n, size, el))
# Twice: the second run is served from the stored structures / cache.
t0 = time.time()
r = c.cmd(b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
print("second FETCH: %.2f s" % (time.time() - t0))
assert len(r) == 10001, len(r)
r = c.cmd(b"UID SEARCH SUBJECT \"bulk 9999\""); assert r[0] == b"* SEARCH 10000", r
"#,
    );
    let hwm1 = srv.status_kib("VmHWM:");
    eprint!("{out}");
    eprintln!("server VmHWM before {hwm0} KiB, after {hwm1} KiB (+{} KiB)", hwm1.saturating_sub(hwm0));
    if !under_emulator() {
        assert!(hwm1.saturating_sub(hwm0) < 16 * 1024, "peak RSS grew by {} KiB", hwm1 - hwm0);
    }
}

/// Server RSS (KiB) after a script; fails if it grew more than `max_kib`.
fn assert_rss_flat(srv: &Server, before: u64, max_kib: u64, what: &str) {
    let after = srv.status_kib("VmRSS:");
    eprintln!("{what}: server VmRSS {before} -> {after} KiB");
    if !under_emulator() {
        assert!(after.saturating_sub(before) < max_kib, "{what}: RSS grew {before} -> {after} KiB");
    }
}

#[test]
fn bad_input_28_huge_literal_refused_without_allocating() {
    let srv = Server::start("imap-bad28", "", "");
    let rss = srv.status_kib("VmRSS:");
    py(
        &srv,
        r#"
c = C()
for line in [b"a LOGIN {4294967295}", b"b LOGIN {99999999999999999999}", b"c LOGIN alice {4294967295+}"]:
    c.send(line + b"\r\n")
    l = c.line()
    assert b" BAD [TOOBIG]" in l, (line, l)
c = C(); c.login()
for line in [b"d SELECT {4294967295}", b"e APPEND INBOX {4294967295}", b"f APPEND INBOX {4294967295+}"]:
    c = C(); c.login()
    c.send(line + b"\r\n")
    l = c.line()
    assert l.split()[1] in (b"BAD", b"NO") and b"TOOBIG" in l, (line, l)
c = C(); c.login(); assert last(c.cmd(b"NOOP")) == b"OK"
"#,
    );
    assert_rss_flat(&srv, rss, 2048, "BAD-INPUTS 28");
    assert!(inbox(&srv).is_empty());
}

#[test]
fn bad_input_29_many_literals_capped() {
    let srv = Server::start("imap-bad29", "", "");
    let rss = srv.status_kib("VmRSS:");
    py(
        &srv,
        r#"
c = C(); c.login()
c.send(b"a SEARCH" + b" SUBJECT {1+}\r\nx" * 40 + b"\r\n")
r = c.resp(b"a"); assert b"a BAD [TOOBIG]" in r[-1] or r[-1] == b"", r
# Total bytes: 60 KiB literals, five of them exceed the per-command total.
c = C(); c.login()
try:
    c.send(b"b SEARCH")
    for i in range(6):
        c.send(b" TEXT {61440+}\r\n" + b"y" * 61440)
    c.send(b"\r\n")
    r = c.resp(b"b")
except (ConnectionResetError, BrokenPipeError):
    # The server refuses and closes while we are still sending; the kernel then answers
    # our next bytes with RST and may drop its unread reply (seen on CI).
    r = [b""]
assert b"b BAD [TOOBIG]" in b"\n".join(r) or r[-1] == b"", r
c = C(); c.login(); assert last(c.cmd(b"NOOP")) == b"OK"
"#,
    );
    assert_rss_flat(&srv, rss, 2048, "BAD-INPUTS 29");
}

#[test]
fn bad_input_30_oversized_nonsync_literal_not_parsed_as_commands() {
    let srv = Server::start("imap-bad30", "", "message_size = 65536");
    py(
        &srv,
        r#"
# Before login: a 5000-byte LITERAL+ (limit 1 KiB) full of commands: BAD, BYE, close.
c = C()
c.send(b"a LOGIN {5000+}\r\n" + b"b LOGOUT\r\n" * 500)
r = c.resp(b"a"); assert r[-1].startswith(b"a BAD [TOOBIG]"), r
rest = c.buf
while True:
    try: d = c.s.recv(65536)
    except (ConnectionResetError, socket.timeout): break
    if not d: break
    rest += d
assert b"b OK" not in rest and b"* BYE" in rest, rest[:200]
# After login: a 70 KiB non-APPEND literal (limit 64 KiB) the same way.
c = C(); c.login()
c.send(b"c SEARCH TEXT {70000+}\r\n" + b"d LOGOUT\r\n" * 7000 + b"\r\n")
r = c.resp(b"c"); assert r[-1].startswith(b"c BAD [TOOBIG]"), r
rest = c.buf
while True:
    try: d = c.s.recv(65536)
    except (ConnectionResetError, socket.timeout): break
    if not d: break
    rest += d
assert b"d OK" not in rest and b"BYE letterbox logging out" not in rest, rest[:200]
# An APPEND over message_size with LITERAL+ is refused and nothing is stored.
c = C(); c.login()
c.send(b"e APPEND INBOX {70000+}\r\n" + b"z" * 70000 + b"\r\n")
r = c.resp(b"e"); assert r[-1].split()[1] in (b"NO", b"BAD") and b"TOOBIG" in r[-1], r
"#,
    );
    assert!(inbox(&srv).is_empty());
}

#[test]
fn bad_input_31_deep_parens_bad_connection_survives() {
    let srv = Server::start("imap-bad31", "", "");
    py(
        &srv,
        r#"
send([msg(1)])
c = C(); c.login(); assert last(c.cmd(b"SELECT INBOX")) == b"OK"
deep = b"(" * 30000
for cmd in [b"SEARCH " + deep + b"ALL", b"SELECT INBOX " + deep, b"ID " + deep, b"FETCH 1 " + deep + b"FLAGS",
            b"SEARCH " + b"NOT " * 10000 + b"ALL", b"SEARCH " + b"OR ALL " * 5000 + b"ALL",
            b"FETCH 1 BODY[" + b"1." * 5000 + b"1]"]:
    r = c.cmd(cmd); assert last(r) == b"BAD", (cmd[:30], r)
r = c.cmd(b"SEARCH ((((ALL))))"); assert r[0] == b"* SEARCH 1" and last(r) == b"OK", r
"#,
    );
}

#[test]
fn bad_input_32_nul_in_quoted_is_bad() {
    let srv = Server::start("imap-bad32", "", "");
    py(
        &srv,
        r#"
c = C()
r = c.cmd(b'LOGIN "al\0ice" "x"'); assert last(r) == b"BAD", r
c.send(b"b LOGIN {5}\r\n"); assert c.line().startswith(b"+")
c.send(b"al\0ce x\r\n"); r = c.resp(b"b"); assert last(r) == b"BAD", r
c.login()
for cmd in [b'SELECT "IN\0BOX"', b'STATUS "IN\0BOX" (MESSAGES)', b'SEARCH SUBJECT "a\0b"', b'APPEND "IN\0BOX" {1+}\r\nx']:
    r = c.cmd(cmd); assert last(r) == b"BAD", (cmd, r)
assert last(c.cmd(b"SELECT INBOX")) == b"OK"
"#,
    );
    assert!(inbox(&srv).is_empty());
}

#[test]
fn bad_input_33_path_like_and_control_mailbox_names() {
    let srv = Server::start("imap-bad33", "", "");
    let parent = srv.home.dir.parent().unwrap().to_path_buf();
    let before = tree(&srv.home.dir);
    let outside = ["x", "evil", "etc"].map(|n| parent.join(n).exists());
    py(
        &srv,
        r#"
c = C(); c.login()
names = [b"..", b"../x", b"/etc", b"/tmp/evil", b"a/../../x", b"a/./b", b"a//b", b"\"../../etc\"",
         b"\"a\x01b\"", b"\"a\x7fb\"", b"\"a\x1b[31mb\"", b"{4+}\r\na\tb"]
for n in names:
    for cmd in [b"SELECT ", b"EXAMINE ", b"CREATE ", b"DELETE ", b"STATUS ", b"APPEND ", b"RENAME INBOX ", b"SUBSCRIBE "]:
        line = cmd + n
        if cmd == b"STATUS ": line += b" (MESSAGES)"
        if cmd == b"APPEND ":
            line += b" {1+}\r\nx"
        r = c.cmd(line)
        assert last(r) in (b"NO", b"BAD"), (line, r)
    r = c.cmd(b"LIST \"\" " + (n if not n.startswith(b"{") else b"*"))
    assert last(r) in (b"OK", b"NO", b"BAD"), r
    assert not any(b"etc" in l or b"evil" in l for l in r), r
assert last(c.cmd(b"NOOP")) == b"OK"
"#,
    );
    // New files only inside data/, and no folder other than the six defaults appeared.
    let new: Vec<String> = tree(&srv.home.dir).into_iter().filter(|p| !before.contains(p)).collect();
    eprintln!("new files: {new:?}");
    assert!(new.iter().all(|p| p == "data" || p.starts_with("data/")), "files appeared outside data/: {new:?}");
    assert!(!srv.home.dir.join("x").exists() && !srv.home.dir.join("evil").exists());
    assert_eq!(["x", "evil", "etc"].map(|n| parent.join(n).exists()), outside, "created next to the home");
    assert!(inbox(&srv).is_empty());
    let listed = srv.home.store().list().unwrap();
    assert_eq!(listed.len(), 6, "{listed:?}");
}

#[test]
fn bad_input_34_invalid_mutf7_is_no() {
    let srv = Server::start("imap-bad34", "", "");
    py(
        &srv,
        r#"
c = C(); c.login()
for n in [b"&Jjo", b"&AGE-", b"&-&", b"&U,BTFw", b"&2D3dHQ-", b"\"\xc3\xa9t\xc3\xa9\"", b"&ZeVnLIqe", b"&AAA-"]:
    for cmd in [b"SELECT ", b"STATUS "]:
        line = cmd + n + (b" (MESSAGES)" if cmd == b"STATUS " else b"")
        r = c.cmd(line); assert last(r) in (b"NO", b"BAD"), (line, r)
# A valid encoding of a folder that does not exist is a plain NO; INBOX still works.
r = c.cmd(b"SELECT Entw&APw-rfe"); assert last(r) == b"NO", r
assert last(c.cmd(b"SELECT INBOX")) == b"OK"
"#,
    );
}

#[test]
fn bad_input_35_huge_sequence_sets() {
    let srv = Server::start("imap-bad35", "", "");
    let rss = srv.status_kib("VmRSS:");
    py(
        &srv,
        r#"
send([msg(1), msg(2), msg(3)])
c = C(); c.login(); assert last(c.cmd(b"SELECT INBOX")) == b"OK"
r = c.cmd(b"FETCH 1:4294967295 (UID)"); assert len(r) == 4 and last(r) == b"OK", r
r = c.cmd(b"UID FETCH 4294967295:* (UID)"); assert r[0] == b"* 3 FETCH (UID 3)" and last(r) == b"OK", r
for bad in [b"FETCH 0 (UID)", b"FETCH 4294967296 (UID)", b"FETCH 1:0 (UID)", b"UID FETCH 0:* (UID)", b"FETCH -1 (UID)"]:
    r = c.cmd(bad); assert last(r) == b"BAD", (bad, r)
r = c.cmd(b"STORE 1:4294967295 +FLAGS.SILENT (x)"); assert last(r) == b"OK", r
r = c.cmd(b"SEARCH 4294967295,1:4294967295"); assert r[0] == b"* SEARCH 1 2 3", r
# 10k ranges fit a line; 100k items exceed the line (or the range cap): BAD, no hang.
s = b",".join(b"%d" % (i * 7) for i in range(1, 10001))
t0 = time.time(); r = c.cmd(b"FETCH " + s + b" (UID)"); assert last(r) == b"OK", r[-1]
s = b",".join(b"%d" % i for i in range(1, 100001))
try:
    r = c.cmd(b"UID FETCH " + s + b" (UID)")
    assert r[-1] == b"" or last(r) == b"BAD" or r[-1].startswith(b"* BAD"), r[-3:]
except (ConnectionResetError, BrokenPipeError):
    pass   # over imap_line: * BAD [TOOBIG], BYE and close while we were still sending
print("10k-range FETCH and 100k-item set: %.2f s" % (time.time() - t0))
c = C(); c.login(); r = c.cmd(b"EXAMINE INBOX"); assert last(r) == b"OK"
s = b",".join(b"%d:%d" % (i, i) for i in range(1, 6000))
r = c.cmd(b"UID SEARCH UID " + s); assert r[0] == b"* SEARCH 1 2 3", r
"#,
    );
    assert_rss_flat(&srv, rss, 4096, "BAD-INPUTS 35");
}

#[test]
fn bad_input_36_stalled_reader_bounded_others_served() {
    let srv = Server::start("imap-bad36", "", "");
    import(&srv, 50, 1 << 20);
    let rss = srv.status_kib("VmRSS:");
    let out = py(
        &srv,
        r#"
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(10); s.connect(("127.0.0.1", IMAP))
c = C.__new__(C); c.s = s; c.buf = b""; c.line(); c.login()
assert last(c.cmd(b"SELECT INBOX")) == b"OK"
c.send(b"s FETCH 1:* BODY[]\r\n")   # 50 MiB of output; never read
time.sleep(1.5)
rss = [int(l.split()[1]) for l in open("/proc/PID/status") if l.startswith("VmRSS:")][0]
print("RSS with a stalled 50 MiB FETCH: %d KiB" % rss)
# Other sessions are served meanwhile, including a full 1 MiB body.
t0 = time.time()
M = imap(); ok(M.select("INBOX", readonly=True))
body = ok(M.fetch("50", "(BODY.PEEK[])"))[0][1]
assert len(body) > (1 << 20), len(body)
ok(M.noop()); M.logout()
print("other session: %.2f s" % (time.time() - t0))
assert time.time() - t0 < 5
send([msg(1)])
# The stalled session is still open (cut only by the 120 s write timeout).
s.setblocking(False)
try: d = s.recv(1)
except BlockingIOError: d = None
assert d != b"", "stalled session closed early"
s.close()
"#
        .replace("PID", &srv.pid().to_string())
        .as_str(),
    );
    eprint!("{out}");
    let during: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("RSS with a stalled 50 MiB FETCH: ")?.split(' ').next()?.parse().ok())
        .unwrap();
    eprintln!("BAD-INPUTS 36: server VmRSS {rss} KiB before, {during} KiB while stalled");
    if !under_emulator() {
        assert!(during < rss + 4096, "stalled reader grew RSS {rss} -> {during} KiB");
    }
    assert_eq!(inbox(&srv).len(), 51);
}

/// BAD-INPUTS 36, the cut itself: a session whose client stops reading is closed once a
/// write has stalled for `limits.write_timeout` (120 s by default, 2 s here) after the
/// kernel buffers filled.
#[test]
fn bad_input_36_stalled_reader_is_cut_by_write_timeout() {
    let srv = Server::start("imap-bad36cut", "", "write_timeout = 2");
    import(&srv, 20, 1 << 20);
    let out = py(
        &srv,
        r#"
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(10); s.connect(("127.0.0.1", IMAP))
c = C.__new__(C); c.s = s; c.buf = b""; c.line(); c.login()
assert last(c.cmd(b"SELECT INBOX")) == b"OK"
c.send(b"s FETCH 1:* BODY.PEEK[]\r\n")
t0 = time.time()
while time.time() - t0 < 120:
    time.sleep(0.5)
    if b"disconnect: write error" in open(LOG).read().encode(): break
print("stalled session cut after %.0f s" % (time.time() - t0))
assert b"disconnect: write error" in open(LOG).read().encode(), "never cut"
# Others are served meanwhile and after.
c2 = C(); c2.login(); assert last(c2.cmd(b"NOOP")) == b"OK"
"#
        .replace("LOG", &format!("{:?}", srv.log.display().to_string()))
        .as_str(),
    );
    eprint!("{out}");
}

#[test]
fn bad_input_37_prelogin_timeout_cuts_idle_survives() {
    let srv = Server::start("imap-bad37", "", "imap_idle_timeout = 1\nimap_prelogin_timeout = 2");
    let out = py(
        &srv,
        r#"
res = {}
def silent():
    c = C(timeout=10); t0 = time.time()
    rest = b""
    closed = c.eof(); res["silent"] = (closed, time.time() - t0, c.buf)
def half_login():
    c = C(timeout=10); t0 = time.time()
    c.send(b"a LOGIN {5}\r\n"); c.line()
    c.send(b"al")
    closed = c.eof(); res["half literal"] = (closed, time.time() - t0, c.buf)
def idler():
    c = C(timeout=10); c.login(); c.cmd(b"SELECT INBOX")
    c.send(b"i IDLE\r\n"); assert c.line().startswith(b"+")
    time.sleep(4)
    c.send(b"DONE\r\n"); r = c.resp(b"i"); res["idle"] = r
def quiet():
    c = C(timeout=10); c.login()
    time.sleep(4)
    res["authenticated quiet"] = c.cmd(b"NOOP")
ts = [threading.Thread(target=f) for f in (silent, half_login, idler, quiet)]
for t in ts: t.start()
for t in ts: t.join()
for k in ("silent", "half literal"):
    closed, el, buf = res[k]
    print("%s: closed=%s after %.2f s: %r" % (k, closed, el, buf[:60]))
    assert closed and 1.5 <= el < 4, (k, closed, el)
    assert b"* BYE" in buf, (k, buf)
assert last(res["idle"]) == b"OK", res["idle"]
assert last(res["authenticated quiet"]) == b"OK", res["authenticated quiet"]
"#,
    );
    eprint!("{out}");
}

#[test]
fn bad_input_38_starttls_pipelined_command_discarded() {
    let srv = Server::start("imap-bad38", "", "");
    py(
        &srv,
        r#"
c = C()
c.send(b"a STARTTLS\r\nb LOGIN alice \"" + PASS.encode() + b"\"\r\n")
l = c.line(); assert l.startswith(b"a OK"), l
assert c.buf == b"", c.buf
c.starttls()
r = c.cmd(b"CAPABILITY")
assert not any(l.startswith(b"b ") for l in r), r
assert b"AUTH=PLAIN" in r[0] and b"STARTTLS" not in r[0], r   # still not authenticated
r = c.cmd(b"SELECT INBOX"); assert last(r) == b"BAD", r
r = c.cmd(b"STARTTLS"); assert last(r) == b"BAD", r
c.login(); assert last(c.cmd(b"SELECT INBOX")) == b"OK"
"#,
    );
}

#[test]
fn bad_input_39_append_dropped_mid_literal_stores_nothing() {
    let srv = Server::start("imap-bad39", "", "spool_memory = 8192");
    py(
        &srv,
        r#"
c = C(); c.login()
c.send(b"a APPEND INBOX {100000}\r\n"); assert c.line().startswith(b"+")
c.send(b"x" * 50000); time.sleep(0.2); c.s.close()
c = C(); c.login()
c.send(b"b APPEND INBOX (\\Seen) {100000+}\r\n" + b"y" * 30000); time.sleep(0.2)
c.s.shutdown(socket.SHUT_RDWR); c.s.close()
time.sleep(0.3)
M = imap(); ok(M.select("INBOX")); assert M.select("INBOX")[1] == [b"0"]
typ, dat = M.append("INBOX", None, None, msg(1)); assert typ == "OK", dat
assert ok(M.select("INBOX")) == [b"1"]
"#,
    );
    let all = inbox(&srv);
    assert_eq!(all.len(), 1);
    assert!(all[0].starts_with(b"From: Bob"), "{:?}", String::from_utf8_lossy(&all[0]));
    let leftovers: Vec<String> = tree(&srv.home.data().join("tmp"));
    assert!(leftovers.is_empty(), "spool files left: {leftovers:?}");
    check_clean(&srv.home);
}

#[test]
fn bad_input_40_long_line_bad_and_close() {
    let srv = Server::start("imap-bad40", "", "");
    py(
        &srv,
        r#"
for login in (False, True):
    c = C()
    if login: c.login()
    try:
        c.send(b"a NOOP " + b"x" * (70 * 1024) + b"\r\nb NOOP\r\n")
    except (ConnectionResetError, BrokenPipeError):
        pass
    rest = c.buf
    try:
        while True:
            d = c.s.recv(65536)
            if not d: break
            rest += d
    except ConnectionResetError:
        pass
    assert b"* BAD [TOOBIG]" in rest and b"* BYE" in rest and b"b OK" not in rest, (login, rest)
# A line just under the limit is fine.
c = C(); c.login()
r = c.cmd(b"SEARCH SUBJECT \"" + b"x" * 60000 + b"\""); assert last(r) == b"BAD" or last(r) == b"OK", r[-1]
assert last(c.cmd(b"NOOP")) == b"OK"
"#,
    );
}

#[test]
fn bad_input_44_45_brute_force_delay_and_same_reply_for_unknown_user() {
    let srv = Server::start("imap-bad44", "", "");
    let out = py(
        &srv,
        r#"
def attempt(user, pw, src):
    c = C(src=src, timeout=30)
    t0 = time.time(); r = c.cmd(b'LOGIN "' + user + b'" "' + pw + b'"'); el = time.time() - t0
    c.s.close()
    return r[-1].split(b" ", 1)[1], el
# BAD-INPUTS 45: unknown user and bad password get the same reply in about the same time,
# each a first failure from its own loopback address.
unk, bad = [], []
for i in range(3):
    r1, t1 = attempt(b"mallory", b"wrong-password", "127.0.0.%d" % (10 + 2 * i))
    r2, t2 = attempt(b"alice", b"wrong-password", "127.0.0.%d" % (11 + 2 * i))
    assert r1 == r2 and r1.startswith(b"NO [AUTHENTICATIONFAILED]"), (r1, r2)
    unk.append(t1); bad.append(t2)
unk.sort(); bad.sort()
print("unknown user %.3f s, bad password %.3f s (medians)" % (unk[1], bad[1]))
assert abs(unk[1] - bad[1]) < max(0.05, 0.5 * bad[1]), (unk, bad)
# AUTHENTICATE PLAIN: the same reply too.
def sasl(authc, pw, src):
    c = C(src=src); r = c.cmd(b"AUTHENTICATE PLAIN " + base64.b64encode(b"\0" + authc + b"\0" + pw)); c.s.close()
    return r[-1].split(b" ", 1)[1]
assert sasl(b"mallory", b"x", "127.0.0.30") == sasl(b"alice", b"x", "127.0.0.31")
# BAD-INPUTS 44: the second failure from one address waits at least 2 s.
r, t1 = attempt(b"alice", b"guess-1", "127.0.0.50")
r, t2 = attempt(b"alice", b"guess-2", "127.0.0.50")
print("first failure %.2f s, second %.2f s" % (t1, t2))
assert r.startswith(b"NO"), r
assert t2 >= 1.9 and t1 < 1.5, (t1, t2)
# Within one connection too (three failures, then BYE).
c = C(src="127.0.0.60")
t0 = time.time()
for i in range(3):
    r = c.cmd(b'LOGIN alice "guess-%d"' % i); assert last(r) == b"NO", r
print("three failures in one connection: %.2f s" % (time.time() - t0))
assert time.time() - t0 >= 5.5
assert b"* BYE" in c.buf or c.eof()
# Other addresses are not slowed down, and the right password works.
r, t = attempt(USER.encode(), PASS.encode(), "127.0.0.51")
assert r.startswith(b"OK"), r
assert t < 1.5, t
"#,
    );
    eprint!("{out}");
}

#[test]
fn bad_input_46_logindisabled_before_tls_with_loopback_plaintext_false() {
    let srv = Server::start("imap-bad46", "loopback_plaintext = false", "");
    py(
        &srv,
        r#"
c = C()
assert b"LOGINDISABLED" in c.greeting or b"CAPABILITY" not in c.greeting, c.greeting
r = c.cmd(b"CAPABILITY")
assert b"LOGINDISABLED" in r[0] and b"STARTTLS" in r[0] and b"AUTH=PLAIN" not in r[0], r
r = c.cmd(b'LOGIN alice "' + PASS.encode() + b'"'); assert last(r) == b"NO" and b"PRIVACYREQUIRED" in r[-1], r
r = c.cmd(b"AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0" + PASS.encode())); assert last(r) in (b"NO", b"BAD"), r
r = c.cmd(b"STARTTLS"); assert last(r) == b"OK", r
c.starttls()
r = c.cmd(b"CAPABILITY")
assert b"LOGINDISABLED" not in r[0] and b"AUTH=PLAIN" in r[0] and b"STARTTLS" not in r[0], r
c.login()
# imaplib the usual way, and IMAPS.
M = imaplib.IMAP4("127.0.0.1", IMAP)
try:
    M.login(USER, PASS); raise AssertionError("LOGIN accepted before TLS")
except imaplib.IMAP4.error as e:
    assert "PRIVACYREQUIRED" in str(e) or "LOGINDISABLED" in str(e), e
M = imaplib.IMAP4("127.0.0.1", IMAP); M.starttls(ssl_context=CTX); ok(M.login(USER, PASS)); M.logout()
c = C(IMAPS, tls=True)
r = c.cmd(b"CAPABILITY"); assert b"AUTH=PLAIN" in r[0] and b"STARTTLS" not in r[0] and b"LOGINDISABLED" not in r[0], r
c.login()
"#,
    );
}

#[test]
fn bad_input_47_malformed_sasl() {
    let srv = Server::start("imap-bad47", "", "");
    py(
        &srv,
        r#"
def one(lines, src="127.0.0.1"):
    c = C(src=src)
    r = None
    for l in lines:
        if l is None:
            l2 = c.line(); assert l2.startswith(b"+"), l2
            continue
        c.send(l + b"\r\n")
    r = c.resp(b"a")
    return c, r
cases = [
    [b"a AUTHENTICATE PLAIN !!!not-base64!!!"],
    [b"a AUTHENTICATE PLAIN " + base64.b64encode(b"alice" + PASS.encode())],          # no NULs
    [b"a AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice")],                          # no password
    [b"a AUTHENTICATE PLAIN " + base64.b64encode(b"bob\0alice\0" + PASS.encode())],    # other authzid
    [b"a AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0" + PASS.encode() + b"\0x")],
    [b"a AUTHENTICATE PLAIN " + base64.b64encode(b"\0" * 10000)],                       # 10 KB blob
    [b"a AUTHENTICATE PLAIN " + b"A" * 10240],
    [b"a AUTHENTICATE PLAIN", None, b"*"],                                             # cancelled
    [b"a AUTHENTICATE PLAIN", None, base64.b64encode(b"\xff" * 7500)],                 # 10 KB response
    [b"a AUTHENTICATE PLAIN", None, b"=="],
    [b"a AUTHENTICATE CRAM-MD5"],
    [b"a AUTHENTICATE"],
    [b"a AUTHENTICATE PLAIN a b c"],
]
for i, lines in enumerate(cases):
    c, r = one(lines, "127.0.0.%d" % (100 + i))
    assert r[-1].split()[1:2] in ([b"NO"], [b"BAD"]) or r[-1] == b"", (lines[0][:60], r)
    assert not any(b"OK" == l.split()[1:2] for l in r if l.startswith(b"a ")), r
    # The connection is still usable afterwards (or closed after too many failures).
    c.send(b"z NOOP\r\n"); r = c.resp(b"z"); assert r[-1].startswith(b"z OK") or r[-1] == b"", r
c = C(); r = c.cmd(b"AUTHENTICATE PLAIN " + base64.b64encode(b"alice\0alice\0" + PASS.encode())); assert last(r) == b"OK", r
"#,
    );
    assert!(srv.log_text().contains("imap"), "no log");
}

fn sh(cmd: String) -> (bool, String) {
    let o = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

#[test]
fn bad_input_48_old_tls_refused_openssl_starttls_works() {
    let srv = Server::start("imap-bad48", "", "");
    let (_, text) = sh(format!(
        "(sleep 0.5; printf 'a CAPABILITY\\r\\n'; sleep 0.3; printf 'b LOGOUT\\r\\n') | openssl s_client -ign_eof -starttls imap -connect 127.0.0.1:{} 2>&1",
        srv.imap
    ));
    assert!(text.contains("Protocol  : TLSv1.3"), "{text}");
    assert!(text.contains("AUTH=PLAIN") && text.contains("b OK"), "{text}");
    for v in ["-tls1_1", "-tls1"] {
        for (port, extra) in [(srv.imaps, ""), (srv.imap, "-starttls imap")] {
            let (ok, text) = sh(format!(
                "openssl s_client {v} {extra} -cipher 'DEFAULT@SECLEVEL=0' -connect 127.0.0.1:{port} </dev/null 2>&1"
            ));
            assert!(!ok, "{v} {extra} handshake succeeded: {text}");
            assert!(text.contains("Cipher is (NONE)") || text.contains("no protocols available"), "{v}: {text}");
        }
    }
    py(&srv, "M = imap(True); ok(M.select('INBOX')); M.logout()");
}

#[test]
fn bad_input_49_plaintext_and_stalled_hello_on_imaps_closed() {
    let srv = Server::start("imap-bad49", "", "tls_handshake_timeout = 2");
    let out = py(
        &srv,
        r#"
res = {}
def probe(name, payload, port=IMAPS, starttls=False):
    c = C(port, timeout=8, greet=starttls)
    if starttls:
        r = c.cmd(b"STARTTLS"); assert last(r) == b"OK", r
    t0 = time.time()
    if payload: c.s.sendall(payload)
    closed = c.eof()
    res[name] = (closed, time.time() - t0, c.buf)
ts = [threading.Thread(target=probe, args=a) for a in [
    ("plaintext", b"a LOGIN alice x\r\n"),
    ("silent", b""),
    ("stalled hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20),
    ("garbage record", b"\x16\x03\x03\xff\xff" + b"\xaa" * 64),
    ("starttls then silent", b"", IMAP, True),
    ("starttls then plaintext", b"b LOGIN alice x\r\n", IMAP, True),
]]
for t in ts: t.start()
for t in ts: t.join()
for k, (closed, el, buf) in res.items():
    print("%-24s closed=%s after %.2f s %r" % (k, closed, el, buf[:40]))
    assert closed, k
    assert el < 3.5, (k, el)
    assert b"OK" not in buf and b"alice" not in buf, (k, buf)
assert res["silent"][1] >= 1.5 and res["stalled hello"][1] >= 1.5 and res["starttls then silent"][1] >= 1.5, res
M = imap(True); M.logout()
"#,
    );
    eprint!("{out}");
}

/// Opens `n` logged-in sessions with INBOX selected and prints the server's VmRSS.
const SESSIONS: &str = r#"
def rss():
    return [int(l.split()[1]) for l in open("/proc/PID/status") if l.startswith("VmRSS:")][0]
time.sleep(0.3)
base = rss()
conns = []
out = {}
for n in (10, 100):
    while len(conns) < n:
        c = C(); c.login(); r = c.cmd(b"SELECT INBOX"); assert b"* 2000 EXISTS" in r, r
        conns.append(c)
    for c in conns: assert last(c.cmd(b"NOOP")) == b"OK"
    time.sleep(0.3)
    out[n] = rss()
    print("%d sessions: VmRSS %d KiB (idle server %d KiB, +%d KiB, %.1f KiB/session)" % (n, out[n], base, out[n] - base, (out[n] - base) / n))
for c in conns: c.s.close()
print("RESULT", base, out[10], out[100])
"#;

#[test]
fn rss_10_and_100_sessions_with_2000_messages() {
    let srv = Server::start("imap-rss", "", "connections = 128\nconnections_per_ip = 128");
    import(&srv, 2000, 500);
    let out = py(&srv, &SESSIONS.replace("PID", &srv.pid().to_string()));
    eprint!("{out}");
    let nums: Vec<u64> =
        out.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
    let (base, r10, r100) = (nums[0], nums[1], nums[2]);
    eprintln!("server VmRSS: idle {base} KiB, 10 sessions {r10} KiB, 100 sessions {r100} KiB");
    // Sessions share the folder's UID list and read flags from the store's table (issue 5):
    // a session costs its buffers, not a copy of the folder (which was ~84 KiB here).
    let per_session = r100.saturating_sub(r10) / 90;
    assert!(per_session <= 40, "{per_session} KiB per selected session");
    if !under_emulator() {
        // Issue goal 3 MiB / 8 MiB total; measured (x86-64 release) in the report.
        assert!(r10 <= 6 * 1024, "10 sessions: {r10} KiB");
        assert!(r100 <= 10 * 1024, "100 sessions: {r100} KiB");
    }
}
