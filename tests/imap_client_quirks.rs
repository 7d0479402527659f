//! Command lines as real IMAP clients send them, replayed against the real `letterbox
//! serve` over loopback: every tagged reply must be OK (or the NO/BAD listed for it) and
//! the session must keep working (a NOOP at the end of every client).
//!
//! Where the lines come from (captures published in issue trackers):
//! * eM Client 11: `ENABLE QRESYNC CONDSTORE`, then `SELECT INBOX (CONDSTORE QRESYNC (v m))`
//!   with both parameters (github.com/Purelymail/purelymail-issues issue 452).
//! * iPhone Mail 16.5: `UID FETCH ... (CHANGEDSINCE 0)` (github.com/modern-email/defects 29).
//! * Thunderbird: lower-case commands, `select "INBOX"`, `UID fetch 1:* (FLAGS)`
//!   (github.com/andris9/hoodiecrow issue 18); `uid fetch N (UID RFC822.SIZE BODY[])` with
//!   UID expected first in the answer (github.com/ProtonMail/proton-bridge issue 204).
//! * Horde / Nextcloud Mail: `EXAMINE INBOX (QRESYNC (v m known-uids))` right before a
//!   `SELECT` of the same mailbox (github.com/nextcloud/mail issue 11054).
//!
//! * K-9 Mail / Thunderbird for Android and Roundcube turn on COMPRESS=DEFLATE (RFC 4978)
//!   after login; here the replay goes on through real zlib (raw deflate) from then on.
//! * Roundcube: `UID SORT (REVERSE ARRIVAL) US-ASCII ALL UNDELETED`, `SORT RETURN (ALL COUNT)`
//!   (ESORT) and `UID THREAD REFERENCES` for its message list (rcube_imap_generic.php).
//!
//! The other lines (ID field lists, HEADER.FIELDS lists, K-9's partial TEXT fetches,
//! Outlook's header/body fetches) are the forms these clients are known to use, not
//! verbatim captures. `LIST ... RETURN (SPECIAL-USE STATUS (...))` (LIST-EXTENDED, RFC
//! 5258/5819) is not implemented on this branch: it may be BAD, the session must survive.

mod common;

use common::*;

const QUIRKS: &str = r#"
import base64
OK, NO, BAD = b"OK", b"NO", b"BAD"
send([msg(1), msg(2), msg(3, b"".join(b"body line %04d with some text\r\n" % i for i in range(200)))])
PLAIN = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASS.encode())
LIST_STATUS = b'LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))'
HDRS = (b"BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority "
        b"References Newsgroups In-Reply-To Content-Type Reply-To)]")

def lit_cmd(c, parts, tag):
    """A command with synchronizing literals: `parts` end in `{n}` except the last; the
    client waits for the `+` continuation before each literal (RFC 3501 §7.5)."""
    c.send(tag + b" " + parts[0] + b"\r\n")
    for p in parts[1:]:
        l = c.line(); assert l.startswith(b"+"), l
        c.send(p + b"\r\n")
    return c.resp(tag)

def run(client, steps):
    c = C()
    assert c.greeting.startswith(b"* OK"), c.greeting
    for i, step in enumerate(steps):
        tag = b"%s%d" % (client[:2].encode(), i)
        kind, arg, want = step
        if kind == "cmd":
            r = c.cmd(arg, tag)
        elif kind == "lit":
            r = lit_cmd(c, arg, tag)
        elif kind == "compress":
            r = c.cmd(b"COMPRESS DEFLATE", tag)
            if r[-1].startswith(tag + b" OK"): c.compress()
        elif kind == "idle":
            c.send(tag + b" IDLE\r\n")
            l = c.line(); assert l.startswith(b"+"), (client, l)
            c.send(b"DONE\r\n")
            r = c.resp(tag)
        st = r[-1].split(b" ", 2)[1] if r and r[-1].startswith(tag + b" ") else b"(closed)"
        assert st in want, (client, step, r)
        if arg is not None and callable(want_check.get((client, i))):
            want_check[(client, i)](r)
    r = c.cmd(b"NOOP", b"zz"); assert status(r) == OK, (client, r)
    r = c.cmd(b"LOGOUT", b"zy"); assert status(r) == OK, (client, r)
    print("%-10s %2d commands OK" % (client, len(steps) + 2))

want_check = {}
def check(client, i, f): want_check[(client, i)] = f

# --- iPhone Mail (iOS): ID with client fields, SASL-IR, CONDSTORE, CHANGEDSINCE 0, IDLE.
ios = [
    ("cmd", b"CAPABILITY", {OK}),
    ("cmd", b'ID ("name" "iPhone Mail" "version" "20F75" "os" "iOS" "os-version" "16.5.1 (20F75)")', {OK}),
    ("cmd", b"AUTHENTICATE PLAIN " + PLAIN, {OK}),
    ("cmd", b'LIST "" ""', {OK}),
    ("cmd", b'LIST "" "*"', {OK}),
    ("cmd", b"SELECT INBOX (CONDSTORE)", {OK}),
    ("cmd", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)", {OK}),
    ("cmd", b"UID FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES)])", {OK}),
    ("cmd", b"UID FETCH 2 (BODYSTRUCTURE)", {OK}),
    ("cmd", b"UID FETCH 2 (BODY.PEEK[1]<0.4096>)", {OK}),
    ("cmd", b"UID STORE 2 +FLAGS.SILENT (\\Seen)", {OK}),
    ("idle", None, {OK}),
]
def ios_all_with_modseq(r):
    lines = [l for l in r if l.startswith(b"* ")]
    assert len(lines) == 3 and all(b"MODSEQ (" in l for l in lines), r
check("iOS", 6, ios_all_with_modseq)

# --- Thunderbird (desktop): lower-case commands, quoted LOGIN, CONDSTORE select, header list.
tb = [
    ("cmd", b"capability", {OK}),
    ("cmd", b'ID ("name" "Thunderbird" "version" "115.3.1")', {OK}),
    ("cmd", b'login "%s" "%s"' % (USER.encode(), PASS.encode()), {OK}),
    ("cmd", b'list "" "*"', {OK}),
    ("cmd", b'lsub "" "*"', {OK}),
    ("cmd", b'list "" "INBOX"', {OK}),
    ("cmd", b'select "INBOX" (CONDSTORE)', {OK}),
    ("cmd", b"UID fetch 1:* (FLAGS)", {OK}),
    ("cmd", b"UID fetch 1:* (FLAGS) (CHANGEDSINCE 1)", {OK}),
    ("cmd", b"UID fetch 1:3 (UID RFC822.SIZE FLAGS " + HDRS + b")", {OK}),
    ("cmd", b"uid fetch 1 (UID RFC822.SIZE BODY[])", {OK}),
    ("cmd", b"uid store 1 +Flags (\\Seen)", {OK}),
    ("cmd", b'UID copy 1 "Trash"', {OK}),
    ("cmd", b'STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)', {OK}),
    ("idle", None, {OK}),
]
def tb_uid_first(r):
    lines = [l for l in r if isinstance(l, bytes) and l.startswith(b"* 1 FETCH")]
    assert lines and lines[0].startswith(b"* 1 FETCH (UID 1 "), r
check("Thunderbird", 10, tb_uid_first)

# --- K-9 Mail / Thunderbird for Android: literal LOGIN, SPECIAL-USE list, partial fetches.
k9 = [
    ("cmd", b"CAPABILITY", {OK}),
    ("lit", [b"LOGIN {%d}" % len(USER), USER.encode() + b" {%d}" % len(PASS), PASS.encode()], {OK}),
    ("cmd", b'ID ("name" "Thunderbird" "version" "8.2" "os" "Android")', {OK}),
    ("compress", None, {OK}),
    ("cmd", b'LIST "" "*" RETURN (SPECIAL-USE)', {OK, BAD}),
    ("cmd", b'LIST "" "*"', {OK}),
    ("cmd", b"EXAMINE INBOX", {OK}),
    ("cmd", b"SELECT INBOX", {OK}),
    ("cmd", b"UID SEARCH 1:* NOT DELETED", {OK}),
    ("cmd", b"UID FETCH 1:3 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (date subject from content-type to cc reply-to message-id references in-reply-to X-K9mail-Identity Chat-Version)])", {OK}),
    ("cmd", b"UID FETCH 3 (UID RFC822.SIZE BODYSTRUCTURE)", {OK}),
    ("cmd", b"UID FETCH 3 (UID BODY.PEEK[TEXT]<0.4096>)", {OK}),
    ("cmd", b"UID FETCH 3 (UID BODY.PEEK[1.MIME] BODY.PEEK[1]<0.32768>)", {OK}),
    ("cmd", b"UID STORE 3 +FLAGS.SILENT (\\Deleted)", {OK}),
    ("cmd", b"UID EXPUNGE 3", {OK}),
    ("idle", None, {OK}),
]

# --- eM Client 11: ENABLE both, SELECT with both parameters, STATUS HIGHESTMODSEQ.
em = [
    ("cmd", b"CAPABILITY", {OK}),
    ("cmd", b"AUTHENTICATE PLAIN " + PLAIN, {OK}),
    ("cmd", b'ID ("name" "eM Client" "version" "11.0.79" "os" "Windows" "vendor" "eM Client s.r.o.")', {OK}),
    ("cmd", b"ENABLE QRESYNC CONDSTORE", {OK}),
    ("cmd", LIST_STATUS, {OK, BAD}),
    ("cmd", b"STATUS INBOX (UIDNEXT UIDVALIDITY HIGHESTMODSEQ MESSAGES UNSEEN)", {OK}),
    ("cmd", b"SELECT INBOX (CONDSTORE QRESYNC (1 1))", {OK}),
    ("cmd", b"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1 VANISHED)", {OK}),
    ("cmd", b"UID SEARCH MODSEQ 1", {OK}),
    ("cmd", b"UID STORE 1 (UNCHANGEDSINCE 1) +FLAGS.SILENT (\\Flagged)", {OK}),
    ("cmd", b"SELECT INBOX (FOO BAR)", {BAD}),
    ("cmd", b"UNSELECT", {OK}),
    ("idle", None, {OK}),
]
def em_modified(r):
    assert b"[MODIFIED 1]" in r[-1], r
check("eM Client", 9, em_modified)

# --- Outlook: LOGIN with literals (LITERAL+), plain SELECT, header and body fetches.
outlook = [
    ("cmd", b"CAPABILITY", {OK}),
    ("lit", [b"LOGIN {%d+}\r\n" % len(USER) + USER.encode() + b" {%d}" % len(PASS), PASS.encode()], {OK}),
    ("cmd", b'LIST "" "*"', {OK}),
    ("cmd", b'LSUB "" "*"', {OK}),
    ("cmd", b'SELECT "INBOX"', {OK}),
    ("cmd", b"UID FETCH 1:* (UID FLAGS)", {OK}),
    ("cmd", b"UID FETCH 1:2 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER])", {OK}),
    ("cmd", b"UID FETCH 2 (UID RFC822.SIZE BODY.PEEK[])", {OK}),
    ("cmd", b"UID STORE 2 +FLAGS (\\Seen)", {OK}),
    ("cmd", b'UID COPY 2 "Archive"', {OK}),
    ("cmd", b'STATUS "Archive" (MESSAGES UNSEEN)', {OK}),
    ("cmd", b"CHECK", {OK}),
    ("cmd", b"EXPUNGE", {OK}),
    ("idle", None, {OK}),
]

# --- Horde / Nextcloud Mail: EXAMINE with QRESYNC, then SELECT of the same mailbox.
horde = [
    ("cmd", b"AUTHENTICATE PLAIN " + PLAIN, {OK}),
    ("cmd", b"ENABLE QRESYNC", {OK}),
    ("cmd", b"EXAMINE INBOX (QRESYNC (1 1 1:73,81:82,84:97))", {OK}),
    ("cmd", b"SELECT INBOX (QRESYNC (1 1 1:73,81:82,84:97))", {OK}),
    ("cmd", b'LIST "" "*" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)', {OK, BAD}),
]

# --- Roundcube (rcube_imap_generic): ESEARCH-style SORT and THREAD lists for its message list.
roundcube = [
    ("cmd", b"CAPABILITY", {OK}),
    ("cmd", b'LOGIN "%s" "%s"' % (USER.encode(), PASS.encode()), {OK}),
    ("compress", None, {OK}),
    ("cmd", b'SELECT "INBOX"', {OK}),
    ("cmd", b"UID SORT (REVERSE ARRIVAL) US-ASCII ALL UNDELETED", {OK}),
    ("cmd", b"SORT RETURN (ALL COUNT) (DATE) UTF-8 NOT DELETED", {OK}),
    ("cmd", b"UID THREAD REFERENCES US-ASCII ALL", {OK}),
    ("cmd", b"SEARCH RETURN (MIN MAX COUNT) ALL", {OK}),
    ("cmd", b"UID FETCH 1:3 (UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT CONTENT-TYPE CC REPLY-TO LIST-POST DISPOSITION-NOTIFICATION-TO X-PRIORITY)])", {OK}),
    ("idle", None, {OK}),
]
def rc_sort(r):
    # K-9 expunged UID 3 above: two messages (same arrival second: sequence order breaks the tie).
    assert any(l.startswith(b"* SORT ") and sorted(l.split()[2:]) == [b"1", b"2"] for l in r if isinstance(l, bytes)), r
check("Roundcube", 4, rc_sort)
def rc_esort(r):
    assert any(l.startswith(b"* ESEARCH (TAG ") and b"COUNT 2" in l for l in r if isinstance(l, bytes)), r
check("Roundcube", 5, rc_esort)
def rc_thread(r):
    assert any(l.startswith(b"* THREAD ") for l in r if isinstance(l, bytes)), r
check("Roundcube", 6, rc_thread)

for name, steps in [("iOS", ios), ("Thunderbird", tb), ("K-9", k9), ("eM Client", em), ("Outlook", outlook), ("Horde", horde), ("Roundcube", roundcube)]:
    run(name, steps)
"#;

#[test]
fn client_command_lines_replayed() {
    let srv = Server::start("imap-quirks", "", "");
    let out = srv.py("", QUIRKS);
    eprint!("{out}");
    assert_eq!(out.lines().filter(|l| l.contains("commands OK")).count(), 7, "{out}");
}
