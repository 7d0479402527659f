//! `letterbox serve` lifecycle (issue 3): privilege drop after binding as root, SIGHUP
//! reload of config and password without dropping sessions, SIGTERM stopping with 421 and
//! losing nothing acknowledged, the embedded default on a fresh folder.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

fn smtp_connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert!(read_line(&mut r).starts_with("220 "));
    (s, r)
}

#[test]
fn privileges_are_dropped_after_binding() {
    if letterbox::sys::euid() != 0 {
        eprintln!("SKIPPED privileges_are_dropped_after_binding: needs root (CI runs as root)");
        return;
    }
    if under_emulator() {
        // qemu-user performs the guest's setgid/setuid in the calling host thread only, so
        // /proc shows the emulator's credentials unchanged; the native run proves the drop.
        eprintln!("SKIPPED privileges_are_dropped_after_binding under an emulator (see comment)");
        return;
    }
    let (uid, _) = letterbox::sys::lookup_user("nobody").expect("user nobody");
    let srv = Server::start("privdrop", "run_as = \"nobody\"", "");
    // The listeners accept (in the kernel) as soon as they are bound, which is before the
    // drop; the server logs "running as" once it has dropped. Wait for that line.
    let t = std::time::Instant::now();
    while !srv.log_text().contains("running as nobody") {
        assert!(t.elapsed() < Duration::from_secs(10), "no drop logged: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", srv.pid())).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    let want = format!("{uid}");
    assert!(uids.split_whitespace().skip(1).all(|u| u == want), "all uids dropped: {uids}");
    // It still serves and writes mail as the unprivileged user.
    let out = srv.python(
        "import os, smtplib\ns = smtplib.SMTP('127.0.0.1', int(os.environ['LB_SMTP']))\ns.sendmail('a@example.net', ['alice@example.org'], b'Subject: x\\r\\n\\r\\ny\\r\\n')\nprint('sent')",
    );
    assert_eq!(out.trim(), "sent");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(srv.home.data().join("INBOX.lbx")).unwrap().uid(), uid);
}

#[test]
fn sighup_reloads_password_without_dropping_sessions() {
    let srv = Server::start("sighup", "", "");
    let (mut s, mut r) = smtp_connect(srv.smtp);
    s.write_all(b"EHLO client.example\r\n").unwrap();
    while !read_line(&mut r).starts_with("250 ") {}
    let out = srv.home.run(&["passwd"], b"a new password 42\n");
    assert!(out.status.success());
    signal(srv.pid(), "-HUP");
    let t = Instant::now();
    while !srv.log_text().contains("reloaded") {
        assert!(t.elapsed() < Duration::from_secs(5), "no reload: {}", srv.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The session opened before the reload still works.
    s.write_all(b"NOOP\r\n").unwrap();
    assert!(read_line(&mut r).starts_with("250"));
    let out = srv.python(
        "import os, poplib\np = poplib.POP3('127.0.0.1', int(os.environ['LB_POP3']))\np.user('alice')\np.pass_('a new password 42')\nprint(p.stat()[0])\np.quit()",
    );
    assert_eq!(out.trim(), "0");
}

#[test]
fn sigterm_says_421_and_keeps_acknowledged_mail() {
    let mut srv = Server::start("sigterm", "", "");
    let (mut s, mut r) = smtp_connect(srv.smtp);
    s.write_all(b"EHLO c\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n").unwrap();
    let mut last = String::new();
    while !last.starts_with("354") {
        last = read_line(&mut r);
    }
    s.write_all(b"Subject: before stop\r\n\r\nbody\r\n.\r\n").unwrap();
    assert!(read_line(&mut r).starts_with("250 "));
    let (_idle, mut idle_r) = smtp_connect(srv.smtp);
    let pid = srv.pid();
    signal(pid, "-TERM");
    assert!(read_line(&mut idle_r).starts_with("421"), "idle session told to go");
    assert_eq!(srv.stop().or(Some(0)), Some(0));
    let got = contents(&srv.home.store(), "INBOX");
    assert_eq!(got.len(), 1);
    assert!(strip_trace(&got[0].2).starts_with(b"Subject: before stop"));
}

#[test]
fn embedded_default_creates_and_reuses_letterbox_data() {
    let dir = std::env::temp_dir().join(format!("letterbox-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The embedded ports are fixed (2525, 1110, ...): skip politely if something holds them.
    if TcpStream::connect("127.0.0.1:2525").is_ok() {
        eprintln!("SKIPPED embedded default: port 2525 in use");
        return;
    }
    let mut child =
        letterbox().arg("serve").current_dir(&dir).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.contains("password:") {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "no password line: {text}");
        text.push_str(&l);
    }
    let pw = text.split("password: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let cfg = std::fs::read_to_string(dir.join("letterbox-data/letterbox.toml")).unwrap();
    assert!(cfg.contains("127.0.0.1:2525") && cfg.contains("127.0.0.1:1110") && cfg.contains("127.0.0.1:1995"));
    assert!(!cfg.contains(&pw), "only the hash is stored");
    let t = Instant::now();
    while TcpStream::connect("127.0.0.1:1110").is_err() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let user = cfg.split("user = \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let py = format!("import poplib\np = poplib.POP3('127.0.0.1', 1110)\np.user('{user}')\np.pass_('{pw}')\nprint(p.stat()[0])\np.quit()");
    let o = Command::new("python3").arg("-c").arg(&py).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    signal(child.id(), "-TERM");
    child.wait().unwrap();
    // Second start reuses it: no new password printed.
    let mut second = letterbox();
    let o = second.arg("serve").current_dir(&dir).stdout(Stdio::piped()).spawn().unwrap();
    let pid = o.id();
    std::thread::sleep(Duration::from_secs(1));
    signal(pid, "-TERM");
    let o = o.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("password:"));
    let _ = std::fs::remove_dir_all(&dir);
}
