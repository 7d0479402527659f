//! End-to-end RFC 8474 OBJECTID against the real `letterbox serve` binary and store, with
//! Python's imaplib: MAILBOXID kept by RENAME (the folder file's HEADER goes with it) and by
//! a restart, RENAME INBOX giving INBOX a new one; EMAILID the same for a COPY and a MOVE
//! (from the CRC-32C kept in each record) and after a restart; THREADID of a reply chain.

#![cfg(feature = "objectid")]

mod common;

use common::*;

const SCRIPT: &str = r#"
import re, time
def ids(name, data):
    return re.findall((name + r" \(([A-Za-z0-9_-]+)\)").encode(), b" ".join(x if isinstance(x, bytes) else x[0] for x in data))

M = imap()
assert b"OBJECTID" in M.capability()[1][0].split(), M.capability()
typ, data = M.create("Projects"); assert typ == "OK", data
created = M.response("MAILBOXID")[1][0]
assert created and created.startswith(b"(F"), created
typ, data = M.status("Projects", "(MAILBOXID)"); assert typ == "OK", data
assert b"MAILBOXID " + created in data[0], (created, data)
ok(M.rename("Projects", "Work"))
typ, data = M.status("Work", "(MAILBOXID)"); assert typ == "OK", data
assert b"MAILBOXID " + created in data[0], ("RENAME changed MAILBOXID", created, data)
ok(M.select("Work"))
assert M.response("MAILBOXID")[1][0] == created

msgs = [
    b"Message-ID: <root@x>\r\nSubject: hi\r\n\r\nroot\r\n",
    b"Message-ID: <r1@x>\r\nIn-Reply-To: <root@x>\r\nSubject: Re: hi\r\n\r\nreply\r\n",
    b"Subject: none\r\n\r\nno ids at all\r\n",
]
for m in msgs:
    ok(M.append("INBOX", None, None, m))
ok(M.select("INBOX"))
inbox_id = M.response("MAILBOXID")[1][0]
typ, data = M.fetch("1:3", "(EMAILID THREADID)"); assert typ == "OK", data
e = ids("EMAILID", data); t = ids("THREADID", data)
assert len(set(e)) == 3, data
assert len(t) == 2 and t[0] == t[1], data
assert b"THREADID NIL" in b" ".join(data), data
ok(M.copy("1", "Work"))
typ, data = M._simple_command("MOVE", "2", "Work"); assert typ == "OK", data
ok(M.select("Work"))
typ, data = M.fetch("1:2", "(EMAILID THREADID)"); assert typ == "OK", data
assert ids("EMAILID", data) == e[:2], ("COPY/MOVE changed EMAILID", e, data)
assert ids("THREADID", data) == t, data
typ, data = M.search(None, "EMAILID", e[1].decode()); assert data[0] == b"2", data
typ, data = M.search(None, "THREADID", t[0].decode()); assert data[0] == b"1 2", data

# RENAME INBOX: the new folder keeps INBOX's id, INBOX (a new file) gets another one.
M.close()
time.sleep(1.1)
ok(M.rename("INBOX", "Old"))
typ, data = M.status("Old", "(MAILBOXID)"); assert b"MAILBOXID " + inbox_id in data[0], (inbox_id, data)
typ, data = M.status("INBOX", "(MAILBOXID)"); assert b"MAILBOXID " + inbox_id not in data[0], (inbox_id, data)
print("WORK", created.decode(), "EMAIL", e[0].decode(), e[1].decode())
M.logout()
"#;

#[test]
fn imaplib_objectids_survive_rename_copy_move_and_restart() {
    let mut srv = Server::start("imap-objectid", "", "");
    let out = srv.py("", SCRIPT);
    eprint!("{out}");
    let line = out.lines().find(|l| l.starts_with("WORK ")).unwrap_or_default().to_owned();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{out}");
    srv.stop();
    srv.spawn();
    let again = format!(
        r#"
M = imap()
typ, data = M.status("Work", "(MAILBOXID)")
assert b"MAILBOXID {}" in data[0], data
ok(M.select("Work"))
typ, data = M.fetch("1:2", "(EMAILID)")
joined = b" ".join(data)
assert b"EMAILID ({})" in joined and b"EMAILID ({})" in joined, data
M.logout()
"#,
        words.get(1).unwrap_or(&""),
        words.get(3).unwrap_or(&""),
        words.get(4).unwrap_or(&"")
    );
    srv.py("", &again);
}
