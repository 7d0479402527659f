#!/usr/bin/env python3
"""Steady mixed load against a running letterbox for SECONDS (issue 8 soak), sampling the
server's RSS and open file descriptors once a second.

  soak.py SECONDS PID      (ports and password from LB_SMTP, LB_IMAP, LB_POP3, LB_USER, LB_PASS)

Load, all at once and paced (not flat out): one SMTP sender delivering a 2-20 KiB message
every 50 ms; one IMAP client (SELECT, FETCH FLAGS of all, BODY[] of a random message, STORE
+/-FLAGS, and STORE \\Deleted + EXPUNGE of the oldest once INBOX holds over 60); one POP3
client (STAT, RETR of a random message, DELE of the first and QUIT, every few rounds a new
session). Every client reconnects now and then, so sessions open and close throughout.
The last line is machine-readable:
  SOAK seconds=.. rss_idle=.. rss_start=.. rss_peak=.. rss_end=.. fd_start=.. fd_peak=.. fd_end=.. smtp=.. imap=.. pop3=.. errors=..
rss_idle is the fresh server; fd_idle is taken after one session of each protocol (the
folder file and index it then keeps open are not a leak); rss_start after the first tenth
of the run (warm-up: the first sessions and messages allocate what steady state reuses);
fd_end after every client has closed.
"""
import os, random, smtplib, imaplib, poplib, sys, threading, time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 600
PID = int(sys.argv[2])
SMTP = int(os.environ["LB_SMTP"]); IMAP = int(os.environ["LB_IMAP"]); POP3 = int(os.environ["LB_POP3"])
USER = os.environ.get("LB_USER", "alice"); PASS = os.environ["LB_PASS"]
stop = threading.Event()
count = {"smtp": 0, "imap": 0, "pop3": 0, "errors": 0}
lock = threading.Lock()


def status(field):
    with open("/proc/%d/status" % PID) as f:
        for l in f:
            if l.startswith(field):
                return int(l.split()[1])
    return 0


def fds():
    return len(os.listdir("/proc/%d/fd" % PID))


def bump(k):
    with lock:
        count[k] += 1


def guarded(name, fn):
    def run():
        rng = random.Random(name)
        while not stop.is_set():
            try:
                fn(rng)
            except Exception as e:  # a reconnect after any failure; counted, reported
                bump("errors")
                print("%s: %r" % (name, e), file=sys.stderr)
                time.sleep(0.2)
    return threading.Thread(target=run, daemon=True)


def smtp(rng):
    s = smtplib.SMTP("127.0.0.1", SMTP, timeout=30)
    for i in range(20):
        if stop.is_set() and i:
            break
        n = count["smtp"]
        body = ("From: soak@example.net\r\nTo: alice@example.org\r\nSubject: soak %d\r\n\r\n" % n).encode()
        body += (b"soak line 0123456789 abcdefghijklmnopqrstuvwxyz\r\n" * rng.randint(40, 400))
        assert s.sendmail("soak@example.net", ["alice@example.org"], body) == {}
        bump("smtp")
        time.sleep(0.05)
    s.quit()


def imap(rng):
    M = imaplib.IMAP4("127.0.0.1", IMAP, timeout=30)
    M.login(USER, PASS)
    for _ in range(30):
        if stop.is_set():
            break
        typ, data = M.select("INBOX")
        assert typ == "OK", data
        n = int(data[0])
        if n:
            assert M.fetch("1:*", "(UID FLAGS)")[0] == "OK"
            i = rng.randint(1, n)
            assert M.fetch(str(i), "(BODY[])")[0] == "OK"
            assert M.store(str(rng.randint(1, n)), rng.choice(["+FLAGS", "-FLAGS"]), "(\\Flagged)")[0] == "OK"
        if n > 60:
            assert M.store("1:%d" % (n - 50), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
            assert M.expunge()[0] == "OK"
        bump("imap")
        time.sleep(0.05)
    M.logout()


def pop3(rng):
    p = poplib.POP3("127.0.0.1", POP3, timeout=30)
    p.user(USER)
    p.pass_(PASS)
    n, _ = p.stat()
    for _ in range(min(n, 5)):
        p.retr(rng.randint(1, n))
    if n > 40:
        p.dele(1)
    p.quit()
    bump("pop3")
    time.sleep(0.1)


def main():
    rss_idle = status("VmRSS:")
    # One session of each kind first: the folder files and index the server then keeps open
    # belong to its idle state, not to a leak.
    rng = random.Random(0)
    stop.set()
    smtp(rng)
    stop.clear()
    M = imaplib.IMAP4("127.0.0.1", IMAP, timeout=30)
    M.login(USER, PASS)
    M.select("INBOX")
    M.fetch("1", "(BODY[])")
    M.logout()
    p = poplib.POP3("127.0.0.1", POP3, timeout=30)
    p.user(USER)
    p.pass_(PASS)
    p.stat()
    p.quit()
    time.sleep(1)
    fd_idle = fds()
    threads = [guarded("smtp", smtp), guarded("imap", imap), guarded("pop3", pop3)]
    for t in threads:
        t.start()
    t0 = time.time()
    warm = max(SECONDS / 10, 2)
    rss_start = fd_start = None
    rss_peak = fd_peak = 0
    last_print = t0
    while time.time() - t0 < SECONDS:
        time.sleep(1)
        rss, fd = status("VmRSS:"), fds()
        rss_peak, fd_peak = max(rss_peak, rss), max(fd_peak, fd)
        if rss_start is None and time.time() - t0 >= warm:
            rss_start, fd_start = rss, fd
        if time.time() - last_print >= 60:
            last_print = time.time()
            print("t=%4.0fs rss=%d KiB fds=%d %s" % (time.time() - t0, rss, fd, count), flush=True)
    rss_end = status("VmRSS:")
    stop.set()
    for t in threads:
        t.join(60)
    time.sleep(1)
    fd_end = fds()
    print("SOAK seconds=%d rss_idle=%d rss_start=%d rss_peak=%d rss_end=%d fd_idle=%d fd_start=%d fd_peak=%d fd_end=%d "
          "smtp=%d imap=%d pop3=%d errors=%d" % (SECONDS, rss_idle, rss_start or rss_end, rss_peak, rss_end, fd_idle,
                                                fd_start or fd_end, fd_peak, fd_end, count["smtp"], count["imap"],
                                                count["pop3"], count["errors"]), flush=True)


main()
