//! End-to-end tests of the IMAP extensions of issue 19 part b against the real `letterbox
//! serve` binary: RFC 3502 MULTIAPPEND (all messages in one durable commit, none on any
//! failure or a dropped connection) and RFC 8438 STATUS=SIZE.

mod common;

use common::*;

fn bodies(srv: &Server, folder: &str) -> Vec<Vec<u8>> {
    contents(&srv.home.store(), folder).into_iter().map(|(_, _, b)| b).collect()
}

#[test]
fn multiappend_all_or_nothing() {
    let srv = Server::start("imap-multiappend", "", "message_size = 4096\nspool_memory = 1024");
    srv.py(
        "",
        r#"
c = C(); c.login()
caps = c.ok(b"CAPABILITY")[0].split()
assert b"MULTIAPPEND" in caps and b"STATUS=SIZE" in caps, caps
# Three messages, synchronizing literals, the second one spilled past spool_memory.
big = msg(2, b"x" * 3000 + b"\r\n")
c.send(b"m1 APPEND INBOX (\\Seen) {%d}\r\n" % len(msg(1)))
assert c.line().startswith(b"+"), "continuation"
c.send(msg(1) + b" (\\Flagged) {%d}\r\n" % len(big))
assert c.line().startswith(b"+")
c.send(big + b' "01-Jan-2020 00:00:00 +0000" {%d}\r\n' % len(msg(3)))
assert c.line().startswith(b"+")
c.send(msg(3) + b"\r\n")
r = c.resp(b"m1")
assert status(r) == b"OK" and re.search(rb"\[APPENDUID \d+ 1:3\]", r[-1]), r
r = c.ok(b"STATUS INBOX (MESSAGES SIZE)")
assert re.search(rb"\(MESSAGES 3 SIZE %d\)" % (len(msg(1)) + len(big) + len(msg(3))), r[0]), r

# The third literal is over message_size: NO, none of the three is stored.
c.send(b"m2 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s {5000}\r\n" % (len(msg(4)), msg(4), len(msg(5)), msg(5)))
r = c.resp(b"m2")
assert status(r) == b"NO" and b"TOOBIG" in r[-1], r
r = c.ok(b"STATUS INBOX (MESSAGES)")
assert b"(MESSAGES 3)" in r[0], r

# The client goes away in the middle of the second message: nothing is stored.
d = C(); d.login()
d.send(b"m3 APPEND INBOX {%d+}\r\n%s {100+}\r\nhalf" % (len(msg(6)), msg(6)))
d.s.close()
time.sleep(0.5)
r = c.ok(b"STATUS INBOX (MESSAGES)")
assert b"(MESSAGES 3)" in r[0], r
"#,
    );
    let got = bodies(&srv, "INBOX");
    assert_eq!(got.len(), 3);
    assert!(got[1].len() > 3000 && got[2].starts_with(b"From: Bob"));
}
