# Raw-socket clients for the end-to-end tests, one copy for every test file (Rust side:
# tests/common/mod.rs `Server::py`). The real clients (smtplib, imaplib, poplib) are used
# where they can be; these speak the protocols byte for byte where a test needs to send
# what a library would not (bad input, pipelining, literals, half commands).
#
#   Conn   a line reader over TCP or TLS: line(), read_exact(), send(), eof(), tls()
#   C      IMAP: cmd() returns every response line up to and including the tagged one,
#          literals read whole and appended as one item; ok(), login(), append()
#   Pop    POP3: cmd() returns the status line, multi() a dot-terminated body
#   Smtp   SMTP: cmd() returns (code, text) of a whole multi-line reply; ok()
#
# The ports come from the environment the test harness sets (LB_SMTP, LB_IMAP, ...).
import os, re, socket, ssl, time, smtplib, imaplib, poplib, base64, threading, subprocess, sys

def _port(name): return int(os.environ.get(name, "0"))
SMTP = _port("LB_SMTP"); IMAP = _port("LB_IMAP"); IMAPS = _port("LB_IMAPS")
POP3 = _port("LB_POP3"); POP3S = _port("LB_POP3S")
USER = os.environ.get("LB_USER", ""); PASS = os.environ.get("LB_PASS", "")
CTX = ssl.create_default_context(); CTX.check_hostname = False; CTX.verify_mode = ssl.CERT_NONE
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
# Socket timeout of the raw clients; eof() answers False after waiting this long.
TIMEOUT = 10

def send(msgs):
    """Delivers each message to alice over SMTP with smtplib."""
    s = smtplib.SMTP("127.0.0.1", SMTP)
    for m in msgs: assert s.sendmail("bob@example.net", ["alice@example.org"], m) == {}
    s.quit()

def msg(i, extra=b""):
    """A small message numbered i (test files with other needs define their own)."""
    return (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: m%d\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m%d@example.net>\r\n\r\nbody %d\r\n" % (i, i, i)) + extra

def imap(tls=False):
    """A logged-in imaplib client, over IMAPS or plain IMAP."""
    M = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX) if tls else imaplib.IMAP4("127.0.0.1", IMAP)
    M.login(USER, PASS); return M

def ok(r):
    """The data of an imaplib result that must be OK."""
    assert r[0] == "OK", r
    return r[1]

class Conn:
    z = None  # (compressor, decompressor) once COMPRESS=DEFLATE is on
    def __init__(self, port, src=None, timeout=None, tls=False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout or TIMEOUT,
                                          source_address=(src, 0) if src else None)
        if tls: self.s = CTX.wrap_socket(self.s)
        self.buf = b""
        self.z = None
    def compress(self):
        """RFC 4978: from now on both directions are raw deflate (real zlib, wbits -15);
        call it after the tagged OK of COMPRESS DEFLATE."""
        import zlib
        self.z = (zlib.compressobj(wbits=-15), zlib.decompressobj(wbits=-15))
    def tls(self):
        """Starts TLS on the connection (after STARTTLS / STLS)."""
        self.s = CTX.wrap_socket(self.s); self.buf = b""
    starttls = tls
    def send(self, b):
        if self.z:
            import zlib
            b = self.z[0].compress(b) + self.z[0].flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(b)
    def line(self):
        """The next line without its CRLF; at EOF what is left (b"" when nothing)."""
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                l, self.buf = self.buf, b""
                return l
            if self.z: d = self.z[1].decompress(d)
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d: break
            if self.z: d = self.z[1].decompress(d)
            self.buf += d
        d, self.buf = self.buf[:n], self.buf[n:]
        return d
    def eof(self):
        """True once the server closed (or reset) the connection, False on a timeout."""
        try:
            while True:
                d = self.s.recv(65536)
                if not d: return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError): return True
        except socket.timeout: return False

class C(Conn):
    """IMAP."""
    n = 0
    def __init__(self, port=None, src=None, timeout=None, tls=False, greet=True):
        super().__init__(port or IMAP, src, timeout, tls)
        if greet: self.greeting = self.line()
    def resp(self, tag):
        out = []
        while True:
            l = self.line()
            out.append(l)
            m = re.search(rb"\{(\d+)\}$", l)
            if m: out.append(self.read_exact(int(m.group(1))))
            if l.startswith(tag + b" ") or l == b"": return out
    def cmd(self, b, tag=None):
        C.n += 1
        tag = tag or b"t%d" % C.n
        self.send(tag + b" " + b + b"\r\n")
        return self.resp(tag)
    def ok(self, b):
        r = self.cmd(b)
        assert status(r) == b"OK", (b, r)
        return r
    def login(self):
        self.ok(b'LOGIN "%s" "%s"' % (USER.encode(), PASS.encode()))
    def append(self, box, body, flags=b""):
        return self.ok(b"APPEND " + box + b" " + flags + b"{%d+}\r\n" % len(body) + body)

def status(r):
    """OK / NO / BAD of the tagged line of a C.cmd() result."""
    return r[-1].split(b" ", 2)[1]
last = status

def code(r, name):
    """The number in `[NAME n]` anywhere in a C.cmd() result."""
    m = re.search(rb"\[" + name + rb" (\d+)\]", b"\n".join(x for x in r if isinstance(x, bytes)))
    return int(m.group(1)) if m else None

def fetches(r):
    """{uid: line} of the untagged FETCH lines that carry a UID."""
    out = {}
    for l in r:
        m = re.match(rb"\* \d+ FETCH \(.*\bUID (\d+)", l)
        if m: out[int(m.group(1))] = l
    return out

def modseq(line):
    return int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))

def vanished(r, earlier=True):
    """The UIDs of the VANISHED lines of a C.cmd() result, expanded (small test sets only)."""
    prefix = b"* VANISHED (EARLIER) " if earlier else b"* VANISHED "
    uids = set()
    for l in r:
        if l.startswith(prefix) and (earlier or not l.startswith(b"* VANISHED (EARLIER)")):
            for part in l[len(prefix):].split(b","):
                a, _, b = part.partition(b":")
                uids.update(range(int(a), int(b or a) + 1))
    return uids

class Pop(Conn):
    """POP3 (the greeting is left to the test: pop.line())."""
    def __init__(self, port=None, src=None, timeout=None, tls=False):
        super().__init__(port or POP3, src, timeout, tls)
    def cmd(self, b):
        self.send(b + b"\r\n"); return self.line()
    def multi(self):
        out = []
        while True:
            l = self.line()
            if l == b".": return out
            out.append(l)

class Smtp(Conn):
    """SMTP (the greeting is left to the test: reply())."""
    def __init__(self, port=None, src=None, timeout=None, tls=False):
        super().__init__(port or SMTP, src, timeout, tls)
    def reply(self):
        """(code, text) of one whole reply; (0, ...) at EOF."""
        lines = []
        while True:
            l = self.line()
            if not l: return (0, b"\n".join(lines))
            lines.append(l)
            if l[3:4] != b"-": return (int(l[:3]), b"\n".join(lines))
    def cmd(self, b):
        self.send(b + b"\r\n"); return self.reply()
    def ok(self, b, code=250):
        c, t = self.cmd(b); assert c == code, (b, c, t); return t
