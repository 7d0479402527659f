//! ACME (RFC 8555) against pebble, Let's Encrypt's test CA (Debian package `pebble`), on
//! loopback with its own roots: issuance by TLS-ALPN-01 (RFC 8737) answered on a TLS listener
//! of the real binary, the certificate installed and served by every TLS listener after the
//! hot reload, renewal of a short-lived certificate, and a CA answering errors or garbage
//! (nothing replaced, the old certificate keeps serving). Names resolve through dnsmasq
//! (`tests/common`), so pebble's validator connects to 127.0.0.1.

#![cfg(feature = "acme")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{dnsmasq, free_port, letterbox, Home, Server};

const NAME: &str = "mail.example.test";

/// Runs a command, asserting success.
fn run(cmd: &mut Command) {
    let o = cmd.output().expect("command");
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A test CA and a certificate for 127.0.0.1/localhost signed by it (pebble's WFE, or the
/// garbage server, present it; `ca.pem` is letterbox's `[acme] ca_file`).
fn https_identity(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |n: &str| dir.join(n);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    run(Command::new("openssl")
        .args(["req", "-x509", "-days", "2", "-subj", "/CN=test ACME CA"])
        .args(ec)
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=localhost"])
        .args(ec)
        .arg("-keyout")
        .arg(p("key.pem"))
        .arg("-out")
        .arg(p("req.pem")));
    std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("req.pem"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("cert.pem")));
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// pebble with its validator pointed at `tls_port` (TLS-ALPN-01) and `http_port` (HTTP-01),
/// resolving names through `dns_port`; `validity` seconds per certificate (0: pebble's default).
struct Pebble {
    _proc: Proc,
    port: u16,
    mgmt: u16,
    ca_file: PathBuf,
}

impl Pebble {
    fn start(dir: &Path, dns_port: u16, tls_port: u16, http_port: u16, validity: u64) -> Pebble {
        let (ca, cert, key) = https_identity(&dir.join("pebble-tls"));
        let (port, mgmt) = (free_port(), free_port());
        let validity = if validity > 0 { format!(",\"certificateValidityPeriod\": {validity}") } else { String::new() };
        let cfg = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{port}", "managementListenAddress": "127.0.0.1:{mgmt}",
            "certificate": "{}", "privateKey": "{}", "httpPort": {http_port}, "tlsPort": {tls_port},
            "ocspResponderURL": "", "externalAccountBindingRequired": false{validity}}}}}"#,
            cert.display(),
            key.display()
        );
        let cfg_path = dir.join("pebble.json");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&cfg_path)
            .arg("-dnsserver")
            .arg(format!("127.0.0.1:{dns_port}"))
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble (scripts/deps.sh installs it)");
        let p = Pebble { _proc: Proc(child), port, mgmt, ca_file: ca };
        wait_port(port, "pebble");
        wait_port(mgmt, "pebble management");
        p
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// pebble's issuing root (its management interface, RFC-less test endpoint).
    fn root(&self, dir: &Path) -> PathBuf {
        let pem = common::curl(&["-k", &format!("https://127.0.0.1:{}/roots/0", self.mgmt)]);
        let p = dir.join("pebble-root.pem");
        std::fs::write(&p, pem).unwrap();
        p
    }
}

/// A letterbox with its implicit-TLS IMAP listener on `imaps` (the port pebble validates
/// TLS-ALPN-01 on until the `https` listener exists) and `acme` appended to the config.
fn letterbox_with(name: &str, imaps: u16, acme: &str) -> Server {
    letterbox_listening(name, imaps, "", acme)
}

/// `letterbox_with` with more `[listen]` lines (`http = [...]`).
fn letterbox_listening(name: &str, imaps: u16, listen: &str, acme: &str) -> Server {
    let (smtp, imap, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port());
    let cfg = format!(
        "[listen]\nsmtp = [\"127.0.0.1:{smtp}\"]\nsubmission = []\nsubmissions = []\nimap = [\"127.0.0.1:{imap}\"]\nimaps = [\"127.0.0.1:{imaps}\"]\npop3 = [\"127.0.0.1:{pop3}\"]\npop3s = [\"127.0.0.1:{pop3s}\"]\n{listen}\n[tls]\ncert = \"init/cert.pem\"\nkey = \"init/key.pem\"\n{acme}\n"
    );
    let home = Home::with_config(name, &cfg);
    let init = letterbox()
        .args(["init", "--dir"])
        .arg(home.dir.join("init"))
        .args(["--domain", "example.org", "--user", "alice"])
        .output()
        .unwrap();
    assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
    let log = home.dir.join("server.log");
    let mut s = Server {
        home,
        child: None,
        smtp,
        imap,
        imaps,
        pop3,
        pop3s,
        submission: 0,
        submissions: 0,
        managesieve: 0,
        log,
        env: Vec::new(),
    };
    s.spawn();
    s
}

/// The `[acme]` table of a test.
fn acme_table(directory: &str, ca_file: &Path, challenge: &str) -> String {
    format!(
        "[acme]\ndirectory = \"{directory}\"\ncontact = \"mailto:alice@example.org\"\nnames = [\"{NAME}\"]\nchallenge = \"{challenge}\"\nca_file = \"{}\"\n",
        ca_file.display()
    )
}

/// TLS to the IMAPS port verified against `root` for NAME: Some((serial, notAfter)) when the
/// served chain verifies, None otherwise (still the self-signed certificate).
fn served_verified(imaps: u16, root: &Path) -> Option<(String, String)> {
    served_on(imaps, "* OK", root)
}

/// Like `served_verified` on any implicit-TLS port whose greeting starts with `greeting`.
fn served_on(port: u16, greeting: &str, root: &Path) -> Option<(String, String)> {
    let script = format!(
        r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile={root:?})
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname={NAME:?}) as t:
            c = t.getpeercert()
            greeting = t.recv(200)
            assert greeting.startswith({greeting:?}.encode()), greeting
            print(c["serialNumber"], c["notAfter"])
except ssl.SSLCertVerificationError:
    sys.exit(3)
"#,
        root = root.display().to_string()
    );
    let o = Command::new("/usr/bin/python3").arg("-c").arg(&script).output().unwrap();
    match o.status.code() {
        Some(0) => {
            let out = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            let (serial, not_after) = out.split_once(' ')?;
            Some((serial.to_owned(), not_after.to_owned()))
        }
        Some(3) => None,
        _ => panic!("TLS probe failed: {}", String::from_utf8_lossy(&o.stderr)),
    }
}

/// Polls until the served certificate verifies against pebble's root and differs from
/// `previous`; panics with both logs after `limit`.
fn wait_issued(s: &Server, root: &Path, previous: Option<&str>, limit: Duration, ca_dir: &Path) -> (String, String) {
    let until = Instant::now() + limit;
    loop {
        if let Some((serial, na)) = served_verified(s.imaps, root) {
            if previous != Some(serial.as_str()) {
                return (serial, na);
            }
        }
        assert!(
            Instant::now() < until,
            "no certificate issued\nletterbox:\n{}\npebble:\n{}",
            s.log_text(),
            std::fs::read_to_string(ca_dir.join("pebble.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn issuance_by_tls_alpn_01_is_served_by_the_tls_listener() {
    let dns = dnsmasq(&[format!("--host-record={NAME},127.0.0.1")]);
    let (imaps, https) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("letterbox-acme-ca-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // RFC 8737 §3: the CA connects to port 443, the `[listen] https` listener.
    let ca = Pebble::start(&dir, dns.port, https, free_port(), 0);
    let root = ca.root(&dir);
    let started = Instant::now();
    let listen = format!("https = [\"127.0.0.1:{https}\"]");
    let acme = acme_table(&ca.directory(), &ca.ca_file, "tls-alpn-01");
    let mut s = letterbox_listening("acme-alpn", imaps, &listen, &acme);
    let (serial, _) = wait_issued(&s, &root, None, Duration::from_secs(60), &dir);
    eprintln!("time from serve start to an issued certificate served: {} ms", started.elapsed().as_millis());
    // Every TLS listener serves it after the reload, not only the one that was validated.
    assert_eq!(served_on(s.pop3s, "+OK", &root).map(|(sn, _)| sn), Some(serial.clone()));
    let log = s.log_text();
    let line = log.lines().find(|l| l.contains("installed in")).unwrap_or_else(|| panic!("{log}"));
    eprintln!("{line}");
    assert!(line.contains(&format!("acme: certificate for {NAME} installed in")), "{log}");
    assert!(log.contains("ACME TLS-ALPN-01 validation answered"), "{log}");
    // A hello offering acme-tls/1 with no validation pending gets no certificate; one offering
    // other protocols (a browser, an IMAP client speaking ALPN) gets the normal certificate.
    let alpn = |protos: &str, name: &str| {
        let script = format!(
            "import socket, ssl\nc = ssl.create_default_context(cafile={:?})\nc.check_hostname = False\nc.set_alpn_protocols({protos})\ntry:\n    t = c.wrap_socket(socket.create_connection(('127.0.0.1', {imaps}), timeout=5), server_hostname={name:?})\n    print('ok', t.selected_alpn_protocol())\nexcept (ssl.SSLError, OSError) as e:\n    print('refused')\n",
            root.display().to_string()
        );
        let o = Command::new("/usr/bin/python3").arg("-c").arg(script).output().unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(alpn("['acme-tls/1']", NAME), "refused");
    assert_eq!(alpn("['acme-tls/1']", "other.example.test"), "refused");
    assert_eq!(alpn("['imap', 'h2', 'http/1.1']", NAME), "ok None");
    // Installed durably where [tls] reads it, the account kept for the next run.
    let chain = std::fs::read_to_string(s.home.dir.join("init/cert.pem")).unwrap();
    assert!(chain.matches("BEGIN CERTIFICATE").count() >= 2, "leaf and intermediate: {chain}");
    let state = std::fs::read_to_string(s.home.data().join("acme/state")).unwrap();
    assert!(state.contains("account=https://127.0.0.1:"), "{state}");
    // A restart finds the certificate current: no new order, the same one served.
    s.stop();
    s.spawn();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(served_verified(imaps, &root).map(|(sn, _)| sn), Some(serial));
    assert_eq!(s.log_text().matches("installed in").count(), 1);
}

#[test]
fn a_short_lived_certificate_is_renewed() {
    let dns = dnsmasq(&[format!("--host-record={NAME},127.0.0.1")]);
    let imaps = free_port();
    let dir = std::env::temp_dir().join(format!("letterbox-acme-renew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // 45 s certificates: renewed when a third of the lifetime is left (after ~30 s).
    let ca = Pebble::start(&dir, dns.port, imaps, free_port(), 45);
    let root = ca.root(&dir);
    let s = letterbox_with("acme-renew", imaps, &acme_table(&ca.directory(), &ca.ca_file, "tls-alpn-01"));
    let (first, _) = wait_issued(&s, &root, None, Duration::from_secs(60), &dir);
    let t = Instant::now();
    let (second, _) = wait_issued(&s, &root, Some(&first), Duration::from_secs(90), &dir);
    let after = t.elapsed();
    assert!(after > Duration::from_secs(15), "renewed too early: {after:?}");
    assert_ne!(first, second);
    let log = s.log_text();
    assert_eq!(log.matches("installed in").count(), 2, "{log}");
    // The second order looked the account up (onlyReturnExisting) rather than making one.
    assert!(!log.contains("order failed"), "{log}");
}

/// A CA that answers nothing useful: `MODE` picks the kind of nonsense.
const GARBAGE_CA: &str = r#"
import socket, ssl, sys, threading
port, cert, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.create_server(("127.0.0.1", port))
base = "https://127.0.0.1:%d" % port
def answer(path):
    if mode == "500":
        return b"HTTP/1.1 500 Oops\r\nRetry-After: 5\r\nContent-Length: 13\r\n\r\n<html>x</html>"
    if mode == "json":
        body = b"[" * 5000 + b"]" * 5000
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    if mode == "raw":
        return b"220 not http at all\r\n\x00\xff garbage"
    if mode == "huge":
        return b"HTTP/1.1 200 OK\r\n\r\n" + b"A" * (4 << 20)
    if mode == "order":
        if path == "/dir":
            body = ('{"newNonce":"%s/n","newAccount":"%s/a","newOrder":"%s/o"}' % (base, base, base)).encode()
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        if path == "/a":
            return b"HTTP/1.1 201 Created\r\nReplay-Nonce: n2\r\nLocation: " + base.encode() + b"/acct\r\nContent-Length: 2\r\n\r\n{}"
        if path == "/o":
            body = b'{"status":"pending","authorizations":["' + base.encode() + b'/authz"],"finalize":"' + base.encode() + b'/f"}'
            return b"HTTP/1.1 201 Created\r\nReplay-Nonce: n3\r\nLocation: " + base.encode() + b"/order\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        if path == "/authz":
            body = b'{"status":"pending","identifier":{"type":"dns","value":"evil.example"},"challenges":[{"type":"tls-alpn-01","url":"' + base.encode() + b'/c","token":"abc"}]}'
            return b"HTTP/1.1 200 OK\r\nReplay-Nonce: n4\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        return b"HTTP/1.1 204 No Content\r\nReplay-Nonce: n1\r\n\r\n"
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
        req = t.recv(65536)
        path = req.split(b" ")[1].decode() if b" " in req else "/"
        t.sendall(answer(path))
        t.close()
    except Exception:
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn a_ca_answering_errors_or_garbage_replaces_nothing() {
    let imaps = free_port();
    let dir = std::env::temp_dir().join(format!("letterbox-acme-garbage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (ca, cert, key) = https_identity(&dir);
    let port = free_port();
    let mut s: Option<Server> = None;
    for (mode, expect) in [
        ("500", "HTTP 500 without a problem document"),
        ("json", "nested deeper"),
        ("raw", "malformed HTTP response"),
        ("huge", "over the size limits"),
        ("order", "a name not asked for"),
    ] {
        let child = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(GARBAGE_CA)
            .args([&port.to_string(), &cert.display().to_string(), &key.display().to_string(), mode])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let _ca_proc = Proc(child);
        wait_port(port, "garbage CA");
        let offset = s.as_ref().map_or(0, |srv| srv.log_text().len());
        let srv = match s.as_mut() {
            Some(srv) => {
                // Forget the backoff of the last mode's failure, then start again.
                srv.stop();
                let _ = std::fs::remove_file(srv.home.data().join("acme/state"));
                srv.spawn();
                srv
            }
            None => s.insert(letterbox_with(
                "acme-garbage",
                imaps,
                &acme_table(&format!("https://127.0.0.1:{port}/dir"), &ca, "tls-alpn-01"),
            )),
        };
        let before = std::fs::read(srv.home.dir.join("init/cert.pem")).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        let failed = loop {
            // This run's lines only (the log is kept across restarts).
            let log = srv.log_text().get(offset..).unwrap_or_default().to_owned();
            if let Some(line) = log.lines().rev().find(|l| l.contains("acme: order failed")) {
                break line.to_owned();
            }
            assert!(Instant::now() < until, "{mode}: no failure logged:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(failed.contains(expect), "{mode}: {failed}\n{}", srv.log_text());
        assert!(failed.contains("certificate unchanged"), "{failed}");
        // Nothing replaced: the same file, still served (the IMAPS greeting over it).
        assert_eq!(std::fs::read(srv.home.dir.join("init/cert.pem")).unwrap(), before, "{mode}");
        assert!(!srv.home.data().join("acme/chain.pem").exists(), "{mode}");
        let probe = format!(
            "import socket, ssl\nc = ssl.create_default_context()\nc.check_hostname = False\nc.verify_mode = ssl.CERT_NONE\ns = c.wrap_socket(socket.create_connection(('127.0.0.1', {imaps})))\nassert s.recv(100).startswith(b'* OK')\n"
        );
        let o = Command::new("/usr/bin/python3").arg("-c").arg(probe).output().unwrap();
        assert!(o.status.success(), "{mode}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// HTTP-01: the `[listen] http` server answers pebble from `web::challenge::shared()` at
/// `/.well-known/acme-challenge/TOKEN`.
#[test]
fn issuance_by_http_01() {
    let dns = dnsmasq(&[format!("--host-record={NAME},127.0.0.1")]);
    let (imaps, http) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("letterbox-acme-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ca = Pebble::start(&dir, dns.port, free_port(), http, 0);
    let root = ca.root(&dir);
    let acme = acme_table(&ca.directory(), &ca.ca_file, "http-01");
    let s = letterbox_listening("acme-http", imaps, &format!("http = [\"127.0.0.1:{http}\"]"), &acme);
    wait_issued(&s, &root, None, Duration::from_secs(60), &dir);
    assert!(s.log_text().contains("installed in"));
}
