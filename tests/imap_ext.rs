//! End-to-end tests of the IMAP extensions of issue 19 part b against the real `letterbox
//! serve` binary: RFC 3502 MULTIAPPEND (all messages in one durable commit, none on any
//! failure or a dropped connection), RFC 8438 STATUS=SIZE, RFC 3516 BINARY, RFC 4978
//! COMPRESS=DEFLATE (Python's imaplib over real zlib) and RFC 9208 QUOTA.

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

/// RFC 3516 §4.4 APPEND with a `literal8` holding NUL bytes: the part declared `binary` is
/// stored as base64 (Dovecot does the same), so `BODY[1]` is a plain literal without NUL
/// and `BINARY[1]` gives the original bytes back, from the store after a restart too; a NUL
/// in a part declared `8bit` goes out as 0x80 in `BODY[]` (a `literal` is `*CHAR8`).
#[test]
fn binary_append_is_stored_as_base64() {
    let mut srv = Server::start("imap-binary-append", "", "");
    let script = r#"
import base64
c = C(); c.login()
blob = bytes(range(256)) * 3 + b"\0\r\n\0"
att = (b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
       b"hi\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
       + blob + b"\r\n--zz--\r\n")
m = b"From: bob@example.net\r\nSubject: bin\r\nMime-Version: 1.0\r\n" + att
if PHASE == 1:
    c.send(b"a1 APPEND INBOX ~{%d+}\r\n" % len(m) + m + b"\r\n")
    r = c.resp(b"a1"); assert status(r) == b"OK", r
    odd = b"From: x@y\r\nContent-Transfer-Encoding: 8bit\r\n\r\nnul\0here\r\n"
    c.send(b"a2 APPEND INBOX ~{%d+}\r\n" % len(odd) + odd + b"\r\n")
    r = c.resp(b"a2"); assert status(r) == b"OK", r
c.ok(b"SELECT INBOX")
r = b"".join(c.ok(b"FETCH 1 (BODYSTRUCTURE BODY.PEEK[2] BINARY.PEEK[2] BINARY.SIZE[2])"))
assert b'"application" "octet-stream" NIL NIL NIL "base64"' in r, r
i = r.index(b"BODY[2] {"); n = int(r[i + 9:r.index(b"}", i)])
text = r[r.index(b"}", i) + 1:][:n]
assert b"\0" not in text and max(len(l) for l in text.split(b"\r\n")) <= 76, text[:200]
assert base64.b64decode(b"".join(text.split())) == blob
assert b"BINARY.SIZE[2] %d" % len(blob) in r, r
assert (b"BINARY[2] ~{%d}" % len(blob)) + blob in r, r[:300]
r = b"".join(c.ok(b"FETCH 2 (BODY.PEEK[TEXT])"))
assert b"nul\x80here" in r and b"\0" not in r, r
"#;
    srv.py("PHASE = 1", script);
    srv.stop();
    srv.spawn();
    srv.py("PHASE = 2", script);
    let stored = bodies(&srv, "INBOX");
    assert_eq!(stored.len(), 2);
    assert!(!stored[0].contains(&0), "the binary part is stored as base64");
    assert!(stored[1].windows(8).any(|w| w == b"nul\0here"), "an 8bit part is stored as sent");
}

/// Python's imaplib over a zlib raw-deflate wrapper (wbits -15, the real zlib on the client
/// side) for RFC 4978 COMPRESS=DEFLATE, over plain IMAP and IMAPS; the bytes on the wire
/// are counted both ways.
#[cfg(feature = "compress")]
const ZIMAP: &str = r#"
import zlib
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
class Z:
    """A compressing wrapper for an imaplib client, RFC 4978 over any socket."""
    def on(self):
        typ, dat = self._simple_command("COMPRESS", "DEFLATE")
        assert typ == "OK", (typ, dat)
        self.zc = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zd = zlib.decompressobj(-15)
        self.zbuf = b""; self.wire_in = 0; self.wire_out = 0; self.plain_in = 0
    def _fill(self):
        d = self.sock.recv(65536)
        if not d: raise imaplib.IMAP4.abort("server closed")
        self.wire_in += len(d)
        out = self.zd.decompress(d)
        self.plain_in += len(out); self.zbuf += out
    def read(self, size):
        if not hasattr(self, "zd"): return super().read(size)
        while len(self.zbuf) < size: self._fill()
        r, self.zbuf = self.zbuf[:size], self.zbuf[size:]
        return r
    def readline(self):
        if not hasattr(self, "zd"): return super().readline()
        while b"\n" not in self.zbuf: self._fill()
        i = self.zbuf.index(b"\n") + 1
        r, self.zbuf = self.zbuf[:i], self.zbuf[i:]
        return r
    def send(self, data):
        if hasattr(self, "zc"):
            data = self.zc.compress(data) + self.zc.flush(zlib.Z_SYNC_FLUSH)
            self.wire_out += len(data)
        self.sock.sendall(data)
class ZIMAP4(Z, imaplib.IMAP4): pass
class ZIMAP4_SSL(Z, imaplib.IMAP4_SSL): pass
"#;

#[cfg(feature = "compress")]
#[test]
fn compress_deflate_with_imaplib_and_zlib() {
    let srv = Server::start("imap-compress", "", "");
    let out = srv.py(
        ZIMAP,
        r#"
send([msg(i, b"Received: from relay%d.example.net by mx.example.org\r\n" % i * 3) for i in range(40)])
for tls in (False, True):
    M = ZIMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX) if tls else ZIMAP4("127.0.0.1", IMAP)
    M.login(USER, PASS)
    caps = ok(M.capability())[0].split()
    assert b"COMPRESS=DEFLATE" in caps, caps
    M.on()
    ok(M.select("INBOX"))
    d = ok(M.fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])"))
    bodies = [x[1] for x in d if isinstance(x, tuple)]
    assert len(bodies) == 40 and b"\r\nFrom: Bob" in bodies[7], d[:2]
    assert bodies[39].endswith(b"body 39\r\n" + b"Received: from relay39.example.net by mx.example.org\r\n" * 3), bodies[39][-200:]
    # APPEND of a big literal through the inflater (many PENDING_MAX slices).
    big = msg(99, b"x" * 200000 + b"\r\n")
    ok(M.append("INBOX", None, None, big))
    d = ok(M.fetch("41", "(BODY.PEEK[])"))
    assert d[0][1] == big
    typ, dat = M._simple_command("COMPRESS", "DEFLATE")
    assert typ == "NO" and b"COMPRESSIONACTIVE" in dat[-1], (typ, dat)
    ok(M.store("41", "+FLAGS", "(\\Deleted)")); ok(M.expunge())
    print("wire", tls, M.wire_in, M.plain_in, M.wire_out)
    assert M.wire_in * 2 < M.plain_in, (M.wire_in, M.plain_in)
    M.logout()

# Garbage instead of DEFLATE after the OK: the session ends, the server lives on.
c = C(); c.login()
r = c.ok(b"COMPRESS DEFLATE")
c.send(b"\xff" * 64)
assert c.eof(), "server kept a corrupt compressed session open"
# A deflate bomb: 64 MiB of one command line from 64 KiB on the wire.
c = C(); c.login(); c.ok(b"COMPRESS DEFLATE")
z = zlib.compressobj(9, zlib.DEFLATED, -15)
c.send(z.compress(b"a NOOP " + b"x" * (64 << 20)) + z.flush(zlib.Z_SYNC_FLUSH))
assert c.eof(), "bomb session still open"
M = imap(); ok(M.noop()); M.logout()
"#,
    );
    println!("{out}");
}

/// Per-session memory of COMPRESS: 40 idle compressing sessions after a FETCH each (both
/// codecs allocated and used) against 40 plain ones; prints KiB per session.
#[cfg(feature = "compress")]
#[test]
fn compress_session_memory_is_bounded() {
    let srv = Server::start("imap-compress-rss", "", "connections_per_ip = 100");
    let pid = srv.pid();
    let out = srv.py(
        ZIMAP,
        &format!(
            r#"
PID = {pid}
def kib():
    for l in open("/proc/%d/status" % PID):
        if l.startswith("VmRSS:"): return int(l.split()[1])
send([msg(i, b"line of text for the window %d\r\n" % i * 200) for i in range(5)])
def sessions(z):
    out = []
    for _ in range(40):
        M = ZIMAP4("127.0.0.1", IMAP); M.login(USER, PASS)
        if z: M.on()
        ok(M.select("INBOX")); ok(M.fetch("1:*", "(BODY.PEEK[])"))
        out.append(M)
    return out
time.sleep(0.3); base = kib(); plain = sessions(False); time.sleep(0.3); p = kib() - base
for M in plain: M.logout()
time.sleep(0.5); base = kib(); zs = sessions(True); time.sleep(0.3); z = kib() - base
for M in zs: M.logout()
print("per session KiB: plain %.1f, compress %.1f" % (p / 40, z / 40))
assert z / 40 <= 160, (p, z)
"#
        ),
    );
    println!("{out}");
}

/// RFC 9208 QUOTA against the real store: usage from the folders, the configured limits,
/// STORAGE never above what the data directory's device still holds, APPEND over quota.
#[test]
fn quota_with_imaplib() {
    let srv = Server::start("imap-quota", "", "quota_storage = 20480\nquota_messages = 3");
    srv.py(
        "",
        r#"
imaplib.Commands.setdefault("GETQUOTAROOT", ("AUTH", "SELECTED"))
M = imap()
caps = ok(M.capability())[0].split()
assert b"QUOTA" in caps and b"QUOTA=RES-STORAGE" in caps and b"QUOTA=RES-MESSAGE" in caps, caps
body = msg(1, b"y" * 5000 + b"\r\n")
ok(M.append("INBOX", None, None, body)); ok(M.append("Archive", None, None, body))
typ, d = M.getquotaroot("INBOX")
assert typ == "OK", d
assert d[0] == [b'"INBOX" ""'], d
assert d[1] == [b'"" (STORAGE %d 20 MESSAGE 2 3)' % ((2 * len(body) + 1023) // 1024)], d
typ, d = M.getquota('""')
assert typ == "OK" and b"MESSAGE 2 3" in d[0], d
# 20 KiB: a third message of 15 KB does not fit; a small one does, then the count is full.
typ, d = M.append("INBOX", None, None, msg(3, b"z" * 15000 + b"\r\n"))
assert typ == "NO" and b"OVERQUOTA" in d[0], (typ, d)
ok(M.append("INBOX", None, None, msg(4)))
typ, d = M.append("INBOX", None, None, msg(5))
assert typ == "NO" and b"OVERQUOTA" in d[0], (typ, d)
typ, d = M.setquota('""', "(STORAGE 1)")
assert typ == "NO", (typ, d)
M.logout()
"#,
    );
    assert_eq!(contents(&srv.home.store(), "INBOX").len(), 2);
}
