# A small raw IMAP client for the end-to-end tests (tests/imap_condstore.rs,
# tests/imap_client_quirks.rs): cmd() sends one command line and returns every response
# line up to and including the tagged one (literals are read and appended as one item).
import os, re, socket, ssl, smtplib, imaplib
SMTP = int(os.environ["LB_SMTP"]); IMAP = int(os.environ["LB_IMAP"]); IMAPS = int(os.environ["LB_IMAPS"])
USER = os.environ["LB_USER"]; PASS = os.environ["LB_PASS"]
CTX = ssl.create_default_context(); CTX.check_hostname = False; CTX.verify_mode = ssl.CERT_NONE

def send(msgs):
    s = smtplib.SMTP("127.0.0.1", SMTP)
    for m in msgs: assert s.sendmail("bob@example.net", ["alice@example.org"], m) == {}
    s.quit()

def msg(i, extra=b""):
    return (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: m%d\r\n"
            b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m%d@example.net>\r\n\r\nbody %d\r\n" % (i, i, i)) + extra

def imap():
    M = imaplib.IMAP4("127.0.0.1", IMAP); M.login(USER, PASS); return M

def ok(r):
    assert r[0] == "OK", r
    return r[1]

class C:
    n = 0
    def __init__(self, port=IMAP, tls=False, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls: self.s = CTX.wrap_socket(self.s)
        self.buf = b""
        self.greeting = self.line()
    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                l, self.buf = self.buf, b""
                return l
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d: break
            self.buf += d
        d, self.buf = self.buf[:n], self.buf[n:]
        return d
    def send(self, b):
        self.s.sendall(b)
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
    def login(self):
        r = self.cmd(b'LOGIN "%s" "%s"' % (USER.encode(), PASS.encode()))
        assert status(r) == b"OK", r

def status(r):
    """OK / NO / BAD of the tagged line of a cmd() result."""
    return r[-1].split(b" ", 2)[1]

def code(r, name):
    """The number in `[NAME n]` anywhere in a cmd() result."""
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
    """The UIDs of the VANISHED lines of a cmd() result, expanded (small test sets only)."""
    prefix = b"* VANISHED (EARLIER) " if earlier else b"* VANISHED "
    uids = set()
    for l in r:
        if l.startswith(prefix) and (earlier or not l.startswith(b"* VANISHED (EARLIER)")):
            for part in l[len(prefix):].split(b","):
                a, _, b = part.partition(b":")
                uids.update(range(int(a), int(b or a) + 1))
    return uids
