//! End-to-end SEARCH on decoded text (issue 19, "search that finds what a person sees"):
//! messages built by Python's `email` package (base64, quoted-printable, ISO-8859-1,
//! KOI8-R, windows-1251, HTML, RFC 2231 file names, RFC 2047 subjects) are appended and
//! searched with Python's imaplib against the real `letterbox serve` binary; BAD-INPUTS 93:
//! a BODY search of a big folder keeps the server's peak RSS flat. RFC 8514 save dates:
//! APPEND with an old date-time and COPY are dated when saved, not by INTERNALDATE, and
//! keep that date through a compaction.

mod common;

use common::*;

/// Builds the messages with the `email` package (its encoders are the reference) and
/// searches them; each case lists the expected message numbers.
const SCRIPT: &str = r#"
from email.message import EmailMessage
from email.headerregistry import Address
from email import charset as cs

def mail(subject, body, charset="utf-8", cte="base64", subtype="plain"):
    m = EmailMessage()
    m["From"] = "Bob <bob@example.net>"; m["To"] = "alice@example.org"; m["Subject"] = subject
    m.set_content(body, subtype=subtype, charset=charset, cte=cte)
    return m

msgs = []
# 1: UTF-8 base64
msgs.append(mail("one", "Grüße aus München, der Kühlschrank ist leer.\n" * 3, cte="base64"))
# 2: ISO-8859-1 quoted-printable with long lines (soft breaks)
msgs.append(mail("two", ("Le café est prêt, voilà tout. " * 8) + "\n", charset="iso-8859-1", cte="quoted-printable"))
# 3: KOI8-R base64, subject in KOI8-R encoded words
m = mail("x", "Привет, как дела? Погода хорошая.\n", charset="koi8-r", cte="base64")
del m["Subject"]; m["Subject"] = cs.Charset("koi8-r").header_encode("Отчёт за квартал")
msgs.append(m)
# 4: HTML in windows-1251, QP, with entities and a script
html = "<html><head><style>.x{}</style><script>var secret='needle-in-script';</script></head><body><p>Сводка&nbsp;за&nbsp;неделю &amp; план</p><!-- hidden comment --></body></html>\n"
msgs.append(mail("four", html, charset="windows-1251", cte="quoted-printable", subtype="html"))
# 5: a PDF attachment with a non-ASCII name (the email package writes RFC 2231)
m = mail("five", "see attached\n", cte="7bit")
m.add_attachment(b"%PDF-1.4 binary", maintype="application", subtype="pdf", filename="Rechnung-März.pdf")
msgs.append(m)

M = imap()
for m in msgs:
    ok(M.append("INBOX", None, None, m.as_bytes().replace(b"\n", b"\r\n")))
ok(M.select("INBOX"))

def search(charset, key, needle):
    M.literal = needle if isinstance(needle, bytes) else needle.encode()
    typ, data = M.search(charset, key)
    assert typ == "OK", (typ, data)
    return data[0].decode().split()

cases = [
    ("UTF-8", "BODY", "GRÜSSE", []),                # simple folding: ß does not expand
    ("UTF-8", "BODY", "grüße AUS münchen", ["1"]),
    ("UTF-8", "BODY", "KÜHLSCHRANK", ["1"]),
    ("UTF-8", "BODY", "CAFÉ EST PRÊT", ["2"]),
    ("UTF-8", "TEXT", "tout. le café", ["2"]),          # across a QP soft line break
    ("UTF-8", "BODY", "как ДЕЛА", ["3"]),
    ("UTF-8", "SUBJECT", "ОТЧЁТ", ["3"]),
    ("UTF-8", "TEXT", "отчёт за", ["3"]),
    ("UTF-8", "BODY", "Сводка за неделю & план", ["4"]),
    ("UTF-8", "BODY", "needle-in-script", []),
    ("UTF-8", "BODY", "hidden comment", []),
    ("UTF-8", "BODY", "<p>", []),
    ("UTF-8", "BODY", "rechnung-märz", ["5"]),
    ("UTF-8", "BODY", "PDF-1.4", []),                 # attachments' contents are not text
    ("KOI8-R", "BODY", "привет".encode("koi8_r"), ["3"]),
    ("ISO-8859-1", "BODY", "voilà".encode("latin-1"), ["2"]),
    ("windows-1251", "BODY", "СВОДКА".encode("cp1251"), ["4"]),
]
for charset, key, needle, want in cases:
    got = search(charset, key, needle)
    assert got == want, (charset, key, needle, got, want)
    print("SEARCH CHARSET %s %s %r -> %s" % (charset, key, needle, got))
M.literal = None
typ, data = M.search("X-UNKNOWN", "ALL")
assert typ == "NO" and b"[BADCHARSET (UTF-8 " in data[0], (typ, data)
print("unknown charset:", data[0][:40])
M.logout()
"#;

#[test]
fn imaplib_searches_decoded_bodies_headers_and_file_names() {
    let srv = Server::start("imap-search-decoded", "", "");
    let out = srv.py("", SCRIPT);
    eprint!("{out}");
}

#[test]
fn bad_input_93_body_search_of_a_big_folder_keeps_rss_flat() {
    // 120 messages of ~400 KiB base64 each (~48 MiB): the one needle is near the end of the
    // last; the server may hold one chunk per decoder, never a message.
    let srv = Server::start("imap-search-big", "", "");
    let mbox = srv.home.dir.join("big.mbox");
    let script = format!(
        r#"
import base64
with open({mbox:?}, "wb") as f:
    for i in range(120):
        body = (b"filler text %d " % i) * 20000
        if i == 119: body += b" the hidden needle "
        f.write(b"From bob@example.net Mon Mar  2 10:00:00 2026\n")
        f.write(b"From: bob@example.net\nSubject: big %d\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" % i)
        f.write(base64.encodebytes(body) + b"\n")
"#
    );
    srv.python(&script);
    let out = srv.home.run(&["import", mbox.to_str().unwrap_or_default()], b"");
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_file(&mbox);
    let hwm0 = srv.status_kib("VmHWM:");
    let out = srv.py(
        "",
        r#"
M = imap(); ok(M.select("INBOX"))
# A second session's NOOP while the search runs (one executor thread).
lat = []; ready = threading.Event()
def noops():
    N = imap(); ok(N.select("INBOX")); ready.set()
    while not done:
        t = time.time(); ok(N.noop()); lat.append(time.time() - t); time.sleep(0.01)
    N.logout()
done = False
th = threading.Thread(target=noops); th.start(); ready.wait(60)
t0 = time.time()
r = ok(M.search(None, "BODY", '"HIDDEN NEEDLE"'))
el = time.time() - t0
done = True; th.join()
assert r == [b"120"], r
r = ok(M.search(None, "BODY", "nowhere-to-be-found")); assert r == [b""], r
print("BODY search of 120 x 400 KiB base64: %.2f s; second session NOOP max %.1f ms over %d" % (el, 1000 * max(lat or [0]), len(lat)))
"#,
    );
    let hwm1 = srv.status_kib("VmHWM:");
    eprint!("{out}");
    eprintln!("server VmHWM before {hwm0} KiB, after {hwm1} KiB (+{} KiB)", hwm1.saturating_sub(hwm0));
    if !under_emulator() {
        assert!(hwm1.saturating_sub(hwm0) < 4 * 1024, "peak RSS grew by {} KiB", hwm1 - hwm0);
    }
}

/// Helpers of the save-date scripts: a message's (SAVEDATE, INTERNALDATE) as unix seconds.
const SAVEDATE_HELPERS: &str = r#"
import datetime
def dates(M, uid):
    typ, data = M.uid("FETCH", uid, "(SAVEDATE INTERNALDATE)")
    assert typ == "OK", (typ, data)
    line = data[0].decode()
    got = {}
    for k in ("SAVEDATE", "INTERNALDATE"):
        v = re.search(k + r' "([^"]+)"', line).group(1).strip()
        got[k] = int(datetime.datetime.strptime(v, "%d-%b-%Y %H:%M:%S %z").timestamp())
    return got["SAVEDATE"], got["INTERNALDATE"]
def search(M, *keys):
    typ, data = M.uid("SEARCH", *keys)
    assert typ == "OK", (typ, data)
    return data[0].decode().split()
def day(t):
    return time.strftime("%d-%b-%Y", time.gmtime(t))
"#;

/// FETCH SAVEDATE and the SAVED* keys through imaplib; prints `ORIG uid saved` and
/// `COPY uid saved` for the check after compaction.
const SAVEDATE_SCRIPT: &str = r#"
M = imap()
ok(M.create("Kept"))
t0 = int(time.time())
typ, data = M.append("INBOX", None, '"01-Jan-2001 00:00:00 +0000"', b"Subject: old\r\n\r\nfrom 2001\r\n")
assert typ == "OK", (typ, data)
uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
ok(M.select("INBOX"))
saved, internal = dates(M, uid)
assert internal == 978307200, internal
assert t0 - 1 <= saved <= time.time() + 1, (t0, saved)
assert search(M, "SAVEDSINCE", day(saved)) == [uid], search(M, "SAVEDSINCE", day(saved))
assert search(M, "SAVEDON", day(saved)) == [uid]
assert search(M, "SAVEDBEFORE", day(saved)) == []
assert search(M, "SINCE", day(saved)) == [], "INTERNALDATE is 2001"
assert search(M, "ON", "1-Jan-2001") == [uid]
assert search(M, "SAVEDATESUPPORTED") == [uid]
print("ORIG", uid, saved)
# The copy is saved later: it gets its own save date, the original keeps its own.
time.sleep(2.1)
t1 = int(time.time())
typ, data = M._simple_command("UID", "COPY", uid, "Kept")
assert typ == "OK", (typ, data)
copy = re.search(rb"COPYUID \d+ \S+ (\d+)", data[0]).group(1).decode()
assert dates(M, uid) == (saved, internal)
ok(M.select("Kept"))
csaved, cinternal = dates(M, copy)
assert cinternal == 978307200, cinternal
assert t1 <= csaved <= time.time() + 1 and csaved > saved, (t1, csaved, saved)
assert search(M, "SAVEDSINCE", day(csaved)) == [copy]
print("COPY", copy, csaved)
M.logout()
"#;

#[test]
fn savedate_is_the_save_time_for_append_with_a_date_and_copy_and_survives_compaction() {
    let mut srv = Server::start("imap-savedate", "", "");
    let out = srv.py(SAVEDATE_HELPERS, SAVEDATE_SCRIPT);
    eprint!("{out}");
    let line =
        |p: &str| out.lines().find_map(|l| l.strip_prefix(p)).unwrap_or_else(|| panic!("no {p}: {out}")).to_owned();
    let (orig, copy) = (line("ORIG "), line("COPY "));
    srv.stop();
    let compacted = srv.home.run(&["compact"], b"");
    assert!(compacted.status.success(), "{compacted:?}");
    srv.spawn();
    let check = format!(
        r#"
M = imap()
for folder, (uid, saved) in (("INBOX", "{orig}".split()), ("Kept", "{copy}".split())):
    ok(M.select(folder))
    got = dates(M, uid)
    assert got == (int(saved), 978307200), (folder, uid, got, saved)
    print("kept", folder, uid, got)
M.logout()
"#
    );
    eprint!("{}", srv.py(SAVEDATE_HELPERS, &check));
}
