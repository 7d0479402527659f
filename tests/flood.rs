//! Input floods while a reply is held back (issue 13 item 1, BAD-INPUTS 60): a client that
//! pipelines megabytes of lines while the server delays its answer (the SMTP tarpit after an
//! unknown recipient, an IMAP IDLE, a login delay) must not make the server buffer
//! them. The server stops reading (the kernel's receive window then holds the client back),
//! so its RSS grows by at most 1 MiB per flooding connection, and another session of the
//! same protocol is served meanwhile. RSS is read from /proc (VmHWM reset through
//! clear_refs, as scripts/bench.sh does), so it measures the server's heap, not the kernel.

mod common;

use common::*;

/// What these scripts add to the shared raw clients (tests/common/raw_client.py).
const PY: &str = r#"
PID = int(os.environ["LB_PID"])
GROWTH_MAX_KIB = int(os.environ["LB_GROWTH_MAX_KIB"])
LIMIT = 64 << 20   # bytes one flooding client sends at most
STALL = 3          # seconds a blocked send counts as "the server stopped reading"

def kib(field):
    for l in open("/proc/%d/status" % PID):
        if l.startswith(field): return int(l.split()[1])
    return 0

def reset_peak():
    with open("/proc/%d/clear_refs" % PID, "w") as f: f.write("5")

def flood(conn, line):
    """Sends `line` repeatedly, never reading, until LIMIT or a send blocks STALL s."""
    chunk = line * (65536 // len(line))
    conn.s.settimeout(STALL)
    sent = 0
    try:
        while sent < LIMIT:
            sent += conn.s.send(chunk)
    except (socket.timeout, ssl.SSLWantWriteError):
        pass
    except OSError as e:
        print("flood ended by", e)
    return sent

def measured(name, start, line):
    """Opens the held session with start(), floods it; prints and returns the growth."""
    time.sleep(0.3)
    reset_peak()
    base = kib("VmRSS:")
    c = start()
    sent = flood(c, line)
    peak = kib("VmHWM:")
    growth = peak - base
    print("%s: sent %.1f MiB, server RSS %d KiB -> peak %d KiB (+%d KiB)" % (name, sent / 2**20, base, peak, growth))
    return c, growth
"#;

/// Runs `script` after [`PY`], with the server's pid; prints what it measured.
fn run(srv: &Server, script: &str) {
    // Under qemu-user the process is the emulator, whose translation cache grows as new code
    // runs: 8 MiB there still tells a bounded server from the unbounded one (+160 MiB).
    let max = if under_emulator() { 8192 } else { 1024 };
    let env = format!("os.environ['LB_PID'] = '{}'\nos.environ['LB_GROWTH_MAX_KIB'] = '{max}'\n", srv.pid());
    let out = srv.py(&format!("{env}{PY}"), script);
    eprintln!("{out}");
}

/// SMTP, plain and after STARTTLS: EHLO, MAIL, three RCPTs to unknown users (tarpit 1 + 2 +
/// 4 s), then pipelined NOOPs; smtplib delivers a message meanwhile.
#[test]
fn smtp_flood_during_tarpit_is_not_buffered() {
    let srv = Server::start("flood-smtp", "", "");
    run(
        &srv,
        r#"
def start(tls):
    def go():
        c = Smtp(SMTP)
        assert c.reply()[0] == 220
        if tls:
            c.ok(b"EHLO flood.example.net"); c.ok(b"STARTTLS", 220); c.tls()
        c.ok(b"EHLO flood.example.net")
        c.ok(b"MAIL FROM:<f@example.net>")
        c.send(b"RCPT TO:<nobody1@example.org>\r\nRCPT TO:<nobody2@example.org>\r\nRCPT TO:<nobody3@example.org>\r\n")
        return c
    return go
for name, tls in [("smtp", False), ("smtp starttls", True)]:
    c, growth = measured(name, start(tls), b"NOOP\r\n")
    send([msg(1)])
    assert growth <= GROWTH_MAX_KIB, "%s flood grew the server by %d KiB" % (name, growth)
    c.s.close()
"#,
    );
}

/// IMAP: a selected session in IDLE, and (over IMAPS) a LOGIN held by the per-IP delay after
/// two failures, each followed by pipelined commands without reading any answer; imaplib
/// logs in and selects meanwhile.
#[test]
fn imap_flood_during_idle_or_login_delay_is_not_buffered() {
    let srv = Server::start("flood-imap", "", "");
    run(
        &srv,
        r#"
def idle():
    c = C(IMAP)
    c.login()
    c.ok(b"SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.line().startswith(b"+")
    return c
def delayed_login():
    c = C(IMAPS, tls=True)
    for _ in range(2):
        assert status(c.cmd(b"LOGIN alice wrong")) == b"NO"
    c.send(b"l LOGIN alice wrong\r\n")
    return c
for name, start in [("imap idle", idle), ("imaps login delay", delayed_login)]:
    c, growth = measured(name, start, b"a NOOP\r\n")
    M = imap(); ok(M.select("INBOX")); M.logout()
    assert growth <= GROWTH_MAX_KIB, "%s flood grew the server by %d KiB" % (name, growth)
    c.s.close()
"#,
    );
}

/// POP3 (plain and POP3S): two failed logins arm the per-IP delay, the third PASS is held
/// while the client floods pipelined NOOPs; poplib logs in meanwhile (waiting out the delay).
#[test]
fn pop3_flood_during_login_delay_is_not_buffered() {
    let srv = Server::start("flood-pop3", "", "");
    run(
        &srv,
        r#"
def start(tls):
    def go():
        c = Pop(POP3S if tls else POP3, tls=tls)
        c.line()
        for _ in range(2):
            assert c.cmd(b"USER alice").startswith(b"+OK")
            assert c.cmd(b"PASS wrong").startswith(b"-ERR")
        c.send(b"USER alice\r\nPASS wrong\r\n")
        return c
    return go
for name, tls in [("pop3", False), ("pop3s", True)]:
    c, growth = measured(name, start(tls), b"NOOP\r\n")
    p = poplib.POP3("127.0.0.1", POP3); p.user(USER); p.pass_(PASS); p.stat(); p.quit()
    assert growth <= GROWTH_MAX_KIB, "%s flood grew the server by %d KiB" % (name, growth)
    c.s.close()
"#,
    );
}
