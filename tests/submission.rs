//! Message submission (RFC 6409 on the `submission` listener, RFC 8314 implicit TLS on
//! `submissions`) with AUTH PLAIN and LOGIN (RFC 4954), against the real binary with the
//! clients a laptop or phone uses: Python's smtplib, swaks and msmtp (scripts/deps.sh).
//! Local recipients are stored at once; recipients elsewhere go to the outbound queue
//! (issue 14; tests/outbound.rs follows them out).

mod common;

use std::process::{Command, Stdio};

use common::{contents, Server, PASSWORD};

fn inbox(srv: &Server) -> Vec<Vec<u8>> {
    contents(&srv.home.store(), "INBOX").into_iter().map(|(_, _, m)| m).collect()
}

#[test]
fn smtplib_starttls_then_auth_plain_and_login_and_the_sender_rules() {
    // loopback_plaintext = false: the loopback client is treated like one on the internet.
    let srv = Server::start("submission-smtplib", "loopback_plaintext = false", "");
    let out = srv.py(
        "",
        r#"
import smtplib, ssl, os
P = int(os.environ["LB_SUBMISSION"])
s = smtplib.SMTP("127.0.0.1", P)
s.ehlo("laptop.example")
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
assert s.mail("alice@example.org")[0] == 530
code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHB3")
assert code == 538, code
s.starttls(context=CTX)
s.ehlo("laptop.example")
assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"], s.esmtp_features
try:
    s.login("alice", "wrong password")
    raise SystemExit("a wrong password was accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
s.user, s.password = "alice", os.environ["LB_PASS"]
code, text = s.auth("LOGIN", s.auth_login)
assert code == 235, (code, text)
assert s.mail("ceo@bank.example")[0] == 553
s.rset()
msg = b"From: alice@example.org\r\nTo: alice+sent@example.org\r\nSubject: to myself\r\n\r\nhello me\r\n"
assert s.sendmail("alice@example.org", ["alice+sent@example.org"], msg) == {}
assert s.sendmail("alice@example.org", ["friend@elsewhere.example"], msg) == {}
s.quit()
# Implicit TLS on the submissions port, AUTH PLAIN (smtplib's choice).
t = smtplib.SMTP_SSL("127.0.0.1", int(os.environ["LB_SUBMISSIONS"]), context=CTX)
t.ehlo("phone.example")
assert not t.has_extn("starttls") and "PLAIN" in t.esmtp_features["auth"]
t.login("alice", os.environ["LB_PASS"])
assert t.sendmail("<>", ["alice@example.org"], b"Subject: over 465\r\n\r\nbody\r\n") == {}
t.quit()
print("ok")
"#,
    );
    assert!(out.contains("ok"), "{out}");
    // The message to friend@elsewhere.example is queued; its bounce (the name does not
    // resolve here) may land in INBOX meanwhile: count the owner's own messages.
    let got: Vec<Vec<u8>> =
        inbox(&srv).into_iter().filter(|m| !String::from_utf8_lossy(m).contains("multipart/report")).collect();
    assert_eq!(got.len(), 2, "stored {}", got.len());
    // RFC 6409 §8: the missing Date and Message-ID were added at the end of the header.
    for (m, subject) in got.iter().zip(["Subject: to myself\r\n", "Subject: over 465\r\n"]) {
        let text = String::from_utf8_lossy(m);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(subject) && head.contains("\r\nDate: ") && head.contains("\r\nMessage-ID: <"), "{head}");
        assert!(body == "hello me\r\n" || body == "body\r\n", "{body:?}");
    }
    let log = srv.log_text();
    assert!(log.contains("submission") && log.contains("login failed") && log.contains("login ok"), "{log}");
    assert!(!log.contains("wrong password") && !log.contains(PASSWORD), "passwords never reach the log");
}

#[test]
fn swaks_auth_plain_and_login_over_starttls_and_implicit_tls() {
    let srv = Server::start("submission-swaks", "loopback_plaintext = false", "");
    let sub = format!("127.0.0.1:{}", srv.submission);
    let subs = format!("127.0.0.1:{}", srv.submissions);
    for (server, tls, auth) in [(&sub, "--tls", "PLAIN"), (&sub, "--tls", "LOGIN"), (&subs, "--tlsc", "LOGIN")] {
        let out = Command::new("swaks")
            .args(["--server", server, tls, "--auth", auth, "--auth-user", "alice", "--auth-password", PASSWORD])
            .args([
                "--from",
                "alice@example.org",
                "--to",
                "alice@example.org",
                "--header",
                &format!("Subject: swaks {auth}"),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("swaks (scripts/deps.sh)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "swaks {tls} {auth}: {text}");
        assert!(text.contains("235 2.7.0"), "{text}");
    }
    // AUTH before TLS is refused by the server, not only avoided by the client.
    let out = Command::new("swaks")
        .args(["--server", &sub, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", PASSWORD])
        .args(["--from", "alice@example.org", "--to", "alice@example.org"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !text.contains("235 "), "{text}");
    assert_eq!(inbox(&srv).len(), 3);
}

#[test]
fn msmtp_sends_like_a_laptop_mua_starttls_587_and_implicit_465() {
    let srv = Server::start("submission-msmtp", "loopback_plaintext = false", "");
    let dir = srv.home.dir.join("msmtp");
    std::fs::create_dir_all(&dir).unwrap();
    let cert = srv.home.dir.join("init/cert.pem");
    let pass = dir.join("pass");
    std::fs::write(&pass, PASSWORD).unwrap();
    for (port, starttls, auth) in
        [(srv.submission, "on", "plain"), (srv.submission, "on", "login"), (srv.submissions, "off", "plain")]
    {
        let rc = dir.join(format!("msmtprc-{port}-{auth}"));
        std::fs::write(
            &rc,
            format!(
                "account default\nhost localhost\nport {port}\ntls on\ntls_starttls {starttls}\ntls_trust_file {}\n\
                 auth {auth}\nuser alice\npasswordeval cat {}\nfrom alice@example.org\n",
                cert.display(),
                pass.display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&rc).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&rc, perms).unwrap();
        let mut child = Command::new("msmtp")
            .args(["-C", rc.to_str().unwrap(), "alice@example.org"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("msmtp (scripts/deps.sh)");
        use std::io::Write;
        let body = format!("From: alice@example.org\nSubject: msmtp {port} {auth}\n\nsent by msmtp\n");
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "msmtp {port} {auth}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let got = inbox(&srv);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m.ends_with(b"\r\n\r\nsent by msmtp\r\n")), "msmtp's LF became CRLF on the wire");
}

#[test]
fn hide_client_ip_leaves_the_submitters_address_out_of_received() {
    let srv = Server::start("submission-hide", "hide_client_ip = true", "");
    srv.py(
        "",
        r#"
import smtplib, os
t = smtplib.SMTP_SSL("127.0.0.1", int(os.environ["LB_SUBMISSIONS"]), context=CTX)
t.login("alice", os.environ["LB_PASS"])
t.sendmail("alice@example.org", ["alice@example.org"], b"Subject: private\r\n\r\nbody\r\n")
t.quit()
"#,
    );
    let got = inbox(&srv);
    let text = String::from_utf8_lossy(&got[0]).into_owned();
    assert!(text.contains("Received: by ") && text.contains(" with ESMTPSA "), "{text}");
    assert!(!text.contains("127.0.0.1"), "the client's address is in the message: {text}");
}
