//! End-to-end POP3 tests (issue 4): Python poplib, fetchmail, curl and openssl s_client
//! against the real `letterbox serve` binary on loopback; messages go in over SMTP and come
//! out byte for byte. BAD-INPUTS 41-49 where a real socket matters.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// What these scripts add to the shared raw clients (tests/common/raw_client.py).
const PY: &str = r#"
C = Pop
def pop(tls=True):
    p = poplib.POP3_SSL("127.0.0.1", POP3S, context=CTX) if tls else poplib.POP3("127.0.0.1", POP3)
    p.user(USER); p.pass_(PASS); return p
def retr(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n"
def msg(i, extra=b""):
    return (b"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: p%d\r\n\r\nline one\r\n.dot line\r\n..two dots\r\n"
            % i) + extra + b"last line %d\r\n" % i
"#;

fn py(srv: &Server, script: &str) -> String {
    srv.py(PY, script)
}

/// The Python `msg(i)` helper, in Rust (no extra).
fn message_py(i: usize) -> Vec<u8> {
    format!(
        "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: p{i}\r\n\r\nline one\r\n.dot line\r\n..two dots\r\nlast line {i}\r\n"
    )
    .into_bytes()
}

fn inbox(srv: &Server) -> Vec<Vec<u8>> {
    contents(&srv.home.store(), "INBOX").into_iter().map(|(_, _, b)| b).collect()
}

#[test]
fn capa_stls_and_plaintext_refused_before_tls() {
    let srv = Server::start("pop3-capa", "loopback_plaintext = false", "");
    py(
        &srv,
        r#"
p = poplib.POP3("127.0.0.1", POP3)
caps = p.capa()
assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
assert "UIDL" in caps and "TOP" in caps, caps
# BAD-INPUTS 46: no password in the clear, whatever the command.
try:
    p.user(USER); raise AssertionError("USER accepted before TLS")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0] and b"STLS" in e.args[0], e
try:
    p._shortcmd("PASS " + PASS); raise AssertionError("PASS accepted before TLS")
except poplib.error_proto as e:
    assert b"-ERR" in e.args[0], e
try:
    p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0" + PASS.encode()).decode())
    raise AssertionError("AUTH PLAIN accepted before TLS")
except poplib.error_proto as e:
    assert b"-ERR" in e.args[0], e
p.stls(context=CTX)
caps = p.capa()
assert "USER" in caps and "SASL" in caps and "STLS" not in caps, caps
p.user(USER); p.pass_(PASS)
assert p.stat() == (0, 0)
p.quit()
# POP3S: USER offered, no STLS.
p = poplib.POP3_SSL("127.0.0.1", POP3S, context=CTX)
caps = p.capa()
assert "USER" in caps and "STLS" not in caps, caps
p.user(USER); p.pass_(PASS); p.quit()
print("ok")
"#,
    );
    // Default config: loopback counts as local, so plain USER/PASS works on 110.
    let srv = Server::start("pop3-capa-loop", "", "");
    py(
        &srv,
        r#"
p = poplib.POP3("127.0.0.1", POP3)
assert "USER" in p.capa()
p.user(USER); p.pass_(PASS); p.quit()
"#,
    );
}

#[test]
fn retr_top_uidl_byte_exact_and_stable_across_restart() {
    let mut srv = Server::start("pop3-retr", "", "");
    let out = py(
        &srv,
        r#"
big = b"".join(b"body line %05d with some text\r\n" % i for i in range(3000))
send([msg(1), msg(2, big), msg(3, b".\r\n.\r\n")])
p = pop()
count, size = p.stat()
assert count == 3, count
resp, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
assert sum(sizes) == size
bodies = [retr(p, i) for i in (1, 2, 3)]
for i, b in enumerate(bodies):
    assert len(b) == sizes[i], (i, len(b), sizes[i])
assert bodies[0].endswith(msg(1)) and bodies[1].endswith(msg(2, big)) and bodies[2].endswith(msg(3, b".\r\n.\r\n"))
assert b"\r\nReceived: " in bodies[0] or bodies[0].startswith(b"Received: ")
# TOP: the header, the blank line and n body lines.
resp, top, _ = p.top(2, 2)
t = b"\r\n".join(top) + b"\r\n"
head, sep, rest = bodies[1].partition(b"\r\n\r\n")
assert t == head + b"\r\n\r\nline one\r\n.dot line\r\n", t
resp, top, _ = p.top(1, 4294967295)
assert b"\r\n".join(top) + b"\r\n" == bodies[0]
uidl = p.uidl()[1]
p.quit()
for i, b in enumerate(bodies):
    open(os.environ["OUT"] + "/%d.eml" % (i + 1), "wb").write(b)
print(b" ".join(u.split()[1] for u in uidl).decode())
"#
        .replace("os.environ[\"OUT\"]", &format!("{:?}", srv.home.dir.display().to_string()))
        .as_str(),
    );
    let uidl = out.trim().to_string();
    let stored = inbox(&srv);
    for (i, s) in stored.iter().enumerate() {
        let got = std::fs::read(srv.home.dir.join(format!("{}.eml", i + 1))).unwrap();
        assert_eq!(&got, s, "RETR {} differs from the store", i + 1);
    }
    assert_eq!(strip_trace(&stored[0]), &message_py(1)[..]);
    let uidl_now = |srv: &Server| {
        py(srv, "p = pop(False)\nprint(b' '.join(u.split()[1] for u in p.uidl()[1]).decode())\np.quit()")
    };
    assert_eq!(uidl_now(&srv).trim(), uidl, "UIDL changed between sessions");
    assert_eq!(srv.stop(), Some(0));
    srv.spawn();
    assert_eq!(uidl_now(&srv).trim(), uidl, "UIDL changed across a restart");
    srv.kill9();
    srv.spawn();
    assert_eq!(uidl_now(&srv).trim(), uidl, "UIDL changed across kill -9");
}

#[test]
fn dele_quit_drop_rset_and_bad_numbers() {
    let srv = Server::start("pop3-dele", "", "");
    py(&srv, "send([msg(1), msg(2), msg(3)])");
    // DELE then a dropped connection: nothing removed (RFC 1939 §6, BAD-INPUTS 43).
    py(
        &srv,
        r#"
p = pop()
assert p.dele(1).startswith(b"+OK")
assert p.dele(2).startswith(b"+OK")
p.sock.close()
"#,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inbox(&srv).len(), 3, "a dropped session deleted messages");
    // DELE, RSET, QUIT: nothing removed. Bad numbers: -ERR (BAD-INPUTS 42).
    py(
        &srv,
        r#"
p = pop()
p.dele(1)
for bad in ["DELE 1", "RETR 1", "TOP 1 0", "RETR 0", "RETR 4", "DELE 99999999999999999999", "TOP 1 -1", "LIST 4294967296"]:
    try:
        p._shortcmd(bad); raise AssertionError(bad + " accepted")
    except poplib.error_proto as e:
        assert e.args[0].startswith(b"-ERR"), (bad, e)
assert p.stat()[0] == 2
assert p.rset().startswith(b"+OK")
assert p.stat()[0] == 3
p.quit()
"#,
    );
    assert_eq!(inbox(&srv).len(), 3, "RSET did not undelete");
    // DELE + QUIT: removed from the store before the +OK.
    py(
        &srv,
        r#"
p = pop()
p.dele(2)
r = p.quit()
assert r.startswith(b"+OK"), r
"#,
    );
    let left: Vec<Vec<u8>> = inbox(&srv).iter().map(|m| strip_trace(m).to_vec()).collect();
    assert_eq!(left, vec![message_py(1), message_py(3)]);
    check_clean(&srv.home);
}

#[test]
fn second_login_while_in_transaction_is_in_use() {
    let srv = Server::start("pop3-inuse", "", "");
    py(
        &srv,
        r#"
send([msg(1)])
a = pop()
b = poplib.POP3_SSL("127.0.0.1", POP3S, context=CTX)
b.user(USER)
try:
    b.pass_(PASS); raise AssertionError("second session got the maildrop")
except poplib.error_proto as e:
    assert e.args[0].startswith(b"-ERR [IN-USE]"), e
a.dele(1)
a.quit()
b.user(USER); b.pass_(PASS)
assert b.stat() == (0, 0)
b.quit()
"#,
    );
    assert!(inbox(&srv).is_empty());
}

#[test]
fn fetchmail_keep_then_fetch_and_delete() {
    let srv = Server::start("pop3-fetchmail", "", "");
    py(&srv, "send([msg(1), msg(2, b'x' * 900 + b'\\r\\n' * 20), msg(3)])");
    let stored = inbox(&srv);
    assert_eq!(stored.len(), 3);
    let home = srv.home.dir.join("fm");
    let (keep_dir, del_dir) = (home.join("keep"), home.join("del"));
    std::fs::create_dir_all(&keep_dir).unwrap();
    std::fs::create_dir_all(&del_dir).unwrap();
    let fetch = |port: u16, opts: &str, out: &std::path::Path| {
        let rc = home.join("fetchmailrc");
        let text = format!(
            "poll 127.0.0.1 with proto POP3 service {port}\n  user \"alice\" there with password \"{PASSWORD}\" is root here options {opts} no stripcr mda \"sh -c 'cat > $(mktemp {}/msg.XXXXXX)'\"\n",
            out.display()
        );
        std::fs::write(&rc, text).unwrap();
        let _ = Command::new("chmod").arg("600").arg(&rc).status();
        let o = Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .args(["--invisible", "--nosyslog", "-v"])
            .env("HOME", &home)
            .env("FETCHMAILHOME", &home)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "fetchmail failed: {log}\nserver: {}", srv.log_text());
        let mut files: Vec<Vec<u8>> =
            std::fs::read_dir(out).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        files.sort();
        files
    };
    let mut want = stored.clone();
    want.sort();
    // 1. Plain POP3 (no STLS), --keep: all three, byte for byte, and the store untouched.
    let got = fetch(srv.pop3, "keep sslproto \"\"", &keep_dir);
    assert_eq!(got, want, "fetchmail --keep bytes differ");
    assert_eq!(inbox(&srv).len(), 3);
    // 2. POP3S, no keep (fetchall: the UIDs were seen by run 1): fetched, then deleted.
    let got = fetch(srv.pop3s, "no keep fetchall ssl no sslcertck", &del_dir);
    assert_eq!(got, want, "fetchmail over POP3S bytes differ");
    assert!(inbox(&srv).is_empty(), "fetchmail without --keep left messages");
}

#[test]
fn curl_pop3_and_pop3s() {
    let srv = Server::start("pop3-curl", "", "");
    py(&srv, "send([msg(1), msg(2)])");
    let stored = inbox(&srv);
    let auth = format!("alice:{PASSWORD}");
    let list = curl(&["-u", &auth, &format!("pop3://127.0.0.1:{}/", srv.pop3)]);
    let want_list = format!("1 {}\r\n2 {}\r\n", stored[0].len(), stored[1].len());
    assert_eq!(String::from_utf8_lossy(&list), want_list);
    let m1 = curl(&["-u", &auth, &format!("pop3://127.0.0.1:{}/1", srv.pop3)]);
    assert_eq!(m1, stored[0], "curl pop3:// RETR 1 differs");
    let m2 = curl(&["-k", "-u", &auth, &format!("pop3s://127.0.0.1:{}/2", srv.pop3s)]);
    assert_eq!(m2, stored[1], "curl pop3s:// RETR 2 differs");
    let m2 = curl(&["-k", "--ssl-reqd", "-u", &auth, &format!("pop3://127.0.0.1:{}/2", srv.pop3)]);
    assert_eq!(m2, stored[1], "curl pop3:// with STLS RETR 2 differs");
    // A wrong password fails (curl exit 67).
    let o = Command::new("curl")
        .args(["-sS", "-u", "alice:wrong", &format!("pop3://127.0.0.1:{}/", srv.pop3)])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn openssl_starttls_pop3_and_old_tls_refused() {
    let srv = Server::start("pop3-openssl", "", "");
    let sh = |cmd: String| {
        let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (_, text) = sh(format!(
        "(sleep 0.5; echo CAPA; sleep 0.3; echo QUIT) | openssl s_client -ign_eof -crlf -starttls pop3 -connect 127.0.0.1:{} 2>&1",
        srv.pop3
    ));
    assert!(text.contains("Protocol  : TLSv1.3"), "{text}");
    assert!(text.contains("\nUSER\r") || text.contains("\nUSER\n"), "CAPA over TLS lacks USER: {text}");
    assert!(!text.contains("\nSTLS"), "STLS offered inside TLS: {text}");
    assert!(text.contains("signing off"), "{text}");
    let (_, fp_want) =
        sh(format!("openssl x509 -noout -fingerprint -sha256 -in {}", srv.home.dir.join("init/cert.pem").display()));
    let (_, fp_got) = sh(format!(
        "openssl s_client -connect 127.0.0.1:{} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
        srv.pop3s
    ));
    assert_eq!(fp_got, fp_want, "POP3S serves another certificate");
    // BAD-INPUTS 48: TLS 1.1 and 1.0 fail even with a client willing to use them.
    for v in ["-tls1_1", "-tls1"] {
        let (ok, text) = sh(format!(
            "openssl s_client {v} -cipher 'DEFAULT@SECLEVEL=0' -connect 127.0.0.1:{} </dev/null 2>&1",
            srv.pop3s
        ));
        assert!(!ok, "{v} handshake succeeded: {text}");
        assert!(text.contains("alert") || text.contains("no protocols available"), "{v}: {text}");
        assert!(text.contains("no peer certificate available") && text.contains("Cipher is (NONE)"), "{v}: {text}");
    }
    // -ssl3 only where this openssl build has it (Debian's does not).
    let (ok, text) = sh(format!("openssl s_client -ssl3 -connect 127.0.0.1:{} </dev/null 2>&1", srv.pop3s));
    if !text.contains("Unknown option") {
        assert!(!ok, "SSLv3 handshake succeeded: {text}");
    }
    // The server still works after the refused handshakes.
    py(&srv, "p = pop(); p.quit()");
}

#[test]
fn tls_port_plaintext_and_stalled_hello_closed() {
    let srv = Server::start("pop3-tlsdeadline", "", "tls_handshake_timeout = 2");
    let out = py(
        &srv,
        r#"
res = {}
def probe(name, payload):
    c = C(POP3S, timeout=8)
    t0 = time.time()
    if payload: c.s.sendall(payload)
    closed = c.eof()
    res[name] = (closed, time.time() - t0, c.buf)
ts = [threading.Thread(target=probe, args=a) for a in [
    ("plaintext", b"USER alice\r\nPASS x\r\n"),
    ("silent", b""),
    ("stalled hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20),
    ("garbage record", b"\x16\x03\x03\xff\xff" + b"\xaa" * 64),
]]
for t in ts: t.start()
for t in ts: t.join()
for k, (closed, el, buf) in res.items():
    print(k, closed, round(el, 2), buf[:40])
    assert closed, k
    assert el < 3.5, (k, el)
    assert b"+OK" not in buf and b"alice" not in buf, (k, buf)
assert res["silent"][1] >= 1.5 and res["stalled hello"][1] >= 1.5, res
# Served again afterwards.
p = pop(); p.quit()
"#,
    );
    eprintln!("{out}");
}

#[test]
fn brute_force_delay_and_same_reply_for_unknown_user() {
    let srv = Server::start("pop3-brute", "", "");
    let out = py(
        &srv,
        r#"
def attempt(user, pw, src="127.0.0.1"):
    c = C(POP3, src=src, timeout=30); c.line()
    c.cmd(b"USER " + user)
    t0 = time.time(); r = c.cmd(b"PASS " + pw); el = time.time() - t0
    c.s.close()
    return r, el
# BAD-INPUTS 45: unknown user and bad password look the same (reply and time), each
# measured as a first failure from its own loopback address.
unk, bad = [], []
for i in range(3):
    r1, t1 = attempt(b"mallory", b"wrong-password", "127.0.0.%d" % (10 + 2 * i))
    r2, t2 = attempt(b"alice", b"wrong-password", "127.0.0.%d" % (11 + 2 * i))
    assert r1 == r2 and r1.startswith(b"-ERR [AUTH]"), (r1, r2)
    unk.append(t1); bad.append(t2)
unk.sort(); bad.sort()
print("unknown user %.3f s, bad password %.3f s (medians)" % (unk[1], bad[1]))
assert abs(unk[1] - bad[1]) < max(0.05, 0.5 * bad[1]), (unk, bad)
# BAD-INPUTS 44: the second failure from one address waits at least 2 s.
r, t1 = attempt(b"alice", b"guess-1", "127.0.0.50")
assert r.startswith(b"-ERR [AUTH]"), r
r, t2 = attempt(b"alice", b"guess-2", "127.0.0.50")
print("first failure %.2f s, second %.2f s" % (t1, t2))
assert r.startswith(b"-ERR"), r
assert t2 >= 1.9, t2
assert t1 < 1.5, t1
# Other addresses are not slowed down, and the right password works.
r, t = attempt(b"alice", PASS.encode(), "127.0.0.51")
assert r.startswith(b"+OK"), r
assert t < 1.5, t
"#,
    );
    eprintln!("{out}");
}

#[test]
fn malformed_sasl_and_long_lines() {
    let srv = Server::start("pop3-sasl", "", "");
    py(
        &srv,
        r#"
b64 = lambda b: base64.b64encode(b)
cases = [b"AUTH PLAIN !!!notbase64", b"AUTH PLAIN " + b64(b"alice\0" + PASS.encode()),
         b"AUTH PLAIN " + b64(b"\0alice\0" + PASS.encode() + b"\0extra"),
         b"AUTH PLAIN " + b64(b"bob\0alice\0" + PASS.encode()),
         b"AUTH PLAIN " + b64(b"\0al\0ice\0x"), b"AUTH PLAIN " + b"A" * 10000,
         b"AUTH CRAM-MD5", b"AUTH PLAIN ="]
for case in cases:
    c = C(); c.line()
    r = c.cmd(case)
    assert r.startswith(b"-ERR"), (case[:40], r)
    # The session is still usable (or closed cleanly after a too-long line).
    r2 = c.cmd(b"NOOP")
    assert r2.startswith(b"-ERR") or r2 == b"", (case[:40], r2)
# Continuation form: "+ " then a bad blob, then a cancel.
c = C(); c.line()
assert c.cmd(b"AUTH PLAIN") == b"+ "
assert c.cmd(b"%%%").startswith(b"-ERR")
assert c.cmd(b"AUTH PLAIN") == b"+ "
assert c.cmd(b"*").startswith(b"-ERR")
# BAD-INPUTS 41: long lines and CR/LF games.
assert c.cmd(b"USER " + b"a" * 300).startswith(b"-ERR")
assert c.cmd(b"USER al\rice").startswith(b"-ERR")
assert c.cmd(b"CAPA").startswith(b"+OK")
c.multi()
# A well-formed AUTH PLAIN still logs in (fresh address: the failures above were not
# password checks, but stay clear of the throttle anyway).
c = C(src="127.0.0.77"); c.line()
r = c.cmd(b"AUTH PLAIN " + b64(b"\0alice\0" + PASS.encode()))
assert r.startswith(b"+OK"), r
"#,
    );
}

#[test]
fn autologout_is_at_least_rfc_minimum() {
    // RFC 1939 §3 / BAD-INPUTS 43: autologout is at least 10 minutes, so a config of 2 s is
    // raised; a client quiet for 3 s is still served and its QUIT commits the deletions.
    let srv = Server::start("pop3-timeout", "", "pop3_timeout = 2");
    py(
        &srv,
        r#"
send([msg(1)])
c = C(timeout=15); c.line()
c.cmd(b"USER alice"); assert c.cmd(b"PASS " + PASS.encode()).startswith(b"+OK")
assert c.cmd(b"DELE 1").startswith(b"+OK")
time.sleep(3)
r = c.cmd(b"QUIT")
assert r.startswith(b"+OK"), r
"#,
    );
    assert!(inbox(&srv).is_empty());
}

#[test]
fn per_ip_cap_busy_reply_and_tls_port() {
    let srv = Server::start("pop3-cap", "", "connections_per_ip = 3");
    py(
        &srv,
        r#"
held = [C() for _ in range(3)]
for h in held: assert h.line().startswith(b"+OK")
c = C()
r = c.line()
assert r.startswith(b"-ERR [SYS/TEMP]"), r
assert c.eof()
# On the implicit-TLS port no plaintext byte comes before the handshake (RFC 8314 §3)...
c = C(POP3S)
c.s.settimeout(1)
try:
    data = c.s.recv(100)
except socket.timeout:
    data = b""
assert data == b"", data
c.s.close()
# ...and after it the same -ERR, then the server's close (issue 13: no reset).
c = C(POP3S, tls=True)
r = c.line()
assert r.startswith(b"-ERR [SYS/TEMP]"), r
assert c.eof()
for h in held: h.s.close()
time.sleep(0.3)
p = pop(); p.quit()
"#,
    );
}
