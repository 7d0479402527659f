//! The outbound SMTP client (issue 14) against real peers on loopback: a real `letterbox
//! serve` as the receiving MX (plain, opportunistic STARTTLS with its self-signed
//! certificate, verified with that certificate as the CA), Postfix's `smtp-sink` for 4xx/5xx
//! and PIPELINING, and a scripted Python server (tests/common/smtp_peer.py) for garbage,
//! silence, a connection closed mid-DATA and the exact AUTH PLAIN/LOGIN bytes.
#![cfg(feature = "outbound")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{contents, strip_trace, Server};
use letterbox::auth::Secret;
use letterbox::net::smtp_client::{deliver, Report, Roots, Target, TlsPolicy, TlsStatus, CONNECT_TIMEOUT};
use letterbox::proto::smtp::client::{Credentials, Envelope, Status, Timeouts};

/// Lines that start with dots, a lone dot and dots elsewhere: dot-stuffing must round-trip.
const MSG: &[u8] = b"From: bob@example.net\r\nTo: alice@example.org\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n...\r\n.\r\nend\r\n";

fn target(port: u16, tls: TlsPolicy) -> Target {
    Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        server_name: "localhost".into(),
        tls,
        relay: false,
        helo_name: "client.example.net".into(),
        auth: None,
        timeouts: Timeouts::default(),
        connect_timeout: CONNECT_TIMEOUT,
    }
}

fn envelope(rcpts: &[&str], msg: &[u8]) -> Envelope {
    Envelope {
        mail_from: "bob@example.net".into(),
        rcpts: rcpts.iter().map(|r| (*r).to_owned()).collect(),
        size: msg.len() as u64,
        eight_bit: msg.iter().any(|b| *b > 127),
        smtputf8: false,
    }
}

fn send(t: Target, roots: &Roots, rcpts: &[&str], msg: &[u8]) -> Report {
    let mut reader = smol::io::Cursor::new(msg.to_vec());
    smol::block_on(deliver(t, roots, envelope(rcpts, msg), &mut reader))
}

fn statuses(r: &Report) -> Vec<Status> {
    r.outcome.rcpts.iter().map(|r| r.status).collect()
}

const LB_RCPTS: &[&str] =
    &["alice@example.org", "postmaster@example.org", "alice+lists@example.org", "nobody@example.org"];

/// Checks a delivery to letterbox: three good recipients delivered, one unknown refused,
/// one message stored whose bytes are exactly MSG.
fn check_letterbox(srv: &Server, r: &Report, stored: usize) {
    use Status::*;
    assert_eq!(statuses(r), [Delivered, Delivered, Delivered, Permanent], "{r:?}\n{}", srv.log_text());
    assert!(r.outcome.rcpts[3].reply.starts_with("550 5.1.1"), "{r:?}");
    assert!(r.outcome.pipelining, "letterbox offers PIPELINING");
    let msgs = contents(&srv.home.store(), "INBOX");
    assert_eq!(msgs.len(), stored);
    let last = &msgs.last().expect("a message").2;
    assert_eq!(strip_trace(last), MSG, "stored:\n{}", String::from_utf8_lossy(last));
}

#[test]
fn letterbox_mx_plain_opportunistic_and_verified() {
    let srv = Server::start("smtpc-lb", "", "");
    let r = send(target(srv.smtp, TlsPolicy::None), &Roots::empty(), LB_RCPTS, MSG);
    check_letterbox(&srv, &r, 1);
    assert_eq!((r.tls.clone(), r.outcome.tls), (TlsStatus::Plain, false));
    // Opportunistic STARTTLS: the self-signed certificate does not verify against the
    // system CAs, and delivery goes on encrypted (RFC 7435).
    let system = Roots::load(Path::new(letterbox::net::smtp_client::SYSTEM_CA_FILE)).expect("ca-certificates");
    let r = send(target(srv.smtp, TlsPolicy::Opportunistic), &system, LB_RCPTS, MSG);
    check_letterbox(&srv, &r, 2);
    assert!(r.outcome.tls);
    assert!(matches!(&r.tls, TlsStatus::Unverified(why) if why.contains("UnknownIssuer")), "{:?}", r.tls);
    let stored = &contents(&srv.home.store(), "INBOX")[1].2;
    assert!(String::from_utf8_lossy(stored).contains("ESMTPS"), "Received should say TLS");
    // Verified: the server's own certificate is the CA.
    let own = Roots::load(&srv.home.dir.join("init/cert.pem")).unwrap();
    let r = send(target(srv.smtp, TlsPolicy::Opportunistic), &own, LB_RCPTS, MSG);
    check_letterbox(&srv, &r, 3);
    assert_eq!(r.tls, TlsStatus::Verified);
    // Required TLS (a relay's rule) refuses the unverifiable certificate: nothing is sent.
    let r = send(target(srv.smtp, TlsPolicy::Required), &system, LB_RCPTS, MSG);
    assert_eq!(statuses(&r), [Status::Temporary; 4], "{r:?}");
    assert!(r.outcome.error.as_deref().unwrap_or("").contains("handshake"), "{r:?}");
    assert_eq!(contents(&srv.home.store(), "INBOX").len(), 3);
    // Required TLS with the right CA delivers.
    let r = send(target(srv.smtp, TlsPolicy::Required), &own, LB_RCPTS, MSG);
    check_letterbox(&srv, &r, 4);
    assert_eq!(r.tls, TlsStatus::Verified);
    // A wrong name fails verification too: recorded, not fatal, when opportunistic.
    let mut t = target(srv.smtp, TlsPolicy::Opportunistic);
    t.server_name = "mx.example.com".into();
    let r = send(t, &own, &["alice@example.org"], MSG);
    assert_eq!(statuses(&r), [Status::Delivered]);
    assert!(matches!(&r.tls, TlsStatus::Unverified(why) if why.contains("not valid for name")), "{:?}", r.tls);
}

/// A running `smtp-sink` on a free loopback port, dumping messages into a folder.
struct Sink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(name: &str, flags: &[&str]) -> Sink {
        let dir = std::env::temp_dir().join(format!("letterbox-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // smtp-sink drops to -u's user when started as root: it must be able to write there.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let port = common::free_port();
        let mut cmd = Command::new("/usr/sbin/smtp-sink");
        if is_root() {
            cmd.args(["-u", "postfix"]);
        }
        let child = cmd
            .arg("-d")
            .arg(dir.join("msg."))
            .args(flags)
            .arg(format!("127.0.0.1:{port}"))
            .arg("10")
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (Debian package postfix; scripts/deps.sh)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink { child, port, dir }
    }

    fn dumps(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SINK_RCPTS: &[&str] = &["a@sink.example", "b@sink.example", "c@sink.example"];

#[test]
fn smtp_sink_pipelining_delivers_and_dumps_the_message() {
    let sink = Sink::start("ok", &[]);
    let r = send(target(sink.port, TlsPolicy::Opportunistic), &Roots::empty(), SINK_RCPTS, MSG);
    assert_eq!(statuses(&r), [Status::Delivered; 3], "{r:?}");
    assert!(r.outcome.pipelining);
    std::thread::sleep(Duration::from_millis(100));
    let dumps = sink.dumps();
    assert_eq!(dumps.len(), 1);
    let dump = String::from_utf8_lossy(&dumps[0]).replace("\r\n", "\n");
    for rcpt in SINK_RCPTS {
        assert!(dump.contains(&format!("X-Rcpt-Args: <{rcpt}>")), "{dump}");
    }
    assert!(dump.contains("X-Helo-Args: client.example.net"), "{dump}");
    let body = String::from_utf8_lossy(MSG).replace("\r\n", "\n");
    assert!(dump.contains(&body), "the message, unstuffed, in:\n{dump}");
}

#[test]
fn smtp_sink_temporary_and_permanent_failures() {
    use Status::*;
    let cases: &[(&[&str], Status, &str)] = &[
        (&["-r", "RCPT"], Temporary, "450 4.3.0"),
        (&["-f", "RCPT"], Permanent, "500 5.3.0"),
        (&["-r", "."], Temporary, "450 4.3.0"),
        (&["-f", "."], Permanent, "500 5.3.0"),
        (&["-f", "MAIL"], Permanent, "500 5.3.0"),
        (&["-f", "DATA"], Permanent, "500 5.3.0"),
        (&["-Q", "RCPT"], Temporary, "421"),
        (&["-q", "DATA"], Temporary, "closed"),
        (&["-r", "CONNECT"], Temporary, "450"),
    ];
    for (flags, want, text) in cases {
        let sink = Sink::start("fail", flags);
        let r = send(target(sink.port, TlsPolicy::None), &Roots::empty(), SINK_RCPTS, MSG);
        assert_eq!(statuses(&r), [*want; 3], "{flags:?}: {r:?}");
        assert!(r.outcome.rcpts.iter().all(|x| x.reply.contains(text)), "{flags:?}: {r:?}");
        assert!(!r.outcome.pipelining || flags[0] == "-Q" || flags[0] == "-q", "{flags:?}: -r/-f imply -p");
    }
}

/// The scripted server of tests/common/smtp_peer.py, started in `mode`.
struct Peer {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    port: u16,
}

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/smtp_peer.py");
        let mut child = Command::new("python3").arg(script).args(args).stdout(Stdio::piped()).spawn().expect("python3");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut port = String::new();
        out.read_line(&mut port).unwrap();
        Peer { child, out, port: port.trim().parse().expect("port") }
    }

    /// What the peer printed after its port, once it exited.
    fn finish(mut self) -> String {
        let mut s = String::new();
        let _ = self.out.read_to_string(&mut s);
        let _ = self.child.wait();
        s
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn short_timeouts() -> Timeouts {
    Timeouts { greeting_ms: 400, command_ms: 400, ..Timeouts::default() }
}

#[test]
fn hostile_garbage_and_silence_are_temporary() {
    let peer = Peer::start(&["garbage"]);
    let r = send(target(peer.port, TlsPolicy::None), &Roots::empty(), &["a@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Temporary]);
    assert!(r.outcome.error.unwrap().contains("protocol error"));
    let peer = Peer::start(&["silent"]);
    let mut t = target(peer.port, TlsPolicy::Opportunistic);
    t.timeouts = short_timeouts();
    let r = send(t, &Roots::empty(), &["a@x.example", "b@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Temporary; 2]);
    assert!(r.outcome.rcpts[1].reply.contains("timeout"), "{r:?}");
}

#[test]
fn hostile_close_mid_data_is_temporary() {
    let peer = Peer::start(&["close_mid_data"]);
    let big = common::message("mid-data", 2 << 20);
    let r = send(target(peer.port, TlsPolicy::None), &Roots::empty(), &["a@x.example", "b@x.example"], &big);
    assert_eq!(statuses(&r), [Status::Temporary; 2], "{r:?}");
    assert!(peer.finish().contains("CLOSED"));
}

#[test]
fn failed_opportunistic_handshake_falls_back_to_plaintext_and_refused_connect_is_temporary() {
    let peer = Peer::start(&["badtls"]);
    let r = send(target(peer.port, TlsPolicy::Opportunistic), &Roots::empty(), &["a@x.example"], MSG);
    assert_eq!((statuses(&r), r.tls.clone()), (vec![Status::Delivered], TlsStatus::Plain), "{r:?}");
    let said = peer.finish();
    assert!(said.contains("SECOND") && said.contains(&format!("BODY {}", MSG.len() + 5)), "{said}");
    // Nothing listens on a fresh port: connection refused is temporary.
    let r = send(target(common::free_port(), TlsPolicy::Opportunistic), &Roots::empty(), &["a@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Temporary]);
    assert!(r.outcome.rcpts[0].reply.contains("connect to"), "{r:?}");
    // No valid recipient: permanent, and no connection is made (192.0.2.1 is TEST-NET-1).
    let mut t = target(25, TlsPolicy::Opportunistic);
    t.addr = SocketAddr::from(([192, 0, 2, 1], 25));
    let r = send(t, &Roots::empty(), &["<x@y>", "a b@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Permanent; 2], "{r:?}");
    assert!(r.outcome.rcpts[1].reply.contains("invalid address"), "{r:?}");
}

fn relay(port: u16, user: &str, pass: &str) -> Target {
    let mut t = target(port, TlsPolicy::None);
    t.relay = true;
    t.auth = Some(Credentials { user: user.into(), password: Secret::from(pass) });
    t
}

#[test]
fn relay_auth_plain_and_login_exact_bytes() {
    for (mechs, want) in [("PLAIN LOGIN", "AUTH-OK PLAIN"), ("LOGIN", "AUTH-OK LOGIN")] {
        let peer = Peer::start(&["auth", mechs, "tim", "tanstaaf tanstaaf"]);
        let r = send(relay(peer.port, "tim", "tanstaaf tanstaaf"), &Roots::empty(), &["a@x.example"], MSG);
        assert_eq!(statuses(&r), [Status::Delivered], "{mechs}: {r:?}");
        let said = peer.finish();
        assert!(said.contains(want) && said.contains(&format!("BODY {}", MSG.len() + 5)), "{said}");
    }
    // A wrong password: 535 is a temporary failure (the owner fixes the config).
    let peer = Peer::start(&["auth", "LOGIN", "tim", "right"]);
    let r = send(relay(peer.port, "tim", "wrong"), &Roots::empty(), &["a@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Temporary]);
    assert!(r.outcome.rcpts[0].reply.contains("535 5.7.8"));
    assert!(peer.finish().contains("AUTH-BAD LOGIN"));
}

#[test]
fn relay_without_tls_only_on_loopback() {
    let mut t = relay(25, "tim", "pw");
    t.addr = SocketAddr::from(([192, 0, 2, 1], 25)); // TEST-NET-1: never connected to
    let r = send(t, &Roots::empty(), &["a@x.example"], MSG);
    assert_eq!(statuses(&r), [Status::Temporary]);
    assert!(r.outcome.error.unwrap().contains("loopback"));
}
