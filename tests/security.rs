//! Security checks of issue 8 over real sockets, on every TLS listener at once: SMTP
//! STARTTLS (RFC 3207), IMAP STARTTLS (RFC 3501 §6.2.1), IMAPS and POP3S (RFC 8314), POP3
//! STLS (RFC 2595). TLS 1.1 and 1.0 handshakes fail (`openssl s_client -tls1_1` / `-tls1`);
//! this Debian openssl has no `-ssl3` at all, so an SSLv3 ClientHello is sent as raw bytes
//! and must get no ServerHello. STARTTLS command injection (RFC 3207 §4.2, RFC 2595 §3.1;
//! CVE-2011-0411): plaintext commands pipelined behind STARTTLS/STLS are never executed.
//! Privilege drop is `serve_lifecycle::privileges_are_dropped_after_binding` (CI is root).

mod common;

use std::process::Command;

use common::*;

fn sh(cmd: &str) -> (bool, String) {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

/// (name, port, openssl -starttls argument) of every TLS listener.
fn listeners(srv: &Server) -> Vec<(&'static str, u16, &'static str)> {
    vec![
        ("smtp starttls", srv.smtp, "-starttls smtp"),
        ("imap starttls", srv.imap, "-starttls imap"),
        ("imaps", srv.imaps, ""),
        ("pop3 stls", srv.pop3, "-starttls pop3"),
        ("pop3s", srv.pop3s, ""),
    ]
}

#[test]
fn old_tls_versions_fail_on_every_tls_listener() {
    let srv = Server::start("sec-tls", "", "");
    for (name, port, starttls) in listeners(&srv) {
        let (ok, text) = sh(&format!("openssl s_client {starttls} -connect 127.0.0.1:{port} </dev/null 2>&1"));
        assert!(
            ok && (text.contains("TLSv1.3") || text.contains("TLSv1.2")),
            "{name}: modern handshake failed: {text}"
        );
        for v in ["-tls1_1", "-tls1"] {
            let (ok, text) =
                sh(&format!("openssl s_client {v} {starttls} -cipher 'DEFAULT@SECLEVEL=0' -connect 127.0.0.1:{port} </dev/null 2>&1"));
            assert!(!ok, "{name} {v}: handshake succeeded: {text}");
            assert!(text.contains("Cipher is (NONE)") || text.contains("no protocols available"), "{name} {v}: {text}");
        }
        let (_, text) = sh(&format!("openssl s_client -ssl3 {starttls} -connect 127.0.0.1:{port} </dev/null 2>&1"));
        assert!(
            text.contains("Unknown option") || text.contains("unknown option") || text.contains("Cipher is (NONE)"),
            "{name} -ssl3: {text}"
        );
    }
    // SSLv3 by hand: a ClientHello with record and client version 3.0 (RFC 6101 §5.6.1.2)
    // and SSLv3-only cipher suites. The answer must not be a handshake record (ServerHello).
    let out = srv.python(
        r#"
import os, socket
def hello():
    body = bytes.fromhex("0300") + bytes(32) + b"\x00" + bytes.fromhex("0004000a002f") + b"\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x00" + len(hs).to_bytes(2, "big") + hs
def plain(port, pre, starttls):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if starttls:
        s.recv(4096); s.sendall(starttls)
        buf = b""
        while not (pre in buf and buf.endswith(b"\r\n")):
            buf += s.recv(4096)
    return s
for name, port, pre, cmd in [
    ("smtp", int(os.environ["LB_SMTP"]), b"220 ", b"EHLO x\r\nSTARTTLS\r\n"),
    ("imap", int(os.environ["LB_IMAP"]), b"s OK", b"s STARTTLS\r\n"),
    ("imaps", int(os.environ["LB_IMAPS"]), b"", None),
    ("pop3", int(os.environ["LB_POP3"]), b"+OK Begin", b"STLS\r\n"),
    ("pop3s", int(os.environ["LB_POP3S"]), b"", None),
]:
    s = plain(port, pre, cmd)
    s.sendall(hello())
    got = b""
    try:
        while len(got) < 5:
            d = s.recv(4096)
            if not d: break
            got += d
    except (ConnectionResetError, socket.timeout): pass
    print(name, got[:7].hex())
    assert got[:1] != b"\x16", (name, "ServerHello to SSLv3", got[:16])
    assert got == b"" or got[:1] == b"\x15", (name, got[:16])
"#,
    );
    eprint!("{out}");
}

#[test]
fn starttls_command_injection_refused_on_smtp_imap_pop3() {
    let srv = Server::start("sec-inject", "", "");
    let out = srv.python(
        r#"
import os, socket, ssl
CTX = ssl.create_default_context(); CTX.check_hostname = False; CTX.verify_mode = ssl.CERT_NONE
PASS = os.environ["LB_PASS"].encode()
def inject(port, pre, cmd, ready, after):
    """Sends cmd + injected plaintext in one segment, upgrades, then sends `after` in TLS
    and returns everything read inside TLS."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = s.recv(4096)
    if pre:
        s.sendall(pre)
        while not buf.endswith(b"\r\n") or b"250 " not in buf: buf += s.recv(4096)
    s.sendall(cmd)
    buf = b""
    while ready not in buf or not buf.endswith(b"\r\n"):
        buf += s.recv(4096)
    assert buf.count(b"\r\n") == 1, ("plaintext answered after the STARTTLS reply", buf)
    t = CTX.wrap_socket(s)
    t.sendall(after)
    got = b""
    t.settimeout(3)
    try:
        while True:
            d = t.recv(4096)
            if not d: break
            got += d
    except socket.timeout: pass
    return got
# SMTP: MAIL/RCPT/DATA smuggled behind STARTTLS must not start a transaction in TLS.
got = inject(int(os.environ["LB_SMTP"]), b"EHLO x\r\n",
             b"STARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n", b"220 ",
             b"RCPT TO:<alice@example.org>\r\nQUIT\r\n")
print("smtp", got)
assert got.startswith(b"503"), got
# IMAP: a LOGIN smuggled behind STARTTLS must not log the session in.
got = inject(int(os.environ["LB_IMAP"]), None, b"s STARTTLS\r\nb LOGIN alice \"" + PASS + b"\"\r\n", b"s OK",
             b"c SELECT INBOX\r\nd LOGOUT\r\n")
print("imap", got)
lines = got.split(b"\r\n")
assert not any(l.startswith(b"b ") for l in lines), got
assert any(l.startswith(b"c BAD") or l.startswith(b"c NO") for l in lines), got
# POP3: USER/PASS smuggled behind STLS must not open the maildrop.
got = inject(int(os.environ["LB_POP3"]), None, b"STLS\r\nUSER alice\r\nPASS " + PASS + b"\r\n", b"+OK",
             b"STAT\r\nQUIT\r\n")
print("pop3", got)
assert got.startswith(b"-ERR"), got
"#,
    );
    eprint!("{out}");
    assert_eq!(contents(&srv.home.store(), "INBOX").len(), 0);
}
