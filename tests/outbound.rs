//! The outbound queue (issue 14) end to end: `letterbox sendmail` and submission put mail in
//! the queue, the running server delivers it through the relay to a scripted SMTP server
//! (tests/common/fake_mx.py: 250, 451 or 550 per recipient), 5xx bounces arrive in INBOX
//! as RFC 3464 reports (parsed with Python's `email` package), `<>` never gets one, and the
//! queue and each recipient's state survive kill -9.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{contents, FakeMx, Home, Server};

use common::relay_to;

/// Waits (up to 30 s) for `cond`; the test's assertion follows and says what was missing.
fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn inbox(home: &Home) -> Vec<Vec<u8>> {
    contents(&home.store(), "INBOX").into_iter().map(|(_, _, m)| m).collect()
}

fn queue_list(home: &Home) -> String {
    let out = home.run(&["queue", "list"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const MSG: &[u8] = b"From: alice@example.org\nTo: you@remote.example, \"Bad, Guy\" <bad@remote.example>\nCc: later@remote.example\nBcc: hidden@remote.example, alice@example.org\nSubject: outbound test\n\nhello\n.dot line\n";

/// Python: the DSN's report structure, printed as lines the test checks.
const PARSE_DSN: &str = r#"
import email, sys
m = email.message_from_bytes(sys.stdin.buffer.read())
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status"
parts = m.get_payload()
assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "text/rfc822-headers"], [p.get_content_type() for p in parts]
blocks = parts[1].get_payload()
print("per-message", blocks[0]["Reporting-MTA"])
for b in blocks[1:]:
    print("rcpt", b["Final-Recipient"], "|", b["Action"], "|", b["Status"], "|", b["Diagnostic-Code"])
print("quoted-subject", email.message_from_string(parts[2].get_payload())["Subject"])
"#;

fn parse_dsn(msg: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("python3")
        .arg("-c")
        .arg(PARSE_DSN)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(msg).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "not an RFC 3464 report: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sendmail_t_delivers_bounces_5xx_keeps_4xx_queued_across_kill9() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-mx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let mut srv = Server::start("outbound-sendmail", "", &relay_to(mx.port));
    let out = srv.home.run(&["sendmail", "-t", "-i"], MSG);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for(|| !mx.received().is_empty() && inbox(&srv.home).len() >= 2);
    let got = mx.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let (from, rcpts, data) = &got[0];
    assert_eq!(from, "alice@example.org");
    assert_eq!(rcpts, &vec!["you@remote.example".to_owned(), "hidden@remote.example".to_owned()]);
    assert!(!data.contains("Bcc") && !data.contains("hidden"), "Bcc must go: {data}");
    assert!(data.contains("\r\n.dot line\r\n") && data.contains("Message-ID: <") && data.contains("Date: "), "{data}");
    // INBOX: the local copy (alice was in Bcc) and the bounce for bad@.
    let mail = inbox(&srv.home);
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(String::from_utf8_lossy(&mail[0]).contains("Subject: outbound test"));
    let report = parse_dsn(&mail[1]);
    assert!(report.contains("per-message dns; example.org"), "{report}");
    assert!(
        report.contains("rcpt rfc822; bad@remote.example | failed | 5.1.1 | smtp; 550 5.1.1 <bad@remote.example>: no such user here"),
        "{report}"
    );
    assert!(report.contains("quoted-subject outbound test"), "{report}");
    // later@ got 451: still queued with the reply as last error.
    wait_for(|| queue_list(&srv.home).contains("451 4.7.1"));
    let list = queue_list(&srv.home);
    assert!(list.contains("later@remote.example") && list.contains("451 4.7.1 greylisted"), "{list}");
    assert!(!list.contains("you@remote.example") && list.contains("1 message(s) queued"), "{list}");
    // kill -9 and restart: later@ is still queued; the delivered ones are not sent again.
    srv.kill9();
    srv.spawn();
    let list = queue_list(&srv.home);
    assert!(list.contains("later@remote.example"), "{list}");
    let out = srv.home.run(&["queue", "flush"], b"");
    assert!(out.status.success());
    wait_for(|| !queue::flush_pending(&srv.home));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mx.received().len(), 1, "delivered recipients were sent again after the restart");
    assert_eq!(inbox(&srv.home).len(), 2, "the bounce was repeated");
    let _ = std::fs::remove_dir_all(&tmp);
}

mod queue {
    /// Whether a `queue flush` request is still waiting for the server to see it.
    pub fn flush_pending(home: &super::Home) -> bool {
        home.data().join("queue/flush").exists()
    }
}

#[test]
fn no_bounce_for_the_null_sender_and_queue_delete() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-null-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let srv = Server::start("outbound-null", "", &relay_to(mx.port));
    let msg = b"Subject: a bounce of ours\n\nbody\n";
    let out = srv.home.run(&["sendmail", "-f", "<>", "bad@remote.example"], msg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = srv.home.run(&["sendmail", "later2@remote.example"], msg);
    assert_eq!(out.status.code(), Some(0));
    wait_for(|| queue_list(&srv.home).contains("451 4.7.1") && !queue_list(&srv.home).contains("bad@"));
    let list = queue_list(&srv.home);
    assert!(!list.contains("bad@remote.example") && list.contains("1 message(s) queued"), "{list}");
    assert!(inbox(&srv.home).is_empty(), "no bounce for a message from <>");
    assert!(srv.log_text().contains("550 5.1.1"), "the 5xx was seen");
    let id = list.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap().to_owned();
    let out = srv.home.run(&["queue", "delete", &id], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(queue_list(&srv.home).contains("0 message(s) queued"));
    assert_eq!(srv.home.run(&["queue", "delete", &id], b"").status.code(), Some(1));
    assert_eq!(srv.home.run(&["queue", "bogus"], b"").status.code(), Some(64));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn sendmail_exit_codes_and_the_dot_line() {
    let home = Home::with_config("outbound-exit", "[limits]\nmessage_size = 2000\n");
    let code = |args: &[&str], input: &[u8]| home.run(args, input).status.code();
    assert_eq!(code(&["sendmail"], b"Subject: x\n\nbody\n"), Some(64), "no recipients");
    assert_eq!(code(&["sendmail", "-X", "a@b.example"], b"Subject: x\n\n"), Some(64));
    assert_eq!(code(&["sendmail", "-f", "a b@c", "x@y.example"], b"Subject: x\n\n"), Some(64));
    assert_eq!(code(&["sendmail", "you@remote.example"], b"not a header line\n\nbody\n"), Some(65));
    assert_eq!(code(&["sendmail", "you@remote.example"], b"Subject: x\n\n\0\n"), Some(65));
    assert_eq!(code(&["sendmail", "-t"], b"Subject: no recipients\n\nbody\n"), Some(65));
    let big = format!("Subject: big\n\n{}\n", "x".repeat(3000));
    assert_eq!(code(&["sendmail", "you@remote.example"], big.as_bytes()), Some(73));
    // Without -i a lone "." ends the input (sendmail(8)); with -i it is text.
    assert_eq!(code(&["sendmail", "alice"], b"Subject: dot\n\nbefore\n.\nafter\n"), Some(0));
    assert_eq!(code(&["sendmail", "-oi", "alice@example.org"], b"Subject: dot2\n\nbefore\n.\nafter\n"), Some(0));
    let mail = inbox(&home);
    assert_eq!(mail.len(), 2);
    let (a, b) = (String::from_utf8_lossy(&mail[0]), String::from_utf8_lossy(&mail[1]));
    assert!(a.ends_with("\r\nbefore\r\n") && a.contains("From: <alice@example.org>"), "{a}");
    assert!(b.ends_with("\r\nbefore\r\n.\r\nafter\r\n"), "{b}");
    // A queue that cannot be written: 75, try later.
    assert_eq!(code(&["sendmail", "you@remote.example"], b"Subject: q\n\nbody\n"), Some(0));
    std::fs::remove_dir_all(home.data().join("queue")).unwrap();
    std::fs::write(home.data().join("queue"), b"not a directory").unwrap();
    assert_eq!(code(&["sendmail", "you@remote.example"], b"Subject: q\n\nbody\n"), Some(75));
}

#[test]
fn submission_after_auth_queues_remote_recipients() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-sub-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let srv = Server::start("outbound-submission", "", &relay_to(mx.port));
    let out = srv.py(
        "",
        r#"
import smtplib, os
s = smtplib.SMTP("127.0.0.1", int(os.environ["LB_SUBMISSION"]))
s.ehlo("laptop.example")
s.login("alice", os.environ["LB_PASS"])
msg = b"From: alice@example.org\r\nTo: friend@elsewhere.example\r\nSubject: via submission\r\n\r\nhi\r\n"
assert s.sendmail("alice@example.org", ["friend@elsewhere.example", "alice@example.org"], msg) == {}
s.quit()
print("ok")
"#,
    );
    assert!(out.contains("ok"), "{out}");
    assert_eq!(inbox(&srv.home).len(), 1, "the local copy is stored at once");
    wait_for(|| !mx.received().is_empty());
    let got = mx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, vec!["friend@elsewhere.example".to_owned()]);
    assert!(got[0].2.contains("Subject: via submission") && got[0].2.contains("Received: "), "{}", got[0].2);
    wait_for(|| queue_list(&srv.home).contains("0 message(s) queued"));
    assert!(queue_list(&srv.home).contains("0 message(s) queued"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn draining_1000_queued_messages_keeps_server_rss_small() {
    use letterbox::outbound::{queue, QueuedEnvelope};
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-rss-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let srv = Server::start("outbound-rss", "", &relay_to(mx.port));
    // 1,000 messages of 4 KiB put in the queue by a second writer, as `sendmail` does.
    let q = queue::open(&srv.home.data()).unwrap();
    let mut f = q.open_folder_light(queue::FOLDER).unwrap();
    for batch in 0..10 {
        let mut msgs = Vec::new();
        for i in 0..100 {
            let n = batch * 100 + i;
            let mut body = letterbox::util::Spool::new(&q.tmp_dir(), 1 << 20);
            body.write(format!("Subject: m{n}\r\n\r\n").as_bytes()).unwrap();
            body.write(&[b'x'; 4096]).unwrap();
            let env = QueuedEnvelope::new("alice@example.org", vec![format!("r{n}@remote.example")]);
            msgs.extend(queue::messages(env, body, 1_700_000_000, &q.tmp_dir(), 1 << 20).unwrap());
        }
        f.append(&mut msgs).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while mx.received().len() < 1000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let got = mx.received();
    assert_eq!(got.len(), 1000, "all delivered once");
    let hwm = srv.status_kib("VmHWM:");
    // The release budget is 8 MiB; a debug build's code and frames are larger.
    let limit = if cfg!(debug_assertions) { 16 * 1024 } else { 8 * 1024 };
    eprintln!("server VmHWM after draining 1,000 messages: {hwm} KiB (limit {limit})");
    // Under qemu-user VmHWM is the emulator's (its translation cache), not the server's.
    if !common::under_emulator() {
        assert!(hwm > 0 && hwm <= limit, "VmHWM {hwm} KiB");
    }
    wait_for(|| queue_list(&srv.home).contains("0 message(s) queued"));
    assert!(queue_list(&srv.home).contains("0 message(s) queued"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn mx_delivery_through_dnsmasq_with_implicit_mx_and_nxdomain_bounce() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-mxdns-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let dns_port = common::free_port();
    let mut dns = Command::new("/usr/sbin/dnsmasq")
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", "--pid-file=", "--local=/test/"])
        .arg(format!("--port={dns_port}"))
        .args(["--mx-host=remote.test,mx1.remote.test,10", "--host-record=mx1.remote.test,127.0.0.1"])
        .args(["--host-record=nomx.test,127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq (scripts/deps.sh installs dnsmasq-base)");
    // Ready before the server asks (a failed lookup would be retried only after 7.5 min).
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], dns_port).into();
    // A port not yet bound fails at once: poll for up to 30 s (a loaded CI machine).
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let r = letterbox::net::dns::StubResolver::with_timeout(addr, Duration::from_millis(200));
        use letterbox::dns::Resolver;
        if smol::block_on(r.lookup("nomx.test", letterbox::dns::Rtype::A)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let outbound = format!("\n[outbound]\nresolver = \"127.0.0.1:{dns_port}\"\nmx_port = {}\n", mx.port);
    let srv = Server::start("outbound-mx", "", &outbound);
    let msg = b"From: alice@example.org\nSubject: by MX\n\nhi\n";
    let out = srv.home.run(&["sendmail", "a@remote.test", "b@nomx.test", "c@nx.test"], msg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for(|| mx.received().len() >= 2 && !inbox(&srv.home).is_empty());
    let mut rcpts: Vec<String> = mx.received().into_iter().flat_map(|r| r.1).collect();
    rcpts.sort();
    assert_eq!(rcpts, vec!["a@remote.test".to_owned(), "b@nomx.test".to_owned()], "MX and implicit MX (A record)");
    let mail = inbox(&srv.home);
    assert_eq!(mail.len(), 1, "one bounce");
    let report = parse_dsn(&mail[0]);
    assert!(
        report.contains("rcpt rfc822; c@nx.test | failed | 5.1.2 | smtp; 550 5.1.2 no such domain nx.test"),
        "{report}"
    );
    wait_for(|| queue_list(&srv.home).contains("0 message(s) queued"));
    assert!(queue_list(&srv.home).contains("0 message(s) queued"));
    let _ = dns.kill();
    let _ = dns.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Queues one message for `rcpt` as if it had been queued at `date` (the record's date is
/// the schedule's clock: a message "queued 5 hours ago" needs no 5-hour wait).
fn queue_dated(home: &Home, rcpt: &str, subject: &str, date: i64) {
    use letterbox::outbound::{queue, QueuedEnvelope};
    let q = queue::open(&home.data()).unwrap();
    let mut body = letterbox::util::Spool::new(&q.tmp_dir(), 1 << 20);
    body.write(format!("From: alice@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n").as_bytes()).unwrap();
    let env = QueuedEnvelope::new("alice@example.org", vec![rcpt.to_owned()]);
    let mut msgs = queue::messages(env, body, date, &q.tmp_dir(), 1 << 20).unwrap();
    q.open_folder_light(queue::FOLDER).unwrap().append(&mut msgs).unwrap();
}

#[test]
fn delay_notice_once_after_4h_and_failure_after_5_days() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-age-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let srv = Server::start("outbound-age", "", &relay_to(mx.port));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    queue_dated(&srv.home, "later-a@remote.example", "five hours old", now - 5 * 3600);
    queue_dated(&srv.home, "later-b@remote.example", "six days old", now - 6 * 86_400);
    wait_for(|| inbox(&srv.home).len() >= 2 && queue_list(&srv.home).contains("1 message(s) queued"));
    let mail = inbox(&srv.home);
    assert_eq!(mail.len(), 2, "a delay notice and a failure notice");
    let reports: Vec<String> = mail.iter().map(|m| parse_dsn(m)).collect();
    let delayed = reports.iter().find(|r| r.contains("later-a@")).expect("delay notice");
    assert!(delayed.contains("| delayed | 4.7.1 | smtp; 451 4.7.1 greylisted"), "{delayed}");
    assert!(delayed.contains("quoted-subject five hours old"), "{delayed}");
    let failed = reports.iter().find(|r| r.contains("later-b@")).expect("failure notice");
    assert!(failed.contains("| failed | 5.0.0 | smtp; giving up after 5 days: 451 4.7.1"), "{failed}");
    // The 5-day-old one is gone; the other stays, and a flush retries it without a second notice.
    let list = queue_list(&srv.home);
    assert!(list.contains("later-a@") && !list.contains("later-b@"), "{list}");
    assert!(srv.home.run(&["queue", "flush"], b"").status.success());
    wait_for(|| !srv.home.data().join("queue/flush").exists());
    wait_for(|| srv.log_text().matches("uid 1 via").count() >= 2);
    assert!(srv.log_text().matches("uid 1 via").count() >= 2, "retried after the flush: {}", srv.log_text());
    assert_eq!(inbox(&srv.home).len(), 2, "the delay notice is sent once");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Through the real SMTP client (net::outbound_client): the message leaves DKIM-signed with
/// the keys `letterbox dkim` made, and dkimpy (python3-dkim) verifies both signatures against
/// the TXT records that command printed; a changed body byte fails.
#[test]
fn outbound_mail_is_dkim_signed_and_verifies_in_dkimpy() {
    let tmp = std::env::temp_dir().join(format!("letterbox-test-outbound-dkim-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mx = FakeMx::start(&tmp);
    let mut srv = Server::start("outbound-dkim", "", &relay_to(mx.port));
    let rsa = srv.home.data().join("dkim/lb1.rsa.pem");
    std::fs::create_dir_all(rsa.parent().unwrap()).unwrap();
    let gen = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&rsa)
        .output()
        .unwrap();
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    std::fs::set_permissions(&rsa, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = srv.home.run(&["dkim"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(records.contains("lb1._domainkey.example.org.") && records.contains("k=rsa"), "{records}");
    // The server loads the keys at start.
    srv.stop();
    srv.spawn();
    let msg = b"From: alice@example.org\nTo: a@remote.test\nSubject: signed\n\nhello, signed world\n";
    let sent = srv.home.run(&["sendmail", "a@remote.test"], msg);
    assert_eq!(sent.status.code(), Some(0), "{}", String::from_utf8_lossy(&sent.stderr));
    wait_for(|| !mx.received().is_empty());
    assert_eq!(mx.received().len(), 1, "{}", srv.log_text());
    let script = r#"
import dkim, json, re, sys
recs = {}
for line in open(sys.argv[2]):
    m = re.match(r'(\S+)\.\s+IN\s+TXT\s+(.*)', line.strip())
    if m:
        recs[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
def dns(name, timeout=5):
    return recs.get(name.decode().rstrip("."), "").encode() or None
msg = json.loads(open(sys.argv[1]).readline())["data"].encode("latin-1")
n = msg.count(b"DKIM-Signature:")
ok = [dkim.DKIM(msg).verify(idx=i, dnsfunc=dns) for i in range(n)]
bad = msg.replace(b"signed world", b"signed World")
try:
    bad_ok = dkim.DKIM(bad).verify(idx=0, dnsfunc=dns)
except dkim.ValidationError:
    bad_ok = False
print(n, ok, bad_ok)
"#;
    let rec_file = tmp.join("records.txt");
    std::fs::write(&rec_file, &records).unwrap();
    let v = Command::new("/usr/bin/python3").args(["-c", script]).arg(&mx.log).arg(&rec_file).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
    assert_eq!(text.trim(), "2 [True, True] False", "RSA and Ed25519 verify, an altered body does not: {text}");
    let _ = std::fs::remove_dir_all(&tmp);
}
