//! End-to-end tests of the IMAP extensions of issue 19 part b against the real `letterbox
//! serve` binary: RFC 3502 MULTIAPPEND (all messages in one durable commit, none on any
//! failure or a dropped connection), RFC 8438 STATUS=SIZE and RFC 3516 BINARY.

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

/// RFC 3516 BINARY with Python's imaplib and `email` package (its base64 and
/// quoted-printable encoders are the reference): decoded parts, sizes, partial ranges.
#[test]
fn binary_fetch_with_imaplib() {
    let srv = Server::start("imap-binary", "", "");
    srv.py(
        "",
        r#"
from email.message import EmailMessage
import random
rnd = random.Random(5)
blob = bytes(range(256)) + bytes(rnd.getrandbits(8) for _ in range(300000))
m = EmailMessage()
m["From"] = "bob@example.net"; m["To"] = "alice@example.org"; m["Subject"] = "binary"
m.set_content("caf\u00e9 \u00e0 la cr\u00e8me " * 20, cte="quoted-printable")
m.add_attachment(blob, maintype="application", subtype="octet-stream", filename="b.bin")
raw = m.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
M = imap()
assert b"BINARY" in M.capabilities or "BINARY" in M.capabilities, M.capabilities
ok(M.append("INBOX", None, None, raw))
ok(M.select("INBOX"))
d = ok(M.fetch("1", "(BINARY.SIZE[2] BINARY.PEEK[2])"))
assert d[0][0].endswith(b"BINARY[2] ~{%d}" % len(blob)), d[0][0]
assert b"BINARY.SIZE[2] %d" % len(blob) in d[0][0], d[0][0]
assert d[0][1] == blob
text = ("caf\u00e9 \u00e0 la cr\u00e8me " * 20).encode()
d = ok(M.fetch("1", "(BINARY.PEEK[1]<5.7>)"))
assert d[0][1] == text[5:12], (d[0][1], text[5:12])
d = ok(M.fetch("1", "(BINARY.PEEK[1])"))
assert d[0][1] == text + b"\r\n", d[0][1][-80:]
typ, d = M.fetch("1", "(FLAGS)")
assert b"\\Seen" not in d[0], d
M.logout()
"#,
    );
}
