//! End-to-end SORT, THREAD, ESEARCH and SEARCHRES (issue 19) against the real `letterbox
//! serve` binary with Python's imaplib, and differentially against Dovecot's imap (the
//! reference of the bench, run preauthenticated over a pipe with `IMAP4_stream`): the same
//! seeded folder of awkward messages (Re:/Fwd:/[blob] subject chains, missing, duplicate
//! and cyclic references, dates in many zones or none, RFC 2047 display names) is appended
//! to both, and every SORT criterion and both THREAD algorithms must answer alike.
#![cfg(feature = "imap-sort")]

mod common;

use common::*;

/// The seeded corpus and the Dovecot side (maildir owned by `nobody`: Dovecot refuses root).
const CORPUS: &str = r#"
import random, imaplib, os, shutil, subprocess, tempfile, time, email.utils
SEED = int(os.environ.get("LB_SEED", "19"))
N = int(os.environ.get("LB_MSGS", "240"))
rnd = random.Random(SEED)
bases = ["plan", "Budget 2027", "lunch?", "Router firmware", "", "  spaced   out  ", "[ticket 42]", "Rechnung März"]
leaders = ["Re: ", "RE: ", "re:", "Fwd: ", "Fw: ", "Re[2]: ", "[list] ", "[list] Re: ", "Re: [list] "]
names = ["Ann <ann@example.org>", "\"Zed, Z.\" <zed@example.net>", "bob@example.com", "=?UTF-8?Q?=C3=89mile?= <emile@example.fr>",
         "<noname@example.org>", "Carol (work) <carol@example.com>", "undisclosed-recipients:;", "dave@EXAMPLE.com"]
zones = ["+0000", "-0300", "+0530", "GMT", "PDT", "-1200", "+1400"]
ids = []
msgs = []
for i in range(N):
    base = rnd.choice(bases)
    subj = "".join(rnd.choice(leaders) for _ in range(rnd.choice([0, 0, 1, 2, 3]))) + base
    if rnd.random() < 0.1: subj += " (fwd)"
    if rnd.random() < 0.07: subj = "[Fwd: " + subj + "]"
    h = []
    if subj or rnd.random() < 0.5: h.append("Subject: " + subj)
    h.append("From: " + rnd.choice(names))
    if rnd.random() < 0.9: h.append("To: " + rnd.choice(names))
    if rnd.random() < 0.5: h.append("Cc: " + rnd.choice(names))
    r = rnd.random()
    if r < 0.8:
        t = 1_600_000_000 + rnd.randrange(0, 86400 * 30)
        z = rnd.choice(zones)
        h.append("Date: " + email.utils.formatdate(t, usegmt=True).replace("GMT", z))
    elif r < 0.9:
        h.append("Date: someday soon")
    mid = "<m%d.%d@example.org>" % (SEED, i)
    r = rnd.random()
    if r < 0.05 and ids: mid = rnd.choice(ids)          # a duplicate Message-ID
    elif r < 0.1: mid = None                           # none at all
    if mid: h.append("Message-ID: " + mid)
    r = rnd.random()
    if ids and r < 0.55:
        k = rnd.randrange(1, 6)
        chain = [rnd.choice(ids + ["<ghost%d@x>" % rnd.randrange(20)]) for _ in range(k)]
        if rnd.random() < 0.05 and mid: chain.append(mid)   # refers to itself
        h.append("References: " + " ".join(chain))
    elif ids and r < 0.75:
        h.append("In-Reply-To: " + rnd.choice(ids + ["<ghost%d@x>" % rnd.randrange(20)]))
    elif r < 0.8:
        # A forward reference: a cycle once that message names this one.
        h.append("References: <m%d.%d@example.org>" % (SEED, min(N - 1, i + rnd.randrange(1, 5))))
    if mid: ids.append(mid)
    body = "x" * rnd.randrange(0, 400)
    msgs.append(("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode())

def fill(M):
    for i, m in enumerate(msgs):
        t = imaplib.Time2Internaldate(1_700_000_000 + i * 37 + rnd.randrange(0, 5) * 0)
        ok(M.append("INBOX", None, t, m))
    ok(M.select("INBOX"))

def dovecot():
    d = tempfile.mkdtemp(prefix="lb-dovecot-")
    os.chmod(d, 0o755)
    os.makedirs(d + "/Maildir")
    with open(d + "/dv.conf", "w") as f:
        f.write("mail_location = maildir:%s/Maildir\nlog_path = %s/dv.log\nssl = no\n"
                "mail_uid = 65534\nmail_gid = 65534\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n" % (d, d))
    open(d + "/dv.log", "w").close()
    os.chmod(d + "/dv.log", 0o666)
    subprocess.run(["chown", "-R", "65534:65534", d + "/Maildir"], check=True)
    return imaplib.IMAP4_stream("env USER=nobody HOME=%s /usr/lib/dovecot/imap -c %s/dv.conf" % (d, d)), d

def untagged(M, typ, dat, name):
    return M._untagged_response(typ, dat, name)
"#;

#[test]
fn sort_and_thread_agree_with_dovecot() {
    let srv = Server::start("imap-sort-thread-dovecot", "", "");
    let out = srv.py(
        CORPUS,
        r#"
L = imap(); fill(L)
D, ddir = dovecot(); fill(D)
for cap in ["ESEARCH", "SEARCHRES", "ESORT", "WITHIN", "SAVEDATE", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT"]:
    assert cap in L.capabilities, (cap, L.capabilities)
checks = 0
def same(what, f):
    global checks
    a, b = f(L), f(D)
    assert a == b, "%s differs:\n letterbox %s\n dovecot   %s" % (what, a, b)
    checks += 1
    return a
keys = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"]
for k in keys:
    for crit in ["(%s)" % k, "(REVERSE %s)" % k]:
        same("SORT " + crit, lambda M: ok(M.sort(crit, "UTF-8", "ALL")))
        same("UID SORT " + crit, lambda M: ok(M.uid("SORT", crit, "UTF-8", "ALL")))
for crit in ["(SUBJECT DATE)", "(FROM REVERSE DATE)", "(REVERSE SUBJECT REVERSE ARRIVAL)", "(TO CC SIZE)"]:
    same("SORT " + crit, lambda M: ok(M.sort(crit, "UTF-8", "ALL")))
same("SORT with search", lambda M: ok(M.sort("(DATE)", "UTF-8", "OR", "SUBJECT", "plan", "LARGER", "200")))
for alg in ["REFERENCES", "ORDEREDSUBJECT"]:
    t = same("THREAD " + alg, lambda M: ok(M.thread(alg, "UTF-8", "ALL")))
    same("UID THREAD " + alg, lambda M: ok(M.uid("THREAD", alg, "UTF-8", "ALL")))
    same("THREAD %s subset" % alg, lambda M: ok(M.thread(alg, "UTF-8", "SUBJECT", "budget")))
    print("THREAD %s: %d bytes of thread lists" % (alg, len(t[0] or b"")))
def es(M, opts, key):
    typ, dat = M._simple_command("SEARCH", "RETURN", opts, key)
    assert typ == "OK", (typ, dat)
    # Items may come in any order (RFC 4731 §3.1): compare them as a dictionary.
    out = []
    for l in untagged(M, typ, dat, "ESEARCH")[1]:
        w = l.split(b")", 1)[1].split()
        out.append(dict(zip(w[0::2], w[1::2])))
    return out
for opts in ["(MIN MAX COUNT ALL)", "()", "(COUNT)", "(MIN)"]:
    same("SEARCH RETURN " + opts, lambda M: es(M, opts, "LARGER 150"))
def esort(M, opts, crit):
    typ, dat = M._simple_command("SORT", "RETURN", opts, crit, "UTF-8", "ALL")
    assert typ == "OK", (typ, dat)
    out = []
    for l in untagged(M, typ, dat, "ESEARCH")[1]:
        w = l.split(b")", 1)[1].split()
        out.append(dict(zip(w[0::2], w[1::2])))
    return out
for crit in ["(DATE)", "(REVERSE SUBJECT)", "(ARRIVAL)"]:
    same("ESORT " + crit, lambda M: esort(M, "(MIN MAX COUNT ALL)", crit))
def saved(M):
    ok(M._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", "plan"))
    return ok(M.search(None, "$", "LARGER", "100"))
same("SEARCH $ after SAVE", saved)
# RFC 5032: the boundary falls between two arrivals (37 s apart), so the clock read by each
# server a moment apart gives the same answer.
age = int(time.time()) - (1_700_000_000 + 100 * 37) + 18
same("SEARCH YOUNGER", lambda M: ok(M.search(None, "YOUNGER", str(age))))
same("UID SEARCH OLDER", lambda M: ok(M.uid("SEARCH", "OLDER", str(age))))
assert len(ok(L.search(None, "OLDER", str(age)))[0].split()) == 100
print("letterbox and Dovecot agree on %d SORT/THREAD/ESEARCH answers over %d messages" % (checks, N))
L.logout(); D.logout(); shutil.rmtree(ddir, ignore_errors=True)
"#,
    );
    eprint!("{out}");
    assert!(out.contains("agree on"), "{out}");
}
