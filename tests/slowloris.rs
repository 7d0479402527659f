//! Slowloris on every listener (issue 8; BAD-INPUTS 14, 37, 43, 49): clients that dribble
//! one byte at a time and never finish a command (or a TLS ClientHello) are cut at their
//! deadline while another client on the same listener logs in and works. The SMTP command
//! and session deadlines are in smtp_e2e.rs (`slowloris_gets_421_while_others_work`,
//! `session_deadline_cuts_a_dribbling_client`). POP3 allows no autologout under 10 minutes
//! (RFC 1939 §3), so on the plain POP3 port the dribbler must still be connected after the
//! other client's session, and the 10-minute cut is shown on the sans-IO core with a
//! simulated clock (`proto::pop3::tests::dribbled_bytes_do_not_postpone_autologout`).

mod common;

use common::*;

/// What these scripts add to the shared raw clients (tests/common/raw_client.py).
const PY: &str = r#"
HELLO = bytes.fromhex("16030100c4010000c00303") + bytes(32) + bytes.fromhex("000004130113020100009300000000")

def dribble(name, port, payload, tls=False, starttls=None, interval=0.25):
    """Sends payload one byte per interval; returns (closed, bytes_sent, seconds, got)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    got = b""
    if starttls:
        s.recv(4096)
        s.sendall(starttls)
        got = s.recv(4096)
    if tls:
        s = CTX.wrap_socket(s)
    if not tls and not starttls and payload is not HELLO:
        got += s.recv(4096)
    s.settimeout(interval)
    t0 = time.time(); sent = 0
    for b in payload:
        try:
            s.sendall(bytes([b])); sent += 1
            d = s.recv(4096)
            if not d:
                return (True, sent, time.time() - t0, got)
            got += d
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return (True, sent, time.time() - t0, got)
    return (False, sent, time.time() - t0, got)
"#;

fn py(srv: &Server, script: &str) -> String {
    srv.py(PY, script)
}

/// IMAP and IMAPS: a dribbled command line, a dribbled LOGIN literal, and (IMAPS, IMAP after
/// STARTTLS) a dribbled TLS ClientHello are all cut; imaplib logs in and selects meanwhile.
#[test]
fn imap_and_imaps_dribblers_cut_while_others_work() {
    let srv = Server::start("slow-imap", "", "imap_prelogin_timeout = 2\ntls_handshake_timeout = 2");
    let out = py(
        &srv,
        r#"
LINE = b"a LOGIN alice " + b"x" * 200
LIT = b"a LOGIN {100}\r\n"
res = {}
def run(name, *a, **k): res[name] = dribble(name, *a, **k)
cases = [
    ("imap line", IMAP, LINE),
    ("imap literal", IMAP, LIT + b"y" * 100),
    ("imaps line", IMAPS, LINE, True),
    ("imaps hello", IMAPS, HELLO),
    ("imap starttls hello", IMAP, HELLO, False, b"s STARTTLS\r\n"),
]
ts = [threading.Thread(target=run, args=c) for c in cases]
for t in ts: t.start()
time.sleep(0.5)
worked = 0
while any(t.is_alive() for t in ts) and worked < 50:
    M = imaplib.IMAP4_SSL("127.0.0.1", IMAPS, ssl_context=CTX) if worked % 2 else imaplib.IMAP4("127.0.0.1", IMAP)
    M.login(USER, PASS); assert M.select("INBOX")[0] == "OK"; M.logout()
    worked += 1
for t in ts: t.join()
for name, (closed, sent, secs, got) in res.items():
    print("%-20s closed=%s after %d bytes, %.1f s" % (name, closed, sent, secs))
    assert closed, name
print("working sessions meanwhile:", worked)
assert worked >= 2
for name in ("imap line", "imap literal", "imaps line"):
    assert b"BYE" in res[name][3], (name, res[name][3][-200:])
"#,
    );
    eprint!("{out}");
}

/// POP3S and POP3 STLS: a dribbled ClientHello is cut at the handshake deadline; on the plain
/// port a dribbled command line is not cut early (10-minute floor) and never blocks poplib.
#[test]
fn pop3_and_pop3s_dribblers_cut_while_others_work() {
    let srv = Server::start("slow-pop3", "", "pop3_timeout = 2\ntls_handshake_timeout = 2");
    let out = py(
        &srv,
        r#"
res = {}
def run(name, *a, **k): res[name] = dribble(name, *a, **k)
cases = [
    ("pop3s hello", POP3S, HELLO),
    ("pop3 stls hello", POP3, HELLO, False, b"STLS\r\n"),
    ("smtp starttls hello", SMTP, HELLO, False, b"STARTTLS\r\n"),
    ("pop3 line", POP3, b"USER " + b"a" * 24),
    ("pop3s line", POP3S, b"USER " + b"a" * 24, True),
]
ts = [threading.Thread(target=run, args=c) for c in cases]
for t in ts: t.start()
time.sleep(0.5)
worked = 0
while any(t.is_alive() for t in ts) and worked < 50:
    p = poplib.POP3_SSL("127.0.0.1", POP3S, context=CTX) if worked % 2 else poplib.POP3("127.0.0.1", POP3)
    p.user(USER); p.pass_(PASS); p.stat(); p.quit()
    worked += 1
for t in ts: t.join()
for name, (closed, sent, secs, got) in res.items():
    print("%-20s closed=%s after %d bytes, %.1f s" % (name, closed, sent, secs))
print("working sessions meanwhile:", worked)
assert worked >= 2
for name in ("pop3s hello", "pop3 stls hello", "smtp starttls hello"):
    closed, sent, secs, got = res[name]
    assert closed and sent < len(HELLO), (name, res[name])
for name in ("pop3 line", "pop3s line"):
    closed, sent, secs, got = res[name]
    assert not closed and sent == 29, ("cut before the RFC 1939 10-minute floor", name, res[name])
"#,
    );
    eprint!("{out}");
}
