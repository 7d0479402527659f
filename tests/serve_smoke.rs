//! End-to-end smoke test of `letterbox serve`: SMTP in (smtplib with STARTTLS), POP3 out
//! (poplib over POP3S), byte for byte.

mod common;

use common::*;

#[test]
fn smtp_in_pop3_out_byte_exact() {
    let srv = Server::start("smoke", "", "");
    let out = srv.python(
        r#"
import os, smtplib, poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
msg = b"From: bob@example.net\r\nSubject: smoke\r\n\r\nline\r\n.leading dot\r\n"
s = smtplib.SMTP("127.0.0.1", int(os.environ["LB_SMTP"]))
s.starttls(context=ctx)
s.sendmail("bob@example.net", ["alice@example.org"], msg)
s.quit()
p = poplib.POP3_SSL("127.0.0.1", int(os.environ["LB_POP3S"]), context=ctx)
p.user(os.environ["LB_USER"]); p.pass_(os.environ["LB_PASS"])
resp, lines, octets = p.retr(1)
body = b"\r\n".join(lines) + b"\r\n"
assert body.endswith(msg), body
print("ok", octets)
p.quit()
"#,
    );
    assert!(out.starts_with("ok"), "{out}");
    let got = contents(&srv.home.store(), "INBOX");
    assert_eq!(strip_trace(&got[0].2), b"From: bob@example.net\r\nSubject: smoke\r\n\r\nline\r\n.leading dot\r\n");
}

/// Issue 6: once expunged bytes pass `compact_threshold`, the writer compacts the folder in
/// the background; UIDs survive and new mail gets fresh UIDs.
#[test]
fn background_compaction_after_expunge() {
    let srv = Server::start("autocompact", "", "compact_threshold = 100000");
    let out = srv.python(
        r#"
import os, smtplib, poplib
s = smtplib.SMTP("127.0.0.1", int(os.environ["LB_SMTP"]))
for i in range(30):
    s.sendmail("a@example.net", ["alice@example.org"], ("Subject: %d\r\n\r\n" % i).encode() + (("x" * 78 + "\r\n") * 60).encode())
s.quit()
p = poplib.POP3("127.0.0.1", int(os.environ["LB_POP3"]))
p.user(os.environ["LB_USER"]); p.pass_(os.environ["LB_PASS"])
for i in range(1, 26):
    p.dele(i)
p.quit()
print("ok")
"#,
    );
    assert_eq!(out.trim(), "ok");
    let t = std::time::Instant::now();
    while !srv.log_text().contains("compacted INBOX") {
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "no compaction: {}", srv.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let got = contents(&srv.home.store(), "INBOX");
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![26, 27, 28, 29, 30]);
    assert!(file_len(&srv.home.data().join("INBOX.lbx")) < 5 * 6000);
}
