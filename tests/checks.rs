//! The inbound checks (issue 15) end to end: the real server receives mail over SMTP from
//! Python's smtplib, signed by dkimpy (Debian's python3-dkim) with a key openssl made, while
//! dnsmasq on loopback publishes the SPF, DKIM, DMARC and DNSBL records. Checked: the
//! `Authentication-Results:` field on every stored message (RFC 8601) and the forged ones
//! removed (§5), DMARC `p=reject` refused with 550 5.7.1 and `p=quarantine` in Junk with
//! `$Junk` (RFC 7489 §6.7), a DNSBL listing refused at RCPT with 554 5.7.1 naming the list
//! or tagged to Junk (RFC 5782), and greylisting's 451 4.7.1 for a first-time triplet,
//! skipped for a sender whose SPF passes, remembered across a restart (RFC 6647).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{contents, dnsmasq, Dns, Server};

/// An RSA key made by openssl: the PEM file and the `p=` value of its DKIM record.
fn rsa_key(dir: &Path) -> (std::path::PathBuf, String) {
    let pem = dir.join("dkim.pem");
    common::make_rsa(&pem);
    let der = Command::new("openssl").args(["pkey", "-pubout", "-outform", "DER", "-in"]).arg(&pem).output().unwrap();
    assert!(der.status.success());
    (pem, letterbox::auth::base64::encode(&der.stdout, true))
}

fn txt(name: &str, value: &str) -> String {
    // dnsmasq splits a value at commas into character-strings; DKIM keys need no commas.
    format!("--txt-record={name},{value}")
}

fn checks_config(dns: &Dns, checks: &str) -> String {
    format!("[checks]\n{checks}\n[outbound]\nresolver = \"127.0.0.1:{}\"\n", dns.port)
}

/// Signs with dkimpy (selector `sel`, domain `good.test`) and sends each message over SMTP,
/// printing one line per message: the reply to DATA, or the refusal.
const SENDER: &str = r#"
import dkim, os, smtplib, sys
key = open(os.environ['KEY'], 'rb').read()
def sign(msg, **kw):
    sig = dkim.sign(msg, b'sel', b'good.test', key, include_headers=[b'from', b'to', b'subject'], **kw)
    return sig + msg
def send(mail_from, msg):
    s = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']), local_hostname='client.good.test')
    try:
        s.ehlo()
        try:
            s.sendmail(mail_from, ['alice@example.org'], msg)
            print('250')
        except smtplib.SMTPDataError as e:
            print(e.smtp_code, e.smtp_error.decode())
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients['alice@example.org']
            print(code, text.decode())
    finally:
        s.quit()
def msg(frm, subject, extra=b''):
    return extra + b'From: ' + frm + b'\r\nTo: alice@example.org\r\nSubject: ' + subject + b'\r\n\r\nHello.\r\n'
"#;

fn python(srv: &Server, key: &Path, script: &str) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(format!("{SENDER}\n{script}"))
        .env("LB_SMTP", srv.smtp.to_string())
        .env("KEY", key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), srv.log_text());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The unfolded `Authentication-Results:` fields at the top of a stored message.
fn results(stored: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stored).replace("\r\n\t", " ").replace("\r\n ", " ");
    let header = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    header.lines().filter(|l| l.starts_with("Authentication-Results:")).map(str::to_owned).collect()
}

#[test]
fn spf_dkim_dmarc_results_forged_results_removed_reject_and_quarantine() {
    let tmp = common::Home::new("checks-keys");
    let (pem, p) = rsa_key(&tmp.dir);
    let dns = dnsmasq(&[
        txt("good.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.good.test", "v=DMARC1; p=reject"),
        txt("sel._domainkey.good.test", &format!("v=DKIM1; k=rsa; p={p}")),
        txt("reject.test", "v=spf1 -all"),
        txt("_dmarc.reject.test", "v=DMARC1; p=reject"),
        txt("quar.test", "v=spf1 -all"),
        txt("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
        txt("other.test", "v=spf1 ?all"),
        "--ptr-record=1.0.0.127.in-addr.arpa,mx.good.test".to_owned(),
        "--host-record=mx.good.test,127.0.0.1".to_owned(),
    ]);
    let srv = Server::start("checks-e2e", &checks_config(&dns, "spf = true\ndkim = true\ndmarc = true"), "");
    let out = python(
        &srv,
        &pem,
        r#"
send('a@good.test', sign(msg(b'a@good.test', b'one')))
send('x@reject.test', msg(b'boss@reject.test', b'two'))
send('a@quar.test', msg(b'a@quar.test', b'three'))
m = sign(msg(b'a@good.test', b'four')).replace(b'Hello.', b'Hullo.')
send('x@other.test', m)
forged = b'Authentication-Results: example.org; dkim=pass header.d=good.test\r\nAuthentication-Results: elsewhere.example; spf=pass\r\n'
send('a@good.test', sign(msg(b'a@good.test', b'five'), ) .replace(b'From:', forged + b'From:', 1))
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "250", "{out}");
    assert!(lines[1].starts_with("550 5.7.1") && lines[1].contains("reject.test"), "{out}");
    assert_eq!(lines[2], "250", "quarantine is accepted: {out}");
    assert!(lines[3].starts_with("550 5.7.1") && lines[3].contains("good.test"), "altered body, no aligned SPF: {out}");
    assert_eq!(lines[4], "250", "{out}");

    let store = srv.home.store();
    let inbox = contents(&store, "INBOX");
    assert_eq!(inbox.len(), 2, "one and five");
    let one = results(&inbox[0].2);
    assert_eq!(one.len(), 1, "{one:?}");
    let ar = &one[0];
    assert!(ar.starts_with("Authentication-Results: example.org;"), "{ar}");
    assert!(ar.contains("spf=pass smtp.mailfrom=a@good.test"), "{ar}");
    assert!(ar.contains("iprev=pass policy.iprev=127.0.0.1"), "forward-confirmed PTR: {ar}");
    assert!(ar.contains("dkim=pass header.d=good.test header.s=sel header.b="), "{ar}");
    assert!(ar.contains("dmarc=pass header.from=good.test"), "{ar}");
    assert!(String::from_utf8_lossy(&inbox[0].2).starts_with("Authentication-Results: "), "on top (RFC 8601 §5)");
    // Five: our forged field is gone, the other ADMD's stays, and the signature still verifies.
    let five = results(&inbox[1].2);
    assert_eq!(five.len(), 2, "{five:?}");
    assert!(five[0].contains("dkim=pass header.d=good.test"), "{five:?}");
    assert_eq!(five[1], "Authentication-Results: elsewhere.example; spf=pass");

    let junk = contents(&store, "Junk");
    assert_eq!(junk.len(), 1, "three");
    let three = results(&junk[0].2);
    assert!(three[0].contains("spf=fail smtp.mailfrom=a@quar.test"), "{three:?}");
    assert!(three[0].contains("dkim=none"), "{three:?}");
    assert!(three[0].contains("dmarc=fail header.from=quar.test"), "{three:?}");
    let junk_folder = store.open_folder("Junk").unwrap();
    let kw = junk_folder.keyword_names(junk[0].1);
    assert!(kw.contains(&"$Junk"), "{kw:?}");
    // The refused messages left nothing anywhere.
    assert_eq!(store.list().unwrap().iter().map(|f| contents(&store, f).len()).sum::<usize>(), 3);
}

#[test]
fn dnsbl_refuses_at_rcpt_or_tags_to_junk() {
    let tmp = common::Home::new("checks-dnsbl-keys");
    let (pem, _) = rsa_key(&tmp.dir);
    let dns = dnsmasq(&[
        "--host-record=1.0.0.127.bl.test,127.0.0.2".to_owned(),
        txt("1.0.0.127.bl.test", "listed, see https://bl.test/q?127.0.0.1"),
        "--host-record=1.0.0.127.clean.test,10.0.0.1".to_owned(),
    ]);
    // A listing refuses every recipient (the connection comes from 127.0.0.1).
    let srv = Server::start("checks-dnsbl", &checks_config(&dns, "dnsbl = [\"clean.test\", \"bl.test\"]"), "");
    let out = python(&srv, &pem, "send('a@good.test', msg(b'a@good.test', b'x'))");
    assert!(out.starts_with("554 5.7.1") && out.contains("bl.test") && !out.contains("clean.test"), "{out}");
    assert_eq!(contents(&srv.home.store(), "INBOX").len(), 0);
    drop(srv);
    // Tag mode: delivered to Junk with the listing in the results.
    let cfg = checks_config(&dns, "dnsbl = [\"bl.test\"]\ndnsbl_action = \"junk\"");
    let srv = Server::start("checks-dnsbl-junk", &cfg, "");
    let out = python(&srv, &pem, "send('a@good.test', msg(b'a@good.test', b'x'))");
    assert_eq!(out.trim(), "250");
    let junk = contents(&srv.home.store(), "Junk");
    assert_eq!(junk.len(), 1);
    assert!(results(&junk[0].2)[0].contains("policy.zone=bl.test"), "{:?}", results(&junk[0].2));
}

#[test]
fn greylisting_defers_first_sight_skips_spf_pass_and_survives_a_restart() {
    let tmp = common::Home::new("checks-grey-keys");
    let (pem, _) = rsa_key(&tmp.dir);
    let dns = dnsmasq(&[txt("good.test", "v=spf1 ip4:127.0.0.1 -all")]);
    let mut srv = Server::start("checks-grey", &checks_config(&dns, "greylist = true"), "");
    let out = python(
        &srv,
        &pem,
        "send('x@nospf.test', msg(b'x@nospf.test', b'1'))\nsend('x@nospf.test', msg(b'x@nospf.test', b'2'))\nsend('a@good.test', msg(b'a@good.test', b'3'))",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("451 4.7.1"), "first sight: {out}");
    assert!(lines[1].starts_with("451 4.7.1"), "too early: {out}");
    assert_eq!(lines[2], "250", "SPF pass skips greylisting: {out}");
    // SIGTERM saves the table; after the restart the triplet is known (not first sight):
    // the wait it is told is shorter than a new triplet's.
    assert_eq!(srv.stop(), Some(0));
    std::thread::sleep(Duration::from_millis(1100));
    srv.spawn();
    let out = python(
        &srv,
        &pem,
        "send('x@nospf.test', msg(b'x@nospf.test', b'4'))\nsend('y@nospf.test', msg(b'y@nospf.test', b'5'))",
    );
    let secs =
        |l: &str| -> u64 { l.split_whitespace().find_map(|w| w.parse().ok().filter(|&n: &u64| n != 451)).unwrap() };
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("451 4.7.1") && lines[1].starts_with("451 4.7.1"), "{out}");
    assert!(secs(lines[0]) < secs(lines[1]), "the old triplet was remembered: {out}");
    assert_eq!(contents(&srv.home.store(), "INBOX").len(), 1);
}

#[test]
fn dns_failures_are_temperror_and_never_lose_a_message() {
    let tmp = common::Home::new("checks-temp-keys");
    let (pem, _) = rsa_key(&tmp.dir);
    // Nothing listens on this port: every query fails at once (ICMP port unreachable), the
    // way a router's DNS forwarder that went away fails.
    let dead = common::free_port();
    let cfg = format!("[checks]\nspf = true\ndkim = true\ndmarc = true\ndnsbl = [\"bl.test\"]\n[outbound]\nresolver = \"127.0.0.1:{dead}\"\n");
    let srv = Server::start("checks-temperror", &cfg, "");
    let out = python(
        &srv,
        &pem,
        "send('a@good.test', sign(msg(b'a@good.test', b'one')))\nsend('x@reject.test', msg(b'boss@reject.test', b'two'))",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["250", "250"], "{out}");
    let inbox = contents(&srv.home.store(), "INBOX");
    assert_eq!(inbox.len(), 2);
    let one = &results(&inbox[0].2)[0];
    assert!(one.contains("spf=temperror smtp.mailfrom=a@good.test"), "{one}");
    assert!(one.contains("dkim=temperror reason=") && one.contains("header.d=good.test header.s=sel"), "{one}");
    assert!(one.contains("dmarc=temperror header.from=good.test"), "{one}");
}
