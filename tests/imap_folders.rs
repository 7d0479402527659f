//! End-to-end tests of IMAP folders and the clients that sync them (issue 6): LIST-EXTENDED
//! (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154),
//! APPENDLIMIT (RFC 7889), UTF8=ACCEPT names (RFC 6855), RENAME INBOX (RFC 3501 §6.3.5,
//! also killed at each durable step), folder-name attacks; then real clients: mbsync (a
//! whole account into a Maildir and back, twice), fetchmail over IMAP and IMAPS, curl.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// What these scripts add to the shared raw clients (tests/common/raw_client.py).
const PY: &str = r#"
TIMEOUT = 20
def lists(r): return [l for l in r if l.startswith(b"* LIST ")]
def names(r): return [l.rsplit(b' "/" ', 1)[1] for l in lists(r)]
def line_for(r, name):
    got = [l for l in r if l.startswith(b"* LIST ") and l.endswith(b' "/" ' + name)]
    assert len(got) == 1, (name, r)
    return got[0]
def msg(i, extra=b""):
    return (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: m%d\r\n"
            b"Message-ID: <m%d@example.net>\r\n\r\nline one\r\n" % (i, i)) + extra + b"last line %d\r\n" % i
"#;

fn py(srv: &Server, script: &str) -> String {
    srv.py(PY, script)
}

fn bodies(srv: &Server, folder: &str) -> Vec<Vec<u8>> {
    contents(&srv.home.store(), folder).into_iter().map(|(_, _, b)| b).collect()
}

#[test]
fn list_extended_status_special_use_and_appendlimit() {
    let mut srv = Server::start("imap-listext", "", "message_size = 1048576");
    py(
        &srv,
        r#"
c = C(); c.login()
caps = c.ok(b"CAPABILITY")[0].split()
for cap in [b"LIST-EXTENDED", b"LIST-STATUS", b"SPECIAL-USE", b"CREATE-SPECIAL-USE", b"UTF8=ACCEPT", b"APPENDLIMIT=1048576"]:
    assert cap in caps, (cap, caps)
# APPENDLIMIT is the limit that is enforced.
r = c.cmd(b"APPEND INBOX {1048577}"); assert last(r) in (b"NO", b"BAD"), r
for n in [b"a/b/c", b"a/x", b"p", b"q/r", b"gone"]: c.ok(b"CREATE " + n)
for n in [b"a/b/c", b"p", b"gone"]: c.ok(b"SUBSCRIBE " + n)
c.ok(b"DELETE gone")

# Several patterns (RFC 5258 §3): exactly the two, INBOX first, special-use attribute kept.
r = c.ok(b'LIST "" ("INBOX" "Sent")')
assert names(r) == [b'"INBOX"', b'"Sent"'], r
assert b"\\Sent" in line_for(r, b'"Sent"'), r
# A missing parent: \Noselect in RFC 3501 syntax, \NonExistent in extended syntax.
r = c.ok(b'LIST "" "a/%"')
assert line_for(r, b'"a/b"').startswith(b"* LIST (\\Noselect \\HasChildren)"), r
assert line_for(r, b'"a/x"').startswith(b"* LIST (\\HasNoChildren)"), r
r = c.ok(b'LIST () "" "a/%"')
assert line_for(r, b'"a/b"').startswith(b"* LIST (\\NonExistent \\HasChildren)"), r
r = c.ok(b'LIST (REMOTE) "" "%"')
assert set(names(r)) >= {b'"INBOX"', b'"a"', b'"p"', b'"q"', b'"Sent"'}, r
assert b'"a/x"' not in names(r), r

# SUBSCRIBED selection: subscribed names only, a deleted one as \NonExistent.
r = c.ok(b'LIST (SUBSCRIBED) "" "*"')
assert set(names(r)) == {b'"INBOX"', b'"Sent"', b'"Drafts"', b'"Trash"', b'"Junk"', b'"Archive"',
                         b'"a/b/c"', b'"p"', b'"gone"'}, r
assert all(b"\\Subscribed" in l for l in lists(r)), r
assert line_for(r, b'"gone"').startswith(b"* LIST (\\NonExistent \\Subscribed"), r
# RECURSIVEMATCH: `a` is not subscribed but has a subscribed child the pattern misses.
r = c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')
a = [l for l in lists(r) if b' "/" "a" ' in l + b" "]
assert len(a) == 1 and a[0].endswith(b'"a" ("CHILDINFO" ("SUBSCRIBED"))') and b"\\Subscribed" not in a[0], r
assert b'"q"' not in names(r), r
r = c.ok(b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"')
assert not any(b"CHILDINFO" in l for l in r), r
# RETURN (SUBSCRIBED CHILDREN) on a normal LIST.
r = c.ok(b'LIST "" "%" RETURN (SUBSCRIBED CHILDREN)')
assert b"\\Subscribed" in line_for(r, b'"p"') and b"\\HasNoChildren" in line_for(r, b'"p"'), r
assert b"\\Subscribed" not in line_for(r, b'"q"') and b"\\HasChildren" in line_for(r, b'"q"'), r
# SPECIAL-USE selection and return option (RFC 6154 §5).
r = c.ok(b'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')
assert sorted(names(r)) == sorted([b'"Sent"', b'"Drafts"', b'"Trash"', b'"Junk"', b'"Archive"']), r
for n, a in [(b"Sent", b"\\Sent"), (b"Drafts", b"\\Drafts"), (b"Trash", b"\\Trash"), (b"Junk", b"\\Junk"), (b"Archive", b"\\Archive")]:
    assert a in line_for(r, b'"' + n + b'"'), r
# Errors are BAD (RFC 5258 §3).
for bad in [b'LIST (RECURSIVEMATCH) "" "*"', b'LIST (BOGUS) "" "*"', b'LIST "" "*" RETURN (BOGUS)',
            b'LIST (RECURSIVEMATCH REMOTE) "" "*"', b'LIST "" ("a" "b"', b'LIST "" "*" RETURN']:
    assert last(c.cmd(bad)) == b"BAD", bad

# LIST-STATUS (RFC 5819): a STATUS right after each selectable mailbox's LIST line.
send([msg(1), msg(2)])
c.append(b"p", msg(3), b"(\\Seen) ")
uv = int(re.search(rb"UIDVALIDITY (\d+)", c.ok(b"STATUS INBOX (UIDVALIDITY)")[0]).group(1))
c.ok(b"SELECT INBOX")
r = c.ok(b'LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT SIZE))')
for i, l in enumerate(r):
    if l.startswith(b"* STATUS "):
        box = l.split(b" ")[2]
        assert r[i - 1].startswith(b"* LIST ") and r[i - 1].endswith(b' "/" ' + box), (i, r)
statuses = {l.split(b" ")[2]: l for l in r if l.startswith(b"* STATUS ")}
size = len(msg(1)) + len(msg(2))
assert re.match(rb'\* STATUS "INBOX" \(MESSAGES 2 UNSEEN 2 UIDNEXT 3 UIDVALIDITY %d RECENT 0 SIZE (\d+)\)$' % uv,
                statuses[b'"INBOX"']), r
assert b"(MESSAGES 1 UNSEEN 0 UIDNEXT 2 " in statuses[b'"p"'], r
assert b'"a"' not in statuses and b'"a/b"' not in statuses and b'"Sent"' in statuses, r
assert b"\\Sent" in line_for(r, b'"Sent"'), r
# STATUS of the selected folder does not eat its pending updates.
send([msg(4)])
r = c.ok(b"STATUS INBOX (MESSAGES)")
r = c.ok(b'LIST "" INBOX RETURN (STATUS (MESSAGES))')
assert b"* 3 EXISTS" in c.ok(b"NOOP"), "EXISTS lost after STATUS"

# CREATE-SPECIAL-USE (RFC 6154 §3): NO [USEATTR] for a used or unsupported attribute.
for use in [b"\\Archive", b"\\Flagged", b"\\All", b"\\Bogus", b"\\Sent \\Trash"]:
    r = c.cmd(b"CREATE X (USE (" + use + b"))")
    assert last(r) == b"NO" and b"[USEATTR]" in r[-1], (use, r)
assert lists(c.ok(b'LIST "" X')) == [], "a refused CREATE left the folder"
assert last(c.cmd(b"CREATE X (BOGUS (\\Archive))")) == b"BAD"
c.ok(b"DELETE Archive")
c.ok(b"CREATE Old (USE (\\Archive))")
assert b"\\Archive" in line_for(c.ok(b'LIST "" Old'), b'"Old"')
c.ok(b"RENAME Old Keep/Old")
r = c.ok(b'LIST (SPECIAL-USE) "" "*"')
assert b"\\Archive" in line_for(r, b'"Keep/Old"'), r
c.ok(b"LOGOUT")
"#,
    );
    // The special-use map is durable: after a kill -9 and restart it is still there.
    srv.kill9();
    srv.spawn();
    py(
        &srv,
        r#"
c = C(); c.login()
r = c.ok(b'LIST (SPECIAL-USE) "" "*"')
assert b"\\Archive" in line_for(r, b'"Keep/Old"') and b'"Archive"' not in names(r), r
# The start re-created the folder named Archive, without the attribute (Keep/Old has it).
assert line_for(c.ok(b'LIST "" Archive'), b'"Archive"').startswith(b"* LIST (\\HasNoChildren)")
c.ok(b"DELETE Keep/Old")
c.ok(b"CREATE Saved (USE (\\Archive))")
"#,
    );
}

#[test]
fn utf8_accept_names_and_bad_names_stay_inside_the_data_directory() {
    let srv = Server::start("imap-utf8", "", "");
    let parent = srv.home.dir.parent().unwrap().to_path_buf();
    let before = tree(&srv.home.dir);
    let outside = ["x", "evil", "etc"].map(|n| parent.join(n).exists());
    py(
        &srv,
        r#"
import base64
def mutf7(s):
    out, run = [], ""
    def flush():
        nonlocal run
        if run:
            out.append("&" + base64.b64encode(run.encode("utf-16-be")).decode().rstrip("=").replace("/", ",") + "-")
            run = ""
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush(); out.append("&-" if ch == "&" else ch)
        else: run += ch
    flush()
    return "".join(out).encode()
name = "Entwürfe/Größe ✓"
u = name.encode()
c = C(); c.login()
r = c.ok(b"ENABLE UTF8=ACCEPT"); assert b"* ENABLED UTF8=ACCEPT" in r, r
c.ok(b'CREATE "' + u + b'"')
c.ok(b'CREATE "R&D"')
for wild in [b'"a*b"', b'"50%"', b'"x/%"']:
    r = c.cmd(b"CREATE " + wild); assert last(r) == b"NO" and b"[CANNOT]" in r[-1], r
    r = c.cmd(b'RENAME "R&D" ' + wild); assert last(r) == b"NO", r
r = c.ok(b'LIST "" "*"')
assert b'"' + u + b'"' in names(r) and b'"R&D"' in names(r), r
assert line_for(r, "\"Entwürfe\"".encode()).startswith(b"* LIST (\\Noselect \\HasChildren)"), r
assert b"&" not in b"".join(names(r)).replace(b"R&D", b""), r
r = c.ok(b'STATUS "' + u + b'" (MESSAGES)'); assert r[0] == b'* STATUS "' + u + b'" (MESSAGES 0)', r
c.append(b'"' + u + b'"', msg(1))
# RFC 6855 §4 APPEND with a UTF8 (~{N}) literal8: UTF-8 header text stored as sent.
body8 = "Subject: Grüße aus Köln\r\nFrom: jürgen@bücher.example\r\n\r\nHallo ✓\r\n".encode()
r = c.ok(b'APPEND "' + u + b'" UTF8 (~{%d+}\r\n' % len(body8) + body8 + b")")
assert b"[APPENDUID " in r[-1], r
r = c.ok(b'SELECT "' + u + b'"'); assert b"* 2 EXISTS" in r, r
r = c.ok(b"FETCH 2 BODY.PEEK[]"); assert r[1] == body8, r
r = c.ok(b'LIST "" "Entw*" RETURN (STATUS (MESSAGES))')
assert b'* STATUS "' + u + b'" (MESSAGES 2)' in r, r
# Invalid UTF-8 and path-like or control names: NO (or BAD), never a file.
bad = [b'"\xff\xfe"', b'"a\xc3"', b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"a\x01b"', b'"a\x7fb"', b'".."', b'"../x"',
       b'"/etc"', b'"/tmp/evil"', b'"a/../../x"', b'"a//b"', ]
for n in bad:
    for cmd in [b"SELECT ", b"CREATE ", b"DELETE ", b"STATUS ", b"RENAME INBOX ", b"SUBSCRIBE ", b"RENAME R&D "]:
        line = cmd + n + (b" (MESSAGES)" if cmd == b"STATUS " else b"")
        r = c.cmd(line); assert last(r) in (b"NO", b"BAD"), (line, r)
    r = c.cmd(b"APPEND " + n + b" {1+}\r\nx"); assert last(r) in (b"NO", b"BAD"), r
c.ok(b"LOGOUT")
# Without UTF8=ACCEPT the same folders are modified UTF-7, and `&` is `&-`.
d = C(); d.login()
r = d.ok(b'LIST "" "*"')
assert b'"' + mutf7(name) + b'"' in names(r) and b'"R&-D"' in names(r), (mutf7(name), r)
assert b"* 2 EXISTS" in d.ok(b'EXAMINE "' + mutf7(name) + b'"')
# A raw UTF-8 name is not modified UTF-7: refused before ENABLE.
assert last(d.cmd(b'SELECT "' + u + b'"')) == b"NO"
"#,
    );
    let new: Vec<String> = tree(&srv.home.dir).into_iter().filter(|p| !before.contains(p)).collect();
    assert!(new.iter().all(|p| p == "data" || p.starts_with("data/")), "files appeared outside data/: {new:?}");
    assert_eq!(["x", "evil", "etc"].map(|n| parent.join(n).exists()), outside, "created next to the home");
    let mut listed = srv.home.store().list().unwrap();
    listed.sort();
    let mut want: Vec<String> =
        ["Archive", "Drafts", "Entwürfe/Größe ✓", "INBOX", "Junk", "R&D", "Sent", "Trash"].map(String::from).to_vec();
    want.sort();
    assert_eq!(listed, want);
}

#[test]
fn rename_inbox_moves_every_message_and_inbox_stays_empty() {
    let mut srv = Server::start("imap-rename-inbox", "", "");
    py(&srv, "send([msg(1), msg(2), msg(3, b'x' * 500 + b'\\r\\n' * 10)])");
    let before = bodies(&srv, "INBOX");
    assert_eq!(before.len(), 3);
    py(
        &srv,
        r#"
c = C(); c.login()
c.ok(b"SELECT INBOX")
c.ok(b"STORE 2 +FLAGS (\\Flagged)")
# Another session keeps INBOX selected through the rename (a phone in IDLE).
other = C(); other.login(); other.ok(b"SELECT INBOX")
uv = int(re.search(rb"UIDVALIDITY (\d+)", c.ok(b"STATUS INBOX (UIDVALIDITY)")[0]).group(1))
r = c.cmd(b"RENAME INBOX Sent"); assert last(r) == b"NO" and b"ALREADYEXISTS" in r[-1], r
r = c.cmd(b"RENAME Sent INBOX"); assert last(r) == b"NO", r
c.ok(b'RENAME INBOX "Old/Inbox"')
r = c.ok(b'STATUS "Old/Inbox" (MESSAGES UIDNEXT UIDVALIDITY)')
assert r[0] == b'* STATUS "Old/Inbox" (MESSAGES 3 UIDNEXT 4 UIDVALIDITY %d)' % uv, r
# INBOX goes on from its UIDVALIDITY and UIDNEXT: the old UIDs are never given again.
r = c.ok(b"STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)")
assert b"MESSAGES 0 UIDNEXT 4 UIDVALIDITY %d" % uv in r[0], r
r = c.ok(b'SELECT "Old/Inbox"'); assert b"* 3 EXISTS" in r, r
r = c.ok(b"FETCH 1:* (UID FLAGS)")
assert [l.replace(b"\\Recent \\", b"\\").replace(b"(\\Recent)", b"()") for l in r if l.startswith(b"* ")] == [b"* 1 FETCH (UID 1 FLAGS ())", b"* 2 FETCH (UID 2 FLAGS (\\Flagged))",
                                                 b"* 3 FETCH (UID 3 FLAGS ())"], r
send([msg(4)])
r = c.ok(b"STATUS INBOX (MESSAGES)"); assert b"MESSAGES 1" in r[0], r
r = c.cmd(b'RENAME INBOX "Old/Inbox"'); assert last(r) == b"NO" and b"ALREADYEXISTS" in r[-1], r
# The selected session sees the three expunged and the new message under a new UID.
r = other.ok(b"NOOP")
assert len([l for l in r if l.endswith(b" EXPUNGE")]) == 3 and b"* 1 EXISTS" in r, r
r = other.ok(b"UID FETCH 1:* (UID)"); assert [l for l in r if l.startswith(b"* ")] == [b"* 1 FETCH (UID 4)"], r
# A QRESYNC client that knew UIDs 1:3 is told they vanished, under the same UIDVALIDITY.
q = C(); q.login(); q.ok(b"ENABLE QRESYNC")
r = q.ok(b"SELECT INBOX (QRESYNC (%d 1 1:3))" % uv)
assert b"* VANISHED (EARLIER) 1:3" in r and b"[UIDVALIDITY %d]" % uv in b" ".join(r), r
r = c.ok(b'LIST "" "*"')
assert b'"INBOX"' in names(r) and b'"Old/Inbox"' in names(r), r
"#,
    );
    // Durable: after kill -9 and a restart the two folders are as answered.
    srv.kill9();
    assert!(!srv.home.data().join("INBOX.rename").exists());
    assert_eq!(bodies(&srv, "Old/Inbox"), before);
    let inbox = bodies(&srv, "INBOX");
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: m4"));
    srv.spawn();
    py(&srv, "c = C(); c.login(); assert b'MESSAGES 3' in c.ok(b'STATUS \"Old/Inbox\" (MESSAGES)')[0]");
    check_clean(&srv.home);
}

/// RFC 2180 §3.2 on the real server: a session with a folder selected (one in IDLE, one
/// between commands) is told BYE when another session renames or deletes that folder, and
/// the connection closes; a session elsewhere goes on.
#[test]
fn selected_folder_renamed_or_deleted_elsewhere_gets_bye() {
    let srv = Server::start("imap-rename-selected", "", "");
    py(
        &srv,
        r#"
c = C(); c.login()
for box in [b"Work", b"Other"]:
    c.ok(b"CREATE " + box); c.append(box, msg(1))
idler = C(); idler.login(); idler.ok(b"SELECT Work")
idler.send(b"i IDLE\r\n"); assert idler.line().startswith(b"+"), "no IDLE continuation"
plain = C(); plain.login(); plain.ok(b"SELECT Other")
calm = C(); calm.login(); calm.ok(b"SELECT INBOX")
c.ok(b"RENAME Work Old")
assert idler.line() == b"* BYE Selected mailbox was deleted or renamed, have to disconnect"
assert idler.eof(), "IDLE session not closed"
c.ok(b"DELETE Other")
r = plain.cmd(b"NOOP")
assert r == [b"* BYE Selected mailbox was deleted or renamed, have to disconnect", b""], r
assert status(calm.cmd(b"NOOP")) == b"OK"
r = calm.ok(b"STATUS Old (MESSAGES)"); assert b"MESSAGES 1" in r[0], r
"#,
    );
}

/// The server is killed (abort) at each durable step of RENAME INBOX; after a restart every
/// message is in exactly one of the two folders, and the names never share a file.
#[cfg(feature = "fault-injection")]
#[test]
fn rename_inbox_killed_at_each_step_loses_and_duplicates_nothing() {
    for (point, moved) in [("rename_inbox.journal", false), ("rename_inbox.linked", true)] {
        let fault = format!("crash@{point}");
        let mut srv = Server::start_env("imap-rename-crash", "", "", &[("LETTERBOX_FAULT", &fault)]);
        py(&srv, "send([msg(1), msg(2), msg(3)])");
        let before = bodies(&srv, "INBOX");
        let out = py(&srv, "c = C(); c.login(); print(c.cmd(b'RENAME INBOX Moved'))");
        assert!(!out.contains("OK RENAME"), "{point}: answered OK before the crash: {out}");
        srv.kill9();
        assert!(srv.log_text().contains(&format!("crash at {point}")), "{point}: {}", srv.log_text());
        assert!(srv.home.data().join("INBOX.rename").exists(), "{point}: no journal left to recover");
        srv.env.clear();
        srv.spawn();
        // The server's own start-up recovery ran; look through IMAP first, then the files.
        let status = py(
            &srv,
            r#"
c = C(); c.login()
print(c.ok(b"STATUS INBOX (MESSAGES)")[0]); print(names(c.ok(b'LIST "" "*"')))
"#,
        );
        assert!(!srv.home.data().join("INBOX.rename").exists(), "{point}: journal not cleared");
        let listed = srv.home.store().list().unwrap();
        if moved {
            assert!(status.contains("MESSAGES 0"), "{point}: {status}");
            assert_eq!(bodies(&srv, "Moved"), before, "{point}");
            assert!(bodies(&srv, "INBOX").is_empty(), "{point}");
        } else {
            assert!(status.contains("MESSAGES 3"), "{point}: {status}");
            assert!(!listed.contains(&"Moved".to_owned()), "{point}: {listed:?}");
            assert_eq!(bodies(&srv, "INBOX"), before, "{point}");
        }
        // And RENAME INBOX works afterwards.
        py(&srv, "c = C(); c.login(); c.ok(b'RENAME INBOX Again')");
        check_clean(&srv.home);
    }
}

/// The server is killed (abort) at each durable step of an ordinary RENAME of a folder with
/// inferiors; after a restart the whole tree is renamed (the journal is rolled forward),
/// every message is there once and no two names share a file.
#[cfg(feature = "fault-injection")]
#[test]
fn rename_killed_at_each_step_is_rolled_forward() {
    use std::os::unix::fs::MetadataExt;
    for point in ["rename.journal", "rename.linked", "rename.unlinked"] {
        let fault = format!("crash@{point}");
        let mut srv = Server::start_env("imap-rename-tree-crash", "", "", &[("LETTERBOX_FAULT", &fault)]);
        py(
            &srv,
            r#"
c = C(); c.login()
for i, box in enumerate([b"Work", b"Work/2025", b"Work/2026"]):
    c.ok(b"CREATE " + box); c.append(box, msg(i))
"#,
        );
        let before: Vec<_> = ["Work", "Work/2025", "Work/2026"].map(|f| bodies(&srv, f)).to_vec();
        let out = py(&srv, "c = C(); c.login(); print(c.cmd(b'RENAME Work Old'))");
        assert!(!out.contains("OK RENAME"), "{point}: answered OK before the crash: {out}");
        srv.kill9();
        assert!(srv.log_text().contains(&format!("crash at {point}")), "{point}: {}", srv.log_text());
        srv.env.clear();
        srv.spawn();
        let listed = py(&srv, "c = C(); c.login(); print(names(c.ok(b'LIST \"\" \"*\"')))");
        assert!(!listed.contains("Work"), "{point}: {listed}");
        assert!(!srv.home.data().join("folders.rename").exists(), "{point}: journal left");
        for (i, f) in ["Old", "Old/2025", "Old/2026"].iter().enumerate() {
            assert_eq!(bodies(&srv, f), before[i], "{point}: {f}");
            let file = srv.home.store().folder_path(f).unwrap();
            assert_eq!(std::fs::metadata(file).unwrap().nlink(), 1, "{point}: {f} shares its file");
        }
        check_clean(&srv.home);
    }
}

fn run(cmd: &mut Command, what: &str) -> String {
    let o = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{what} failed ({:?}): {log}", o.status);
    log
}

/// Sorted relative paths of the message files of a Maildir tree (folder, flags kept).
fn maildir_files(root: &Path) -> Vec<String> {
    tree(root).into_iter().filter(|p| p.contains("/cur/") || p.contains("/new/")).collect()
}

/// (uid, flags) of every message of every folder, through the library.
fn store_state(srv: &Server) -> Vec<(String, Vec<(u32, u32)>)> {
    let st = srv.home.store();
    st.list()
        .unwrap()
        .into_iter()
        .map(|f| (f.clone(), contents(&st, &f).iter().map(|m| (m.0, m.1)).collect()))
        .collect()
}

#[test]
fn mbsync_whole_account_both_ways_then_nothing_to_do() {
    let srv = Server::start("imap-mbsync", "", "");
    py(
        &srv,
        r#"
send([msg(1), msg(2)])
c = C(); c.login(); c.ok(b"CREATE Work"); c.append(b"Work", msg(3))
"#,
    );
    let dir = srv.home.dir.join("mbsync");
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let rc = dir.join("mbsyncrc");
    let cert = srv.home.dir.join("init/cert.pem");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount lb\nHost localhost\nPort {}\nUser alice\nPass \"{PASSWORD}\"\nSSLType IMAPS\nCertificateFile {}\n\n\
             IMAPStore lb-remote\nAccount lb\n\n\
             MaildirStore lb-local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
             Channel lb\nFar :lb-remote:\nNear :lb-local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            srv.imaps,
            cert.display(),
            mail.display(),
            mail.display()
        ),
    )
    .unwrap();
    let mbsync = || run(Command::new("mbsync").arg("-c").arg(&rc).args(["-V", "-a"]).env("HOME", &dir), "mbsync");
    // 1. Whole account down: INBOX (2), Work (1), the five special folders.
    mbsync();
    let files = maildir_files(&mail);
    let count = |folder: &str| files.iter().filter(|p| p.starts_with(&format!("{folder}/"))).count();
    assert_eq!((count("INBOX"), count("Work")), (2, 1), "{files:?}");
    for f in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(mail.join(f).join("cur").is_dir(), "{f} not synced: {:?}", tree(&mail));
    }
    // 2. Changes on both sides: a flag each way, a local message, a folder on each side.
    py(
        &srv,
        r#"
c = C(); c.login(); c.ok(b"SELECT INBOX"); c.ok(b"STORE 1 +FLAGS (\\Flagged)")
c.ok(b"CREATE Remote/New"); c.append(b"Remote/New", msg(4))
"#,
    );
    // Maildir: mark the Work message seen (into cur/, info `:2,S`).
    let work_msg = ["Work/cur", "Work/new"]
        .iter()
        .flat_map(|d| std::fs::read_dir(mail.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .next()
        .expect("Work message synced");
    let base = work_msg.file_name().unwrap().to_string_lossy().split(":2,").next().unwrap().to_owned();
    let seen: PathBuf = mail.join("Work/cur").join(format!("{base}:2,S"));
    std::fs::rename(&work_msg, &seen).unwrap();
    let local_msg =
        b"From: alice@example.org\nTo: bob@example.net\nSubject: written offline\n\nhello from the Maildir\n";
    std::fs::write(mail.join("Work/new/1700000000.1_1.laptop"), local_msg).unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mail.join("LocalNew").join(sub)).unwrap();
    }
    std::fs::write(mail.join("LocalNew/new/1700000001.2_1.laptop"), b"Subject: local folder\n\nbody\n").unwrap();
    mbsync();
    let files = maildir_files(&mail);
    let inbox1: Vec<&String> = files.iter().filter(|p| p.starts_with("INBOX/") && p.contains(",U=1:")).collect();
    assert!(inbox1.len() == 1 && inbox1[0].rsplit(":2,").next().unwrap().contains('F'), "{files:?}");
    assert_eq!(files.iter().filter(|p| p.starts_with("Remote/New/")).count(), 1, "{files:?}");
    let st = srv.home.store();
    let work = contents(&st, "Work");
    assert_eq!(work.len(), 2, "local message not uploaded");
    assert_ne!(work[0].1 & 1, 0, "\\Seen set locally did not reach the server");
    let crlf = String::from_utf8_lossy(local_msg).replace('\n', "\r\n");
    // mbsync adds its own `X-TUID:` header to find the message again; the rest is as written.
    let untagged = |b: &[u8]| {
        let t = String::from_utf8_lossy(b).into_owned();
        t.lines().filter(|l| !l.starts_with("X-TUID: ")).map(|l| format!("{l}\n")).collect::<String>()
    };
    assert!(
        work.iter().any(|m| untagged(&m.2) == untagged(crlf.as_bytes())),
        "uploaded bytes differ: {:?}",
        work.iter().map(|m| String::from_utf8_lossy(&m.2).into_owned()).collect::<Vec<_>>()
    );
    assert_eq!(contents(&st, "LocalNew").len(), 1, "local folder not created on the server");
    // 3. A second sync changes nothing on either side.
    let (local, remote) = (maildir_files(&mail), store_state(&srv));
    let log = mbsync();
    assert_eq!(maildir_files(&mail), local, "second sync changed the Maildir: {log}");
    assert_eq!(store_state(&srv), remote, "second sync changed the server: {log}");
    assert!(!log.contains("Error") && !log.contains("Warning"), "{log}");
    check_clean(&srv.home);
}

#[test]
fn fetchmail_imap_and_imaps_keep_and_curl_lists_folders() {
    let srv = Server::start("imap-fetchmail", "", "");
    py(&srv, "send([msg(1), msg(2, b'x' * 900 + b'\\r\\n' * 20), msg(3)])\nc = C(); c.login(); c.ok(b'CREATE \"Work/2026\"')");
    let mut want = bodies(&srv, "INBOX");
    want.sort();
    let home = srv.home.dir.join("fm");
    let cert = srv.home.dir.join("init/cert.pem");
    let fetch = |port: u16, opts: &str, out: &Path| {
        std::fs::create_dir_all(out).unwrap();
        let rc = home.join("fetchmailrc");
        let text = format!(
            "poll localhost with proto IMAP service {port}\n  user \"alice\" there with password \"{PASSWORD}\" is root here options {opts} no stripcr mda \"sh -c 'cat > $(mktemp {}/msg.XXXXXX)'\"\n",
            out.display()
        );
        std::fs::write(&rc, text).unwrap();
        let _ = Command::new("chmod").arg("600").arg(&rc).status();
        run(
            Command::new("fetchmail")
                .arg("-f")
                .arg(&rc)
                .args(["--invisible", "--nosyslog", "-v"])
                .env("HOME", &home)
                .env("FETCHMAILHOME", &home),
            "fetchmail",
        );
        let mut files: Vec<Vec<u8>> =
            std::fs::read_dir(out).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        files.sort();
        files
    };
    std::fs::create_dir_all(&home).unwrap();
    // IMAP without TLS (loopback), --keep: all three, byte for byte, none removed.
    assert_eq!(fetch(srv.imap, "keep sslproto \"\"", &home.join("plain")), want, "fetchmail IMAP bytes differ");
    assert_eq!(bodies(&srv, "INBOX").len(), 3);
    // IMAPS with the certificate checked; fetchall (run 1 marked them \Seen); still kept.
    let opts = format!("keep fetchall ssl sslcertck sslcertfile \"{}\"", cert.display());
    assert_eq!(fetch(srv.imaps, &opts, &home.join("tls")), want, "fetchmail IMAPS bytes differ");
    let st = srv.home.store();
    assert!(contents(&st, "INBOX").iter().all(|m| m.1 & 1 != 0), "fetched messages not \\Seen");
    // curl imap:// lists the folders (RFC 5092 URL of the root: a LIST).
    let auth = format!("alice:{PASSWORD}");
    let list = run(Command::new("curl").args(["-sS", "-u", &auth, &format!("imap://127.0.0.1:{}/", srv.imap)]), "curl");
    for f in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Work/2026"] {
        assert!(list.contains(&format!(") \"/\" \"{f}\"\r\n")), "{f}: {list}");
    }
    assert!(list.contains("* LIST (\\Sent \\HasNoChildren) \"/\" \"Sent\""), "{list}");
    assert!(list.contains("* LIST (\\Noselect \\HasChildren) \"/\" \"Work\""), "{list}");
    let special = run(
        Command::new("curl").args([
            "-sS",
            "-k",
            "-u",
            &auth,
            &format!("imaps://127.0.0.1:{}/", srv.imaps),
            "-X",
            "LIST (SPECIAL-USE) \"\" \"*\"",
        ]),
        "curl imaps LIST (SPECIAL-USE)",
    );
    // curl prints the untagged responses of the command: the five special folders.
    assert_eq!(special.lines().filter(|l| l.starts_with("* LIST (\\")).count(), 5, "{special}");
}
