//! `letterbox doctor` (issue 18) against a real server and a real DNS server (dnsmasq on
//! loopback): with every record of `letterbox dns` published, a CA-issued certificate for
//! every name and the server running, every line is OK and the exit status 0; with a wrong
//! MX, no host address, two SPF records, no DKIM/DMARC record, an expired certificate and
//! the server stopped, the right lines FAIL or WARN and the exit status is 1.
#![cfg(all(feature = "web", feature = "tls", feature = "outbound"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;

/// A CA and a leaf for `names` signed by it, valid until `not_after` (y, m, d); writes
/// ca.pem, cert.pem, key.pem in `dir`.
fn certificates(dir: &Path, names: &[&str], not_after: (i32, u8, u8)) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "doctor test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2024, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

struct Setup {
    dir: PathBuf,
    /// Every `[listen]` port of the config (serve binds them one after another).
    listen: Vec<u16>,
    /// The port the config names for the DNS server.
    dns: u16,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A config for example.test (host mail.example.test) on free loopback ports, asking
/// `dns_port`; `[outbound]` relays to our own SMTP port (a reachable relay).
fn setup(name: &str) -> Setup {
    let dns_port = free_port();
    let dir = std::env::temp_dir().join(format!("letterbox-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let cfg = format!(
        "domain = \"example.test\"\nuser = \"alice\"\ndata_dir = \"data\"\n[listen]\nsmtp = [\"127.0.0.1:{}\"]\nsubmissions = [\"127.0.0.1:{}\"]\nimaps = [\"127.0.0.1:{}\"]\nhttp = [\"127.0.0.1:{}\"]\nhttps = [\"127.0.0.1:{}\"]\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n[web]\nhost = \"mail.example.test\"\n[checks]\nspf = false\ndkim = false\ndmarc = false\n[outbound]\nresolver = \"127.0.0.1:{dns_port}\"\nca_file = \"ca.pem\"\nrelay = \"127.0.0.1:{}\"\nrelay_tls = \"none\"\n",
        p[0], p[1], p[2], p[3], p[4], p[0]
    );
    std::fs::write(dir.join("letterbox.toml"), cfg).unwrap();
    Setup { dir, listen: p, dns: dns_port }
}

fn run(s: &Setup, args: &[&str]) -> Output {
    letterbox().args(args).arg("--config").arg(s.dir.join("letterbox.toml")).stdin(Stdio::null()).output().unwrap()
}

fn serve(s: &Setup) -> Child {
    let log = std::fs::File::create(s.dir.join("server.log")).unwrap();
    let child = letterbox()
        .args(["serve", "--config"])
        .arg(s.dir.join("letterbox.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = child;
    for _ in 0..500 {
        // Ready when every listener answers: the TLS and HTTP ones come up after SMTP, and
        // doctor checks them all.
        if s.listen.iter().all(|&port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {}", std::fs::read_to_string(s.dir.join("server.log")).unwrap_or_default());
}

/// The value of the `letterbox dns` TXT line starting with `owner`.
fn txt_value(zone: &str, owner: &str) -> String {
    let line = zone.lines().find(|l| l.starts_with(&format!("{owner}. IN TXT "))).unwrap_or_else(|| panic!("{owner}"));
    line.split('"').skip(1).step_by(2).collect()
}

fn txt(name: &str, value: &str) -> String {
    format!("--txt-record={name},{value}")
}

/// Everything published and running: every line OK, exit 0.
#[test]
fn doctor_passes_when_everything_is_in_place() {
    let s = setup("doctor-pass");
    certificates(&s.dir, &["mail.example.test", "mta-sts.example.test", "autoconfig.example.test"], (2090, 1, 1));
    let zone = run(&s, &["dns"]);
    assert!(zone.status.success(), "{}", String::from_utf8_lossy(&zone.stderr));
    let zone = String::from_utf8(zone.stdout).unwrap();
    let dkim_owner =
        zone.lines().find(|l| l.contains("._domainkey.")).unwrap().split(". IN").next().unwrap().to_owned();
    let records = [
        "--mx-host=example.test,mail.example.test,10".to_owned(),
        "--host-record=mail.example.test,5.6.7.8".to_owned(),
        txt("example.test", &txt_value(&zone, "example.test")),
        txt(&dkim_owner, &txt_value(&zone, &dkim_owner)),
        txt("_dmarc.example.test", &txt_value(&zone, "_dmarc.example.test")),
        txt("_mta-sts.example.test", &txt_value(&zone, "_mta-sts.example.test")),
        txt("_smtp._tls.example.test", &txt_value(&zone, "_smtp._tls.example.test")),
    ];
    let dns = dnsmasq_on(s.dns, &records);
    let mut server = serve(&s);
    let out = run(&s, &["doctor"]);
    let _ = server.kill();
    let _ = server.wait();
    drop(dns);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "doctor failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    for l in text.lines() {
        assert!(l.starts_with("OK   "), "not OK: {l}\n{text}");
    }
    for check in [
        "config:",
        "certificate expiry:",
        "certificate for mail.example.test: chain valid",
        "certificate for mta-sts.example.test: chain valid",
        "listener smtp",
        "listener https",
        "MX example.test: points to mail.example.test",
        "A mail.example.test: 5.6.7.8",
        "SPF example.test: v=spf1 mx -all",
        "DKIM ",
        "DMARC _dmarc.example.test:",
        "MTA-STS _mta-sts.example.test:",
        "TLSRPT _smtp._tls.example.test:",
        "PTR 5.6.7.8: names mail.example.test",
        "relay 127.0.0.1:",
        "open relay: RCPT to another domain refused (5",
        "free space:",
        "free inodes:",
        "clock:",
    ] {
        assert!(text.lines().any(|l| l.contains(check)), "no line with {check:?}:\n{text}");
    }
}

/// Wrong and missing records, an expired certificate for too few names, nothing running:
/// the right FAIL and WARN lines, exit 1.
#[test]
fn doctor_names_what_is_missing() {
    let s = setup("doctor-fail");
    certificates(&s.dir, &["mail.example.test"], (2024, 2, 1));
    assert!(run(&s, &["dns"]).status.success());
    let records = [
        "--mx-host=example.test,other.test,10".to_owned(),
        txt("example.test", "v=spf1 mx -all"),
        txt("example.test", "v=spf1 -all"),
        txt("_mta-sts.example.test", "v=STSv1; id=old"),
    ];
    let dns = dnsmasq_on(s.dns, &records);
    let out = run(&s, &["doctor"]);
    drop(dns);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expect in [
        "FAIL certificate expiry: expired ",
        "FAIL certificate for mail.example.test: expired",
        "WARN certificate for mta-sts.example.test:",
        "FAIL listener smtp 127.0.0.1:",
        "FAIL MX example.test: points to other.test, not mail.example.test -> publish: example.test. IN MX 10 mail.example.test.",
        "FAIL A mail.example.test:",
        "FAIL SPF example.test: more than one v=spf1 record",
        "FAIL DKIM ",
        "WARN DMARC _dmarc.example.test:",
        "WARN MTA-STS _mta-sts.example.test: v=STSv1; id=old (the policy changed) -> publish: _mta-sts.example.test. IN TXT",
        "WARN TLSRPT _smtp._tls.example.test:",
        "FAIL relay 127.0.0.1:",
        "WARN open relay: could not test",
        "OK   clock:",
    ] {
        assert!(text.lines().any(|l| l.starts_with(expect)), "no line starting {expect:?}:\n{text}");
    }
}

/// dnsmasq on a given port (the one the config names), once it answers.
fn dnsmasq_on(port: u16, args: &[String]) -> DnsOn {
    let child = Command::new("/usr/sbin/dnsmasq")
        .args(["--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces"])
        .args(["--listen-address=127.0.0.1", "--pid-file=", "--local=/test/"])
        .arg(format!("--port={port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq");
    wait_for_dns(([127, 0, 0, 1], port).into(), "ready.test");
    DnsOn(child)
}

struct DnsOn(Child);

impl Drop for DnsOn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
