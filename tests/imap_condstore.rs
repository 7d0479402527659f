//! End-to-end CONDSTORE / QRESYNC (RFC 7162) against the real `letterbox serve`: a client
//! caches a mailbox and goes away; another session (Python imaplib) changes flags, makes a
//! conditional STORE that conflicts, and expunges; the first client resynchronizes with
//! `SELECT ... (QRESYNC ...)` and must see exactly the VANISHED UIDs and changed messages.
//! MODSEQs must survive a kill -9 (the STORE's OK comes after the write).

mod common;

use common::*;

fn py(srv: &Server, script: &str) -> String {
    srv.py("", script)
}

#[test]
fn qresync_after_changes_by_another_session() {
    let mut srv = Server::start("imap-qresync", "", "");
    let script = r#"
send([msg(i) for i in range(1, 6)])                     # UIDs 1..5
A = C(); A.login()
assert A.cmd(b"ENABLE QRESYNC")[0] == b"* ENABLED QRESYNC"
r = A.cmd(b"SELECT INBOX"); assert status(r) == b"OK", r
v, h0 = code(r, b"UIDVALIDITY"), code(r, b"HIGHESTMODSEQ")
assert v and h0, r
cache = fetches(A.cmd(b"UID FETCH 1:* (FLAGS MODSEQ)"))
assert sorted(cache) == [1, 2, 3, 4, 5] and all(modseq(l) <= h0 for l in cache.values()), cache
A.cmd(b"LOGOUT")

# Another client: a conditional STORE that passes, the same one again conflicts (MODIFIED),
# flag changes and an expunge.
# (imaplib does not show the tagged response code, so the conditional STOREs go raw.)
R = C(); R.login(); assert status(R.cmd(b"SELECT INBOX")) == b"OK"
r = R.cmd(b"UID STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Answered)" % h0)
assert status(r) == b"OK" and b"MODIFIED" not in r[-1] and list(fetches(r)) == [1], r
r = R.cmd(b"UID STORE 1,3 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % h0)
assert r[-1].split(b" ", 2)[2].startswith(b"[MODIFIED 1]") and list(fetches(r)) == [3], r   # 1 had changed
R.cmd(b"LOGOUT")
B = imap(); ok(B.select("INBOX"))
ok(B.uid("STORE", "3", "-FLAGS", "(\\Flagged)"))
ok(B.uid("STORE", "2", "+FLAGS", "(\\Seen)"))
ok(B.uid("STORE", "4", "+FLAGS", "(\\Deleted)"))
ok(B.expunge())
ok(B.uid("STORE", "5", "+FLAGS", "($Work)"))

# The first client comes back: exactly UID 4 vanished, UIDs 1, 2, 3, 5 changed.
A = C(); A.login()
A.cmd(b"ENABLE QRESYNC")
r = A.cmd(b"SELECT INBOX (QRESYNC (%d %d 1:5))" % (v, h0))
assert status(r) == b"OK" and b"* 4 EXISTS" in r, r
assert vanished(r) == {4}, r
f = fetches(r)
assert sorted(f) == [1, 2, 3, 5], r
assert b"\\Answered" in f[1] and b"\\Flagged" not in f[1] and b"\\Seen" in f[2], f
assert b"FLAGS ()" in f[3] and b"$Work" in f[5], f
h1 = code(r, b"HIGHESTMODSEQ")
assert all(h0 < modseq(l) <= h1 for l in f.values()), (h0, h1, f)
# VANISHED comes before the FETCHes (RFC 7162 §3.2.5).
order = [l[:12] for l in r if l.startswith(b"* VANISHED") or b" FETCH " in l]
assert order[0].startswith(b"* VANISHED"), order
# Nothing changed since h1: no FETCH, no VANISHED (the expunge history is exact).
r = A.cmd(b"EXAMINE INBOX (QRESYNC (%d %d 1:5))" % (v, h1))
assert status(r) == b"OK" and not fetches(r) and not vanished(r), r
# A wrong UIDVALIDITY: a plain SELECT.
r = A.cmd(b"SELECT INBOX (QRESYNC (%d 1 1:5))" % (v + 1))
assert status(r) == b"OK" and not fetches(r) and not vanished(r), r

# Live, with QRESYNC enabled: expunges by others arrive as VANISHED, flag changes with MODSEQ.
ok(B.uid("STORE", "3", "+FLAGS", "(\\Deleted)")); ok(B.expunge())
ok(B.uid("STORE", "1", "-FLAGS", "(\\Answered)"))
r = A.cmd(b"NOOP")
assert vanished(r, earlier=False) == {3} and not any(l.endswith(b"EXPUNGE") for l in r), r
f = fetches(r); assert list(f) == [1] and b"FLAGS ()" in f[1] and modseq(f[1]) > h1, r
r = A.cmd(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h0)
assert status(r) == b"OK" and vanished(r) == {3, 4} and sorted(fetches(r)) == [1, 2, 5], r
# Own EXPUNGE: VANISHED too.
A.cmd(b"UID STORE 2 +FLAGS.SILENT (\\Deleted)")
r = A.cmd(b"EXPUNGE"); assert vanished(r, earlier=False) == {2} and status(r) == b"OK", r

# A CONDSTORE-only client (Thunderbird's way): SELECT (CONDSTORE) and CHANGEDSINCE.
T = C(); T.login()
r = T.cmd(b'SELECT "INBOX" (CONDSTORE)'); h2 = code(r, b"HIGHESTMODSEQ"); assert h2 > h1, r
r = T.cmd(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h1)
assert sorted(fetches(r)) == [1], r
r = T.cmd(b"UID SEARCH MODSEQ %d" % (h1 + 1))
assert r[0].startswith(b"* SEARCH 1 (MODSEQ "), r
r = T.cmd(b"STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
assert r[0] == b'* STATUS "INBOX" (HIGHESTMODSEQ %d MESSAGES 2)' % h2, r
# Everything this run saw, for the checks after a restart.
print("H", h0, h1); print("V", v)
print("STATE", h2, " ".join("%d:%d" % (u, modseq(l)) for u, l in sorted(fetches(T.cmd(b"UID FETCH 1:* (MODSEQ)")).items())))
"#;
    let first = py(&srv, script);
    let state = out_line(&first, "STATE ").to_owned();
    // The MODSEQs were written before each OK: a kill -9 keeps them.
    srv.kill9();
    srv.spawn();
    let again = r#"
T = C(); T.login()
r = T.cmd(b"EXAMINE INBOX (CONDSTORE)")
print("STATE", code(r, b"HIGHESTMODSEQ"), " ".join("%d:%d" % (u, modseq(l)) for u, l in sorted(fetches(T.cmd(b"UID FETCH 1:* (MODSEQ)")).items())))
"#;
    let out = py(&srv, again);
    let after = out.lines().find_map(|l| l.strip_prefix("STATE ")).expect("state line");
    assert_eq!(after, state);
    // The expunge history outlives a restart that loads the index and a compaction (which
    // drops the EXPUNGE records): VANISHED stays exact, not every missing known UID.
    let h = out_line(&first, "H ");
    let exact = format!(
        r#"
A = C(); A.login(); A.cmd(b"ENABLE QRESYNC")
r = A.cmd(b"EXAMINE INBOX (QRESYNC ({v} {h1} 1:5))"); assert status(r) == b"OK" and vanished(r) == {{2, 3}}, r
r = A.cmd(b"EXAMINE INBOX (QRESYNC ({v} {h0} 1:5))"); assert status(r) == b"OK" and vanished(r) == {{2, 3, 4}}, r
"#,
        v = out_line(&first, "V "),
        h0 = h.split(' ').next().unwrap_or(""),
        h1 = h.split(' ').nth(1).unwrap_or(""),
    );
    srv.stop();
    assert!(srv.home.data().join("INBOX.idx").exists(), "no index written at the stop");
    srv.spawn();
    py(&srv, &exact);
    srv.stop();
    let out = srv.home.run(&["compact"], b"");
    assert!(out.status.success(), "{out:?}");
    srv.spawn();
    py(&srv, &exact);
}

/// The text after `prefix` on the line of `out` that starts with it.
fn out_line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line in {out}"))
}

#[test]
fn unchangedsince_race_between_two_sessions() {
    let srv = Server::start("imap-unchanged", "", "");
    let script = r#"
send([msg(1), msg(2)])
A = C(); A.login(); B = C(); B.login()
ra, rb = A.cmd(b"SELECT INBOX (CONDSTORE)"), B.cmd(b"SELECT INBOX (CONDSTORE)")
h = code(ra, b"HIGHESTMODSEQ"); assert h == code(rb, b"HIGHESTMODSEQ"), (ra, rb)
# Both edit message 1 from the same known state: the first wins, the second is MODIFIED.
r = A.cmd(b"STORE 1 (UNCHANGEDSINCE %d) +FLAGS ($Label1)" % h)
assert status(r) == b"OK" and b"MODIFIED" not in r[-1], r
m1 = modseq(fetches(r)[1]); assert m1 > h, r
r = B.cmd(b"STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS.SILENT ($Label2)" % h)
assert r[-1].split(b" ", 3)[2] == b"[MODIFIED" and b"[MODIFIED 1]" in r[-1], r
f = fetches(r); assert list(f) == [2] and b"FLAGS" not in f[2], r      # .SILENT: MODSEQ only
r = B.cmd(b"FETCH 1 (FLAGS MODSEQ)")
assert b"$Label1" in r[-2] and b"$Label2" not in r[-2], r
# UNCHANGEDSINCE 0 always fails; with the current MODSEQ it passes.
r = B.cmd(b"UID STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)"); assert b"[MODIFIED 1]" in r[-1], r
r = B.cmd(b"UID STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % m1)
assert status(r) == b"OK" and b"MODIFIED" not in r[-1], r
# An untouched folder reports HIGHESTMODSEQ 1 (mod-sequences are positive, RFC 7162 §7)
# and its first change is above it.
r = A.cmd(b"STATUS Drafts (HIGHESTMODSEQ)"); assert r[0] == b'* STATUS "Drafts" (HIGHESTMODSEQ 1)', r
A.send(b"ap APPEND Drafts {5+}\r\nhello\r\n"); assert status(A.resp(b"ap")) == b"OK"
r = A.cmd(b"STATUS Drafts (HIGHESTMODSEQ)"); assert r[0] == b'* STATUS "Drafts" (HIGHESTMODSEQ 2)', r
"#;
    py(&srv, script);
}
